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

__all__ = ["box_mesh", "cylinder_sector_mesh", "mixed_box_mesh"]

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
        ``tetra``, ``tetra10``, ``hexahedron`` or ``hexahedron20`` (or tet4, ...), or
        ``mixed`` / ``mixed2``: :func:`mixed_box_mesh` of degree 1 / 2.
    distort : float
        Random displacement of the interior vertices, as a fraction of the cell size.
    mapping : callable, optional
        ``points (n, 3) -> points (n, 3)`` applied to every node at the end.

    Returns
    -------
    MeshData
    """
    if cell_type in ("mixed", "mixed2"):
        return mixed_box_mesh(n, lengths, 1 + (cell_type == "mixed2"), distort, seed,
                              mapping)
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
    (face_type, (_, _, bconn)), = data.boundary_faces().items()
    groups = {"all": {"cells": np.arange(len(cells)), "faces": {}}}
    for axis, c in enumerate("xyz"):
        for side, value in (("min", 0), ("max", n[axis])):
            on = np.all(ref[bconn][:, :, axis] == value, axis=1)
            groups[c + side] = {"cells": np.zeros(0, np.int64),
                                "faces": {face_type: bconn[on]}}
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
    ``ymax`` (theta = angle), ``zmin``, ``zmax``. ``cell_type`` ``"mixed"`` or
    ``"mixed2"``: :func:`mixed_box_mesh` of degree 1 or 2 (hexahedra near ``r_in``,
    then wedges, pyramids, tetrahedra)."""

    def mapping(p):
        r = r_in + p[:, 0] * (r_out - r_in)
        t = p[:, 1] * angle
        return np.stack([r * np.cos(t), r * np.sin(t), p[:, 2] * height], axis=1)

    return box_mesh(n, (1.0, 1.0, 1.0), cell_type, mapping=mapping)


# the edges of each linear cell type, in the order of its quadratic type's mid-edge nodes
_EDGES = {"tetra": [(0, 1), (1, 2), (0, 2), (0, 3), (1, 3), (2, 3)],
          "hexahedron": [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4),
                         (0, 4), (1, 5), (2, 6), (3, 7)],
          "wedge": [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3), (0, 3), (1, 4), (2, 5)],
          "pyramid": [(0, 1), (1, 2), (2, 3), (3, 0), (0, 4), (1, 4), (2, 4), (3, 4)]}
_QUADRATIC = {"tetra": "tetra10", "hexahedron": "hexahedron20", "wedge": "wedge15",
              "pyramid": "pyramid13"}
# hexahedron corners (0..7, meshio order) -> the cells of each slab of mixed_box_mesh
_WEDGES = np.array([[0, 1, 2, 4, 5, 6], [0, 2, 3, 4, 6, 7]])  # axis z, diagonal 0-2
_HEX_FACES = np.array([[0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4], [1, 2, 6, 5],
                       [2, 3, 7, 6], [3, 0, 4, 7]])  # outward; face 3 is x = 1


def _orient(points, element, cells):
    """``cells`` with the ones whose Jacobian is negative at the reference centroid
    mirrored (two corners of the reference swapped), so that every cell is direct."""
    from rom.fem.elements import get_element

    el = get_element(element)
    g = el.shape_gradients(el.center[None, :])[0]  # (a, 3)
    det = np.linalg.det(np.einsum("cak,aj->ckj", points[cells], g))
    swap = {"tetra": [0, 2, 1, 3], "wedge": [0, 2, 1, 3, 5, 4],
            "pyramid": [0, 3, 2, 1, 4], "hexahedron": [0, 3, 2, 1, 4, 7, 6, 5]}[element]
    cells = cells.copy()
    cells[det < 0] = cells[det < 0][:, swap]
    return cells


