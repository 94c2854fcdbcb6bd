"""Local reduced bases: dissimilarities, k-medoids and the a priori criterion (DESIGN
section 7). Numerics only, no I/O.

The solution manifold is partitioned and one reduced basis is built per part
(piecewise-linear compression). What is clustered are *items*: whole trajectories
(row-distributed blocks of snapshots ``S_i (n_rows_local, k_i)``), single snapshots
(blocks of one column) or the loadings' temperature fields; the clustering only sees
a replicated dissimilarity matrix ``D (n_items, n_items)``.

Sine dissimilarity
------------------
In the inner product ``<u, v>_M = u^T M v`` (``product`` as :func:`rom.pod.gram`
takes it: ``None`` Euclidean, weights ``(n_rows_local,)`` or a collective callable)

    delta(u, v) = sqrt(1 - (<u, v>_M / (|u|_M |v|_M))^2) = |sin angle(u, v)|,

which depends on the lines spanned by ``u`` and ``v`` only (scale and sign
invariant); it is a metric on lines (the sine of the angle between lines, in
``[0, pi/2]``, is subadditive). The snapshots of one regime differ mostly by their
amplitude, which this dissimilarity ignores, unlike the Euclidean distance.
Convention for a zero column (no direction): ``delta(0, v) = 1`` for ``v != 0`` and
``delta(0, 0) = 0``. The cancellation in ``1 - cos^2`` limits the absolute accuracy
of small sines to about ``1e-8`` (``sqrt`` of the machine epsilon), enough to cluster.

Subspace dissimilarity between trajectories
-------------------------------------------
Each trajectory is replaced by its POD subspace (:func:`rom.pod.snapshot_pod`
truncated at ``eps``, modes ``Q_i`` orthonormal in ``M``, dimension ``N_i``). With the
singular values ``sigma_1 >= ... >= sigma_m`` (``m = min(N_i, N_j)``) of the cross Gram
matrix ``Q_i^T M Q_j``, the cosines of the principal angles,

    d(i, j) = sin theta_max = sqrt(1 - sigma_m^2),

the sine of the largest principal angle **of the smaller subspace into the larger
one** (the ``m`` angles :func:`scipy.linalg.subspace_angles` returns). It is
symmetric, 0 when the smaller subspace lies in the larger one, 1 when some direction
of the smaller one is orthogonal to the larger one. The Grassmann-type alternative
(the gap ``|P_i - P_j|``, the max over both directions) is 1 as soon as the
dimensions differ, which the truncation makes frequent for trajectories of one regime
(a smaller loading keeps fewer modes at the same ``eps``): too coarse to cluster. The
price: ``d`` is not a metric (two orthogonal lines are both at 0 from the plane they
span), which k-medoids does not need.

k-medoids
---------
PAM (Kaufman and Rousseeuw): choose ``k`` medoids among the items minimizing the
total dissimilarity ``sum_j min_m D[j, m]``; BUILD (greedy) then SWAP (the best
medoid/non-medoid exchange while it lowers the total), vectorized as in FastPAM1
(Schubert and Rousseeuw 2021): with ``d1, d2`` the distances of each item to its
nearest and second nearest medoid and ``E`` the one-hot cluster matrix, the change of
the total when medoid ``i`` is replaced by item ``h`` is

    Delta[i, h] = sum_j min(D[j, h] - d1[j], 0)
                  + sum_{j in C_i} (min(D[j, h], d2[j]) - d1[j] - min(D[j, h] - d1[j], 0)),

all pairs at once as ``a[None, :] + E^T B`` (``O(n^2 k)`` per swap). Written here
rather than the ``kmedoids`` package (FasterPAM): that package is GPL-3.0 and this
project MIT; the items (trajectories, loadings) are tens to a few thousands, where
PAM is fast.

A priori criterion
------------------
For a partition into clusters ``c`` of the trajectories, ``N_c`` is the POD dimension
of the union of the cluster's snapshots at the tolerance ``eps``
(:func:`rom.pod.truncation`, as :func:`rom.pod.snapshot_pod` counts it) and ``N_1`` the
global one (``k = 1``). A new loading falls into cluster ``c`` with probability
``w_c`` (the fraction of the training trajectories in ``c``); the expected cost of an
online step relative to the global ROM is

    cost(k) = sum_c w_c (N_c / N_1)^p.

With reduced points growing with ``N`` (ECM: about proportionally), the law is
evaluated at ``n_p ~ N`` points with ``B_q gamma`` (``n_p N``, so ``~ N^2``) and the
reduced tangent costs ``n_p N^2 ~ N^3``: ``p = 2`` (default) is the lower estimate.
The cost says nothing of accuracy: a cluster's basis, built from fewer trajectories,
may predict a new loading of its cluster worse than the global basis, whose other
trajectories also carry directions that loading needs. The criterion measures that
before any ROM is built, by leave-one-out: ``e_j`` is the relative error of the best
approximation of trajectory ``j``'s snapshots in the POD basis (at ``eps``) of the
other trajectories of its cluster, ``g_j`` the same in the global basis of all the
other trajectories (from the correlation matrix alone, :func:`leave_one_out_errors`;
in a cluster of more than 10 trajectories they are left out by 10 folds, which bounds
the eigendecompositions).
With ``E_c = max_{j in c} e_j``, ``G_c = max_{j in c} g_j`` and ``tau = eps`` (the
relative error the truncation leaves in the training snapshots themselves, below which
errors are not told apart), the generalization ratio of a partition is

    g(k) = max_c max(E_c, tau) / max(G_c, tau)

(1 for ``k = 1``; below 1 when the local bases generalize better; clusters of one
trajectory, which have no leave-one-out estimate, left out). Measured
(BENCHMARKS.md): the cube with a cold and a hot regime (``bench/local_bases.py``),
k = 2: 1.18, the local ROMs' held-out errors 0.81 and 0.95 times the global ROM's; the
blade's cold and take-off flights (``bench/blade_local.py``), k = 2: 4.22 (three cold
flights) and 2.85 (five), the cold member's held-out error 2.6 and 3.1 times the
global ROM's.

The recommended ``k`` is the smallest admissible one whose cost is within ``tol``
(5 %) of the minimum over admissible ``k``, and 1 when no admissible ``k > 1`` saves
``tol``; a ``k`` is admissible when every cluster has at least ``min_cluster_size``
(2) trajectories (a cluster of one trajectory is a ROM trained on one loading) and its
generalization ratio is at most ``1 + gen_tol`` (0.5: local ROMs may lose at most half
again the global basis's leave-one-out accuracy).
"""

