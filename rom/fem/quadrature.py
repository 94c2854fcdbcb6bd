"""Gauss quadrature rules on the reference elements.

Cubes ([-1,1]^d) use tensor Gauss-Legendre rules. Simplices (the unit
triangle and tetrahedron) use the classical symmetric rules for low degrees and
a collapsed (Duffy) tensor Gauss-Legendre rule for any higher degree; all
weights are positive, which the empirical cubature needs.

Default rules are the full Gauss rules of DESIGN section 2: hex8 2x2x2,
hex20 3x3x3, tet4 1 point, tet10 4 points, and on faces tri3 1, tri6 3,
quad4 2x2, quad8 3x3.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["QuadratureRule", "gauss_rule", "default_rule"]


@dataclass(frozen=True, eq=False)
class QuadratureRule:
    """Points ``(n_qp, dim)`` and weights ``(n_qp,)`` on a reference element."""

    points: np.ndarray
    weights: np.ndarray
    degree: int

    @property
    def n_points(self):
        return len(self.weights)


def _cube_rule(dim, degree):
    n = max(1, (degree + 2) // 2)
    x, w = np.polynomial.legendre.leggauss(n)
    grids = np.meshgrid(*([x] * dim), indexing="ij")
    wgrids = np.meshgrid(*([w] * dim), indexing="ij")
    pts = np.stack([g.ravel() for g in grids], axis=1)
    wts = np.prod(np.stack([g.ravel() for g in wgrids], axis=1), axis=1)
    return pts, wts


def _collapsed_rule(dim, degree):
    """Duffy collapse of the cube [0,1]^dim onto the unit simplex."""
    n = max(1, (degree + dim) // 2 + 1)
    x, w = np.polynomial.legendre.leggauss(n)
    x = (x + 1) / 2
    w = w / 2
    if dim == 2:
        u, v = np.meshgrid(x, x, indexing="ij")
        wu, wv = np.meshgrid(w, w, indexing="ij")
        pts = np.stack([u * (1 - v), v], axis=-1).reshape(-1, 2)
        wts = (wu * wv * (1 - v)).ravel()
        return pts, wts
    u, v, s = np.meshgrid(x, x, x, indexing="ij")
    wu, wv, ws = np.meshgrid(w, w, w, indexing="ij")
    pts = np.stack([u * (1 - v) * (1 - s), v * (1 - s), s], axis=-1).reshape(-1, 3)
    wts = (wu * wv * ws * (1 - v) * (1 - s) ** 2).ravel()
    return pts, wts


def _simplex_rule(dim, degree):
    if degree <= 1:
        c = 1.0 / (dim + 1)
        return np.full((1, dim), c), np.array([1.0 / (2 if dim == 2 else 6)])
    if degree == 2 and dim == 2:
        pts = np.array([[1 / 6, 1 / 6], [2 / 3, 1 / 6], [1 / 6, 2 / 3]])
        return pts, np.full(3, 1 / 6)
    if degree == 2 and dim == 3:
        a, b = 0.5854101966249685, 0.1381966011250105
        pts = np.array([[b, b, b], [a, b, b], [b, a, b], [b, b, a]])
        return pts, np.full(4, 1 / 24)
    return _collapsed_rule(dim, degree)


def gauss_rule(element, degree):
    """A rule exact for polynomials of total ``degree`` on ``element``'s reference domain."""
    if element.shape == "cube":
        pts, wts = _cube_rule(element.dim, degree)
    else:
        pts, wts = _simplex_rule(element.dim, degree)
    return QuadratureRule(pts, wts, degree)


_DEFAULT_DEGREE = {"tetra": 1, "tetra10": 2, "hexahedron": 3, "hexahedron20": 5,
                   "triangle": 1, "triangle6": 2, "quad": 3, "quad8": 5}


def default_rule(element):
    """Full Gauss rule of ``element`` (hex8 2x2x2, hex20 3x3x3, tet4 1 point, tet10 4)."""
    return gauss_rule(element, _DEFAULT_DEGREE[element.name])
