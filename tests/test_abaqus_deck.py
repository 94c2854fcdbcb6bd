"""Abaqus/CalculiX decks (``.inp``) as meshes (``rom.io.abaqus``): ``*SURFACE`` by face
number and by nodes, sets with GENERATE, ``*INCLUDE``, lower-case keywords, analysis
keywords after the mesh; gmsh's order-2 exports (surface elements beside the
volumes); gmsh's wedges and pyramids, and decks mixing every solid type (face numbers
S1..Sn of each, surfaces of triangles and quadrilaterals); 27-node hexahedra refused;
damaged decks named by file and line.

The decks' face numbers come from this test's own tables: C3D20's is the one checked
against CalculiX's solutions in ``test_calculix.py``; C3D10's is CalculiX's manual's
(faces 1-2-3, 1-4-2, 2-4-3, 3-4-1), checked here against ``ccx`` itself: the same deck,
its ``*SURFACE`` loaded by ``*DSLOAD`` in CalculiX and by a pressure on the face set in
ours, gives the same displacements. The wedges' and pyramids' (``MANUAL_FACES``): the
wedge's is the Abaqus manual's, checked against ``ccx`` the same way (C3D6, C3D15); the
pyramid's (no CalculiX element) follows the others' convention, checked on one element
per type (each face number one boundary face, its corners listed with the normal into
the element, as for every other type).
"""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from test_calculix import CCX_FACES, _read_dat

from helpers import gmsh_hex_tet_boxes, solve, write_case
from rom import RomError
from rom.fem import CellBasis, FaceBasis, get_element
from rom.io.meshfile import read_mesh_file
from rom.io.orderings import permutation
from rom.mesh import SetDefinition
from rom.meshgen import box_mesh, mixed_box_mesh

CCX = shutil.which("ccx")

# CalculiX's faces S1..S4 of C3D4/C3D10 by corner nodes (0-based): 1-2-3, 1-4-2, 2-4-3,
# 3-4-1 in the manual
CCX_TET_FACES = ((0, 1, 2), (0, 3, 1), (1, 3, 2), (2, 3, 0))
ABAQUS_TYPE = {"tetra10": "C3D10", "hexahedron20": "C3D20R", "tetra": "C3D4",
               "hexahedron": "C3D8"}
E, NU, PRESSURE = 1000.0, 0.3, 2.5


def _faces_on_x1(data):
    """``(element index, face number 1..n)`` of the element faces on ``x = 1``, by the
    test's CalculiX tables."""
    table = CCX_TET_FACES if data.cell_type.startswith("tetra") else CCX_FACES
    on = np.isclose(data.points[:, 0], 1.0)
    return [(e, k + 1) for e, cell in enumerate(data.cells.tolist())
            for k, corners in enumerate(table) if all(on[cell[i]] for i in corners)]


def _deck(data, node_offset=0, element_offset=0, analysis=True, weight=True, etype=None):
    """``(deck lines, included node lines)`` of a CalculiX deck of ``data``: nodes in
    ``nodes/nodes.inp`` (data lines only, trailing commas), the elements in two
    ``*ELEMENT`` blocks (C3D20 over two lines), node sets ``NXMIN``, ``NXMAX``,
    ``NODD`` (GENERATE), element sets ``EALL``, ``FIRST`` (GENERATE), the element
    surface ``LOADED`` (faces on x = 1, half through element sets named like Abaqus
    CAE's), the node surface ``NLOADED`` (the nodes on x = 1), then a linear static
    step with ``*DSLOAD`` on ``LOADED``. A node surface's line has a weight in Abaqus,
    not in CalculiX (``weight=False``)."""
    nid = np.arange(len(data.points)) + 1 + node_offset
    eid = np.arange(data.n_cells) + 1 + element_offset
    etype = etype or ABAQUS_TYPE[data.cell_type]
    nodes = [f"{nid[i]}, {x!r}, {y!r}, {z!r}," for i, (x, y, z) in enumerate(data.points)]
    lines = ["** a CalculiX deck written by tests/test_abaqus_deck.py", "*HEADING",
             "mesh with surfaces", "*node, nset=NALL", "*include, input=nodes/nodes.inp"]
    half = data.n_cells // 2
    for lo, hi, kw in ((0, half, "*Element, Type=" + etype.lower() + ", Elset=EALL"),
                       (half, data.n_cells, f"*ELEMENT, TYPE={etype}, ELSET=EALL")):
        lines.append(kw)
        for e in range(lo, hi):
            ids = [str(eid[e])] + [str(nid[i]) for i in data.cells[e]]
            lines += [", ".join(ids[:16]) + ",", ", ".join(ids[16:])] if len(ids) > 16 \
                else [", ".join(ids)]
    on = np.isclose(data.points[:, 0], 1.0)
    for name, ids in (("NXMIN", nid[np.isclose(data.points[:, 0], 0.0)]), ("NXMAX", nid[on])):
        lines.append(f"*NSET, NSET={name}")
        lines += [", ".join(map(str, ids[i:i + 8])) + "," for i in range(0, len(ids), 8)]
    lines += ["*nset, nset=NODD, generate", f"{nid[0]}, {nid[-1]}, 2",
              "*ELSET, ELSET=FIRST, GENERATE", f"{eid[0]}, {eid[min(2, len(eid) - 1)]}"]
    faces = _faces_on_x1(data)
    by_elset = {}
    surface = []
    for j, (e, k) in enumerate(faces):
        if j % 2:
            by_elset.setdefault(k, []).append(str(eid[e]))
        else:
            surface.append(f"{eid[e]}, S{k}")
    for k, ids in sorted(by_elset.items()):
        lines += [f"*Elset, elset=_LOADED_S{k}, internal", ", ".join(ids)]
        surface.append(f"_LOADED_S{k}, S{k}")
    lines += ["*SURFACE, NAME=LOADED, TYPE=ELEMENT", *surface,
              "*Surface, name=NLOADED, type=NODE", "NXMAX",
              f"{nid[on][0]}, 1." if weight else f"{nid[on][0]}"]
    if analysis:
        lines += ["*MATERIAL, NAME=STEEL", "*ELASTIC", f"{E}, {NU}",
                  "*SOLID SECTION, ELSET=EALL, MATERIAL=STEEL",
                  "*STEP", "*STATIC", "*BOUNDARY", "NXMIN, 1, 3, 0.",
                  "** the load on the element surface", "*DSLOAD", f"LOADED, P, {PRESSURE}",
                  "*NODE PRINT, NSET=NALL", "U", "*END STEP"]
    return lines, nodes


