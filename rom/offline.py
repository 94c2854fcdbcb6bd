"""Offline stage: snapshots -> POD basis, empirical cubature, Gappy bases -> ROM archive.

``build_rom(case, snapshot_files, comm, out)`` (collective):

1. reads the displacement and quadrature snapshots of every step of every file
   (each rank its owned nodes and local quadrature points);
2. POD of the displacements in the case's product (``[rom] product``: mass,
   stiffness (elastic, at ``T_ref``) or euclidean), truncated at ``eps_u``;
3. strains of the modes at every quadrature point, the integrand matrix
   ``G[(s, i), q] = sigma_s(x_q) : eps(psi_i)(x_q)`` and its empirical cubature
   (tolerance ``ecm_tol``);
4. POD bases of the dual quantities (``[rom] gappy``, L2 product, ``eps_dual``) and
   their Q-DEIM points, added to the reduced set with zero weight;
5. the reduced operators: mode strains, coordinates and temperature interpolation at
   the reduced points, reduced external-load vectors per affine load term;
6. the archive (:mod:`rom.archive`) and a PNG of the singular values.

The displacement modes satisfy the (homogeneous) Dirichlet conditions of the
snapshots; prescribed non-zero displacements are not supported by the ROM.
"""

import os
import time

import numpy as np

from rom import RomError
from rom.archive import mesh_signature, write_archive
from rom.hyper import empirical_cubature, qdeim_rows
from rom.pod import product_from_petsc, snapshot_pod

__all__ = ["build_rom", "plot_spectra"]

_COMPONENTS = {"p": 1, "sigma": 6, "X": 6, "eps_vp": 6}


def _product(case, model, comm):
    if case.rom.product == "euclidean":
        return None
    from rom.assembly import dirichlet_rows
    from rom.loads import Loading

    asm = model.assembler
    A = asm.create_matrix()
    if case.rom.product == "mass":
        asm.assemble(A, model.mass_values())
    else:
        T = np.full(model.n_qp, getattr(model.law, "T_ref", 20.0))
        asm.assemble(A, model.tangent_values(model.law.stiffness(T)))
        dofs, _ = Loading(case, model).dirichlet_values(0.0)
        A.zeroRowsColumns(dirichlet_rows(model.dofmap, dofs), diag=1.0)
    return product_from_petsc(A)


def _gather_rows(comm, ids, values, n_global):
    """Collective. Global array (on rank 0) from rows ``values`` at global ``ids``."""
    parts = comm.gather((np.asarray(ids), np.asarray(values)), root=0)
    if comm.rank != 0:
        return None
    out = np.zeros((n_global,) + np.asarray(values).shape[1:])
    for i, v in parts:
        out[i] = v
    return out


