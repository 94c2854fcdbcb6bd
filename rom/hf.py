"""High-fidelity solver: the discretized structure and its incremental Newton solve.

At each time step ``t_n`` find ``u_n`` with ``R(u) = F_int(u) - F_ext(t_n) = 0``,
``F_int = sum_e sum_q w_q B_q^T sigma_q``, by Newton-Raphson with the consistent
tangent ``K = sum w_q B_q^T C_q B_q``; converged when
``||R||_free <= rtol * max(||F_ext||, ||F_int||, ||R_0||)`` (``F_int`` including
the reactions, ``R_0`` the step's first residual: the scale when loads and
internal forces both vanish, as in a free thermal expansion). Dirichlet values are
imposed on ``u`` before the first iteration; the Newton corrections vanish on
constrained dofs (rows and columns eliminated symmetrically). A linear law
converges in one iteration.
"""

import time

import numpy as np

from rom import RomError
from rom.assembly import DofMap, LinearSolver, MatrixAssembler, dirichlet_rows
from rom.fem import CellBasis, von_mises
from rom.petsc import PETSc

__all__ = ["StructuralModel", "NewtonSolver", "solve_case"]


class StructuralModel:
    """The structure discretized on one rank (its local cells).

    Quadrature-point arrays are ``(n_qp_local, ...)`` with point ``c * n_qp + q``
    for local cell ``c``; global quadrature id ``cell_id * n_qp + q``.

    Parameters
    ----------
    mesh : rom.mesh.Mesh
    law : a constitutive law (``update(eps, state, T, dt)``)
    chunk : int
        Cells per kernel batch (bounds the memory of the B operators).
    """

    def __init__(self, mesh, law, chunk=4096):
        self.mesh = mesh
        self.law = law
        self.comm = mesh.comm
        self.dofmap = DofMap(mesh)
        self.assembler = MatrixAssembler(self.dofmap)
        n = mesh.n_cells
        self.chunks = [slice(i, min(i + chunk, n)) for i in range(0, n, chunk)] or [slice(0, 0)]
        X = mesh.cell_coordinates()
        self.bases = [CellBasis(mesh.element, X[s]) for s in self.chunks]
        self.n_qp_cell = self.bases[0].rule.n_points
        self.n_qp = n * self.n_qp_cell

    def _qp(self, s):
        return slice(s.start * self.n_qp_cell, s.stop * self.n_qp_cell)

    def _u_e(self, u_local, s):
        return u_local.reshape(-1, 3)[self.mesh.cells[s]]

    def strain(self, u_local):
        """Strains ``(n_qp, 6)`` of local displacements ``(n_local_dofs,)``."""
        out = np.empty((self.n_qp, 6))
        for s, b in zip(self.chunks, self.bases):
            out[self._qp(s)] = b.strain(self._u_e(u_local, s)).reshape(-1, 6)
        return out

    def interpolate(self, nodal):
        """Local nodal scalars ``(n_local_nodes,)`` at the quadrature points ``(n_qp,)``."""
        out = np.empty(self.n_qp)
        for s, b in zip(self.chunks, self.bases):
            out[self._qp(s)] = b.interpolate(nodal[self.mesh.cells[s]]).ravel()
        return out

    def _scatter(self, s, fe):
        """Sum element vectors ``fe`` of the cells ``s`` into a local dof array."""
        return np.bincount(self.dofmap.cell_dofs[s].ravel(), weights=fe.ravel(),
                           minlength=self.dofmap.n_local)

    def internal_forces(self, sigma):
        """Local array ``(n_local_dofs,)`` of ``sum w B^T sigma`` over local cells."""
        q = self.n_qp_cell
        return sum(self._scatter(s, b.internal_forces(sigma[self._qp(s)].reshape(-1, q, 6)))
                   for s, b in zip(self.chunks, self.bases))

    def tangent_values(self, C):
        """Local CSR values of ``sum w B^T C B`` for tangents ``C (n_qp, 6, 6)``."""
        vals = None
        q = self.n_qp_cell
        for s, b in zip(self.chunks, self.bases):
            Ke = b.tangent(C[self._qp(s)].reshape(-1, q, 6, 6))
            vals = self.assembler.local_values(Ke, cells=s, out=vals)
        return vals

    def body_force_vector(self, body):
        """Local array of ``sum w N b(x)`` for a body force ``b(x (..., 3)) -> (..., 3)``."""
        return sum(self._scatter(s, b.body_forces(body(b.x)))
                   for s, b in zip(self.chunks, self.bases))

    def quadrature_weights(self):
        """``(n_qp,)`` weights times Jacobians of the local quadrature points."""
        return np.concatenate([b.dx.ravel() for b in self.bases])

    def quadrature_points(self):
        """``(n_qp, 3)`` physical local quadrature points."""
        return np.concatenate([b.x.reshape(-1, 3) for b in self.bases])

    def cell_average(self, qp_values):
        """Cell averages ``(n_cells, ...)`` of quadrature values ``(n_qp, ...)``."""
        w = self.quadrature_weights().reshape(-1, self.n_qp_cell)
        v = qp_values.reshape((-1, self.n_qp_cell) + qp_values.shape[1:])
        return np.einsum("cq,cq...->c...", w, v) / w.sum(axis=1).reshape(
            (-1,) + (1,) * (v.ndim - 2))


