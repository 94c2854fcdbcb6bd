"""Meshes mixing hexahedra, wedges, pyramids and tetrahedra (one cell block per type,
each with its own element and quadrature, through every stage).

References: closed forms the discretization reproduces exactly (a linear temperature
profile, a uniform pressure's resultant), the box's volume and areas, the same
quantities on single-type meshes, and the HF run a ROM must replay. The convergence
rates of mixed meshes against the Lame solution are in ``test_convergence.py``.
"""

import os

import numpy as np
import pytest

from helpers import CHABOCHE, TRAINING_BODY, solve, write_case
from rom import RomError
from rom.fem import CellBasis, FaceBasis, default_rule, get_element
from rom.io.meshfile import read_mesh_file, write_mesh_file
from rom.mesh import MeshData, load_mesh
from rom.meshgen import box_mesh, mixed_box_mesh
from rom.thermal import Convection, ThermalModel, solve_steady

TYPES = {1: ["hexahedron", "pyramid", "tetra", "wedge"],
         2: ["hexahedron20", "pyramid13", "tetra10", "wedge15"]}


def _volume(data):
    return sum(CellBasis(b.element, data.points[b.cells]).dx.sum() for b in data.blocks)


def _area(groups, points):
    return sum(FaceBasis(get_element(t), points[c]).area().sum()
               for t, (_, _, c) in groups.items() if len(c))


@pytest.mark.parametrize("degree", [1, 2])
def test_mixed_box_is_conforming_and_exact(degree):
    """Every cell direct, the volume exact, the boundary (faces of one cell only) is
    the box's surface: no face is left unmatched inside."""
    d = mixed_box_mesh((4, 2, 3), (2.0, 1.0, 1.5), degree=degree, distort=0.15)
    assert [b.type for b in d.blocks] == TYPES[degree] and d.cell_type == "mixed"
    for b in d.blocks:
        assert np.all(CellBasis(b.element, d.points[b.cells]).dx > 0), b.type
    assert _volume(d) == pytest.approx(3.0, rel=1e-12)
    assert _area(d.boundary_faces(), d.points) == pytest.approx(13.0, rel=1e-12)
    # a side crossing the slabs holds quadrilaterals and triangles
    ymin = d.face_groups("ymin")
    assert {t for t, g in ymin.items() if len(g[0])} == {
        "quad" if degree == 1 else "quad8", "triangle" if degree == 1 else "triangle6"}
    assert _area(ymin, d.points) == pytest.approx(3.0, rel=1e-12)
    with pytest.raises(RomError, match="several types.*face_groups"):
        d.face_set("ymin")
    assert len(d.face_set("xmin")[0]) == 3 * 2  # hexahedra only
    with pytest.raises(RomError, match="mixes cell types"):
        d.cells  # noqa: B018 - a mixed mesh has no single connectivity
    # the dual graph links cells of different types across their shared faces
    indptr, indices = d.dual_graph()
    assert indptr[-1] == 2 * sum(len(c) for c in (g[0] for g in d.all_faces().values())) \
        - 2 * sum(len(g[0]) for g in d.boundary_faces().values()) - indptr[-1]


def test_mesh_data_refuses_inconsistent_blocks():
    d = mixed_box_mesh((4, 1, 1))
    blocks = d.block_cells
    with pytest.raises(RomError, match="alphabetical"):
        MeshData(d.points, "mixed", blocks[::-1])
    with pytest.raises(RomError, match="given twice"):
        MeshData(d.points, "mixed", [blocks[0], blocks[0]])
    q = mixed_box_mesh((4, 1, 1), degree=2)
    with pytest.raises(RomError, match="mixes linear and quadratic"):
        MeshData(q.points, "mixed", [q.block_cells[0], ("tetra", q.block_cells[2][1][:, :4])])


