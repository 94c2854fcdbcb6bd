"""Snapshot POD, distributed over the rows (method of snapshots), and its incremental
update.

Snapshots are the columns of ``S (n_rows, n_s)``; each rank holds its owned rows.
With an inner product ``<u, v>_M = u^T M v`` (``M`` symmetric positive definite:
identity, lumped weights or a distributed sparse matrix such as the mass or the
stiffness matrix), the correlation matrix

    C_ij = <u_i, u_j>_M = sum over ranks of S_own^T (M S)_own      (Allreduce)

is small (``n_s x n_s``) and replicated. With ``C = Xi diag(lambda) Xi^T``
(``lambda`` decreasing) the modes are ``psi_k = lambda_k^{-1/2} S xi_k``, orthonormal
in ``M``, and the singular values of ``M^{1/2} S`` are ``sqrt(lambda_k)``. The number
of modes kept is ``N = max(n1, n2)`` with ``n1 = #{k : lambda_k > eps^2 lambda_1}``
and ``n2`` the smallest count whose eigenvalues sum to at least ``1 - eps^2`` of the
total. A final M-orthonormalization (Cholesky of the modes' Gram matrix) removes the
round-off the correlation method leaves in the orthogonality.

Products
--------
``product`` is ``None`` (Euclidean), an array of weights ``(n_rows_local,)``
(diagonal ``M``), or a callable ``apply(X_local) -> (M X)_local`` (collective,
e.g. :meth:`product_from_petsc`).
"""

import weakref
from dataclasses import dataclass

import numpy as np

from rom import RomError

__all__ = ["PODResult", "FactoredBasis", "snapshot_pod", "fields_pod", "incremental_pod",
           "StreamingPOD", "truncation", "gram", "dense", "product_from_petsc"]


@dataclass
class PODResult:
    """Modes ``(n_rows_local, N)`` (owned rows), ``singular_values (n_s,)`` of all
    snapshots (decreasing; the first ``N`` belong to the modes) and the count ``N``;
    ``coefficients (N, n_s)``, when known, the coordinates of the snapshots in the modes
    (``Psi^T M S``; of the unit-norm snapshots when they were normalized): replicated,
    what the indicator's calibration (:mod:`rom.indicator`) needs. ``update``, set by
    :func:`incremental_pod`: ``(weak reference to the parent, U_old, Q, U_new)`` with
    ``modes = parent.modes @ U_old + Q @ U_new``, so that a linear map of the modes
    (their strains, their ghost values) is updated from the parent's by applying it
    to the new directions ``Q`` only."""

    modes: np.ndarray
    singular_values: np.ndarray
    n_modes: int
    coefficients: np.ndarray = None
    update: tuple = None

    @property
    def energy_fraction(self):
        """Fraction of the snapshot energy captured by the kept modes."""
        lam = self.singular_values ** 2
        return float(lam[: self.n_modes].sum() / lam.sum()) if lam.sum() > 0 else 1.0


