"""Abaqus/CalculiX decks (``.inp``) as meshes (``rom.io.abaqus``): ``*SURFACE`` by face
number and by nodes, sets with GENERATE, ``*INCLUDE``, lower-case keywords, analysis
keywords after the mesh; gmsh's order-2 exports (surface elements beside the
volumes); wedges refused; damaged decks named by file and line.

The decks' face numbers come from this test's own tables: C3D20's is the one checked
against CalculiX's solutions in ``test_calculix.py``; C3D10's is CalculiX's manual's
(faces 1-2-3, 1-4-2, 2-4-3, 3-4-1), checked here against ``ccx`` itself: the same deck,
its ``*SURFACE`` loaded by ``*DSLOAD`` in CalculiX and by a pressure on the face set in
ours, gives the same displacements.
"""

import os
import shutil
import subprocess

import numpy as np
import pytest
from test_calculix import CCX_FACES, _read_dat

from helpers import solve, write_case
from rom import RomError
from rom.fem import FaceBasis, get_element
from rom.io.meshfile import read_mesh_file
from rom.mesh import SetDefinition
from rom.meshgen import box_mesh

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
    """The unit box meshed by gmsh (order 2 tetrahedra, 20-node hexahedra, or wedges),
    physical groups ``SOLID`` (volume) and ``XMAX`` (the face x = 1), written as .inp;
    returns the number of volume elements."""
    gmsh = pytest.importorskip("gmsh")
    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Verbosity", 0)
        gmsh.model.add("box")
        if kind == "wedge":
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
        if kind == "hex20":
            for _, c in gmsh.model.getEntities(1):
                gmsh.model.mesh.setTransfiniteCurve(c, 3)
            for _, s in faces:
                gmsh.model.mesh.setTransfiniteSurface(s)
                gmsh.model.mesh.setRecombine(2, s)
            gmsh.model.mesh.setTransfiniteVolume(1)
            gmsh.option.setNumber("Mesh.SecondOrderIncomplete", 1)
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


def test_wedges_are_refused_with_type_and_count(tmp_path):
    path = str(tmp_path / "wedges.inp")
    n = _gmsh_box(path, "wedge")
    with pytest.raises(RomError, match=rf"wedges.inp: {n} C3D6 element\(s\) \(wedge; the "
                                       r"first at .*wedges.inp, line \d+\): not supported"):
        read_mesh_file(path)
    # a hand-written deck with tetrahedra, two wedges and a pyramid: every type named
    deck = tmp_path / "mixed.inp"
    deck.write_text("\n".join([
        "*NODE", *(f"{i + 1}, {x}, {y}, {z}" for i, (x, y, z) in enumerate(
            [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (0, 1, 1)])),
        "*ELEMENT, TYPE=C3D4", "1, 1, 2, 3, 4",
        "*ELEMENT, TYPE=C3D6", "2, 1, 2, 3, 4, 5, 6", "3, 1, 2, 3, 4, 5, 6",
        "*ELEMENT, TYPE=C3D5", "4, 1, 2, 5, 4, 6"]) + "\n")
    with pytest.raises(RomError, match=r"mixed.inp: 2 C3D6 element\(s\) \(wedge; the first "
                                       r"at .*mixed.inp, line 11\); 1 C3D5 element\(s\) "
                                       r"\(pyramid; .*line 14\)"):
        read_mesh_file(str(deck))


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
    assert np.abs(ours - u).max() <= 1e-5 * np.abs(u).max()
