"""Hyper-reduction: Empirical Cubature (ECM), Gappy-POD, and the EIM family.

Distributed functions (the large dimension, quadrature points or rows, split over
ranks; the small one replicated) take a communicator and start with "Collective."

Empirical Cubature Method
-------------------------
Given integrands ``G[r, q]`` (rows ``r``: e.g. ``sigma_s : eps(psi_i)`` for snapshot
``s`` and mode ``i``; columns ``q``: quadrature points) and the full-order weights
``w``, the exact integrals are ``b = G w``. ECM finds a small set ``S`` and weights
``omega >= 0`` with ``||G_S omega - b|| <= tol ||b||`` by non-negative orthogonal
matching pursuit: select the point whose normalized column best matches the residual
(``argmax G_q . r / ||G_q||``, the maximum reduced over ranks, ties to the smallest
global id), solve the non-negative least squares on ``S`` (``scipy.optimize.nnls``),
drop points with zero weight, repeat (the plain least squares is used when its
solution is non-negative; a point dropped three times is not selected again, and
the pursuit stops when the residual has not decreased for max(50, n_rows)
iterations, reporting the residual reached). A previous set can warm-start the pursuit.
The ``nnls`` variant solves one NNLS over all points (gathered; small problems).

Gappy-POD
---------
With a POD basis ``Psi (n, k)`` of a dual quantity and a set of sampled rows
``mask``, the coefficients are ``c* = argmin ||Psi[mask] c - f[mask]||`` and the
field is ``Psi c*``. The rows are chosen by Q-DEIM (pivoted QR of ``Psi^T``),
distributed as a column-pivoted modified Gram-Schmidt.

EIM family (serial, dense)
--------------------------
``eim_greedy`` (classic EIM on snapshot columns), ``symmetric_eim``
(``I(f)(x, y) = [f(x, y_j)]_j M^{-1} [f(x_i, y)]_i``, ``M_ij = f(x_i, y_j)``, with the
least-squares pseudo-inverse when ``M`` is rectangular), ``deim``, ``qdeim``.
"""

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize

from rom import RomError

__all__ = ["ECMResult", "empirical_cubature", "qdeim_rows", "gappy_coefficients",
           "eim_greedy", "eim_interpolate", "symmetric_eim", "deim", "qdeim",
           "compress_rows"]


@dataclass
class ECMResult:
    """Reduced quadrature: global ids ``points (m,)`` and weights ``(m,)``; the
    relative residual ``||G_S omega - b|| / ||b||`` and the iterations made."""

    points: np.ndarray
    weights: np.ndarray
    residual: float
    iterations: int


def _global_best(comm, score, gid):
    """Collective. ``(score, gid)`` of the best candidate over ranks (ties: smallest id)."""
    allc = comm.allgather((float(score), int(gid)))
    best = max(allc, key=lambda c: (c[0], -c[1]))
    return best


def _columns(G, qp_ids, wanted, comm, pos=None):
    """Collective. Columns ``G[:, q]`` for global ids ``wanted``, on every rank
    (``pos``: the map global id -> local column, if already built)."""
    pos = pos if pos is not None else {int(g): i for i, g in enumerate(qp_ids)}
    mine = [(int(g), G[:, pos[int(g)]]) for g in wanted if int(g) in pos]
    found = dict(x for part in comm.allgather(mine) for x in part)
    missing = [int(g) for g in wanted if int(g) not in found]
    if missing:
        raise RomError(f"ECM warm start: quadrature points {missing[:5]} do not exist")
    return np.column_stack([found[int(g)] for g in wanted]) if len(wanted) else np.zeros(
        (G.shape[0], 0))