class NewtonSolver:
    """Newton-Raphson on one time step, PETSc matrices and KSP.

    Parameters
    ----------
    model : StructuralModel
    loading : rom.loads.Loading
    rtol, max_iterations : convergence settings
    petsc_options : dict (see :class:`rom.assembly.LinearSolver`)
    log : callable or None
        Progress output (rank 0 only).
    """

    def __init__(self, model, loading, rtol=1e-8, max_iterations=25, petsc_options=None,
                 log=None):
        self.model = model
        self.loading = loading
        self.rtol = rtol
        self.max_iterations = max_iterations
        self.dm = model.dofmap
        self.A = model.assembler.create_matrix()
        self.linear = LinearSolver(self.dm, petsc_options)
        self.R = self.dm.create_vector()
        self.du = self.dm.create_vector()
        self.timings = {"law": 0.0, "assembly": 0.0, "solve": 0.0}
        self.log = log if model.comm.rank == 0 else None

    def _norm_free(self, vec, rows):
        vec.setValues(rows, np.zeros(len(rows)), addv=PETSc.InsertMode.INSERT_VALUES)
        vec.assemble()
        return vec.norm()

    def step(self, u_old, state_old, t, dt):
        """Collective. Solve the step ending at ``t``.

        Returns ``(u, sigma, C_tan, state_new, info)`` with ``u`` local
        ``(n_local_dofs,)``, quadrature fields ``(n_qp, ...)`` and ``info`` a dict
        (``iterations``, ``residuals``).
        """
        m, dm = self.model, self.dm
        T_qp = m.interpolate(self.loading.temperature.nodal(t))
        bc_dofs, bc_vals = self.loading.dirichlet_values(t)
        rows = dirichlet_rows(dm, bc_dofs)
        u = u_old.copy()
        u[bc_dofs] = bc_vals
        F_ext_local = self.loading.external_forces(t)
        residuals, residuals_abs = [], []
        for it in range(self.max_iterations + 1):
            t0 = time.perf_counter()
            eps = m.strain(u)
            sigma, C, state, ok = m.law.update(eps, state_old, T_qp, dt)
            t1 = time.perf_counter()
            if not np.all(ok):
                raise RomError(f"constitutive integration failed at {np.sum(~ok)} points at "
                               f"t = {t:g}")
            F_int = m.internal_forces(sigma)
            dm.local_to_vector(F_int - F_ext_local, self.R, add=True)
            ref = max(dm.local_to_vector(F_int, add=True).norm(),
                      dm.local_to_vector(F_ext_local, add=True).norm())
            rnorm = self._norm_free(self.R, rows)
            ref = max(ref, residuals_abs[0] if residuals_abs else rnorm)
            residuals_abs.append(rnorm)
            t2 = time.perf_counter()
            self.timings["law"] += t1 - t0
            self.timings["assembly"] += t2 - t1
            if not np.isfinite(rnorm):
                raise RomError(f"Newton: residual is not finite at t = {t:g}, iteration {it}")
            rel = rnorm / ref if ref > 0 else 0.0
            residuals.append(rel)
            if self.log:
                self.log(f"    iteration {it}: |R|/|F| = {rel:.3e}")
            if rel <= self.rtol or (it > 0 and rnorm == 0.0):
                return u, sigma, C, state, {"iterations": it, "residuals": residuals}
            if it == self.max_iterations:
                break
            t0 = time.perf_counter()
            self.model.assembler.assemble(self.A, m.tangent_values(C))
            self.A.zeroRowsColumns(rows, diag=1.0)
            t1 = time.perf_counter()
            self.R.scale(-1.0)
            self.linear.set_operator(self.A)
            self.du.set(0.0)
            self.linear.solve(self.R, self.du)
            t2 = time.perf_counter()
            self.timings["assembly"] += t1 - t0
            self.timings["solve"] += t2 - t1
            u += dm.vector_to_local(self.du)
        raise RomError(f"Newton did not converge at t = {t:g}: relative residuals "
                       + ", ".join(f"{r:.2e}" for r in residuals))


