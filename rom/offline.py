"""Offline stage: snapshots -> POD basis, empirical cubature, Gappy bases -> ROM archive.

``build_rom(case, snapshot_files, comm, out)`` (collective):

1. opens every training run through :class:`rom.sources.SnapshotSource` (another
   solver's results are first replayed through the case's law, :mod:`rom.sources`)
   and checks it (mesh, supports, quadrature fields) before reading any step;
2. reads the steps a block at a time (``[rom] block_mb`` per rank; each rank its
   owned nodes and local quadrature points; blocks across the files). When every
   snapshot fits in one block, the PODs are the batch ones (:func:`rom.pod.snapshot_pod`,
   :func:`rom.pod.fields_pod`) and the cubature takes the stress snapshots. Otherwise
   each block goes into streaming PODs (:class:`rom.pod.StreamingPOD`,
   :func:`stream_pods`), released once added: the displacements in the case's product
   (``[rom] product``: mass, stiffness (elastic, at ``T_ref``) or euclidean), the dual
   quantities of ``[rom] gappy`` (L2 product, each snapshot scaled to unit norm), both
   truncated on the way at a tenth of their tolerance (``eps_u``, ``eps_dual``); the
   basis of the stresses also keeps their Euclidean POD at the ECM's stress tolerance
   ``0.1 ecm_tol``, whose modes times singular values the cubature takes. No array then
   holds every snapshot: the memory is one block plus the bases;
3. the displacement modes (truncated at ``eps_u``) and their strains at every quadrature
   point; the Gappy bases (``eps_dual``), their Q-DEIM points (added to the reduced set
   with zero weight) and the error indicator's calibration factor of each
   (:mod:`rom.indicator`); the empirical cubature (tolerance ``ecm_tol``) of the
   integrands ``G[(s, i), q] = sigma_s(x_q) : eps(psi_i)(x_q)`` (of the stress
   snapshots, or of the streamed stress modes scaled by their singular values: the same
   ``G^T G`` up to the dropped energy), never held whole
   (:func:`rom.hyper.stress_cubature`);
4. the reduced operators: mode strains, coordinates and temperature interpolation at
   the reduced points, reduced external-load vectors per affine load term; the archive
   (:mod:`rom.archive`) and a PNG of the singular values.

The displacement modes satisfy the (homogeneous) Dirichlet conditions of the
snapshots; prescribed non-zero displacements are not supported by the ROM.
"""

import os
import time

import numpy as np

from rom import RomError, inject_fault
from rom.archive import FORMAT, file_hash, mesh_signature, write_archive
from rom.hyper import qdeim_rows, stress_cubature
from rom.indicator import calibration_factor
from rom.pod import StreamingPOD, dense, fields_pod, product_from_petsc, snapshot_pod
from rom.progress import Progress

__all__ = ["RomBuilder", "build_rom", "stream_pods", "add_block", "stress_fields",
           "plot_spectra"]

_COMPONENTS = {"p": 1, "sigma": 6, "X": 6, "eps_vp": 6}


def _product(case, model, comm):
    if case.rom.product == "euclidean":
        return None
    from rom.assembly import dirichlet_rows
    from rom.loads import Loading

    asm = model.assembler
    A = asm.create_matrix()
    if case.rom.product == "mass":
        asm.assemble(A, model.mass_matrices())
    else:
        T = np.full(model.n_qp, getattr(model.law, "T_ref", 20.0))
        asm.assemble(A, model.tangent_matrices(model.law.stiffness(T)))
        dofs, _ = Loading(case, model).dirichlet_values(0.0)
        A.zeroRowsColumns(dirichlet_rows(model.dofmap, dofs), diag=1.0)
    return product_from_petsc(A)


