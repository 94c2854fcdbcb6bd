"""Node orders of the wedges and pyramids of gmsh, MED and Abaqus files against ours
(rom.io.orderings): meshes of known volume made by gmsh, read back, permuted."""

import contextlib
import io
import re

import numpy as np
import pytest

from helpers import gmsh_hex_tet_boxes
from rom.fem import CellBasis, default_rule, get_element
from rom.io.orderings import (
    PERMUTATIONS,
    permutation,
    register_meshio_cell_types,
    to_our_order,
)

gmsh = pytest.importorskip("gmsh")
meshio = pytest.importorskip("meshio")

EXTENSIONS = {"gmsh": "msh", "med": "med", "abaqus": "inp"}
# cell type -> (mesh, order); the prism mesh fills a 1 x 1 x 2 box, the pyramid mesh a
# 2 x 1 x 1 box (hexahedra beside tetrahedra, pyramids between them)
CASES = {"wedge": ("prism", 1), "wedge15": ("prism", 2), "pyramid": ("pyramid", 1),
         "pyramid13": ("pyramid", 2)}
VOLUME = 2.0
VOLUME_TYPES = ("tetra", "tetra10", "hexahedron", "hexahedron20", "wedge", "wedge15",
                "pyramid", "pyramid13")


def _mesh(kind, order, base):
    """Mesh ``kind`` at ``order`` with gmsh; write ``base.msh``, ``.med`` and ``.inp``."""
    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add(kind)
        if kind == "prism":  # a meshed unit square extruded by 2 in 3 recombined layers
            s = gmsh.model.occ.addRectangle(0, 0, 0, 1, 1)
            ext = gmsh.model.occ.extrude([(2, s)], 0, 0, 2, numElements=[3], recombine=True)
            gmsh.model.occ.synchronize()
            gmsh.model.addPhysicalGroup(3, [t for d, t in ext if d == 3], name="solid")
        else:  # structured hexahedra in [0,1]^3, tetrahedra in [1,2] x [0,1]^2
            a, b = gmsh_hex_tet_boxes(gmsh)
            gmsh.model.addPhysicalGroup(3, [a, b], name="solid")
        gmsh.option.setNumber("Mesh.MeshSizeMax", 0.4)
        gmsh.option.setNumber("Mesh.SecondOrderIncomplete", 1)  # 15- and 13-node cells
        gmsh.model.mesh.generate(3)
        gmsh.model.mesh.setOrder(order)
        for ext in EXTENSIONS.values():
            gmsh.write(f"{base}.{ext}")
    finally:
        gmsh.finalize()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("orderings")
    out = {}
    for kind, order in sorted(set(CASES.values())):
        base = str(folder / f"{kind}{order}")
        _mesh(kind, order, base)
        out[kind, order] = base
    return out


_DECK_TYPES = {"C3D4": "tetra", "C3D10": "tetra10", "C3D8": "hexahedron",
               "C3D20": "hexahedron20", "C3D6": "wedge", "C3D15": "wedge15",
               "C3D5": "pyramid", "C3D13": "pyramid13"}


def _read_deck(path):
    """Nodes and volume cells of an Abaqus deck, in file order (what meshio and
    rom.io.abaqus return): ``(points, {meshio type: cells})``."""
    nodes, cells, mode, pending = {}, {}, None, []
    for line in open(path):
        if line.startswith("**"):
            continue
        if line.startswith("*"):
            kw = line.upper()
            mode = "node" if kw.startswith("*NODE") else None
            m = re.search(r"TYPE=(\w+)", kw) if kw.startswith("*ELEMENT") else None
            if m and m.group(1) in _DECK_TYPES:
                mode = _DECK_TYPES[m.group(1)]
            continue
        vals = line.replace(",", " ").split()
        if mode == "node":
            nodes[int(vals[0])] = [float(v) for v in vals[1:4]]
        elif mode is not None and vals:
            pending += [int(v) for v in vals]
            n = get_element(mode).n_nodes
            if len(pending) == n + 1:
                cells.setdefault(mode, []).append(pending[1:])
                pending = []
    ids = np.array(sorted(nodes))
    index = np.full(ids.max() + 1, -1)
    index[ids] = np.arange(len(ids))
    return (np.array([nodes[i] for i in ids]),
            {t: index[np.array(c)] for t, c in cells.items()})


