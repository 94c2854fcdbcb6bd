"""ECM, Gappy-POD, Q-DEIM and the EIM family."""

import numpy as np
import pytest
from mpi4py import MPI

from rom.fem import CellBasis
from rom.hyper import (
    deim,
    eim_greedy,
    eim_interpolate,
    empirical_cubature,
    gappy_coefficients,
    qdeim,
    qdeim_rows,
    symmetric_eim,
)
from rom.meshgen import box_mesh


def _integrands(n_rows=60, seed=0, degree=3):
    """Smooth integrands (random polynomials of x of ``degree``, cubic by default) at
    the quadrature points of a distorted hex20 mesh: columns = quadrature points
    (global ids), and their weights."""
    d = box_mesh((4, 3, 3), (1, 1, 1), "hexahedron20", distort=0.2)
    basis = CellBasis(d.element, d.points[d.cells])
    x = basis.x.reshape(-1, 3)
    w = basis.dx.ravel()
    rng = np.random.default_rng(seed)
    exps = [(i, j, k) for i in range(degree + 1) for j in range(degree + 1)
            for k in range(degree + 1) if i + j + k <= degree]
    P = np.stack([np.prod(x ** np.array(e), axis=1) for e in exps])  # (20, n_qp)
    G = rng.normal(size=(n_rows, len(exps))) @ P
    return G, w


def _mine(n, comm):
    """This rank's quadrature points: a scattered, rank-count dependent subset."""
    return np.arange(n)[(np.arange(n) * 7919) % comm.size == comm.rank]


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["nnomp", "nnls"])
def test_ecm_integrates_every_training_integrand(method, comm):
    G, w = _integrands()
    ids = _mine(len(w), comm)
    tol = 1e-8
    res = empirical_cubature(G[:, ids], w[ids], ids, comm, tol=tol, method=method)
    b = G @ w
    err = np.linalg.norm(G[:, res.points] @ res.weights - b) / np.linalg.norm(b)
    assert err <= tol * 1.0001 and abs(err - res.residual) < 1e-12
    assert np.all(res.weights > 0)
    # 20 independent integrands: a cubature needs about 20 points (not 1296)
    assert len(res.points) <= 25 and len(np.unique(res.points)) == len(res.points)


@pytest.mark.mpi
def test_ecm_warm_start_and_rank_independence(comm):
    G, w = _integrands(seed=1)
    ref = empirical_cubature(G, w, np.arange(len(w)), MPI.COMM_SELF, tol=1e-6)
    ids = _mine(len(w), comm)
    par = empirical_cubature(G[:, ids], w[ids], ids, comm, tol=1e-6)
    assert np.array_equal(par.points, ref.points)
    np.testing.assert_allclose(par.weights, ref.weights, rtol=1e-8)
    again = empirical_cubature(G[:, ids], w[ids], ids, comm, tol=1e-6, warm_start=ref.points)
    assert again.iterations == 0 and np.array_equal(again.points, ref.points)
    # warm start from a subset of a larger problem's set
    G2 = np.vstack([G, _integrands(n_rows=30, seed=9)[0]])
    more = empirical_cubature(G2[:, ids], w[ids], ids, comm, tol=1e-6, warm_start=ref.points)
    b = G2 @ w
    assert np.linalg.norm(G2[:, more.points] @ more.weights - b) <= 1e-6 * np.linalg.norm(b)


@pytest.mark.mpi
def test_qdeim_rows_match_pivoted_qr(comm):
    rng = np.random.default_rng(2)
    Psi = np.linalg.qr(rng.normal(size=(300, 8)))[0]
    ids = _mine(300, comm)
    pts = qdeim_rows(Psi[ids], ids, comm)
    assert np.array_equal(pts, qdeim(Psi))
    # continuing from the first pivots (block deflation) gives the same selection
    for j in (1, 3, 7):
        assert np.array_equal(qdeim_rows(Psi[ids], ids, comm, start=pts[:j]), pts)
    # an enriched basis (one more column) keeps the old rows and gains one
    Psi9 = np.linalg.qr(np.hstack([Psi, rng.normal(size=(300, 1))]))[0]
    more = qdeim_rows(Psi9[ids], ids, comm, start=pts)
    assert len(more) == 9 and np.array_equal(more[:8], pts)
    assert abs(np.linalg.det(Psi9[more])) > 1e-12


