"""Reference finite elements: nodes, shape functions and their gradients, faces.

Node orderings are meshio's (VTK's):

* ``tetra10``: the mid-edge nodes follow edges (0,1), (1,2), (0,2), (0,3), (1,3),
  (2,3).
* ``hexahedron20``: the mid-edge nodes follow edges (0,1), (1,2), (2,3), (3,0),
  (4,5), (5,6), (6,7), (7,4), (0,4), (1,5), (2,6), (3,7).
* ``wedge`` and ``wedge15``: nodes 0, 1, 2 are one triangle, 3, 4, 5 the opposite
  one (3 joined to 0, 4 to 1, 5 to 2), and the right-hand normal of (0, 1, 2) points
  away from (3, 4, 5) (VTK's handedness, whose checks (``vtkCellValidator``,
  ``vtkCellSizeFilter``) find the other one inverted; gmsh and Abaqus number their
  wedges the other way: :mod:`rom.io.orderings`); ``wedge15``'s mid-edge nodes
  follow edges (0,1), (1,2), (2,0), (3,4), (4,5), (5,3), (0,3), (1,4), (2,5).
* ``pyramid`` and ``pyramid13``: nodes 0-3 are the base quadrilateral,
  counterclockwise seen from the apex 4; ``pyramid13``'s mid-edge nodes follow edges
  (0,1), (1,2), (2,3), (3,0), (0,4), (1,4), (2,4), (3,4).

meshio converts gmsh's and Abaqus' orderings of tetrahedra and hexahedra to these
when it reads a file; see :mod:`rom.io.orderings` for the wedges and pyramids.

Reference domains (``Element.shape``): ``"simplex"`` the unit triangle or
tetrahedron; ``"cube"`` [-1,1]^dim; ``"prism"`` the unit triangle (x, y) times
[-1,1] (z), nodes 0, 1, 2 at z = +1 and 3, 4, 5 at z = -1; ``"pyramid"`` the base
[-1,1]^2 at z = 0 and the apex (0, 0, 1), i.e. ``|x|, |y| <= 1 - z``, 0 <= z <= 1.

Each shape-function family is the nodal basis of a space given by its basis
functions ``x^i y^j z^k / (1 - z)^m``: the coefficients are the inverse of the
Vandermonde matrix at the reference nodes, so values and gradients are exact, the
same code for every element. ``m`` is 0 (polynomials) except for the pyramids,
whose shape functions are rational (Bedrosian 1992, Zgainski et al. 1996) so that
they are conforming with tetrahedra on the triangular faces and with hexahedra on
the base:

* ``wedge``: P1(triangle) x P1(z);
* ``wedge15``: {1, x, y, x^2, xy, y^2} x {1, z} + {z^2, x z^2, y z^2} (serendipity);
* ``pyramid``: {1, x, y, z, xy / (1 - z)}, i.e. ``N_a = (1 + x_a x - z)(1 + y_a y -
  z) / (4 (1 - z))`` at the base corners ``(x_a, y_a, 0)``, ``N_4 = z``;
* ``pyramid13``: P2 + {xy, x^2 y, x y^2} / (1 - z).

The rational functions are continuous at the apex, where they tend to 0 (their
values there are that limit), but their gradients are not defined there: gradients
are for interior points (quadrature points never hit the apex).

Faces are listed with an outward normal (right-hand rule on the face's corner
order), corners first then the mid-edge nodes in cyclic order, in the ordering of
the matching surface element (``triangle``, ``triangle6``, ``quad``, ``quad8``);
``face_types`` names the element of each face (wedges and pyramids mix triangles
and quadrilaterals, and their ``face_type`` raises).
"""

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = ["Element", "ELEMENTS", "VOLUME_TYPES", "FACE_TYPES", "ALIASES", "get_element"]