def solve_case(case, comm, out_dir=None, petsc_options=None, log=print, write=True):
    """Collective. Run every step of ``case``; write results; return a summary dict.

    Output: ``<out_dir>/solution.h5`` and ``solution.xdmf`` with the nodal
    displacement ``U`` and temperature ``T``, and cell averages of the strain
    ``eps``, stress ``sigma`` and von Mises stress ``von_mises``.
    """
    from rom.io.results import ResultsWriter
    from rom.loads import Loading
    from rom.materials import make_law
    from rom.mesh import load_mesh

    say = log if comm.rank == 0 and log else (lambda *a, **k: None)
    timings = {}
    t0 = time.perf_counter()
    mesh = load_mesh(case.mesh_file, comm, case.sets, case.partitioner)
    timings["mesh"] = time.perf_counter() - t0
    say(mesh.summary())
    law = make_law(case.law, case.material_params())
    t0 = time.perf_counter()
    model = StructuralModel(mesh, law)
    loading = Loading(case, model)
    mesh.release_global()
    timings["setup"] = time.perf_counter() - t0
    options = case.solver.petsc_options()
    options.update(petsc_options or {})
    newton = NewtonSolver(model, loading, case.solver.rtol, case.solver.max_iterations,
                          options, log=say)
    out_dir = out_dir or case.output_dir
    writer = (ResultsWriter(out_dir, "solution", mesh, {"case_text": case.text,
                                                        "case_name": case.name})
              if write else None)
    u = np.zeros(model.dofmap.n_local)
    state = law.initial_state(model.n_qp)
    t_prev = 0.0
    history = []
    for n, t in enumerate(case.times):
        say(f"step {n + 1}/{len(case.times)}: t = {t:g}")
        u, sigma, C, state, info = newton.step(u, state, t, t - t_prev)
        history.append(info)
        if writer is not None:
            eps = model.strain(u)
            writer.write_step(
                t,
                nodal={"U": model.dofmap.owned_nodal(u),
                       "T": loading.temperature.nodal(t)[: mesh.n_owned]},
                cell={"eps": model.cell_average(eps), "sigma": model.cell_average(sigma),
                      "von_mises": model.cell_average(von_mises(sigma))})
        t_prev = t
    if writer is not None:
        writer.close()
    umax = comm.allreduce(float(np.abs(u).max(initial=0.0)), op=_max_op())
    vm = comm.allreduce(float(von_mises(sigma).max(initial=0.0)), op=_max_op())
    timings.update(newton.timings)
    return {"mesh": mesh, "model": model, "u": u, "sigma": sigma, "timings": timings,
            "history": history, "max_abs_u": umax, "max_von_mises": vm,
            "out_dir": out_dir, "ksp_iterations": newton.linear.iterations,
            "files": (writer.h5_path, writer.xdmf_path) if writer else None}


def _max_op():
    from mpi4py import MPI

    return MPI.MAX