@pytest.mark.parametrize("ext", [".msh", ".vtu", ".med", ".xdmf", ".inp"])
@pytest.mark.parametrize("degree", [1, 2])
def test_mixed_mesh_files_round_trip(ext, degree, tmp_path):
    """Written and read back in each format (each in its own node order: gmsh's, MED's,
    Abaqus'): the same blocks (direct cells), the same volume; gmsh and Abaqus keep the
    named sides of both face types. meshio's XDMF reader cannot read mixed quadratic
    cells: a message says so."""
    d = mixed_box_mesh((4, 2, 2), degree=degree, distort=0.1)
    path = str(tmp_path / f"mixed{ext}")
    write_mesh_file(path, d)
    if ext == ".xdmf" and degree == 2:
        with pytest.raises(RomError, match="XDMF 'Mixed' topologies of linear cells only"):
            read_mesh_file(path)
        return
    r = read_mesh_file(path)
    assert r.cell_types == d.cell_types
    for b in r.blocks:
        assert np.all(CellBasis(b.element, r.points[b.cells]).dx > 0), (ext, b.type)
    assert _volume(r) == pytest.approx(_volume(d), rel=1e-12)
    if ext in (".msh", ".inp"):
        assert _area(r.face_groups("ymin"), r.points) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.mpi
@pytest.mark.parametrize("degree", [1, 2])
def test_slab_conduction_on_a_mixed_mesh(degree, comm):
    """1D conduction between two convective faces (quadrilaterals of the hexahedra at
    x = 0, triangles of the tetrahedra at x = L): the linear profile is exact on every
    cell type."""
    L, k, h1, h2, T1, T2 = 4.0, 0.02, 5e-3, 2e-3, 1000.0, 300.0
    data = mixed_box_mesh((4, 2, 2), (L, 1.0, 1.0), degree=degree, distort=0.15)
    mesh = load_mesh(data, comm)
    model = ThermalModel(mesh, k, [Convection("xmin", h1, T1), Convection("xmax", h2, T2)])
    T, _ = solve_steady(model)
    q = (T1 - T2) / (1 / h1 + L / k + 1 / h2)
    exact = T1 - q / h1 - q * data.points[:, 0] / k
    np.testing.assert_allclose(model.dofmap.gather_nodal(T)[:, 0], exact,
                               atol=1e-7 * (T1 - T2))


# one load step, solved directly to a tight tolerance
ONE_STEP_MUMPS = """[steps]
end = 1.0
count = 1
[solver]
linear_solver = "mumps"
rtol = 1e-12
"""

ELASTIC = """
[[dirichlet]]
set = "xmin"
components = ["x", "y", "z"]
[[pressure]]
set = "ymax"
value = 10.0
[[pressure]]
set = "xmax"
value = -20.0
[centrifugal]
omega = 300.0
axis_point = [0.0, 0.0, 0.0]
axis_direction = [0.0, 0.0, 1.0]
""" + ONE_STEP_MUMPS


@pytest.mark.mpi
def test_mixed_and_single_type_meshes_solve_the_same_problem(tmp_path, comm):
    """A bar clamped at x = 0 under pressures on a side of quadrilaterals and
    triangles (ymax) and on the tetrahedra's end (xmax), and a centrifugal load: the
    reaction balances the loads' resultant exactly on the mixed meshes, and the tip
    displacement's error against a fine mesh of quadratic hexahedra lies between the
    errors of the hexahedra and of the tetrahedra of the same degree on the same grid
    (measured: linear 0.133 < 0.226 < 0.487, quadratic 8.78e-3 < 8.96e-3 < 9.65e-3)."""
    folder = comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0)
    dims = (4.0, 1.0, 1.0)
    # resultant of the loads: -p n A on ymax and xmax, rho omega^2 V (x_c, y_c, 0)
    applied = np.array([20.0, -40.0, 0.0]) + 8e-9 * 300.0 ** 2 * 4.0 * np.array([2.0, 0.5, 0])

    def tip(data, name):
        case = write_case(os.path.join(folder, name), data, ELASTIC, comm=comm)
        res = solve(case, comm, os.path.join(folder, "out_" + name))
        U = res["model"].dofmap.gather_nodal(res["u"])
        corner = np.flatnonzero(np.all(np.isclose(data.points, dims), axis=1))[0]
        (R,) = res["reactions"]["values"]  # the one Dirichlet set, xmin
        np.testing.assert_allclose(R, -applied, rtol=1e-8, atol=1e-8 * 40)
        return U[corner]

    u_ref = tip(box_mesh((16, 4, 4), dims, "hexahedron20"), "ref")

    def error(data, name):
        return np.linalg.norm(tip(data, name) - u_ref) / np.linalg.norm(u_ref)

    for degree, (hexa, tet) in {1: ("hexahedron", "tetra"),
                                2: ("hexahedron20", "tetra10")}.items():
        mixed = error(mixed_box_mesh((8, 2, 2), dims, degree=degree), f"mixed{degree}")
        e_hex = error(box_mesh((8, 2, 2), dims, hexa), hexa)
        e_tet = error(box_mesh((8, 2, 2), dims, tet), tet)
        assert min(e_hex, e_tet) < mixed < max(e_hex, e_tet), (degree, e_hex, mixed, e_tet)


