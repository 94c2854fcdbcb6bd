"""Steady heat conduction (rom.thermal) against closed forms: a slab between two
convective boundaries, a thick cylinder cooled inside and heated outside, a slab with a
conductivity linear in temperature (Kirchhoff transform), the order of convergence,
and the fields of the cube case computed by the former serial solver."""

import os

import numpy as np
import pytest

from conftest import ROOT
from rom import RomError
from rom.mesh import load_mesh
from rom.meshgen import box_mesh, cylinder_sector_mesh
from rom.thermal import Convection, FixedTemperature, ThermalModel, solve_steady


def _gather(model, T):
    """Global nodal temperatures (every rank)."""
    return model.dofmap.gather_nodal(T)[:, 0]


@pytest.mark.mpi
@pytest.mark.parametrize("cell_type", ["tetra10", "hexahedron20"])
def test_slab_between_two_convective_faces(cell_type, comm):
    """1D conduction through a slab of thickness L with Robin conditions on both
    faces: a linear profile, which quadratic elements reproduce exactly; the heat
    flux is (T1 - T2) / (1/h1 + L/k + 1/h2)."""
    L, k, h1, h2, T1, T2 = 4.0, 0.02, 5e-3, 2e-3, 1000.0, 300.0
    data = box_mesh((3, 2, 2), (L, 1.0, 1.0), cell_type, distort=0.15)
    mesh = load_mesh(data, comm)
    model = ThermalModel(mesh, k, [Convection("xmin", h1, T1), Convection("xmax", h2, T2)])
    T, info = solve_steady(model)
    q = (T1 - T2) / (1 / h1 + L / k + 1 / h2)
    exact = T1 - q / h1 - q * data.points[:, 0] / k
    np.testing.assert_allclose(_gather(model, T), exact, atol=1e-7 * (T1 - T2))
    assert info["iterations"] == 1  # a linear problem: one Newton iteration


@pytest.mark.mpi
def test_thick_cylinder_cooled_inside(comm):
    """A quarter of a thick cylinder, coolant at Ti inside (h_i), gas at To outside
    (h_o), insulated ends and cuts: T(r) = A ln r + B with the flux per unit length
    (To - Ti) / (1/(2 pi a h_i) + ln(b/a)/(2 pi k) + 1/(2 pi b h_o)); the error of
    quadratic elements on the curved geometry is small and falls with the mesh."""
    a, b, k, hi, ho, Ti, To = 1.0, 3.0, 0.02, 4e-3, 1e-3, 400.0, 1200.0
    R = 1 / (2 * np.pi * a * hi) + np.log(b / a) / (2 * np.pi * k) + 1 / (2 * np.pi * b * ho)
    Q = (To - Ti) / R  # per unit length, outward to inward
    A = Q / (2 * np.pi * k)
    Ta = Ti + Q / (2 * np.pi * a * hi)

    errors = []
    for n in (2, 4):
        data = cylinder_sector_mesh(a, b, 1.0, np.pi / 2, (n, 2 * n, 1), "tetra10")
        mesh = load_mesh(data, comm)
        model = ThermalModel(mesh, k, [Convection("xmin", hi, Ti), Convection("xmax", ho, To)])
        T, _ = solve_steady(model)
        r = np.linalg.norm(data.points[:, :2], axis=1)
        exact = Ta + A * np.log(r / a)
        errors.append(np.abs(_gather(model, T) - exact).max() / (To - Ti))
    assert errors[1] < 2e-3
    assert errors[0] / errors[1] > 4  # at least second order at the nodes


