"""High-fidelity solver: the discretized structure and its incremental Newton solve.

At each time step ``t_n`` find ``u_n`` with ``R(u) = F_int(u) - F_ext(t_n) = 0``,
``F_int = sum_e sum_q w_q B_q^T sigma_q`` (plus ``K_s u`` of the elastic supports,
:class:`rom.loads.Loading`), by Newton-Raphson with the consistent tangent
``K = sum w_q B_q^T C_q B_q (+ K_s)``; converged when
``||R||_free <= rtol * max(||F_ext||, ||F_int||, ||R_0||)`` (``F_int`` including
the reactions, ``R_0`` the step's first residual: the scale when loads and
internal forces both vanish, as in a free thermal expansion). Dirichlet values are
imposed on ``u`` before the first iteration; the Newton corrections vanish on
constrained dofs (rows and columns eliminated symmetrically). A linear law
converges in one iteration with a direct solver, in one or two with a Krylov solver
(:meth:`NewtonSolver._forcing`).

After each step, the reaction force on each Dirichlet set is ``F_int (+ K_s u) -
F_ext`` summed over the set's constrained dofs (:class:`ReactionForces`): the force
the supports exert on the structure, logged, written with the step and reported.
"""

import os
import time

import numpy as np

from rom import RomError, mpi_op
from rom.assembly import DofMap, LinearSolver, MatrixAssembler, dirichlet_rows
from rom.fem import CellBasis, cell_average, default_rule, von_mises
from rom.petsc import PETSc
from rom.stepping import StepFailure, advance_with_cuts, newton_converged

__all__ = ["StructuralModel", "NewtonSolver", "StepFailure", "advance_with_cuts", "run_hf",
           "ReactionForces"]


class StructuralModel:
    """The structure discretized on one rank (its local cells).

    Quadrature-point arrays are ``(n_qp_local, ...)``, cell after cell: the points of
    local cell ``c`` are ``qp_start[c] .. qp_start[c + 1] - 1`` (each cell type has its
    element's full Gauss rule); their global ids are ``qp_ids``
    (:meth:`rom.mesh.Mesh.global_qp_ids`).

    Parameters
    ----------
    mesh : rom.mesh.Mesh
    law : a constitutive law (``update(eps, state, T, dt)``)
    chunk : int
        Cells per kernel batch (bounds the memory of the B operators); a batch holds
        cells of one type.
    """

    def __init__(self, mesh, law, chunk=2048):
        self.mesh = mesh
        self.law = law
        self.comm = mesh.comm
        self.dofmap = DofMap(mesh)
        self.assembler = MatrixAssembler(self.dofmap)
        self.chunk_blocks = mesh.chunks(chunk)
        self.chunks = [s for _, s in self.chunk_blocks]
        # compact bases: inverse Jacobians and weights, the gradients computed per use
        self.bases = [CellBasis(b.element, mesh.cell_coordinates(s), compact=True)
                      for b, s in self.chunk_blocks]
        per_cell = mesh.qp_per_cell()
        self.qp_start = np.concatenate([[0], np.cumsum(per_cell)])
        self.n_qp = int(self.qp_start[-1])
        self.qp_per_type = {b.type: int(default_rule(b.element).n_points) for b in mesh.blocks}
        self.qp_ids = mesh.global_qp_ids(self.qp_per_type)
        self.qp_cells = np.repeat(np.arange(mesh.n_cells), per_cell)  # local cell of each

    def _qp(self, s):
        return slice(int(self.qp_start[s.start]), int(self.qp_start[s.stop]))

    def _u_e(self, u_local, s):
        return u_local.reshape(-1, 3)[self.mesh.conn(s)]

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
            out[self._qp(s)] = b.interpolate(nodal[self.mesh.conn(s)]).ravel()
        return out

    def internal_forces(self, sigma):
        """Local array ``(n_local_dofs,)`` of ``sum w B^T sigma`` over local cells."""
        out = np.zeros(self.dofmap.n_local)
        for s, b in zip(self.chunks, self.bases):
            self.dofmap.scatter_local(
                b.internal_forces(sigma[self._qp(s)].reshape(-1, b.n_qp, 6)), s, out)
        return out

    def element_forces_norm2(self, sigma):
        """Sum over the local cells of ``|sum w B^T sigma|^2`` per cell: the squared
        norm of the internal forces before assembly (where the forces of neighbouring
        cells do not cancel), not yet summed over ranks."""
        return float(sum(
            np.sum(b.internal_forces(sigma[self._qp(s)].reshape(-1, b.n_qp, 6)) ** 2)
            for s, b in zip(self.chunks, self.bases)))

    def tangent_matrices(self, C):
        """Element matrices of ``sum w B^T C B`` for tangents ``C (n_qp, 6, 6)``, by
        chunks of cells: an iterator of ``(cells, Ke)`` for
        :meth:`rom.assembly.MatrixAssembler.assemble`."""
        for s, b in zip(self.chunks, self.bases):
            yield s, b.tangent(C[self._qp(s)].reshape(-1, b.n_qp, 6, 6))

    def mass_matrices(self):
        """Element matrices of the (unit density) mass matrix, by chunks of cells (as
        :meth:`tangent_matrices`)."""
        for s, b in zip(self.chunks, self.bases):
            yield s, b.mass()

    def _points(self, s, b):
        """Physical quadrature points ``(n, n_qp_e, 3)`` of the cells of chunk ``s``."""
        return np.einsum("qa,cak->cqk", b.N, self.mesh.cell_coordinates(s))

    def body_force_vector(self, body):
        """Local array of ``sum w N b(x)`` for a body force ``b(x (..., 3)) -> (..., 3)``."""
        out = np.zeros(self.dofmap.n_local)
        for s, b in zip(self.chunks, self.bases):
            self.dofmap.scatter_local(b.body_forces(body(self._points(s, b))), s, out)
        return out

    def quadrature_weights(self):
        """``(n_qp,)`` weights times Jacobians of the local quadrature points."""
        return np.concatenate([b.dx.ravel() for b in self.bases])

    def quadrature_points(self):
        """``(n_qp, 3)`` physical local quadrature points."""
        return np.concatenate([self._points(s, b).reshape(-1, 3)
                               for s, b in zip(self.chunks, self.bases)])

    def nodal_values(self, qp_values):
        """Collective. Nodal values ``(n_local_nodes, k)`` of quadrature values ``(n_qp[,
        k])``: in each cell extrapolated to its nodes
        (:func:`rom.fem.kernels.extrapolation_matrix`), then averaged over the cells
        that share the node, on every rank (the smooth nodal stresses that CalculiX and
        Abaqus users read; the cell averages are kept besides)."""
        from rom.fem import extrapolation_matrix, nodal_sums

        mesh = self.mesh
        v = np.asarray(qp_values, dtype=float).reshape(self.n_qp, -1)
        k = v.shape[1]
        if getattr(self, "_maps", None) is None:  # once: the matrices, cells per node
            self._extrapolation = {b.type: extrapolation_matrix(b.element)
                                   for b in mesh.blocks}
            self._maps = {1: DofMap(mesh, bs=1)}
            counts = np.bincount(mesh.cell_node_pairs()[1], minlength=mesh.n_local_nodes)
            dm1 = self._maps[1]
            self._cells_per_node = np.maximum(
                dm1.vector_to_local(dm1.local_to_vector(counts.astype(float), add=True)), 1)
        if k not in self._maps:
            self._maps[k] = DofMap(mesh, bs=k)
        sums = np.zeros((mesh.n_local_nodes, k))
        for (blk, s) in self.chunk_blocks:
            sums += nodal_sums(mesh.conn(s), mesh.n_local_nodes, self._extrapolation[blk.type],
                               v[self._qp(s)])[0]
        dmk = self._maps[k]
        sums = dmk.vector_to_local(dmk.local_to_vector(sums.ravel(), add=True))
        return sums.reshape(-1, k) / self._cells_per_node[:, None]

    def cell_average(self, qp_values):
        """Cell averages ``(n_cells, ...)`` of quadrature values ``(n_qp, ...)``."""
        return cell_average(self.quadrature_weights(), qp_values, self.qp_start)


