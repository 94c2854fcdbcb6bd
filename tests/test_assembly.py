"""One-shot assembly against a plain scipy COO sum of the same element matrices."""

import numpy as np
import pytest
import scipy.sparse as sp

from helpers import elastic_matrix
from rom.assembly import DofMap, MatrixAssembler
from rom.fem import CellBasis
from rom.materials import isotropic_stiffness
from rom.mesh import load_mesh
from rom.meshgen import box_mesh


@pytest.mark.mpi
@pytest.mark.parametrize("name", ["tetra10", "hexahedron"])
def test_matrix_equals_coo_sum(name, comm):
    data = box_mesh((3, 2, 2), (1, 1, 1), name, distort=0.2)
    mesh = load_mesh(data, comm)
    dm = DofMap(mesh)
    asm = MatrixAssembler(dm)
    basis = CellBasis(mesh.element, mesh.cell_coordinates())
    C = isotropic_stiffness(np.full(basis.dx.shape, 1e3), np.full(basis.dx.shape, 0.3))
    Ke = basis.tangent(C)
    Ke = Ke * (1 + np.arange(len(Ke)))[:, None, None]  # cell-dependent, to catch mix-ups
    A = asm.assemble(asm.create_matrix(), Ke)
    # reference: every rank's element matrices in PETSc numbering, summed by scipy
    rows = dm.local_to_petsc[dm.cell_dofs]
    coo = comm.allgather((np.repeat(rows, rows.shape[1], axis=1).ravel(),
                          np.tile(rows, (1, rows.shape[1])).ravel(), Ke.ravel()))
    r, c, v = (np.concatenate(x) for x in zip(*coo))
    ref = sp.csr_matrix((v, (r, c)), shape=(dm.n_global,) * 2).toarray()
    lo, hi = A.getOwnershipRange()
    ip, ind, val = A.getValuesCSR()
    mine = sp.csr_matrix((val, ind, ip), shape=(hi - lo, dm.n_global)).toarray()
    np.testing.assert_allclose(mine, ref[lo:hi], atol=1e-12 * np.abs(ref).max())
    # the preallocated pattern is exactly the element connectivity (no extra allocation)
    assert A.getInfo()["mallocs"] == 0


@pytest.mark.mpi
def test_linear_solver_keeps_its_preconditioner_until_the_iterations_grow(comm):
    """The preconditioner built for a first operator serves the next ones while their
    solves need at most REBUILD_GROWTH x the iterations of its first solve; a solve
    that needs more is stopped there, the preconditioner rebuilt from the current
    operator and the solve redone (to the tolerance: checked by the true residual);
    restart() forgets the preconditioner."""
    from rom.assembly import LinearSolver

    data = box_mesh((6, 3, 3), (2, 1, 1), "tetra10")
    mesh = load_mesh(data, comm)
    dm = DofMap(mesh)
    asm = MatrixAssembler(dm)
    stiff = elastic_matrix(mesh, dm, asm, lambda x: np.full_like(x, 1e3))
    # a softened half: the elastic preconditioner serves it badly
    soft = elastic_matrix(mesh, dm, asm, lambda x: np.where(x > 1.0, 20.0, 1e3))
    # right preconditioning: ksp_rtol bounds the true residual
    solver = LinearSolver(dm, {"ksp_type": "gmres", "ksp_pc_side": "right",
                               "ksp_rtol": 1e-10})
    b = dm.create_vector()
    b.setRandom()
    r = b.duplicate()

    def solve(A):
        solver.set_operator(A)
        x = dm.create_vector()
        solver.solve(b, x)
        A.mult(x, r)
        r.aypx(-1.0, b)
        return r.norm() / b.norm()

    assert solve(stiff) <= 1e-9 and solver.rebuilds == 1
    first = solver.iterations[0]
    assert solve(stiff) <= 1e-9 and solver.rebuilds == 1  # kept: same operator
    assert solver.iterations[1] <= first
    assert solve(soft) <= 1e-9 and solver.rebuilds == 2  # kept, too slow, rebuilt
    capped = int(LinearSolver.REBUILD_GROWTH * first) + 1
    assert solver.iterations[2] > capped  # the stopped attempt counts in the solve's
    solver.restart()
    assert solve(soft) <= 1e-9 and solver.rebuilds == 3
    assert solver.iterations[3] == solver.iterations[2] - capped  # as the rebuilt one


