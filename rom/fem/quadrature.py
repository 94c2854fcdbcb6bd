"""Gauss quadrature rules on the reference elements.

Cubes ([-1,1]^d) use tensor Gauss-Legendre rules. Simplices (the unit
triangle and tetrahedron) use the classical symmetric rules for low degrees and
a collapsed (Duffy) tensor Gauss-Legendre rule for any higher degree. Prisms (the
unit triangle x [-1,1]) use the triangle's rule times a Gauss-Legendre rule in z.
Pyramids (base [-1,1]^2 at z = 0, apex (0, 0, 1)) use the collapsed rule of the
cube: ``x = xi (1 - z)``, ``y = eta (1 - z)`` with Gauss-Legendre points in xi and
eta and the Gauss-Jacobi points of the weight ``(1 - z)^2`` (the Jacobian of the
collapse) in z, n points in each direction being exact for total degree 2n - 1 (and
for the rational pyramid shape functions, polynomials of xi, eta, z). All weights
are positive, which the empirical cubature needs.

Default rules are the full Gauss rules of DESIGN section 2: hex8 2x2x2,
hex20 3x3x3, tet4 1 point, tet10 4 points, and on faces tri3 1, tri6 3,
quad4 2x2, quad8 3x3; for the wedges and pyramids:

* wedge: 3 x 2 = 6 points (triangle 3 points, degree 2, times 2 in z), exact for
  the stiffness and the mass of an affine wedge (CalculiX's C3D6 takes 1 x 2 points);
* wedge15: 3 x 3 = 9 points (triangle 3 points times 3 in z), as many as CalculiX's
  C3D15 (exact for total degree 2 only: the stiffness of an affine wedge15 needs the
  triangle's degree 4);
* pyramid: 2 x 2 x 2 = 8 points (degree 3; exact for the stiffness and the mass of
  a pyramid whose base is a parallelogram);
* pyramid13: 3 x 3 x 3 = 27 points (degree 5).
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


def _prism_rule(degree, axial_degree):
    """Unit triangle rule of ``degree`` times a Gauss-Legendre rule in z of ``axial_degree``."""
    tp, tw = _simplex_rule(2, degree)
    z, zw = np.polynomial.legendre.leggauss(max(1, (axial_degree + 2) // 2))
    pts = np.column_stack([np.repeat(tp, len(z), axis=0), np.tile(z, len(tw))])
    return pts, np.outer(tw, zw).ravel()


def _pyramid_rule(degree):
    """Collapsed cube rule, n = ceil((degree + 1) / 2) points in each direction:
    Gauss-Legendre in xi, eta and Gauss-Jacobi (weight (1 - z)^2 on [0, 1]) in z, at
    ``(xi (1 - z), eta (1 - z), z)``. ``x^i y^j z^k = xi^i eta^j (1 - z)^(i+j) z^k``, of
    degree ``i + j + k`` in z besides the weight: exact for total degree 2n - 1."""
    from scipy.special import roots_jacobi

    n = max(1, (degree + 2) // 2)
    x, w = np.polynomial.legendre.leggauss(n)
    t, wt = roots_jacobi(n, 2.0, 0.0)  # weight (1 - t)^2 on [-1, 1]
    z, wz = (1 + t) / 2, wt / 8  # (1 - z)^2 dz = (1 - t)^2 / 4 dt / 2
    xi, eta, zz = np.meshgrid(x, x, z, indexing="ij")
    wts = (w[:, None, None] * w[None, :, None] * wz[None, None, :]).ravel()
    a = 1 - zz
    return np.stack([xi * a, eta * a, zz], axis=-1).reshape(-1, 3), wts


def gauss_rule(element, degree, axial_degree=None):
    """A rule exact for polynomials of total ``degree`` on ``element``'s reference domain.

    For a prism, ``axial_degree`` (default ``degree``) is the degree of the
    Gauss-Legendre factor in z, the triangle's being ``degree``."""
    if element.shape == "cube":
        pts, wts = _cube_rule(element.dim, degree)
    elif element.shape == "simplex":
        pts, wts = _simplex_rule(element.dim, degree)
    elif element.shape == "prism":
        axial = degree if axial_degree is None else axial_degree
        pts, wts = _prism_rule(degree, axial)
        degree = min(degree, axial)
    elif element.shape == "pyramid":
        pts, wts = _pyramid_rule(degree)
    else:
        raise ValueError(f"no quadrature on reference shape '{element.shape}'")
    return QuadratureRule(pts, wts, degree)


# degree of the default rule; (triangle degree, z degree) for the prisms
_DEFAULT_DEGREE = {"tetra": 1, "tetra10": 2, "hexahedron": 3, "hexahedron20": 5,
                   "wedge": (2, 3), "wedge15": (2, 5), "pyramid": 3, "pyramid13": 5,
                   "triangle": 1, "triangle6": 2, "quad": 3, "quad8": 5}


def default_rule(element):
    """Full Gauss rule of ``element``: hex8 2x2x2, hex20 3x3x3, tet4 1 point, tet10 4,
    wedge 3x2 (triangle x z), wedge15 3x3, pyramid 2x2x2, pyramid13 3x3x3 (collapsed
    cube rules); tri3 1, tri6 3, quad4 2x2, quad8 3x3 (the module docstring says what
    each integrates exactly)."""
    d = _DEFAULT_DEGREE[element.name]
    return gauss_rule(element, *d) if isinstance(d, tuple) else gauss_rule(element, d)
