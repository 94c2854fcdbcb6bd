"""Pressure fields on face sets ([[pressure]] expression or nodal file): the resultant
and moment of the assembled forces against the integrals of the field, on flat and
curved faces; a nodal file equal to the expression's field; an expression of t equal
to its separable form with a table; the ROM of a pressure field reproduces its
training run, and refuses a field it was not trained with or one that depends on t."""

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