def test_newton_forcing_terms():
    """Eisenstat-Walker's second choice, at most EW_MAX, floored by the Newton
    tolerance; none for a direct solver (closed-form values)."""
    from types import SimpleNamespace

    from rom.hf import NewtonSolver

    gm = SimpleNamespace(linear=SimpleNamespace(options={"ksp_type": "gmres"}), rtol=1e-8,
                         user_options=[], model=SimpleNamespace(law=SimpleNamespace(
                             state_shapes={"p": ()})),
                         EW_ETA0=NewtonSolver.EW_ETA0, EW_ALPHA=NewtonSolver.EW_ALPHA,
                         EW_MAX=NewtonSolver.EW_MAX, EW_THRESHOLD=NewtonSolver.EW_THRESHOLD,
                         EW_ACCURATE=NewtonSolver.EW_ACCURATE)
    forcing = NewtonSolver._forcing
    assert forcing(gm, [1.0], None, 1.0) == NewtonSolver.EW_ETA0
    a = NewtonSolver.EW_ALPHA
    assert forcing(gm, [1.0, 1e-2], 1e-3, 1.0) == pytest.approx(1e-2 ** a)
    # the previous term counts when eta_old^alpha exceeds the threshold
    big = SimpleNamespace(**{**vars(gm), "EW_MAX": 0.9})
    assert forcing(big, [1.0, 1e-2], 0.5, 1.0) == pytest.approx(0.5 ** a)
    # near convergence no tighter than the Newton tolerance needs, within EW_MAX
    assert forcing(big, [1e-5, 1e-7], 1e-3, 1.0) == pytest.approx(0.1 * 1e-8 / 1e-7)
    assert forcing(gm, [1e-5, 1e-7], 1e-3, 1.0) == NewtonSolver.EW_MAX
    # a step restarted with accurate solves (NewtonSolver._step)
    # (a risen residual), floored as the others by the Newton tolerance's need
    assert forcing(gm, [1.0, 2.0], 1e-3, 1.0, accurate=True) == NewtonSolver.EW_ACCURATE
    assert forcing(gm, [1.0, 1e-2], 1e-3, 1.0, accurate=True) == pytest.approx(
        0.1 * 1e-8 / 1e-2)
    mumps = SimpleNamespace(**{**vars(gm), "linear": SimpleNamespace(
        options={"ksp_type": "preonly"})})
    assert forcing(mumps, [1.0], None, 1.0) is None
    # a ksp_rtol given by the user is the tolerance of every solve
    given = SimpleNamespace(**{**vars(gm), "user_options": ["ksp_rtol"]})
    assert forcing(given, [1.0], None, 1.0) is None
    # a linear law: one solve to the Newton tolerance's need, whatever EW_MAX
    linear = SimpleNamespace(**{**vars(gm), "model": SimpleNamespace(law=SimpleNamespace(
        state_shapes={}))})
    assert forcing(linear, [2.0], None, 1.0) == pytest.approx(0.1 * 1e-8 / 2.0)


@pytest.mark.mpi
def test_preconditioner_rebuilt_when_the_flowing_points_change(comm):
    """The Newton solver has the preconditioner rebuilt at once when the points where the
    law flows differ from those of the tangent it was built from at more than
    FLOW_CHANGE of all points (counted over the ranks, the same decision on every
    rank); not below that, not at a step's first iteration, not before a first
    build, not for a law without p or a direct solver."""
    from types import SimpleNamespace

    from rom.hf import NewtonSolver

    n = 1000  # points per rank
    restarts = []
    ns = SimpleNamespace(model=SimpleNamespace(comm=comm), _n_qp_global=n * comm.size,
                         FLOW_CHANGE=NewtonSolver.FLOW_CHANGE, _flowing_at_build=None,
                         linear=SimpleNamespace(restart=lambda: restarts.append(1),
                                                options={"ksp_type": "gmres"}))
    assert NewtonSolver.FLOW_CHANGE == 0.1
    old = {"p": np.zeros(n)}

    def flowing(k):  # the first k points flow
        return {"p": np.where(np.arange(n) < k, 1e-4, 0.0)}

    built = NewtonSolver._flowing(ns, flowing(300), old, 1)
    assert built.sum() == 300 and not restarts  # no preconditioner yet
    ns._flowing_at_build = built
    NewtonSolver._flowing(ns, flowing(380), old, 1)  # 8 % of the points on every rank
    assert not restarts
    NewtonSolver._flowing(ns, flowing(420), old, 1)  # 12 %
    assert len(restarts) == 1
    NewtonSolver._flowing(ns, flowing(420), old, 0)  # a step's first iteration
    assert len(restarts) == 1
    # 11 % of all points, all of them on rank 0: every rank rebuilds
    NewtonSolver._flowing(ns, flowing(300 + 110 * comm.size if comm.rank == 0 else 300),
                          old, 2)
    assert len(restarts) == 2
    # an elastic unloading: nothing flows any more
    NewtonSolver._flowing(ns, flowing(0), old, 1)
    assert len(restarts) == 3
    assert NewtonSolver._flowing(ns, {"X": np.zeros((n, 6))}, {"X": np.zeros((n, 6))},
                                 1) is None
    ns.linear.options["ksp_type"] = "preonly"
    assert NewtonSolver._flowing(ns, flowing(0), old, 1) is None
    assert len(restarts) == 3