@pytest.mark.mpi
def test_qdeim_rows_of_a_factored_basis_are_those_of_its_modes(comm):
    """Q-DEIM of a basis kept factored (``P W``; ``W`` square, or with fewer columns than
    ``P``: the row norms of ``P`` only bound those of the modes) selects the rows of the
    same modes given whole, from scratch and continued from earlier rows."""
    from rom.pod import FactoredBasis

    rng = np.random.default_rng(4)
    A = rng.normal(size=(300, 9))
    A[17, 8] = 30.0  # the largest row of P, in the direction the truncated W drops
    P = np.linalg.qr(A)[0]
    ids = _mine(300, comm)
    dropped = np.zeros((9, 6))
    dropped[:8] = np.linalg.qr(rng.normal(size=(8, 6)))[0]
    assert np.argmax(np.linalg.norm(P, axis=1)) != np.argmax(np.linalg.norm(P @ dropped,
                                                                            axis=1))
    for W in (np.linalg.qr(rng.normal(size=(9, 9)))[0],
              np.linalg.qr(rng.normal(size=(9, 6)))[0], dropped):
        Psi = P @ W
        F = FactoredBasis(np.asfortranarray(P[ids]), W)
        pts = qdeim_rows(Psi[ids], ids, comm)
        assert np.array_equal(qdeim_rows(F, ids, comm), pts)
        assert np.array_equal(pts, qdeim(Psi))
        assert np.array_equal(qdeim_rows(F, ids, comm, start=pts[:4]), pts)
        # the last row alone (one product with the basis: the enrichment's case)
        assert np.array_equal(qdeim_rows(F, ids, comm, start=pts[:-1]), pts)


def test_gappy_reconstruction_exact_in_span_and_bounded_off_span():
    rng = np.random.default_rng(3)
    Psi = np.linalg.qr(rng.normal(size=(400, 6)))[0]
    mask = qdeim_rows(Psi, np.arange(400), MPI.COMM_SELF, n_points=10)
    c = rng.normal(size=6)
    f = Psi @ c
    np.testing.assert_allclose(Psi @ gappy_coefficients(Psi[mask], f[mask]), f, atol=1e-12)
    noise = 1e-3 * rng.normal(size=400)
    rec = Psi @ gappy_coefficients(Psi[mask], (f + noise)[mask])
    bound = np.linalg.norm(np.linalg.pinv(Psi[mask]), 2) * np.linalg.norm(noise[mask])
    assert np.linalg.norm(rec - f) <= bound * (1 + 1e-12)


def _family(n_x=400, n_mu=200):
    x = np.linspace(0, 1, n_x)
    mu = np.linspace(1, 10, n_mu)
    return np.exp(-np.outer(x, mu)), x, mu


def test_eim_exact_at_points_and_exponential_convergence():
    F, x, mu = _family()
    Q, points, params, errors = eim_greedy(F, n_max=14)
    assert len(points) == 14 and len(np.unique(points)) == 14
    test = np.exp(-np.outer(x, np.linspace(1.05, 9.95, 77)))  # unseen parameters
    errs = []
    for m in range(2, 15, 2):
        I = eim_interpolate(Q[:, :m], points[:m], test[points[:m]])
        np.testing.assert_allclose(I[points[:m]], test[points[:m]], atol=1e-12)
        errs.append(np.abs(I - test).max())
    errs = np.array(errs)
    rate = np.polyfit(np.arange(2, 15, 2), np.log(errs), 1)[0]
    assert rate < -1.0 and errs[-1] < 1e-9, errs  # error ~ exp(-c m), c > 1


