"""Hyper-reduction: Empirical Cubature (ECM), Gappy-POD, and the EIM family.

Distributed functions (the large dimension, quadrature points or rows, split over
ranks; the small one replicated) take a communicator and start with "Collective."

Empirical Cubature Method
-------------------------
Given integrands ``G[r, q]`` (rows ``r``: e.g. ``sigma_s : eps(psi_i)`` for snapshot
``s`` and mode ``i``; columns ``q``: quadrature points) and the full-order weights
``w``, the exact integrals are ``b = G w``. ECM finds a small set ``S`` and weights
``omega >= 0`` with ``||G_S omega - b|| <= tol ||b||`` by non-negative orthogonal
matching pursuit: select the points whose normalized columns best match the residual
(``argmax G_q . r / ||G_q||``, the maximum reduced over ranks, ties to the smallest
global id; one point per iteration, or a block of them, see :func:`_pursuit`), fit
non-negative weights on ``S`` (the Lawson-Hanson inner loop from the previous
weights: the plain least squares when its solution is non-negative), drop points with
zero weight, repeat (a point that lost its weight three times is not selected again,
and the pursuit stops when the residual has not decreased for max(50, n_rows)
iterations, reporting the residual reached). A previous set can warm-start the pursuit.
:func:`stress_cubature` does the same for the integrands of stress fields and mode
strains without forming ``G``: compressed rows shortlist the candidates, exact columns
decide (the offline stage and the adaptive enrichment use it).
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

import contextlib
from dataclasses import dataclass, field

import numpy as np

from rom import RomError
from rom.progress import Progress

__all__ = ["ECMResult", "FactoredStresses", "empirical_cubature", "stress_cubature", "qdeim_rows",
           "gappy_coefficients",
           "eim_greedy", "eim_interpolate", "symmetric_eim", "deim", "qdeim",
]


@dataclass
class ECMResult:
    """Reduced quadrature: global ids ``points (m,)`` and weights ``(m,)``; the
    relative residual ``||G_S omega - b|| / ||b||`` and the iterations made."""

    points: np.ndarray
    weights: np.ndarray
    residual: float
    iterations: int
    diagnostics: dict = field(default_factory=dict)


def _global_best(comm, score, gid):
    """Collective. ``(score, gid)`` of the best candidate over ranks (ties: smallest id)."""
    allc = comm.allgather((float(score), int(gid)))
    best = max(allc, key=lambda c: (c[0], -c[1]))
    return best


def _find(qp_ids, order, ids):
    """``(i, mine)``: positions ``i`` in ``qp_ids`` (``order`` its argsort) looked up for
    the global ``ids``, and the indices ``mine`` of the ids this rank holds
    (``qp_ids[i[mine]] == ids[mine]``)."""
    ids, n = np.asarray(ids, dtype=np.int64), len(qp_ids)
    if not n or not len(ids):
        return np.zeros(len(ids), dtype=np.int64), np.zeros(0, dtype=np.int64)
    i = order[np.searchsorted(qp_ids, ids, sorter=order).clip(0, n - 1)]
    return i, np.flatnonzero(qp_ids[i] == ids)


class _Columns:
    """Collective calls. Columns at global quadrature ids, gathered on every rank from
    the ranks that hold them: ``self(ids, values_at, k)`` with ``values_at(local
    positions) -> (k, len(positions))``."""

    def __init__(self, qp_ids, comm):
        self.qp_ids, self.comm = np.asarray(qp_ids, dtype=np.int64), comm
        self.order = np.argsort(self.qp_ids)

    def __call__(self, ids, values_at, k):
        ids = np.asarray(ids, dtype=np.int64)
        i, mine = _find(self.qp_ids, self.order, ids)
        parts = self.comm.allgather((mine, values_at(i[mine]) if len(mine)
                                     else np.zeros((k, 0))))
        out = np.full((k, len(ids)), np.nan)
        for j, v in parts:
            out[:, j] = v
        if np.isnan(out).any():
            missing = ids[np.isnan(out).any(axis=0)][:5].tolist()
            raise RomError(f"ECM warm start: quadrature points {missing} do not exist")
        return out


def empirical_cubature(G, w, qp_ids, comm, tol=1e-6, warm_start=None, max_points=None,
                       method="nnomp", warm_weights=None):
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
    warm_weights : array, optional
        Their weights, where the first non-negative least squares starts
        (:func:`_pursuit`).
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
    columns = _Columns(qp_ids, comm)
    return _pursuit(G, np.linalg.norm(G, axis=0),
                    lambda ids: columns(ids, lambda sel: G[:, sel], G.shape[0]), b, nb,
                    qp_ids, comm, tol, warm_start, max_points, warm_weights=warm_weights)


def _pursuit(Z, norms, column, b, nb, qp_ids, comm, tol, warm_start=None, max_points=None,
             block=1, project=None, row_scale=None, score_tol=1e-2, warm_weights=None):
    """Collective. Non-negative orthogonal matching pursuit (module docstring) of the
    target ``b`` with the columns of ``Z (n_rows, n_qp_local)``.

    ``Z`` only scores the candidates (``Z_q . project(r) / norms_q``: it may be single
    precision, and hold the integrand in compressed rows, ``project`` mapping a
    residual to them); ``column(ids) -> (n_rows, len(ids))`` gives the exact columns
    of global ids, on every rank (collective): the least squares, the residual and
    the final ranking of the shortlisted candidates use them. ``block`` > 1 takes up to
    ``block`` points per iteration: the best candidates by score, each accepted when
    its column is not nearly parallel (cosine < 0.9) to one accepted before it in the
    same iteration (a generalized OMP). The non-negative least squares
    (:func:`_nonnegative_lsq`, on a QR factorization of the selected columns updated
    as points enter and leave, :class:`_ColumnQR`) refuses what is not needed: a
    point just added and refused may be tried again after one iteration; a point that
    had a weight and lost it three times is not taken again; a point whose column is
    numerically in the span of the selected ones is not taken.

    ``warm_weights`` (of the ``warm_start`` points, >= 0) start the first least
    squares: from them the Lawson-Hanson steps drop only the points that block the
    way to the unconstrained fit, one at a time, and keep the others; without them
    (all zero) every warm point of negative unconstrained weight leaves at once,
    which from a previous quadrature of integrands that changed a little drops
    about half of it (measured on the blade's enrichments: 794 -> 420 points,
    residual 1e-6 -> 4e-4, which the pursuit then rebuilds over 90 iterations).
    """
    norms = np.array(norms, dtype=float)
    norms[norms == 0] = np.inf
    n_rows = len(b)
    warm = [int(g) for g in (warm_start if warm_start is not None else [])]
    max_points = max_points or n_rows + len(warm)
    qr = _ColumnQR(n_rows)
    cols = column(warm)
    keep = qr.append(cols)
    selected = [g for g, k in zip(warm, keep) if k]
    cols = cols[:, keep]
    order_ids = np.argsort(qp_ids)

    def local(ids):  # positions in qp_ids of those global ids that are on this rank
        i, mine = _find(qp_ids, order_ids, ids)
        return i[mine]

    taken = np.zeros(len(qp_ids), dtype=bool)
    taken[local(warm)] = True
    if warm_weights is not None:
        if len(warm_weights) != len(warm):
            raise RomError(f"ECM warm start: {len(warm_weights)} weights for {len(warm)} "
                           "points")
        omega = np.maximum(np.asarray(warm_weights, dtype=float)[keep], 0.0)
    else:
        omega = np.zeros(len(selected))
    r = b.copy()
    it = 0
    dropped = {}  # global id -> times dropped; a point dropped 3 times is not taken again
    best_res, stalled = np.inf, 0
    cooldown = []  # points just added and refused by the least squares: not retried at once
    # progress: the decades of the residual from 1 to the tolerance (rom.progress)
    progress = Progress(comm, np.log10(1 / tol) if 0 < tol < 1 else 0, "ECM", unit="decades")
    with progress:
        while True:
            if selected:
                n_old = len(omega)  # the points that had a weight; the others were just added
                omega = _nonnegative_lsq(cols, b, np.concatenate(
                    [omega, np.zeros(len(selected) - n_old)]), qr=qr)
                keep = omega > 0
                if not keep.all():  # drop points with zero weight
                    drop = [g for j, (g, k) in enumerate(zip(selected, keep)) if not k
                            and j < n_old]
                    for g in drop:
                        dropped[g] = dropped.get(g, 0) + 1
                    again = [g for g in drop if dropped[g] < 3]
                    taken[local(again)] = False
                    cooldown = [g for j, (g, k) in enumerate(zip(selected, keep)) if not k
                                and j >= n_old]
                    selected = [g for g, k in zip(selected, keep) if k]
                    cols, omega = cols[:, keep], omega[keep]  # (qr: done by the NNLS)
                r = b - cols @ omega
            res = np.linalg.norm(r) / nb
            progress.update(max(0.0, -np.log10(max(res, 1e-300))))
            if res < best_res * (1 - 1e-12):
                best_res, stalled = res, 0
            else:
                stalled += 1
            if (res <= tol or len(selected) >= max_points or it >= 4 * n_rows + 50
                    or stalled > max(50, n_rows)):
                break
            rz = r if project is None else project(r)
            k = _leading_rows(rz, row_scale, score_tol)
            scores = (Z[:k].T @ rz[:k].astype(Z.dtype)) / norms
            scores[taken] = -np.inf
            cool = local(cooldown)
            taken[cool] = False  # available again from the next iteration
            scores[cool] = -np.inf
            cooldown = []
            new = _best_candidates(comm, scores, qp_ids, block, column, r)
            if not new:
                break  # no point improves the fit
            taken[local([g for g, _ in new])] = True
            C = np.column_stack([c for _, c in new])
            keep = qr.append(C)  # a column in the span of the selected ones cannot help
            selected.extend(g for (g, _), k in zip(new, keep) if k)
            cols = np.hstack([cols, C[:, keep]])
            it += 1
    order = np.argsort(selected)
    return ECMResult(np.asarray(selected, dtype=np.int64)[order], np.asarray(omega)[order],
                     float(res), it)


def _leading_rows(rz, row_scale, score_tol):
    """How many leading rows of ``Z`` score the candidates: all, unless the rows'
    norms ``row_scale`` are given (decreasing: the singular values of compressed rows).
    Row ``u`` adds ``Z_u rz_u`` to the scores, of norm ``row_scale_u |rz_u|`` over the
    points; the trailing rows whose contributions together are below ``score_tol`` of
    the whole (in the 2-norm) are left out, which bounds the scores' error by that
    fraction of their norm. The scores only shortlist candidates (exact columns rank
    them), and the pass over ``Z`` is the pursuit's main cost."""
    if row_scale is None:
        return len(rz)
    c = np.cumsum(((row_scale * rz) ** 2)[::-1])[::-1]  # c[u] = sum over rows >= u
    if not c[0] > 0:
        return len(rz)
    return max(1, int(np.count_nonzero(c > score_tol ** 2 * c[0])))