@pytest.mark.mpi
def test_conductivity_linear_in_temperature(comm):
    """k = k0 (1 + beta T) (a two-row table is exactly linear between its rows), T
    fixed at both ends of a bar: the Kirchhoff transform k0 (T + beta T^2 / 2) is
    linear in x. Newton converges quadratically; the nodal error falls at least as
    h^2 (measured 2.98, 1.53, 0.46, 0.096 degrees for 2, 4, 8, 16 cells along the bar:
    k(T) of a quadratic T is integrated by the cells' degree-2 rule)."""
    k0, beta, Ta, Tb, L = 0.01, 2e-3, 100.0, 1000.0, 1.0
    table = [[0.0, k0], [2000.0, k0 * (1 + beta * 2000.0)]]

    def exact(x):
        theta = (1 - x / L) * (Ta + beta * Ta ** 2 / 2) + x / L * (Tb + beta * Tb ** 2 / 2)
        return (-1 + np.sqrt(1 + 2 * beta * theta)) / beta

    errors = []
    for n in (8, 16):
        data = box_mesh((n, 1, 1), (L, 0.25, 0.25), "tetra10")
        mesh = load_mesh(data, comm)
        model = ThermalModel(mesh, table)
        T, info = solve_steady(model, [FixedTemperature("xmin", Ta),
                                       FixedTemperature("xmax", Tb)], rtol=1e-12)
        errors.append(np.abs(_gather(model, T) - exact(data.points[:, 0])).max())
        assert info["iterations"] <= 6
        r = info["residuals"]
        assert r[-1] < 1e-12 and r[-2] < 1e-4  # quadratic: the last step from <1e-4
    assert errors[1] < 0.15  # degrees, over a 900-degree range
    assert errors[0] / errors[1] > 4