from dataclasses import dataclass, field

import numpy as np

from rom import RomError
from rom.pod import _apply, gram, snapshot_pod, truncation

__all__ = ["sine_dissimilarity", "subspace_dissimilarity", "kmedoids", "KMedoids",
           "cluster_dimensions", "local_bases_criterion", "expected_cost", "recommend",
           "leave_one_out_errors", "generalization_ratio", "Partition", "CriterionResult"]


def _column_norms(A, comm, product):
    """Collective. ``|a_j|_M`` for the columns of ``A (n_rows_local, a)``, replicated."""
    if product is None or callable(product):
        local = np.einsum("ij,ij->j", A, _apply(product, A))
    else:
        local = np.einsum("i,ij,ij->j", np.asarray(product, dtype=float), A, A)
    return np.sqrt(np.clip(comm.allreduce(local), 0.0, None))


def sine_dissimilarity(A, B, comm, product=None):
    """Collective. Sine dissimilarity between the columns of ``A`` and of ``B``.

    ``delta(u, v) = sqrt(1 - (<u, v>_M / (|u|_M |v|_M))^2)`` (module docstring; a zero
    column is at 1 from any nonzero column and at 0 from a zero column).

    Parameters
    ----------
    A : ndarray (n_rows_local, a), owned rows
    B : ndarray (n_rows_local, b), owned rows, or None: ``B = A`` (then the result is
        symmetric with an exactly zero diagonal)
    comm : communicator over which the rows are distributed
    product : None (Euclidean), weights ``(n_rows_local,)`` or a collective callable
        ``apply(X_local) -> (M X)_local`` (:mod:`rom.pod`)

    Returns
    -------
    ndarray (a, b), replicated, values in ``[0, 1]``
    """
    A = np.atleast_2d(np.asarray(A, dtype=float).T).T
    same = B is None
    B = A if same else np.atleast_2d(np.asarray(B, dtype=float).T).T
    if A.shape[0] != B.shape[0]:
        raise RomError(f"sine_dissimilarity: {A.shape[0]} rows against {B.shape[0]}")
    G = gram(A, B, comm, product)
    na = np.sqrt(np.clip(np.diag(G), 0.0, None)) if same else _column_norms(A, comm, product)
    nb = na if same else _column_norms(B, comm, product)
    za, zb = na == 0.0, nb == 0.0
    denom = np.outer(np.where(za, 1.0, na), np.where(zb, 1.0, nb))
    cos = np.clip(G / denom, -1.0, 1.0)
    delta = np.sqrt(np.clip(1.0 - cos * cos, 0.0, 1.0))
    delta[np.ix_(za, ~zb)] = 1.0
    delta[np.ix_(~za, zb)] = 1.0
    delta[np.ix_(za, zb)] = 0.0
    if same:
        delta = 0.5 * (delta + delta.T)
        np.fill_diagonal(delta, 0.0)
    return delta


