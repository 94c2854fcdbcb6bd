"""Pressure fields on face sets ([[pressure]] expression, nodal file or per-face file):
the resultant and moment of the assembled forces against the integrals of the field,
on flat and curved faces; a nodal file equal to the expression's field; an expression
of t equal to its separable form with a table; per-face values (one per surface
element of a face set of the mesh file, in the file's order) equal to uniform
pressures on the sub-sets of faces that carry each value; the ROM of a pressure field
reproduces its training run, and refuses a field it was not trained with or one that
depends on t."""

import os

import numpy as np
import pytest

from helpers import ISOSTATIC_X0, rom_replays_training, solve, write_case
from rom import RomError
from rom.case import parse_case
from rom.hf import StructuralModel
from rom.loads import Loading
from rom.materials import make_law
from rom.mesh import load_mesh
from rom.meshgen import box_mesh, cylinder_sector_mesh


def _forces(case, comm, t=1.0):
    """Global nodal external forces ``(n_nodes, 3)`` of ``case`` at time ``t``."""
    mesh = load_mesh(case.mesh_file, comm, case.sets)
    model = StructuralModel(mesh, make_law(case.law, case.material_params()))
    loading = Loading(case, model)
    dm = model.dofmap
    vec = dm.local_to_vector(loading.external_forces(t), add=True)
    return dm.gather_nodal(dm.vector_to_local(vec)), mesh


def _folder(tmp_path, comm, name):
    return comm.bcast(str(tmp_path / name) if comm.rank == 0 else None)


@pytest.mark.mpi
@pytest.mark.parametrize("cell_type", ["tetra10", "hexahedron20"])
def test_resultant_and_moment_of_a_pressure_field(cell_type, tmp_path, comm):
    """p = 3 + 2 y + 5 z^2 on the face x = 2 of a box [0,2]x[0,1]x[0,1.5] (outward
    normal +x): the resultant is -int p dA = -11.625 along x and the moment about the
    z axis int y f_x dA = -(3/2 + 2/3) 1.5 - 5 (1.5^3 / 3) / 2 = -6.0625; nothing
    along y and z. A nodal file of the same (quadratic) field gives the same forces."""
    folder = _folder(tmp_path, comm, cell_type)
    data = box_mesh((2, 3, 2), (2.0, 1.0, 1.5), cell_type, distort=0.1)
    if comm.rank == 0:
        os.makedirs(folder, exist_ok=True)
        p = data.points
        np.save(os.path.join(folder, "p.npy"), 3 + 2 * p[:, 1] + 5 * p[:, 2] ** 2)
    comm.Barrier()
    body = ISOSTATIC_X0 + "[[pressure]]\nset = \"xmax\"\n{field}\n[steps]\ntimes = [1.0]\n"
    case = write_case(folder, data, body.format(field='expression = "3 + 2 * y + 5 * z**2"'),
                      comm=comm)
    F, mesh = _forces(case, comm)
    np.testing.assert_allclose(F.sum(axis=0), [-11.625, 0.0, 0.0], atol=1e-10)
    pts = data.points
    assert np.isclose((pts[:, 1] * F[:, 0]).sum(), -(1.5 + 2 / 3) * 1.5 - 5 * 1.5 ** 3 / 6,
                      atol=1e-10)
    filed = write_case(folder, data, body.format(field='file = "p.npy"'), name="file",
                       comm=comm)
    F_file, _ = _forces(filed, comm)
    np.testing.assert_allclose(F_file, F, atol=1e-12)


