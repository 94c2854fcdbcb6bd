"""Mesh reading (meshio formats, gmsh physical groups, Abaqus sets), named sets by
predicate, partitioning."""

import meshio
import numpy as np
import pytest

from helpers import solve
from rom import RomError
from rom.case import parse_case
from rom.fem import FaceBasis, get_element
from rom.io.meshfile import read_mesh_file, write_mesh_file
from rom.mesh import MeshData, SetDefinition, load_mesh, partition_cells
from rom.meshgen import box_mesh


@pytest.mark.parametrize("ext", ["msh", "inp", "vtu", "xdmf", "med"])
@pytest.mark.parametrize("name", ["tetra", "tetra10", "hexahedron", "hexahedron20"])
def test_formats_round_trip(ext, name, tmp_path):
    d = box_mesh((2, 2, 1), (1.0, 2.0, 0.5), name, distort=0.1)
    path = str(tmp_path / f"m.{ext}")
    write_mesh_file(path, d)
    r = read_mesh_file(path)
    assert r.cell_type == d.cell_type
    np.testing.assert_allclose(r.points, d.points, atol=1e-12)
    assert np.array_equal(r.cells, d.cells)
    if ext in ("msh", "inp"):  # named groups survive
        assert {"xmin", "xmax", "all"} <= set(r.element_groups)
        c, _, conn = r.face_set("ymax")
        assert np.allclose(r.points[conn][..., 1], 2.0)
        assert len(r.cell_set("all")) == d.n_cells


def _gmsh_box(path, order, version):
    gmsh = pytest.importorskip("gmsh")
    gmsh.initialize(["-v", "0"])
    try:
        gmsh.model.add("box")
        gmsh.model.occ.addBox(0, 0, 0, 2, 1, 1)
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(3, [1], name="solid")
        surfaces = gmsh.model.getEntities(2)
        left = [s[1] for s in surfaces if np.isclose(gmsh.model.occ.getCenterOfMass(*s)[0], 0)]
        right = [s[1] for s in surfaces if np.isclose(gmsh.model.occ.getCenterOfMass(*s)[0], 2)]
        gmsh.model.addPhysicalGroup(2, left, name="left")
        gmsh.model.addPhysicalGroup(2, right, name="right")
        gmsh.option.setNumber("Mesh.MeshSizeMax", 0.5)
        gmsh.model.mesh.generate(3)
        gmsh.model.mesh.setOrder(order)
        gmsh.option.setNumber("Mesh.MshFileVersion", version)
        gmsh.write(path)
    finally:
        gmsh.finalize()


@pytest.mark.parametrize("version", [2.2, 4.1])
@pytest.mark.parametrize("order", [1, 2])
def test_gmsh_physical_groups_and_patch_test(version, order, tmp_path, comm):
    path = str(tmp_path / "box.msh")
    _gmsh_box(path, order, version)
    d = read_mesh_file(path)
    assert d.cell_type == ("tetra" if order == 1 else "tetra10")
    assert len(d.cell_set("solid")) == d.n_cells
    cells, local, conn = d.face_set("right")
    area = FaceBasis(get_element(d.element.face_type), d.points[conn]).area().sum()
    assert np.isclose(area, 1.0) and np.allclose(d.points[conn][..., 0], 2.0)
    assert np.allclose(d.points[d.node_set("left"), 0], 0.0)
    # a linear field imposed on the gmsh mesh's boundary is reproduced inside
    text = f"""
[mesh]
file = "{path}"
[material]
law = "elastic"
E = 1000.0
nu = 0.25
[sets.boundary]
kind = "faces"
where = "(x == 0) | (x == 2) | (y == 0) | (y == 1) | (z == 0) | (z == 1)"
[[dirichlet]]
set = "boundary"
components = ["x"]
expression = "0.01 * x + 0.02 * y - 0.03 * z"
[[dirichlet]]
set = "boundary"
components = ["y", "z"]
expression = "0.005 * x"
[solver]
linear_solver = "mumps"
rtol = 1e-12
"""
    res = solve(parse_case(text, str(tmp_path / "c.toml")), comm, tmp_path / "out")
    u = res["model"].dofmap.gather_nodal(res["u"])
    x, y, z = d.points.T
    exact = np.stack([0.01 * x + 0.02 * y - 0.03 * z, 0.005 * x, 0.005 * x], axis=1)
    assert np.abs(u - exact).max() < 1e-10 * np.abs(exact).max()


def test_predicate_sets():
    d = box_mesh((4, 4, 4), (1, 1, 1), "hexahedron20")
    d.add_definitions([
        SetDefinition("plane", "nodes", "x == 0.5"),
        SetDefinition("box", "cells", "(x <= 0.5) & (y >= 0.5)"),
        SetDefinition("top", "faces", "z == 1"),
        SetDefinition("ring", "nodes", "abs(sqrt((x - 0.5)**2 + (y - 0.5)**2) - 0.25) <= 0",
                      tol=1e-9),
    ])
    # serendipity hex20 on a 4x4 face grid: 5x5 corners + 2x4x5 mid-edge nodes
    assert np.allclose(d.points[d.node_set("plane"), 0], 0.5)
    assert len(d.node_set("plane")) == 25 + 40
    assert len(d.cell_set("box")) == 2 * 2 * 4
    cells, local, conn = d.face_set("top")
    assert len(cells) == 16 and np.allclose(d.points[conn][..., 2], 1.0)
    assert len(d.node_set("ring")) == 4 * 9  # (0.25, 0.5), ... on each of 9 z levels
    with pytest.raises(RomError, match="set 'nope' not found.*available sets:.*plane"):
        d.node_set("nope")
    with pytest.raises(RomError, match="set predicate 'x = 0'"):
        d.add_definitions([SetDefinition("bad", "nodes", "x = 0")])
        d.node_set("bad")
    with pytest.raises(RomError, match="a face set is needed"):
        d.face_set("plane")


