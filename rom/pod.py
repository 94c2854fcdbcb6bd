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

from dataclasses import dataclass

import numpy as np

from rom import RomError

__all__ = ["PODResult", "snapshot_pod", "fields_pod", "incremental_pod", "truncation", "gram",
           "product_from_petsc"]


@dataclass
class PODResult:
    """Modes ``(n_rows_local, N)`` (owned rows), ``singular_values (n_s,)`` of all
    snapshots (decreasing; the first ``N`` belong to the modes) and the count ``N``;
    ``coefficients (N, n_s)``, when known, the coordinates of the snapshots in the modes
    (``Psi^T M S``; of the unit-norm snapshots when they were normalized): replicated,
    what the indicator's calibration (:mod:`rom.indicator`) needs."""

    modes: np.ndarray
    singular_values: np.ndarray
    n_modes: int
    coefficients: np.ndarray = None

    @property
    def energy_fraction(self):
        """Fraction of the snapshot energy captured by the kept modes."""
        lam = self.singular_values ** 2
        return float(lam[: self.n_modes].sum() / lam.sum()) if lam.sum() > 0 else 1.0


def _apply(product, X):
    if product is None:
        return X
    if callable(product):
        return product(X)
    return np.asarray(product)[:, None] * X


def gram(A, B, comm, product=None, chunk=1 << 15):
    """Collective. ``A^T M B`` for row-distributed ``A (n, a)``, ``B (n, b)`` (a
    diagonal ``M`` by chunks of rows: no weighted copy of ``B``)."""
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


def incremental_pod(pod, S_new, comm, product=None, eps=1e-4, n_max=None):
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
    modes = Psi @ U[:n, :N] + Q @ U[n:, :N]  # [Psi, Q] U without the copy
    rest = np.sort(np.concatenate([s[N:], tail]))[::-1]
    coordinates = None
    if pod.coefficients is not None:  # old snapshots [A_old; 0], new ones [A; B]
        old = np.vstack([pod.coefficients, np.zeros((r, pod.coefficients.shape[1]))])
        coordinates = U[:, :N].T @ np.hstack([old, np.vstack([A, B])])
    return PODResult(modes, np.concatenate([s[:N], rest]), N, coordinates)


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