@pytest.mark.mpi
def test_pressure_field_on_a_curved_face(tmp_path, comm):
    """p = p0 z on the inner face (r = a) of a quarter of a thick cylinder of height
    H: the force on it, p e_r dA, sums to p0 H^2 a / 2 along x and along y."""
    a, H, p0 = 2.0, 3.0, 10.0
    folder = _folder(tmp_path, comm, "cyl")
    data = cylinder_sector_mesh(a, 4.0, H, np.pi / 2, (2, 6, 3), "tetra10")
    case = write_case(folder, data, f"""
[[dirichlet]]
set = "xmax"
[[pressure]]
set = "xmin"
expression = "{p0} * z"
[steps]
times = [1.0]
""", comm=comm)
    F, _ = _forces(case, comm)
    exact = p0 * H ** 2 * a / 2
    np.testing.assert_allclose(F.sum(axis=0), [exact, exact, 0.0], rtol=2e-4, atol=1e-9)


@pytest.mark.mpi
def test_pressure_expression_of_time(tmp_path, comm):
    """100 t (1 + y) on xmax (zero at t = 0: the set is still found) gives the run of
    100 (1 + y) times the table [[0, 0], [1, 1]]; an offline build refuses it."""
    from rom.offline import build_rom

    folder = _folder(tmp_path, comm, "t")
    data = box_mesh((2, 2, 2), (1.0, 1.0, 1.0), "tetra10")
    body = ISOSTATIC_X0 + "[[pressure]]\nset = \"xmax\"\n{p}\n[steps]\ntimes = [0.5, 1.0]\n"
    c_t = write_case(folder, data, body.format(p='expression = "100 * t * (1 + y)"'),
                     comm=comm)
    c_tab = write_case(folder, data, body.format(
        p='expression = "100 * (1 + y)"\ntable = [[0.0, 0.0], [1.0, 1.0]]'), name="tab",
        comm=comm)
    r_t = solve(c_t, comm, os.path.join(folder, "out_t"))
    r_tab = solve(c_tab, comm, os.path.join(folder, "out_tab"))
    u_t, u_tab = (r["model"].dofmap.gather_nodal(r["u"]) for r in (r_t, r_tab))
    assert np.abs(u_t).max() > 1e-5
    # equal to the Newton tolerance (Krylov solves; the partitions may differ)
    np.testing.assert_allclose(u_t, u_tab, atol=1e-7 * np.abs(u_tab).max())
    with pytest.raises(RomError, match="depends on t"):
        build_rom(c_t, [r_t["files"][0]], comm, os.path.join(folder, "rom.h5"), log=None)


@pytest.mark.mpi
def test_rom_of_a_pressure_field(tmp_path, comm):
    """An elastic ROM trained on a pressure field (x-dependent, tabled) reproduces its
    training run; the same case with another field on the same set is refused."""
    from rom.online import open_for_case

    folder = _folder(tmp_path, comm, "rom")
    data = box_mesh((3, 2, 2), (3.0, 1.0, 1.0), "tetra10")
    case = write_case(folder, data, ISOSTATIC_X0 + """
[[pressure]]
set = "ymax"
expression = "20 * x * (3 - x)"
table = [[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]]
[temperature]
value = 20.0
[steps]
end = 2.0
count = 4
[rom]
gappy = ["sigma"]
""", comm=comm)
    path = os.path.join(folder, "rom.h5")
    rom_replays_training(case, comm, os.path.join(folder, "hf"), path)
    other = parse_case(case.text.replace("20 * x * (3 - x)", "20 * x"), case.path)
    with pytest.raises(RomError, match="pressure field '20 \\* x' on set 'ymax'"):
        open_for_case(path, other)


@pytest.mark.mpi
def test_pressure_of_time_checked_at_every_step(tmp_path, comm):
    """A pressure field of t singular at t = 0 (never a step time) runs; one that is
    NaN at a later step is refused, on every rank, before any file is written."""
    folder = _folder(tmp_path, comm, "tcheck")
    data = box_mesh((2, 1, 1), (2.0, 1.0, 1.0), "tetra10")
    body = ISOSTATIC_X0 + "[[pressure]]\nset = \"xmax\"\n{p}\n[steps]\ntimes = [0.5, 1.0]\n"
    ok = write_case(folder, data, body.format(p='expression = "100 * t / t + 0 * x"'),
                    comm=comm)
    ref = write_case(folder, data, body.format(p="value = 100.0"), name="ref", comm=comm)
    u1 = solve(ok, comm, os.path.join(folder, "ok"))
    u2 = solve(ref, comm, os.path.join(folder, "ref"))
    a, b = (r["model"].dofmap.gather_nodal(r["u"]) for r in (u1, u2))
    np.testing.assert_allclose(a, b, atol=1e-7 * np.abs(b).max())
    bad = write_case(folder, data, body.format(p='expression = "100 * sqrt(0.6 - t) + 0 * x"'),
                     name="bad", comm=comm)
    out = os.path.join(folder, "bad_out")
    with pytest.raises(RomError, match="NaN"):
        solve(bad, comm, out)
    assert not os.path.exists(os.path.join(out, "snapshots.h5"))


