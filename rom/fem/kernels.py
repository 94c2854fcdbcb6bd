"""Vectorized finite-element kernels over cells x quadrature points.

Array layout (the one layout of the package)
--------------------------------------------
* element arrays: ``(n_cells, n_qp, ...)``; element node coordinates
  ``X (n_cells, n_nodes_e, 3)``; element displacements ``u_e (n_cells, n_nodes_e, 3)``;
  element dof order is node-major ``3 * a + k`` (node ``a``, component ``k``).
* symmetric tensors in Mandel notation, ``(..., 6)`` with components
  ``(11, 22, 33, sqrt2*23, sqrt2*13, sqrt2*12)``, so that ``a : b = a_M . b_M``;
  tangents ``(..., 6, 6)``. Quadrature-point arrays flatten to ``(n_qp_total, 6)``.
* ``dx (n_cells, n_qp)``: quadrature weight times Jacobian determinant; every
  integral is a sum over ``dx``. Passing ``weights`` instead (e.g. an empirical
  cubature) replaces ``dx`` in the same code path.

A :class:`CellBasis` holds the geometric quantities of a set of cells (the full
mesh, a chunk of it, or the cells of a reduced quadrature); kernels never loop
over cells or points in Python.
"""

import numpy as np

from rom.fem.quadrature import default_rule

SQ2 = np.sqrt(2.0)
# Mandel index -> (i, j) tensor indices
MANDEL_PAIRS = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))

__all__ = ["CellBasis", "FaceBasis", "mandel_to_tensor", "tensor_to_mandel",
           "von_mises", "principal_stresses", "trace", "SQ2", "IDENTITY_MANDEL",
           "extrapolation_matrix", "nodal_sums", "cell_average"]

IDENTITY_MANDEL = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
# the strain operator's entries: index into (g_x, g_y, g_z, g_x/sqrt2, g_y/sqrt2,
# g_z/sqrt2, 0) for Mandel component m (rows) and displacement component k (columns)
_B_GATHER = np.array([[0, 6, 6], [6, 1, 6], [6, 6, 2], [6, 5, 4], [5, 6, 3], [4, 3, 6]])


def mandel_to_tensor(a):
    """``(..., 6)`` Mandel vector -> ``(..., 3, 3)`` symmetric tensor."""
    t = np.empty(a.shape[:-1] + (3, 3))
    t[..., 0, 0], t[..., 1, 1], t[..., 2, 2] = a[..., 0], a[..., 1], a[..., 2]
    t[..., 1, 2] = t[..., 2, 1] = a[..., 3] / SQ2
    t[..., 0, 2] = t[..., 2, 0] = a[..., 4] / SQ2
    t[..., 0, 1] = t[..., 1, 0] = a[..., 5] / SQ2
    return t


def tensor_to_mandel(t):
    """``(..., 3, 3)`` tensor -> ``(..., 6)`` Mandel vector of its symmetric part."""
    a = np.empty(t.shape[:-2] + (6,))
    a[..., 0], a[..., 1], a[..., 2] = t[..., 0, 0], t[..., 1, 1], t[..., 2, 2]
    a[..., 3] = (t[..., 1, 2] + t[..., 2, 1]) / SQ2
    a[..., 4] = (t[..., 0, 2] + t[..., 2, 0]) / SQ2
    a[..., 5] = (t[..., 0, 1] + t[..., 1, 0]) / SQ2
    return a


def trace(a):
    """Trace of Mandel vectors ``(..., 6) -> (...)``."""
    return a[..., 0] + a[..., 1] + a[..., 2]


def von_mises(sigma):
    """Von Mises equivalent ``sqrt(3/2 dev(s):dev(s))`` of Mandel stresses ``(..., 6)``."""
    dev = sigma - trace(sigma)[..., None] / 3.0 * IDENTITY_MANDEL
    return np.sqrt(1.5 * np.einsum("...i,...i->...", dev, dev))