def _write(folder, lines, nodes, name="deck.inp"):
    os.makedirs(os.path.join(folder, "nodes"), exist_ok=True)
    with open(os.path.join(folder, "nodes", "nodes.inp"), "w") as f:
        f.write("\n".join(["** nodes", *nodes]) + "\n")
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _rows(conn, sort=False):
    return {tuple(sorted(r) if sort else r) for r in np.asarray(conn).tolist()}


def _pressure_forces(d, conn):
    """Nodal forces ``(n_nodes, 3)`` of a unit pressure on the faces ``conn``."""
    basis = FaceBasis(get_element(d.element.face_type), d.points[conn])
    dofs = (3 * conn[:, :, None] + np.arange(3)).ravel()
    F = np.bincount(dofs, weights=basis.pressure_forces(np.ones(basis.nA.shape[:2])).ravel(),
                    minlength=3 * d.n_nodes)
    return F.reshape(-1, 3)


@pytest.mark.parametrize("cell_type", ["hexahedron20", "tetra10", "hexahedron", "tetra"])
def test_surfaces_and_sets_of_a_calculix_deck(cell_type, tmp_path):
    ref = box_mesh((2, 2, 2), (1.0, 1.0, 1.0), cell_type, distort=0.15)
    lines, nodes = _deck(ref, node_offset=1000, element_offset=10)
    d = read_mesh_file(_write(str(tmp_path), lines, nodes))
    assert d.cell_type == ref.cell_type
    np.testing.assert_array_equal(d.points, ref.points)
    np.testing.assert_array_equal(d.cells, ref.cells)
    d.add_definitions([SetDefinition("geo", "faces", "x == 1"),
                       SetDefinition("geo_nodes", "nodes", "x == 1")])
    geo_cells, geo_local, geo_conn = d.face_set("geo")
    face_type = d.element.face_type
    n_face_nodes = get_element(face_type).n_nodes
    assert len(geo_conn) == 4 * (2 if cell_type.startswith("tetra") else 1)
    for name in ("LOADED", "NLOADED"):
        # the group's own faces: the same faces with the same (outward) connectivity,
        # mid-edge nodes included for quadratic elements
        group = d.element_groups[name]["faces"]
        assert list(group) == [face_type] and group[face_type].shape[1] == n_face_nodes
        assert _rows(group[face_type]) == _rows(geo_conn)
        cells, local, conn = d.face_set(name)
        assert _rows(zip(cells, local)) == _rows(zip(geo_cells, geo_local))
        assert np.array_equal(np.sort(d.node_set(name)), d.node_set("geo_nodes"))
        # the same external force as the pressure on the geometric face set
        F = _pressure_forces(d, conn)
        np.testing.assert_allclose(F, _pressure_forces(d, geo_conn), atol=1e-14)
        np.testing.assert_allclose(F.sum(axis=0), [-1.0, 0.0, 0.0], atol=1e-12)
    # node and element sets, GENERATE, the sets of *NODE and *ELEMENT
    assert np.array_equal(d.node_set("NXMAX"), d.node_set("geo_nodes"))
    assert np.allclose(d.points[d.node_set("NXMIN"), 0], 0.0)
    assert np.array_equal(d.node_set("NODD"), np.arange(0, d.n_nodes, 2))
    assert np.array_equal(d.cell_set("FIRST"), [0, 1, 2])
    assert np.array_equal(d.cell_set("EALL"), np.arange(d.n_cells))
    assert len(d.node_set("NALL")) == d.n_nodes
    assert np.array_equal(d.file_node_ids, np.arange(d.n_nodes))


def test_set_names_are_case_insensitive_and_sets_nest(tmp_path):
    ref = box_mesh((2, 2, 1), (1.0, 1.0, 1.0), "hexahedron")
    lines, nodes = _deck(ref, analysis=False)
    lines += ["*ELSET, ELSET=Both", "first, 4", "*ELSET, ELSET=both", "eall",
              "*NSET, NSET=ALLNODES", "nxmin, NXMAX,", "*ELSET, ELSET=LEFTCELLS", "1, 3",
              "*SURFACE, NAME=LEFT", "leftcells, s6",
              "*STEP", "*STATIC", "*ELSET, ELSET=LATE", "2", "*END STEP"]
    d = read_mesh_file(_write(str(tmp_path), lines, nodes))
    assert "Both" in d.element_groups and "both" not in d.element_groups
    assert np.array_equal(d.cell_set("Both"), [0, 1, 2, 3])  # a repeated name adds to it
    assert len(d.node_set("ALLNODES")) == 2 * 3 * 2
    cells, local, conn = d.face_set("LEFT")
    assert list(cells) == [0, 2] and np.allclose(d.points[conn][..., 0], 0.0)
    assert np.array_equal(d.cell_set("LATE"), [1])


def _gmsh_box(path, kind, nset=False):
    """The unit box meshed by gmsh (order 2 tetrahedra, 20-node hexahedra, or 6- or
    15-node wedges: a meshed square extruded in 2 recombined layers), physical groups
    ``SOLID`` (volume) and ``XMAX`` (the face x = 1), written as .inp; returns the
    number of volume elements."""
    gmsh = pytest.importorskip("gmsh")
    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Verbosity", 0)
        gmsh.model.add("box")
        if kind.startswith("wedge"):
            gmsh.model.occ.addRectangle(0, 0, 0, 1, 1)
            gmsh.model.occ.extrude([(2, 1)], 0, 0, 1, numElements=[2], recombine=True)
        else:
            gmsh.model.occ.addBox(0, 0, 0, 1, 1, 1)
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(3, [1], name="SOLID")
        faces = gmsh.model.getEntities(2)
        right = [t for d, t in faces if np.isclose(gmsh.model.occ.getCenterOfMass(d, t)[0], 1)]
        gmsh.model.addPhysicalGroup(2, right, name="XMAX")
        gmsh.option.setNumber("Mesh.MeshSizeMax", 0.5)
        if kind in ("hex20", "wedge15"):
            gmsh.option.setNumber("Mesh.SecondOrderIncomplete", 1)
        if kind == "hex20":
            for _, c in gmsh.model.getEntities(1):
                gmsh.model.mesh.setTransfiniteCurve(c, 3)
            for _, s in faces:
                gmsh.model.mesh.setTransfiniteSurface(s)
                gmsh.model.mesh.setRecombine(2, s)
            gmsh.model.mesh.setTransfiniteVolume(1)
        gmsh.option.setNumber("Mesh.SaveGroupsOfNodes", int(nset))
        gmsh.model.mesh.generate(3)
        gmsh.model.mesh.setOrder(1 if kind == "wedge" else 2)
        n = sum(len(tags) for tags in gmsh.model.mesh.getElements(3)[1])
        gmsh.write(path)
    finally:
        gmsh.finalize()
    return n