@pytest.mark.mpi
def test_rom_on_a_mixed_mesh_replays_its_training(tmp_path, comm):
    """The whole chain on a quadratic mixed mesh (Chaboche, temperature, pressures on
    a side of quadrilaterals and one of triangles): HF run, POD + ECM over the
    quadrature points of every cell type, online run reproducing the HF run; the
    online results file describes the mixed topology for ParaView."""
    import h5py

    from rom.offline import build_rom
    from rom.online import open_for_case, run_online
    from rom.snapshots import read_snapshots

    folder = comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0)
    data = mixed_box_mesh((4, 2, 2), (2.0, 1.0, 1.0), degree=2, distort=0.1)
    case = write_case(os.path.join(folder, "case"), data,
                      TRAINING_BODY.replace("HOT", "600.0"), material=CHABOCHE, comm=comm)
    res = solve(case, comm, os.path.join(folder, "hf"))
    rom_path = os.path.join(folder, "rom.h5")
    build_rom(case, [res["files"][0]], comm, rom_path, log=None)
    archive = open_for_case(rom_path, case)[0]
    out = run_online(archive, case)
    hf = comm.bcast(read_snapshots(res["files"][0], ("U",), ("p",)) if comm.rank == 0
                    else None)
    model = out["model"]
    U = np.array([model.displacement(g) for g in out["gamma"]])
    P = np.array([model.gappy("p", p) for p in out["p_points"]])
    # the bounds of test_online.BOUNDS (the same loading on a hexahedron20 box)
    assert np.linalg.norm(U - hf["U"]) <= 5e-6 * np.linalg.norm(hf["U"])
    assert np.linalg.norm(P - hf["qp/p"]) <= 3e-4 * np.linalg.norm(hf["qp/p"])
    assert hf["qp/p"].max() > 1e-4  # inelastic
    # the reduced quadrature draws on several cell types (global ids of each block)
    ids = archive["reduced"]["points"]
    n_qp = np.cumsum([0] + [n * default_rule(get_element(t)).n_points
                            for t, n in data.cell_types.items()])
    assert len(set(np.searchsorted(n_qp, ids, side="right"))) >= 2
    if comm.rank == 0:  # the HF run's XDMF: one Mixed topology per step
        from xml.etree import ElementTree as ET

        xdmf = os.path.join(folder, "hf", "snapshots.xdmf")
        topos = ET.parse(xdmf).getroot().findall(".//Topology")
        assert topos and {t.get("TopologyType") for t in topos} == {"Mixed"}
        with h5py.File(os.path.join(folder, "hf", "snapshots.h5"), "r") as f:
            assert list(f["mesh/cells"]) == TYPES[2]
            n_qp = sum(len(f[f"mesh/cells/{t}"]) * default_rule(get_element(t)).n_points
                       for t in TYPES[2])
            assert f["quadrature/weights"].shape == (n_qp,)
            assert f["quadrature/weights"][...].sum() == pytest.approx(2.0, rel=1e-12)