def _inexact(linear_options, user_options):
    """Whether the linear solves follow the Newton forcing terms: not a direct solver,
    no ``ksp_rtol`` given by the user."""
    return linear_options.get("ksp_type") != "preonly" and not any(
        k.lstrip("-") == "ksp_rtol" for k in user_options)


def _history(residuals):
    """The relative residuals of a Newton loop, for messages."""
    return ", ".join(f"{r:.2e}" for r in residuals)


def free_residual(model, loading, u, sigma, F_ext_local, rows, R, work):
    """Collective. The equilibrium residual ``F_int(sigma) (+ supports' K_s u) -
    F_ext`` assembled into ``R`` with the Dirichlet ``rows`` zeroed; returns its norm
    and that of ``F_int`` (assembled in ``work``)."""
    dm = model.dofmap
    F_int = model.internal_forces(sigma)
    if loading.supports:
        F_int += loading.support_forces(u)
    dm.local_to_vector(F_int - F_ext_local, R, add=True)
    R.setValues(rows, np.zeros(len(rows)), addv=PETSc.InsertMode.INSERT_VALUES)
    R.assemble()
    return R.norm(), dm.local_to_vector(F_int, work, add=True).norm()


class ReactionForces:
    """Collective construction. The reaction forces on the Dirichlet sets of a loading.

    For each set named by the case's ``[[dirichlet]]`` entries (in their order; the
    entries naming the same set together), the reaction is the vector ``(3,)`` of the
    sums, per component, of the assembled ``F_int(sigma) (+ K_s u of the elastic
    supports) - F_ext(t)`` over the set's constrained dofs (each dof once): the force
    the supports exert on the structure. At equilibrium the free dofs' residual
    vanishes, so the reactions of all sets balance the applied loads (to the Newton
    tolerance); a component the set does not constrain is 0. A dof constrained by
    two sets counts in both. Sums over the owned dofs, then over the ranks: rank-count
    independent to round-off.

    Attributes
    ----------
    names : tuple of str, the sets
    dofs : list of (k,) owned local dofs of each set
    """

    def __init__(self, model, loading):
        dm = model.dofmap
        self.model, self.loading = model, loading
        groups = {}
        for dofs, _, spec, _ in loading.dirichlet:
            groups.setdefault(spec.set, []).append(dofs[dofs < dm.n_owned])
        self.names = tuple(groups)
        self.dofs = [np.unique(np.concatenate(g)) for g in groups.values()]
        self.vec = dm.create_vector()

    def __call__(self, u, sigma, t_load):
        """Collective. Reactions ``(n_sets, 3)`` (every rank) for local displacements
        ``u (n_local_dofs,)``, stresses ``sigma (n_qp, 6)`` and the loads at the load
        time ``t_load``."""
        m, loading = self.model, self.loading
        F = m.internal_forces(sigma)
        if loading.supports:
            F += loading.support_forces(u)
        F -= loading.external_forces(t_load)
        owned = m.dofmap.local_to_vector(F, self.vec, add=True).array_r
        out = np.zeros((len(self.names), 3))
        for i, d in enumerate(self.dofs):
            out[i] = np.bincount(d % 3, weights=owned[d], minlength=3)
        return m.comm.allreduce(out)

    def format(self, values):
        """One line: each set and its reaction ``[Fx Fy Fz]``."""
        return "  ".join(f"{n} [{' '.join(f'{v:.4e}' for v in r)}]"
                         for n, r in zip(self.names, values))


