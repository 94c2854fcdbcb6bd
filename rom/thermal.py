"""Steady heat conduction, distributed (PETSc): the "previous thermal computation"
that produces the nodal temperature fields of the mechanical loadings.

Find the nodal temperatures ``T`` with

    -div(k(T) grad T) = q(x)            in the volume,
    -k(T) dT/dn = h(x) (T - T_ext(x))    on each convection face set (Robin),
    T = T_fixed(x)                       on fixed node sets (Dirichlet),

``k(T)`` a constant or a piecewise-linear table of the temperature
(:class:`rom.materials.tables.Table`), ``h`` and ``T_ext`` numbers or expressions of
x, y, z (the gas temperature around a blade, with its hot spot), ``q`` an optional
volumetric source. Galerkin discretization on the mesh's elements (tet10: quadratic
temperatures) with the full Gauss rules of the cells and faces. The residual

    R_a = sum_q w k(T) grad N_a . grad T + sum_faces sum_q w h N_a (T - T_ext)
          - sum_q w N_a q

is solved by Newton's method with the consistent Jacobian

    J_ab = sum_q w [k(T) grad N_a . grad N_b + k'(T) N_b grad N_a . grad T]
           + sum_faces sum_q w h N_a N_b,

which is symmetric when ``k`` is constant (CG + GAMG) and not otherwise (GMRES +
GAMG, right-preconditioned), from a uniform ``T_init``; the Krylov solvers test the
true (unpreconditioned) residual. A constant ``k`` (a linear problem) gets one solve
to the Newton tolerance; otherwise the linear solves are inexact (forcing term
``(|R_k| / |R_k-1|)^2``, at most 1e-3). Converged when ``|R|_free <= rtol max(|F|, |R_0|)``,
``F`` the assembled convection and source terms. Units are the user's (e.g. mm, W,
degrees C: ``k`` in W/(mm K), ``h`` in W/(mm^2 K)).
"""

import time

import numpy as np

from rom import RomError, agree
from rom.assembly import DofMap, LinearSolver, MatrixAssembler, dirichlet_rows
from rom.case import Convection, FixedTemperature
from rom.fem import CellBasis, FaceBasis, get_element
from rom.materials.tables import Table
from rom.mesh import evaluate_expression
from rom.stepping import newton_converged

__all__ = ["Convection", "FixedTemperature", "ThermalModel", "solve_steady",
           "write_temperature", "compute_thermal_fields"]


def _names(points, params, define):
    """The names of the expressions at ``points (n, 3)``: the parameters, then the
    definitions ``((name, expression), ...)`` evaluated in order."""
    names = dict(params or {})
    for name, expr in define or ():
        names[name] = evaluate_expression(expr, points, extra=names,
                                          what=f"thermal definition '{name}'").astype(float)
    return names


def _evaluate(spec, points, what, params=None, define=()):
    """A number or an expression of x, y, z (and of the parameters ``params`` and the
    definitions ``define``) at ``points (n, 3)`` -> ``(n,)`` finite values."""
    if isinstance(spec, str):
        v = evaluate_expression(spec, points, extra=_names(points, params, define),
                                what=what).astype(float)
    else:
        v = np.full(len(points), float(spec))
    if not np.all(np.isfinite(v)):
        raise RomError(f"{what} {spec!r} has NaN or inf values at {np.sum(~np.isfinite(v))} "
                       "point(s)")
    return v