# --- per-face values ----------------------------------------------------------------------

def _write_geof(path, data, faset):
    """``data`` (hexahedron) as a Z-set ``.geof`` (c3d8 in meshio's order, node and
    element ids from 1) with the face set ``faset = (name, quad connectivity)`` listed in
    that order."""
    name, faces = faset
    lines = ["***geometry", "**node", f"{data.n_nodes} 3"]
    lines += [f"{i + 1} {x:.17g} {y:.17g} {z:.17g}" for i, (x, y, z) in enumerate(data.points)]
    lines += ["**element", f"{data.n_cells}"]
    lines += [f"{i + 1} c3d8 " + " ".join(str(n + 1) for n in c) for i, c in enumerate(data.cells)]
    lines += ["***group", f"**faset {name}"]
    lines += ["q4 " + " ".join(str(n + 1) for n in f) for f in faces]
    lines += ["***return"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _per_face_mesh(folder, fmt, cell_type, comm):
    """A box [0,2]x[0,1]x[0,1.5] of 2x3x2 cells written as ``fmt`` (``msh``: gmsh
    physical surfaces; ``geof``: Z-set face set) with its face set ``xmax`` listed in a
    shuffled order (so that the file's order is not the mesh's boundary order); returns
    ``(mesh file name, the file's faces (f, a) in global node ids, the points)``."""
    data = box_mesh((2, 3, 2), (2.0, 1.0, 1.5), cell_type)
    (ftype, conn), = data.element_groups["xmax"]["faces"].items()
    faces = conn[np.random.default_rng(3).permutation(len(conn))]
    name = f"box.{fmt}"
    if comm.rank == 0:
        os.makedirs(folder, exist_ok=True)
        if fmt == "geof":
            _write_geof(os.path.join(folder, name), data, ("xmax", faces))
        else:
            from rom.io.meshfile import write_mesh_file

            data.element_groups = {"xmax": {"cells": np.zeros(0, np.int64),
                                            "faces": {ftype: faces}}}
            write_mesh_file(os.path.join(folder, name), data)
    comm.Barrier()
    return name, faces, data.points


# the face x = 0 clamped (a geometric set: the per-face meshes name only xmax)
CLAMPED_X0 = """
[sets.x0]
kind = "nodes"
where = "x == 0"
[[dirichlet]]
set = "x0"
"""

# the 3 x 2 bands of the face x = 2 (cells of 1/3 in y, 0.75 in z), a value each
_BANDS = [(y0, z0) for y0 in (0.0, 1 / 3, 2 / 3) for z0 in (0.0, 0.75)]
_BAND_VALUES = [40.0, -15.0, 70.0, 5.0, 0.0, 120.0]


def _band_sets():
    """[sets] of the faces of each band (geometric), and a uniform pressure on each."""
    text = ""
    for i, ((y0, z0), v) in enumerate(zip(_BANDS, _BAND_VALUES)):
        text += (f"[sets.band{i}]\nkind = \"faces\"\nwhere = \"(x == 2) & (y >= {y0!r}) & "
                 f"(y <= {y0 + 1 / 3!r}) & (z >= {z0!r}) & (z <= {z0 + 0.75!r})\"\n"
                 f"[[pressure]]\nset = \"band{i}\"\nvalue = {v}\n")
    return text


@pytest.mark.mpi
@pytest.mark.parametrize("fmt, cell_type", [("msh", "hexahedron20"), ("msh", "tetra10"),
                                            ("geof", "hexahedron")])
def test_per_face_pressure_equals_uniform_pressures_on_its_faces(fmt, cell_type, tmp_path,
                                                                  comm):
    """Per-face values (``per = "face"``) on the face set ``xmax`` of a mesh file that
    lists its faces shuffled: one value on every face gives the forces of that uniform
    pressure; a value per band of faces (taken from each face's centroid, in the file's
    order) gives the forces of uniform pressures on the bands as geometric face sets
    (an independent path: no file order involved); an HDF5 dataset gives the same."""
    import h5py

    folder = _folder(tmp_path, comm, f"{fmt}_{cell_type}")
    mesh_name, faces, points = _per_face_mesh(folder, fmt, cell_type, comm)
    centroid = points[faces].mean(axis=1)
    band = (np.floor(centroid[:, 1] * 3) * 2 + np.floor(centroid[:, 2] / 0.75)).astype(int)
    assert sorted(set(band)) == list(range(6))
    if comm.rank == 0:
        np.save(os.path.join(folder, "uniform.npy"), np.full(len(faces), 35.0))
        np.save(os.path.join(folder, "bands.npy"), np.array(_BAND_VALUES)[band])
        with h5py.File(os.path.join(folder, "bands.h5"), "w") as f:
            f["p"] = np.array(_BAND_VALUES)[band]
    comm.Barrier()
    steps = "[steps]\ntimes = [1.0]\n"

    def forces(body, name):
        case = write_case(folder, None, CLAMPED_X0 + body + steps, name=name,
                          mesh_name=mesh_name, comm=comm)
        return _forces(case, comm)[0]

    per_face = '[[pressure]]\nset = "xmax"\nfile = "{}"\nper = "face"\n'
    F_uniform = forces('[[pressure]]\nset = "xmax"\nvalue = 35.0\n', "uniform")
    assert abs(F_uniform.sum(axis=0)[0] + 35.0 * 1.5) < 1e-10  # -p A along x
    F = forces(per_face.format("uniform.npy"), "per_face_uniform")
    np.testing.assert_allclose(F, F_uniform, rtol=0, atol=1e-12 * np.abs(F_uniform).max())
    F_bands = forces(_band_sets(), "bands")
    expected = -sum(v * 0.25 for v in _BAND_VALUES)  # each band: 1/3 x 0.75
    assert abs(F_bands.sum(axis=0)[0] - expected) < 1e-10
    F = forces(per_face.format("bands.npy"), "per_face_bands")
    np.testing.assert_allclose(F, F_bands, rtol=0, atol=1e-12 * np.abs(F_bands).max())
    F = forces(per_face.format("bands.h5") + 'name = "p"\n', "per_face_h5")
    np.testing.assert_allclose(F, F_bands, rtol=0, atol=1e-12 * np.abs(F_bands).max())
    # the values in another order are another load (the order is the file's)
    if comm.rank == 0:
        np.save(os.path.join(folder, "reversed.npy"), np.array(_BAND_VALUES)[band][::-1])
    comm.Barrier()
    F = forces(per_face.format("reversed.npy"), "per_face_reversed")
    assert np.abs(F - F_bands).max() > 0.1 * np.abs(F_bands).max()


@pytest.mark.mpi
def test_rom_of_a_per_face_pressure(tmp_path, comm):
    """An elastic ROM trained on per-face values reproduces its training run; other
    values, or the same values on a mesh file that lists the faces in another order,
    are refused (the reduced load is of these values on these faces in this order)."""
    from rom.online import open_for_case

    folder = _folder(tmp_path, comm, "rom_faces")
    mesh_name, faces, points = _per_face_mesh(folder, "msh", "hexahedron20", comm)
    values = 50.0 + 40.0 * points[faces].mean(axis=1)[:, 1]
    if comm.rank == 0:
        np.save(os.path.join(folder, "p.npy"), values)
        np.save(os.path.join(folder, "q.npy"), 2 * values)
        from rom.io.meshfile import read_mesh_file, write_mesh_file

        data = read_mesh_file(os.path.join(folder, mesh_name))
        (ftype, conn), = data.element_groups["xmax"]["faces"].items()
        data.element_groups["xmax"]["faces"] = {ftype: conn[::-1]}
        write_mesh_file(os.path.join(folder, "reordered.msh"), data)
    comm.Barrier()
    case = write_case(folder, None, CLAMPED_X0 + """
[[pressure]]
set = "xmax"
file = "p.npy"
per = "face"
table = [[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]]
[steps]
end = 2.0
count = 4
[rom]
gappy = ["sigma"]
""", mesh_name=mesh_name, comm=comm)
    path = os.path.join(folder, "rom.h5")
    rom_replays_training(case, comm, os.path.join(folder, "hf"), path)
    other = parse_case(case.text.replace("p.npy", "q.npy"), case.path)
    with pytest.raises(RomError, match="pressure field '.*q.npy' on set 'xmax'"):
        open_for_case(path, other)
    reordered = parse_case(case.text.replace(mesh_name, "reordered.msh"), case.path)
    with pytest.raises(RomError, match="with these faces"):
        open_for_case(path, reordered)


def test_per_face_pressure_errors(tmp_path):
    """Per-face values need a face set of the mesh file and one value per face; the
    messages name the key, the file and the counts."""
    folder = str(tmp_path)
    mesh_name, faces, _ = _per_face_mesh(folder, "msh", "tetra10", _self_comm())
    np.save(os.path.join(folder, "p.npy"), np.ones(len(faces) - 1))
    head = f'[mesh]\nfile = "{mesh_name}"\n[material]\nE = 1.0\nnu = 0.3\n'
    path = os.path.join(folder, "c.toml")

    def case(body):
        return parse_case(head + body, path)

    with pytest.raises(RomError, match=r"per = 'face' needs a face set of the mesh file .*"
                                       r"'x2' is defined by a predicate in \[sets.x2\], and "
                                       r"a geometric set has no file order"):
        case('[sets.x2]\nkind = "faces"\nwhere = "x == 2"\n'
             '[[pressure]]\nset = "x2"\nfile = "p.npy"\nper = "face"\n')
    with pytest.raises(RomError, match="'per' tells how the values of a 'file' are given"):
        case('[[pressure]]\nset = "xmax"\nvalue = 1.0\nper = "face"\n')
    with pytest.raises(RomError, match="'per' must be 'node' .* or 'face'"):
        case('[[pressure]]\nset = "xmax"\nfile = "p.npy"\nper = "faces"\n')
    with pytest.raises(RomError, match=r"per-face values are read from a \.npy file or an "
                                       r"HDF5 dataset .*not 'p\.vtu'"):
        case('[[pressure]]\nset = "xmax"\nfile = "p.vtu"\nname = "p"\nper = "face"\n')
    bad = case('[[pressure]]\nset = "xmax"\nfile = "p.npy"\nper = "face"\n')
    with pytest.raises(RomError, match=rf"p\.npy has {len(faces) - 1} value\(s\) .* face set "
                                       rf"'xmax' has {len(faces)} surface elements"):
        _forces(bad, _self_comm())
    from rom.loads import file_face_keys
    from rom.mesh import SetDefinition, load_mesh

    data = load_mesh(os.path.join(folder, mesh_name), _self_comm(),
                     [SetDefinition("x2", "faces", "x == 2")]).data
    with pytest.raises(RomError, match="'x2' is defined by a predicate .* no file order"):
        file_face_keys(data, "x2")
    with pytest.raises(RomError, match="face set 'nowhere' not found"):
        file_face_keys(data, "nowhere")


def _self_comm():
    from mpi4py import MPI

    return MPI.COMM_SELF