TIE_DIGITS = 6


def _best_candidates(comm, scores, qp_ids, block, column, r):
    """Collective. Up to ``block`` ``(global id, exact column)`` of the best positive
    scores over all ranks, skipping a candidate nearly parallel to one already taken.
    The ``4 block`` best candidates by ``scores`` (possibly single precision, possibly
    against a compressed residual) are ranked again by their exact scores
    ``column . r / |column|`` (ties: smallest id), so that the choice does not depend
    on the rounding of the scores, nor on the number of ranks beyond round-off."""
    pool = 4 * max(block, 1)
    k = min(len(scores), pool)
    local = np.argpartition(-scores, k - 1)[:k] if k else np.zeros(0, int)
    mine = [(float(scores[i]), int(qp_ids[i])) for i in local if np.isfinite(scores[i])]
    cands = sorted((c for part in comm.allgather(mine) for c in part),
                   key=lambda c: (-c[0], c[1]))[:pool]
    if not cands:
        return []
    ids = np.array([g for _, g in cands], dtype=np.int64)
    C = column(ids)
    norms = np.maximum(np.linalg.norm(C, axis=0), 1e-300)
    exact = (r @ C) / norms
    # scores that round alike at TIE_DIGITS decimals of their ratio to the best are
    # ties (mirror points of a symmetric mesh score equally in exact arithmetic),
    # broken by the smallest id: round-off no longer decides between them, except for
    # two scores on either side of a rounding boundary
    scale = np.abs(exact).max()
    ranked = np.round(exact / scale, TIE_DIGITS) if scale > 0 else exact
    order = np.lexsort((ids, -ranked))
    stop = np.flatnonzero(~(exact[order] > 0))  # the first candidate that does not help
    order = order[:stop[0]] if stop.size else order
    units = C[:, order] / norms[order]
    cosines = np.zeros((0, 0))  # of the first candidates, in ranking order
    out, accepted = [], []
    for a, j in enumerate(order):
        if a >= len(cosines):  # those of the next candidates, by blocks
            L = min(len(order), max(2 * block, 2 * a))
            cosines = np.abs(units[:, :L].T @ units[:, :L])
        if accepted and cosines[a, accepted].max() >= 0.9:
            continue
        accepted.append(a)
        out.append((int(ids[j]), C[:, j]))
        if len(out) == block:
            break
    return out