@pytest.mark.parametrize("kind,nset", [("tet10", False), ("hex20", True)])
def test_gmsh_order_2_deck(kind, nset, tmp_path):
    path = str(tmp_path / "box.inp")
    n = _gmsh_box(path, kind, nset)
    with open(path) as f:
        text = f.read()
    # what gmsh writes: surface elements beside the volumes, which meshio 5 cannot read
    surface_type = {"tet10": "CPS6", "hex20": "CPS8"}[kind]
    assert f"type={surface_type}" in text and ("*NSET" in text) == nset
    d = read_mesh_file(path)
    assert d.cell_type == {"tet10": "tetra10", "hex20": "hexahedron20"}[kind]
    assert d.n_cells == n and np.array_equal(d.cell_set("SOLID"), np.arange(n))
    # the mid-edge nodes are where meshio's (VTK's) ordering puts them
    el = d.element
    edges = ([(0, 1), (1, 2), (0, 2), (0, 3), (1, 3), (2, 3)] if kind == "tet10" else
             [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5),
              (2, 6), (3, 7)])
    for i, (a, b) in enumerate(edges):
        mid = (d.points[d.cells[:, a]] + d.points[d.cells[:, b]]) / 2
        np.testing.assert_allclose(d.points[d.cells[:, el.n_corners + i]], mid, atol=1e-12)
    # the physical surface: a face set (quadratic faces) equal to the geometric one
    d.add_definitions([SetDefinition("geo", "faces", "x == 1")])
    cells, local, conn = d.face_set("XMAX")
    assert _rows(conn) == _rows(d.face_set("geo")[2])
    assert _rows(d.element_groups["XMAX"]["faces"][el.face_type], sort=True) == \
        _rows(conn, sort=True)
    area = FaceBasis(get_element(el.face_type), d.points[conn]).area().sum()
    assert np.isclose(area, 1.0)
    assert np.allclose(d.points[d.node_set("XMAX"), 0], 1.0)
    assert np.array_equal(d.node_set("XMAX"), np.unique(conn))


# Abaqus' faces S1..Sn in its node numbering, as the manual lists them (1-based; the
# right-hand normal of each points into the element), for this test's decks; the
# pyramid's as derived in rom.io.abaqus
MANUAL_FACES = {
    "C3D4": "1-2-3 1-4-2 2-4-3 3-4-1",
    "C3D8": "1-2-3-4 5-8-7-6 1-5-6-2 2-6-7-3 3-7-8-4 4-8-5-1",
    "C3D6": "1-2-3 4-6-5 1-4-5-2 2-5-6-3 3-6-4-1",
    "C3D5": "1-2-3-4 1-5-2 2-5-3 3-5-4 4-5-1",
}
MANUAL_FACES.update({"C3D10": MANUAL_FACES["C3D4"], "C3D20": MANUAL_FACES["C3D8"],
                     "C3D15": MANUAL_FACES["C3D6"], "C3D13": MANUAL_FACES["C3D5"]})
DECK_TYPE = {"tetra": "C3D4", "tetra10": "C3D10", "hexahedron": "C3D8",
             "hexahedron20": "C3D20", "wedge": "C3D6", "wedge15": "C3D15",
             "pyramid": "C3D5", "pyramid13": "C3D13"}
MESHIO_TYPE = {v: k for k, v in DECK_TYPE.items()}


def _manual_faces(deck_type):
    """The corners (0-based, in the deck's node order) of S1..Sn of ``deck_type``."""
    return [[int(a) - 1 for a in f.split("-")] for f in MANUAL_FACES[deck_type].split()]


def _to_deck_order(cell_type, cells):
    """Cells in our node order -> the deck's (Abaqus') order: the inverse of
    rom.io.orderings' ``cells_ours = cells_deck[:, perm]``."""
    perm = permutation("abaqus", cell_type)
    return cells if perm is None else cells[:, np.argsort(perm)]


def _read_deck_elements(path):
    """``(node id -> xyz, [(deck type, element ids, node ids (n, k))])`` of the solid
    element cards of a deck, as they stand in it (this test's own reading)."""
    nodes, cards, mode, pending = {}, [], None, []
    for line in open(path):
        if line.startswith("**"):
            continue
        if line.startswith("*"):
            kw = line.upper().replace(" ", "")
            mode = "node" if kw.startswith("*NODE") and not kw.startswith("*NODEPRINT") \
                else None
            m = re.search(r"TYPE=(\w+)", kw) if kw.startswith("*ELEMENT") else None
            if m and m.group(1) in MESHIO_TYPE:
                mode = m.group(1)
                cards.append((mode, []))
            continue
        vals = line.replace(",", " ").split()
        if mode == "node" and vals:
            nodes[int(vals[0])] = np.array([float(v) for v in vals[1:4]])
        elif mode is not None and vals:
            pending += [int(v) for v in vals]
            if len(pending) == get_element(MESHIO_TYPE[mode]).n_nodes + 1:
                cards[-1][1].append(pending)
                pending = []
    return nodes, [(t, np.array(rows)[:, 0], np.array(rows)[:, 1:]) for t, rows in cards
                   if rows]