def build_rom(case, snapshot_files, comm, out_path, log=print):
    """Collective. Build the ROM of ``case`` from ``snapshot_files``; write ``out_path``.

    Returns a summary dict (on every rank).
    """
    from rom.hf import StructuralModel
    from rom.loads import Loading
    from rom.materials import make_law
    from rom.mesh import load_mesh
    from rom.snapshots import SnapshotStore

    say = log if comm.rank == 0 and log else (lambda *a, **k: None)
    timings = {}
    t0 = time.perf_counter()
    if not snapshot_files:
        raise RomError("offline: no snapshot file given")
    for d in case.dirichlet:
        if d.expression is not None or d.value != 0.0:
            raise RomError(f"offline: Dirichlet condition on '{d.set}' is not homogeneous; "
                           "the ROM supports zero prescribed displacements only")
    mesh = load_mesh(case.mesh_file, comm, case.sets, case.partitioner)
    law = make_law(case.law, case.material_params())
    model = StructuralModel(mesh, law)
    loading = Loading(case, model)
    dm = model.dofmap
    signature = mesh_signature(mesh.data.points, mesh.data.cells) if comm.rank == 0 else None
    signature = comm.bcast(signature, root=0)

    # 1. snapshots
    U, qp = [], {}
    wanted = sorted(set(case.rom.gappy) | {"sigma"})
    for path in snapshot_files:
        store = SnapshotStore.open_read(path, model, comm)
        try:
            if comm.rank == 0:
                import h5py

                with h5py.File(path, "r") as f:
                    sig = mesh_signature(f["mesh/points"][...],
                                         f[f"mesh/cells/{mesh.cell_type}"][...])
            else:
                sig = None
            if comm.bcast(sig, root=0) != signature:
                raise RomError(f"snapshot file {path} was computed on another mesh than "
                               f"{case.mesh_file}")
            missing = [n for n in wanted if n not in store.qp_names]
            if missing and store.times:
                raise RomError(f"snapshot file {path} has no quadrature field(s) "
                               f"{', '.join(missing)} (law {case.law} needs them)")
            for k in range(len(store.times)):
                U.append(store.read_nodal("U", k).ravel())
                for name in wanted:
                    qp.setdefault(name, []).append(store.read_qp(name, k))
        finally:
            store.close()
    n_s = len(U)
    if n_s == 0:
        raise RomError("offline: the snapshot files hold no complete step")
    S = np.column_stack(U)
    timings["read"] = time.perf_counter() - t0
    say(f"offline: {n_s} snapshots from {len(snapshot_files)} file(s), "
        f"{dm.n_global} dofs, {comm.allreduce(model.n_qp)} quadrature points")

    # 2. displacement POD
    t0 = time.perf_counter()
    pod = snapshot_pod(S, comm, _product(case, model, comm), eps=case.rom.eps_u)
    N = pod.n_modes
    if N == 0:
        raise RomError("offline: the displacement snapshots are all zero")
    timings["pod"] = time.perf_counter() - t0
    say(f"  POD of U ({case.rom.product} product, eps {case.rom.eps_u:g}): {N} modes, "
        f"energy {pod.energy_fraction:.10f}")

    # 3. mode strains and empirical cubature
    t0 = time.perf_counter()
    E = np.empty((model.n_qp, 6, N))
    modes_local = np.empty((dm.n_local, N))
    pad = np.zeros(dm.n_local)
    for i in range(N):
        pad[: dm.n_owned] = pod.modes[:, i]
        modes_local[:, i] = dm.vector_to_local(dm.local_to_vector(pad))
        E[:, :, i] = model.strain(modes_local[:, i])
    G = np.empty((n_s * N, model.n_qp))
    for s_, sig in enumerate(qp["sigma"]):  # row block of snapshot s: sigma_s : eps(psi_i)
        G[s_ * N:(s_ + 1) * N] = np.einsum("qk,qki->iq", sig, E)
    w = model.quadrature_weights()
    nq = model.n_qp_cell
    qp_ids = (mesh.cell_ids[:, None] * nq + np.arange(nq)).ravel()
    ecm = empirical_cubature(G, w, qp_ids, comm, tol=case.rom.ecm_tol)
    del G
    timings["ecm"] = time.perf_counter() - t0
    say(f"  ECM (tol {case.rom.ecm_tol:g}): {len(ecm.points)} points of "
        f"{comm.allreduce(model.n_qp)}, residual {ecm.residual:.2e}, {ecm.iterations} "
        "iterations")

    # 4. Gappy bases of the dual quantities
    t0 = time.perf_counter()
    gappy, extra = {}, set()
    for name in case.rom.gappy:
        c = _COMPONENTS[name]
        F = np.stack([np.asarray(v).reshape(model.n_qp, c) for v in qp[name]], axis=-1)
        rows = (qp_ids[:, None] * c + np.arange(c)).ravel()
        F = F.reshape(model.n_qp * c, n_s)
        gpod = snapshot_pod(F, comm, np.repeat(w, c), eps=case.rom.eps_dual)
        sel = qdeim_rows(gpod.modes, rows, comm) if gpod.n_modes else np.zeros(0, np.int64)
        extra.update(int(r) // c for r in sel)
        gappy[name] = {"pod": gpod, "rows": sel, "c": c, "row_ids": rows}
        say(f"  Gappy-POD of {name}: {gpod.n_modes} modes, {len(sel)} Q-DEIM rows")
    extra = sorted(extra - set(int(p) for p in ecm.points))
    points = np.concatenate([ecm.points, np.asarray(extra, dtype=np.int64)])
    weights = np.concatenate([ecm.weights, np.zeros(len(extra))])
    timings["gappy"] = time.perf_counter() - t0

    # 5. reduced operators at the reduced points (owners send their rows)
    t0 = time.perf_counter()
    pos = {int(g): i for i, g in enumerate(qp_ids)}
    local = [i for i, g in enumerate(points) if int(g) in pos]
    lq = np.array([pos[int(points[i])] for i in local], dtype=np.int64)
    xq = model.quadrature_points()
    cells = lq // nq if len(lq) else np.zeros(0, np.int64)
    N_shape = model.bases[0].N  # same rule for every cell
    parts = comm.allgather((local, E[lq], xq[lq], mesh.node_ids[mesh.cells[cells]],
                            N_shape[lq % nq] if len(lq) else np.zeros((0, N_shape.shape[1])),
                            mesh.points[mesh.cells[cells]]))
    m, k = len(points), mesh.element.n_nodes
    B = np.zeros((m, 6, N))
    X = np.zeros((m, 3))
    cell_nodes = np.zeros((m, k), dtype=np.int64)
    shape = np.zeros((m, k))
    node_points = np.zeros((m, k, 3))
    for idx, b, x, cn, sh, npts in parts:
        B[idx], X[idx], cell_nodes[idx], shape[idx], node_points[idx] = b, x, cn, sh, npts
    loads = []
    for name, table, Fk, power in loading.force_terms:
        vec = comm.allreduce(modes_local.T @ Fk)
        loads.append({"name": name, "power": power, "vector": vec,
                      "table": table.rows})
    timings["operators"] = time.perf_counter() - t0

    # 6. archive (rank 0 writes)
    basis = _gather_rows(comm, (3 * mesh.node_ids[: mesh.n_owned, None]
                                + np.arange(3)).ravel(), pod.modes, dm.n_global)
    qp_weights = _gather_rows(comm, qp_ids, w, mesh.n_cells_global * nq)
    gappy_out = {}
    for name, g in gappy.items():
        full = _gather_rows(comm, g["row_ids"], g["pod"].modes,
                            mesh.n_cells_global * nq * g["c"])
        gappy_out[name] = {"basis": full, "singular_values": g["pod"].singular_values,
                           "rows": g["rows"]}
    summary = {"n_snapshots": n_s, "n_modes": N, "n_ecm_points": len(ecm.points),
               "n_reduced_points": m, "ecm_residual": ecm.residual,
               "ecm_iterations": ecm.iterations, "n_qp": comm.allreduce(model.n_qp),
               "snapshot_files": "\n".join(os.path.abspath(p) for p in snapshot_files),
               **{f"time_{k}": v for k, v in timings.items()},
               **{f"n_gappy_{k}": g["pod"].n_modes for k, g in gappy.items()}}
    if comm.rank == 0:
        content = {
            "attrs": {"case_name": case.name, "case_text": case.text, "law": case.law,
                      "mesh_signature": signature, "n_nodes": mesh.n_nodes_global,
                      "n_cells": mesh.n_cells_global, "n_qp_cell": nq,
                      "cell_type": mesh.cell_type, "product": case.rom.product},
            "basis": {"U": basis, "singular_values": pod.singular_values,
                      "qp_weights": qp_weights},
            "reduced": {"points": points, "weights": weights, "B": B, "x": X,
                        "cell_nodes": cell_nodes, "shape": shape, "node_points": node_points,
                        "n_ecm": np.int64(len(ecm.points))},
            "gappy": gappy_out, "loads": loads, "summary": summary}
        write_archive(out_path, content)
        plot_spectra(os.path.splitext(out_path)[0] + "_spectrum.png",
                     {"U": (pod.singular_values, N),
                      **{k: (g["pod"].singular_values, g["pod"].n_modes)
                         for k, g in gappy.items()}})
    comm.Barrier()
    summary["modes_local"] = modes_local
    summary["owned_rows"] = (3 * mesh.node_ids[: mesh.n_owned, None] + np.arange(3)).ravel()
    summary["n_nodes"] = mesh.n_nodes_global
    summary["ecm"] = ecm
    return summary


def plot_spectra(path, spectra):
    """PNG of normalized singular values ``{name: (values, n_kept)}`` (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (s, n) in spectra.items():
        s = np.asarray(s)
        if s.size and s[0] > 0:
            r = s / s[0]
            shown = r > 1e-15  # below: round-off of the correlation method
            line, = ax.semilogy(np.arange(1, len(s) + 1)[shown], r[shown], "o-", ms=3,
                                label=name)
            if n:
                ax.axvline(n, color=line.get_color(), ls=":", lw=1)
    ax.set_xlabel("index")
    ax.set_ylabel("singular value / first")
    ax.set_title("POD spectra (dotted: modes kept)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