def subspace_dissimilarity(trajectories, comm, product=None, eps=1e-4, return_dims=False):
    """Collective. Sine of the largest principal angle between the trajectories' POD
    subspaces (of the smaller subspace into the larger one; module docstring).

    Parameters
    ----------
    trajectories : sequence of ndarray (n_rows_local, k_i), owned rows of each
        trajectory's snapshots
    comm : communicator over which the rows are distributed
    product : inner product (:mod:`rom.pod`), in which the subspaces are orthonormalized
    eps : POD truncation tolerance of each trajectory (:func:`rom.pod.snapshot_pod`)
    return_dims : also return the POD dimensions ``N_i``

    Returns
    -------
    D : ndarray (n_traj, n_traj), replicated, symmetric, zero diagonal, values in
        ``[0, 1]``; a trajectory without snapshot energy (``N_i = 0``) is at 1 from the
        others (at 0 from another such one)
    dims : ndarray (n_traj,) of int, when ``return_dims``
    """
    if not len(trajectories):
        raise RomError("subspace dissimilarity: no trajectory")
    modes = [snapshot_pod(np.atleast_2d(np.asarray(S, dtype=float).T).T, comm, product,
                          eps).modes for S in trajectories]
    dims = np.array([Q.shape[1] for Q in modes], dtype=int)
    offsets = np.concatenate([[0], np.cumsum(dims)])
    Q = np.hstack(modes)
    G = gram(Q, Q, comm, product)  # every cross Gram matrix at once
    T = len(modes)
    D = np.zeros((T, T))
    for i in range(T):
        for j in range(i + 1, T):
            if dims[i] == 0 or dims[j] == 0:
                D[i, j] = 0.0 if dims[i] == dims[j] else 1.0
                continue
            C = G[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]]
            s_min = np.linalg.svd(C, compute_uv=False)[-1]  # min(N_i, N_j) values
            D[i, j] = np.sqrt(np.clip(1.0 - min(s_min, 1.0) ** 2, 0.0, 1.0))
    D = D + D.T
    return (D, dims) if return_dims else D


@dataclass
class KMedoids:
    """A k-medoids clustering (replicated): ``labels (n,)`` in ``0..k-1`` (cluster
    ``c`` is the one of ``medoids[c]``), ``medoids (k,)`` item indices, increasing,
    and ``loss``, the total dissimilarity ``sum_j D[j, medoids[labels[j]]]``."""

    labels: np.ndarray
    medoids: np.ndarray
    loss: float


def _assign(D, medoids):
    """Labels (nearest medoid, ties to the first; each medoid in its own cluster) and
    the loss, for ``medoids`` sorted."""
    labels = np.argmin(D[:, medoids], axis=1)
    labels[medoids] = np.arange(len(medoids))
    return labels, float(D[np.arange(len(D)), medoids[labels]].sum())