class ThermalModel:
    """The conduction problem on one rank (its local cells and faces).

    Parameters
    ----------
    mesh : rom.mesh.Mesh
    conductivity : number, ``[[T, k], ...]`` table, or :class:`Table`
    convection : sequence of :class:`Convection`
    source : None, a number or an expression of x, y, z (volumetric heat source)
    params : dict
        Extra names available in the expressions (e.g. a hot spot's parameters).
    define : sequence of ``(name, expression)``
        Named expressions of x, y, z (and of ``params`` and the previous names),
        available in the expressions.
    chunk : int
        Cells per kernel batch.

    Collective (face sets are checked over all ranks: a convection set that selects
    no face is an error that names it).
    """

    def __init__(self, mesh, conductivity, convection=(), source=None, params=None,
                 define=(), chunk=4096):
        self.mesh = mesh
        self.comm = mesh.comm
        self.k = conductivity if isinstance(conductivity, Table) else Table(
            conductivity, "conductivity", low=0.0)
        self.dofmap = DofMap(mesh, bs=1)
        self.assembler = MatrixAssembler(self.dofmap)
        self.chunks = [s for _, s in mesh.chunks(chunk)]  # each within one cell block
        self.bases = [CellBasis(b.element, mesh.cell_coordinates(s), compact=True)
                      for b, s in mesh.chunks(chunk)]
        # convection faces: constant element matrices h N_a N_b and vectors h T_ext N_a,
        # by face type
        conns, mats, vecs, counts = {}, {}, [], []

        def faces():  # rank-local: an expression's error reaches every rank (agree)
            for c in convection:
                groups = mesh.face_groups(c.set)
                counts.append(sum(len(g[2]) for g in groups.values()))
                for ft, (_, _, conn) in groups.items():
                    if len(conn):
                        face(c, ft, conn)

        def face(c, ft, conn):
            fb = FaceBasis(get_element(ft), mesh.points[conn])
            dA = np.linalg.norm(fb.nA, axis=2)  # (f, q) weighted area elements
            pts = fb.x.reshape(-1, 3)
            h = _evaluate(c.h, pts, f"convection coefficient on '{c.set}'", params,
                          define)
            if np.any(h < 0):
                raise RomError(f"convection coefficient on '{c.set}' is negative at "
                               f"{np.sum(h < 0)} point(s)")
            h = h.reshape(dA.shape) * dA
            Text = _evaluate(c.T_ext, pts, f"external temperature on '{c.set}'",
                             params, define).reshape(dA.shape)
            conns.setdefault(ft, []).append(conn)
            mats.setdefault(ft, []).append(np.einsum("fq,qa,qb->fab", h, fb.N, fb.N))
            vecs.append((conn, np.einsum("fq,qa->fa", h * Text, fb.N)))

        agree(self.comm, faces)
        totals = self.comm.allreduce(np.array(counts, dtype=np.int64)) if counts else []
        for c, total in zip(convection, totals):
            if total == 0:
                raise RomError(f"convection set '{c.set}' selects no boundary face of "
                               f"{mesh.source}")
        # [(connectivity, element matrices)] of the convection faces of each face type
        self.faces = [(np.concatenate(conns[ft]), np.concatenate(mats[ft])) for ft in conns]
        # the constant part of the right-hand side: convection and source
        F = np.zeros(self.dofmap.n_local)
        for conn, v in vecs:
            F += np.bincount(conn.ravel(), weights=v.ravel(), minlength=len(F))
        def sources():
            for s, b in zip(self.chunks, self.bases):
                x = np.einsum("qa,cak->cqk", b.N, mesh.cell_coordinates(s))
                q = _evaluate(source, x.reshape(-1, 3), "heat source", params, define)
                fe = np.einsum("cq,qa,cq->ca", b.dx, b.N, q.reshape(b.dx.shape))
                self.dofmap.scatter_local(fe, s, F)

        if source is not None:
            agree(self.comm, sources)
        self.F = F

    def _face_product(self, T):
        """Local array of ``sum_faces h N_a N_b T_b``."""
        out = np.zeros(self.dofmap.n_local)
        for conn, Ke in self.faces:
            fe = np.einsum("fab,fb->fa", Ke, T[conn])
            out += np.bincount(conn.ravel(), weights=fe.ravel(), minlength=len(out))
        return out

    def residual(self, T):
        """Local residual array ``(n_local,)`` at local nodal temperatures ``T`` (not yet
        summed over ranks)."""
        out = self._face_product(T) - self.F
        for s, b in zip(self.chunks, self.bases):
            Te = T[self.mesh.conn(s)]
            g = b.dNdx  # (c, q, a, 3)
            gradT = np.matmul(Te[:, None, None, :], g)[:, :, 0, :]  # (c, q, 3)
            flux = gradT * (self.k(Te @ b.N.T) * b.dx)[..., None]  # k grad T w
            re = np.matmul(g, flux[..., None])[..., 0].sum(axis=1)  # (c, a)
            self.dofmap.scatter_local(re, s, out)
        return out

    def jacobian_matrices(self, T):
        """Element matrices of the consistent Jacobian at ``T``, by chunks of cells (an
        iterator of ``(cells, Ke)`` for :meth:`rom.assembly.MatrixAssembler.assemble`)."""
        slope = None if self.k.is_constant else _slopes(self.k)
        for s, b in zip(self.chunks, self.bases):
            Te = T[self.mesh.conn(s)]
            g = b.dNdx  # (c, q, a, 3)
            c, q, a, _ = g.shape
            Tq = Te @ b.N.T  # (c, q)
            # sum_q k w g g^T as one product (k w > 0): G (c, a, 3q), Ke = G G^T
            G = (g * np.sqrt(self.k(Tq) * b.dx)[..., None, None]).transpose(0, 2, 1, 3)
            G = G.reshape(c, a, 3 * q)
            Ke = np.matmul(G, G.transpose(0, 2, 1))
            if slope is not None:
                gradT = np.matmul(Te[:, None, None, :], g)[:, :, 0, :]  # (c, q, 3)
                A = np.matmul(g, gradT[..., None])[..., 0] * (slope(Tq) * b.dx)[..., None]
                Ke += np.matmul(A.transpose(0, 2, 1), b.N)  # sum_q dk w (g.gradT)_a N_b
            yield s, Ke

    def assemble_jacobian(self, A, T):
        """Collective. ``A`` set to the Jacobian at local temperatures ``T``."""
        A.zeroEntries()
        for s, Ke in self.jacobian_matrices(T):
            self.assembler.add(A, Ke, s)
        for conn, Ke in self.faces:
            self.assembler.add(A, Ke, nodes=conn)
        A.assemble()
        return A


