"""Snapshot POD against a dense SVD, rank independence, truncation, incremental POD."""

import numpy as np
import pytest
from mpi4py import MPI

from helpers import scattered_product, split_rows
from rom.pod import gram, incremental_pod, snapshot_pod, truncation


def _data(n_rows=240, n_s=30, decay=0.6, seed=0):
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.normal(size=(n_rows, n_s)))[0]
    V = np.linalg.qr(rng.normal(size=(n_s, n_s)))[0]
    s = decay ** np.arange(n_s)
    return (U * s) @ V.T


def _spd(n, seed=1):
    """A sparse-ish SPD matrix (a 1D stiffness plus mass), dense for the reference."""
    M = np.diag(np.full(n, 2.5)) - np.diag(np.ones(n - 1), 1) - np.diag(np.ones(n - 1), -1)
    return M


@pytest.mark.mpi
@pytest.mark.parametrize("kind", ["euclidean", "weights", "matrix"])
def test_pod_equals_dense_svd_in_the_same_product(kind, comm):
    S = _data()
    n = S.shape[0]
    if kind == "euclidean":
        Mg, product = np.eye(n), None
    elif kind == "weights":
        w = np.random.default_rng(3).uniform(0.5, 2.0, n)
        Mg, product = np.diag(w), split_rows(w, comm)
    else:
        Mg = _spd(n)
        product = scattered_product(Mg, comm)
    pod = snapshot_pod(split_rows(S, comm), comm, product, eps=1e-6)
    L = np.linalg.cholesky(Mg)
    U, s, _ = np.linalg.svd(L.T @ S, full_matrices=False)
    np.testing.assert_allclose(pod.singular_values, s, rtol=0, atol=1e-10 * s[0])
    modes = np.empty((n, pod.n_modes))
    for r, part in enumerate(comm.allgather(pod.modes)):
        modes[r:: comm.size] = part
    ref = np.linalg.solve(L.T, U[:, : pod.n_modes])
    signs = np.sign(np.sum(modes * ref, axis=0))
    # the method of snapshots resolves mode k to about 1e-16 (s_0 / s_k)^2: compare the
    # modes above 1e-3 s_0 tightly
    k = int(np.sum(s > 1e-3 * s[0]))
    np.testing.assert_allclose((modes * signs)[:, :k], ref[:, :k], atol=1e-9)
    G = gram(pod.modes, pod.modes, comm, product)
    np.testing.assert_allclose(G, np.eye(pod.n_modes), atol=1e-10)


def test_truncation_criterion():
    lam = np.array([1.0, 0.5, 0.1, 1e-3, 1e-6])  # cumulated: .625 .937 .9994 1 1
    assert truncation(lam, 0.1) == 3  # n1 = #{> 1e-2} = 3, n2 (0.99 of the sum) = 3
    assert truncation(lam, 0.5) == 2  # n1 = #{> 0.25} = 2, n2 (0.75) = 2
    assert truncation(lam, 0.02) == 4  # n1 = #{> 4e-4} = 4, n2 (0.9996) = 3
    flat = np.ones(10)  # n1 = 10 too; the energy criterion alone: 0.99 of equal parts
    assert truncation(flat, 0.1) == 10
    # n1 = 1 (1e-3 < eps^2), n2: (1 + 1e-3 k) / 1.05 >= 0.99 for k = 40, so 41
    assert truncation(np.r_[1.0, np.full(50, 1e-3)], 0.1) == 41
    assert truncation(np.zeros(4), 0.1) == 0


def test_pod_truncates_and_captures_the_energy():
    S = _data(decay=0.3)
    pod = snapshot_pod(S, MPI.COMM_SELF, eps=1e-3)
    assert pod.n_modes == truncation(pod.singular_values ** 2, 1e-3)
    assert pod.energy_fraction >= 1 - 1e-6
    assert pod.modes.shape == (S.shape[0], pod.n_modes)


@pytest.mark.mpi
def test_incremental_pod_matches_batch(comm):
    S = _data(n_s=24, decay=0.7)
    first, second = S[:, :14], S[:, 14:]
    w = np.random.default_rng(5).uniform(0.5, 2.0, S.shape[0])
    product = split_rows(w, comm)
    pod1 = snapshot_pod(split_rows(first, comm), comm, product, eps=1e-12)
    pod = incremental_pod(pod1, split_rows(second, comm), comm, product, eps=1e-5)
    batch = snapshot_pod(split_rows(S, comm), comm, product, eps=1e-5)
    assert pod.n_modes == batch.n_modes
    k = batch.n_modes
    np.testing.assert_allclose(pod.singular_values[:k], batch.singular_values[:k],
                               rtol=1e-8)
    # same subspace: the projection of each batch mode onto the incremental modes is itself
    P = gram(pod.modes, batch.modes, comm, product)
    np.testing.assert_allclose(np.linalg.svd(P, compute_uv=False), 1.0, atol=1e-7)