def _build(D, k):
    """PAM's BUILD: the item of least total dissimilarity, then greedily the item that
    lowers the total most."""
    medoids = [int(np.argmin(D.sum(axis=0)))]
    d1 = D[:, medoids[0]].copy()
    for _ in range(1, k):
        gain = np.clip(d1[:, None] - D, 0.0, None).sum(axis=0)
        gain[medoids] = -1.0
        h = int(np.argmax(gain))
        medoids.append(h)
        d1 = np.minimum(d1, D[:, h])
    return np.array(medoids)


def _swap(D, medoids, max_iter, tol):
    """PAM's SWAP from ``medoids``: the best exchange (module docstring) while it lowers
    the total by more than ``tol``."""
    n, k = len(D), len(medoids)
    medoids = np.array(medoids)
    rows = np.arange(n)
    for _ in range(max_iter):
        Dm = D[:, medoids]  # (n, k)
        order = np.argsort(Dm, axis=1, kind="stable")
        nearest = order[:, 0]
        d1 = Dm[rows, nearest]
        d2 = Dm[rows, order[:, 1]] if k > 1 else np.full(n, np.inf)
        gain_other = np.minimum(D - d1[:, None], 0.0)  # (n, n): j, h
        own = np.minimum(D, d2[:, None]) - d1[:, None] - gain_other
        E = np.zeros((n, k))
        E[rows, nearest] = 1.0
        delta = gain_other.sum(axis=0)[None, :] + E.T @ own  # (k, n)
        delta[:, medoids] = np.inf
        i, h = np.unravel_index(np.argmin(delta), delta.shape)
        if not delta[i, h] < -tol:
            break
        medoids[i] = h
    return np.sort(medoids)


def _pam(D, k, seed, n_init, max_iter):
    n = len(D)
    tol = 1e-12 * max(float(D.sum()), 1e-300)
    rng = np.random.default_rng(seed)
    best = None
    for r in range(n_init):
        start = _build(D, k) if r == 0 else rng.choice(n, size=k, replace=False)
        medoids = _swap(D, start, max_iter, tol)
        labels, loss = _assign(D, medoids)
        if best is None or loss < best.loss - tol:
            best = KMedoids(labels, medoids, loss)
    return best


def kmedoids(D, k, seed=0, n_init=10, max_iter=1000, comm=None):
    """Collective if ``comm`` is given. k-medoids (PAM: BUILD + SWAP, module docstring)
    of the replicated dissimilarity matrix ``D (n, n)``.

    Deterministic: the first start is BUILD, the ``n_init - 1`` others random k-subsets
    drawn from ``numpy.random.default_rng(seed)``; the lowest total wins (the first one
    on ties). With ``comm``, rank 0 computes and broadcasts (identical on every rank
    even if the ranks' copies of ``D`` differ by round-off); without it, every rank
    computes.

    Parameters
    ----------
    D : ndarray (n, n), nonnegative, symmetric (``0.5 (D + D^T)`` is used)
    k : number of clusters, ``1 <= k <= n``
    seed, n_init, max_iter : starts and the cap on swaps per start

    Returns
    -------
    KMedoids : ``labels (n,)``, ``medoids (k,)`` increasing, ``loss`` (float)
    """
    if comm is not None:
        result = kmedoids(D, k, seed, n_init, max_iter) if comm.rank == 0 else None
        return comm.bcast(result, root=0)
    D = np.asarray(D, dtype=float)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise RomError(f"k-medoids: the dissimilarity matrix is {D.shape}, not square")
    if not np.all(np.isfinite(D)) or (D < 0).any():
        raise RomError("k-medoids: the dissimilarities must be finite and nonnegative")
    n = len(D)
    if not 1 <= k <= n:
        raise RomError(f"k-medoids: k = {k} clusters for {n} items")
    D = 0.5 * (D + D.T)
    if k == n:
        return KMedoids(np.arange(n), np.arange(n), 0.0)
    return _pam(D, k, seed, max(int(n_init), 1), max_iter)