def _slopes(table):
    """``dk/dT`` of a piecewise-linear table: its segment's slope inside the table, 0
    outside (the end values are held there)."""
    slopes = np.diff(table.values) / np.diff(table.T)

    def slope(T):
        i = np.searchsorted(table.T, T, side="right") - 1
        inside = (i >= 0) & (i < len(slopes))
        out = np.zeros(np.shape(T))
        out[inside] = slopes[i[inside]]
        return out

    return slope


def solve_steady(model, fixed=(), T_init=None, rtol=1e-10, max_iterations=30,
                 petsc_options=None, params=None, define=(), log=None):
    """Collective. The steady temperatures of ``model`` (:class:`ThermalModel`).

    Parameters
    ----------
    fixed : sequence of :class:`FixedTemperature`
    T_init : float
        Uniform start of the Newton iterations (default: the mean of the fixed
        values, else 20).
    rtol, max_iterations : Newton settings (module docstring)
    petsc_options : dict (:class:`rom.assembly.LinearSolver`), below the user's
        options of PETSc's database, which this solver reads with the prefix
        ``thermal_`` (``-thermal_ksp_monitor``: :mod:`rom.petsc`)
    params, define : names for the expressions of ``fixed`` (:class:`ThermalModel`)
    log : callable or None (rank 0 only)

    Returns ``(T, info)``: local nodal temperatures ``(n_local_nodes,)`` and a dict
    (``iterations``, ``residuals``, ``ksp_iterations``, ``seconds``). Raises
    :class:`rom.RomError` when Newton does not converge or the linear solver fails.
    """
    t_start = time.perf_counter()
    mesh, dm = model.mesh, model.dofmap
    comm = model.comm
    say = log if (log and comm.rank == 0) else (lambda *a: None)
    bc_nodes, bc_vals = [], []
    counts = []

    def values():  # rank-local: an expression's error reaches every rank (agree)
        for f in fixed:
            nodes = mesh.node_set(f.set)
            counts.append(len(mesh.node_set(f.set, owned_only=True)))
            bc_nodes.append(nodes)
            bc_vals.append(_evaluate(f.value, mesh.points[nodes], f"fixed temperature on "
                                     f"'{f.set}'", params, define))

    agree(comm, values)
    totals = comm.allreduce(np.array(counts, dtype=np.int64)) if counts else []
    for f, total in zip(fixed, totals):
        if total == 0:
            raise RomError(f"fixed-temperature set '{f.set}' selects no node of {mesh.source}")
    bc_nodes = np.concatenate(bc_nodes) if bc_nodes else np.zeros(0, np.int64)
    bc_vals = np.concatenate(bc_vals) if bc_vals else np.zeros(0)
    if comm.allreduce(sum(len(c) for c, _ in model.faces) + len(bc_nodes)) == 0:
        raise RomError("the thermal problem needs a convection or a fixed-temperature "
                       "condition (its temperature is otherwise undetermined)")
    if T_init is None:
        n = comm.allreduce(len(bc_vals))
        T_init = comm.allreduce(float(bc_vals.sum())) / n if n else 20.0
    T = np.full(dm.n_local, float(T_init))
    T[bc_nodes] = bc_vals
    rows = dirichlet_rows(dm, bc_nodes)
    # the Krylov test on the true residual (unpreconditioned norm), which the Newton
    # test measures: a linear problem (k constant) converges in one Newton iteration
    options = ({"ksp_norm_type": "unpreconditioned"} if model.k.is_constant
               else {"ksp_type": "gmres", "ksp_pc_side": "right"})
    options.update(petsc_options or {})
    solver = LinearSolver(dm, options, prefix="thermal_")
    A = model.assembler.create_matrix()
    R, dT, work = dm.create_vector(), dm.create_vector(), dm.create_vector()
    ref_F = dm.local_to_vector(model.F, work, add=True).norm()
    residuals, ref = [], None
    for it in range(max_iterations + 1):
        dm.local_to_vector(model.residual(T), R, add=True)
        R.setValues(rows, np.zeros(len(rows)), addv=False)
        R.assemble()
        rnorm = R.norm()
        ref = max(ref_F, rnorm) if ref is None else ref
        if newton_converged(rnorm, ref, residuals, rtol, it, 0.0):
            break
        if it == max_iterations:
            raise RomError(f"thermal Newton did not converge in {max_iterations} iterations: "
                           "relative residuals " + ", ".join(f"{r:.2e}" for r in residuals))
        model.assemble_jacobian(A, T)
        A.zeroRowsColumns(rows, diag=1.0)
        solver.set_operator(A)
        R.scale(-1.0)
        dT.set(0.0)
        # a linear problem (k constant): one solve to what the Newton tolerance needs;
        # a nonlinear one: inexact Newton, the forcing term (r_k / r_k-1)^2 (1e-3 at the
        # first iteration), at most 1e-3, never tighter than the tolerance needs
        needed = 0.1 * rtol * ref / rnorm
        if model.k.is_constant:
            eta = needed
        else:
            eta = 1e-3 if it == 0 else min(1e-3, (residuals[-1] / residuals[-2]) ** 2)
            eta = max(eta, min(needed, 1e-3))
        solver.solve(R, dT, rtol=eta)
        T += dm.vector_to_local(dT)
        T[bc_nodes] = bc_vals
        say(f"  thermal Newton {it + 1}: |R|/|F| = {residuals[-1]:.2e}, "
            f"{solver.iterations[-1]} Krylov iterations")
    for obj in (A, R, dT, work):
        obj.destroy()
    return T, {"iterations": len(residuals) - 1, "residuals": residuals,
               "ksp_iterations": list(solver.iterations),
               "seconds": time.perf_counter() - t_start}