class _Diverging(Exception):
    """Raised inside :meth:`NewtonSolver._newton` to restart the step with accurate
    linear solves."""


class NewtonSolver:
    """Newton-Raphson on one time step, PETSc matrices and KSP.

    Parameters
    ----------
    model : StructuralModel
    loading : rom.loads.Loading
    rtol, max_iterations : convergence settings
    petsc_options : dict (see :class:`rom.assembly.LinearSolver`); a law whose
        tangent is not symmetric gets GMRES instead of CG, LU instead of Cholesky.
    load_time : callable ``t -> time of the load tables`` (cyclic loads)
    log : callable or None
        Progress output (rank 0 only).

    The linear systems of an iterative solver are solved inexactly (unless the user
    gives ``ksp_rtol``: then to that tolerance), to the relative tolerance of
    Eisenstat and Walker's second choice: ``eta_k = (|R_k| /
    |R_k-1|)^1.618``, kept above ``eta_k-1^1.618`` when that exceeds 0.1, at most
    ``EW_MAX`` = 1e-3 (also ``eta_0``), not below what the Newton tolerance needs
    (``0.1 rtol |R_ref| / |R_k|``, when that is below ``EW_MAX``) and never below the
    default ``ksp_rtol``. PETSc's SNES defaults (``eta_0`` 0.3, at most 0.9) made
    the viscoplastic Newton of ``bench/chaboche_step.py`` diverge; with 1e-3 it takes
    the same 5 iterations as with exact solves and half the Krylov iterations. The
    tolerance is that of the Krylov solver's own test (PETSc's default norm: the
    preconditioned residual for GMRES and CG), not of the true linearized residual,
    which may be larger. The Newton test is on the true residual, so the result meets
    ``rtol`` whatever the forcing. A linear law (no internal state: the elastic one)
    gets one solve to ``0.1 rtol |R_ref| / |R_0|`` instead: it converges in one Newton
    iteration, or in two when the Krylov solver's norm under-reads the true residual
    (the blade's elastic step: a true residual of 2e-8 after a solve to 1e-9, and 135
    Krylov iterations in all instead of 195 with the forcing terms).

    The forcing terms' loose solves can also lead Newton astray on a strongly
    nonlinear step: on the hot blade's take-off step (300 s of creep from rest, GMRES +
    GAMG on 2 ranks) the relative residual fell to 1e-4, then rose by 1.3x per
    iteration until the Krylov solver gave up, in about one run in three (2-rank runs
    differ in round-off from their first solve on; serial runs repeat exactly), and
    the step was cut: 100 s instead of 3 s. Accurate solves from the start
    (``ksp_rtol`` 1e-9) follow the direct solver's iterates and converged in every
    run; damping the steps (a backtracking line search on the residual, monotone or
    not) did not help: it stalled on the blade and made the viscoplastic Newton of
    ``tests/test_hf.py`` crawl. So when the relative residual rises in
    ``DIVERGE_RISES`` = 2 iterations in a row, the step is restarted from its start
    with every solve to ``EW_ACCURATE`` = 1e-8 (or to what the Newton tolerance needs,
    if that is looser; logged; ``restarted`` in the step's info), before any cut
    (BENCHMARKS, "The HF linear solver on the blade").

    The preconditioner of an iterative solver is kept from one Newton iteration to
    the next and from one step to the next, as long as the solves stay cheap
    (:class:`rom.assembly.LinearSolver`) and, after a step's first iteration, the
    set of points where the law flows has not changed at more than ``FLOW_CHANGE`` of
    the points since it was built (:meth:`_flowing`); a step that fails forgets it. A resumed
    run therefore starts with a new preconditioner where the uninterrupted run kept
    an older one: its results equal the uninterrupted run's to the Newton
    tolerance, not to the last digit.
    """

    EW_ETA0, EW_ALPHA, EW_MAX, EW_THRESHOLD = 1e-3, (1 + 5 ** 0.5) / 2, 1e-3, 0.1
    EW_ACCURATE, DIVERGE_RISES = 1e-8, 2  # a restarted step's solves (class docstring)
    FLOW_CHANGE = 0.1  # fraction of the points (see _flowing)

    def __init__(self, model, loading, rtol=1e-8, max_iterations=25, petsc_options=None,
                 load_time=None, log=None):
        self.model = model
        self.loading = loading
        self.rtol = rtol
        self.max_iterations = max_iterations
        self.load_time = load_time or (lambda t: t)
        self.dm = model.dofmap
        self.A = model.assembler.create_matrix()
        options = dict(petsc_options or {})
        self.user_options = sorted(set(options) - {"linear_solver"})
        if not getattr(model.law, "symmetric_tangent", True):
            kind = options.get("linear_solver", "gamg")
            options.setdefault("ksp_type", "gmres" if kind == "gamg" else "preonly")
            if kind == "mumps":
                options.setdefault("pc_type", "lu")
        self.linear = LinearSolver(self.dm, options)
        # and the user's: PETSc's options database (PETSC_OPTIONS, --petsc: rom.petsc)
        self.user_options = sorted({*self.user_options, *self.linear.command_line})
        self.R = self.dm.create_vector()
        self.du = self.dm.create_vector()
        self.work = self.dm.create_vector()  # for norms of assembled force vectors
        # solve: the linear solves with the preconditioner's set-ups, which pc_setup
        # also counts apart
        self.timings = {"law": 0.0, "assembly": 0.0, "solve": 0.0, "pc_setup": 0.0}
        self.log = log if model.comm.rank == 0 else None
        self._n_qp_global = model.comm.allreduce(model.n_qp)
        self._flowing_at_build = None  # see _flowing

    def check_options(self):
        """Collective. With PETSc options given by the user, check them on the elastic
        tangent at ``T_ref`` (:meth:`rom.assembly.LinearSolver.check_options`: one
        assembly and one preconditioner set-up); nothing to do without."""
        if not self.user_options:
            return
        m = self.model
        T = np.full(m.n_qp, getattr(m.law, "T_ref", 20.0))
        self.model.assembler.assemble(self.A, m.tangent_matrices(m.law.stiffness(T)),
                                      self.loading.support_matrices())
        bc_dofs, _ = self.loading.dirichlet_values(0.0)
        self.A.zeroRowsColumns(dirichlet_rows(self.dm, bc_dofs), diag=1.0)
        self.linear.check_options(self.A)

    def _forcing(self, residuals_abs, eta_old, ref, accurate=False):
        """The relative tolerance of this Newton iteration's linear solve (class
        docstring; ``accurate``: ``EW_ACCURATE`` instead of the Eisenstat-Walker term);
        None for a direct solver."""
        if not _inexact(self.linear.options, self.user_options):
            return None  # a direct solver, or the user's ksp_rtol for every solve
        if not self.model.law.state_shapes and residuals_abs[-1] > 0:
            # a linear law: one solve to what the Newton tolerance needs
            return 0.1 * self.rtol * ref / residuals_abs[-1]
        if accurate:
            eta = self.EW_ACCURATE
        elif eta_old is None or len(residuals_abs) < 2 or residuals_abs[-2] <= 0:
            eta = self.EW_ETA0
        else:
            eta = (residuals_abs[-1] / residuals_abs[-2]) ** self.EW_ALPHA
            prev = eta_old ** self.EW_ALPHA
            if prev > self.EW_THRESHOLD:
                eta = max(eta, prev)
        if residuals_abs[-1] > 0:
            eta = max(eta, 0.1 * self.rtol * ref / residuals_abs[-1])
        return min(eta, self.EW_MAX)


    def step(self, u_old, state_old, t, dt, guess=None):
        """Collective. Solve the step ending at ``t`` (length ``dt``), from ``u_old`` or,
        given, from ``guess`` (local ``(n_local_dofs,)``, the first Newton iterate: the
        law integrates from ``state_old`` whatever the iterate). From a guess, the first
        rise of the residual norm ends the attempt with a :class:`StepFailure` (no
        restart with accurate solves): the caller then starts from ``u_old``
        (:func:`rom.stepping.advance_with_cuts`).

        Returns ``(u, sigma, C_tan, state_new, info)`` with ``u`` local
        ``(n_local_dofs,)``, quadrature fields ``(n_qp, ...)`` (``C_tan``: a function
        giving the law's tangent at the solution, computed only if called) and ``info`` a dict
        (``iterations``, ``residuals``). Raises :class:`StepFailure` on every rank
        when Newton does not converge, the residual is not finite, the local
        integration fails at any point of any rank, or the linear solver fails.
        """
        try:
            if guess is not None:
                return self._step(guess, state_old, t, dt, guessed=True)
            return self._step(u_old, state_old, t, dt)
        except StepFailure:
            self.linear.restart()  # the retry with a shorter step builds its own
            raise

    def _step(self, u_start, state_old, t, dt, guessed=False):
        """From a guess, Newton gives up at the first rise of the residual (a
        :class:`StepFailure`, which the caller answers by starting from the previous
        state: :func:`rom.stepping.advance_with_cuts`), rather than restarting with
        accurate solves: a guess far from the solution would cost a whole failing step."""
        try:
            return self._newton(u_start, state_old, t, dt, accurate=False, guessed=guessed)
        except _Diverging as exc:  # (from a guess, the first rise has raised already)
            if self.log:
                self.log(f"    {exc}: step restarted with accurate linear solves")
            return self._newton(u_start, state_old, t, dt, accurate=True)

    def _newton(self, u_start, state_old, t, dt, accurate, guessed=False):
        m, dm = self.model, self.dm
        tl = self.load_time(t)
        T_qp = m.interpolate(self.loading.temperature.nodal(tl))
        bc_dofs, bc_vals = self.loading.dirichlet_values(tl)
        rows = dirichlet_rows(dm, bc_dofs)
        u = np.array(u_start, dtype=float)  # (a copy) the first iterate
        u[bc_dofs] = bc_vals
        F_ext_local = self.loading.external_forces(tl)
        F_ext_norm = dm.local_to_vector(F_ext_local, self.work, add=True).norm()
        residuals, residuals_abs = [], []
        eta = None
        for it in range(self.max_iterations + 1):
            t0 = time.perf_counter()
            eps = m.strain(u)
            sigma = C = state = None  # the last iteration's fields, freed before the new
            # the tangent only if this iterate is not the converged one
            sigma, C, state, ok = m.law.update(eps, state_old, T_qp, dt, tangent=False)
            del eps
            t1 = time.perf_counter()
            n_bad = m.comm.allreduce(int(np.sum(~ok)))
            if n_bad:
                raise StepFailure(f"local integration failed at {n_bad} quadrature points "
                                  f"at t = {t:g} (iteration {it})")
            rnorm, F_int_norm = free_residual(m, self.loading, u, sigma, F_ext_local, rows,
                                              self.R, self.work)
            ref = max(F_int_norm, F_ext_norm, residuals_abs[0] if residuals_abs else rnorm)
            residuals_abs.append(rnorm)
            t2 = time.perf_counter()
            self.timings["law"] += t1 - t0
            self.timings["assembly"] += t2 - t1
            if newton_converged(rnorm, ref, residuals, self.rtol, it, t):
                return u, sigma, C, state, {"iterations": it, "residuals": residuals,
                                            "restarted": accurate}
            if it == self.max_iterations:
                break
            if guessed and len(residuals_abs) >= 2 and residuals_abs[-1] > residuals_abs[-2]:
                raise StepFailure(f"from the guess the residual rose at iteration {it} "
                                  f"(relative residuals {_history(residuals)})")
            if (not accurate and _inexact(self.linear.options, self.user_options)
                    and self.model.law.state_shapes
                    and len(residuals) > self.DIVERGE_RISES
                    and all(a < b for a, b in zip(residuals[-self.DIVERGE_RISES - 1:],
                                                  residuals[-self.DIVERGE_RISES:]))):
                raise _Diverging(f"the residual rose in {self.DIVERGE_RISES} iterations "
                                 f"in a row ({_history(residuals)})")
            t0 = time.perf_counter()
            C = C()  # (the law's time)
            t1 = time.perf_counter()
            self.timings["law"] += t1 - t0
            t0 = t1
            self.model.assembler.assemble(self.A, m.tangent_matrices(C),
                                          self.loading.support_matrices())
            self.A.zeroRowsColumns(rows, diag=1.0)
            t1 = time.perf_counter()
            self.R.scale(-1.0)
            flowing = self._flowing(state, state_old, it)
            builds, set_up = self.linear.rebuilds, self.linear.setup_seconds
            self.linear.set_operator(self.A)
            self.du.set(0.0)
            eta = self._forcing(residuals_abs, eta, ref, accurate)
            try:
                self.linear.solve(self.R, self.du, rtol=eta)
            except RomError as exc:
                raise StepFailure(f"{exc} (Newton iteration {it + 1}; relative residuals "
                                  f"{_history(residuals)})") from None
            if self.linear.rebuilds != builds:
                self._flowing_at_build = flowing
            t2 = time.perf_counter()
            self.timings["assembly"] += t1 - t0
            self.timings["solve"] += t2 - t1
            self.timings["pc_setup"] += self.linear.setup_seconds - set_up
            u += dm.vector_to_local(self.du)
            u[bc_dofs] = bc_vals  # exact, whatever the Krylov solver left in those rows
        raise StepFailure(f"Newton did not converge in {self.max_iterations} iterations at "
                          f"t = {t:g}: relative residuals {_history(residuals)}")

    def _flowing(self, state, state_old, it):
        """Collective. The points where the law flows in Newton iteration ``it``
        (``p`` increases), or None for a law without ``p`` or a direct solver; if,
        from the second iteration of a step on, they differ from those of the tangent
        the kept preconditioner was built from at more than ``FLOW_CHANGE`` of the
        points (plastic flow starting, or an elastic unloading), the preconditioner
        is rebuilt for this tangent at once, without first trying the kept one until
        the Krylov iterations grow. Not at a step's first iteration: its tangent is
        taken at the previous step's displacement, where a rate-independent law does
        not flow (an elastic predictor that does not announce the step's tangent)."""
        if "p" not in state or self.linear.options.get("ksp_type") == "preonly":
            return None
        flowing = state["p"] > state_old["p"]
        built = self._flowing_at_build
        if it > 0 and built is not None:  # same model: as many points as at the build
            changed = self.model.comm.allreduce(int(np.count_nonzero(flowing != built)))
            if changed > self.FLOW_CHANGE * self._n_qp_global:
                self.linear.restart()
        return flowing

    def advance(self, u, state, t_old, t_new, max_cuts=8, guess=None):
        """Collective. :func:`advance_with_cuts` with this solver's :meth:`step`
        (``guess``: an estimate of ``u`` at ``t_new``, Newton's first iterate)."""
        return advance_with_cuts(self.step, u, state, t_old, t_new, max_cuts, self.log,
                                 guess=guess)