def principal_stresses(sigma):
    """Principal values ``(..., 3)`` of Mandel stresses ``(..., 6)``, in decreasing
    order: ``sigma_1 >= sigma_2 >= sigma_3`` (the mechanics convention, and ParaView's
    "Tensor Principal Invariants"; Abaqus's SP1 <= SP2 <= SP3 is the reverse order).
    The eigenvalues of the symmetric tensor by LAPACK (``numpy.linalg.eigvalsh``,
    batched), accurate to round-off relative to the largest in magnitude."""
    sigma = np.asarray(sigma, dtype=float)
    assert sigma.shape[-1] == 6, sigma.shape
    return np.ascontiguousarray(np.linalg.eigvalsh(mandel_to_tensor(sigma))[..., ::-1])


def _isoparametric_map(element, X, rule):
    """``(X, rule, N (q, a), dN/dxi (q, a, dim), dx/dxi (c, q, 3, dim))`` of cells ``X``."""
    X = np.asarray(X, dtype=float)
    assert X.ndim == 3 and X.shape[1:] == (element.n_nodes, 3), X.shape
    rule = rule or default_rule(element)
    dNdxi = element.shape_gradients(rule.points)
    return (X, rule, element.shape_functions(rule.points), dNdxi,
            np.einsum("cak,qaj->cqkj", X, dNdxi))


def _cofactors(J):
    """Cofactor matrices of ``(..., 3, 3)`` arrays (``inv(J) = cof(J).T / det(J)``)."""
    c = np.empty_like(J)
    for i in range(3):
        i1, i2 = (i + 1) % 3, (i + 2) % 3
        for j in range(3):
            j1, j2 = (j + 1) % 3, (j + 2) % 3
            c[..., i, j] = J[..., i1, j1] * J[..., i2, j2] - J[..., i1, j2] * J[..., i2, j1]
    return c