def _pod_dimension(C, eps):
    """POD dimension of snapshots of correlation matrix ``C``, counted as
    :func:`rom.pod.snapshot_pod` does (truncation, then numerically null directions
    dropped)."""
    if not len(C):
        return 0
    lam = np.clip(np.linalg.eigvalsh(0.5 * (C + C.T))[::-1], 0.0, None)
    N = truncation(lam, eps)
    return min(N, int(np.sum(lam > 1e-13 * lam[0]))) if lam[0] > 0 else 0


def _correlation(trajectories, comm, product):
    """Collective. The correlation matrix of every snapshot ``(n_s, n_s)`` and the
    trajectory index of each snapshot ``(n_s,)``."""
    blocks = [np.atleast_2d(np.asarray(S, dtype=float).T).T for S in trajectories]
    if not blocks:
        raise RomError("local bases: no trajectory")
    S = np.hstack(blocks)
    if not np.all(np.isfinite(S)):
        raise RomError("local bases: snapshots contain NaN or inf")
    owner = np.repeat(np.arange(len(blocks)), [b.shape[1] for b in blocks])
    return gram(S, S, comm, product), owner


def _projector_errors(C, basis_set, targets, eps):
    """Relative errors of the best approximations of the snapshot sets ``targets``
    (masks of ``C``'s rows) in the POD basis of the snapshots ``basis_set`` truncated
    at ``eps`` (:func:`_pod_dimension`'s count), from the correlation matrix ``C``
    alone: for each target ``sqrt(sum_s |x_s - P x_s|^2 / sum_s |x_s|^2)`` over its
    snapshots, with ``|P x_s|^2 = |Lambda^(-1/2) V^T C[basis, s]|^2`` (method of
    snapshots; one eigendecomposition for all targets); 1 when the basis set is
    empty, 0 for a zero target."""
    out = np.ones(len(targets))
    A = C[np.ix_(basis_set, basis_set)]
    N = _pod_dimension(A, eps) if len(A) else 0
    if N:
        lam, V = np.linalg.eigh(0.5 * (A + A.T))
        W = (V[:, ::-1][:, :N] / np.sqrt(lam[::-1][:N])).T  # (N, n_basis)
    for i, target in enumerate(targets):
        total = float(np.trace(C[np.ix_(target, target)]))
        if total <= 0:
            out[i] = 0.0
        elif N:
            coef = W @ C[np.ix_(basis_set, target)]  # (N, n_t)
            out[i] = np.sqrt(max(total - np.sum(coef ** 2), 0.0) / total)
    return out


def leave_one_out_errors(C, owner, labels, eps, max_folds=10):
    """``(n_traj,)``: for each trajectory, the relative error of its snapshots' best
    approximation in the POD basis (at ``eps``) of the other trajectories of its
    cluster (``labels``; all of them for the global basis): how well a cluster's basis
    predicts a trajectory it was not built from (1 for a cluster of one trajectory).
    With more than ``max_folds`` trajectories in a cluster, they are left out by folds
    (trajectory ``j`` of a cluster in fold ``j mod max_folds`` of its members, each
    fold's trajectories approximated in the basis of the cluster's other folds): at
    most ``max_folds`` eigendecompositions per cluster instead of one per
    trajectory."""
    labels = np.asarray(labels)
    n = int(owner.max()) + 1
    out = np.empty(n)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        folds = [members[f::max_folds] for f in range(min(len(members), max_folds))]
        for fold in folds:
            basis = (labels[owner] == c) & ~np.isin(owner, fold)
            out[fold] = _projector_errors(C, basis, [owner == j for j in fold], eps)
    return out


def _dimensions(C, owner, labels, k, eps):
    labels = np.asarray(labels)
    return np.array([_pod_dimension(C[np.ix_(m, m)], eps)
                     for m in (labels[owner] == c for c in range(k))], dtype=int)