def compress_rows(G, comm, tol=1e-10):
    """Collective. An orthonormal row basis of the integrands: ``U^T G`` with ``U`` the
    left singular vectors of ``G`` above ``tol * s_max`` (from the replicated
    ``G G^T``). A quadrature exact for the compressed rows is exact, within the
    dropped singular values, for every original row. The Gram matrix resolves
    singular values down to about 1e-8 of the largest: ``tol`` below that keeps noise."""
    C = comm.allreduce(G @ G.T)
    lam, U = np.linalg.eigh(0.5 * (C + C.T))
    order = np.argsort(lam)[::-1]
    lam, U = np.clip(lam[order], 0, None), U[:, order]
    keep = lam > (tol ** 2) * lam[0] if lam.size and lam[0] > 0 else np.zeros(0, bool)
    return U[:, keep].T @ G


def empirical_cubature(G, w, qp_ids, comm, tol=1e-6, warm_start=None, max_points=None,
                       method="nnomp"):
    """Collective. Reduced quadrature for the integrands ``G (n_rows, n_qp_local)``.

    Parameters
    ----------
    G : ndarray (n_rows, n_qp_local)
        Integrand values at this rank's quadrature points.
    w : ndarray (n_qp_local,)
        Full-order weights (quadrature weight x Jacobian).
    qp_ids : ndarray (n_qp_local,)
        Global ids of this rank's points (the result refers to them).
    tol : float
        Relative tolerance on ``||G_S omega - b|| / ||b||``.
    warm_start : array of global ids, optional
        Points selected first (e.g. the set of a previous ECM).
    max_points : int, optional
    method : ``"nnomp"`` (default) or ``"nnls"``.

    Returns
    -------
    ECMResult
    """
    G = np.asarray(G, dtype=float)
    w = np.asarray(w, dtype=float)
    qp_ids = np.asarray(qp_ids, dtype=np.int64)
    if G.shape[1] != len(w) or len(w) != len(qp_ids):
        raise RomError(f"ECM: inconsistent sizes G {G.shape}, weights {w.shape}, "
                       f"ids {qp_ids.shape}")
    if not np.all(np.isfinite(G)):
        raise RomError("ECM: integrand matrix contains NaN or inf")
    b = comm.allreduce(G @ w)
    nb = np.linalg.norm(b)
    if nb == 0:
        return ECMResult(np.zeros(0, np.int64), np.zeros(0), 0.0, 0)
    if method == "nnls":
        return _ecm_nnls(G, qp_ids, b, nb, comm)
    if method != "nnomp":
        raise RomError(f"unknown ECM method '{method}' (nnomp or nnls)")
    norms = np.linalg.norm(G, axis=0)
    norms[norms == 0] = np.inf
    max_points = max_points or G.shape[0] + len(warm_start if warm_start is not None else [])
    selected = [int(g) for g in (warm_start if warm_start is not None else [])]
    pos = {int(g): i for i, g in enumerate(qp_ids)}
    cols = _columns(G, qp_ids, selected, comm, pos)
    taken = np.isin(qp_ids, selected)
    omega = np.zeros(len(selected))
    r = b.copy()
    it = 0
    dropped = {}  # global id -> times dropped; a point dropped 3 times is not taken again
    best_res, stalled = np.inf, 0
    while True:
        if selected:
            omega = _nonnegative_lsq(cols, b)
            keep = omega > 0
            if not keep.all():  # drop points with zero weight
                drop = [g for g, k in zip(selected, keep) if not k]
                for g in drop:
                    dropped[g] = dropped.get(g, 0) + 1
                again = [g for g in drop if dropped[g] < 3]
                taken[np.isin(qp_ids, again)] = False
                selected = [g for g, k in zip(selected, keep) if k]
                cols, omega = cols[:, keep], omega[keep]
            r = b - cols @ omega
        res = np.linalg.norm(r) / nb
        if res < best_res * (1 - 1e-12):
            best_res, stalled = res, 0
        else:
            stalled += 1
        if (res <= tol or len(selected) >= max_points or it >= 4 * G.shape[0] + 50
                or stalled > max(50, G.shape[0])):
            break
        scores = (r @ G) / norms
        scores[taken] = -np.inf
        i = int(np.argmax(scores)) if len(scores) else -1
        local = (scores[i], qp_ids[i]) if i >= 0 else (-np.inf, -1)
        best_score, best_id = _global_best(comm, *local)
        if not np.isfinite(best_score) or best_score <= 0:
            break  # no point improves the fit
        col = _columns(G, qp_ids, [best_id], comm, pos)
        selected.append(best_id)
        taken[qp_ids == best_id] = True
        cols = np.hstack([cols, col])
        it += 1
    order = np.argsort(selected)
    return ECMResult(np.asarray(selected, dtype=np.int64)[order], np.asarray(omega)[order],
                     float(res), it)