def _labelled_faces(nodes, cards, planes):
    """``[(element id, k)]``: the faces Sk (this test's table) whose corners are all on
    one of the ``planes`` ``(axis, value)``."""
    out = []
    for t, ids, conn in cards:
        for k, corners in enumerate(_manual_faces(t)):
            xyz = np.array([[nodes[i] for i in row] for row in conn[:, corners]])
            hit = np.any([np.all(np.isclose(xyz[:, :, a], v), axis=1) for a, v in planes],
                         axis=0)
            out += [(int(e), k + 1) for e in ids[hit]]
    return sorted(out)


def _surface_lines(name, faces, half_by_elset=True):
    """A ``*SURFACE`` of the faces ``[(element id, k)]``: every other face on its own
    line, the others through element sets ``_<name>_Sk`` (as Abaqus CAE writes)."""
    by_elset, direct = {}, []
    for j, (e, k) in enumerate(faces):
        if j % 2 and half_by_elset:
            by_elset.setdefault(k, []).append(str(e))
        else:
            direct.append(f"{e}, S{k}")
    lines = []
    for k, ids in sorted(by_elset.items()):
        lines += [f"*Elset, elset=_{name}_S{k}, internal"]
        lines += [", ".join(ids[i:i + 16]) for i in range(0, len(ids), 16)]
        direct.append(f"_{name}_S{k}, S{k}")
    return lines + [f"*SURFACE, NAME={name}, TYPE=ELEMENT", *direct]


def _area(d, faces):
    """Total area of ``{face type: connectivity}``."""
    return sum(FaceBasis(get_element(t), d.points[c]).area().sum()
               for t, c in faces.items() if len(c))


def _volumes(d):
    """Cell volumes, block after block (CellBasis raises for a non-positive Jacobian)."""
    out = []
    for b in d.blocks:
        dx = CellBasis(b.element, d.points[b.cells]).dx
        assert dx.min() > 0, b.type
        out.append(dx.sum(axis=1))
    return np.concatenate(out)


def _midpoint_error(d):
    """Largest distance of a mid-edge node from the midpoint its position names."""
    err = 0.0
    for b in d.blocks:
        el = b.element
        if el.degree == 2:
            lin = get_element(el.linear)
            mids = np.einsum("ab,cbk->cak", lin.shape_functions(el.nodes[el.n_corners:]),
                             d.points[b.cells[:, : el.n_corners]])
            err = max(err, np.abs(d.points[b.cells[:, el.n_corners:]] - mids).max())
    return err


def _face_pairs(groups):
    """``{(cell, local face)}`` of ``face_groups`` output."""
    return {(int(c), int(f)) for cells, local, _ in groups.values()
            for c, f in zip(cells, local)}


@pytest.mark.parametrize("kind", ["wedge", "wedge15"])
def test_gmsh_wedge_deck(kind, tmp_path):
    """gmsh's C3D6 and C3D15 (the box extruded in prisms): direct cells filling the box,
    mid-edge nodes where VTK's order puts them; a *SURFACE by face numbers on x = 1
    (quadrilaterals) and z = 1 (triangles), both face types in one set."""
    path = str(tmp_path / "box.inp")
    n = _gmsh_box(path, kind)
    nodes, cards = _read_deck_elements(path)
    assert [t for t, _, _ in cards] == [DECK_TYPE[kind]]
    faces = _labelled_faces(nodes, cards, [(0, 1.0), (2, 1.0)])
    with open(path, "a") as f:
        f.write("\n".join(_surface_lines("LOADED", faces)) + "\n")
    d = read_mesh_file(path)
    assert d.cell_type == kind and d.n_cells == n
    np.testing.assert_allclose(_volumes(d).sum(), 1.0, rtol=1e-12)
    assert _midpoint_error(d) < 1e-12
    assert np.array_equal(d.cell_set("SOLID"), np.arange(n))
    tri, quad = ("triangle", "quad") if kind == "wedge" else ("triangle6", "quad8")
    group = d.element_groups["LOADED"]["faces"]
    assert sorted(group) == sorted([tri, quad])
    assert len(group[tri]) + len(group[quad]) == len(faces)
    np.testing.assert_allclose(_area(d, group), 2.0, rtol=1e-12)
    # the same faces, with the same (outward) connectivity, as the geometric face set
    d.add_definitions([SetDefinition("x1", "faces", "x == 1"),
                       SetDefinition("z1", "faces", "z == 1")])
    geo = [d.face_groups("x1"), d.face_groups("z1")]
    assert _face_pairs(d.face_groups("LOADED")) == set().union(*map(_face_pairs, geo))
    for t in (tri, quad):
        assert _rows(group[t]) == set().union(*(_rows(g[t][2]) for g in geo))
    assert np.allclose(np.sort(d.node_set("LOADED")), np.unique(np.concatenate(
        [c.ravel() for c in group.values()])))
    # gmsh's physical surface on x = 1: its quadrilaterals, boundary faces
    xmax = d.face_set("XMAX")
    assert _rows(xmax[2], sort=True) == _rows(group[quad], sort=True)


def _gmsh_pyramid_box(path, order):
    """The box [0, 2] x [0, 1] x [0, 1] meshed by gmsh: 3 x 3 x 3 hexahedra in x < 1,
    tetrahedra in x > 1, pyramids on the hexahedra's faces x = 1 (the interface, the
    physical surface ``XMID``); at ``order`` 2 the 20-, 13- and 10-node cells. Returns
    the number of volume elements."""
    gmsh = pytest.importorskip("gmsh")
    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Verbosity", 0)
        gmsh.model.add("pyramids")
        a, b = gmsh_hex_tet_boxes(gmsh)
        gmsh.model.addPhysicalGroup(3, [a, b], name="SOLID")
        mid = [t for d, t in gmsh.model.getEntities(2)
               if np.allclose(gmsh.model.occ.getCenterOfMass(d, t), (1, 0.5, 0.5))]
        gmsh.model.addPhysicalGroup(2, mid, name="XMID")
        gmsh.option.setNumber("Mesh.MeshSizeMax", 0.4)
        gmsh.option.setNumber("Mesh.SecondOrderIncomplete", 1)
        gmsh.model.mesh.generate(3)
        gmsh.model.mesh.setOrder(order)
        n = sum(len(tags) for tags in gmsh.model.mesh.getElements(3)[1])
        gmsh.write(path)
    finally:
        gmsh.finalize()
    return n