def _read(base, fmt):
    """``(points, {meshio type: cells as read})`` of the volume cells of file ``base``
    of format ``fmt``: meshio for gmsh and MED, the deck's lines for Abaqus (meshio
    5.0 does not know C3D5 and C3D13; where it reads the deck its cells are the same)."""
    path = f"{base}.{EXTENSIONS[fmt]}"
    if fmt == "abaqus":
        points, blocks = _read_deck(path)
        register_meshio_cell_types()
        try:
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                m = meshio.read(path, file_format="abaqus")
        except (Exception, SystemExit):  # meshio 5.0 exits on C3D5 and C3D13 decks
            m = None
        if m is not None:
            for b in m.cells:
                if b.type in blocks:
                    np.testing.assert_array_equal(m.points[b.data], points[blocks[b.type]])
        return points, blocks
    register_meshio_cell_types()
    with contextlib.redirect_stdout(io.StringIO()):
        m = meshio.read(path, file_format="gmsh" if fmt == "gmsh" else None)
    return m.points, {b.type: np.asarray(b.data) for b in m.cells if b.type in VOLUME_TYPES}


def _signed_volumes(el, X):
    """Per-cell integrals of det J (the default rule): negative for a mirrored cell."""
    rule = default_rule(el)
    J = np.einsum("cak,qaj->cqkj", X, el.shape_gradients(rule.points))
    return np.linalg.det(J) @ rule.weights


def _midpoint_error(el, X):
    """Largest distance of the mid-edge nodes from the midpoints of the edges their
    positions name in our order (the gmsh meshes have straight edges)."""
    if el.degree == 1:
        return 0.0
    lin = get_element(el.linear)
    mids = np.einsum("ab,cbk->cak", lin.shape_functions(el.nodes[el.n_corners:]),
                     X[:, : el.n_corners])
    return np.abs(X[:, el.n_corners:] - mids).max()


@pytest.mark.parametrize("fmt", list(EXTENSIONS))
@pytest.mark.parametrize("cell_type", list(CASES))
def test_cells_read_and_permuted_are_direct_and_fill_the_box(files, fmt, cell_type):
    """After :func:`to_our_order`, every Jacobian of the ``cell_type`` cells is positive
    (CellBasis raises otherwise), their mid-edge nodes are the midpoints of their
    edges, and with the other cells they fill the box's volume; as read, every cell of
    the type is mirrored exactly when the format lists a permutation for it."""
    kind, order = CASES[cell_type]
    points, blocks = _read(files[kind, order], fmt)
    assert cell_type in blocks and len(blocks[cell_type]) > 0
    el = get_element(cell_type)
    as_read = _signed_volumes(el, points[blocks[cell_type]])
    if permutation(fmt, cell_type) is None:
        assert as_read.min() > 0
    else:
        assert as_read.max() < 0
    cells = to_our_order(fmt, cell_type, blocks[cell_type])
    basis = CellBasis(el, points[cells])
    assert basis.detJ.min() > 0
    assert _midpoint_error(el, points[cells]) < 1e-9
    # the other volume cells (their own orders aside): |volume| of each
    others = sum(np.abs(_signed_volumes(get_element(t), points[c])).sum()
                 for t, c in blocks.items() if t != cell_type)
    np.testing.assert_allclose(basis.dx.sum() + others, VOLUME, rtol=1e-10)


def test_permutations_are_permutations_that_mirror():
    """Each permutation is a permutation of the element's nodes that keeps the cell
    type's edges (mid-edge nodes follow their corners) and mirrors the reference
    element (negative Jacobian)."""
    for fmt, table in PERMUTATIONS.items():
        for t, p in table.items():
            el = get_element(t)
            assert sorted(p) == list(range(el.n_nodes)), (fmt, t)
            X = el.nodes[list(p)]
            assert _signed_volumes(el, X[None])[0] < 0, (fmt, t)
            assert _midpoint_error(el, X[None]) < 1e-14, (fmt, t)
    assert permutation("gmsh", "pyramid13") is None and permutation("vtu", "wedge") is None


def test_meshio_builds_quadratic_wedges_and_pyramids():
    register_meshio_cell_types()
    for t in ("wedge15", "pyramid13"):
        el = get_element(t)
        m = meshio.Mesh(el.nodes, [(t, np.arange(el.n_nodes)[None])])
        assert m.cells[0].dim == 3