@dataclass(frozen=True, eq=False)
class Element:
    """A reference element.

    Attributes
    ----------
    name : str
        meshio cell type name.
    dim : int
        Reference dimension (3 for volumes, 2 for faces).
    nodes : ndarray (n_nodes, dim)
        Reference coordinates of the nodes.
    monomials : ndarray (n_nodes, dim) of int
        Exponents ``(i, j[, k])`` of the basis functions of the space spanned by the
        shape functions, ``x^i y^j z^k / (1 - z)^m`` with ``m`` from ``rational``.
    shape : str
        Reference domain: ``"simplex"`` (unit triangle or tetrahedron), ``"cube"``
        ([-1,1]^dim), ``"prism"`` (unit triangle x [-1,1]) or ``"pyramid"`` (base
        [-1,1]^2 at z = 0, apex (0, 0, 1)).
    degree : int
        Polynomial degree along an edge (1 linear, 2 quadratic).
    n_corners : int
        Number of corner (vertex) nodes, the first ones.
    linear : str
        Name of the linear element on the same reference domain (itself if linear).
    faces : tuple of tuples
        Local node indices of each face, outward oriented (volumes only).
    face_types : tuple of str
        meshio name of each face's element type (volumes only).
    rational : ndarray (n_nodes,) of int, optional
        Power ``m`` of ``1 / (1 - z)`` of each basis function (pyramids); None: 0.
    """

    name: str
    dim: int
    nodes: np.ndarray
    monomials: np.ndarray
    shape: str
    degree: int
    n_corners: int
    linear: str
    faces: tuple = field(default=())
    face_types: tuple = field(default=())
    rational: np.ndarray = field(default=None)

    @property
    def n_nodes(self):
        return len(self.nodes)

    @property
    def n_faces(self):
        return len(self.faces)

    @property
    def face_type(self):
        """The type of every face, for a volume whose faces are all of one type
        (tetrahedra, hexahedra); ``""`` for a face element. Raises
        :class:`rom.RomError` for wedges and pyramids, whose faces mix triangles and
        quadrilaterals: use ``face_types`` (or ``face_blocks``)."""
        types = set(self.face_types)
        if len(types) > 1:
            from rom import RomError

            raise RomError(f"{self.name} cells have {' and '.join(sorted(types))} faces: "
                           "no single face type (use Element.face_types or face_blocks)")
        return types.pop() if types else ""

    @cached_property
    def face_blocks(self):
        """The faces grouped by type: ``{face type: (local face ids (n,), local node
        indices (n, n_nodes_f))}``, in the order of ``faces`` within each type (for
        gathering the faces of many cells at once: ``cells[:, nodes]``)."""
        out = {}
        for t in dict.fromkeys(self.face_types):
            ids = np.array([i for i, ft in enumerate(self.face_types) if ft == t])
            out[t] = (ids, np.array([self.faces[i] for i in ids], dtype=np.int64))
        return out

    @cached_property
    def _coefficients(self):
        vander = self._basis(self.nodes)  # (n_nodes, n_basis)
        return np.linalg.inv(vander)  # N(x) = P(x) @ coeffs

    def _basis(self, xi, deriv=None):
        """Basis functions ``P (n_p, n_basis)`` at points ``xi (n_p, dim)``, or their
        derivatives along reference axis ``deriv``."""
        xi = np.atleast_2d(np.asarray(xi, dtype=float))
        exps = self.monomials
        if deriv is None:
            P = np.prod(xi[:, None, :] ** exps[None, :, :], axis=2)
        else:
            e = exps.copy()
            factor = e[:, deriv].astype(float)
            e[:, deriv] = np.maximum(e[:, deriv] - 1, 0)
            P = factor[None, :] * np.prod(xi[:, None, :] ** e[None, :, :], axis=2)
        if self.rational is None or not self.rational.any():
            return P
        # rational terms: x^i y^j z^k / (1 - z)^m, with i + j > m (0 at the apex)
        m = self.rational[None, :]
        a = 1.0 - xi[:, 2:3]
        a = np.where(a == 0.0, 1.0, a)  # the apex, where x^i y^j = 0
        P = P / a ** m
        if deriv == 2:  # d/dz of (1 - z)^-m: m (1 - z)^-(m+1)
            P = P + m * np.prod(xi[:, None, :] ** exps[None, :, :], axis=2) / a ** (m + 1)
        return P

    def shape_functions(self, xi):
        """Values ``N[p, a]`` of the shape functions at reference points ``xi (n_p, dim)``."""
        return self._basis(xi) @ self._coefficients

    def shape_gradients(self, xi):
        """Reference gradients ``dN[p, a, j] = dN_a/dxi_j`` at points ``xi (n_p, dim)``
        (interior points for the pyramids: not their apex)."""
        xi = np.atleast_2d(xi)
        grads = np.empty((len(xi), self.n_nodes, self.dim))
        for j in range(self.dim):
            grads[:, :, j] = self._basis(xi, deriv=j) @ self._coefficients
        return grads

    @cached_property
    def center(self):
        """Mean of the reference corners, an interior point: the reference centroid,
        except for the pyramid ((0, 0, 1/5), the centroid being (0, 0, 1/4))."""
        return self.nodes[: self.n_corners].mean(axis=0)