def test_symmetric_eim_equals_classic_and_rectangular_extension():
    F, x, mu = _family()
    m = 8
    Q, points, params, _ = eim_greedy(F, n_max=m)
    classic = eim_interpolate(Q, points, F[points])
    sym = symmetric_eim(F, points, params)
    np.testing.assert_allclose(sym, classic, atol=1e-10 * np.abs(F).max())
    # one point removed: least squares on the 7 remaining points of 8 functions
    rect = symmetric_eim(F, points[:-1], params)
    assert np.all(np.isfinite(rect))
    Q7, p7, _, _ = eim_greedy(F, n_max=m - 1)
    err7 = np.abs(eim_interpolate(Q7, p7, F[p7]) - F).max()
    assert np.abs(rect - F).max() < 10 * err7
    # more points than functions: least squares reproduces the selected functions
    over = symmetric_eim(F, np.r_[points, deim(Q)[:2] + 1], params)
    np.testing.assert_allclose(over[:, params], F[:, params], atol=1e-8)


def _stress_integrands(n_s=12, n_modes=4, seed=3):
    """Stress fields (cubic polynomials, random coefficients) and mode strains
    (quadratic) at the quadrature points of the distorted hex20 mesh of
    :func:`_integrands`: ``(S (n_s, n_qp, 6), E (n_qp, 6, N), w, G (n_s N, n_qp))``."""
    d = box_mesh((4, 3, 3), (1, 1, 1), "hexahedron20", distort=0.2)
    basis = CellBasis(d.element, d.points[d.cells])
    x = basis.x.reshape(-1, 3)
    w = basis.dx.ravel()
    rng = np.random.default_rng(seed)

    def poly(deg, k):
        exps = [(i, j, m) for i in range(4) for j in range(4) for m in range(4)
                if i + j + m <= deg]
        P = np.stack([np.prod(x ** np.array(e), axis=1) for e in exps])
        return rng.normal(size=(k, len(exps))) @ P  # (k, n_qp)

    S = poly(3, n_s * 6).reshape(n_s, 6, -1).transpose(0, 2, 1)
    E = poly(2, 6 * n_modes).reshape(6, n_modes, -1).transpose(2, 0, 1)
    G = np.einsum("sqk,qki->siq", S, E).reshape(n_s * n_modes, -1)
    return S, E, w, G


@pytest.mark.mpi
def test_stress_cubature_nnls_against_the_nnls_of_the_explicit_integrand(comm):
    """method="nnls": one NNLS on the compressed rows, refitted on the exact columns;
    its residual (reported exactly) is that of scipy's NNLS on the explicit integrand
    matrix, with as few points, and the same on any number of ranks."""
    import scipy.optimize

    from rom.hyper import stress_cubature

    S, E, w, G = _stress_integrands()
    ids = _mine(len(w), comm)
    b = G @ w
    res = stress_cubature(list(S[:, ids]), E[ids], w[ids], ids, comm, tol=1e-8,
                          method="nnls")
    err = np.linalg.norm(G[:, res.points] @ res.weights - b) / np.linalg.norm(b)
    assert abs(err - res.residual) <= 1e-12 + 1e-6 * err
    assert np.all(res.weights > 0) and len(np.unique(res.points)) == len(res.points)
    omega, rnorm = scipy.optimize.nnls(G, b, maxiter=50 * G.shape[1])
    assert err <= max(10 * rnorm / np.linalg.norm(b), 1e-9), (err, rnorm)
    assert len(res.points) <= np.count_nonzero(omega) + 2
    serial = stress_cubature(list(S), E, w, np.arange(len(w)), MPI.COMM_SELF, tol=1e-8,
                             method="nnls")
    assert np.array_equal(serial.points, res.points)
    with pytest.raises(Exception, match="unknown reduced quadrature method"):
        stress_cubature(list(S[:, ids]), E[ids], w[ids], ids, comm, method="deim")