class CellBasis:
    """Shape functions, gradients and integration weights on a batch of cells.

    Parameters
    ----------
    element : rom.fem.elements.Element
        Reference volume element.
    X : ndarray (n_cells, n_nodes_e, 3)
        Node coordinates of each cell.
    rule : QuadratureRule, optional
        Defaults to the element's full Gauss rule.
    compact : bool
        Keep only the inverse Jacobians ``(n_cells, n_qp, 3, 3)`` and ``dx``: the
        physical gradients (the same values) are computed on each access of ``dNdx``,
        and ``x`` is not kept. For the many cells of a model, where the gradients of
        every cell would dominate the memory.

    Attributes
    ----------
    N : ndarray (n_qp, n_nodes_e)
        Shape functions at the quadrature points.
    dNdx : ndarray (n_cells, n_qp, n_nodes_e, 3)
        Physical gradients.
    dx : ndarray (n_cells, n_qp)
        Weight times Jacobian determinant.
    x : ndarray (n_cells, n_qp, 3)
        Physical quadrature points (not with ``compact``).
    """

    def __init__(self, element, X, rule=None, compact=False):
        from rom import RomError

        self.element = element
        X, self.rule, self.N, self.dNdxi, J = _isoparametric_map(element, X, rule)
        cof = _cofactors(J)
        detJ = np.einsum("...j,...j->...", J[..., 0, :], cof[..., 0, :])
        del J
        if np.any(detJ <= 0):
            bad = int(np.argmax(np.any(detJ <= 0, axis=1)))
            raise RomError(
                f"{element.name} cell with non-positive Jacobian (cell {bad} of the batch): "
                "inverted or degenerate element, or a node ordering meshio does not know")
        # inv(J)[j, k] = cof[k, j] / det, kept as invT[k, j]
        cof /= detJ[..., None, None]
        self._invT = cof
        self.dx = detJ * self.rule.weights[None, :]
        self._dNdx = self.x = None
        if not compact:
            self.detJ = detJ
            self._dNdx = self._gradients()
            self._invT = None
            self.x = np.einsum("qa,cak->cqk", self.N, X)

    def _gradients(self):
        """``dN/dx[c, q, a, k] = sum_j dN/dxi[q, a, j] inv(J)[c, q, j, k]``."""
        return np.matmul(self.dNdxi, self._invT.transpose(0, 1, 3, 2))

    @property
    def dNdx(self):
        """Physical gradients ``(n_cells, n_qp, n_nodes_e, 3)`` (computed on each access
        of a compact basis: hold the result while it is used)."""
        return self._gradients() if self._dNdx is None else self._dNdx

    @property
    def n_cells(self):
        return self.dx.shape[0]

    @property
    def n_qp(self):
        return self.dx.shape[1]

    def _w(self, weights):
        if weights is None:
            return self.dx
        assert weights.shape == self.dx.shape, (weights.shape, self.dx.shape)
        return weights

    def interpolate(self, f_e):
        """Nodal values ``f_e (n_cells, n_nodes_e[, k])`` at the quadrature points."""
        return np.einsum("qa,ca...->cq...", self.N, f_e)

    def strain(self, u_e):
        """Small strain (Mandel) ``(n_cells, n_qp, 6)`` of ``u_e (n_cells, n_nodes_e, 3)``."""
        grad = np.einsum("cak,cqal->cqkl", u_e, self.dNdx)
        return tensor_to_mandel(grad)

    def strain_operator(self):
        """B operator ``(n_cells, n_qp, 6, 3*n_nodes_e)``: ``eps = B @ u_e.ravel()``."""
        g = self.dNdx
        c, q, a, _ = g.shape
        # B[c, q, m, 3 b + k] = g_ext[c, q, b, _B_GATHER[m, k]]: g, g / sqrt2 or 0
        g_ext = np.empty((c, q, a, 7))
        g_ext[..., :3] = g
        np.divide(g, SQ2, out=g_ext[..., 3:6])
        g_ext[..., 6] = 0.0
        idx = (7 * np.arange(a)[None, :, None] + _B_GATHER[:, None, :]).ravel()
        return np.take(g_ext.reshape(c * q, 7 * a), idx, axis=1).reshape(c, q, 6, 3 * a)

    def internal_forces(self, sigma, weights=None):
        """Element vectors ``sum_q w B^T sigma``, shape ``(n_cells, n_nodes_e, 3)``."""
        w = self._w(weights)
        s = mandel_to_tensor(sigma)
        return np.einsum("cq,cqkl,cqal->cak", w, s, self.dNdx)

    def tangent(self, C, weights=None):
        """Element matrices ``sum_q w B^T C B``, shape ``(n_cells, 3a, 3a)``.

        ``C`` is ``(n_cells, n_qp, 6, 6)`` or ``(6, 6)`` (uniform).
        """
        w = self._w(weights)
        B = self.strain_operator()
        if C.ndim == 4 and C.strides[:2] == (0, 0):  # one tangent for every point
            C = C[0, 0]
        CB = np.matmul(C, B)
        CB *= w[:, :, None, None]
        c, q, _, n = B.shape
        return np.matmul(B.reshape(c, q * 6, n).transpose(0, 2, 1), CB.reshape(c, q * 6, n))

    def mass(self, weights=None):
        """Element mass matrices ``sum_q w N_a N_b delta_kl`` (unit density), shape
        ``(n_cells, 3a, 3a)`` in the node-major dof order."""
        w = self._w(weights)
        m = np.einsum("cq,qa,qb->cab", w, self.N, self.N)
        c, a, _ = m.shape
        out = np.zeros((c, a, 3, a, 3))
        for k in range(3):
            out[:, :, k, :, k] = m
        return out.reshape(c, 3 * a, 3 * a)

    def body_forces(self, b, weights=None):
        """Element vectors ``sum_q w N_a b``, with ``b (n_cells, n_qp, 3)``."""
        w = self._w(weights)
        return np.einsum("cq,qa,cqk->cak", w, self.N, b)

    def integrate(self, f, weights=None):
        """Per-cell integrals ``sum_q w f`` of ``f (n_cells, n_qp, ...)``."""
        w = self._w(weights)
        return np.einsum("cq,cq...->c...", w, f)