def _slices(n, size):
    return [slice(i, min(i + size, n)) for i in range(0, n, size)] or [slice(0, 0)]


class FactoredStresses:
    """Stress fields kept factored, ``sigma_s = (P T)_s`` at the local quadrature
    points: ``P (6 n_qp_local, m)``, rows ``6 q + component`` (e.g. the columns of a
    Gappy basis of the stresses kept as ``P W``, :class:`rom.pod.FactoredBasis`),
    ``T (m, S)`` (``W`` times the singular values); ``euclid`` the Euclidean Gram matrix
    ``P^T P`` summed over the ranks. :func:`stress_cubature` then never forms the
    fields: its passes mix ``P`` once by ``T`` and its own change of snapshot index."""

    def __init__(self, P, T, euclid):
        self.P, self.T = P, np.asarray(T, dtype=float)
        self.euclid = np.asarray(euclid, dtype=float)
        m = P.shape[1]
        if self.T.shape[0] != m or self.euclid.shape != (m, m) or P.shape[0] % 6:
            raise RomError(f"FactoredStresses: P {P.shape}, T {self.T.shape}, P^T P "
                           f"{self.euclid.shape} do not fit (P: 6 rows per point)")

    def __len__(self):
        return self.T.shape[1]

    @property
    def n_points(self):
        return self.P.shape[0] // 6

    def rows(self, sel):
        """``P`` at local points ``sel`` (a slice: a view), ``(6 len(sel), m)``."""
        if isinstance(sel, slice):
            return self.P[6 * sel.start:6 * sel.stop]
        sel = np.asarray(sel, dtype=np.int64)
        return self.P[(6 * sel[:, None] + np.arange(6)).ravel()]

    def mixed(self, A, sel):
        """``(k, len(sel), 6)`` values at ``sel`` of the fields ``(P T) A^T`` (``A (k, S)``;
        ``A`` None: the fields themselves)."""
        TA = self.T if A is None else self.T @ A.T
        Y = self.rows(sel) @ TA
        return Y.reshape(-1, 6, TA.shape[1]).transpose(2, 0, 1)

    def materialized(self):
        """The fields as a list of ``(n_qp_local, 6)`` arrays."""
        return list(self.mixed(None, slice(0, self.n_points)))


def _stack(stresses, sel):
    """``(S, len(sel), 6)`` values of the stress fields at local points ``sel`` (a
    view when they are one array and ``sel`` a slice)."""
    if isinstance(stresses, FactoredStresses):
        return stresses.mixed(None, sel)
    if isinstance(stresses, np.ndarray):
        return stresses[:, sel]
    return np.stack([np.asarray(f)[sel] for f in stresses])


def _integrand(sig, E, transposed=False):
    """``G[(j, i), q] = sig_j(q) : E_i(q)``: ``sig (S, n, 6)``, ``E (n, 6, N)`` ->
    ``(S N, n)`` (row ``j N + i``); ``transposed``: ``G^T (n, S N)``, the product's own
    layout (no copy)."""
    (S, n, _), N = sig.shape, E.shape[2]
    GT = np.matmul(sig.transpose(1, 0, 2), E)  # (n, S, N)
    if transposed:
        return GT.reshape(n, S * N)
    return GT.transpose(1, 2, 0).reshape(S * N, n)


def _top_eigvecs(C, tol):
    """Eigenvectors of the symmetric ``C`` whose eigenvalues exceed ``tol**2`` times the
    largest, largest first."""
    lam, V = np.linalg.eigh(0.5 * (C + C.T))
    order = np.argsort(lam)[::-1]
    lam, V = lam[order], V[:, order]
    if not lam.size or lam[0] <= 0:
        return V[:, :0], lam[:0]
    keep = lam > tol ** 2 * lam[0]
    return V[:, keep], lam[keep]


# integrals below this fraction of their bound: self-equilibrated integrands
EQUILIBRATED = 1e-3