def test_column_qr_deletions_leave_a_factorization_of_the_kept_columns():
    """Every deletion path of the pursuit's QR (Givens sweeps, early, late or among the
    last columns, and many columns at once) leaves an orthonormal Q and an upper
    triangular R with Q R the kept columns, in their order."""
    from rom.hyper import _ColumnQR

    rng = np.random.default_rng(5)
    m, k = 120, 90
    A = rng.normal(size=(m, k))
    cases = {"one early": [3], "one late": [k - 2], "trailing block": [k - 40, k - 7, k - 1],
             "spread": [2, 40, 80], "many": list(range(0, k, 7))}
    for name, leave in cases.items():
        qr = _ColumnQR(m)
        qr.append(A)
        keep = np.ones(k, dtype=bool)
        keep[leave] = False
        qr.delete(keep)
        Q, R = qr.Q, qr.R
        assert Q.shape == (m, keep.sum()) and R.shape == (keep.sum(), keep.sum()), name
        np.testing.assert_allclose(Q @ R, A[:, keep], atol=1e-12, err_msg=name)
        np.testing.assert_allclose(Q.T @ Q, np.eye(keep.sum()), atol=1e-12, err_msg=name)
        np.testing.assert_array_equal(np.tril(R, -1), 0.0, err_msg=name)
        # and the next append and least squares still work on it
        c = rng.normal(size=m)
        assert qr.append(c[:, None]).all()
        x = qr.lstsq(c)
        np.testing.assert_allclose(x, np.linalg.lstsq(np.column_stack([A[:, keep], c]), c,
                                                      rcond=None)[0], atol=1e-10)


def test_nonnegative_lsq_from_feasible_weights_never_increases_the_residual():
    """The Lawson-Hanson inner loop moves from the feasible start towards the
    unconstrained fits of shrinking active sets: the residual never grows, the result
    is feasible and, when the unconstrained fit is non-negative, it is that fit."""
    from rom.hyper import _ColumnQR, _nonnegative_lsq

    rng = np.random.default_rng(3)
    for _ in range(20):
        A = rng.normal(size=(40, 30))
        x0 = np.abs(rng.normal(size=30)) * (rng.random(30) < 0.7)
        b = A @ (x0 + 0.3 * rng.normal(size=30))
        qr = _ColumnQR(40)
        qr.append(A)
        x = _nonnegative_lsq(A, b, x0, qr=qr)
        assert np.all(x >= 0)
        assert np.linalg.norm(A @ x - b) <= np.linalg.norm(A @ x0 - b) * (1 + 1e-12)
        # the factorization left holds the columns of positive weight
        Q, R = qr.Q, qr.R
        np.testing.assert_allclose(Q @ R, A[:, x > 0], atol=1e-10)
    b = A @ np.abs(rng.normal(size=30))  # a non-negative exact fit
    qr = _ColumnQR(40)
    qr.append(A)
    np.testing.assert_allclose(A @ _nonnegative_lsq(A, b, np.zeros(30), qr=qr), b,
                               atol=1e-10)