def test_unsupported_cells_are_named(tmp_path):
    pts = np.random.default_rng(0).uniform(size=(27, 3))
    path = str(tmp_path / "hex27.vtu")
    meshio.write(path, meshio.Mesh(pts, [("hexahedron27", np.arange(27)[None, :])]))
    with pytest.raises(RomError, match="unsupported cell type.*hexahedron27"):
        read_mesh_file(path)
    with pytest.raises(RomError, match="mesh file not found"):
        read_mesh_file(str(tmp_path / "missing.msh"))
    bad = tmp_path / "garbage.msh"
    bad.write_text("this is not a mesh\n")
    with pytest.raises(RomError, match="garbage.msh"):
        read_mesh_file(str(bad))
    with pytest.raises(RomError, match="non-positive Jacobian"):
        d = box_mesh((1, 1, 1), (1, 1, 1), "hexahedron")
        inverted = MeshData(d.points, "hexahedron", d.cells[:, [4, 5, 6, 7, 0, 1, 2, 3]])
        from rom.fem import CellBasis

        CellBasis(inverted.element, inverted.points[inverted.cells])


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["ptscotch", "rcb"])
def test_partition_is_balanced_and_connected(method, comm):
    d = box_mesh((8, 6, 4), (1, 1, 1), "tetra")
    rank = partition_cells(d, comm, method)
    counts = np.bincount(rank, minlength=comm.size)
    assert counts.sum() == d.n_cells and counts.min() >= 0.9 * d.n_cells / comm.size
    assert np.array_equal(np.concatenate(comm.allgather(rank)),
                          np.tile(rank, comm.size))  # same on every rank
    mesh = load_mesh(d, comm, partitioner=method)
    lo, hi = mesh.node_range
    assert np.array_equal(mesh.node_petsc[: mesh.n_owned], np.arange(lo, hi))


def _gmsh_box_med(folder, kind, order):
    """A 1 x 2 x 3 box meshed by gmsh (structured hexahedra or tetrahedra, of ``order``
    1 or 2) written both as MED and as gmsh 4.1; returns the two paths."""
    import gmsh

    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("box")
        gmsh.model.occ.addBox(0, 0, 0, 1, 2, 3)
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(3, [1], name="solid")
        if kind == "hex":
            for _, c in gmsh.model.getEntities(1):
                gmsh.model.mesh.setTransfiniteCurve(c, 3)
            for _, s in gmsh.model.getEntities(2):
                gmsh.model.mesh.setTransfiniteSurface(s)
                gmsh.model.mesh.setRecombine(2, s)
            gmsh.model.mesh.setTransfiniteVolume(1)
        else:
            gmsh.option.setNumber("Mesh.MeshSizeMax", 0.8)
        gmsh.option.setNumber("Mesh.SecondOrderIncomplete", 1)
        gmsh.model.mesh.generate(3)
        gmsh.model.mesh.setOrder(order)
        paths = [str(folder / f"box_{kind}{order}.{ext}") for ext in ("med", "msh")]
        for p in paths:
            gmsh.write(p)
    finally:
        gmsh.finalize()
    return paths


@pytest.mark.parametrize("kind,order", [("hex", 1), ("hex", 2), ("tet", 1), ("tet", 2)])
def test_med_files_written_by_gmsh_read_in_vtk_order(kind, order, tmp_path):
    """gmsh's MED files number the nodes of a cell in MED's order: read, every cell has
    a positive Jacobian, the box's volume is exact, and every cell lists the nodes of
    the same cell of the gmsh-format file in the same order (mid-edge nodes too)."""
    from rom.fem import CellBasis

    med, msh = _gmsh_box_med(tmp_path, kind, order)
    a, b = read_mesh_file(med), read_mesh_file(msh)
    assert a.cell_type == b.cell_type == {("hex", 1): "hexahedron", ("hex", 2):
                                          "hexahedron20", ("tet", 1): "tetra",
                                          ("tet", 2): "tetra10"}[kind, order]
    dx = CellBasis(a.element, a.points[a.cells]).dx
    assert dx.min() > 0 and np.isclose(dx.sum(), 6.0)
    xa, xb = np.round(a.points[a.cells], 9), np.round(b.points[b.cells], 9)
    key = {tuple(sorted(map(tuple, c))): c for c in xb}
    assert len(key) == len(xa) == len(xb)
    for c in xa:
        assert np.array_equal(c, key[tuple(sorted(map(tuple, c)))])
