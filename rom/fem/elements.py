"""Reference finite elements: nodes, shape functions and their gradients, faces.

Node orderings are meshio's (VTK's): for ``tetra10`` the mid-edge nodes follow
edges (0,1), (1,2), (0,2), (0,3), (1,3), (2,3); for ``hexahedron20`` the
mid-edge nodes follow edges (0,1), (1,2), (2,3), (3,0), (4,5), (5,6), (6,7),
(7,4), (0,4), (1,5), (2,6), (3,7). meshio converts gmsh's and Abaqus' orderings
to these when it reads a file.

Each shape-function family is the nodal basis of a polynomial space given by its
monomials: the coefficients are the inverse of the Vandermonde matrix at the
reference nodes, so values and gradients are exact polynomials, the same code for
every element.

Faces are listed with an outward normal (right-hand rule on the face's corner
order), in the ordering of the matching surface element (``triangle``,
``triangle6``, ``quad``, ``quad8``).
"""

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = ["Element", "ELEMENTS", "VOLUME_TYPES", "FACE_TYPES", "get_element"]


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
        Exponents of the polynomial space spanned by the shape functions.
    shape : str
        ``"simplex"`` or ``"cube"`` (reference domain [0,1]-simplex or [-1,1]^dim).
    faces : tuple of tuples
        Local node indices of each face, outward oriented (volumes only).
    face_type : str
        meshio name of the faces' element type (volumes only).
    degree : int
        Polynomial degree along an edge (1 linear, 2 quadratic).
    """

    name: str
    dim: int
    nodes: np.ndarray
    monomials: np.ndarray
    shape: str
    degree: int
    faces: tuple = field(default=())
    face_type: str = ""

    @property
    def n_nodes(self):
        return len(self.nodes)

    @property
    def n_corners(self):
        return {"tetra": 4, "tetra10": 4, "hexahedron": 8, "hexahedron20": 8,
                "triangle": 3, "triangle6": 3, "quad": 4, "quad8": 4}[self.name]

    @cached_property
    def _coefficients(self):
        vander = self._monomial_values(self.nodes)  # (n_nodes, n_monomials)
        return np.linalg.inv(vander)  # N(x) = P(x) @ coeffs

    def _monomial_values(self, xi):
        xi = np.atleast_2d(xi)
        return np.prod(xi[:, None, :] ** self.monomials[None, :, :], axis=2)

    def shape_functions(self, xi):
        """Values ``N[p, a]`` of the shape functions at reference points ``xi (n_p, dim)``."""
        return self._monomial_values(xi) @ self._coefficients

    def shape_gradients(self, xi):
        """Reference gradients ``dN[p, a, j] = dN_a/dxi_j`` at points ``xi (n_p, dim)``."""
        xi = np.atleast_2d(xi)
        grads = np.empty((len(xi), self.n_nodes, self.dim))
        for j in range(self.dim):
            exps = self.monomials.copy()
            factor = exps[:, j].astype(float)
            exps[:, j] = np.maximum(exps[:, j] - 1, 0)
            dP = factor[None, :] * np.prod(xi[:, None, :] ** exps[None, :, :], axis=2)
            grads[:, :, j] = dP @ self._coefficients
        return grads

    @cached_property
    def center(self):
        """Reference centroid."""
        return self.nodes[: self.n_corners].mean(axis=0)


def _mids(corners, edges, edge_node):
    """Face node list: corners, then the mid-edge nodes of its edges in cyclic order."""
    out = list(corners)
    if edge_node is not None:
        n = len(corners)
        for i in range(n):
            a, b = corners[i], corners[(i + 1) % n]
            out.append(edge_node[frozenset((a, b))])
    return tuple(out)


def _build():
    tri3_nodes = np.array([[0, 0], [1, 0], [0, 1]], float)
    tri6_nodes = np.vstack([tri3_nodes, [[0.5, 0], [0.5, 0.5], [0, 0.5]]])
    quad4_nodes = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float)
    quad8_nodes = np.vstack([quad4_nodes, [[0, -1], [1, 0], [0, 1], [-1, 0]]])

    tet4_nodes = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    tet_edges = [(0, 1), (1, 2), (0, 2), (0, 3), (1, 3), (2, 3)]
    tet10_nodes = np.vstack([tet4_nodes, [(tet4_nodes[a] + tet4_nodes[b]) / 2
                                          for a, b in tet_edges]])
    hex8_nodes = np.array([[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1],
                           [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], float)
    hex_edges = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4),
                 (0, 4), (1, 5), (2, 6), (3, 7)]
    hex20_nodes = np.vstack([hex8_nodes, [(hex8_nodes[a] + hex8_nodes[b]) / 2
                                          for a, b in hex_edges]])

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

    # serendipity spaces (quad8, hex20)
    quad8_mono = np.array([(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2), (2, 1), (1, 2)])
    hex20_mono = np.array([(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (2, 0, 0), (0, 2, 0),
                           (0, 0, 2), (1, 1, 0), (0, 1, 1), (1, 0, 1), (2, 1, 0), (2, 0, 1),
                           (1, 2, 0), (0, 2, 1), (1, 0, 2), (0, 1, 2), (1, 1, 1), (2, 1, 1),
                           (1, 2, 1), (1, 1, 2)])

    tet_edge_node = {frozenset(e): 4 + i for i, e in enumerate(tet_edges)}
    hex_edge_node = {frozenset(e): 8 + i for i, e in enumerate(hex_edges)}
    tet_faces = [(0, 2, 1), (0, 1, 3), (1, 2, 3), (0, 3, 2)]
    hex_faces = [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6),
                 (3, 0, 4, 7)]

    elements = [
        Element("triangle", 2, tri3_nodes, mono(max_total=1, dim=2), "simplex", 1),
        Element("triangle6", 2, tri6_nodes, mono(max_total=2, dim=2), "simplex", 2),
        Element("quad", 2, quad4_nodes, mono(max_each=1, dim=2), "cube", 1),
        Element("quad8", 2, quad8_nodes, quad8_mono, "cube", 2),
        Element("tetra", 3, tet4_nodes, mono(max_total=1), "simplex", 1,
                tuple(_mids(f, None, None) for f in tet_faces), "triangle"),
        Element("tetra10", 3, tet10_nodes, mono(max_total=2), "simplex", 2,
                tuple(_mids(f, None, tet_edge_node) for f in tet_faces), "triangle6"),
        Element("hexahedron", 3, hex8_nodes, mono(max_each=1), "cube", 1,
                tuple(_mids(f, None, None) for f in hex_faces), "quad"),
        Element("hexahedron20", 3, hex20_nodes, hex20_mono, "cube", 2,
                tuple(_mids(f, None, hex_edge_node) for f in hex_faces), "quad8"),
    ]
    return {e.name: e for e in elements}


ELEMENTS = _build()
VOLUME_TYPES = ("tetra", "tetra10", "hexahedron", "hexahedron20")
FACE_TYPES = ("triangle", "triangle6", "quad", "quad8")
ALIASES = {"tet4": "tetra", "tet10": "tetra10", "hex8": "hexahedron",
           "hex20": "hexahedron20", "tri3": "triangle", "tri6": "triangle6",
           "quad4": "quad"}


def get_element(name):
    """The reference element of meshio cell type ``name`` (aliases tet4, hex20, ...)."""
    from rom import RomError

    key = ALIASES.get(name, name)
    if key not in ELEMENTS:
        raise RomError(
            f"unsupported cell type '{name}': supported volume cells are "
            f"{', '.join(VOLUME_TYPES)} and face cells {', '.join(FACE_TYPES)}")
    return ELEMENTS[key]