@pytest.mark.mpi
def test_cube_fields_equal_the_serial_direct_solve(comm):
    """The cube case's temperature fields (meshes/cube_T_*.npy) came from a serial
    scipy direct solve of -k lap T = q0 exp(-|x - c|^2 / r^2) with x = 0 held at 20 C:
    the distributed Newton-Krylov solve of meshes/make_cube.py gives them again."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_cube", os.path.join(ROOT, "meshes", "make_cube.py"))
    mc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mc)
    from rom.io.meshfile import read_mesh_file

    data = read_mesh_file(os.path.join(ROOT, "meshes", "cube.msh"))
    for name in ("a", "hot"):
        T = mc.temperature_field(data, name, comm)
        ref = np.load(os.path.join(ROOT, "meshes", f"cube_T_{name}.npy"))
        np.testing.assert_allclose(T, ref, atol=1e-6 * np.ptp(ref))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_bad_thermal_input(comm):
    data = box_mesh((1, 1, 1), (1.0, 1.0, 1.0), "tetra10")
    mesh = load_mesh(data, comm)
    with pytest.raises(RomError, match="undetermined"):
        solve_steady(ThermalModel(mesh, 1.0))
    with pytest.raises(RomError, match="face set 'nowhere' not found"):
        ThermalModel(mesh, 1.0, [Convection("nowhere", 1.0, 20.0)])
    with pytest.raises(RomError, match="negative"):
        ThermalModel(mesh, 1.0, [Convection("xmin", "-1 + 0 * x", 20.0)])
    with pytest.raises(RomError, match="NaN"):
        ThermalModel(mesh, 1.0, [Convection("xmin", 1.0, "log(x - 1)")])
    with pytest.raises(RomError, match="conductivity"):
        ThermalModel(mesh, [[20.0, 1.0], [100.0, -1.0]])


THERMAL_CASE = """
[sets.spot_face]
kind = "faces"
where = "x == 2"
[[dirichlet]]
set = "xmin"
[thermal]
conductivity = [[0.0, 0.02], [1500.0, 0.03]]
T_init = 500.0
dir = "thermal"
[thermal.parameters]
hs_y = 0.5
hs_peak = 0.0
[thermal.define]
spot = "hs_peak * exp(-((y - hs_y) / 0.3)**2)"
[[thermal.convection]]
set = "spot_face"
h = 4e-3
T_ext = "1000 + spot"
[[thermal.fixed]]
set = "xmin"
value = 100.0
[loadings.cold]
fields = [{time = 0.0, value = 20.0}, {time = 1.0, thermal = {}}]
[loadings.hot]
fields = [{time = 0.0, value = 20.0}, {time = 1.0, thermal = {hs_peak = 300.0, hs_y = 0.8}}]
[steps]
times = [1.0]
"""


@pytest.mark.mpi
def test_thermal_fields_of_a_case(tmp_path, comm):
    """The [thermal] section of a case: ``run.py thermal`` writes one field per set of
    parameters (the defaults for 'cold', a hot spot for 'hot'), equal to the solve by
    the API; an HF run reads it (and would compute it if missing); a field not
    computed is an error for a reader that cannot compute it; unknown parameters and a
    missing [thermal] section are refused."""
    import h5py

    from helpers import solve, write_case
    from rom.cli import main
    from rom.loads import NodeSubset, TemperatureLoading
    from rom.snapshots import read_snapshots

    folder = str(tmp_path / "c") if comm.size == 1 else comm.bcast(
        str(tmp_path / "c") if comm.rank == 0 else None)
    data = box_mesh((4, 2, 1), (2.0, 1.0, 0.5), "tetra10")
    case = write_case(folder, data, THERMAL_CASE, comm=comm)
    specs = {name: case.loadings[name][1] for name in ("cold", "hot")}
    assert specs["cold"].file != specs["hot"].file
    # not computed yet: the online stage's reader names the command to run
    with pytest.raises(RomError, match="run.py thermal"):
        TemperatureLoading(case.loadings["hot"], NodeSubset.of_mesh(data), 20.0).nodal(1.0)
    assert main(["thermal", case.path, "--loading", "hot"], comm) == 0
    assert not os.path.exists(specs["cold"].file)
    assert main(["thermal", case.path], comm) == 0
    mesh = load_mesh(data, comm, case.sets)
    th = case.thermal
    assert os.path.dirname(specs["hot"].file) == os.path.join(folder, "thermal")
    fields = {}
    for name, params in (("cold", {"hs_y": 0.5, "hs_peak": 0.0}),
                         ("hot", {"hs_y": 0.8, "hs_peak": 300.0})):
        model = ThermalModel(mesh, th.conductivity, th.convection, None, params, th.define)
        T, _ = solve_steady(model, th.fixed, 500.0, params=params)
        with h5py.File(specs[name].file, "r") as f:
            stored = f["T"][...]
        np.testing.assert_allclose(stored, _gather(model, T), atol=1e-6)
        assert os.path.isfile(os.path.splitext(specs[name].file)[0] + ".xdmf")
        fields[name] = stored
    assert 100.0 - 1e-9 <= fields["hot"].min() and fields["hot"].max() < 1300.0
    # the hot spot (y = 0.8) heats the face x = 2 there more than at y = 0
    rise = fields["hot"] - fields["cold"]
    face = np.isclose(data.points[:, 0], 2.0)
    assert rise.min() > -1e-6
    assert rise[face & (data.points[:, 1] > 0.7)].mean() > 1.4 * rise[
        face & (data.points[:, 1] < 0.1)].mean()
    # an HF run computes its loading's field when it is missing, and runs on it
    if comm.rank == 0:
        os.remove(specs["hot"].file)
    comm.Barrier()
    solve(case.with_loading("hot"), comm, os.path.join(folder, "hf"))
    snap = read_snapshots(os.path.join(folder, "hf", "snapshots.h5"), ("T",))
    np.testing.assert_allclose(snap["T"][-1], fields["hot"], atol=1e-6)
    with pytest.raises(RomError, match="not declared"):
        write_case(folder, data, THERMAL_CASE.replace("hs_peak = 300.0", "peak = 3.0"),
                   name="bad", comm=comm)
    with pytest.raises(RomError, match="no \\[thermal\\] section"):
        write_case(folder, data, THERMAL_CASE.split("[thermal]")[0]
                   + "[loadings.a]\nthermal = {}\n", name="bad2", comm=comm)


@pytest.mark.mpi
def test_error_on_the_ranks_holding_a_set_reaches_every_rank(comm):
    """An expression that fails only where it is evaluated (the ranks holding the
    faces of its set: with the rcb partition of a long bar, x = 4 is on the last rank
    only) raises on every rank instead of leaving the others in a collective."""
    data = box_mesh((8, 1, 1), (4.0, 1.0, 1.0), "tetra10")
    mesh = load_mesh(data, comm, partitioner="rcb")
    with pytest.raises(RomError, match="undefined_name"):
        ThermalModel(mesh, 1.0, [Convection("xmax", "1e-3 * undefined_name", 20.0)])
    with pytest.raises(RomError, match="negative"):
        ThermalModel(mesh, 1.0, [Convection("xmax", "-1e-3 + 0 * x", 20.0)])
    model = ThermalModel(mesh, 1.0, [Convection("xmax", 1e-3, 20.0)])
    with pytest.raises(RomError, match="fixed temperature"):
        solve_steady(model, [FixedTemperature("xmin", "log(x - 1)")])


def test_thermal_names_and_set_definitions(tmp_path):
    """Parameters and definitions may not take the names of expressions (x, y, z, t,
    the functions); a changed definition of a set the thermal problem names gives
    another field file (a cached field of the old set is not reused)."""
    from helpers import write_case

    data = box_mesh((4, 2, 1), (2.0, 1.0, 0.5), "tetra10")
    case = write_case(str(tmp_path), data, THERMAL_CASE)
    for bad in ("x = 3.0", "exp = 1.0", "t = 0.0"):
        with pytest.raises(RomError, match="cannot name a parameter"):
            write_case(str(tmp_path), data, THERMAL_CASE.replace("hs_peak = 0.0", bad),
                       name="bad")
    moved = write_case(str(tmp_path), data, THERMAL_CASE.replace('where = "x == 2"',
                                                                 'where = "y == 0"'),
                       name="moved")
    assert moved.loadings["hot"][1].file != case.loadings["hot"][1].file


@pytest.mark.mpi
def test_temperature_file_of_xdmf_time_series(tmp_path, comm):
    """The XDMF beside a temperature file (``write_temperature``: a temporal collection
    of one step, which meshio.read refuses) is read as a temperature file, equal to the
    HDF5 dataset; one with the field at several steps is refused as ambiguous."""
    from rom.io.series import read_xdmf_field
    from rom.loads import _read_nodal_file
    from rom.thermal import write_temperature

    folder = comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0)
    data = box_mesh((3, 2, 2), (2.0, 1.0, 1.0), "tetra10")
    mesh = load_mesh(data, comm)
    T = 20.0 + 300.0 * mesh.points[:, 0] ** 2 + 7.0 * mesh.points[:, 1]
    path = os.path.join(folder, "T_field.h5")
    write_temperature(path, mesh, T)
    xdmf = os.path.splitext(path)[0] + ".xdmf"
    np.testing.assert_allclose(_read_nodal_file(xdmf, "T", mesh), T, rtol=1e-15)
    np.testing.assert_allclose(_read_nodal_file(path, "T", mesh), T, rtol=1e-15)
    with pytest.raises(RomError, match="no nodal array 'Temp'"):
        _read_nodal_file(xdmf, "Temp", mesh)
    if comm.rank == 0:  # an HF run's XDMF: T at every step
        from helpers import solve, write_case

        case = write_case(os.path.join(folder, "c"), data,
                          '[[dirichlet]]\nset = "xmin"\n[temperature]\n'
                          'expression = "20 + 100 * t * x"\n[steps]\nend = 1.0\ncount = 2\n')
        from mpi4py import MPI

        files = solve(case, MPI.COMM_SELF, os.path.join(folder, "hf"))["files"]
        with pytest.raises(RomError, match="holds 'T' at 2 time steps"):
            read_xdmf_field(files[1], "T")


GREEDY = """
[rom]
training = ["cold"]
gappy = ["sigma"]
eps_u = 1e-6
[rom.greedy]
template = "hot"
parameters = {hs_peak = [100.0, 400.0], hs_y = [0.1, 0.9]}
samples = 4
seed = 3
add = 1
"""


@pytest.mark.mpi
def test_greedy_command_adds_the_worst_sampled_hot_spot(tmp_path, comm):
    """``run.py greedy``: candidates made from the template loading with its [thermal]
    parameters sampled in their ranges; the HF run of the one of largest indicator is
    added; the loadings file it writes, added to the case, defines the same loading
    (same parameters, same thermal field file) as the candidate."""
    import json
    import pathlib

    from helpers import write_case
    from rom import api
    from rom.case import load_case
    from rom.cli import main

    tmp_path = pathlib.Path(comm.bcast(str(tmp_path), root=0))  # shared by the ranks
    data = box_mesh((4, 2, 1), (2.0, 1.0, 0.5), "tetra10")
    case = write_case(str(tmp_path / "c"), data, THERMAL_CASE.replace("[steps]", GREEDY
                                                                      + "[steps]"),
                      comm=comm)
    assert main(["greedy", case.path, "--out", str(tmp_path / "out")], comm) == 0
    folder = tmp_path / "out" / "greedy"
    with open(folder / "greedy.json") as f:
        res = json.load(f)
    assert len(res["candidates"]) == 4 and len(res["chosen"]) == 1, res
    chosen = res["chosen"][0]
    scores = res["scores"][0]
    assert chosen["score"] == max(scores.values()) == scores[chosen["name"]]
    assert 100.0 <= chosen["parameters"]["hs_peak"] <= 400.0
    assert 0.1 <= chosen["parameters"]["hs_y"] <= 0.9
    assert (folder / f"hf_{chosen['name']}" / "snapshots.h5").is_file()
    assert (folder / "rom_2.h5").is_file() and res["stopped"] == "n_add = 1 runs added"
    with open(case.path) as f:
        text = f.read()
    extended = tmp_path / "c" / f"extended{comm.rank}.toml"
    extended.write_text(text + "\n" + (folder / "loadings.toml").read_text())
    new = load_case(str(extended))
    candidate = api.greedy_candidates(case)[chosen["name"]][0]
    assert new.loadings[chosen["name"]] == candidate.loadings[chosen["name"]]
    assert dict(new.loadings[chosen["name"]][1].thermal) == dict(
        dict(case.thermal.parameters), **chosen["parameters"])
    # with the chosen loading in the case and in its training, the same sampling
    # leaves it out and names no candidate as a loading of the case
    trained = tmp_path / "c" / f"trained{comm.rank}.toml"
    trained.write_text(extended.read_text().replace(
        'training = ["cold"]', f'training = ["cold", "{chosen["name"]}"]'))
    again = api.greedy_candidates(load_case(str(trained)))
    assert len(again) == 3 and chosen["name"] not in again
    assert set(again) == set(res["candidates"]) - {chosen["name"]}
    text = (folder / "greedy.json").read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON


def test_loading_tables_round_trip_through_the_case_file(tmp_path):
    """``api.loading_table`` writes a loading made from Python as a case file defines
    it: quoted names and keys, escaped strings, exact numbers; and a greedy summary's
    non-finite scores are written as strings (strict JSON)."""
    import json

    from helpers import write_case
    from rom import api
    from rom.case import load_case
    from rom.cli import _json_numbers

    data = box_mesh((2, 1, 1), (2.0, 1.0, 0.5), "tetra10")
    case = write_case(str(tmp_path), data, THERMAL_CASE)
    c = case.with_fields([{"time": 0.0, "value": 20.0},
                          {"time": 0.5, "expression": "20 +\n 1e-05 * x + 300.0 * y"},
                          {"time": 1.0, "thermal": {"hs_peak": 123.456789012345678}}],
                         name="hot spot.2")
    with open(case.path) as f:
        text = f.read()
    path = tmp_path / "more.toml"
    path.write_text(text + "\n" + api.loading_table(c, "hot spot.2"), encoding="utf-8")
    assert load_case(str(path)).loadings["hot spot.2"] == c.loadings["hot spot.2"]
    out = json.dumps(_json_numbers({"s": [float("inf"), float("nan"), 1.5]}),
                     allow_nan=False)
    assert json.loads(out) == {"s": ["inf", "nan", 1.5]}


@pytest.mark.parametrize("change, message", [
    ('template = "hot"', 'template = "cold2"', ),
    ("hs_y = [0.1, 0.9]", "hs_z = [0.1, 0.9]"),
    ("hs_y = [0.1, 0.9]", "hs_y = [0.9, 0.1]"),
    ("samples = 4", "samples = 0"),
    ("add = 1", "add = -1"),
    ("hs_y = [0.1, 0.9]", "hs_y = [0.1, inf]"),
    ("seed = 3", "seed = -1"),
])
def test_greedy_section_is_checked(tmp_path, change, message):
    """[rom.greedy]: an unknown template loading, a parameter the [thermal] problem
    does not declare, a range that is not [low, high], no sample: refused by name."""
    from helpers import write_case

    data = box_mesh((2, 1, 1), (2.0, 1.0, 0.5), "tetra10")
    expect = {'template = "cold2"': "unknown template loading 'cold2'",
              "hs_z = [0.1, 0.9]": "'hs_z' is not declared",
              "hs_y = [0.9, 0.1]": "low < high",
              "samples = 0": "'samples' must be a positive integer",
              "add = -1": "'add' must be an integer >= 0",
              "hs_y = [0.1, inf]": "both finite",
              "seed = -1": "'seed' must be an integer >= 0"}[message]
    with pytest.raises(RomError, match=expect):
        write_case(str(tmp_path), data, THERMAL_CASE.replace(
            "[steps]", GREEDY.replace(change, message) + "[steps]"))