def stress_cubature(stresses, E, w, qp_ids, comm, tol=1e-6, warm_start=None, block=32,
                    chunk=4096, stress_tol=None, row_tol=None, method="ecm",
                    compress_rows=True, row_sample=4, warm_weights=None, stiffness=None):
    """Collective. Empirical cubature of the integrands of stress fields and mode
    strains, ``G[(s, i), q] = sigma_s(x_q) : E_i(x_q)``, without holding ``G`` whole.

    0. *Self-equilibrated stresses.* When the integrals ``b = G w`` are below
       ``EQUILIBRATED`` times their bound ``sqrt(sum_r int G_r^2 |Omega|)`` (stresses in
       equilibrium without external forces: thermal stresses of a body on isostatic or
       clamped supports), a tolerance relative to ``|b|`` cannot be met and every
       quadrature that integrates the stresses to zero (e.g. one point where they
       vanish) is "exact". With ``stiffness`` (``(6, 6)`` Mandel, the elastic stiffness
       at the reference temperature) the modes' elastic stresses ``C : E_j``, each
       scaled to the root mean square norm of the stress fields, then join the stress
       fields: the cubature also integrates the reduced elastic stiffness
       ``int E_j : C : E_i``, which does not vanish.

    1. *Stress modes.* An orthogonal change of the snapshot index (the eigenvectors
       ``V`` of the Euclidean Gram matrix of the stress fields) leaves ``G^T G``, hence
       every ``||G x||``, unchanged; modes whose singular value is below ``stress_tol``
       times the largest are dropped (default ``0.1 tol``).
    2. *Rows.* The Gram matrix of the rows of that ``G'`` is accumulated by chunks of
       points, over every ``row_sample``-th point (default 4: a uniform subsample,
       a quarter of the cost, when the points sampled outnumber the ``S' N`` rows ten
       times; otherwise over every point); its eigenvectors ``U`` above
       ``row_tol`` (default ``0.1 tol``) are an orthonormal row basis, and
       ``Z = U^T G'`` (every point) holds the integrals within the dropped singular
       values (the Hernandez et al. ECM works on these left singular vectors of the
       integrand matrix).
    3. *Pursuit* (:func:`_pursuit`, ``block`` points per iteration): ``Z``, stored in
       single precision, shortlists the candidates by their scores against the
       residual projected on the compressed rows; everything else (the exact scores
       that rank the shortlist, the non-negative least squares, the residual) uses the
       exact columns of ``G`` itself, every row, gathered for the few points concerned.
       The compressions only guide the search: the residual reached and reported is
       that of ``G``, and the choice does not depend on the number of ranks beyond
       round-off.

    With ``method="nnls"`` step 3 is instead one non-negative least squares over every
    point on the compressed rows, ``min ||Z omega - Z w||, omega >= 0`` (Lawson-Hanson,
    :func:`scipy.optimize.nnls`, run to optimality without tolerance: the ECSW of
    Farhat et al. without its early stop), whose weights are then refitted on the exact
    columns. ``Z`` is gathered on every rank (small and medium problems).

    Parameters
    ----------
    stresses : sequence of ``(n_qp_local, 6)`` arrays (Mandel), or ``(S, n_qp_local, 6)``,
        or :class:`FactoredStresses` (the fields never formed: ``Cs`` and ``b`` from the
        factors, and ``|G|^2`` for step 0 from the norms of ``Z``'s columns, i.e. over
        the stress modes and rows kept, in single precision: the ``integral_ratio``
        then an estimate, to compare with ``EQUILIBRATED``)
    E : ndarray (n_qp_local, 6, N)
        Mode strains at this rank's points.
    w, qp_ids, tol, warm_start : as :func:`empirical_cubature`
    warm_weights : the weights of the ``warm_start`` points (a previous reduced
        quadrature of similar integrands), where the first non-negative least squares
        starts (:func:`_pursuit`)
    chunk : int
        Points per block of the passes over the integrand (bounds its memory).
    compress_rows : bool
        Step 2; without it ``Z`` holds every row of ``G'`` (one pass over the
        integrand instead of two: cheaper for a warm-started pursuit of a few
        iterations, as in the adaptive enrichment).

    Returns
    -------
    ECMResult; ``diagnostics``: ``stress_modes`` kept, ``rows`` (compressed),
    ``rows_full`` (of ``G``), ``integral_ratio`` (``|b|`` over its bound),
    ``mode_stresses`` (the number of mode stress fields added by step 0).
    """
    if method not in ("ecm", "nnls"):
        raise RomError(f"unknown reduced quadrature method '{method}' (ecm or nnls)")
    w = np.asarray(w, dtype=float)
    qp_ids = np.asarray(qp_ids, dtype=np.int64)
    n, N = len(w), E.shape[2]
    S = len(stresses)
    factored = isinstance(stresses, FactoredStresses)
    if (E.shape[0] != n or len(qp_ids) != n
            or (stresses.P.shape[0] != 6 * n if factored
                else any(np.shape(f) != (n, 6) for f in stresses))):
        raise RomError(f"ECM: inconsistent sizes: {S} stress fields, strains {E.shape}, "
                       f"weights {w.shape}, ids {qp_ids.shape}")
    stress_tol = 0.1 * tol if stress_tol is None else stress_tol
    row_tol = 0.1 * tol if row_tol is None else row_tol
    slices = _slices(n, chunk)
    # 1. stress modes, the exact integrals b of every row of G, and the squared
    # w-norm of G (sum over rows of int G_r^2; of factored stresses, from the pass over
    # the integrand below: the fields are never formed)
    Cs, b_all, g2 = np.zeros((S, S)), np.zeros(S * N), 0.0
    if factored:  # Cs = T^T (P^T P) T, b = T^T (P^T E w)
        T = stresses.T
        Cs = T.T @ stresses.euclid @ T
        bP = np.zeros((T.shape[0], N))
        for sl in slices:
            bP += stresses.rows(sl).T @ (E[sl] * w[sl, None, None]).reshape(-1, N)
        b_all = (T.T @ comm.allreduce(bP)).ravel()
    else:
        for sl in slices:
            Xs = _stack(stresses, sl)
            X = Xs.reshape(S, -1)
            b_all += (X @ (E[sl] * w[sl, None, None]).reshape(-1, N)).ravel()
            Cs += X @ X.T
            M = np.matmul(E[sl], E[sl].transpose(0, 2, 1))  # (n, 6, 6): sum_i E_i E_i^T
            g2 += float(np.einsum("sqk,sqk,q->", np.einsum("sqk,qkl->sql", Xs, M), Xs,
                                  w[sl]))
        Cs, b_all = comm.allreduce(Cs), comm.allreduce(b_all)
        g2 = comm.allreduce(g2)
    volume = comm.allreduce(float(w.sum()))
    if not np.all(np.isfinite(Cs)):
        raise RomError("ECM: stress fields contain NaN or inf")
    if (factored and stiffness is not None and np.linalg.norm(b_all) == 0
            and np.trace(Cs) > 0):  # (degenerate: decided before any pass, as the fields)
        return stress_cubature(stresses.materialized(), E, w, qp_ids, comm, tol=tol,
                               warm_start=warm_start, block=block, chunk=chunk,
                               stress_tol=stress_tol, row_tol=row_tol, method=method,
                               compress_rows=compress_rows, row_sample=row_sample,
                               warm_weights=warm_weights, stiffness=stiffness)
    V, _ = _top_eigvecs(Cs, stress_tol)
    Vt = np.ascontiguousarray(V.T)

    def rows_at(sel, transposed=False):  # G' at local points sel: (S' N, len(sel)),
        # or its transpose (len(sel), S' N)
        if factored:  # (P T V) at sel, one product
            return _integrand(stresses.mixed(Vt, sel), E[sel], transposed)
        sig = (Vt @ _stack(stresses, sel).reshape(S, -1)).reshape(len(Vt), -1, 6)
        return _integrand(sig, E[sel], transposed)

    def equilibrated(g2):
        """The integral ratio, and the cubature with the modes' elastic stresses when
        the stresses are self-equilibrated (module docstring; None otherwise)."""
        scale = np.sqrt(g2 * volume)  # |b| <= scale, row by row (Cauchy-Schwarz)
        ratio = float(np.linalg.norm(b_all) / scale) if scale > 0 else 0.0
        if stiffness is None or not scale > 0 or ratio >= EQUILIBRATED:
            return ratio, None
        rms = np.sqrt(np.trace(Cs) / S)  # of the stress fields, Euclidean
        modes = np.einsum("kl,qln->nqk", np.asarray(stiffness, dtype=float), E)
        norms_m = np.sqrt(comm.allreduce(np.einsum("nqk,nqk->n", modes, modes)))
        modes *= (rms / np.where(norms_m > 0, norms_m, 1.0))[:, None, None]
        fields = stresses.materialized() if factored else list(stresses)
        res = stress_cubature(fields + list(modes), E, w, qp_ids, comm, tol=tol,
                              warm_start=warm_start, block=block, chunk=chunk,
                              stress_tol=stress_tol, row_tol=row_tol, method=method,
                              compress_rows=compress_rows, row_sample=row_sample,
                              warm_weights=warm_weights)
        res.diagnostics.update(integral_ratio=ratio, mode_stresses=N)
        return ratio, res

    if not factored:
        ratio, res = equilibrated(g2)
        if res is not None:
            return res
    diagnostics = {"integral_ratio": None if factored else ratio, "mode_stresses": 0}

    # 2. row basis of G'
    m = len(Vt) * N
    if np.linalg.norm(b_all) == 0:
        diagnostics.update(stress_modes=len(Vt), rows=0, rows_full=S * N)
        return ECMResult(np.zeros(0, np.int64), np.zeros(0), 0.0, 0, diagnostics)
    if compress_rows:
        C = np.zeros((m, m))
        # every row_sample-th point: enough for the row space (not the integrals) when
        # the points sampled outnumber the rows many times over
        stride = row_sample if comm.allreduce(n) >= 10 * row_sample * m else 1
        for sl in slices:
            Gc = rows_at(np.arange(sl.start, sl.stop, stride))
            C += Gc @ Gc.T
        C = comm.allreduce(C)
        U, lam = _top_eigvecs(C, row_tol)
        Ut = np.ascontiguousarray(U.T)
        row_scale = np.sqrt(lam)  # the rows' norms in Z, up to one factor
    else:
        Ut, row_scale = None, None
    # Z only guides the search: computed in single precision. Every row of G': stored
    # point by point (Z^T in C order, written from the integrand's own (point, row)
    # layout without a transposing copy; the scores then read every row). Compressed
    # rows: row by row, so that scores on the leading rows only (_leading_rows) read
    # those rows only.
    norms = np.empty(n)
    if Ut is None:
        ZT = np.empty((n, m), dtype=np.float32)
        for sl in slices:
            ZT[sl] = rows_at(sl, transposed=True)
            norms[sl] = np.linalg.norm(ZT[sl], axis=1)
        Z = ZT.T
    else:
        Z = np.empty((len(Ut), n), dtype=np.float32)
        Ut32 = Ut.astype(np.float32)
        for sl in slices:
            Zc = Ut32 @ rows_at(sl).astype(np.float32)
            Z[:, sl] = Zc
            norms[sl] = np.linalg.norm(Zc, axis=0)
    if factored:  # g2 from the columns' norms: within the stress modes and rows left
        # out (below 0.1 tol) and single precision, enough to compare with EQUILIBRATED
        ratio, res = equilibrated(comm.allreduce(float(w @ norms ** 2)))
        diagnostics["integral_ratio"] = ratio
        if res is not None:
            return res
    if Ut is None:
        Ut = np.eye(m)
    gather = _Columns(qp_ids, comm)

    # the scores of the pursuit in compressed rows: r (every row of G) -> U^T (V^T x I) r
    P = (Ut.reshape(len(Ut), len(Vt), N).transpose(0, 2, 1) @ Vt).transpose(0, 2, 1).reshape(
        len(Ut), S * N)

    def exact(sel):  # every row of G at local points sel
        return _integrand(_stack(stresses, sel), E[sel])

    if method == "nnls":
        res = _compressed_nnls(Z, qp_ids, P @ b_all, b_all,
                               lambda ids: gather(ids, exact, S * N), comm)
    else:
        res = _pursuit(Z, norms, lambda ids: gather(ids, exact, S * N), b_all,
                       np.linalg.norm(b_all), qp_ids, comm, tol, warm_start, block=block,
                       project=lambda r: P @ r, row_scale=row_scale,
                       warm_weights=warm_weights)
    diagnostics.update(stress_modes=len(Vt), rows=len(Ut), rows_full=S * N)
    res.diagnostics = diagnostics
    return res