def test_incremental_pod_stays_orthonormal_over_many_single_updates(comm):
    """30 one-snapshot updates (as 30 enrichments), some nearly in the span already:
    the modes stay M-orthonormal without re-orthonormalizing them all."""
    S = _data(n_s=36, decay=0.7)
    rng = np.random.default_rng(7)
    w = rng.uniform(0.5, 2.0, S.shape[0])
    product = split_rows(w, comm)
    pod = snapshot_pod(split_rows(S[:, :6], comm), comm, product, eps=1e-12)
    for j in range(6, 36):
        col = S[:, j:j + 1].copy()
        if j % 5 == 0:  # nearly a combination of earlier snapshots
            col = S[:, :j] @ rng.normal(size=(j, 1)) + 1e-6 * col
        if j % 7 == 0:  # several new snapshots at once, two nearly parallel
            col = np.hstack([col, col + 1e-6 * S[:, j - 1:j], S[:, j - 2:j - 1]])
        pod = incremental_pod(pod, split_rows(col, comm), comm, product, eps=1e-10)
        G = gram(pod.modes, pod.modes, comm, product)
        np.testing.assert_allclose(G, np.eye(pod.n_modes), atol=1e-11)


@pytest.mark.mpi
@pytest.mark.parametrize("kind", ["matrix", "normalized", "normalized+euclidean"])
def test_streaming_pod_equals_the_batch_pod(kind, comm):
    """StreamingPOD fed blocks of 7 snapshots (norms over three decades, a zero one)
    against the batch POD of them all: same count; singular values within the energy
    the intermediate truncations (work eps) dropped; the batch modes, weighted by their
    singular values, inside the streaming span to eps ||S||; coordinates of the
    (unit-norm) snapshots; with ``euclidean``, the Euclidean POD of the snapshots as
    given from the same basis. The same on 1 and 2 ranks to round-off."""
    from mpi4py import MPI

    from rom.pod import StreamingPOD, fields_pod

    S = _data(n_s=40, decay=0.75) * np.logspace(-3, 0, 40)
    S[:, 5] = 0.0
    n = S.shape[0]
    eps, work, eps_e = 1e-4, 0.1, 1e-5
    w = np.random.default_rng(3).uniform(0.5, 2.0, n)
    normalize = kind != "matrix"

    def stream(comm, split):
        if kind == "matrix":
            Mg = _spd(n)
            product, P = scattered_product(Mg, comm), Mg
        else:
            product, P = split(w), np.diag(w)
        st = StreamingPOD(comm, product, eps=eps, work=work, normalize=normalize,
                          euclidean=eps_e if kind.endswith("euclidean") else None, chunk=50)
        for i in range(0, S.shape[1], 7):
            st.add(split(S[:, i:i + 7]).copy())
        eu = st.euclidean_fields() if st.eps_e else None
        eu = None if eu is None else (eu[0].copy(), eu[1])  # before result()
        return st.result(), eu, P

    pod, eu, P = stream(comm, lambda A: split_rows(A, comm))
    keep = np.linalg.norm(S, axis=0) > 0
    Sn = S[:, keep] / np.sqrt(np.einsum("ij,ij->j", S[:, keep], P @ S[:, keep])) \
        if normalize else S
    L = np.linalg.cholesky(P)
    U, s, _ = np.linalg.svd(L.T @ Sn, full_matrices=False)
    batch = (fields_pod(split_rows(S, comm).T.copy(), comm, split_rows(w, comm), eps=eps,
                        normalize=True) if normalize else None)
    from rom.pod import truncation

    N = truncation(s ** 2, eps)
    assert pod.n_modes == N and (batch is None or batch.n_modes == N)
    norm = np.linalg.norm(s)
    assert np.abs(pod.singular_values[:N] - s[:N]).max() <= 1.001 * work * eps * norm
    modes = np.zeros((n, N))
    for r, part in enumerate(comm.allgather(pod.modes)):
        modes[r:: comm.size] = part
    np.testing.assert_allclose(modes.T @ P @ modes, np.eye(N), atol=1e-10)
    Xb = np.linalg.solve(L.T, U[:, :N] * s[:N])  # batch modes times singular values
    assert np.linalg.norm(L.T @ (Xb - modes @ (modes.T @ P @ Xb))) <= 1.001 * eps * norm
    exact = modes.T @ P @ Sn
    assert np.linalg.norm(pod.coefficients - exact) <= 1.001 * work * eps * norm
    if eu is not None:  # the Euclidean POD of S as given, from the same basis
        F = np.zeros((n, eu[0].shape[1]))
        for r, part in enumerate(comm.allgather(eu[0])):
            F[r:: comm.size] = part
        se = np.linalg.svd(S, compute_uv=False)
        assert F.shape[1] == truncation(se ** 2, eps_e)
        sF = np.linalg.svd(F, compute_uv=False)
        assert np.abs(sF - se[: len(sF)]).max() <= 1.001 * eps_e * np.linalg.norm(se)
        Ue = np.linalg.svd(S, full_matrices=False)[0][:, : len(sF)] * se[: len(sF)]
        Q = np.linalg.qr(F)[0]
        assert np.linalg.norm(Ue - Q @ (Q.T @ Ue)) <= 1.001 * eps_e * np.linalg.norm(se)
    if comm.size > 1:  # rank-count independence
        ser, ser_eu, _ = stream(MPI.COMM_SELF, lambda A: A)
        np.testing.assert_allclose(pod.singular_values, ser.singular_values, rtol=0,
                                   atol=1e-12 * s[0])
        np.testing.assert_allclose(np.abs(modes), np.abs(ser.modes), atol=1e-8)