def mixed_box_mesh(n=(4, 2, 2), lengths=(1.0, 1.0, 1.0), degree=1, distort=0.0, seed=0,
                   mapping=None):
    """A conforming mesh of the box ``[0, lx] x [0, ly] x [0, lz]`` mixing the four
    volume cell types: its ``nx * ny * nz`` grid cells are, by slabs along x (each a
    quarter of the columns, rounded), hexahedra; wedges (each cell split along its xy
    diagonal, axis z); pyramids (six per cell, from its centre to its faces); and
    tetrahedra (Kuhn's six per cell). Across slabs the faces match: hexahedra and
    wedges share quadrilaterals, wedges and pyramids quadrilaterals, and the pyramids
    of the last pyramid column on the tetrahedra's side are split in two tetrahedra
    along the diagonal of Kuhn's split. ``degree`` 2 gives tetra10, hexahedron20,
    wedge15 and pyramid13 with mid-edge nodes at the edge midpoints. Groups as
    :func:`box_mesh` (``xmin`` ... ``zmax``, ``all``); ``distort`` moves the interior
    grid vertices at random (a fraction of the cell size), ``mapping(points) ->
    points`` bends the box at the end (every node: isoparametric)."""
    nx, ny, nz = n
    if nx < 4:
        raise ValueError("mixed_box_mesh needs nx >= 4 (one slab per cell type)")
    grid = box_mesh(n, lengths, "hexahedron", distort=distort, seed=seed)
    pts = grid.points
    hexes = grid.cells
    i_col = np.arange(len(hexes)) % nx  # the cell's column (box_mesh numbers x fastest)
    bounds = [round(nx * q / 4) for q in (1, 2, 3)]
    region = np.searchsorted(bounds, i_col, side="right")  # 0 hex, 1 wedge, 2 pyr, 3 tet
    blocks = {"hexahedron": [hexes[region == 0]],
              "wedge": [hexes[region == 1][:, _WEDGES].reshape(-1, 6)],
              "tetra": [hexes[region == 3][:, _KUHN].reshape(-1, 4)],
              "pyramid": []}
    pyr = hexes[region == 2]
    centers = pts[pyr].mean(axis=1)
    c_ids = len(pts) + np.arange(len(pyr))
    pts = np.vstack([pts, centers])
    last = i_col[region == 2] == bounds[2] - 1  # next to the tetrahedra
    for f, face in enumerate(_HEX_FACES):
        base = pyr[:, face]  # (c, 4)
        split = last if f == 3 else np.zeros(len(pyr), dtype=bool)
        blocks["pyramid"].append(np.hstack([base[~split], c_ids[~split, None]]))
        if split.any():  # Kuhn's diagonal on x = const: corners 1-6 of the cell
            b = pyr[split]
            blocks["tetra"].append(np.stack([b[:, 1], b[:, 2], b[:, 6], c_ids[split]], 1))
            blocks["tetra"].append(np.stack([b[:, 1], b[:, 6], b[:, 5], c_ids[split]], 1))
    blocks = {t: _orient(pts, t, np.concatenate(c)) for t, c in blocks.items()}
    if degree == 2:  # one mid-edge node per distinct edge, shared by every block
        edges = {t: np.sort(c[:, np.array(_EDGES[t])], axis=2).reshape(-1, 2)
                 for t, c in blocks.items()}
        uniq, inv = np.unique(np.concatenate(list(edges.values())), axis=0,
                              return_inverse=True)
        inv, start, quad = inv.ravel(), 0, {}
        for t, c in blocks.items():
            k = len(_EDGES[t])
            quad[_QUADRATIC[t]] = np.hstack(
                [c, len(pts) + inv[start: start + len(c) * k].reshape(len(c), k)])
            start += len(c) * k
        pts = np.vstack([pts, (pts[uniq[:, 0]] + pts[uniq[:, 1]]) / 2])
        blocks = quad
    cells = [(t, blocks[t].astype(np.int64)) for t in sorted(blocks)]
    data = MeshData(points=pts, cell_type="mixed", cells=cells,
                    source=f"mixed_box_mesh{tuple(n)} degree {degree}")
    # named sides: boundary faces on the box's planes
    lo, hi = np.zeros(3), np.array(lengths, dtype=float)
    groups = {"all": {"cells": np.arange(data.n_cells), "faces": {}}}
    tol = 1e-9 * max(lengths)
    for axis, c in enumerate("xyz"):
        for side, value in (("min", lo[axis]), ("max", hi[axis])):
            faces = {}
            for ft, (_, _, conn) in data.boundary_faces().items():
                on = np.all(np.abs(pts[conn][:, :, axis] - value) <= tol, axis=1)
                if on.any():
                    faces[ft] = conn[on]
            groups[c + side] = {"cells": np.zeros(0, np.int64), "faces": faces}
    node_groups = {name: np.unique(np.concatenate(
        [f.ravel() for f in g["faces"].values()] or [np.zeros(0, np.int64)]))
        for name, g in groups.items()}
    node_groups["all"] = np.arange(len(pts))
    if mapping is not None:
        pts = np.asarray(mapping(pts), dtype=float)
    return MeshData(points=pts, cell_type="mixed", cells=cells, element_groups=groups,
                    node_groups=node_groups, source=data.source)