def nodal_fields(model, sigma, state, n=None):
    """Collective. The nodal fields written beside the cell averages: ``sigma_nodal``
    (Mandel), ``von_mises_nodal`` (of the nodal stress) and ``p_nodal`` (cumulated
    plasticity, if the law has it), extrapolated and averaged
    (:meth:`StructuralModel.nodal_values`); the first ``n`` nodes of each."""
    s = model.nodal_values(sigma)
    out = {"sigma_nodal": s[:n], "von_mises_nodal": von_mises(s)[:n]}
    if "p" in state:
        out["p_nodal"] = np.maximum(model.nodal_values(state["p"])[:n, 0], 0.0)
    return out


def write_step(store, model, t, u, sigma, state, T_nodal, reactions=None):
    """Collective. Append the step at ``t`` to the snapshot ``store``: the owned nodal
    displacements and temperatures (``T_nodal`` local), the quadrature fields
    (``sigma``, ``eps`` of ``u``, the law's state), their cell averages (and von
    Mises, ``p``), the nodal fields of :func:`nodal_fields` and ``reactions``
    (``(names, values (n_sets, 3))`` of :class:`ReactionForces`, if given)."""
    n = model.mesh.n_owned
    if reactions is not None and len(reactions[0]):
        store.write_reactions(*reactions)
    eps = model.strain(u)
    qp = {"sigma": sigma, "eps": eps, **state}
    cells = {"eps": model.cell_average(eps), "sigma": model.cell_average(sigma),
             "von_mises": model.cell_average(von_mises(sigma))}
    if "p" in state:
        cells["p"] = model.cell_average(state["p"])
    store.write_step(t, model.dofmap.owned_nodal(u), T_nodal[:n], qp, cells,
                     nodal_fields(model, sigma, state, n))