def cluster_dimensions(trajectories, labels, comm, product=None, eps=1e-4):
    """Collective. POD dimension of each cluster's snapshots.

    Parameters
    ----------
    trajectories : sequence of ndarray (n_rows_local, k_i), owned rows of each
        trajectory's snapshots
    labels : (n_traj,) int, cluster of each trajectory, in ``0..k-1``
    comm, product : as :func:`rom.pod.snapshot_pod`
    eps : POD tolerance (:func:`rom.pod.truncation`)

    Returns
    -------
    ndarray (k,) of int, replicated: ``N_c``, the dimension
    :func:`rom.pod.snapshot_pod` keeps for the union of cluster ``c``'s snapshots
    (``k = max(labels) + 1``)
    """
    labels = np.asarray(labels, dtype=int)
    if len(labels) != len(trajectories):
        raise RomError(f"cluster dimensions: {len(labels)} labels for "
                       f"{len(trajectories)} trajectories")
    C, owner = _correlation(trajectories, comm, product)
    return _dimensions(C, owner, labels, int(labels.max()) + 1, eps)


@dataclass
class Partition:
    """One ``k`` of the criterion (replicated): the clustering (``labels (n_traj,)``,
    ``medoids (k,)``, ``loss``), per cluster the POD dimension ``dimensions (k,)``, the
    number of trajectories ``n_trajectories (k,)`` and of snapshots ``n_snapshots
    (k,)``, the expected online cost relative to the global basis ``cost``, each
    trajectory's leave-one-out error in its cluster's basis ``loo_errors (n_traj,)``,
    the ``generalization`` ratio (module docstring; 1 for ``k = 1``) and whether ``k``
    is ``admissible`` (no cluster under ``min_cluster_size`` trajectories, the
    generalization ratio at most ``1 + gen_tol``)."""

    k: int
    labels: np.ndarray
    medoids: np.ndarray
    loss: float
    dimensions: np.ndarray
    n_trajectories: np.ndarray
    n_snapshots: np.ndarray
    cost: float
    admissible: bool
    loo_errors: np.ndarray = None
    generalization: float = 1.0


@dataclass
class CriterionResult:
    """The a priori criterion (replicated): ``partitions[k - 1]`` for ``k = 1..k_max``,
    the ``recommended`` k, the global POD dimension ``global_dimension`` (``N_1``) and
    the settings (``eps``, ``cost_power``, ``tol``, ``min_cluster_size``)."""

    partitions: list
    recommended: int
    global_dimension: int
    eps: float
    cost_power: float
    tol: float
    min_cluster_size: int
    gen_tol: float = 0.5
    ks: np.ndarray = field(init=False)
    costs: np.ndarray = field(init=False)
    generalization: np.ndarray = field(init=False)

    def __post_init__(self):
        self.ks = np.array([p.k for p in self.partitions], dtype=int)
        self.costs = np.array([p.cost for p in self.partitions])
        self.generalization = np.array([p.generalization for p in self.partitions])

    def partition(self, k=None):
        """The partition for ``k`` (default: the recommended one)."""
        return self.partitions[(self.recommended if k is None else k) - 1]


def expected_cost(dimensions, weights, global_dimension, cost_power=2.0):
    """``sum_c w_c (N_c / N_1)^p`` (module docstring) for ``dimensions (k,)``,
    ``weights (k,)`` (summing to 1) and ``N_1``; 1 when ``N_1 = 0``."""
    if global_dimension <= 0:
        return 1.0
    r = np.asarray(dimensions, dtype=float) / global_dimension
    return float(np.sum(np.asarray(weights, dtype=float) * r ** cost_power))


def recommend(costs, admissible, tol=0.05):
    """The smallest admissible ``k`` (``costs[k - 1]``) whose cost is within ``tol`` of
    the minimum over admissible ``k``; 1 when no admissible ``k > 1`` costs less than
    ``1 - tol`` (``costs[0]`` is the global basis's, 1)."""
    costs = np.asarray(costs, dtype=float)
    ok = np.asarray(admissible, dtype=bool).copy()
    ok[0] = True
    best = costs[ok].min()
    if best > (1.0 - tol) * costs[0]:
        return 1
    return int(np.flatnonzero(ok & (costs <= (1.0 + tol) * best))[0]) + 1