def write_temperature(path, mesh, T, attrs=None):
    """Collective. Write the local nodal temperatures ``T (n_local_nodes,)`` of ``mesh``
    as the dataset ``T`` (global node numbering, the one temperature files are read
    in) of the HDF5 file ``path``, with the mesh and an XDMF index beside it for
    ParaView; written by rank 0 to ``path + ".part"`` and moved into place (a failure
    to write is raised on every rank; the file is in place when any rank returns)."""
    parts = mesh.comm.gather((mesh.node_ids[: mesh.n_owned], T[: mesh.n_owned]), root=0)

    def write():
        if mesh.comm.rank == 0:
            try:
                _write_temperature_file(path, mesh, parts, attrs)
            except OSError as exc:
                raise RomError(f"cannot write temperature file {path}: {exc}") from None

    agree(mesh.comm, write)


def _write_temperature_file(path, mesh, parts, attrs):
    """Rank 0's part of :func:`write_temperature`."""
    import os

    import h5py

    from rom.io.xdmf import cell_datasets, topology, write_xdmf

    data = mesh.data
    full = np.empty(mesh.n_nodes_global)
    for ids, v in parts:
        full[ids] = v
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with h5py.File(path + ".part", "w") as f:
        f.attrs.update({"format": "rom-temperature", **(attrs or {})})
        f["mesh/points"] = data.points
        for name, v in cell_datasets(data.block_cells).items():
            f[name] = v
        f["T"] = full
    os.replace(path + ".part", path)
    write_xdmf(os.path.splitext(path)[0] + ".xdmf", path,
               topology([(t, len(c)) for t, c in data.block_cells]), data.n_nodes,
               [(0.0, [("T", "Node", (data.n_nodes,), "/T")])])