def _nonnegative_lsq(A, b):
    """``argmin ||A x - b||, x >= 0``: the unconstrained least squares when it is
    already non-negative (the usual case along the pursuit, and much cheaper),
    else scipy's NNLS."""
    x = scipy.linalg.lstsq(A, b, lapack_driver="gelsy", check_finite=False)[0]
    if np.all(x >= 0):
        return x
    return scipy.optimize.nnls(A, b, maxiter=50 * A.shape[1] + 100)[0]


def _ecm_nnls(G, qp_ids, b, nb, comm):
    parts = comm.allgather((qp_ids, G))
    ids = np.concatenate([p[0] for p in parts])
    Gall = np.hstack([p[1] for p in parts])
    order = np.argsort(ids)
    ids, Gall = ids[order], Gall[:, order]
    omega, _ = scipy.optimize.nnls(Gall, b, maxiter=20 * Gall.shape[1])
    keep = omega > 0
    res = np.linalg.norm(Gall[:, keep] @ omega[keep] - b) / nb
    return ECMResult(ids[keep], omega[keep], float(res), int(keep.sum()))


# --- Gappy-POD ---------------------------------------------------------------------------

def qdeim_rows(Psi, row_ids, comm, n_points=None, start=None):
    """Collective. Q-DEIM selection of rows of the row-distributed basis
    ``Psi (n_rows_local, k)``: column-pivoted modified Gram-Schmidt on ``Psi^T``
    (the pivots of ``qr(Psi^T, pivoting=True)``). Returns global ids of ``n_points``
    (default ``k``) rows, in selection order.

    ``start``: global ids of rows taken first (e.g. the rows of a previous basis that
    was enriched); they are deflated as a block and the greedy selection continues
    from them, which costs a few pivots instead of ``k``."""
    from scipy.linalg.blas import dger

    k = np.shape(Psi)[1]
    n_points = k if n_points is None else n_points
    V = np.array(Psi, dtype=float, order="F")  # candidate rows, deflated in place
    chosen = []
    taken = np.zeros(len(V), dtype=bool)
    start = [int(g) for g in (start if start is not None else [])][:max(n_points - 1, 0)]
    if start:
        idx = np.flatnonzero(np.isin(row_ids, start))
        mine = [(int(row_ids[i]), V[i].copy()) for i in idx]
        found = dict(x for part in comm.allgather(mine) for x in part)
        rows = np.array([found[g] for g in start if g in found])
        Q, R = np.linalg.qr(rows.T)  # an orthonormal basis of the start rows' span
        keep = np.abs(np.diag(R)) > 1e-12 * max(np.abs(np.diag(R)).max(), 1e-300)
        Q = Q[:, keep]
        V -= (V @ Q) @ Q.T
        taken |= np.isin(row_ids, start)
        chosen = [g for g in start if g in found]
    norms = np.einsum("ij,ij->i", V, V)  # squared row norms, updated with each pivot
    for _ in range(min(n_points, comm.allreduce(len(V))) - len(chosen)):
        scores = np.where(taken, -1.0, norms)
        i = int(np.argmax(scores)) if len(scores) else -1
        local = (scores[i], row_ids[i]) if i >= 0 else (-np.inf, -1)
        score, gid = _global_best(comm, *local)
        if score <= 0:
            break
        owner_row = V[row_ids == gid][0] if np.any(row_ids == gid) else None
        rows = [r for r in comm.allgather(owner_row) if r is not None]
        q = rows[0] / np.linalg.norm(rows[0])
        proj = V @ q
        if len(V):
            V = dger(-1.0, proj, q, a=V, overwrite_a=True)  # V -= proj q^T
        norms -= proj ** 2
        taken |= row_ids == gid
        chosen.append(int(gid))
    return np.asarray(chosen, dtype=np.int64)