@pytest.mark.parametrize("order", [1, 2])
def test_gmsh_pyramid_deck(order, tmp_path):
    """gmsh's hexahedra, pyramids (C3D5, C3D13) and tetrahedra in one deck: three cell
    blocks, direct cells filling the box; the pyramids' S1 are the hexahedra's faces on
    the interface x = 1, their S2..S5 faces of the tetrahedra."""
    path = str(tmp_path / "box.inp")
    n = _gmsh_pyramid_box(path, order)
    nodes, cards = _read_deck_elements(path)
    pyr = next(ids for t, ids, _ in cards if t.startswith("C3D5") or t == "C3D13")
    lines = ["*ELSET, ELSET=PYR", *(", ".join(map(str, pyr[i:i + 16]))
                                   for i in range(0, len(pyr), 16)),
             "*SURFACE, NAME=BASES", "PYR, S1",
             "*SURFACE, NAME=SIDES", *(f"PYR, S{k}" for k in (2, 3, 4, 5))]
    with open(path, "a") as f:
        f.write("\n".join(lines) + "\n")
    d = read_mesh_file(path)
    types = (["hexahedron", "pyramid", "tetra"] if order == 1 else
             ["hexahedron20", "pyramid13", "tetra10"])
    assert d.cell_type == "mixed" and list(d.cell_types) == types
    assert d.cell_types[types[0]] == 27 and d.cell_types[types[1]] == 9 == len(pyr)
    assert d.n_cells == n and np.array_equal(d.cell_set("SOLID"), np.arange(n))
    np.testing.assert_allclose(_volumes(d).sum(), 2.0, rtol=1e-12)
    assert _midpoint_error(d) < 1e-12
    # the element set of the pyramids: the pyramid block's cells
    block = {b.type: b for b in d.blocks}
    assert np.array_equal(d.cell_set("PYR"), np.arange(block[types[1]].start,
                                                       block[types[1]].stop))
    quad, tri = ("quad", "triangle") if order == 1 else ("quad8", "triangle6")
    bases = d.element_groups["BASES"]["faces"]
    sides = d.element_groups["SIDES"]["faces"]
    assert list(bases) == [quad] and list(sides) == [tri]
    assert len(bases[quad]) == 9 and len(sides[tri]) == 36
    # the bases: the interface's faces (gmsh's surface elements XMID), on x = 1, of
    # total area 1 with the pyramids' outward normal -x
    assert _rows(bases[quad], sort=True) == _rows(d.element_groups["XMID"]["faces"][quad],
                                                  sort=True)
    assert np.allclose(d.points[bases[quad]][..., 0], 1.0)
    basis = FaceBasis(get_element(quad), d.points[bases[quad]])
    np.testing.assert_allclose(basis.nA.sum(axis=(0, 1)), [-1.0, 0.0, 0.0], atol=1e-12)
    # the sides: faces of the tetrahedra, the opposite way round
    tets = block[types[2]]
    tet_faces = tets.cells[:, np.array(tets.element.faces)].reshape(-1, len(sides[tri][0]))
    assert _rows(sides[tri], sort=True) <= _rows(tet_faces, sort=True)
    assert not _rows(sides[tri]) & _rows(tet_faces)
    # interior faces: not a face set of the boundary
    with pytest.raises(RomError, match="not boundary faces"):
        d.face_groups("BASES")