def _mesh_stamp(path):
    """Size and modification time of the mesh file: a computed field is stale when the
    mesh file changed."""
    import os

    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}"


def compute_thermal_fields(case, comm, names=None, force=False, mesh=None,
                           petsc_options=None, log=None):
    """Collective. Compute the temperature fields that the loadings ``names`` (default:
    every loading and ``[temperature]``) take from the case's ``[thermal]`` problem, if
    their file is missing or older than the mesh file (always with ``force``); each
    is written by :func:`write_temperature` to the file its :class:`rom.case.FieldSpec`
    names. ``mesh``: the case's distributed mesh, if already loaded.

    Returns a list of ``(parameters, path, info)`` of the fields computed (``info``
    from :func:`solve_steady`, with the temperature range ``T_min``, ``T_max``).
    """
    import os

    import h5py

    from rom import mpi_op
    from rom.mesh import load_mesh

    say = log if (log and comm.rank == 0) else (lambda *a: None)
    specs = case.thermal_fields(names)
    stamp = _mesh_stamp(case.mesh_file) if specs else None

    def stale(f):
        try:
            with h5py.File(f.file, "r") as h:
                return h.attrs.get("mesh_stamp") != stamp
        except OSError:
            return True

    todo = [f for f in specs if force or comm.bcast(stale(f) if comm.rank == 0 else None)]
    if not todo:
        return []
    th = case.thermal
    if mesh is None:
        mesh = load_mesh(case.mesh_file, comm, case.sets, case.partitioner)
    done = []
    for f in todo:
        params = dict(f.thermal)
        say("thermal field " + ", ".join(f"{k} = {v:g}" for k, v in f.thermal) + " ...")
        model = ThermalModel(mesh, th.conductivity, th.convection, th.source, params,
                             th.define)
        T, info = solve_steady(model, th.fixed, th.T_init, th.rtol, th.max_iterations,
                               petsc_options, params, th.define)
        info["T_min"] = comm.allreduce(float(T.min(initial=np.inf)), op=mpi_op("MIN"))
        info["T_max"] = comm.allreduce(float(T.max(initial=-np.inf)), op=mpi_op("MAX"))
        write_temperature(f.file, mesh, T, {"mesh_stamp": stamp, "case": case.name,
                                            "parameters": repr(f.thermal)})
        say(f"  {info['iterations']} Newton iterations, {sum(info['ksp_iterations'])} Krylov "
            f"iterations, T in [{info['T_min']:.1f}, {info['T_max']:.1f}], "
            f"{info['seconds']:.2f} s -> {os.path.relpath(f.file)}")
        done.append((f.thermal, f.file, info))
    return done