def test_nonnegative_lsq_on_the_small_system_equals_the_plain_one():
    """A warm start whose first least squares drops many points one at a time (more
    than ``_ColumnQR.SMALL_AFTER``: the deletions then work on the small system
    ``[R  Q^T b]``) gives the weights of the same Lawson-Hanson steps without the
    factorization, and leaves a factorization of the columns kept that the next
    append extends."""
    from rom.hyper import _ColumnQR, _nonnegative_lsq

    rng = np.random.default_rng(11)
    m, k = 200, 180
    A = rng.normal(size=(m, k))
    x0 = np.abs(rng.normal(size=k))
    b = A @ (x0 + 1.5 * rng.normal(size=k))  # far from x0: many weights reach 0
    qr = _ColumnQR(m)
    qr.append(A)
    deleted, small = [], []
    delete = qr.delete

    def counted(keep):
        deleted.append(np.count_nonzero(~np.asarray(keep)))
        delete(keep)
        small.append(qr._session[2] is not None)

    qr.delete = counted
    x = _nonnegative_lsq(A, b, x0, qr=qr)
    # past the first SMALL_AFTER, the deletions work on the small system
    assert sum(d for d, s in zip(deleted, small) if s) > 10
    np.testing.assert_allclose(x, _nonnegative_lsq(A, b, x0), atol=1e-10)
    assert np.all(x >= 0) and np.count_nonzero(x) < k
    Q, R = qr.Q, qr.R
    np.testing.assert_allclose(Q @ R, A[:, x > 0], atol=1e-10)
    np.testing.assert_allclose(Q.T @ Q, np.eye(Q.shape[1]), atol=1e-12)
    np.testing.assert_array_equal(np.tril(R, -1), 0.0)
    c = rng.normal(size=m)
    assert qr.append(c[:, None]).all()
    np.testing.assert_allclose(qr.lstsq(c), np.linalg.lstsq(
        np.column_stack([A[:, x > 0], c]), c, rcond=None)[0], atol=1e-10)


def test_column_qr_session_deletes_any_masks_down_to_no_column():
    """Within a least-squares session, masks of one or several columns (past the move
    to the small system, and a large batch by the block path) leave least squares equal
    to the plain ones on the kept columns, down to none; adding a column within the
    session, or solving for another target, is refused."""
    from rom.hyper import _ColumnQR

    rng = np.random.default_rng(8)
    m, k = 90, 80
    A = rng.normal(size=(m, k))
    b = rng.normal(size=m)
    qr = _ColumnQR(m)
    qr.append(A)
    kept = np.arange(k)
    with qr.session(b):
        with pytest.raises(RuntimeError):
            qr.append(rng.normal(size=(m, 1)))
        while len(kept):
            n_out = 20 if len(kept) == 60 else int(rng.integers(1, min(4, len(kept)) + 1))
            out = rng.choice(len(kept), n_out, replace=False)
            keep = np.ones(len(kept), dtype=bool)
            keep[out] = False
            qr.delete(keep)
            kept = kept[keep]
            x = qr.lstsq(b)
            ref = np.linalg.lstsq(A[:, kept], b, rcond=None)[0] if len(kept) else x
            np.testing.assert_allclose(x, ref, atol=1e-10)
        assert qr._session[2] is not None  # (it moved to the small system)
        with pytest.raises(RuntimeError):
            qr.lstsq(b.copy())
    assert qr.Q.shape == (m, 0) and qr.R.shape == (0, 0)


def test_column_qr_small_system_keeps_the_columns_before_the_first_deletion():
    """A session that moves to the small system and deletes only trailing columns ends
    with ``Q`` unchanged before the first deleted column (the product ``Q Q_s`` is
    formed on the trailing block only), and ``Q R`` the kept columns, ``Q``
    orthonormal."""
    from rom.hyper import _ColumnQR

    rng = np.random.default_rng(3)
    k = 60 + 2 * _ColumnQR.SMALL_AFTER
    m = k + 20
    A = rng.normal(size=(m, k))
    b = rng.normal(size=m)
    qr = _ColumnQR(m)
    qr.append(A)
    lead = qr.Q[:, :60].copy()
    kept = list(range(k))
    with qr.session(b):
        for j in rng.choice(np.arange(60, k), _ColumnQR.SMALL_AFTER + 5, replace=False):
            mask = np.ones(len(kept), dtype=bool)
            mask[kept.index(j)] = False
            qr.delete(mask)
            kept.remove(j)
        assert qr._session[2] is not None  # on the small system
        np.testing.assert_allclose(qr.lstsq(b), np.linalg.lstsq(A[:, kept], b,
                                                                rcond=None)[0], atol=1e-10)
    np.testing.assert_array_equal(qr.Q[:, :60], lead)
    np.testing.assert_allclose(qr.Q @ qr.R, A[:, kept], atol=1e-10)
    np.testing.assert_allclose(qr.Q.T @ qr.Q, np.eye(len(kept)), atol=1e-12)