def _gather_rows(comm, ids, values, n_global):
    """Collective. Global array (on rank 0) from rows ``values`` at global ``ids``."""
    if comm.size == 1:  # no pickled copy (and none at all in the global order)
        values, ids = np.asarray(values), np.asarray(ids)
        if len(ids) == n_global and np.array_equal(ids, np.arange(n_global)):
            return values
        out = np.zeros((n_global,) + values.shape[1:], dtype=values.dtype)
        out[np.asarray(ids)] = values
        return out
    from mpi4py import MPI

    # buffers, not pickles: MPI_Gatherv of the ids, then of the rows (a pickled gather
    # of the full bases took a third of an enrichment's update on the blade)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    values = np.ascontiguousarray(values, dtype=np.float64)
    shape = values.shape
    width = int(np.prod(shape[1:], dtype=np.int64))
    values = values.reshape(len(ids), width)
    counts = np.asarray(comm.allgather(len(ids)))
    root = comm.rank == 0
    total = int(counts.sum())
    all_ids = np.empty(total if root else 0, np.int64)
    comm.Gatherv(ids, [all_ids, counts, MPI.INT64_T] if root else None, root=0)
    out = np.zeros((n_global, width)) if root else None
    step = max(1, (2 ** 31 - 1) // max(total, 1))  # columns per message: a count is a C int
    for j in range(0, width, step):
        block = np.ascontiguousarray(values[:, j:j + step])
        k = block.shape[1]
        rows = np.empty((total if root else 0, k))
        comm.Gatherv(block, [rows, counts * k, MPI.DOUBLE] if root else None, root=0)
        if root:
            out[all_ids, j:j + k] = rows
    return out.reshape((n_global,) + shape[1:]) if root else None


class RomBuilder:
    """Collective. The distributed side of a ROM on the HF mesh of ``case``: the POD
    bases on this rank's rows (displacement: owned dofs; dual fields: local quadrature
    points), the mode strains, the reduced quadrature; it assembles the archive content.

    Used by :func:`build_rom` (bases from snapshots) and by the adaptive enrichment
    (:mod:`rom.adaptive`: bases from an archive, updated with HF steps).
    """

    def __init__(self, case, comm):
        from rom.hf import StructuralModel
        from rom.loads import (
            Loading,
            require_affine_loads,
            require_homogeneous_dirichlet,
            support_signatures,
        )
        from rom.materials import make_law
        from rom.mesh import load_mesh

        require_homogeneous_dirichlet(case)
        require_affine_loads(case)
        self.case, self.comm = case, comm
        self.mesh = mesh = load_mesh(case.mesh_file, comm, case.sets, case.partitioner)
        self.law = make_law(case.law, case.material_params())
        self.model = StructuralModel(mesh, self.law)
        self.loading = Loading(case, self.model)
        self.dm = self.model.dofmap
        sig = ((mesh_signature(mesh.data.points, mesh.data.block_cells),
                support_signatures(mesh.data, case), file_hash(case.mesh_file))
               if comm.rank == 0 else None)
        self.signature, self.supports, self.mesh_file_hash = comm.bcast(sig, root=0)
        self.qp_ids = self.model.qp_ids
        self._qp_order = np.argsort(self.qp_ids)
        self.w = self.model.quadrature_weights()
        self.n_qp_global = comm.allreduce(self.model.n_qp)
        self.owned_rows = (3 * mesh.node_ids[: mesh.n_owned, None] + np.arange(3)).ravel()
        self.local_rows = (3 * mesh.node_ids[:, None] + np.arange(3)).ravel()
        self.product = _product(case, self.model, comm)
        self.pod = self.ecm = None
        self.gappy = {}

    # --- bases -----------------------------------------------------------------------
    def set_modes(self, pod):
        """Take the displacement POD ``pod`` (modes on the owned dofs); compute the
        modes on the local dofs (ghosts included) and their strains at every local
        quadrature point ``E (n_qp, 6, N)``. An update of the current POD
        (:func:`rom.pod.incremental_pod`: ``modes = Psi U_old + Q U_new``) computes
        the ghost values and strains of its new directions ``Q`` only and rotates the
        current ones (both maps are linear)."""
        update, pod.update = pod.update, None  # the new directions are not kept
        if update is not None and self.pod is not None and update[0]() is self.pod:
            _, U_old, Q, U_new = update
            Q_local, E_q = self._local_and_strains(Q)
            self.modes_local = self.modes_local @ U_old + Q_local @ U_new
            n_qp = self.model.n_qp
            self.E = (self.E.reshape(n_qp * 6, -1) @ U_old
                      + E_q.reshape(n_qp * 6, -1) @ U_new).reshape(n_qp, 6, pod.n_modes)
        else:
            self.modes_local, self.E = self._local_and_strains(pod.modes)
        self.pod = pod

    def _local_and_strains(self, modes):
        """Collective. Columns ``modes (n_owned, k)`` on the local dofs (ghost values
        exchanged) and their strains at the local quadrature points ``(n_qp, 6, k)``."""
        dm, k = self.dm, modes.shape[1]
        local = np.empty((dm.n_local, k))
        E = np.empty((self.model.n_qp, 6, k))
        pad = np.zeros(dm.n_local)
        for i in range(k):
            pad[: dm.n_owned] = modes[:, i]
            local[:, i] = dm.vector_to_local(dm.local_to_vector(pad))
            E[:, :, i] = self.model.strain(local[:, i])
        return local, E

    def field_rows(self, name):
        """Global row ids ``q * c + component`` of this rank's quadrature points."""
        c = _COMPONENTS[name]
        return (self.qp_ids[:, None] * c + np.arange(c)).ravel()

    def set_gappy(self, name, pod, keep_rows=False):
        """Take the POD ``pod`` of dual field ``name`` (local quadrature rows) and select
        its Q-DEIM rows (with ``keep_rows``, continuing from the current ones: an
        enriched basis keeps its first ``k - 1`` rows, ``k`` its new mode count, and
        selects the others)."""
        pod.update = None  # (its new directions: nothing here maps them)
        rows = self.field_rows(name)
        start = self.gappy[name]["rows"] if keep_rows and name in self.gappy else None
        sel = (qdeim_rows(pod.modes, rows, self.comm, start=start) if pod.n_modes
               else np.zeros(0, np.int64))
        self.gappy[name] = {"pod": pod, "rows": sel, "c": _COMPONENTS[name], "row_ids": rows}

    def gappy_pod(self, name, snapshots):
        """POD (L2 product, ``eps_dual``) of quadrature snapshots ``[(n_qp[, c])]`` (or
        one array ``(S, n_qp[, c])``), each
        scaled to unit norm (zero snapshots dropped): every shape counts, whatever its
        magnitude, so the small plastic zones of the first plastic steps are in the
        basis (the indicator and the reconstruction need their shape)."""
        c = _COMPONENTS[name]
        if isinstance(snapshots, np.ndarray):  # (S, n_qp[, c]): rows are the snapshots
            fields = snapshots.reshape(len(snapshots), self.model.n_qp * c)
        else:
            fields = [np.asarray(v).reshape(self.model.n_qp * c) for v in snapshots]
        return fields_pod(fields, self.comm, np.repeat(self.w, c), eps=self.case.rom.eps_dual,
                          normalize=True)

    def normalized(self, F, c):
        """Collective. The columns of quadrature snapshots ``F (n_qp c, k)`` scaled to
        unit L2 norm; zero columns are dropped."""
        norms = np.sqrt(self.comm.allreduce(np.repeat(self.w, c) @ F ** 2))
        keep = norms > 1e-300
        return F[:, keep] / norms[keep]

    def cubature(self, stresses, warm_start=None, compress_rows=True, warm_weights=None):
        """The hyper-reduction of the case's ``[rom] hyper`` for the stress fields
        ``stresses`` (a sequence of ``(n_qp, 6)``): a reduced quadrature of
        ``G[(s, i), q] = sigma_s(x_q) : eps(psi_i)(x_q)``, compressed to the left
        singular vectors of ``G`` and never held whole
        (:func:`rom.hyper.stress_cubature`: ``ecm``, non-negative OMP warm-started
        from ``warm_start`` and its weights ``warm_weights``; ``nnls``, one NNLS over
        every point; with the elastic stresses of the modes when the stresses are
        self-equilibrated). Kept as ``self.ecm`` and returned."""
        T_ref = np.array([getattr(self.law, "T_ref", 20.0)])
        self.ecm = stress_cubature(stresses, self.E, self.w, self.qp_ids, self.comm,
                                   tol=self.case.rom.ecm_tol, warm_start=warm_start,
                                   warm_weights=warm_weights,
                                   method=self.case.rom.hyper,
                                   compress_rows=compress_rows,
                                   stiffness=self.law.stiffness(T_ref)[0])
        return self.ecm

    def reduced_points(self):
        """ECM points, then the Q-DEIM points of the Gappy bases not among them."""
        extra = set()
        for g in self.gappy.values():
            extra.update(int(r) // g["c"] for r in g["rows"])
        extra = sorted(extra - set(int(p) for p in self.ecm.points))
        points = np.concatenate([self.ecm.points, np.asarray(extra, dtype=np.int64)])
        weights = np.concatenate([self.ecm.weights, np.zeros(len(extra))])
        return points, weights

    def at_points(self, points, values_at):
        """Collective. ``values_at(lq)`` (a list of arrays whose rows belong to the
        local quadrature points ``lq``) gathered at the global quadrature ids
        ``points``, on every rank."""
        local = np.flatnonzero(np.isin(points, self.qp_ids))
        lq = self._qp_pos(points[local])
        parts = self.comm.allgather((local, [np.asarray(v) for v in values_at(lq)]))
        out = [np.zeros((len(points),) + v.shape[1:], dtype=v.dtype) for v in parts[0][1]]
        for idx, vals in parts:
            for o, v in zip(out, vals):
                o[idx] = v
        return out

    def _qp_pos(self, ids):
        """Local positions of global quadrature ids ``ids`` (all of this rank)."""
        return self._qp_order[np.searchsorted(self.qp_ids, ids, sorter=self._qp_order)]

    def _point_cells(self, lq):
        """Nodes (local ids) of the cells of local quadrature points ``lq`` and the
        shape functions there, ``(len(lq), n)`` each, ``n`` the most nodes of a cell
        type of the mesh: a cell with fewer nodes is padded with its first node and a
        shape function 0 (so that interpolation is unchanged)."""
        from rom.fem import default_rule

        mesh, model = self.mesh, self.model
        k_max = max(b.element.n_nodes for b in mesh.blocks)
        cells = model.qp_cells[lq]
        nodes = np.zeros((len(lq), k_max), dtype=np.int64)
        shape = np.zeros((len(lq), k_max))
        for b in mesh.blocks:
            sel = (cells >= b.start) & (cells < b.stop)
            if not sel.any():
                continue
            el, k = b.element, b.element.n_nodes
            conn = b.cells[cells[sel] - b.start]
            nodes[sel, :k], nodes[sel, k:] = conn, conn[:, :1]
            shape_at_points = el.shape_functions(default_rule(el).points)
            shape[sel, :k] = shape_at_points[lq[sel] - model.qp_start[cells[sel]]]
        return nodes, shape

    # --- archive content ---------------------------------------------------------------
    def full_bases(self):
        """Collective. The full bases gathered on rank 0 (None elsewhere): ``{"U":
        displacement basis (3 n_nodes, N), "qp_weights": (n_qp,), "gappy": {field:
        basis (n_qp c, r)}}``, rows in the global numbering."""
        comm = self.comm
        out = {"U": _gather_rows(comm, self.owned_rows, self.pod.modes, self.dm.n_global),
               "qp_weights": _gather_rows(comm, self.qp_ids, self.w, self.n_qp_global),
               "gappy": {name: _gather_rows(comm, g["row_ids"], dense(g["pod"].modes),
                                            self.n_qp_global * g["c"])
                         for name, g in self.gappy.items()}}
        return out if comm.rank == 0 else None

    def content(self, everywhere=False, summary=None, full=True):
        """Collective. The archive content (see :mod:`rom.archive`) of the current bases
        and cubature, on rank 0 (None elsewhere). With ``everywhere``, every rank gets
        the reduced part (operators, Gappy rows at the reduced points) and only rank 0
        the full bases (None elsewhere): what a replicated online run needs. Without
        ``full`` the full bases are left out (None; the quadrature weights too) and
        nothing is gathered (:meth:`full_bases` adds them when needed: the adaptive
        enrichment, which reconstructs its fields row-distributed)."""
        comm, mesh, model = self.comm, self.mesh, self.model
        N = self.pod.n_modes
        points, weights = self.reduced_points()
        xq = model.quadrature_points()

        def at(lq):
            nodes, shape = self._point_cells(lq)
            return [self.E[lq], xq[lq], mesh.node_ids[nodes], shape, mesh.points[nodes],
                    mesh.node_file_ids[nodes]]

        B, X, cell_nodes, shape, node_points, cell_file_ids = self.at_points(points, at)
        _, first = np.unique(cell_nodes.ravel(), return_index=True)
        node_file_ids = cell_file_ids.ravel()[first]  # of the sorted reduced nodes
        loads = []
        for term, Fk in self.loading.force_terms:  # unit load terms
            loads.append({"name": term.name, "power": term.power,
                          "vector": comm.allreduce(self.modes_local.T @ Fk),
                          "table": term.table.rows, "magnitude": term.magnitude,
                          "axis": term.axis, "support": self.supports[1].get(term.name, "")})
        supports = {}  # set -> unit stiffness matrices, summed over its face types
        for sp, conn, Kn, Kt in self.loading.supports:
            dofs = (3 * conn[:, :, None] + np.arange(3)).reshape(len(conn), 3 * conn.shape[1])
            Ue = self.modes_local[dofs]  # (f, 3a, N)
            Ut = Ue.transpose(0, 2, 1)
            normal = comm.allreduce(np.matmul(Ut, Kn @ Ue).sum(axis=0) if len(conn)
                                    else np.zeros((N, N)))
            tangential = comm.allreduce(np.matmul(Ut, Kt @ Ue).sum(axis=0) if len(conn)
                                        else np.zeros((N, N)))
            if sp.set in supports:
                supports[sp.set]["normal"] += normal
                supports[sp.set]["tangential"] += tangential
            else:
                supports[sp.set] = {"set": sp.set, "normal": normal, "tangential": tangential,
                                    "faces": self.supports[1][f"support:{sp.set}"]}
        supports = list(supports.values())
        bases = self.full_bases() if full else None
        if bases is None:
            bases = {"U": None, "qp_weights": None, "gappy": dict.fromkeys(self.gappy)}
        gappy_out = {}
        for name, g in self.gappy.items():
            c, r = g["c"], g["pod"].n_modes
            mask = self.at_points(points, lambda lq, M=g["pod"].modes, c=c: [
                M[(lq[:, None] * c + np.arange(c)).ravel()].reshape(len(lq), c, M.shape[1])])[0]
            mask = mask.reshape(len(points) * c, r)  # (modes: no copy of either order)
            gappy_out[name] = {"basis": bases["gappy"][name],
                               "singular_values": g["pod"].singular_values,
                               "rows": g["rows"], "mask": mask}
            if g["pod"].coefficients is not None:
                factor, n_pairs = calibration_factor(mask, g["pod"].coefficients)
                gappy_out[name].update(coefficients=g["pod"].coefficients,
                                       indicator_factor=np.float64(factor),
                                       indicator_pairs=np.int64(n_pairs))
        if not everywhere and comm.rank != 0:
            return None
        case = self.case
        return {
            "attrs": {"case_name": case.name, "case_text": case.text, "law": case.law,
                      "mesh_signature": self.signature, "mesh_file_hash": self.mesh_file_hash,
                      "n_nodes": mesh.n_nodes_global, "n_file_points": mesh.n_file_points,
                      "n_cells": mesh.n_cells_global,
                      "n_qp_cell": (0 if mesh.mixed else model.qp_per_type[mesh.cell_type]),
                      "cell_type": mesh.cell_type, "product": case.rom.product,
                      "gappy_normalized": 1, "dirichlet": self.supports[0],
                      "hyper": case.rom.hyper},
            "basis": {"U": bases["U"], "singular_values": self.pod.singular_values,
                      "qp_weights": bases["qp_weights"]},
            "reduced": {"points": points, "weights": weights, "B": B, "x": X,
                        "cell_nodes": cell_nodes, "shape": shape,
                        "node_points": node_points, "node_file_ids": node_file_ids,
                        "n_ecm": np.int64(len(self.ecm.points))},
            "gappy": gappy_out, "loads": loads, "supports": supports,
            "mesh": mesh.data,  # None but on rank 0
            "summary": dict(summary or {}, n_modes=N, n_ecm_points=len(self.ecm.points),
                            n_reduced_points=len(points), ecm_residual=self.ecm.residual,
                            ecm_iterations=self.ecm.iterations, n_qp=self.n_qp_global,
                            **{f"n_gappy_{k}": g["pod"].n_modes
                               for k, g in self.gappy.items()})}

    @classmethod
    def from_archive(cls, case, archive, comm):
        """Collective. A builder holding the bases of ``archive`` (rows of this rank)."""
        from rom.hyper import ECMResult
        from rom.pod import FactoredBasis, PODResult

        self = cls(case, comm)
        a = archive
        if a["attrs"].get("mesh_signature") != self.signature:
            raise RomError(f"the ROM archive was built on another mesh than {case.mesh_file}")
        if a["attrs"].get("product") != case.rom.product:
            raise RomError(f"the ROM archive's POD product is '{a['attrs'].get('product')}', "
                           f"the case's [rom] product is '{case.rom.product}'")
        if a["attrs"].get("hyper", "ecm") != case.rom.hyper:
            raise RomError(f"the ROM archive's hyper-reduction is "
                           f"'{a['attrs'].get('hyper', 'ecm')}', the case's [rom] hyper is "
                           f"'{case.rom.hyper}'")
        if not a["attrs"].get("gappy_normalized"):
            raise RomError("the ROM archive was built before the Gappy bases were POD of "
                           "unit-norm snapshots; rebuild it (run.py offline)")
        def rows_of(dataset, full, rows, out=None):
            """This rank's ``rows`` of the full basis ``dataset`` (into ``out`` if given):
            from ``full`` when the archive was read with it, else read by blocks from its
            file (:func:`rom.archive.read_rows`: an archive read without its full
            bases)."""
            if full is not None:
                if out is None:
                    return full[rows].copy()
                out[...] = full[rows]
                return out
            from rom.archive import read_rows

            return read_rows(a["path"], a.get("root", "") + dataset, rows, out=out)

        U = rows_of("basis/U", a["basis"].get("U"), self.owned_rows)
        self.set_modes(PODResult(U, a["basis"]["singular_values"], U.shape[1]))
        n_ecm = int(a["reduced"]["n_ecm"])
        self.ecm = ECMResult(a["reduced"]["points"][:n_ecm], a["reduced"]["weights"][:n_ecm],
                             float(a["summary"].get("ecm_residual", 0.0)), 0)
        for name, g in a["gappy"].items():
            rows = self.field_rows(name)
            # factored (P = the basis, W = I) in a buffer with spare columns, which the
            # enrichment extends without copying the basis (rom.pod.incremental_pod)
            basis = FactoredBasis.allocate(len(rows), np.shape(g["mask"])[1])
            rows_of(f"gappy/{name}/basis", g.get("basis"), rows, out=basis.P)
            pod = PODResult(basis, g["singular_values"], basis.shape[1], g.get("coefficients"))
            self.gappy[name] = {"pod": pod, "rows": g["rows"], "c": _COMPONENTS[name],
                                "row_ids": rows}
        return self


def _other_supports(case_text, rb, path):
    """Rank 0. A message if the snapshot file ``path`` (written by the case file
    ``case_text``) was computed with other Dirichlet conditions than the ROM's case
    (supports, or a non-zero prescribed value): its displacements would not satisfy the
    modes' constraints. None when they agree, or when the file names no case."""
    from rom.case import parse_case
    from rom.loads import require_homogeneous_dirichlet, support_signatures

    if not case_text:
        return None
    try:
        other = parse_case(case_text, rb.case.path)
        require_homogeneous_dirichlet(other)
        data = rb.mesh.data
        saved = dict(data.definitions)
        try:  # the snapshot case's own set definitions
            data.add_definitions(other.sets)
            mine = support_signatures(data, other)[0]
        finally:
            data.definitions = saved
    except RomError as exc:
        return f"snapshot file {path}: its case: {exc}"
    if mine != rb.supports[0]:
        return (f"snapshot file {path} was computed with the Dirichlet supports '{mine}', "
                f"the case {os.path.basename(rb.case.path)} has '{rb.supports[0]}' "
                "(set:components:hash of the nodes)")
    return None


def stream_pods(rb, work=0.1):
    """Collective. The streaming PODs (:class:`rom.pod.StreamingPOD`) the offline stage
    feeds with the snapshots of the ROM builder ``rb``'s case: ``"U"`` (owned dofs, the
    case's product, ``eps_u``) and each Gappy field of ``[rom] gappy`` (local quadrature
    rows ``q c + component``, L2 product, unit-norm snapshots, ``eps_dual``), truncated
    on the way at ``work`` times their tolerance. The stresses' basis also keeps the
    Euclidean POD of the stresses as they are, at the ECM's stress tolerance
    ``0.1 ecm_tol`` (the one :func:`rom.hyper.stress_cubature` compresses its stresses
    at): the cubature's ``G^T G`` is kept up to the dropped energy. Without a Gappy
    ``sigma``, a ``"stress"`` stream holds that POD alone."""
    rom, comm = rb.case.rom, rb.comm
    stress_tol = 0.1 * rom.ecm_tol
    streams = {"U": StreamingPOD(comm, rb.product, eps=rom.eps_u, work=work)}
    for name in rom.gappy:
        streams[name] = StreamingPOD(comm, np.repeat(rb.w, _COMPONENTS[name]),
                                     eps=rom.eps_dual, work=work, normalize=True,
                                     euclidean=stress_tol if name == "sigma" else None)
    if "sigma" not in streams:
        streams["stress"] = StreamingPOD(comm, None, eps=stress_tol, work=1.0)
    return streams


def add_block(streams, block, timings=None):
    """Collective. Feed ``block`` (name -> snapshots as columns: ``"U"``
    ``(n_owned_dofs, m)``, quadrature fields ``(n_qp_local c, m)``; ``sigma`` goes to
    the ``"stress"`` stream when there is one) to the streams of :func:`stream_pods`;
    the arrays are consumed (overwritten, released). ``timings`` (pod, gappy, ecm)
    are incremented."""
    timings = {} if timings is None else timings
    for name in list(block):
        X = block.pop(name)
        if name == "sigma" and "stress" in streams:
            name = "stress"
        if name not in streams:
            continue
        key = {"U": "pod", "stress": "ecm"}.get(name, "gappy")
        t0 = time.perf_counter()
        streams[name].add(X)
        del X
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0


def stress_fields(streams):
    """Collective. The stresses of :func:`rom.hyper.stress_cubature` from the streams of
    :func:`stream_pods`: the Euclidean stress modes times their singular values, whose
    ``G^T G`` is that of the stress snapshots up to the energy the POD dropped: columns
    of the Gappy ``sigma`` basis transformed in place (valid until that stream's
    result), or the ``"stress"`` stream's modes, scaled in place."""
    if "sigma" in streams:
        F, _ = streams["sigma"].euclidean_fields()
    else:
        pod = streams.pop("stress").result()
        F = pod.modes
        F *= pod.singular_values[: pod.n_modes]
    return [F[:, j].reshape(-1, 6) for j in range(F.shape[1])]  # column-major: views


class _OneBlock:
    """The snapshots of one block (every snapshot, a step per row): the batch PODs,
    each field released once used (the interface of :class:`_Streams`)."""

    def __init__(self, rb, block):
        self.rb, self.block = rb, block

    def displacement(self):
        rom = self.rb.case.rom
        return snapshot_pod(self.block.pop("U").T, self.rb.comm, self.rb.product,
                            eps=rom.eps_u)

    def gappy(self, name):
        return self.rb.gappy_pod(name, self.block.pop(name))

    def stresses(self):
        S = self.block["sigma"]
        return S.reshape(len(S), -1, 6)


class _Streams:
    """The streaming PODs of :func:`stream_pods`, fed: the same interface as
    :class:`_OneBlock`."""

    def __init__(self, streams):
        self.streams = streams

    def displacement(self):
        return self.streams.pop("U").result()

    def gappy(self, name):
        return self.streams.pop(name).result()

    def stresses(self):
        return stress_fields(self.streams)


def build_rom(case, snapshot_files, comm, out_path, log=print, block_bytes=None,
              work=0.1):
    """Collective. Build the ROM of ``case`` from ``snapshot_files``; write ``out_path``.

    ``snapshot_files``: the training runs, snapshot files (this project's HF runs or
    imported ones) or :class:`rom.sources.ImportedRun` (another solver's result file,
    replayed into ``import_<loading>/`` beside ``out_path`` unless up to date there).

    The snapshots are read a block of steps at a time (at most ``block_bytes`` per rank,
    default the case's ``[rom] block_mb``, at least one step; blocks of even sizes,
    across the files) into streaming PODs (:func:`stream_pods`) truncated on the way at
    ``work`` times the final tolerances: the memory is that of one block and of the
    bases, whatever the number of snapshots. When every snapshot fits in one block,
    the PODs and the cubature are the batch ones on that block (cheaper: measured
    1.2x the time and 1.1x the memory of the streaming PODs when fed one block).

    Returns a summary dict (on every rank).
    """
    from rom.snapshots import prepare_output
    from rom.sources import snapshot_file

    if not snapshot_files:
        raise RomError("offline: no snapshot file given")
    unknown = [n for n in case.rom.gappy if n not in _COMPONENTS]
    if unknown:
        raise RomError(f"offline: no Gappy basis for {', '.join(unknown)} (known: "
                       f"{', '.join(_COMPONENTS)})")
    if any(isinstance(p, str) and os.path.abspath(p) == os.path.abspath(out_path)
           for p in snapshot_files):
        raise RomError(f"offline: the output {out_path} is one of the snapshot files")
    # written atomically at the end; an existing file is replaced only if an archive
    prepare_output(out_path, comm, overwrite=True, expect=FORMAT)
    # other solvers' runs first replayed (rom.sources)
    snapshot_files = [snapshot_file(e, case, comm, os.path.dirname(os.path.abspath(out_path)),
                                    log=None) for e in snapshot_files]
    if case.rom.clusters not in (None, 1):  # a dictionary of local ROMs
        from rom.dictionary import build_dictionary

        return build_dictionary(case, snapshot_files, comm, out_path, log=log,
                                block_bytes=block_bytes, work=work)
    content, summary = build_one(case, snapshot_files, comm, log=log,
                                 block_bytes=block_bytes, work=work,
                                 spectrum=os.path.splitext(out_path)[0] + "_spectrum.png")
    if comm.rank == 0:
        write_archive(out_path, content)
    comm.Barrier()  # the archive exists on return, on every rank
    return summary


def build_one(case, snapshot_files, comm, log=print, block_bytes=None, work=0.1,
              spectrum=None):
    """Collective. The ROM of ``case`` from the snapshot files ``snapshot_files``
    (:func:`build_rom`'s stages 1 to 4): ``(content, summary)``, ``content`` the
    archive's dict on rank 0 (None elsewhere, :func:`rom.archive.write_archive`),
    ``summary`` on every rank; the PNG of the spectra into ``spectrum`` (rank 0)."""
    from rom.sources import SnapshotSource

    say = log if comm.rank == 0 and log else (lambda *a, **k: None)
    if block_bytes is None:
        block_bytes = int(case.rom.block_mb * 2 ** 20)
    timings = {}
    rb = RomBuilder(case, comm)
    model, dm = rb.model, rb.dm

    # 1. the training runs opened and checked (mesh, supports, fields), steps counted
    wanted = sorted(set(case.rom.gappy) | {"sigma"})
    stores = []
    for path in snapshot_files:
        store = SnapshotSource.open(path, model, comm)
        if store.signature != rb.signature:
            raise RomError(f"snapshot file {path} was computed on another mesh than "
                           f"{case.mesh_file}")
        problem = _other_supports(store.case_text, rb, path) if comm.rank == 0 else None
        problem = comm.bcast(problem, root=0)
        if problem:
            raise RomError(problem)
        missing = [n for n in wanted if n not in store.qp_names]
        if missing and store.times:
            raise RomError(f"snapshot file {path} has no quadrature field(s) "
                           f"{', '.join(missing)} (law {case.law} needs them)")
        stores.append(store)
    n_s = sum(len(store.times) for store in stores)
    if n_s == 0:
        for store in stores:
            store.close()
        raise RomError("offline: the snapshot files hold no complete step")
    say(f"offline: {n_s} snapshots from {len(snapshot_files)} file(s), "
        f"{dm.n_global} dofs, {rb.n_qp_global} quadrature points")

    # 2. one pass over the files, a block of steps at a time: when every snapshot fits
    # in one block, the batch PODs of that block; otherwise streaming PODs
    # (rom.pod.StreamingPOD): the displacement (case's product), the unit-norm Gappy
    # snapshots (L2); the stresses' basis also keeps their Euclidean POD (the ECM's)
    per_step = 8 * (len(rb.owned_rows) + model.n_qp * sum(_COMPONENTS[n] for n in wanted))
    steps = max(1, min(int(block_bytes // max(comm.allgather(per_step))), n_s))
    size = -(-n_s // -(-n_s // steps))  # blocks of even sizes, across the files
    order = [(store, k) for store in stores for k in range(len(store.times))]
    timings.update(read=0.0, pod=0.0, gappy=0.0, ecm=0.0)
    streams = stream_pods(rb, work=work) if size < n_s else None
    progress = Progress(comm, n_s, "offline: snapshots read" + (" and compressed"
                                                                if streams else ""),
                        unit="snapshot")
    for b0 in range(0, n_s, size):
        t1 = time.perf_counter()
        part = order[b0: b0 + size]
        # a step per row (contiguous writes); the streams take the transposes
        block = {"U": np.empty((len(part), len(rb.owned_rows)))}
        block.update({n: np.empty((len(part), model.n_qp * _COMPONENTS[n])) for n in wanted})
        for j, (store, k) in enumerate(part):
            block["U"][j] = store.read_nodal("U", k).ravel()
            for name in wanted:
                block[name][j] = np.ravel(store.read_qp(name, k))
            inject_fault(f"read{k + 1}", comm)
            if k == len(store.times) - 1:
                store.close()
            progress.advance(0.5 if streams is not None else 1.0)
        timings["read"] += time.perf_counter() - t1
        if streams is not None:
            add_block(streams, {n: block.pop(n).T for n in list(block)}, timings)
            progress.advance(0.5 * len(part))
    progress.close()
    for store in stores:
        if not len(store.times):
            store.close()
    source = _OneBlock(rb, block) if streams is None else _Streams(streams)

    # 3. the displacement modes and their strains; the Gappy bases truncated at
    # eps_dual and their Q-DEIM points; the empirical cubature of the stresses
    t0 = time.perf_counter()
    pod = source.displacement()
    if pod.n_modes == 0:
        raise RomError("offline: the displacement snapshots are all zero")
    timings["pod"] += time.perf_counter() - t0
    say(f"  POD of U ({case.rom.product} product, eps {case.rom.eps_u:g}): {pod.n_modes} "
        f"modes, energy {pod.energy_fraction:.10f}")
    rb.set_modes(pod)
    pods = {}
    t0 = time.perf_counter()
    for name in case.rom.gappy:
        if name != "sigma":  # the stresses serve the cubature first
            pods[name] = source.gappy(name)
    timings["gappy"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    ecm = rb.cubature(source.stresses())
    timings["ecm"] += time.perf_counter() - t0
    how = (f"ECM (tol {case.rom.ecm_tol:g})" if case.rom.hyper == "ecm"
           else "NNLS (no tolerance)")
    say(f"  {how}: {len(ecm.points)} points of {rb.n_qp_global}, residual "
        f"{ecm.residual:.2e}, {ecm.iterations} iterations, "
        f"{(ecm.diagnostics or {}).get('stress_modes', 0)} stress modes"
        + (f", with the elastic stresses of the {ecm.diagnostics['mode_stresses']} "
           "modes (self-equilibrated stresses: integrals "
           f"{ecm.diagnostics['integral_ratio']:.1e} of their bound)"
           if (ecm.diagnostics or {}).get("mode_stresses") else ""))
    ecm_warning = ""
    if case.rom.hyper == "ecm" and ecm.residual > 10 * case.rom.ecm_tol:
        # the residual is relative to the integrals of the training integrands, which
        # vanish for stresses in equilibrium without external forces
        ecm_warning = (f"the empirical cubature stopped at residual {ecm.residual:.2e}, "
                       f"far above its tolerance {case.rom.ecm_tol:g}: the reduced "
                       "internal forces may be inaccurate (self-equilibrated training "
                       "stresses, e.g. thermal stresses without external loads, make "
                       "the integrals it is relative to vanish); check the ROM against "
                       "a training run, or try hyper = \"nnls\"")
        if comm.rank == 0:
            print(f"offline: WARNING: {ecm_warning}", flush=True)

    t0 = time.perf_counter()
    if "sigma" in case.rom.gappy:
        pods["sigma"] = source.gappy("sigma")
    del source, block
    for name in case.rom.gappy:
        rb.set_gappy(name, pods.pop(name))
        g = rb.gappy[name]
        say(f"  Gappy-POD of {name}: {g['pod'].n_modes} modes, {len(g['rows'])} Q-DEIM rows")
    timings["gappy"] += time.perf_counter() - t0

    # 4. reduced operators and archive (rank 0 writes)
    t0 = time.perf_counter()
    summary = {"n_snapshots": n_s, "steps_per_block": size, "ecm_warning": ecm_warning,
               "snapshot_files": "\n".join(os.path.abspath(p) for p in snapshot_files)}
    content = rb.content(summary=summary)
    timings["operators"] = time.perf_counter() - t0
    if comm.rank == 0:
        content["summary"].update({f"time_{k}": v for k, v in timings.items()})
        if spectrum:
            plot_spectra(spectrum, {"U": (pod.singular_values, pod.n_modes),
                                    **{k: (g["pod"].singular_values, g["pod"].n_modes)
                                       for k, g in rb.gappy.items()}})
    summary = comm.bcast(content["summary"] if comm.rank == 0 else None, root=0)
    summary["modes_local"] = rb.modes_local
    summary["owned_rows"] = rb.owned_rows
    summary["n_nodes"] = rb.mesh.n_nodes_global
    summary["ecm"] = ecm
    return (content if comm.rank == 0 else None), summary


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