class FaceBasis:
    """Shape functions and oriented area elements on a batch of faces.

    ``X (n_faces, n_nodes_f, 3)`` in the face element's ordering, outward
    oriented. ``nA (n_faces, n_qp, 3)`` is the outward normal times the weighted
    area element, ``x (n_faces, n_qp, 3)`` the physical points.
    """

    def __init__(self, element, X, rule=None):
        self.element = element
        X, self.rule, self.N, dNdxi, T = _isoparametric_map(element, X, rule)  # T (f,q,3,2)
        n = np.cross(T[..., 0], T[..., 1])
        self.nA = n * self.rule.weights[None, :, None]
        self.x = np.einsum("qa,cak->cqk", self.N, X)

    def area(self):
        """Area of each face ``(n_faces,)``."""
        return np.linalg.norm(self.nA, axis=2).sum(axis=1)

    def pressure_forces(self, p):
        """Element vectors ``-sum_q N_a p n dA`` of a pressure ``p (n_faces, n_qp)``
        (positive pushes against the outward normal), shape ``(n_faces, n_nodes_f, 3)``."""
        return -np.einsum("qa,cq,cqk->cak", self.N, p, self.nA)


def extrapolation_matrix(element, rule=None):
    """``P (n_nodes_e, n_qp)``: quadrature values of a cell to values at its nodes, as
    CalculiX and Abaqus extrapolate stresses: the least-squares fit of the values by
    the shape functions of the linear element of the same shape (``element.linear``),
    evaluated at every node of the cell (mid-edge nodes included). With the default
    rules: interpolation for tet10's 4 points, hex8's 8 and the wedge's 6, a fit of
    hex20's 27, wedge15's 9, the pyramid's 8 and pyramid13's 27 points (by the 5
    rational functions of the linear pyramid), the mean for tet4's 1. Exact for a
    field in the linear element's space: linear over the cell when its geometry is
    the linear element's (straight edges, mid-edge nodes at the midpoints), and e.g.
    trilinear in the reference coordinates of a hexahedron."""
    from rom.fem.elements import get_element

    rule = rule or default_rule(element)
    lin = get_element(element.linear)
    A = lin.shape_functions(rule.points)  # (n_qp, n_corners)
    return lin.shape_functions(element.nodes) @ np.linalg.pinv(A)


def nodal_sums(cells, n_nodes, P, values):
    """Sums over ``cells (c, n_nodes_e)`` of the values extrapolated to their nodes by
    ``P`` (:func:`extrapolation_matrix`) from quadrature values ``values (c * n_qp[,
    k])``, and the number of cells at each node: ``(sums (n_nodes, k), counts
    (n_nodes,))``. The nodal average is ``sums / counts`` (after summing both over
    the ranks that share a node)."""
    c = len(cells)
    v = np.asarray(values, dtype=float).reshape(c, P.shape[1], -1)
    ext = np.matmul(P, v)  # (c, n_nodes_e, k)
    sums = np.stack([np.bincount(cells.ravel(), weights=ext[..., j].ravel(),
                                 minlength=n_nodes) for j in range(v.shape[2])], axis=1)
    return sums, np.bincount(cells.ravel(), minlength=n_nodes)


def cell_average(weights, qp_values, qp_start):
    """Weighted cell averages ``(n_cells, ...)`` of quadrature values ``(n_qp, ...)``
    with weights ``(n_qp,)``, the points of cell ``c`` being ``qp_start[c] ..
    qp_start[c + 1] - 1``."""
    v = np.asarray(qp_values)
    w = np.asarray(weights)
    starts = np.asarray(qp_start[:-1])
    if not len(starts):
        return np.zeros((0,) + v.shape[1:])
    wv = np.add.reduceat(w.reshape((-1,) + (1,) * (v.ndim - 1)) * v, starts, axis=0)
    return wv / np.add.reduceat(w, starts).reshape((-1,) + (1,) * (v.ndim - 1))