def _reference_deck(deck_type, labels=True):
    """One element of ``deck_type`` on our reference element's nodes, written in
    Abaqus' order, and a surface ``Sk`` per face k."""
    el = get_element(MESHIO_TYPE[deck_type])
    conn = _to_deck_order(el.name, np.arange(el.n_nodes)[None])[0]
    lines = ["*NODE", *(f"{i + 1}, {x!r}, {y!r}, {z!r}" for i, (x, y, z) in
                        enumerate(el.nodes))]
    lines += [f"*ELEMENT, TYPE={deck_type}, ELSET=ONE",
              "7, " + ", ".join(str(i + 1) for i in conn)]
    if labels:
        for k in range(len(_manual_faces(deck_type))):
            lines += [f"*SURFACE, NAME=S{k + 1}", f"7, S{k + 1}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("deck_type", list(MANUAL_FACES))
def test_face_numbers_of_one_element(deck_type, tmp_path):
    """Each face Sk of one element (on the reference element's nodes, in Abaqus' order)
    is one boundary face of the element, with the corners of the manual's face and the
    opposite normal (the manual's corners go around the face with the right-hand
    normal pointing into the element), and the faces together are the boundary."""
    path = tmp_path / "one.inp"
    path.write_text(_reference_deck(deck_type))
    d = read_mesh_file(str(path))
    el = get_element(MESHIO_TYPE[deck_type])
    assert d.cell_type == el.name and d.n_cells == 1
    assert _volumes(d).sum() > 0
    deck = np.array(_to_deck_order(el.name, np.arange(el.n_nodes)[None])[0])
    seen = set()
    for k, corners in enumerate(_manual_faces(deck_type)):
        groups = d.face_groups(f"S{k + 1}")  # raises unless a boundary face
        (ft, (cells, local, conn)), = [(t, g) for t, g in groups.items() if len(g[0])]
        assert list(cells) == [0] and len(local) == 1
        seen.add(int(local[0]))
        assert list(conn[0]) == list(d.cells[0][list(el.faces[local[0]])])
        assert set(conn[0][: len(corners)]) == set(deck[corners])
        # the manual's corner order: the normal into the element
        X = d.points[deck[corners]]
        inward = 0.5 * (np.cross(X[1] - X[0], X[2] - X[0]) if len(X) == 3 else
                        np.cross(X[2] - X[0], X[3] - X[1]))
        nA = FaceBasis(get_element(ft), d.points[conn]).nA.sum(axis=(0, 1))
        np.testing.assert_allclose(nA, -inward, atol=1e-12)
    assert seen == set(range(el.n_faces))


def _mixed_deck(data):
    """Deck lines of the mesh ``data`` with its cells in Abaqus' order: its first block
    in two cards around the other blocks' (for mixed_box_mesh: hexahedra, then wedges,
    tetrahedra, pyramids, then hexahedra: not the alphabetical order of the mesh's
    blocks), element ids in the order written, every element in the set ``EALL``;
    returns ``(lines, {element id: cell id of data})``."""
    lines = ["*HEADING", "a deck written by tests/test_abaqus_deck.py", "*NODE, NSET=NALL"]
    lines += [f"{i + 1}, {x!r}, {y!r}, {z!r}" for i, (x, y, z) in enumerate(data.points)]
    first, *others = data.blocks
    others.sort(key=lambda b: ("wedge", "tetra", "pyramid", "hexahedron").index(
        b.element.linear))
    half = len(first.cells) // 2
    order = [(first, 0, half)] + [(b, 0, len(b.cells)) for b in others] \
        + [(first, half, len(first.cells))]
    eid, cell_of = 1, {}
    for b, lo, hi in order:
        conn = _to_deck_order(b.type, b.cells[lo:hi]) + 1
        lines.append(f"*ELEMENT, TYPE={DECK_TYPE[b.type]}, ELSET=EALL")
        for row, c in enumerate(conn):
            ids = [str(eid)] + [str(i) for i in c]
            lines += [", ".join(ids[:16]) + ",", ", ".join(ids[16:])] if len(ids) > 16 \
                else [", ".join(ids)]
            cell_of[eid] = b.start + lo + row
            eid += 1
    return lines, cell_of


@pytest.mark.parametrize("degree", [1, 2])
def test_mixed_deck_with_every_element_type(degree, tmp_path):
    """C3D8 + C3D6 + C3D5 + C3D4 (C3D20 + C3D15 + C3D13 + C3D10) in one deck, written
    by hand from mixed_box_mesh: the mesh back block by block, element sets in the
    blocks' numbering, an element *SURFACE with faces of every type (triangles and
    quadrilaterals), a node *SURFACE with both face types."""
    ref = mixed_box_mesh((4, 2, 2), degree=degree)
    lines, cell_of = _mixed_deck(ref)
    path = str(tmp_path / "mixed.inp")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    nodes, cards = _read_deck_elements(path)
    faces = _labelled_faces(nodes, cards, [(0, 0.0), (0, 1.0), (1, 0.0), (2, 1.0)])
    labelled_types = {t for t, ids, _ in cards for e, _ in faces if e in set(ids.tolist())}
    assert len(labelled_types) == 4  # faces of every element type
    picked = list(range(1, len(cell_of) + 1, 5))
    lines += ["*ELSET, ELSET=PICKED", *(", ".join(map(str, picked[i:i + 16]))
                                        for i in range(0, len(picked), 16))]
    lines += _surface_lines("LOADED", faces)
    lines += ["*NSET, NSET=TOP", ", ".join(str(i + 1) for i in
                                           np.flatnonzero(np.isclose(ref.points[:, 2], 1))),
              "*SURFACE, NAME=NTOP, TYPE=NODE", "TOP"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    d = read_mesh_file(path)
    # the same mesh: blocks in alphabetical order, each in the deck's order
    assert d.cell_type == "mixed" and list(d.cell_types) == list(ref.cell_types)
    np.testing.assert_array_equal(d.points, ref.points)
    for (t, c), (t_ref, c_ref) in zip(d.block_cells, ref.block_cells):
        assert t == t_ref
        np.testing.assert_array_equal(c, c_ref)
    np.testing.assert_allclose(_volumes(d).sum(), 1.0, rtol=1e-12)
    # element sets: the cells of the elements they list
    assert np.array_equal(d.cell_set("PICKED"), np.sort([cell_of[e] for e in picked]))
    assert np.array_equal(d.cell_set("EALL"), np.arange(d.n_cells))
    # the element surface: x = 0, x = 1, y = 0 and z = 1, of both face types
    group = d.element_groups["LOADED"]["faces"]
    tri, quad = ("triangle", "quad") if degree == 1 else ("triangle6", "quad8")
    assert sorted(group) == sorted([tri, quad])
    assert sum(len(c) for c in group.values()) == len(faces)
    np.testing.assert_allclose(_area(d, group), 4.0, rtol=1e-12)
    planes = {"x0": "x == 0", "x1": "x == 1", "y0": "y == 0", "z1": "z == 1"}
    d.add_definitions([SetDefinition(n, "faces", w) for n, w in planes.items()])
    geo = [d.face_groups(n) for n in planes]
    assert _face_pairs(d.face_groups("LOADED")) == set().union(*map(_face_pairs, geo))
    for t in (tri, quad):
        assert _rows(group[t]) == set().union(*(_rows(g[t][2]) for g in geo))
    # the node surface: the boundary faces of z = 1, triangles and quadrilaterals
    ntop = d.element_groups["NTOP"]["faces"]
    assert sorted(ntop) == sorted([tri, quad])
    assert _face_pairs(d.face_groups("NTOP")) == _face_pairs(d.face_groups("z1"))
    np.testing.assert_allclose(_area(d, ntop), 1.0, rtol=1e-12)
    assert np.array_equal(d.node_set("NTOP"), np.flatnonzero(np.isclose(d.points[:, 2], 1)))


def test_refused_and_inverted_elements_are_named(tmp_path):
    """27-node hexahedra are refused by name; linear and quadratic solids in one deck
    are refused with their types and counts; an inverted cell (here wedges written in
    VTK's order as C3D6) is named with its file and line."""
    hex27 = tmp_path / "hex27.inp"
    hex27.write_text("\n".join([
        "*NODE", *(f"{i + 1}, {i}., 0., 0." for i in range(27)),
        "*ELEMENT, TYPE=C3D4", "1, 1, 2, 3, 4",
        "*ELEMENT, TYPE=C3D27, ELSET=E",
        "2, " + ", ".join(str(i + 1) for i in range(15)) + ",",
        ", ".join(str(i + 1) for i in range(15, 27))]) + "\n")
    with pytest.raises(RomError, match=r"hex27.inp: 1 C3D27 element\(s\) \(hexahedron27; "
                                       r"the first at .*hex27.inp, line 32\): not supported"):
        read_mesh_file(str(hex27))
    ref = mixed_box_mesh((4, 1, 1), degree=1)
    lines, _ = _mixed_deck(ref)
    # a quadratic tetrahedron among the linear cells
    mixed = lines + ["*NODE", "90001, 0., 0., 0.5", "90002, 0.5, 0., 0.5",
                     "*ELEMENT, TYPE=C3D10"]
    b = next(b for b in ref.blocks if b.type == "tetra")
    mixed.append("9999, " + ", ".join(str(i + 1) for i in b.cells[0])
                  + ", 90001, 90002, 90001, 90002, 90001, 90002")
    path = tmp_path / "degrees.inp"
    path.write_text("\n".join(mixed) + "\n")
    with pytest.raises(RomError, match=r"degrees.inp: linear solid elements \(C3D8: \d+, "
                                       r"C3D6: \d+, C3D4: \d+, C3D5: \d+\) beside quadratic "
                                       r"ones \(C3D10: 1\): their faces cannot match"):
        read_mesh_file(str(path))
    # wedges in our (VTK's) order under Abaqus' name: all inverted
    w = next(b for b in ref.blocks if b.type == "wedge")
    wrong = ["*NODE", *(f"{i + 1}, {x!r}, {y!r}, {z!r}" for i, (x, y, z) in
                        enumerate(ref.points)), "*ELEMENT, TYPE=C3D6"]
    wrong += [f"{e + 1}, " + ", ".join(str(i + 1) for i in c) for e, c in enumerate(w.cells)]
    path = tmp_path / "vtk_wedges.inp"
    path.write_text("\n".join(wrong) + "\n")
    line = len(ref.points) + 3
    with pytest.raises(RomError, match=rf"vtk_wedges.inp, line {line}: element 1 \(C3D6\): "
                                       rf"non-positive Jacobian at its centre \({len(w.cells)}"
                                       r" such C3D6 element\(s\)\): inverted"):
        read_mesh_file(str(path))


def _damage(lines, find, replace):
    """The deck with the line ``find`` replaced; its 1-based number."""
    i = lines.index(find)
    return [*lines[:i], replace, *lines[i + 1:]], i + 1


@pytest.mark.parametrize("find,replace,message", [
    ("*node, nset=NALL", "*NODE, NSET=NALL, SYSTEM=C",
     r"\*NODE: unknown or unsupported parameter 'SYSTEM'"),
    ("*ELEMENT, TYPE=C3D20R, ELSET=EALL", "*ELEMENT, TYPE=C3D99, ELSET=EALL",
     r"\*ELEMENT: unknown element type 'C3D99'"),
    ("*ELEMENT, TYPE=C3D20R, ELSET=EALL", "*ELEMENT, TYPE=C3D20R, ELSET=EALL, OFFSET=10",
     "unknown or unsupported parameter 'OFFSET'"),
    ("12, 2, 3, 6, 5, 11, 12, 15, 14, 22, 25, 30, 23, 42, 44, 47,",
     "12, 2, 3, 6, 99999, 11, 12, 15, 14, 22, 25, 30, 23, 42, 44, 47,",
     "node 99999 is not defined"),
    ("14, 5, 6, 9, 8, 14, 15, 18, 17, 30, 33, 37, 31, 47, 49, 51,",
     "14, 5, 6, 9, 8, 14, 15, 18, 17, 30, 33, 37, 31, 47, 49, 51, 48, 32, 34, 39, 38, 40,",
     "element 14 has 21 nodes, C3D20R has 20"),
    ("14, 5, 6, 9, 8, 14, 15, 18, 17, 30, 33, 37, 31, 47, 49, 51,",
     "14, 5, 6, 9, 8, 14, 15, 18, 17, 30, 33, 37, 31, 47, 49, 5.1,",
     "an element line holds integer ids"),
    ("12, S4", "12, S7", r"face 'S7' is not a face of C3D20R \(S1..S6\)"),
    ("12, S4", "12, P4", r"face 'P4' is not a face"),
    ("12, S4", "77, S4", "element 77 is not defined"),
    ("_LOADED_S4, S4", "_LOADED_S5, S4", "element set '_LOADED_S5' is not defined"),
    ("12, S4", "12", "an element surface line is 'element or element set, face"),
    ("*SURFACE, NAME=LOADED, TYPE=ELEMENT", "*SURFACE, NAME=LOADED, TYPE=SEGMENTS",
     "TYPE=SEGMENTS is not supported"),
    ("*SURFACE, NAME=LOADED, TYPE=ELEMENT", "*SURFACE, TYPE=ELEMENT",
     "parameter NAME= is missing"),
    ("*ELSET, ELSET=FIRST, GENERATE", "*ELSET, ELSET, GENERATE", "ELSET needs a value"),
    ("11, 13", "13, 11", "a GENERATE line is 'first, last"),
    ("*include, input=nodes/nodes.inp", "*INCLUDE, INPUT=nodes/none.inp",
     "included file not found"),
    ("*include, input=nodes/nodes.inp", "*INCLUDE, INPUT=deck.inp", "includes itself"),
    ("NXMAX", "NXMAXX", "node set 'NXMAXX' is not defined"),
    ("3, 1.", "333, 1.", "node 333 is not defined"),
])
def test_damaged_decks_name_the_file_and_line(find, replace, message, tmp_path):
    ref = box_mesh((2, 2, 1), (1.0, 1.0, 1.0), "hexahedron20")
    lines, nodes = _deck(ref, element_offset=10)
    lines, number = _damage(lines, find, replace)
    path = _write(str(tmp_path), lines, nodes)
    with pytest.raises(RomError, match=rf"deck.inp, line {number}: .*{message}"):
        read_mesh_file(path)


@pytest.mark.parametrize("index,replace,message", [
    (1, "2, 0.5, zero, 0.", r"a node line is 'id, x, y, z'"),
    (2, "1, 0., 0., 0.", r"node 1 is defined twice \(first at .*nodes.inp, line 2\)"),
])
def test_damaged_included_file_is_named(index, replace, message, tmp_path):
    ref = box_mesh((2, 1, 1), (1.0, 1.0, 1.0), "hexahedron")
    lines, nodes = _deck(ref)
    nodes[index] = replace
    path = _write(str(tmp_path), lines, nodes)
    # the included file's line 1 is a comment: node k is on its line k + 2
    with pytest.raises(RomError, match=rf"nodes.inp, line {index + 2}: {message}"):
        read_mesh_file(path)


def test_truncated_element_and_missing_deck(tmp_path):
    ref = box_mesh((1, 1, 1), (1.0, 1.0, 1.0), "hexahedron20")
    lines, nodes = _deck(ref, analysis=False)
    i = next(i for i, t in enumerate(lines) if t.startswith("1, 1, 2"))
    lines = lines[: i + 1] + lines[i + 2:]  # the element's second line lost
    with pytest.raises(RomError, match=rf"deck.inp, line {i + 1}: element 1 has 15 nodes, "
                                       "C3D20R has 20"):
        read_mesh_file(_write(str(tmp_path), lines, nodes))
    with pytest.raises(RomError, match="mesh file not found"):
        read_mesh_file(str(tmp_path / "none.inp"))
    empty = tmp_path / "empty.inp"
    empty.write_text("*NODE\n1, 0, 0, 0\n*ELEMENT, TYPE=CPS3\n1, 1, 1, 1\n")
    with pytest.raises(RomError, match="empty.inp: no solid elements"):
        read_mesh_file(str(empty))


def _ccx_and_ours(folder, ref, comm):
    """CalculiX on ``folder/deck.inp`` (clamped ``NXMIN``, ``*DSLOAD`` on ``LOADED``) and
    ours on the same deck (a pressure on the face set): the nodal displacements ``(ours,
    theirs)`` of the mesh ``ref``'s nodes."""
    env = dict(os.environ, OMP_NUM_THREADS="1", CCX_NPROC_EQUATION_SOLVER="1",
               CCX_NPROC_STIFFNESS="1", CCX_NPROC_RESULTS="1")
    r = subprocess.run([CCX, "-i", "deck"], cwd=folder, capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0 and "*ERROR" not in r.stdout, r.stdout[-3000:] + r.stderr
    theirs = _read_dat(os.path.join(folder, "deck.dat"), len(ref.points))
    assert len(theirs) == 1
    body = ('[[dirichlet]]\nset = "NXMIN"\ncomponents = ["x", "y", "z"]\nvalue = 0.0\n'
            f'[[pressure]]\nset = "LOADED"\nvalue = {PRESSURE}\n'
            '[solver]\nlinear_solver = "mumps"\nrtol = 1e-12\n')
    material = f'[material]\nlaw = "elastic"\nE = {E}\nnu = {NU}\n'
    case = write_case(folder, None, body, mesh_name="deck.inp", material=material)
    res = solve(case, comm, os.path.join(folder, "out"))
    ours = res["model"].dofmap.gather_nodal(res["u"])
    u = next(iter(theirs.values()))
    assert np.abs(u).max() > 1e-4  # the test means something
    return ours, u


@pytest.mark.slow
@pytest.mark.skipif(CCX is None, reason="CalculiX (ccx) is not on PATH")
@pytest.mark.parametrize("cell_type", ["tetra10", "hexahedron20"])
def test_surface_load_matches_calculix(cell_type, tmp_path, comm):
    """One deck, two readers: CalculiX loads ``*SURFACE LOADED`` by ``*DSLOAD``, ours by
    a pressure on the face set ``LOADED`` read from the same deck."""
    ref = box_mesh((2, 2, 2), (1.0, 1.0, 1.0), cell_type, distort=0.15)
    folder = str(tmp_path)
    # C3D20, not C3D20R: CalculiX integrates as we do (27 points)
    lines, nodes = _deck(ref, weight=False, etype={"tetra10": "C3D10"}.get(cell_type, "C3D20"))
    _write(folder, lines, nodes, "deck.inp")
    ours, u = _ccx_and_ours(folder, ref, comm)
    assert np.abs(ours - u).max() <= 1e-5 * np.abs(u).max()


@pytest.mark.slow
@pytest.mark.skipif(CCX is None, reason="CalculiX (ccx) is not on PATH")
@pytest.mark.parametrize("kind", ["wedge", "wedge15"])
def test_wedge_surface_load_matches_calculix(kind, tmp_path, comm):
    """C3D6 and C3D15 (gmsh's prisms written back by hand in Abaqus' order) with a
    ``*SURFACE`` by face numbers on x = 1, y = 0, y = 1 (quadrilaterals) and z = 1
    (triangles): CalculiX loads it by ``*DSLOAD``, ours by a pressure on the face set
    read from the same deck; the same displacements: the wedges' node order and face
    numbers checked against CalculiX. C3D15: measured 6.3e-8 of the largest
    displacement. C3D6: 4.1e-3, CalculiX's C3D6 having 2 integration points (its
    ``*EL PRINT``), ours 3 x 2; a face number mistaken for another names faces that
    are not on the boundary, or the wrong ones (errors of order 1)."""
    folder = str(tmp_path)
    _gmsh_box(os.path.join(folder, "gmsh.inp"), kind)
    ref = read_mesh_file(os.path.join(folder, "gmsh.inp"))
    lines, _ = _mixed_deck(ref)
    path = os.path.join(folder, "deck.inp")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    nodes, cards = _read_deck_elements(path)
    faces = _labelled_faces(nodes, cards, [(0, 1.0), (1, 0.0), (1, 1.0), (2, 1.0)])
    assert {k for _, k in faces} >= {2, 3}  # triangles and quadrilaterals
    x0 = np.flatnonzero(np.isclose(ref.points[:, 0], 0.0)) + 1
    lines += ["*NSET, NSET=NXMIN", *(", ".join(map(str, x0[i:i + 16]))
                                     for i in range(0, len(x0), 16))]
    lines += _surface_lines("LOADED", faces)
    lines += ["*MATERIAL, NAME=STEEL", "*ELASTIC", f"{E}, {NU}",
              "*SOLID SECTION, ELSET=EALL, MATERIAL=STEEL",
              "*STEP", "*STATIC", "*BOUNDARY", "NXMIN, 1, 3, 0.",
              "*DSLOAD", f"LOADED, P, {PRESSURE}", "*NODE PRINT, NSET=NALL", "U",
              "*END STEP"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    ours, u = _ccx_and_ours(folder, ref, comm)
    assert np.abs(ours - u).max() <= (1e-2 if kind == "wedge" else 1e-6) * np.abs(u).max()