def generalization_ratio(loo_local, loo_global, labels, eps):
    """``max_c max(E_c, tau) / max(G_c, tau)`` (module docstring): ``E_c`` and
    ``G_c`` the largest leave-one-out errors of cluster ``c``'s trajectories in its
    cluster's basis and in the global one, ``tau = eps`` the relative error the POD
    truncation leaves anyway (:func:`rom.pod.truncation` drops an energy ``eps^2``).
    A cluster of one trajectory has no leave-one-out estimate and is left out (1 when
    every cluster has one)."""
    labels = np.asarray(labels)
    clusters = [c for c in np.unique(labels) if np.sum(labels == c) > 1]
    return float(max((max(loo_local[labels == c].max(), eps)
                      / max(loo_global[labels == c].max(), eps) for c in clusters),
                     default=1.0))


def local_bases_criterion(trajectories, D, comm, product=None, eps=1e-4, k_max=None,
                          cost_power=2.0, tol=0.05, min_cluster_size=2, seed=0, n_init=10,
                          gen_tol=0.5):
    """Collective. The a priori criterion of local bases for ``k = 1..k_max`` (module
    docstring): k-medoids of the trajectories on ``D``, each cluster's POD dimension at
    ``eps``, the expected online cost relative to the global basis and the recommended
    ``k``.

    Parameters
    ----------
    trajectories : sequence of ndarray (n_rows_local, k_i), owned rows of each
        trajectory's snapshots (single snapshots: blocks of one column)
    D : ndarray (n_traj, n_traj), replicated dissimilarity between the trajectories
        (:func:`subspace_dissimilarity`, or :func:`sine_dissimilarity` of their
        loadings' temperature fields)
    comm, product : as :func:`rom.pod.snapshot_pod`
    eps : POD tolerance (:func:`rom.pod.truncation`)
    k_max : largest ``k`` (default and cap: ``n_traj``)
    cost_power : ``p`` of the cost model (2: the online step grows at least as ``N^2``)
    tol : relative cost margin of the recommendation (5 %)
    min_cluster_size : fewest trajectories per cluster for ``k`` to be recommended
        (1 allows single-trajectory clusters)
    seed, n_init : of :func:`kmedoids`
    gen_tol : the largest loss of generalization a recommended ``k`` may have: its
        generalization ratio at most ``1 + gen_tol`` (module docstring; ``inf`` turns
        the check off)

    Returns
    -------
    CriterionResult : ``partitions`` (one :class:`Partition` per ``k``), ``recommended``,
    ``global_dimension``, ``ks (k_max,)``, ``costs (k_max,)`` and the settings
    """
    n = len(trajectories)
    D = np.asarray(D, dtype=float)
    if D.shape != (n, n):
        raise RomError(f"local bases: dissimilarity matrix {D.shape} for {n} trajectories")
    k_max = n if k_max is None else min(int(k_max), n)
    if k_max < 1:
        raise RomError("local bases: k_max must be at least 1")
    C, owner = _correlation(trajectories, comm, product)
    n_snap = np.bincount(owner, minlength=n)
    loo_global = leave_one_out_errors(C, owner, np.zeros(n, dtype=int), eps)
    partitions, N1 = [], None
    for k in range(1, k_max + 1):
        km = kmedoids(D, k, seed=seed, n_init=n_init, comm=comm)
        dims = _dimensions(C, owner, km.labels, k, eps)
        if N1 is None:
            N1 = int(dims[0])
        counts = np.bincount(km.labels, minlength=k)
        snaps = np.bincount(km.labels, weights=n_snap, minlength=k).astype(int)
        loo = loo_global if k == 1 else leave_one_out_errors(C, owner, km.labels, eps)
        ratio = 1.0 if k == 1 else generalization_ratio(loo, loo_global, km.labels, eps)
        partitions.append(Partition(
            k, km.labels, km.medoids, km.loss, dims, counts, snaps,
            expected_cost(dims, counts / n, N1, cost_power),
            k == 1 or bool(counts.min() >= min_cluster_size and ratio <= 1.0 + gen_tol),
            loo, ratio))
    rec = recommend([p.cost for p in partitions], [p.admissible for p in partitions], tol)
    return CriterionResult(partitions, rec, N1, eps, cost_power, tol, min_cluster_size,
                           gen_tol)