def gappy_coefficients(Psi_mask, values):
    """Least-squares coefficients ``argmin ||Psi_mask c - values||`` (``values`` may be
    ``(m,)`` or ``(m, n_fields)``)."""
    c, *_ = np.linalg.lstsq(Psi_mask, values, rcond=None)
    return c


# --- EIM family (serial) -----------------------------------------------------------------

def deim(U):
    """DEIM points of the basis ``U (n, m)`` (Chaturantabut & Sorensen)."""
    U = np.asarray(U, dtype=float)
    p = [int(np.argmax(np.abs(U[:, 0])))]
    for j in range(1, U.shape[1]):
        c = np.linalg.solve(U[p, :j], U[p, j])
        r = U[:, j] - U[:, :j] @ c
        p.append(int(np.argmax(np.abs(r))))
    return np.asarray(p)


def qdeim(U):
    """Q-DEIM points of ``U (n, m)``: the first ``m`` pivots of ``qr(U^T)``."""
    _, _, piv = scipy.linalg.qr(np.asarray(U, dtype=float).T, pivoting=True, mode="economic")
    return piv[: U.shape[1]]


def eim_greedy(F, n_max=None, tol=0.0):
    """Classic greedy EIM on the snapshot functions ``F (n_x, n_mu)`` (columns).

    At step ``m`` the worst-approximated snapshot (max-norm interpolation error)
    is chosen, its residual normalized at its arg-max gives the new basis function
    and interpolation point. Returns ``(Q (n_x, m), points (m,), params (m,),
    errors (m,))``, ``errors[m]`` the max error before adding term ``m``.
    """
    F = np.asarray(F, dtype=float)
    n_max = min(n_max or min(F.shape), min(F.shape))
    Q = np.zeros((F.shape[0], 0))
    points, params, errors = [], [], []
    for _ in range(n_max):
        if points:
            R = F - Q @ np.linalg.solve(Q[points], F[points])
        else:
            R = F
        err = np.abs(R).max(axis=0)
        j = int(np.argmax(err))
        errors.append(float(err[j]))
        if err[j] <= tol:
            break
        i = int(np.argmax(np.abs(R[:, j])))
        Q = np.column_stack([Q, R[:, j] / R[i, j]])
        points.append(i)
        params.append(j)
    return Q, np.asarray(points), np.asarray(params), np.asarray(errors)


def eim_interpolate(Q, points, values_at_points):
    """EIM interpolant ``Q Q[points]^{-1} values`` of functions known at ``points``."""
    return Q @ np.linalg.solve(Q[points], values_at_points)


def symmetric_eim(F, x_points, y_points):
    """Symmetric EIM ``F[:, y_j] M^+ F[x_i, :]`` with ``M = F[x_i, y_j]``.

    ``F (n_x, n_y)`` samples ``f(x, y)``. With as many ``x`` as ``y`` points this is
    the interpolant ``M^{-1}`` of the classic EIM built on the functions
    ``f(., y_j)`` and points ``x_i``; with more ``x`` points than ``y`` points (or one
    point removed) the pseudo-inverse gives the least-squares extension.
    """
    F = np.asarray(F, dtype=float)
    M = F[np.ix_(x_points, y_points)]
    if M.shape[0] == M.shape[1]:
        return F[:, y_points] @ np.linalg.solve(M, F[x_points, :])
    return F[:, y_points] @ np.linalg.lstsq(M, F[x_points, :], rcond=None)[0]