@pytest.mark.mpi
def test_ecm_warm_weights_keep_a_previous_quadrature_of_changed_integrands(comm):
    """Warm-started from a previous quadrature of slightly different integrands (an
    adaptive enrichment) and more candidate points than it needs, the pursuit started
    from the previous weights keeps more of the previous points and needs fewer
    iterations than when started from the points alone, which drops every point of
    negative unconstrained weight at once; both reach the tolerance, on any number of
    ranks the same result."""
    G, w = _integrands(n_rows=100, seed=4, degree=5)
    ids = _mine(len(w), comm)
    old = empirical_cubature(G, w, np.arange(len(w)), MPI.COMM_SELF, tol=1e-6)
    others = np.random.default_rng(0).choice(np.setdiff1d(np.arange(len(w)), old.points),
                                             40, replace=False)
    warm = np.concatenate([old.points, others])
    G2 = G + 1e-2 * _integrands(n_rows=100, seed=5, degree=6)[0]  # a richer space
    b = G2 @ w
    kept = {}
    for name, ww in (("points", None), ("weights", np.concatenate([old.weights,
                                                                   np.zeros(40)]))):
        res = empirical_cubature(G2[:, ids], w[ids], ids, comm, tol=1e-6, warm_start=warm,
                                 warm_weights=ww)
        assert np.linalg.norm(G2[:, res.points] @ res.weights - b) <= 1e-6 * np.linalg.norm(b)
        kept[name] = (len(np.intersect1d(res.points, old.points)), res.iterations)
        serial = empirical_cubature(G2, w, np.arange(len(w)), MPI.COMM_SELF, tol=1e-6,
                                    warm_start=warm, warm_weights=ww)
        assert np.array_equal(serial.points, res.points)
    # measured: (28 of 55 points kept, 31 iterations) from the points, (51, 1) from the
    # weights
    assert kept["weights"][0] > kept["points"][0] and kept["weights"][1] < kept["points"][1]


@pytest.mark.mpi
def test_stress_cubature_of_factored_stresses_equals_that_of_the_fields(comm, monkeypatch):
    """Stress fields given factored (``P T``, as the enrichment's Gappy basis of the
    stresses times its singular values) give the cubature of the fields themselves:
    the same points and weights, and the same integral ratio; in the self-equilibrated
    case too (the modes' elastic stresses then join the materialized fields)."""
    import rom.hyper
    from rom.hyper import FactoredStresses, stress_cubature

    S, E, w, G = _stress_integrands()
    ids = _mine(len(w), comm)
    rng = np.random.default_rng(8)
    # the fields as P T (6 n_qp rows, q 6 + component): P neither orthonormal nor of
    # the fields' count of columns (as the enrichment's P after truncations)
    X = S.transpose(1, 2, 0).reshape(-1, len(S))  # (6 n_qp, S)
    G = rng.normal(size=(len(S), len(S))) + 3 * np.eye(len(S))
    P = np.hstack([X @ G, rng.normal(size=(len(X), 1))])
    T = np.vstack([np.linalg.inv(G), np.zeros((1, len(S)))])  # X = P T
    rows = (6 * ids[:, None] + np.arange(6)).ravel()
    Pl = np.asfortranarray(P[rows])
    fields = list(S[:, ids])
    for compress in (False, True):
        F = FactoredStresses(Pl, T, comm.allreduce(Pl.T @ Pl))
        a = stress_cubature(F, E[ids], w[ids], ids, comm, tol=1e-6, compress_rows=compress)
        b = stress_cubature(fields, E[ids], w[ids], ids, comm, tol=1e-6,
                            compress_rows=compress)
        assert np.array_equal(a.points, b.points)
        np.testing.assert_allclose(a.weights, b.weights, rtol=1e-8)
        assert abs(a.residual - b.residual) <= 1e-9
        assert a.diagnostics["integral_ratio"] == pytest.approx(
            b.diagnostics["integral_ratio"], rel=1e-4)
    stiffness = np.diag([3.0, 3.0, 3.0, 1.0, 1.0, 1.0])
    # every ratio counts as self-equilibrated: the elastic stresses join
    monkeypatch.setattr(rom.hyper, "EQUILIBRATED", np.inf)
    a = stress_cubature(FactoredStresses(Pl, T, comm.allreduce(Pl.T @ Pl)), E[ids],
                        w[ids], ids, comm, tol=1e-6, stiffness=stiffness)
    b = stress_cubature(fields, E[ids], w[ids], ids, comm, tol=1e-6, stiffness=stiffness)
    assert a.diagnostics["mode_stresses"] == b.diagnostics["mode_stresses"] == E.shape[2]
    assert np.array_equal(a.points, b.points)
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-8)