class FactoredBasis:
    """Collective where noted. A basis kept as ``Psi = P W`` (Brand's incremental SVD):
    ``P (n_rows_local, m)`` raw columns, which an update only extends (the new
    directions appended), and ``W (m, N)`` with orthonormal columns, the rotation that
    orders the modes by energy (replicated, small). The modes ``P W`` are M-orthonormal;
    ``P`` itself is until an update truncates (a new direction is orthogonal to the
    modes, not to the columns of ``P`` they dropped), and :func:`incremental_pod`
    multiplies the basis out (``P = P W``, ``W = I``) once ``P`` has more than
    ``max(8, N / 4)`` columns beyond the modes, which bounds its memory. An update then
    costs passes over the rows (``O(n_rows m)``) instead of the rotation of every mode
    (``O(n_rows m N)``); what uses the basis takes it through :meth:`__matmul__`
    (``Psi c = P (W c)``), :meth:`rows` (``Psi[rows]``), :func:`gram` and
    :meth:`dense` (the modes themselves, e.g. to save them).

    ``P`` is a view of the first ``m`` columns of a Fortran-ordered buffer with spare
    columns, shared with the basis it was extended from; a basis extended twice (two
    updates of the same parent) gets a copy the second time, so that neither
    overwrites the other's columns. ``euclid``: when known, the Euclidean Gram matrix
    ``P^T P`` summed over the ranks (what the reduced quadrature of stress modes
    needs, :func:`rom.hyper.stress_cubature`), extended with the columns."""

    def __init__(self, P, W, euclid=None, _buffer=None):
        self.P = P
        self.W = np.ascontiguousarray(W, dtype=float)
        self.euclid = euclid
        self._buffer = _buffer if _buffer is not None else {"array": P, "used": P.shape[1]}

    @staticmethod
    def _buffer_for(n, k):
        """A Fortran-ordered buffer for ``k`` columns of ``n`` rows and spare ones (a
        new buffer, i.e. a copy of the columns, every ``max(8, k / 8)`` updates)."""
        return np.empty((n, k + max(8, k // 8)), order="F")

    @classmethod
    def allocate(cls, n, k):
        """A factored basis ``P W`` with ``W = I`` and ``P (n, k)`` to be filled (the
        first ``k`` columns of a buffer with spare ones)."""
        buf = cls._buffer_for(n, k)
        return cls(buf[:, :k], np.eye(k), _buffer={"array": buf, "used": k})

    @classmethod
    def of(cls, modes):
        """The modes ``modes`` (an array, or a FactoredBasis returned as it is) as a
        factored basis ``P = modes``, ``W = I``, in a buffer with spare columns."""
        if isinstance(modes, cls):
            return modes
        modes = np.asarray(modes, dtype=float)
        out = cls.allocate(*modes.shape)
        out.P[...] = modes
        return out

    @property
    def shape(self):
        return (self.P.shape[0], self.W.shape[1])

    def __len__(self):
        return self.P.shape[0]

    def __matmul__(self, c):
        return self.P @ (self.W @ c)

    def rows(self, idx):
        """``Psi[idx]`` (rows)."""
        return self.P[idx] @ self.W

    def __array__(self, dtype=None):  # numpy's conversions: the modes, multiplied out
        out = self.dense()
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, idx):
        if isinstance(idx, tuple):
            raise TypeError("FactoredBasis: index rows only (basis.rows(i)); "
                            "basis.dense() for the modes")
        return self.rows(idx)

    def dense(self, chunk=1 << 15):
        """The modes ``P W`` (by blocks of rows)."""
        out = np.empty(self.shape)
        for i in range(0, len(self), chunk):
            out[i:i + chunk] = self.P[i:i + chunk] @ self.W
        return out

    def euclidean_gram(self, comm):
        """Collective. ``P^T P`` summed over the ranks (computed once, then kept and
        extended by :meth:`extended`)."""
        if self.euclid is None:
            self.euclid = comm.allreduce(self.P.T @ self.P)
        return self.euclid

    def extended(self, Q, W, comm):
        """Collective. The basis ``[P, Q] W`` (``W`` of ``m + r`` rows): ``Q`` written
        into the spare columns of the shared buffer when this basis holds its last
        columns, else into a new buffer."""
        m, r = self.P.shape[1], Q.shape[1]
        buf = self._buffer
        if buf["used"] != m or buf["array"].shape[1] < m + r:
            array = self._buffer_for(len(self), m + r)
            array[:, :m] = self.P
            buf = {"array": array, "used": m}
        array = buf["array"]
        array[:, m:m + r] = Q
        buf["used"] = m + r
        euclid = None
        if self.euclid is not None:
            cross = comm.allreduce(self.P.T @ Q)
            euclid = np.block([[self.euclid, cross], [cross.T, comm.allreduce(Q.T @ Q)]])
        return FactoredBasis(array[:, :m + r], W, euclid, _buffer=buf)


def dense(modes):
    """The modes as an array (a :class:`FactoredBasis` multiplied out)."""
    return modes.dense() if isinstance(modes, FactoredBasis) else modes


def _apply(product, X):
    if product is None:
        return X
    if callable(product):
        return product(X)
    return np.asarray(product)[:, None] * X


def gram(A, B, comm, product=None, chunk=1 << 15):
    """Collective. ``A^T M B`` for row-distributed ``A (n, a)``, ``B (n, b)`` (a
    diagonal ``M`` by chunks of rows: no weighted copy of ``B``). ``A`` may be a
    :class:`FactoredBasis` (``W^T (P^T M B)``)."""
    if isinstance(A, FactoredBasis):
        return A.W.T @ gram(A.P, B, comm, product, chunk)
    if product is None or callable(product):
        return comm.allreduce(A.T @ _apply(product, B))
    w = np.asarray(product)
    local = np.zeros((A.shape[1], B.shape[1]))
    for i in range(0, len(w), chunk):
        sl = slice(i, i + chunk)
        local += A[sl].T @ (w[sl, None] * B[sl])
    return comm.allreduce(local)


def truncation(eigenvalues, eps):
    """``N = max(n1, n2)`` of the module docstring for eigenvalues (decreasing)."""
    lam = np.clip(np.asarray(eigenvalues, dtype=float), 0.0, None)
    if lam.size == 0 or lam[0] <= 0:
        return 0
    n1 = int(np.sum(lam > eps ** 2 * lam[0]))
    cum = np.cumsum(lam) / lam.sum()
    n2 = int(np.searchsorted(cum, 1.0 - eps ** 2 - 1e-15) + 1)
    return max(n1, min(n2, len(lam)))


def _orthonormalize(modes, comm, product):
    """M-orthonormalize (Cholesky of the Gram matrix), keeping the span and order."""
    if modes.shape[1] == 0:
        return modes
    import scipy.linalg

    G = gram(modes, modes, comm, product)
    L = np.linalg.cholesky(0.5 * (G + G.T))
    # modes L^-T, in place when the modes are C-ordered (their transpose is F-ordered)
    return scipy.linalg.solve_triangular(L, modes.T, lower=True, overwrite_b=True,
                                         check_finite=False).T


def snapshot_pod(S, comm, product=None, eps=1e-4, n_max=None):
    """Collective. POD of the row-distributed snapshots ``S (n_rows_local, n_s)``.

    Parameters
    ----------
    S : ndarray (n_rows_local, n_s)
    comm : communicator over which the rows are distributed
    product : inner product (see module docstring)
    eps : truncation tolerance of ``N = max(n1, n2)``
    n_max : optional cap on the number of modes

    Returns
    -------
    PODResult
    """
    S = np.asarray(S, dtype=float)
    if not np.all(np.isfinite(S)):
        raise RomError("POD: snapshots contain NaN or inf")
    lam, coef, N = _correlation_modes(gram(S, S, comm, product), eps, n_max)
    modes = _orthonormalize(S @ coef, comm, product)
    return PODResult(modes, np.sqrt(lam), N)


def _correlation_modes(C, eps, n_max):
    """Eigenvalues ``lambda`` (decreasing) of the correlation matrix ``C``, the
    coefficients ``xi_k / sqrt(lambda_k)`` of the kept modes ``(n_s, N)`` and ``N``."""
    lam, xi = np.linalg.eigh(0.5 * (C + C.T))
    order = np.argsort(lam)[::-1]
    lam, xi = np.clip(lam[order], 0.0, None), xi[:, order]
    # a sign convention (each mode's largest snapshot coordinate, the largest entry of
    # its eigenvector, positive; also StreamingPOD's): the modes do not flip with the
    # round-off of C (on another number of ranks)
    big = np.argmax(np.abs(xi), axis=0)
    xi = xi * np.where(xi[big, np.arange(xi.shape[1])] < 0, -1.0, 1.0)
    N = truncation(lam, eps)
    # drop numerically null directions (they cannot be normalized)
    N = min(N, int(np.sum(lam > 1e-13 * lam[0])) if lam.size and lam[0] > 0 else 0)
    if n_max is not None:
        N = min(N, n_max)
    return lam, xi[:, :N] / np.sqrt(lam[:N]), N


def fields_pod(fields, comm, weights=None, eps=1e-4, normalize=False, n_max=None,
               chunk=1 << 15):
    """Collective. :func:`snapshot_pod` of the snapshots ``fields`` (a sequence of
    row-distributed arrays, each flattened to ``(n_rows_local,)``: e.g. quadrature
    fields ``(n_qp_local, c)``; or one array ``(S, n_rows_local)``, a snapshot per
    row), never stacked nor copied: the correlation matrix and the modes are formed
    by chunks of ``chunk`` rows, so the memory is that of the fields and of the
    modes. ``weights (n_rows_local,)``: a diagonal product (None: Euclidean). With
    ``normalize`` each snapshot is scaled to unit norm first (zero ones dropped)."""
    if isinstance(fields, np.ndarray) and fields.ndim == 2:
        F = np.asarray(fields, dtype=float)

        def rows(sl):  # (S, rows sl) of the snapshots
            return F[:, sl]
    else:
        cols = [np.asarray(f, dtype=float).reshape(-1) for f in fields]
        F = None

        def rows(sl):
            return np.stack([c[sl] for c in cols])
    S = len(fields)
    if not S:
        raise RomError("POD: no snapshot")
    n = F.shape[1] if F is not None else len(cols[0])
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    slices = [slice(i, min(i + chunk, n)) for i in range(0, n, chunk)]
    C = np.zeros((S, S))
    for sl in slices:
        X = rows(sl)
        C += (X * w[sl]) @ X.T
    C = comm.allreduce(C)
    if not np.all(np.isfinite(C)):
        raise RomError("POD: snapshots contain NaN or inf")
    keep = np.ones(S, dtype=bool)
    scale = np.ones(S)
    if normalize:  # zero snapshots dropped (their coefficients are zero below)
        d = np.sqrt(np.clip(np.diag(C), 0.0, None))
        keep = d > 1e-300
        C = C[np.ix_(keep, keep)] / np.outer(d[keep], d[keep])
        scale = 1.0 / d[keep]
    if not keep.any():  # only zero snapshots
        return PODResult(np.zeros((n, 0)), np.zeros(0), 0, np.zeros((0, S)))
    lam, coef, N = _correlation_modes(C, eps, n_max)
    # coordinates of the (scaled) snapshots: Psi^T M S = Lambda^-1/2 Xi^T C = Lambda Coef^T
    coordinates = lam[:N, None] * coef.T
    full = np.zeros((S, N))  # the coefficients of every snapshot, kept or dropped
    full[keep] = scale[:, None] * coef
    modes = np.empty((n, N))
    for sl in slices:
        modes[sl] = rows(sl).T @ full
    modes = _orthonormalize(modes, comm, None if weights is None else w)
    return PODResult(modes, np.sqrt(lam), N, coordinates)


def incremental_pod(pod, S_new, comm, product=None, eps=1e-4, n_max=None, factored=False):
    """Collective. Update ``pod`` (modes ``Psi`` with singular values ``sigma``) with new
    snapshots ``S_new (n_rows_local, m)`` without the old snapshots.

    The old snapshots are represented by ``Psi diag(sigma)``. With
    ``A = Psi^T M S_new`` and the M-orthonormal basis ``Q`` of the residual
    ``S_new - Psi A`` (``R = Q B``), the small matrix
    ``K = [[diag(sigma), A], [0, B]]`` has the SVD ``U diag(s) V^T`` and the new modes
    are ``[Psi, Q] U`` with singular values ``s``, truncated by the same criterion.
    Exact (up to round-off) when ``pod`` kept every mode of its snapshots. The
    truncation criterion counts the energy of the singular values ``pod`` had
    discarded; the returned singular values are the modes' (from ``K``), then the
    others of ``K`` merged with the discarded ones.

    With ``factored`` the modes are returned as a :class:`FactoredBasis`
    ``[P, Q] W'`` (``P W`` the old modes, ``W' = [[W U_old], [U_new]]``): the update
    then costs passes over the rows, ``O(n_rows N)``, instead of ``O(n_rows N^2)``
    for the rotated modes. The old modes may be either kind.
    """
    Psi = pod.modes
    sigma = pod.singular_values[: pod.n_modes]
    S_new = np.asarray(S_new, dtype=float)
    if not np.all(np.isfinite(S_new)):
        raise RomError("incremental POD: new snapshots contain NaN or inf")
    A = gram(Psi, S_new, comm, product)
    R = S_new - Psi @ A
    R = R - Psi @ gram(Psi, R, comm, product)  # second Gram-Schmidt pass
    G = gram(R, R, comm, product)
    mu, V = np.linalg.eigh(0.5 * (G + G.T))
    order = np.argsort(mu)[::-1]
    mu, V = mu[order], V[:, order]
    scale = max(float(np.sum(sigma ** 2)), float(np.trace(gram(S_new, S_new, comm, product))))
    keep = mu > 1e-14 * scale
    # the new directions, M-orthonormal to round-off (a small mu amplifies it); with
    # Psi M-orthonormal and U orthogonal, [Psi, Q] U needs no orthonormalization of
    # all the modes afterwards
    Q = _orthonormalize(R @ (V[:, keep] / np.sqrt(mu[keep])), comm, product)
    B = gram(Q, R, comm, product)
    n, m, r = len(sigma), S_new.shape[1], int(keep.sum())
    K = np.zeros((n + r, n + m))
    K[:n, :n] = np.diag(sigma)
    K[:n, n:] = A
    K[n:, n:] = B
    U, s, _ = np.linalg.svd(K, full_matrices=False)
    # the energy the old truncation discarded still counts in the criterion (without
    # it every update would measure the energy fraction against less and drop modes)
    tail = np.asarray(pod.singular_values[pod.n_modes:], dtype=float)
    all_s = np.sort(np.concatenate([s, tail]))[::-1]
    N = min(truncation(all_s ** 2, eps), len(s))
    if n_max is not None:
        N = min(N, n_max)
    if factored:  # [P, Q] [[W U_old], [U_new]]: no pass over the modes but the copy of Q
        Pb = FactoredBasis.of(Psi)
        modes = Pb.extended(Q, np.vstack([Pb.W @ U[:n, :N], U[n:, :N]]), comm)
        if modes.P.shape[1] - N > max(8, N // 4):  # columns the truncations dropped
            modes = FactoredBasis.of(modes.dense())
    else:
        modes = Psi @ U[:n, :N]  # [Psi, Q] U without the copy (and one temporary)
        modes += Q @ U[n:, :N]
    rest = np.sort(np.concatenate([s[N:], tail]))[::-1]
    coordinates = None
    if pod.coefficients is not None:  # old snapshots [A_old; 0], new ones [A; B]
        old = np.vstack([pod.coefficients, np.zeros((r, pod.coefficients.shape[1]))])
        coordinates = U[:, :N].T @ np.hstack([old, np.vstack([A, B])])
    return PODResult(modes, np.concatenate([s[:N], rest]), N, coordinates,
                     update=(weakref.ref(pod), U[:n, :N], Q, U[n:, :N]))


def product_from_petsc(A):
    """A collective product ``X_local -> (A X)_local`` from a PETSc matrix whose local
    rows are the owned rows of ``X`` (e.g. a mass or stiffness matrix): one sparse
    times dense product (``MatMatMult``, the sparse matrix read once for all the
    columns)."""
    from petsc4py import PETSc

    def apply(X):
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            return apply(X[:, None])[:, 0]
        k = X.shape[1]
        if k == 0:
            return np.zeros_like(X)
        B = PETSc.Mat().createDense(size=((X.shape[0], None), (k, k)),
                                    array=np.asfortranarray(X), comm=A.getComm())
        C = A.matMult(B)
        out = np.array(C.getDenseArray(), copy=True)
        B.destroy()
        C.destroy()
        return out

    return apply


def _row_slices(n, chunk):
    return [slice(i, min(i + chunk, n)) for i in range(0, n, chunk)]


class StreamingPOD:
    """Collective. POD of snapshots given block by block (:meth:`add`), never stored:
    the memory is that of the basis and of one block.

    The snapshots seen so far are represented by ``S ~ B C``: ``B (n_rows_local, k)``
    M-orthonormal, ``C (k, n_s)`` their coordinates (replicated). A block ``X`` is
    M-orthogonalized against ``B`` (two classical Gram-Schmidt passes, ``A = B^T M X``),
    its residual ``R = Q Bq`` gets an M-orthonormal basis ``Q`` (eigenvectors of
    ``R^T M R``, directions below ``1e-14`` of the energy dropped as numerically null),
    and with the SVD ``[[C, A], [0, Bq]] = U diag(s) V^T`` the basis becomes
    ``[B, Q] U[:, :N]`` (rotated in place, by chunks of rows) and ``C = diag(s) V^T``
    (first ``N`` rows): exactly the POD of the snapshots seen, up to what the
    intermediate truncations dropped. The rotation, a pass over the basis, waits
    while it would drop at most one block's worth of columns (``[B, Q]`` and
    ``[[C, A], [0, Bq]]`` are kept as they are): the basis holds at most the
    truncated one plus a block. ``N`` is :func:`truncation` at the working
    tolerance ``work * eps`` of the singular values kept merged with every one dropped
    before (their energy still counts in the criterion, as in :func:`incremental_pod`),
    so the energy dropped on the way is at most ``(work eps)^2`` of the total and the
    final truncation at ``eps`` (:meth:`result`) agrees with :func:`snapshot_pod` of all
    the snapshots to that level.

    With ``normalize`` each snapshot is scaled to unit M-norm first and zero snapshots
    are dropped (as :func:`fields_pod` with ``normalize``); the coordinates are then
    those of the unit-norm snapshots.

    With ``euclidean=eps_e`` the same basis also serves the Euclidean POD of the
    snapshots as given (not normalized): the kept span is the union of the ``N`` leading
    directions above and of the leading Euclidean directions of ``S`` (the SVD of
    ``L^T C D``, ``L L^T = B^T B`` the Euclidean Gram matrix of the basis, kept up to
    date, ``D`` the snapshot norms), truncated at ``eps_e`` with their own dropped
    values; :meth:`euclidean_fields` gives those modes times their singular values
    as the first columns of the basis, transformed in place (no array of their own).

    The basis is one column-major buffer that grows (``ndarray.resize``: the columns are
    appended at its end) and that :meth:`result` shrinks to the ``N`` modes it returns
    (a column-major array): no copy of the basis at any time.
    """

    def __init__(self, comm, product=None, eps=1e-4, work=0.1, normalize=False,
                 euclidean=None, chunk=8192):
        if callable(product) and (normalize or euclidean):
            raise RomError("streaming POD: normalization needs a diagonal product")
        self.comm, self.product = comm, product
        self.eps, self.eps_work = float(eps), float(eps) * float(work)
        self.normalize, self.chunk = normalize, chunk
        self.eps_e = euclidean
        self.n = None
        self._flat = np.zeros(0)
        self.k = self.cap = 0
        self.C = np.zeros((0, 0))
        self.d = np.zeros(0)  # norms of the snapshots kept (normalize), else ones
        self.H = np.zeros((0, 0))  # Euclidean Gram matrix of the basis (euclidean)
        self.tail = np.zeros(0)  # singular values the intermediate truncations dropped
        self.tail_e = np.zeros(0)  # same, Euclidean POD
        self.n_seen = self.n_zero = 0
        self._T = None  # the basis is B T (euclidean_fields): B's coordinates are C

    def _buffer(self):
        """The basis buffer ``(n, cap)``, column-major (a view: not kept across a
        resize)."""
        return self._flat[: self.n * self.cap].reshape(self.n, self.cap, order="F")

    def _norms2(self, X):
        """Collective. Squared M-norms of the columns of ``X``."""
        if callable(self.product):
            return self.comm.allreduce(np.einsum("ij,ij->j", X, self.product(X)))
        w = None if self.product is None else np.asarray(self.product)
        out = np.zeros(X.shape[1])
        for sl in _row_slices(len(X), self.chunk):
            out += (X[sl] ** 2).sum(axis=0) if w is None else w[sl] @ X[sl] ** 2
        return self.comm.allreduce(out)

    def add(self, X):
        """Collective. Add the snapshots ``X (n_rows_local, m)`` (the columns; used as
        work space: overwritten)."""
        import scipy.linalg

        X = np.asarray(X, dtype=float)
        X = X[:, None] if X.ndim == 1 else X
        if self.n is None:
            self.n = X.shape[0]
        if X.shape[0] != self.n:
            raise RomError(f"streaming POD: {X.shape[0]} rows, expected {self.n}")
        if self.comm.allreduce(int(not np.all(np.isfinite(X)))):
            raise RomError("POD: snapshots contain NaN or inf")
        self.n_seen += X.shape[1]
        d2 = self._norms2(X)
        d = np.ones(X.shape[1])
        if self.normalize:
            keep = np.sqrt(d2) > 1e-300
            self.n_zero += int(np.sum(~keep))
            if not keep.all():
                X = X[:, keep]
            d = np.sqrt(d2[keep])
            for sl in _row_slices(self.n, self.chunk):
                X[sl] /= d
            d2 = np.ones(len(d))
        m = X.shape[1]
        if m == 0:
            return
        B = self._buffer()[:, : self.k]
        A = np.zeros((self.k, m))
        for _ in range(2):  # classical Gram-Schmidt, twice
            if self.k:
                a = gram(B, X, self.comm, self.product)
                for sl in _row_slices(self.n, self.chunk):
                    X[sl] -= B[sl] @ a
                A += a
        G = gram(X, X, self.comm, self.product)
        mu, V = np.linalg.eigh(0.5 * (G + G.T))
        order = np.argsort(mu)[::-1]
        mu, V = mu[order], V[:, order]
        scale = max(float(np.sum(self.C ** 2) + np.sum(self.tail ** 2)), float(d2.sum()))
        r = int(np.sum(mu > 1e-14 * scale))
        Bq = np.zeros((0, m))
        H = self.H
        if r:
            T = V[:, :r] / np.sqrt(mu[:r])
            for sl in _row_slices(self.n, self.chunk):  # Q = R T, in the first r columns
                X[sl, :r] = X[sl] @ T
            Q = X[:, :r]
            # M-orthonormal to round-off (Cholesky of its Gram matrix): Q L^-T
            Gq = gram(Q, Q, self.comm, self.product)
            L = np.linalg.cholesky(0.5 * (Gq + Gq.T))
            Li = scipy.linalg.solve_triangular(L, np.eye(r), lower=True)  # L ~ I
            for sl in _row_slices(self.n, self.chunk):
                Q[sl] = Q[sl] @ Li.T
            # coordinates of the residual: Q^T M R = L^-1 T^T G = L^-1 sqrt(mu) V^T
            Bq = scipy.linalg.solve_triangular(L, np.sqrt(mu[:r])[:, None] * V[:, :r].T,
                                               lower=True)
            if self.eps_e is not None:  # the Euclidean Gram matrix of [B, Q]
                BQ = gram(B, Q, self.comm) if self.k else np.zeros((0, r))
                H = np.block([[H, BQ], [BQ.T, gram(Q, Q, self.comm)]])
            B = None
            self._reserve(self.k + r)
            self._buffer()[:, self.k: self.k + r] = Q
            del Q
        X = B = None
        k_old, n_old = self.k, self.C.shape[1]
        K = np.zeros((k_old + r, n_old + m))
        K[:k_old, :n_old] = self.C
        K[:k_old, n_old:] = A
        K[k_old:, n_old:] = Bq
        self.d = np.concatenate([self.d, d])
        self.C, self.H, self.k = K, H, k_old + r
        self._truncate(slack=m)

    def _truncate(self, slack=0):
        """Drop the directions the working truncation leaves out (with ``euclidean``,
        those outside the union of both PODs' leading directions), by a rotation of
        the basis in place; deferred while they are at most ``slack`` columns (the
        rotation costs a pass over the basis; they are dropped at a later update)."""
        import scipy.linalg

        K, H = self.C, self.H
        U, s, Vt = np.linalg.svd(K, full_matrices=False)
        merged = np.sort(np.concatenate([s, self.tail]))[::-1]
        N = min(truncation(merged ** 2, self.eps_work), len(s))
        if self.eps_e is None:
            if self.k - N <= slack:
                return
            keep = U[:, :N]
            self.C = s[:N, None] * Vt[:N]
            self.tail = np.sort(np.concatenate([s[N:], self.tail]))[::-1]
        else:
            # the union of the leading directions of both PODs (orthonormal in B's
            # coordinates), and what each loses outside it
            Le, Ue, se = self._euclidean(K, H)
            merged = np.sort(np.concatenate([se, self.tail_e]))[::-1]
            Ne = min(truncation(merged ** 2, self.eps_e), len(se))
            De = scipy.linalg.solve_triangular(Le.T, Ue[:, :Ne], lower=False)
            M = np.hstack([U[:, :N], De / np.maximum(np.linalg.norm(De, axis=0), 1e-300)])
            W, sw, _ = np.linalg.svd(M, full_matrices=False)
            keep = W[:, : int(np.sum(sw > 1e-8 * sw[0]))] if len(sw) else W[:, :0]
            if self.k - keep.shape[1] <= slack:
                return
            self.C = keep.T @ K
            lost = K - keep @ self.C
            self.tail = np.sort(np.concatenate([np.linalg.svd(lost, compute_uv=False),
                                                self.tail]))[::-1]
            self.tail_e = np.sort(np.concatenate([np.linalg.svd(
                Le.T @ lost * self.d, compute_uv=False), self.tail_e]))[::-1]
            self.H = keep.T @ H @ keep
        self._rotate(keep, self.k)

    def _euclidean(self, C, H):
        """``L`` (``L L^T = H``) and the SVD ``L^T C D = U diag(s) V^T`` (``U``, ``s``)."""
        if not len(H):
            return np.zeros((0, 0)), np.zeros((0, 0)), np.zeros(0)
        L = np.linalg.cholesky(0.5 * (H + H.T))
        U, s, _ = np.linalg.svd(L.T @ C * self.d, full_matrices=False)
        return L, U, s

    def euclidean_fields(self, eps=None):
        """Collective. The Euclidean POD (``euclidean``) of the snapshots as given,
        truncated at ``eps`` (default: ``euclidean``): ``(F, s)``, ``F
        (n_rows_local, N)`` its modes times their singular values and ``s`` every
        singular value (kept, then dropped). ``F`` is the first ``N`` columns of the
        basis, transformed in place (``B <- B T``, ``T = [Y, complement]``
        invertible, ``Y`` the modes' coordinates): no array of its own; valid until
        :meth:`result`, which undoes ``T`` in its own rotation."""
        import scipy.linalg

        eps = self.eps_e if eps is None else eps
        self._truncate()
        L, U, s = self._euclidean(self.C, self.H)
        merged = np.sort(np.concatenate([s, self.tail_e]))[::-1]
        N = min(truncation(merged ** 2, eps), len(s))
        Y = scipy.linalg.solve_triangular(L.T, U[:, :N], lower=False) * s[:N]
        # T: Y, then an orthonormal basis of the complement of its span
        T = np.hstack([Y, np.linalg.qr(Y, mode="complete")[0][:, N:]])
        buf = self._buffer()
        for sl in _row_slices(self.n, self.chunk):
            buf[sl, : self.k] = buf[sl, : self.k] @ T
        self._T = T if self._T is None else self._T @ T
        rest = np.sort(np.concatenate([s[N:], self.tail_e]))[::-1]
        return buf[:, :N], np.concatenate([s[:N], rest])

    def _reserve(self, cap):
        if cap > self.cap:
            self._flat.resize(self.n * cap, refcheck=False)  # appends columns
            self.cap = cap

    def _rotate(self, U, k):
        """The first ``k`` columns of the basis times ``U (k, N)``, in place."""
        buf = self._buffer()
        N = U.shape[1]
        signs = np.sign(np.diag(U[:N]))
        if np.allclose(U, np.eye(k, N) * signs, rtol=0, atol=1e-13):
            buf[:, :N] *= signs  # the first N columns, up to their signs (no product)
        else:
            for sl in _row_slices(self.n, self.chunk):
                buf[sl, :N] = buf[sl, :k] @ U
        self.k = N

    def result(self, eps=None):
        """Collective. The POD truncated at ``eps`` (default: the ``eps`` given):
        :class:`PODResult` with the coordinates of the snapshots (unit-norm ones with
        ``normalize``; zero ones dropped). Ends the stream: the basis buffer becomes
        the modes."""
        eps = self.eps if eps is None else eps
        U, s, Vt = np.linalg.svd(self.C, full_matrices=False)
        # the batch POD's sign convention: each mode's largest snapshot coordinate > 0
        sign = np.where(Vt[np.arange(len(Vt)), np.argmax(np.abs(Vt), axis=1)] < 0, -1.0, 1.0)
        U, Vt = U * sign, Vt * sign[:, None]
        merged = np.sort(np.concatenate([s, self.tail]))[::-1]
        N = min(truncation(merged ** 2, eps), len(s))
        if N and s[0] > 0:  # numerically null directions (as snapshot_pod)
            N = min(N, int(np.sum(s ** 2 > 1e-13 * s[0] ** 2)))
        n = self.n or 0
        if self.n is not None:
            self._rotate(U[:, :N] if self._T is None else np.linalg.solve(self._T, U[:, :N]),
                         self.k)
            self._flat.resize(n * N, refcheck=False)  # the first N columns
        modes = self._flat.reshape(n, N, order="F")
        coefficients = s[:N, None] * Vt[:N]
        self._flat, self.cap, self.k = np.zeros(0), 0, 0
        if N:  # re-check the orthonormality after the updates (as pyMOR's extend_basis)
            G = gram(modes, modes, self.comm, self.product)
            if np.abs(G - np.eye(N)).max() > 1e-10:
                import scipy.linalg

                L = np.linalg.cholesky(0.5 * (G + G.T))
                for sl in _row_slices(n, self.chunk):
                    modes[sl] = scipy.linalg.solve_triangular(L, modes[sl].T, lower=True).T
                coefficients = L.T @ coefficients
        rest = np.sort(np.concatenate([s[N:], self.tail]))[::-1]
        return PODResult(modes, np.concatenate([s[:N], rest]), N, coefficients)