def _mids(corners, edge_node):
    """Face node list: corners, then the mid-edge nodes of its edges in cyclic order."""
    out = list(corners)
    if edge_node is not None:
        n = len(corners)
        for i in range(n):
            a, b = corners[i], corners[(i + 1) % n]
            out.append(edge_node[frozenset((a, b))])
    return tuple(out)


def _with_midnodes(corners, edges):
    """Corner coordinates followed by the midpoints of ``edges``, and the map
    ``{frozenset(edge): mid-edge node}``."""
    nodes = np.vstack([corners, [(corners[a] + corners[b]) / 2 for a, b in edges]])
    return nodes, {frozenset(e): len(corners) + i for i, e in enumerate(edges)}


def _build():
    tri3_nodes = np.array([[0, 0], [1, 0], [0, 1]], float)
    tri6_nodes = np.vstack([tri3_nodes, [[0.5, 0], [0.5, 0.5], [0, 0.5]]])
    quad4_nodes = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float)
    quad8_nodes = np.vstack([quad4_nodes, [[0, -1], [1, 0], [0, 1], [-1, 0]]])

    tet4_nodes = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    tet10_nodes, tet_edge_node = _with_midnodes(
        tet4_nodes, [(0, 1), (1, 2), (0, 2), (0, 3), (1, 3), (2, 3)])
    hex8_nodes = np.array([[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1],
                           [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], float)
    hex20_nodes, hex_edge_node = _with_midnodes(
        hex8_nodes, [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4),
                     (0, 4), (1, 5), (2, 6), (3, 7)])
    # VTK's wedge: (0, 1, 2) has its right-hand normal away from (3, 4, 5)
    wedge6_nodes = np.array([[0, 0, 1], [1, 0, 1], [0, 1, 1],
                             [0, 0, -1], [1, 0, -1], [0, 1, -1]], float)
    wedge15_nodes, wedge_edge_node = _with_midnodes(
        wedge6_nodes, [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3), (0, 3), (1, 4),
                       (2, 5)])
    pyr5_nodes = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0], [0, 0, 1]],
                          float)
    pyr13_nodes, pyr_edge_node = _with_midnodes(
        pyr5_nodes, [(0, 1), (1, 2), (2, 3), (3, 0), (0, 4), (1, 4), (2, 4), (3, 4)])

    def mono(max_total=None, max_each=None, dim=3):
        out = []
        rng = range(3)
        if dim == 3:
            cands = [(i, j, k) for i in rng for j in rng for k in rng]
        else:
            cands = [(i, j) for i in rng for j in rng]
        for e in cands:
            if max_total is not None and sum(e) > max_total:
                continue
            if max_each is not None and max(e) > max_each:
                continue
            out.append(e)
        return np.array(out, dtype=int)

    # serendipity spaces (quad8, hex20, wedge15)
    quad8_mono = np.array([(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2), (2, 1), (1, 2)])
    hex20_mono = np.array([(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (2, 0, 0), (0, 2, 0),
                           (0, 0, 2), (1, 1, 0), (0, 1, 1), (1, 0, 1), (2, 1, 0), (2, 0, 1),
                           (1, 2, 0), (0, 2, 1), (1, 0, 2), (0, 1, 2), (1, 1, 1), (2, 1, 1),
                           (1, 2, 1), (1, 1, 2)])
    tri_p1, tri_p2 = mono(max_total=1, dim=2), mono(max_total=2, dim=2)
    wedge6_mono = np.array([(i, j, k) for k in (0, 1) for i, j in tri_p1])
    wedge15_mono = np.array([(i, j, k) for k in (0, 1) for i, j in tri_p2]
                            + [(0, 0, 2), (1, 0, 2), (0, 1, 2)])
    # pyramids: the polynomials, then x y / (1 - z) (and x^2 y, x y^2 over 1 - z)
    pyr5_mono = np.array([(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0)])
    pyr5_rat = np.array([0, 0, 0, 0, 1])
    pyr13_mono = np.vstack([mono(max_total=2), [(1, 1, 0), (2, 1, 0), (1, 2, 0)]])
    pyr13_rat = np.array([0] * 10 + [1, 1, 1])

    tet_faces = [(0, 2, 1), (0, 1, 3), (1, 2, 3), (0, 3, 2)]
    hex_faces = [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6),
                 (3, 0, 4, 7)]
    # VTK's face lists (vtkWedge, vtkPyramid), outward
    wedge_faces = [(0, 1, 2), (3, 5, 4), (0, 3, 4, 1), (1, 4, 5, 2), (2, 5, 3, 0)]
    pyr_faces = [(0, 3, 2, 1), (0, 1, 4), (1, 2, 4), (2, 3, 4), (3, 0, 4)]
    linear_face = {3: "triangle", 4: "quad"}
    quadratic_face = {3: "triangle6", 4: "quad8"}

    def volume(name, nodes, monomials, shape, degree, n_corners, linear, faces,
               edge_node=None, rational=None):
        types = quadratic_face if degree == 2 else linear_face
        return Element(name, 3, nodes, monomials, shape, degree, n_corners, linear,
                       faces=tuple(_mids(f, edge_node) for f in faces),
                       face_types=tuple(types[len(f)] for f in faces), rational=rational)

    elements = [
        Element("triangle", 2, tri3_nodes, tri_p1, "simplex", 1, 3, "triangle"),
        Element("triangle6", 2, tri6_nodes, tri_p2, "simplex", 2, 3, "triangle"),
        Element("quad", 2, quad4_nodes, mono(max_each=1, dim=2), "cube", 1, 4, "quad"),
        Element("quad8", 2, quad8_nodes, quad8_mono, "cube", 2, 4, "quad"),
        volume("tetra", tet4_nodes, mono(max_total=1), "simplex", 1, 4, "tetra", tet_faces),
        volume("tetra10", tet10_nodes, mono(max_total=2), "simplex", 2, 4, "tetra",
               tet_faces, tet_edge_node),
        volume("hexahedron", hex8_nodes, mono(max_each=1), "cube", 1, 8, "hexahedron",
               hex_faces),
        volume("hexahedron20", hex20_nodes, hex20_mono, "cube", 2, 8, "hexahedron",
               hex_faces, hex_edge_node),
        volume("wedge", wedge6_nodes, wedge6_mono, "prism", 1, 6, "wedge", wedge_faces),
        volume("wedge15", wedge15_nodes, wedge15_mono, "prism", 2, 6, "wedge",
               wedge_faces, wedge_edge_node),
        volume("pyramid", pyr5_nodes, pyr5_mono, "pyramid", 1, 5, "pyramid", pyr_faces,
               rational=pyr5_rat),
        volume("pyramid13", pyr13_nodes, pyr13_mono, "pyramid", 2, 5, "pyramid",
               pyr_faces, pyr_edge_node, rational=pyr13_rat),
    ]
    return {e.name: e for e in elements}


ELEMENTS = _build()
VOLUME_TYPES = ("tetra", "tetra10", "hexahedron", "hexahedron20", "wedge", "wedge15",
                "pyramid", "pyramid13")
FACE_TYPES = ("triangle", "triangle6", "quad", "quad8")
ALIASES = {"tet4": "tetra", "tet10": "tetra10", "hex8": "hexahedron",
           "hex20": "hexahedron20", "tri3": "triangle", "tri6": "triangle6",
           "quad4": "quad", "wedge6": "wedge", "prism": "wedge", "prism6": "wedge",
           "prism15": "wedge15", "penta6": "wedge", "penta15": "wedge15",
           "pyramid5": "pyramid", "pyr5": "pyramid", "pyr13": "pyramid13"}


def get_element(name):
    """The reference element of meshio cell type ``name`` (aliases tet4, hex20, wedge6,
    prism, penta15, pyramid5, ...: :data:`ALIASES`)."""
    from rom import RomError

    key = ALIASES.get(name, name)
    if key not in ELEMENTS:
        raise RomError(
            f"unsupported cell type '{name}': supported volume cells are "
            f"{', '.join(VOLUME_TYPES)} and face cells {', '.join(FACE_TYPES)}")
    return ELEMENTS[key]
