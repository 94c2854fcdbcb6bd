"""Structured mesh generator (numpy): boxes, optionally mapped and distorted.

Used for the default case meshes (``meshes/``) and the tests. A box
``[0, lx] x [0, ly] x [0, lz]`` is split into ``nx * ny * nz`` hexahedra (or 6
tetrahedra each, Kuhn's conforming split), quadratic elements get their mid-edge
nodes at edge midpoints, then an optional ``mapping(points) -> points`` bends the
box (mid-edge nodes mapped too, so curved boundaries are represented
isoparametrically). The six sides are named surface groups ``xmin, xmax, ymin,
ymax, zmin, zmax`` and the volume is the cell group ``all``.
"""

import numpy as np

from rom.fem.elements import get_element
from rom.mesh import MeshData

__all__ = ["box_mesh", "cylinder_sector_mesh"]

_KUHN = np.array([[0, 1, 2, 6], [0, 2, 3, 6], [0, 3, 7, 6], [0, 7, 4, 6], [0, 4, 5, 6],
                  [0, 5, 1, 6]])


def _signed_volumes(points, tets):
    a, b, c, d = (points[tets[:, i]] for i in range(4))
    return np.einsum("ij,ij->i", np.cross(b - a, c - a), d - a) / 6.0


def _add_midnodes(points, cells, edges):
    """Quadratic connectivity: one new node at the midpoint of each distinct edge."""
    e = np.sort(cells[:, np.array(edges)], axis=2)  # (c, n_edges, 2)
    flat = e.reshape(-1, 2)
    uniq, inv = np.unique(flat, axis=0, return_inverse=True)
    mid = (points[uniq[:, 0]] + points[uniq[:, 1]]) / 2
    ids = len(points) + inv.ravel().reshape(len(cells), len(edges))
    return np.vstack([points, mid]), np.hstack([cells, ids])


def box_mesh(n=(2, 2, 2), lengths=(1.0, 1.0, 1.0), cell_type="hexahedron", distort=0.0,
             mapping=None, seed=0, origin=(0.0, 0.0, 0.0)):
    """A structured mesh of a box.

    Parameters
    ----------
    n : (nx, ny, nz)
        Divisions per direction.
    lengths, origin : 3-tuples
        Box size and lower corner.
    cell_type : str
        ``tetra``, ``tetra10``, ``hexahedron`` or ``hexahedron20`` (or tet4, ...).
    distort : float
        Random displacement of the interior vertices, as a fraction of the cell size.
    mapping : callable, optional
        ``points (n, 3) -> points (n, 3)`` applied to every node at the end.

    Returns
    -------
    MeshData
    """
    el = get_element(cell_type)
    nx, ny, nz = n
    xs = [np.linspace(o, o + L, m + 1) for o, L, m in zip(origin, lengths, n)]
    X, Y, Z = np.meshgrid(*xs, indexing="ij")
    pts = np.stack([X.ravel(order="F"), Y.ravel(order="F"), Z.ravel(order="F")], axis=1)
    ijk = np.stack(np.meshgrid(np.arange(nx + 1), np.arange(ny + 1), np.arange(nz + 1),
                               indexing="ij"), axis=-1).reshape(-1, 3, order="F")
    if distort:
        rng = np.random.default_rng(seed)
        interior = np.all((ijk > 0) & (ijk < np.array(n)), axis=1)
        h = np.array(lengths) / np.array(n)
        pts[interior] += distort * h * rng.uniform(-1, 1, (interior.sum(), 3))

    def nid(i, j, k):
        return i + (nx + 1) * (j + (ny + 1) * k)

    I, J, K = np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij")
    I, J, K = I.ravel(order="F"), J.ravel(order="F"), K.ravel(order="F")
    hexes = np.stack([nid(I, J, K), nid(I + 1, J, K), nid(I + 1, J + 1, K), nid(I, J + 1, K),
                      nid(I, J, K + 1), nid(I + 1, J, K + 1), nid(I + 1, J + 1, K + 1),
                      nid(I, J + 1, K + 1)], axis=1)
    if el.name.startswith("tetra"):
        cells = hexes[:, _KUHN].reshape(-1, 4)
        neg = _signed_volumes(pts, cells) < 0
        cells[neg] = cells[neg][:, [0, 2, 1, 3]]
        edges = [(0, 1), (1, 2), (0, 2), (0, 3), (1, 3), (2, 3)]
    else:
        cells = hexes
        edges = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4),
                 (1, 5), (2, 6), (3, 7)]
    ref = ijk.astype(float)
    if el.degree == 2:
        ref, _ = _add_midnodes(ref, cells, edges)
        pts, cells = _add_midnodes(pts, cells, edges)
    data = MeshData(points=pts, cell_type=el.name, cells=cells.astype(np.int64),
                    source=f"box_mesh{tuple(n)} {el.name}")
    # named sides from the reference grid indices (robust to distortion and mapping)
    bcells, blocal, bconn = data.boundary_faces()
    groups = {"all": {"cells": np.arange(len(cells)), "faces": {}}}
    for axis, c in enumerate("xyz"):
        for side, value in (("min", 0), ("max", n[axis])):
            on = np.all(ref[bconn][:, :, axis] == value, axis=1)
            groups[c + side] = {"cells": np.zeros(0, np.int64),
                                "faces": {el.face_type: bconn[on]}}
    node_groups = {name: np.unique(np.concatenate(
        [cells[g["cells"]].ravel()] + [f.ravel() for f in g["faces"].values()]))
        for name, g in groups.items()}
    if mapping is not None:
        pts = np.asarray(mapping(pts), dtype=float)
    return MeshData(points=pts, cell_type=el.name, cells=cells.astype(np.int64),
                    element_groups=groups, node_groups=node_groups,
                    source=f"box_mesh{tuple(n)} {el.name}")


def cylinder_sector_mesh(r_in, r_out, height, angle=np.pi / 2, n=(4, 4, 1),
                         cell_type="hexahedron20"):
    """A sector of a thick cylinder ``r_in <= r <= r_out``, ``0 <= theta <= angle``,
    ``0 <= z <= height``: a box in (r, theta, z) mapped to Cartesian coordinates.
    Groups: ``xmin`` (r = r_in), ``xmax`` (r = r_out), ``ymin`` (theta = 0),
    ``ymax`` (theta = angle), ``zmin``, ``zmax``."""

    def mapping(p):
        r = r_in + p[:, 0] * (r_out - r_in)
        t = p[:, 1] * angle
        return np.stack([r * np.cos(t), r * np.sin(t), p[:, 2] * height], axis=1)

    return box_mesh(n, (1.0, 1.0, 1.0), cell_type, mapping=mapping)