def _compressed_nnls(Z, qp_ids, z_b, b, column, comm):
    """Collective. ``min ||Z omega - z_b||, omega >= 0`` over every point (``Z``
    gathered in the order of the global ids), the weights then refitted on the exact
    columns (``column``) against ``b``; the residual reported is the exact one."""


    import scipy.optimize

    ids, Zall = _all_columns(comm, qp_ids, Z)
    omega, _ = scipy.optimize.nnls(Zall, z_b, maxiter=10 * Zall.shape[1])
    del Zall
    keep = omega > 0
    points, omega = ids[keep], omega[keep]
    cols = column(points)
    omega = _nonnegative_lsq(cols, b, omega)
    keep = omega > 0
    nb = np.linalg.norm(b)
    res = np.linalg.norm(cols[:, keep] @ omega[keep] - b) / nb if nb > 0 else 0.0
    return ECMResult(points[keep], omega[keep], float(res), int(keep.sum()))


def _leading_columns(R):
    """The square ``R`` (a view of the leading block of a Fortran-ordered buffer with
    more rows, e.g. a factor after column deletions in place) as the leading columns of
    that buffer, full height, ``(lda, n)``: Fortran-contiguous, what LAPACK reads
    with its leading dimension ``lda`` and no copy. ``R`` itself when it is
    contiguous; a copy when it is not a view of that kind."""
    n = R.shape[1]
    if R.flags.f_contiguous or n == 0:
        return R
    lda = R.strides[1] // R.itemsize
    if R.strides[0] != R.itemsize or R.strides[1] % R.itemsize or lda < R.shape[0]:
        return np.asfortranarray(R)
    owner = R
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    start = R.__array_interface__["data"][0]
    low, high = np.byte_bounds(owner)
    if start < low or start + lda * n * R.itemsize > high:  # (not a leading block)
        return np.asfortranarray(R)
    return np.lib.stride_tricks.as_strided(R, shape=(lda, n), strides=R.strides,
                                           writeable=False)


def _solve_upper(R, rhs):
    """``R[:n, :n]^-1 rhs`` for the upper triangle of ``R (lda, n)`` (Fortran order,
    read with its leading dimension ``lda >= n``: no copy)."""
    import scipy.linalg

    x, info = scipy.linalg.lapack.dtrtrs(R, rhs)
    if info:
        raise np.linalg.LinAlgError(f"singular triangular factor (info {info})")
    return x