@pytest.mark.mpi
def test_stress_cubature_matches_the_explicit_integrand(comm):
    """The compressed, blocked pursuit on stress fields and mode strains reaches the
    tolerance on the explicit integrand matrix (every row), reports that residual,
    with about as many points as the plain pursuit on the explicit matrix, and the
    same points on any number of ranks."""
    from rom.hyper import stress_cubature

    S, E, w, G = _stress_integrands()
    ids = _mine(len(w), comm)
    b = G @ w
    for tol in (1e-4, 1e-8):
        res = stress_cubature(list(S[:, ids]), E[ids], w[ids], ids, comm, tol=tol)
        err = np.linalg.norm(G[:, res.points] @ res.weights - b) / np.linalg.norm(b)
        assert err <= tol and abs(err - res.residual) <= 1e-6 * tol, (err, res.residual)
        assert np.all(res.weights > 0) and len(np.unique(res.points)) == len(res.points)
        plain = empirical_cubature(G, w, np.arange(len(w)), MPI.COMM_SELF, tol=tol)
        assert len(res.points) <= 1.25 * len(plain.points) + 2, (len(res.points),
                                                                 len(plain.points))
        serial = stress_cubature(list(S), E, w, np.arange(len(w)), MPI.COMM_SELF, tol=tol)
        assert np.array_equal(serial.points, res.points)
        np.testing.assert_allclose(serial.weights, res.weights, rtol=1e-6)
    # the stress modes are truncated (12 fields of a 6 x 20-dimensional space: all
    # kept here), the rows compressed below the 48 of G
    assert res.diagnostics["rows"] <= res.diagnostics["rows_full"]
    # warm start from its own points: nothing to add
    again = stress_cubature(list(S[:, ids]), E[ids], w[ids], ids, comm, tol=1e-8,
                            warm_start=res.points)
    assert again.iterations == 0 and np.array_equal(again.points, res.points)


def test_pursuit_breaks_ties_of_mirror_points_by_the_smallest_id():
    """Two points with the same integrand column (mirror points of a symmetric mesh)
    are a tie whatever round-off perturbs them: the smallest id is taken, so that two
    builds with other round-off choose alike."""
    G, w = _integrands(n_rows=12)
    first = empirical_cubature(G, w, np.arange(len(w)), MPI.COMM_SELF, tol=1e-8, max_points=1)
    g = int(first.points[0])
    twin = len(w)  # an extra point with g's column, weight 0 (no change to the integrals)
    noise = np.random.default_rng(0).normal(size=G.shape[0])
    noise *= np.linalg.norm(G[:, g]) / np.linalg.norm(noise)
    for eps in (1e-9, -1e-9):  # round-off of two builds: the twin's score moves
        G2 = np.hstack([G, (G[:, g] + eps * noise)[:, None]])
        w2 = np.append(w, 0.0)
        ids = np.arange(len(w2))
        ids[[g, twin]] = ids[[twin, g]]  # the twin gets the smaller global id
        res = empirical_cubature(G2, w2, ids, MPI.COMM_SELF, tol=1e-8, max_points=1)
        assert list(res.points) == [min(g, twin)], (eps, res.points)