@pytest.mark.mpi
@pytest.mark.parametrize("eps", [1e-6, 1e-2])
def test_factored_updates_equal_the_rotated_modes(eps, comm):
    """Updates kept factored (``P W``, only the new direction appended) give the same
    modes, singular values and snapshot coordinates as the rotated updates, also when
    the updates truncate (``W`` not square; ``P`` multiplied out when it holds too
    many dropped columns); a basis extended twice (two updates of one parent) does
    not overwrite the other's columns; the factored basis' products, rows and Gram
    matrices are the dense ones'."""
    from rom.pod import FactoredBasis, dense

    S = _data(n_s=30 if eps > 1e-3 else 20, decay=0.7)
    rng = np.random.default_rng(11)
    w = rng.uniform(0.5, 2.0, S.shape[0])
    product = split_rows(w, comm)
    first = snapshot_pod(split_rows(S[:, :8], comm), comm, product, eps=1e-12)
    first.coefficients = gram(first.modes, split_rows(S[:, :8], comm), comm, product)
    rotated, factored = first, first
    square = []
    for j in range(8, S.shape[1]):
        col = split_rows(S[:, j:j + 1], comm)
        rotated = incremental_pod(rotated, col, comm, product, eps=eps)
        factored = incremental_pod(factored, col, comm, product, eps=eps, factored=True)
        assert isinstance(factored.modes, FactoredBasis)
        assert factored.n_modes == rotated.n_modes
        square.append(factored.modes.W.shape[0] == factored.modes.W.shape[1])
        assert factored.modes.P.shape[1] - factored.n_modes <= max(8, factored.n_modes // 4)
        np.testing.assert_allclose(factored.singular_values, rotated.singular_values,
                                   rtol=1e-10, atol=1e-14)
        # the same modes up to their signs (the SVDs of two round-offs of one matrix)
        modes = dense(factored.modes)
        sign = np.sign(np.diag(gram(modes, rotated.modes, comm, product)))
        np.testing.assert_allclose(modes * sign, rotated.modes, atol=1e-9)
        np.testing.assert_allclose(factored.coefficients * sign[:, None],
                                   rotated.coefficients, atol=1e-10)
        G = gram(dense(factored.modes), dense(factored.modes), comm, product)
        np.testing.assert_allclose(G, np.eye(factored.n_modes), atol=1e-11)
    assert all(square) if eps < 1e-3 else not all(square)  # (truncated: W not square)
    B = factored.modes
    x = rng.normal(size=(B.shape[1], 2))
    np.testing.assert_allclose(B @ x, rotated.modes @ x, atol=1e-9)
    np.testing.assert_allclose(B.rows([0, 3]), rotated.modes[[0, 3]], atol=1e-9)
    np.testing.assert_allclose(gram(B, B.P, comm, product),
                               gram(rotated.modes, B.P, comm, product), atol=1e-9)
    E = B.euclidean_gram(comm)
    np.testing.assert_allclose(E, comm.allreduce(B.P.T @ B.P), atol=1e-12)
    # two updates of the same parent: the second gets its own columns, and the
    # Euclidean Gram matrix is extended with them
    new = rng.normal(size=(S.shape[0], 2))  # (not in the span of the snapshots)
    a = incremental_pod(factored, split_rows(new[:, :1], comm), comm, product, eps=1e-6,
                        factored=True)
    a_modes = dense(a.modes)
    b = incremental_pod(factored, split_rows(new[:, 1:], comm), comm, product, eps=1e-6,
                        factored=True)
    assert a.modes.P.shape[1] == b.modes.P.shape[1] == B.P.shape[1] + 1
    np.testing.assert_allclose(dense(a.modes), a_modes, atol=0)
    assert not np.shares_memory(a.modes.P[:, -1], b.modes.P[:, -1])
    for c in (a, b):
        np.testing.assert_allclose(c.modes.euclid, comm.allreduce(c.modes.P.T @ c.modes.P),
                                   atol=1e-12)