class _ColumnQR:
    """Economic QR factorization ``Q R`` of a matrix whose columns come and go (the
    selected columns of the pursuit): a column enters by classical Gram-Schmidt done
    twice (``O(m k)``), unless its part orthogonal to ``Q`` is below ``DEPENDENT`` of
    its norm (numerically in the span: refused); a column leaves by Givens rotations
    (:func:`scipy.linalg.qr_delete`, ``O(m k)``). A least squares on the columns is
    then one triangular solve. ``Q`` is the leading columns of a Fortran-ordered
    buffer with spare columns (doubled when full): a column enters without copying
    the others."""

    DEPENDENT = 1e-10

    def __init__(self, m):
        # Fortran order: qr_delete then works in place (a C-ordered Q is copied at
        # every call, which was 90 % of its cost)
        self._buf = np.zeros((m, 16), order="F")
        self.k = 0
        self.R = np.zeros((0, 0), order="F")
        self._session = None  # (see session)

    @property
    def Q(self):
        return self._buf[:, :self.k]

    def _set_Q(self, Q):
        """``Q`` (m, k) becomes the factor (copied into the buffer unless it is its
        leading columns already)."""
        k = Q.shape[1]
        if not (Q.ctypes.data == self._buf.ctypes.data
                and Q.strides == self._buf[:, :k].strides):
            if k > self._buf.shape[1]:
                self._buf = np.zeros((self._buf.shape[0], k), order="F")
            self._buf[:, :k] = Q
        self.k = k

    def _push(self, V):
        """Appends the orthonormal columns ``V (m, p)`` to ``Q`` (``k + p <= m``)."""
        (m, cap), k, p = self._buf.shape, self.k, V.shape[1]
        if k + p > cap:
            buf = np.zeros((m, max(min(2 * cap, m), k + p)), order="F")
            buf[:, :k] = self._buf[:, :k]
            self._buf = buf
        self._buf[:, k:k + p] = V
        self.k = k + p

    BLOCK = 16  # from this many columns at once, a block factorization first

    def append(self, C):
        """Adds the columns of ``C (m, p)`` in order; returns the mask of those taken.
        Many columns at once (an ECM warm start: the previous points) are factorized
        as a block: Gram-Schmidt twice against ``Q`` and a Householder QR of the
        remainder (BLAS 3), kept when no column of the block is in the span of the
        others and of ``Q``; otherwise column by column."""
        if self._session is not None:
            raise RuntimeError("_ColumnQR.append within a least-squares session")
        C = np.asarray(C, dtype=float).reshape(self._buf.shape[0], -1)
        if C.shape[1] >= self.BLOCK and C.shape[1] + self.k <= C.shape[0]:
            Q = self.Q
            H = Q.T @ C
            V = C - Q @ H
            H2 = Q.T @ V
            V -= Q @ H2
            Qv, Rv = np.linalg.qr(V)
            norms = np.linalg.norm(C, axis=0)
            if np.all(np.abs(np.diag(Rv)) > self.DEPENDENT * norms) and np.all(norms > 0):
                k, p = self.k, C.shape[1]
                R = np.zeros((k + p, k + p), order="F")
                R[:k, :k], R[:k, k:], R[k:, k:] = self.R, H + H2, Rv
                self._push(Qv)
                self.R = R
                return np.ones(p, dtype=bool)
        keep = np.zeros(C.shape[1], dtype=bool)
        for j in range(C.shape[1]):
            c = C[:, j]
            nc = np.linalg.norm(c)
            Q = self.Q
            h = Q.T @ c
            v = c - Q @ h
            h2 = Q.T @ v
            v -= Q @ h2
            rho = np.linalg.norm(v)
            if not nc > 0 or rho <= self.DEPENDENT * nc:
                continue
            keep[j] = True
            k = self.k
            R2 = np.zeros((k + 1, k + 1), order="F")
            R2[:k, :k], R2[:k, k], R2[k, k] = self.R, h + h2, rho
            self._push((v / rho)[:, None])
            self.R = R2
        return keep

    def delete(self, keep):
        """Removes the columns where the mask ``keep`` is False: one Givens sweep per
        column (:func:`scipy.linalg.qr_delete`), or, for many columns at once (more
        than a tenth), the QR of the small ``R[:, keep] = Q_r R'`` (``Q <- Q Q_r``);
        within a :meth:`session` that has moved to the small system, Givens sweeps of
        its factors."""
        import scipy.linalg

        keep = np.asarray(keep, dtype=bool)
        s, leaving = self._session, np.count_nonzero(~keep)
        block = leaving > max(8, len(keep) // 10)  # else O(k^3) > Givens
        if s is not None:
            s[1] += leaving
            if s[2] is None and s[1] > self.SMALL_AFTER and not block:  # to the small system
                k = self.k
                Ra = np.empty((k, k + 1), order="F")
                Ra[:, :k], Ra[:, k] = self.R, self.Q.T @ s[0]
                s[2] = (np.eye(k, order="F"), Ra)
                s[3] = k
            if s[2] is not None:
                for j in np.flatnonzero(~keep)[::-1]:  # full factorizations, in place
                    Qs, Ra = s[2]
                    # (kept at every column: an interruption leaves a consistent state)
                    s[2] = scipy.linalg.qr_delete(Qs, Ra, int(j), 1, "col",
                                                  overwrite_qr=True, check_finite=False)
                    s[3] = min(s[3], int(j))
                return
        if block:
            Qr, R = np.linalg.qr(self.R[:, keep])
            # Q Qr = (Qr^T Q^T)^T: the product of the C-ordered transposes, read in
            # Fortran order without a copy
            self._set_Q((Qr.T @ self.Q.T).T)
            self.R = np.asfortranarray(R)
            return
        for j in np.flatnonzero(~keep)[::-1]:
            # in place on the Fortran-ordered factors (Q: the buffer's leading columns;
            # R: the leading block of its first buffer, whose column stride it keeps:
            # qr_delete works on it in place, the triangular solves see it through
            # _leading_columns, and no k^2 copy is made per deletion: 4.3 ms per
            # deletion instead of 12.9 at 3,699 x 1,900 in a scratch timing)
            Q, R = scipy.linalg.qr_delete(self.Q, self.R, int(j), 1, "col",
                                          overwrite_qr=True, check_finite=False)
            k = R.shape[1]  # a square Q is taken as a full factorization: economize
            self._set_Q(Q[:, :k])
            self.R = R[:k]

    def lstsq(self, b):
        """Least squares of ``b`` on the columns: one triangular solve."""
        s = self._session
        if s is not None and s[2] is not None:
            if b is not s[0]:
                raise RuntimeError("_ColumnQR.lstsq of another target within a session")
            Ra = s[2][1]
            n = Ra.shape[1] - 1
            if n == 0:
                return np.zeros(0)
            # R' and d in place: the leading columns of the Fortran-ordered Ra (no copy)
            return _solve_upper(Ra[:, :n], Ra[:n, n])
        if self.k == 0:
            return np.zeros(0)
        return _solve_upper(_leading_columns(self.R), self.Q.T @ b)

    # columns deleted one by one in a session before it moves to the small system: about
    # where a session of the small system from its start becomes the cheaper (``python
    # bench/qr_session.py``, with the deletions on the tall factor in place: between 30
    # and 100 deletions for factors of 936 x 700, 4,000 x 800 and 2,000 x 1,000, between
    # 100 and 300 for 3,699 x 1,900), so that a session never costs much more than the
    # cheaper of the two ways. At 8 (before), the enrichments of the blade's many-query
    # study (1,800 to 2,000 points) paid the product Q Q_s, 0.45 s, for sessions of 10
    # to 40 deletions
    SMALL_AFTER = 64

    @contextlib.contextmanager
    def session(self, b):
        """Least squares of ``b`` on shrinking subsets of the columns (the non-negative
        least squares of a pursuit iteration), within the block. After
        ``SMALL_AFTER`` deleted columns (a batch of many at once takes the block path of
        :meth:`delete` first) the factorization moves to the small system
        ``[R  Q^T b] = Q_s [R'  d]`` (``Q_s`` ``k x k``, a full factorization): a column
        then leaves by Givens rotations of ``k x k`` factors in place, a least squares
        is one triangular solve on ``R'`` and ``d``, without copies, and ``Q`` (``m x
        k``) becomes ``Q Q_s`` once, at the end (a warm start's first least squares
        drops hundreds of points one at a time). No column enters within the block, and ``Q``, ``R``
        and ``k`` are those of before the move until its end."""
        if self._session is not None:
            raise RuntimeError("_ColumnQR.session within a session")
        # [target, columns deleted, small system or None, first column it changed]
        self._session = [b, 0, None, None]
        try:
            yield
        finally:
            (_, _, small, j0), self._session = self._session, None
            if small is not None:
                Qs, Ra = small
                n = Ra.shape[1] - 1
                # the rotations of a deletion at column j leave Q_s the identity on its
                # first j rows and columns: Q's first j0 columns stay as they are
                j0 = min(j0, n)
                Q = self.Q
                Q[:, j0:n] = Q[:, j0:] @ Qs[j0:, j0:n]
                self.k = n
                self.R = np.asfortranarray(Ra[:n, :n])


def _nonnegative_lsq(A, b, x0=None, qr=None):
    """Non-negative weights ``x >= 0`` fitting ``A x ~ b``: the inner loop of the
    Lawson-Hanson NNLS started from the feasible ``x0`` (the previous pursuit
    iteration's weights, 0 for the points just added). The least squares on the
    active points; if some weights are negative, the points just added with a
    negative weight leave, or else the step from ``x0`` stops where the first weight
    reaches 0 and that point leaves; repeat. Exact (the plain least squares) when it
    is non-negative, the usual case; a few solves otherwise.

    With ``qr``, a :class:`_ColumnQR` of ``A``, each least squares is a triangular
    solve, and a point leaving the active set leaves the factorization (Givens
    rotations, :meth:`_ColumnQR.session`): on return ``qr`` factorizes the columns
    with a positive weight."""
    x = np.zeros(A.shape[1]) if x0 is None else np.asarray(x0, dtype=float).copy()
    with qr.session(b) if qr is not None else contextlib.nullcontext():
        return _lawson_hanson(A, b, x, qr)


def _lawson_hanson(A, b, x, qr):
    """The loop of :func:`_nonnegative_lsq` from the feasible ``x``."""
    import scipy.linalg

    n = A.shape[1]
    active = np.ones(n, dtype=bool)

    def deactivate(leave):
        nonlocal active
        if qr is not None and leave.any():
            qr.delete(~leave[active])  # a mask over the factorized (active) columns
        active = active & ~leave

    while active.any():
        z = np.zeros(n)
        if qr is not None:
            z[active] = qr.lstsq(b)
        else:
            z[active] = scipy.linalg.lstsq(A[:, active], b, lapack_driver="gelsy",
                                           check_finite=False)[0]
        neg = active & (z < 0)
        if not neg.any():
            deactivate(active & (z <= 0))  # an exact zero weight: the point leaves too
            return z
        fresh = neg & (x <= 0)
        if fresh.any():
            deactivate(fresh)
            continue
        alpha = np.min(x[neg] / (x[neg] - z[neg]))
        x = x + alpha * (z - x)
        deactivate(active & ~(x > 1e-14 * max(np.abs(x).max(), 1e-300)))
        x[~active] = 0.0
    return np.zeros(n)


def _all_columns(comm, qp_ids, M):
    """Collective. ``(ids, M_all)``: the columns of the row-distributed ``M`` of every
    rank, in double precision, in the order of their global ids, on every rank."""
    parts = comm.allgather((qp_ids, M))
    ids = np.concatenate([p[0] for p in parts])
    M_all = np.hstack([np.asarray(p[1], dtype=float) for p in parts])
    order = np.argsort(ids)
    return ids[order], M_all[:, order]


def _ecm_nnls(G, qp_ids, b, nb, comm):


    import scipy.optimize

    ids, Gall = _all_columns(comm, qp_ids, G)
    omega, _ = scipy.optimize.nnls(Gall, b, maxiter=20 * Gall.shape[1])
    keep = omega > 0
    res = np.linalg.norm(Gall[:, keep] @ omega[keep] - b) / nb
    return ECMResult(ids[keep], omega[keep], float(res), int(keep.sum()))


# --- Gappy-POD ---------------------------------------------------------------------------

def qdeim_rows(Psi, row_ids, comm, n_points=None, start=None, batch=256):
    """Collective. Q-DEIM selection of rows of the row-distributed basis
    ``Psi (n_rows_local, k)``: the pivots of ``qr(Psi^T, pivoting=True)``, as a
    column-pivoted Gram-Schmidt on ``Psi^T``. Returns global ids of ``n_points``
    (default ``k``) rows, in selection order.

    The rows are never deflated in place: with ``Q`` the orthonormal pivot directions
    chosen so far (in ``R^k``), the squared norm of a deflated row is
    ``||Psi_i||^2 - ||Psi_i Q||^2``. It only decreases as ``Q`` grows, so a value
    computed earlier bounds it from above, and the pivot is found lazily: the
    ``batch`` rows of largest bound are evaluated anew (``Psi_i Q``), then every row
    whose bound exceeds the best value found over all ranks; the best is then the
    pivot. Rows whose deflated norm has fallen well below the pivots' are not
    evaluated again: no product with the whole basis per pivot. The pivot row is
    orthogonalized against ``Q`` twice (classical Gram-Schmidt with
    re-orthogonalization).

    ``start``: global ids of rows taken first (e.g. the rows of a previous basis that
    was enriched); their span is the first block of ``Q`` and the greedy selection
    continues from them, which costs a few pivots instead of ``k``.

    ``Psi`` may be a :class:`rom.pod.FactoredBasis` ``P W``: its rows are evaluated
    as ``P_i (W Q)``, and the squared norms ``||P_i W||^2`` are those of ``P_i`` (``W``
    square, orthogonal) or bounded by them and computed where evaluated."""
    from rom.pod import FactoredBasis

    if not isinstance(Psi, FactoredBasis):
        Psi = np.asarray(Psi, dtype=float)
    row_ids = np.asarray(row_ids, dtype=np.int64)
    k = Psi.shape[1]
    n_points = k if n_points is None else n_points
    chosen = []
    taken = np.zeros(len(Psi), dtype=bool)
    Q = np.zeros((k, 0))
    start = [int(g) for g in (start if start is not None else [])][:max(n_points - 1, 0)]
    if start:
        idx = np.flatnonzero(np.isin(row_ids, start))
        mine = [(int(row_ids[i]), Psi[i].copy()) for i in idx]
        found = dict(x for part in comm.allgather(mine) for x in part)
        rows = np.array([found[g] for g in start if g in found])
        Qs, R = np.linalg.qr(rows.T, mode="complete")  # Qs[:, :j]: the start rows' span
        d = np.abs(np.diag(R))
        keep = d > 1e-12 * max(d.max(initial=0.0), 1e-300)
        Q = Qs[:, :len(rows)][:, keep]
        taken |= np.isin(row_ids, start)
        chosen = [g for g in start if g in found]
        # (decided on rank 0: every rank factorized the same rows, but a borderline
        # rank test must not send the ranks down different collective paths)
        if comm.bcast(Q.shape[1] == k - 1 and n_points - len(chosen) == 1 and keep.all(),
                      root=0):
            # one row to add, the start rows spanning all but one direction z of R^k
            # (an enriched basis): the deflated row i is (Psi_i . z) z, so the pivot is
            # the largest |Psi_i . z|, one product with the basis (DEIM's step)
            z = Qs[:, k - 1]
            score = (Psi @ z) ** 2
            score[taken] = -np.inf
            i = int(np.argmax(score)) if len(score) else -1
            best, gid = _global_best(comm, *((score[i], row_ids[i]) if i >= 0
                                             else (-np.inf, -1)))
            return np.asarray(chosen + ([int(gid)] if best > 0 else []), dtype=np.int64)
    factored = isinstance(Psi, FactoredBasis)
    raw = Psi.P if factored else Psi
    full = np.einsum("ij,ij->i", raw, raw)  # squared norms of the rows (of P: bounds)
    bound = full.copy()  # upper bounds of the deflated squared norms
    level = np.zeros(len(Psi), dtype=np.int64)  # the bound is exact for Q[:, :level]
    if start or (factored and Psi.W.shape[0] != Psi.W.shape[1]):
        # bounds only: not exact for the start block, nor for ||P_i|| >= ||P_i W||
        level[:] = -1
    for _ in range(min(n_points, comm.allreduce(len(Psi))) - len(chosen)):
        j = Q.shape[1]

        # 1. the rows of largest bounds; 2. every other row whose bound exceeds the best
        # value found: then no bound exceeds the best exact value
        avail = np.flatnonzero(~taken)
        if len(avail) > batch:
            avail = avail[np.argpartition(-bound[avail], batch - 1)[:batch]]
        _deflated(Psi, Q, full, bound, level, avail[level[avail] != j])
        score, gid = _best_deflated(comm, bound, level, taken, row_ids, j)
        _deflated(Psi, Q, full, bound, level,
                  np.flatnonzero(~taken & (level != j) & (bound > score)))
        score, gid = _best_deflated(comm, bound, level, taken, row_ids, j)
        if score <= 0:
            break
        owner_row = Psi[row_ids == gid][0] if np.any(row_ids == gid) else None
        v = [r for r in comm.allgather(owner_row) if r is not None][0]
        for _ in range(2):
            v = v - Q @ (Q.T @ v)
        nv = np.linalg.norm(v)
        if nv == 0:
            break
        Q = np.column_stack([Q, v / nv])
        taken |= row_ids == gid
        chosen.append(int(gid))
    return np.asarray(chosen, dtype=np.int64)


def _deflated(Psi, Q, full, bound, level, rows, block=1 << 15):
    """The exact deflated squared norms ``||Psi_i||^2 - ||Psi_i Q||^2`` of the rows
    ``rows`` into ``bound``, their ``level`` set to the number of columns of ``Q``
    (``Psi`` factored, :class:`rom.pod.FactoredBasis`: ``P_i (W Q)``; with ``W`` not
    square, ``full[i]``, a bound, is made exact)."""
    from rom.pod import FactoredBasis

    factored = isinstance(Psi, FactoredBasis)
    square = factored and Psi.W.shape[0] == Psi.W.shape[1]
    WQ = Psi.W @ Q if square else None
    for c in range(0, len(rows), block):
        r = rows[c:c + block]
        if square:
            PQ = Psi.P[r] @ WQ
        else:
            Y = Psi[r]
            if factored:
                full[r] = np.einsum("ij,ij->i", Y, Y)
            PQ = Y @ Q
        bound[r] = full[r] - np.einsum("ij,ij->i", PQ, PQ)
        level[r] = Q.shape[1]


def _best_deflated(comm, bound, level, taken, row_ids, j):
    """Collective. ``(value, global id)`` of the largest exact (``level == j``) deflated
    norm of the rows not taken, over all ranks."""
    exact = ~taken & (level == j)
    i = int(np.argmax(np.where(exact, bound, -np.inf))) if exact.any() else -1
    return _global_best(comm, *((bound[i], row_ids[i]) if i >= 0 else (-np.inf, -1)))


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


    import scipy.linalg

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