def check_loading(case, loading, comm):
    """Collective. Evaluate every input of the loading at every step time (nodal
    temperatures, Dirichlet values, load factors): a value that is not finite, a file
    that cannot be read or has the wrong size raises :class:`rom.RomError` on every
    rank, naming it, before the run writes anything."""
    from rom import agree

    def check():
        for t in case.times:
            tl = case.load_time(t)
            loading.temperature.nodal(tl)  # raises on NaN, bad file, bad size
            _, vals = loading.dirichlet_values(tl)
            if not np.all(np.isfinite(vals)):
                raise RomError(f"{os.path.basename(case.path)}: a Dirichlet value is not "
                               f"finite at t = {t:g}")
            for term, _ in loading.force_terms:
                if not np.isfinite(term.factor(tl)):
                    raise RomError(f"{os.path.basename(case.path)}: load {term.name} is not "
                                   f"finite at t = {t:g}")
            loading.check_pressures(tl)  # pressure fields of t on this rank's faces

    agree(comm, check)
    check_held(case, loading, comm)


RIGID_MODES = ("translation in x", "translation in y", "translation in z",
               "rotation about x", "rotation about y", "rotation about z")


def rigid_restraint(loading, comm):
    """Collective. ``(G (6, 6), scale)``: how the Dirichlet conditions and the elastic
    supports of ``loading`` restrain the six rigid-body motions of the mesh
    (translations, then rotations about the axes through the centroid of the nodes,
    scaled by the mesh's size so that both are of unit size at its extent):
    ``G = R_D^T R_D / n_D + R^T K_s R / |K_s|``, ``R_D`` the motions at the constrained
    dofs, ``K_s`` the supports' stiffness. A motion ``v`` is free when ``v^T G v = 0``.
    """
    mesh = loading.mesh
    pts = mesh.points[: mesh.n_owned]
    n = comm.allreduce(len(pts))
    c = comm.allreduce(pts.sum(axis=0)) / max(n, 1)
    lo = np.min(comm.allgather(pts.min(axis=0, initial=np.inf)), axis=0)
    hi = np.max(comm.allgather(pts.max(axis=0, initial=-np.inf)), axis=0)
    size = float(np.max(hi - lo)) or 1.0

    def motions(x):  # (n, 3, 6): the six unit motions at the points x
        r = (x - c) / size
        out = np.zeros((len(x), 3, 6))
        out[:, [0, 1, 2], [0, 1, 2]] = 1.0
        out[:, :, 3] = np.stack([0 * r[:, 0], -r[:, 2], r[:, 1]], axis=1)  # e_x x r
        out[:, :, 4] = np.stack([r[:, 2], 0 * r[:, 0], -r[:, 0]], axis=1)  # e_y x r
        out[:, :, 5] = np.stack([-r[:, 1], r[:, 0], 0 * r[:, 0]], axis=1)  # e_z x r
        return out

    n_owned_dofs = 3 * mesh.n_owned
    dofs = np.unique(np.concatenate([d[d < n_owned_dofs] for d, _, _, _ in loading.dirichlet]
                                    or [np.zeros(0, np.int64)]))
    R = motions(mesh.points[dofs // 3])[np.arange(len(dofs)), dofs % 3]  # (n_d, 6)
    G_d = comm.allreduce(R.T @ R)
    n_d = comm.allreduce(len(dofs))
    G = G_d / max(n_d, 1)
    G_s = np.zeros((6, 6))
    for sp, conn, Kn, Kt in loading.supports:
        if len(conn):
            Re = motions(mesh.points[conn.ravel()]).reshape(len(conn), -1, 6)  # (f, 3a, 6)
            K = sp.normal * Kn + sp.tangential * Kt
            G_s += np.einsum("fai,fab,fbj->ij", Re, K, Re)
    G_s = comm.allreduce(G_s)
    if np.trace(G_s) > 0:
        G = G + G_s / np.trace(G_s)
    return G, size


def check_held(case, loading, comm, tol=1e-8):
    """Collective. Raise :class:`rom.RomError` when the Dirichlet conditions and the
    elastic supports leave a rigid-body motion free (:func:`rigid_restraint`): the
    stiffness matrix is then singular, a Krylov solver diverges and a direct one
    returns a solution with an arbitrary rigid motion. The message names the free
    motions."""
    G, _ = rigid_restraint(loading, comm)
    lam, V = np.linalg.eigh(0.5 * (G + G.T))
    free = V[:, lam <= tol * max(lam.max(), 1.0)]
    if not free.shape[1]:
        return
    names = []
    for v in free.T:
        v = v / np.abs(v).max()
        parts = [RIGID_MODES[i] for i in np.flatnonzero(np.abs(v) > 0.1)]
        names.append(parts[0] if len(parts) == 1 else "a combination of " + " and ".join(parts))
    raise RomError(f"{os.path.basename(case.path)}: the structure is not held: the "
                   "Dirichlet conditions" + (" and elastic supports" if loading.supports
                                            else "")
                   + f" leave {free.shape[1]} rigid-body motion(s) free ("
                   + "; ".join(names) + "); the stiffness matrix is singular. Add "
                   "[[dirichlet]] components (or [[support]] faces) that stop them, e.g. "
                   "an isostatic set: a face held normally, an edge of it sideways, a "
                   "corner in the third direction")


def run_hf(case, comm, out_dir=None, resume=False, max_steps=None, petsc_options=None,
           log=print, write=True, overwrite=False):
    """Collective. Run ``case`` with the high-fidelity solver; return a summary dict.

    Writes ``<out_dir>/snapshots.h5`` (see :mod:`rom.snapshots`) and
    ``snapshots.xdmf`` step by step. ``resume`` continues an existing file from its
    last complete step; ``max_steps`` stops after that many steps of the case (as if
    the run had been killed there). An existing file is refused unless ``resume`` or
    ``overwrite``. Every input (sets, law parameters, temperature fields and
    expressions at every step time, PETSc options, the output folder) is checked
    before the file is touched. The summary's ``reactions`` are those of the last
    step (``{"time", "sets", "values" (n_sets, 3)}``, :class:`ReactionForces`; None
    when no step was run or resumed).
    """
    from rom import inject_fault
    from rom.loads import Loading
    from rom.materials import make_law
    from rom.mesh import load_mesh
    from rom.progress import Progress
    from rom.snapshots import SnapshotStore, prepare_output

    say = log if comm.rank == 0 and log else (lambda *a, **k: None)
    timings = {}
    t0 = time.perf_counter()
    mesh = load_mesh(case.mesh_file, comm, case.sets, case.partitioner)
    timings["mesh"] = time.perf_counter() - t0
    say(mesh.summary())
    if case.thermal is not None:  # the fields of this run's loading, if not computed yet
        from rom.thermal import compute_thermal_fields

        compute_thermal_fields(case, comm, [None], mesh=mesh, log=say)
    law = make_law(case.law, case.material_params())
    t0 = time.perf_counter()
    model = StructuralModel(mesh, law)
    loading = Loading(case, model)
    options = case.solver.petsc_options()
    options.update(petsc_options or {})
    newton = NewtonSolver(model, loading, case.solver.rtol, case.solver.max_iterations,
                          options, load_time=case.load_time, log=say)
    reactions = ReactionForces(model, loading)
    check_loading(case, loading, comm)
    newton.check_options()
    timings["setup"] = time.perf_counter() - t0
    if max_steps is not None and max_steps < 1:
        raise RomError(f"max_steps must be a positive integer, not {max_steps}")
    out_dir = out_dir or case.output_dir
    path = comm.bcast(os.path.join(out_dir, "snapshots.h5"), root=0)  # one file for all
    if write:
        prepare_output(path, comm, resume=resume, overwrite=overwrite)
    u = np.zeros(model.dofmap.n_local)
    state = law.initial_state(model.n_qp)
    first = 0
    store = None
    last_reactions = None  # (time, (n_sets, 3)) of the last step
    if write and resume:
        store, first, saved = SnapshotStore.open_resume(path, model, comm, case.text,
                                                        case.loading or "")
        if saved is not None:
            u = model.dofmap.vector_to_local(model.dofmap.local_to_vector(
                saved["u_owned"].ravel()))
            state = {k: saved["qp"][k] for k in state}
            t_saved = case.times[first - 1]
            last_reactions = (t_saved, reactions(u, saved["qp"]["sigma"],
                                                 case.load_time(t_saved)))
        say(f"resuming {path} after {first} complete step(s)")
    elif write:
        store = SnapshotStore.create(path, model, comm, case.text, case.name, case.law,
                                     loading=case.loading or "")
    mesh.release_global()
    history = []
    sigma = np.zeros((model.n_qp, 6))
    last = len(case.times) if max_steps is None else min(len(case.times), first + max_steps)
    t_run = time.perf_counter()
    t_first = case.times[first - 1] if first else 0.0
    # progress in simulated time (cut and short steps do not distort the estimate)
    progress = Progress(comm, (case.times[last - 1] - t_first) if last > first else 0,
                        f"HF {case.name}" + (f" ({case.loading})" if case.loading else ""),
                        unit="s simulated", log=log if comm.rank == 0 and log else None)
    newton.log = progress.log if comm.rank == 0 and log else None
    for n in range(first, last):
        t_prev = case.times[n - 1] if n else 0.0
        t = case.times[n]
        ts = time.perf_counter()
        u, sigma, C, state, info = newton.advance(u, state, t_prev, t, case.max_cuts)
        history.append(info)
        progress.log(f"step {n + 1}/{len(case.times)}  t = {t:<10.5g} Newton "
                     f"{info['iterations']}  |R|/|F| = "
                     f"{' '.join(f'{r:.1e}' for r in info['residuals'])}  "
                     f"({time.perf_counter() - ts:.2f} s)")
        last_reactions = (t, reactions(u, sigma, case.load_time(t)))
        if reactions.names:
            progress.log(f"    reactions {reactions.format(last_reactions[1])}")
        inject_fault(f"step{n + 1}", comm)
        if store is not None:
            write_step(store, model, t, u, sigma, state,
                       loading.temperature.nodal(case.load_time(t)),
                       reactions=(reactions.names, last_reactions[1]))
        progress.update(t - t_first)
    progress.close()
    newton.log = say if comm.rank == 0 else None
    timings["steps"] = time.perf_counter() - t_run
    if store is not None:
        store.record_time(timings["steps"], last - first)
        store.close()
    timings.update(newton.timings)
    umax = comm.allreduce(float(np.abs(u).max(initial=0.0)), op=mpi_op("MAX"))
    vm = comm.allreduce(float(von_mises(sigma).max(initial=0.0)), op=mpi_op("MAX"))
    return {"mesh": mesh, "model": model, "u": u, "sigma": sigma, "state": state,
            "timings": timings, "history": history, "max_abs_u": umax, "max_von_mises": vm,
            "out_dir": out_dir, "ksp_iterations": newton.linear.iterations,
            "reactions": None if last_reactions is None else {
                "time": last_reactions[0], "sets": reactions.names,
                "values": last_reactions[1]},
            "steps_done": last, "files": (path, store.xdmf_path) if store else None}

