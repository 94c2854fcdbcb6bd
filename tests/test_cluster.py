"""Local bases (rom.cluster): sine and subspace dissimilarities against closed forms and
scipy, PAM against brute force, the synthetic manifold of a few subspaces (true
partition and true k found), rank-count independence."""

import itertools

import numpy as np
import pytest
import scipy.linalg

from helpers import scattered_product
from helpers import split_rows as _split
from rom import RomError
from rom.cluster import (
    cluster_dimensions,
    expected_cost,
    kmedoids,
    local_bases_criterion,
    recommend,
    sine_dissimilarity,
    subspace_dissimilarity,
)
from rom.pod import snapshot_pod


def _same_partition(a, b):
    """Labels equal up to a permutation of the cluster names."""
    a, b = np.asarray(a), np.asarray(b)
    pairs = set(zip(a.tolist(), b.tolist()))
    return (len(a) == len(b) and len(pairs) == len(set(a.tolist()))
            == len(set(b.tolist())))


def _manifold(n_sub=3, per=4, n_rows=200, dim=3, n_snap=10, seed=0):
    """``n_sub`` random ``dim``-dimensional subspaces of R^n_rows, ``per`` trajectories
    of ``n_snap`` snapshots each (random coefficients, amplitudes growing along the
    trajectory as a loading would); global arrays and the true labels."""
    rng = np.random.default_rng(seed)
    bases = [np.linalg.qr(rng.normal(size=(n_rows, dim)))[0] for _ in range(n_sub)]
    trajectories, labels = [], []
    for c, V in enumerate(bases):
        for _ in range(per):
            amp = np.linspace(0.1, 1.0, n_snap) * rng.uniform(0.5, 2.0)
            trajectories.append(V @ rng.normal(size=(dim, n_snap)) * amp)
            labels.append(c)
    return trajectories, np.array(labels)


# ---------------------------------------------------------------- sine dissimilarity

@pytest.mark.mpi
def test_sine_known_angle_and_scale_invariance(comm):
    n = 50
    theta = np.array([0.0, 0.3, np.pi / 4, 1.2, np.pi / 2, 2.5])
    e1, e2 = np.eye(n)[0], np.eye(n)[7]
    U = e1[:, None] * np.ones(len(theta))
    V = np.cos(theta) * e1[:, None] + np.sin(theta) * e2[:, None]
    D = sine_dissimilarity(_split(U[:, :1], comm), _split(V, comm), comm)
    assert D.shape == (1, len(theta))
    np.testing.assert_allclose(D[0], np.abs(np.sin(theta)), atol=1e-8)
    # scale and sign invariance
    rng = np.random.default_rng(3)
    A, B = rng.normal(size=(n, 4)), rng.normal(size=(n, 5))
    D0 = sine_dissimilarity(_split(A, comm), _split(B, comm), comm)
    D1 = sine_dissimilarity(_split(-3.0 * A, comm), _split(B * [1e-6, 2, -5, 1e4, 0.1], comm),
                            comm)
    np.testing.assert_allclose(D1, D0, atol=1e-12)


@pytest.mark.mpi
def test_sine_products_against_formula(comm):
    rng = np.random.default_rng(4)
    n = 40
    A, B = rng.normal(size=(n, 3)), rng.normal(size=(n, 6))
    w = rng.uniform(0.1, 5.0, n)

    def ref(M):
        G = A.T @ M @ B
        na, nb = np.sqrt(np.diag(A.T @ M @ A)), np.sqrt(np.diag(B.T @ M @ B))
        return np.sqrt(1 - (G / np.outer(na, nb)) ** 2)

    np.testing.assert_allclose(sine_dissimilarity(_split(A, comm), _split(B, comm), comm),
                               ref(np.eye(n)), atol=1e-12)
    D = sine_dissimilarity(_split(A, comm), _split(B, comm), comm, product=_split(w, comm))
    np.testing.assert_allclose(D, ref(np.diag(w)), atol=1e-12)
    assert np.abs(D - ref(np.eye(n))).max() > 1e-2  # the weights matter
    # a non-diagonal SPD product (a 1D stiffness plus mass), as a collective callable
    M = np.diag(np.full(n, 2.5)) - np.diag(np.ones(n - 1), 1) - np.diag(np.ones(n - 1), -1)
    D = sine_dissimilarity(_split(A, comm), _split(B, comm), comm,
                           product=scattered_product(M, comm))
    np.testing.assert_allclose(D, ref(M), atol=1e-12)