@pytest.mark.mpi
def test_direct_solver_refactorizes_on_the_same_ksp_and_retry_keeps_the_tolerance(comm):
    """MUMPS factorizes each new operator on the same KSP (exact solutions); a Krylov
    solve stopped by the cap is redone to the tolerance it was asked for."""
    from rom.assembly import LinearSolver

    mesh = load_mesh(box_mesh((6, 3, 3), (2, 1, 1), "tetra10"), comm)
    dm = DofMap(mesh)
    asm = MatrixAssembler(dm)
    stiff = elastic_matrix(mesh, dm, asm, lambda x: np.full_like(x, 1e3))
    soft = elastic_matrix(mesh, dm, asm, lambda x: np.where(x > 1.0, 20.0, 1e3))
    b = dm.create_vector()
    b.setRandom()
    r = b.duplicate()
    direct = LinearSolver(dm, {"linear_solver": "mumps"})
    ksp = None
    for A in (stiff, soft):
        direct.set_operator(A)
        ksp = ksp or direct.ksp
        assert direct.ksp is ksp
        x = direct.solve(b, dm.create_vector())
        A.mult(x, r)
        r.aypx(-1.0, b)
        assert r.norm() <= 1e-10 * b.norm()
    krylov = LinearSolver(dm, {"ksp_type": "gmres", "ksp_rtol": 1e-10})
    krylov.set_operator(stiff)
    krylov.solve(b, dm.create_vector(), rtol=1e-6)
    krylov.set_operator(soft)
    krylov.solve(b, dm.create_vector(), rtol=1e-6)
    assert krylov.rebuilds == 2  # capped, rebuilt, solved again ...
    assert krylov.ksp.getTolerances()[0] == 1e-6  # ... to the tolerance asked


@pytest.mark.mpi
def test_linear_solvers_free_their_petsc_options(comm):
    """PETSc's options database holds at most 512 entries: a solver's options (the
    project's defaults and the caller's) are there only while it sets up or solves,
    so that a process can create any number of solvers in turn (a test run creates
    hundreds; the 513th option raised PETSc error 55)."""
    from rom.assembly import LinearSolver
    from rom.petsc import database

    dm = DofMap(load_mesh(box_mesh((1, 1, 1), (1.0, 1.0, 1.0), "tetra"), comm))
    before = database()
    for _ in range(100):  # 12 options each
        solver = LinearSolver(dm, {"ksp_type": "gmres"})
        assert database() == before
        del solver
    assert database() == before


@pytest.mark.mpi
def test_a_failed_mumps_factorization_names_its_cause(comm):
    """A direct solve that fails in MUMPS's factorization says why, from MUMPS's
    INFOG(1): a singular matrix (4 dofs decoupled: rows and columns zeroed), or a
    working memory capped too low by the user (ICNTL(23) = 1 MB); not the Krylov
    advice of a diverged iterative solve."""
    from rom import RomError
    from rom.assembly import LinearSolver

    mesh = load_mesh(box_mesh((6, 4, 4), (2.0, 1.0, 1.0), "tetra10"), comm)
    dm = DofMap(mesh)
    b = dm.create_vector()
    b.set(1.0)
    A = elastic_matrix(mesh, dm, MatrixAssembler(dm), lambda x: np.full_like(x, 1e3))
    A.zeroRowsColumns([0, 1, 2, 5] if comm.rank == 0 else [], diag=0.0)
    s = LinearSolver(dm, {"linear_solver": "mumps"})
    s.set_operator(A)
    with pytest.raises(RomError, match=r"MUMPS could not factorize the matrix \(INFOG\(1\) = "
                                       r"-10.*numerically singular.*is the structure held"):
        s.solve(b, dm.create_vector())
    A = elastic_matrix(mesh, dm, MatrixAssembler(dm), lambda x: np.full_like(x, 1e3))
    s = LinearSolver(dm, {"linear_solver": "mumps", "mat_mumps_icntl_23": "1"})
    s.set_operator(A)
    with pytest.raises(RomError, match=r"INFOG\(1\) = -19.*mat_mumps_icntl_23 allows is too "
                                       r"small \(the analysis estimated \d+ MB in all\); raise"):
        s.solve(b, dm.create_vector())
    assert s.factorization_failure() is not None
    ok = LinearSolver(dm, {"linear_solver": "mumps"})  # the same matrix factorizes
    ok.set_operator(A)
    ok.solve(b, dm.create_vector())
    assert ok.factorization_failure() is None