@pytest.mark.mpi
def test_vtu_series_of_a_quadratic_mixed_run_is_replayed(tmp_path, comm, monkeypatch):
    """Another code's results on a quadratic mixed mesh as a PVD series of .vtu files
    (here: an HF run's, written by meshio) read in a process that has not read a mesh
    yet, so that meshio 5.0 still lacks the dimension of wedge15 and pyramid13 (the
    reader registers them itself): replayed, the HF run's stresses and plasticity."""
    import meshio
    import meshio._mesh

    from rom.io.series import read_vtu_series
    from rom.replay import replay
    from rom.snapshots import read_snapshots

    folder = comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0)
    data = mixed_box_mesh((4, 2, 2), (2.0, 1.0, 1.0), degree=2, distort=0.1)
    case = write_case(os.path.join(folder, "case"), data,
                      TRAINING_BODY.replace("HOT", "600.0").replace("count = 8", "count = 4"),
                      material=CHABOCHE, comm=comm)
    path = solve(case, comm, os.path.join(folder, "hf"))["files"][0]
    path = comm.bcast(path, root=0)
    ref = read_snapshots(path, ("U", "T"), qp_fields=("sigma", "p"))
    pvd = os.path.join(folder, "series", "run.pvd")
    if comm.rank == 0:
        os.makedirs(os.path.dirname(pvd))
        lines = []
        for k, t in enumerate(ref["time"]):
            name = f"step_{k}.vtu"
            meshio.write(os.path.join(folder, "series", name), meshio.Mesh(
                ref["points"], data.block_cells,
                point_data={"U": ref["U"][k], "T": ref["T"][k]}))
            lines.append(f'<DataSet timestep="{t!r}" file="{name}"/>')
        with open(pvd, "w") as f:
            f.write('<?xml version="1.0"?>\n<VTKFile type="Collection"><Collection>\n'
                    + "\n".join(lines) + "\n</Collection></VTKFile>\n")
    comm.Barrier()
    # as in a fresh process (run.py import reads the series before the mesh)
    for t in ("wedge15", "pyramid13"):
        monkeypatch.delitem(meshio._mesh.topological_dimension, t, raising=False)
    results = read_vtu_series(pvd)
    np.testing.assert_array_equal(results.displacement, ref["U"])
    out = replay(case, results, comm, os.path.join(folder, "replay"), log=None)
    rep = read_snapshots(out["path"], ("U",), qp_fields=("sigma", "p"))
    np.testing.assert_array_equal(rep["time"], ref["time"])
    for name in ("qp/sigma", "qp/p"):
        scale = np.abs(ref[name]).max()
        assert np.abs(rep[name] - ref[name]).max() <= 1e-8 * scale, name
    assert ref["qp/p"].max() > 1e-4  # inelastic


SUPPORT = """
[[dirichlet]]
set = "xmin"
components = ["x"]
[sets.z0]
kind = "nodes"
where = "(x == 0) & (z == 0)"
[[dirichlet]]
set = "z0"
components = ["z"]
[[support]]
set = "ymin"
normal = 1.0e4
tangential = 0.0
[[pressure]]
set = "ymax"
value = 50.0
""" + ONE_STEP_MUMPS


@pytest.mark.mpi
@pytest.mark.parametrize("degree", [1, 2])
def test_elastic_support_on_a_side_of_quadrilaterals_and_triangles(degree, tmp_path, comm):
    """A bar pressed by a uniform pressure on one side (ymax) onto an elastic
    foundation of the other (ymin), both sides holding the faces of every cell type:
    the uniform uniaxial stress state, whose linear displacement every element
    reproduces, u_y = -p y / E - p / k_n, u_x = nu p x / E, u_z = nu p z / E."""
    folder = comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0)
    data = mixed_box_mesh((4, 2, 2), (2.0, 1.0, 1.0), degree=degree, distort=0.1)
    case = write_case(os.path.join(folder, "case"), data, SUPPORT, comm=comm)
    res = solve(case, comm, os.path.join(folder, "out"))
    U = res["model"].dofmap.gather_nodal(res["u"])
    p, E, nu, kn = 50.0, 200000.0, 0.3, 1.0e4
    x, y, z = data.points.T
    exact = np.stack([nu * p * x / E, -p * y / E - p / kn, nu * p * z / E], axis=1)
    np.testing.assert_allclose(U, exact, rtol=0, atol=1e-9 * np.abs(exact).max())