@pytest.mark.mpi
def test_sine_self_and_zero_columns(comm):
    rng = np.random.default_rng(5)
    A = rng.normal(size=(30, 5))
    A[:, 2] = 0.0
    A[:, 4] = 2.0 * A[:, 0]
    D = sine_dissimilarity(_split(A, comm), None, comm)
    np.testing.assert_array_equal(D, D.T)
    np.testing.assert_array_equal(np.diag(D), 0.0)
    assert D[0, 4] < 1e-7  # parallel columns
    np.testing.assert_array_equal(D[2, [0, 1, 3, 4]], 1.0)  # zero column: 1 to the others
    Z = np.zeros((30, 2))
    np.testing.assert_array_equal(sine_dissimilarity(_split(Z, comm), _split(A, comm), comm),
                                  [[1, 1, 0, 1, 1]] * 2)
    np.testing.assert_allclose(D, sine_dissimilarity(_split(A, comm), _split(A, comm), comm),
                               atol=1e-7)


# ---------------------------------------------------------- subspace dissimilarity

def _trajectories_of_dims(dims, n=60, seed=6):
    """Trajectories spanning random subspaces of the given dimensions, partly shared
    (a common direction and random mixtures), as snapshot blocks of full rank."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=(n, 2))
    out = []
    for d in dims:
        V = np.hstack([common, rng.normal(size=(n, d))])[:, : d] + 0.3 * rng.normal(size=(n, d))
        out.append(V @ rng.normal(size=(d, d + 3)))
    return out


@pytest.mark.mpi
def test_subspace_dissimilarity_against_scipy(comm):
    dims = [2, 3, 3, 5, 1]
    trajs = _trajectories_of_dims(dims)
    w = np.random.default_rng(7).uniform(0.5, 3.0, 60)
    for product, scale in [(None, np.ones(60)), ("w", np.sqrt(w))]:
        local = [_split(S, comm) for S in trajs]
        D, N = subspace_dissimilarity(local, comm, None if product is None else _split(w, comm),
                                      eps=1e-10, return_dims=True)
        np.testing.assert_array_equal(N, dims)
        ref = np.zeros_like(D)
        for i, j in itertools.product(range(len(dims)), repeat=2):
            if i != j:  # M^1/2 S: the product's angles are the Euclidean ones
                angles = scipy.linalg.subspace_angles(scale[:, None] * trajs[i],
                                                      scale[:, None] * trajs[j])
                ref[i, j] = np.sin(angles.max())
        np.testing.assert_allclose(D, ref, atol=1e-7)
        assert 0.1 < D[D > 0].min() and D.max() <= 1.0


@pytest.mark.mpi
def test_subspace_dissimilarity_nested_and_orthogonal(comm):
    I = np.eye(20)
    trajs = [I[:, :2] @ [[1, 2, 3], [4, 5, 7]], I[:, :4] @ np.arange(1, 21.).reshape(4, 5) ** 0.5,
             I[:, 5:7]]
    D = subspace_dissimilarity([_split(S, comm) for S in trajs], comm, eps=1e-12)
    assert D[0, 1] < 1e-7  # nested: the smaller into the larger
    np.testing.assert_allclose([D[0, 2], D[1, 2]], 1.0)


# ------------------------------------------------------------------------- k-medoids

def _brute_force(D, k):
    n = len(D)
    return min(D[:, list(m)].min(axis=1).sum() for m in itertools.combinations(range(n), k))


def test_pam_against_brute_force():
    for seed in range(6):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(11, 2)) + rng.integers(0, 3, size=(11, 1)) * 2.0
        D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
        for k in range(1, 6):
            res = kmedoids(D, k, seed=seed)
            assert res.medoids.shape == (k,) and np.all(np.diff(res.medoids) > 0)
            np.testing.assert_allclose(res.loss, _brute_force(D, k), rtol=1e-12)
            # labels: the nearest medoid; the loss is theirs
            np.testing.assert_allclose(D[np.arange(11), res.medoids[res.labels]],
                                       D[:, res.medoids].min(axis=1))
            np.testing.assert_allclose(res.loss, D[np.arange(11), res.medoids[res.labels]].sum())
            # SWAP's fixed point: no single exchange lowers the total
            for i, h in itertools.product(range(k), set(range(11)) - set(res.medoids)):
                m = res.medoids.copy()
                m[i] = h
                assert D[:, m].min(axis=1).sum() >= res.loss - 1e-12
            # a single start (BUILD then SWAP) is already a local optimum, never better
            assert kmedoids(D, k, n_init=1).loss >= res.loss - 1e-12


def test_kmedoids_edge_cases():
    D = np.array([[0, 1, 4], [1, 0, 2], [4, 2, 0.0]])
    r = kmedoids(D, 1)
    assert r.medoids.tolist() == [1] and r.loss == 3.0
    r = kmedoids(D, 3)
    assert r.labels.tolist() == [0, 1, 2] and r.loss == 0.0
    for bad, k in [(D, 0), (D, 4), (D[:2], 1), (-D, 1), (D * np.nan, 1)]:
        with pytest.raises(RomError):
            kmedoids(bad, k)


@pytest.mark.mpi
def test_kmedoids_broadcast_identical(comm):
    rng = np.random.default_rng(10 + comm.rank)  # different matrices on the ranks
    X = rng.normal(size=(15, 3))
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    r = kmedoids(D, 3, comm=comm)
    for other in comm.allgather((r.labels.tolist(), r.medoids.tolist(), r.loss)):
        assert other == (r.labels.tolist(), r.medoids.tolist(), r.loss)


# ------------------------------------------------- synthetic manifold and criterion

@pytest.mark.mpi
@pytest.mark.parametrize("noise, eps", [(0.0, 1e-4), (1e-5, 1e-3)])
def test_three_subspaces_partition_and_criterion(comm, noise, eps):
    trajs, truth = _manifold()
    rng = np.random.default_rng(11)
    trajs = [S + noise * np.abs(S).max() * rng.normal(size=S.shape) for S in trajs]
    local = [_split(S, comm) for S in trajs]
    D = subspace_dissimilarity(local, comm, eps=eps)
    res = kmedoids(D, 3, comm=comm)
    assert _same_partition(res.labels, truth)
    crit = local_bases_criterion(local, D, comm, eps=eps, k_max=6)
    assert crit.global_dimension == 9
    assert crit.recommended == 3
    p3 = crit.partition()
    assert _same_partition(p3.labels, truth)
    assert p3.dimensions.tolist() == [3, 3, 3]
    assert p3.n_trajectories.tolist() == [4, 4, 4] and p3.n_snapshots.tolist() == [40] * 3
    # k = 2: two subspaces together (6 modes, 8 trajectories), one alone (3, 4)
    np.testing.assert_allclose(crit.costs[:3], [1.0, (8 * 36 + 4 * 9) / 12 / 81, 1 / 9])
    assert crit.costs[3:].min() >= 1 / 9 - 1e-12
    assert crit.ks.tolist() == [1, 2, 3, 4, 5, 6]
    # identical on every rank
    for other in comm.allgather((crit.recommended, crit.costs.tolist(), p3.labels.tolist())):
        assert other == (crit.recommended, crit.costs.tolist(), p3.labels.tolist())
    # the dimensions are the POD's (snapshot_pod on each cluster's union)
    for c in range(3):
        S = np.hstack([local[i] for i in np.flatnonzero(p3.labels == c)])
        assert snapshot_pod(S, comm, eps=eps).n_modes == p3.dimensions[c]


@pytest.mark.mpi
def test_one_subspace_recommends_global(comm):
    trajs, _ = _manifold(n_sub=1, per=12, seed=1)
    local = [_split(S, comm) for S in trajs]
    D = subspace_dissimilarity(local, comm, eps=1e-4)
    assert D.max() < 1e-6
    crit = local_bases_criterion(local, D, comm, eps=1e-4, k_max=4)
    assert crit.global_dimension == 3
    np.testing.assert_allclose(crit.costs, 1.0)
    assert crit.recommended == 1


@pytest.mark.mpi
def test_perturbed_partition_costs_more(comm):
    """The criterion sees a wrong partition: one trajectory moved to another cluster
    makes that cluster need 6 modes (a test that can fail)."""
    trajs, truth = _manifold()
    local = [_split(S, comm) for S in trajs]
    product = _split(np.random.default_rng(2).uniform(0.5, 2.0, 200), comm)
    dims = cluster_dimensions(local, truth, comm, product, eps=1e-4)
    assert dims.tolist() == [3, 3, 3]
    wrong = truth.copy()
    wrong[0] = 1
    assert not _same_partition(wrong, truth)
    dims_wrong = cluster_dimensions(local, wrong, comm, product, eps=1e-4)
    assert dims_wrong.tolist() == [3, 6, 3]
    w, w_wrong = np.bincount(truth) / 12, np.bincount(wrong) / 12
    cost, cost_wrong = expected_cost(dims, w, 9), expected_cost(dims_wrong, w_wrong, 9)
    np.testing.assert_allclose(cost, 1 / 9)
    np.testing.assert_allclose(cost_wrong, (3 * 9 + 5 * 36 + 4 * 9) / 12 / 81)
    assert cost_wrong > 2 * cost


@pytest.mark.mpi
def test_single_trajectory_cluster_not_recommended(comm):
    """Five trajectories in one subspace and one alone in another: k = 2 would halve
    the dimensions, but its second cluster holds one trajectory."""
    trajs, truth = _manifold(n_sub=2, per=5, seed=3)
    trajs = trajs[:6]  # 5 of the first subspace, 1 of the second
    local = [_split(S, comm) for S in trajs]
    D = subspace_dissimilarity(local, comm)
    crit = local_bases_criterion(local, D, comm, k_max=3)
    assert crit.global_dimension == 6
    np.testing.assert_allclose(crit.costs[1], 0.25)
    assert not crit.partitions[1].admissible and crit.recommended == 1
    crit = local_bases_criterion(local, D, comm, k_max=3, min_cluster_size=1)
    assert crit.recommended == 2
    # a larger cost power favours local bases more
    assert local_bases_criterion(local, D, comm, k_max=2, min_cluster_size=1,
                                 cost_power=3.0).costs[1] == pytest.approx(0.125)


def test_recommend_rule():
    yes = [True] * 5
    assert recommend([1.0, 0.97, 0.96], yes[:3]) == 1  # no 5 % saving
    assert recommend([1.0, 0.5, 0.3, 0.29], yes[:4]) == 3  # within 5 % of the minimum
    assert recommend([1.0, 0.5, 0.3, 0.2], yes[:4]) == 4
    assert recommend([1.0, 0.5, 0.3, 0.2], [True, True, True, False]) == 3
    assert recommend([1.0, 0.5, 0.3], [True, False, False]) == 1


# ------------------------------------------------- generalization (leave-one-out)

def test_leave_one_out_errors_against_an_explicit_projection(comm):
    """From the correlation matrix alone, against the POD (snapshot_pod) of the other
    trajectories and the M-orthogonal projection on it, computed on the rows."""
    from rom.cluster import _correlation, leave_one_out_errors
    from rom.parallel import SerialComm

    rng = np.random.default_rng(5)
    trajs = [rng.normal(size=(60, 3)) @ np.diag([1.0, 0.3, 0.01]) @ rng.normal(size=(3, 4))
             + 1e-3 * rng.normal(size=(60, 4)) for _ in range(5)]
    w = rng.uniform(0.5, 2.0, 60)  # a diagonal (mass-like) product
    local = [_split(S, comm) for S in trajs]
    C, owner = _correlation(local, comm, _split(w, comm))
    labels = np.array([0, 0, 0, 1, 1])
    for eps in (1e-2, 1e-4):
        loo = leave_one_out_errors(C, owner, labels, eps)
        for j in range(5):
            others = [i for i in range(5) if labels[i] == labels[j] and i != j]
            Phi = snapshot_pod(np.hstack([trajs[i] for i in others]), SerialComm(),
                               product=w, eps=eps).modes
            X = trajs[j]
            P = Phi @ (Phi.T @ (w[:, None] * X))
            exact = np.sqrt(np.sum(w[:, None] * (X - P) ** 2) / np.sum(w[:, None] * X ** 2))
            assert loo[j] == pytest.approx(exact, rel=1e-8, abs=1e-12), (eps, j)
    # by folds: with max_folds = 2 the 3 trajectories of cluster 0 form the folds {0, 2}
    # and {1}, those of cluster 1 the folds {3} and {4}
    loo = leave_one_out_errors(C, owner, labels, 1e-4, max_folds=2)
    for j, others in ((0, [1]), (2, [1]), (1, [0, 2]), (3, [4]), (4, [3])):
        Phi = snapshot_pod(np.hstack([trajs[i] for i in others]), SerialComm(),
                           product=w, eps=1e-4).modes
        X = trajs[j]
        P = Phi @ (Phi.T @ (w[:, None] * X))
        exact = np.sqrt(np.sum(w[:, None] * (X - P) ** 2) / np.sum(w[:, None] * X ** 2))
        assert loo[j] == pytest.approx(exact, rel=1e-8, abs=1e-12), j


@pytest.mark.mpi
def test_criterion_refuses_local_bases_that_generalize_worse(comm):
    """Six trajectories each spanning two neighbouring directions of six, cyclically:
    every trajectory lies in the span of the others (global leave-one-out error 0),
    but a cluster of three misses a direction of each member (error 1/sqrt(2)). k = 2
    halves the dimensions (cost 0.44) and is refused for its generalization ratio; with
    the check off it is recommended."""
    rng = np.random.default_rng(7)
    E = np.linalg.qr(rng.normal(size=(100, 6)))[0]
    trajs = [E[:, [j, (j + 1) % 6]] @ rng.normal(size=(2, 5)) for j in range(6)]
    local = [_split(S, comm) for S in trajs]
    D = np.ones((6, 6)) - np.eye(6)  # clusters {0, 1, 2} and {3, 4, 5}, given
    D[:3, :3] = D[3:, 3:] = 0.1
    np.fill_diagonal(D, 0.0)
    crit = local_bases_criterion(local, D, comm, eps=1e-4, k_max=2)
    p2 = crit.partition(2)
    assert _same_partition(p2.labels, [0, 0, 0, 1, 1, 1])
    assert p2.dimensions.tolist() == [4, 4] and crit.global_dimension == 6
    np.testing.assert_allclose(crit.costs[1], 16 / 36)
    np.testing.assert_allclose(crit.partitions[0].loo_errors, 0.0, atol=1e-6)
    # the ends of each cluster's chain miss one of their two directions
    assert p2.loo_errors.max() > 0.1 and crit.generalization[1] > 1e2
    assert not p2.admissible and crit.recommended == 1
    off = local_bases_criterion(local, D, comm, eps=1e-4, k_max=2, gen_tol=np.inf)
    assert off.recommended == 2
