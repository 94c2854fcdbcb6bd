"""High-fidelity incremental solver: Newton convergence, step cutting, snapshots
(rank independence, resume, damaged files), temperature inputs and cyclic steps."""

import os
import shutil
from dataclasses import replace

import h5py
import numpy as np
import pytest
from mpi4py import MPI

from conftest import run_cli
from helpers import ISOSTATIC_X0, solve, write_case
from rom import RomError
from rom.meshgen import box_mesh
from rom.snapshots import read_snapshots

CHABOCHE = """
[material]
law = "chaboche"
E = [[20.0, 200000.0], [1000.0, 150000.0]]
nu = 0.3
alpha = 2e-5
R0 = 10.0
K = [[20.0, 300.0], [1000.0, 200.0]]
n = 30.0
C = 1e5
D = 1e3
"""

J2 = """
[material]
law = "j2"
E = 200000.0
nu = 0.3
R0 = 250.0
H = 5000.0
Hk = 20000.0
"""

BAR = """
[[dirichlet]]
set = "xmin"
[[pressure]]
set = "xmax"
value = -300.0
[[pressure]]
set = "ymax"
value = 20.0
[solver]
linear_solver = "mumps"
rtol = 1e-10
"""


def _bar(n=(4, 2, 2), name="hexahedron20"):
    return box_mesh(n, (4.0, 1.0, 1.0), name, distort=0.15)


@pytest.mark.parametrize("material", [J2, CHABOCHE], ids=["j2", "chaboche"])
def test_newton_converges_quadratically_on_an_inelastic_step(material, tmp_path, comm):
    case = write_case(tmp_path, _bar(), BAR + "[steps]\ntimes = [1.0]\n", material=material)
    res = solve(case, comm, tmp_path / "out")
    info = res["history"][0]
    assert info["substeps"] == 1 and res["state"]["p"].max() > 1e-3  # really inelastic
    r = np.array(info["residuals"])
    # convergence order log(r2/r1) / log(r1/r0) over triples in the asymptotic range
    # (above the round-off floor of the local integration): 2 for Newton, 1 if linear
    orders = [np.log(c / b) / np.log(b / a) for a, b, c in zip(r, r[1:], r[2:])
              if 1e-11 < min(a, b, c) and max(a, b, c) < 2e-2]
    assert orders and min(orders) > 1.6 and max(orders) > 1.8, (r, orders)


def test_a_failing_step_is_cut_and_completes(tmp_path, comm):
    ramp = "table = [[0.0, 0.0], [1.0, 1.0]]\n"
    body = BAR.replace("value = -300.0\n", "value = -300.0\n" + ramp).replace(
        "value = 20.0\n", "value = 20.0\n" + ramp)
    body = body.replace("rtol = 1e-10", "rtol = 1e-8")
    body += "max_iterations = 4\n[steps]\ntimes = [1.0]\n"  # the whole step needs 5
    case = write_case(tmp_path, _bar((3, 2, 2)), body, material=J2)
    res = solve(case, comm, tmp_path / "cut")
    info = res["history"][0]
    assert info["substeps"] > 1 and max(info["iterations"]) <= 4
    # compare with a run of small uniform steps
    fine = replace(case, times=tuple(np.linspace(0, 1, 17)[1:]),
                   solver=replace(case.solver, max_iterations=25))
    ref = solve(fine, comm, tmp_path / "fine")
    u, u_ref = res["model"].dofmap.gather_nodal(res["u"]), ref["model"].dofmap.gather_nodal(
        ref["u"])
    # rate-independent plasticity under proportional loading: path independent here
    assert np.abs(u - u_ref).max() < 2e-2 * np.abs(u_ref).max()
    with pytest.raises(RomError, match="failed after 0 cuts"):
        solve(replace(case, max_cuts=0), comm, tmp_path / "nocut")


CYCLE = ISOSTATIC_X0 + """
[[pressure]]
set = "xmax"
value = -200.0
table = [[0.0, 0.0], [0.5, 1.0], [1.0, -1.0], [2.0, 0.0]]
[temperature]
expression = "20 + 300 * x / 4 * (1 - abs(1 - t))"
[steps]
cycles = 2
period = 2.0
count = 8
[solver]
rtol = 1e-9
[solver.petsc]
ksp_rtol = 1e-12
"""


@pytest.mark.mpi
def test_snapshots_do_not_depend_on_rank_count(tmp_path, comm):
    data = _bar((4, 2, 2), "tetra10")
    case = write_case(tmp_path, data, CYCLE, material=CHABOCHE)
    solve(case, comm, tmp_path / "par")
    solve(case, MPI.COMM_SELF, tmp_path / f"ser{comm.rank}")
    path = comm.bcast(str(tmp_path / "par" / "snapshots.h5"))
    par = read_snapshots(path, ("U", "T"), ("sigma", "p", "X"))
    ser = read_snapshots(str(tmp_path / f"ser{comm.rank}" / "snapshots.h5"), ("U", "T"),
                         ("sigma", "p", "X"))
    assert len(par["time"]) == 16 and np.allclose(par["time"], ser["time"])
    assert par["qp/p"].max() > 1e-4
    for key in ("U", "T", "qp/sigma", "qp/p", "qp/X", "weights"):
        scale = np.abs(ser[key]).max()
        assert np.abs(par[key] - ser[key]).max() <= 1e-8 * scale, key


def test_resume_gives_the_same_file(tmp_path, comm):
    case = write_case(tmp_path, _bar((3, 1, 1)), CYCLE, material=CHABOCHE)
    full = solve(case, comm, tmp_path / "full")
    part = solve(case, comm, tmp_path / "part", max_steps=5)
    assert part["steps_done"] == 5
    path = tmp_path / "part" / "snapshots.h5"
    with h5py.File(path, "r+") as f:  # a step that was being written when killed
        assert f.attrs["completed_steps"] == 5
        f["steps/5/U"] = np.zeros((3, 3))
    solve(case, comm, tmp_path / "part", resume=True)
    a = read_snapshots(str(tmp_path / "full" / "snapshots.h5"), ("U", "T"),
                       ("sigma", "eps_vp", "X", "p"))
    b = read_snapshots(str(path), ("U", "T"), ("sigma", "eps_vp", "X", "p"))
    assert set(a) == set(b)
    # not to the last digit: the resumed run builds a new preconditioner where the
    # uninterrupted one kept the previous steps' (NewtonSolver); every solve to the
    # case's ksp_rtol (1e-12): measured 4e-12 of the largest value
    for key in a:
        if key != "case_text":
            np.testing.assert_allclose(b[key], a[key], rtol=0, atol=1e-10 * (
                np.abs(a[key]).max() + 1e-300), err_msg=key)
    del full


def test_killed_run_resumes_from_the_cli(tmp_path):
    case_dir = tmp_path / "c"
    write_case(case_dir, _bar((3, 1, 1)), CYCLE, material=CHABOCHE)
    args = ["hf", str(case_dir / "case.toml"), "--out", str(tmp_path / "run")]
    first = run_cli(args + ["--max-steps", "3"], n=2)
    assert first.returncode == 0, first.stderr
    second = run_cli(args + ["--resume"], n=2)
    assert second.returncode == 0, second.stderr
    assert "resuming" in second.stdout and "16 of 16 step(s)" in second.stdout
    ref = run_cli(["hf", str(case_dir / "case.toml"), "--out", str(tmp_path / "ref")])
    assert ref.returncode == 0, ref.stderr
    a = read_snapshots(str(tmp_path / "ref" / "snapshots.h5"), ("U",), ("p",))
    b = read_snapshots(str(tmp_path / "run" / "snapshots.h5"), ("U",), ("p",))
    assert np.abs(a["U"] - b["U"]).max() <= 1e-8 * np.abs(a["U"]).max()


def test_damaged_or_foreign_snapshot_files_are_reported(tmp_path, comm):
    case = write_case(tmp_path, _bar((2, 1, 1)), CYCLE, material=J2)
    solve(replace(case, times=case.times[:2]), comm, tmp_path / "run")
    good = tmp_path / "run" / "snapshots.h5"
    truncated = tmp_path / "trunc" / "snapshots.h5"
    truncated.parent.mkdir()
    raw = good.read_bytes()
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(RomError, match="truncated"):
        read_snapshots(str(truncated))
    with pytest.raises(RomError, match="truncated"):
        solve(case, comm, truncated.parent, resume=True)
    foreign = tmp_path / "foreign" / "snapshots.h5"
    foreign.parent.mkdir()
    with h5py.File(foreign, "w") as f:
        f["data"] = np.arange(3)
    with pytest.raises(RomError, match="not a rom snapshot file"):
        read_snapshots(str(foreign))
    with pytest.raises(RomError, match="not a rom snapshot file"):
        solve(case, comm, foreign.parent, resume=True)
    other = tmp_path / "other"
    shutil.copytree(tmp_path / "run", other)
    with pytest.raises(RomError, match="different case"):
        solve(replace(case, text=case.text + "\n# changed\n"), comm, other, resume=True)
    with pytest.raises(RomError, match="does not exist"):
        solve(case, comm, tmp_path / "nothing", resume=True)


def test_temperature_fields_from_files_interpolated_in_time(tmp_path, comm):
    """Free thermal expansion under temperature fields read from .npy, HDF5 and VTU
    files: the stored temperatures are the linear interpolation in time and the strain
    is alpha * (T - T_ref) everywhere. The fields are linear in space (uniform, along x,
    along x, y and z): a linear temperature is compatible (free expansion, no stress)
    and the elements reproduce it exactly, so at every quadrature point and step
    ``eps = alpha (T(x_q) - T_ref) (1, 1, 1, 0, 0, 0)`` (Mandel) and ``sigma = 0``."""
    import meshio

    data = box_mesh((2, 2, 2), (1, 1, 1), "hexahedron20")

    def fields(xyz):  # the temperature of the three files at points xyz (n, 3)
        x, y, z = xyz.T
        return 20.0 + 0 * x, 20 + 300 * x, 20 + 600 * x + 300 * y - 150 * z

    T0, T1, T2 = fields(data.points)
    np.save(tmp_path / "T0.npy", T0)
    with h5py.File(tmp_path / "T1.h5", "w") as f:
        f["fields/T"] = T1
    meshio.write(tmp_path / "T2.vtu", meshio.Mesh(data.points, [("hexahedron20", data.cells)],
                                                  point_data={"temp": T2}))
    body = """
[sets.o]
kind = "nodes"
where = "(x == 0) & (y == 0) & (z == 0)"
[sets.a]
kind = "nodes"
where = "(x == 1) & (y == 0) & (z == 0)"
[sets.b]
kind = "nodes"
where = "(x == 0) & (y == 1) & (z == 0)"
[[dirichlet]]
set = "o"
[[dirichlet]]
set = "a"
components = ["y", "z"]
[[dirichlet]]
set = "b"
components = ["z"]
[[temperature.fields]]
time = 0.0
file = "T0.npy"
[[temperature.fields]]
time = 1.0
file = "T1.h5"
name = "fields/T"
[[temperature.fields]]
time = 2.0
file = "T2.vtu"
name = "temp"
[steps]
times = [0.5, 1.0, 1.5, 2.0]
[solver]
linear_solver = "mumps"
rtol = 1e-12
"""
    material = """
[material]
law = "chaboche"
E = 200000.0
nu = 0.3
alpha = 1e-5
R0 = 10.0
K = 300.0
n = 30.0
C = 1e5
D = 1e3
"""
    case = write_case(tmp_path, data, body, material=material)
    res = solve(case, comm, tmp_path / "out")
    path = comm.bcast(res["files"][0] if res["files"] else None)
    snap = read_snapshots(path, ("T",), ("eps", "sigma", "p"))
    expected = [(T0 + T1) / 2, T1, (T1 + T2) / 2, T2]
    np.testing.assert_allclose(snap["T"], expected, atol=1e-12)
    # the strain at every quadrature point and step: alpha (T(x_q) - T_ref) on the normal
    # components, 0 on the shear ones (measured: max error 1.3e-16 on the normal, 9.8e-17
    # on the shear components for strains up to 8.4e-3; stress at most 2.3e-11 MPa; p 0)
    with h5py.File(path, "r") as f:
        xq = f["quadrature/points"][...]
    F0, F1, F2 = fields(xq)
    T_qp = np.array([(F0 + F1) / 2, F1, (F1 + F2) / 2, F2])
    eps_th = 1e-5 * (T_qp - 20.0)  # alpha = 1e-5, T_ref = 20 (the default)
    eps = snap["qp/eps"]
    assert eps.shape == (4, len(xq), 6)
    np.testing.assert_allclose(eps[..., :3], np.repeat(eps_th[..., None], 3, axis=-1),
                               rtol=0, atol=1e-15)
    np.testing.assert_allclose(eps[..., 3:], 0.0, rtol=0, atol=1e-15)
    assert np.abs(snap["qp/sigma"]).max() < 2e-10  # free expansion: no stress,
    assert np.abs(snap["qp/p"]).max() == 0.0  # and no viscoplastic flow
    # the test means something: large strains, expansion and contraction
    assert eps[3, :, 0].max() > 5e-3 and eps[3, :, 0].min() < -5e-4


def test_sigkilled_run_resumes_to_the_same_result(tmp_path, comm):
    """A run killed with SIGKILL in the middle of its steps: the file holds its complete
    steps, and --resume finishes the run with the uninterrupted result."""
    import os
    import signal
    import subprocess
    import sys

    from conftest import ROOT

    data = _bar((3, 1, 1))
    case = write_case(tmp_path, data, CYCLE.replace("cycles = 2", "cycles = 6"),
                      material=CHABOCHE)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "run.py"), "hf",
                             str(tmp_path / "case.toml"), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    path = out / "snapshots.h5"
    for line in proc.stdout:  # progress is printed before a step is written
        if line.startswith("step 6/"):
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with h5py.File(path, "r") as f:
        killed_at = int(f.attrs["completed_steps"])
    assert 3 <= killed_at < len(case.times), killed_at
    solve(case, comm, out, resume=True)
    ref = solve(case, comm, tmp_path / "ref")
    a = read_snapshots(str(path), ("U",), ("p",))
    b = read_snapshots(ref["files"][0], ("U",), ("p",))
    assert len(a["time"]) == len(case.times)
    assert np.abs(a["U"] - b["U"]).max() <= 1e-8 * np.abs(b["U"]).max()
    assert np.abs(a["qp/p"] - b["qp/p"]).max() <= 1e-8 * np.abs(b["qp/p"]).max()


RAMP = """
[sets.x0]
kind = "nodes"
where = "x == 0"
[sets.x1]
kind = "faces"
where = "x == 1"
[[dirichlet]]
set = "x0"
[[pressure]]
set = "x1"
value = -150.0
table = [[0.0, 0.0], [1.0, 1.0]]
[solver]
rtol = 1e-8
"""


def _ramp_model(tmp_path, comm, material, n):
    """The pressure ramp on an ``n^3`` tet10 cube of ``material``: its structural model
    and ``newton(rtol)``, a factory of Newton solvers on it."""
    from rom.hf import NewtonSolver, StructuralModel
    from rom.loads import Loading
    from rom.materials import make_law
    from rom.mesh import load_mesh

    data = box_mesh((n, n, n), (1.0, 1.0, 1.0), "tetra10")
    case = write_case(tmp_path, data, RAMP + "[steps]\ntimes = [1.0]\n", material=material)
    data.add_definitions(case.sets)
    model = StructuralModel(load_mesh(data, comm), make_law(case.law, case.material_params()))
    return model, lambda rtol: NewtonSolver(model, Loading(case, model), rtol, 25,
                                            case.solver.petsc_options())


@pytest.mark.parametrize("law", ["j2", "chaboche"])
def test_preconditioner_builds_along_a_load_ramp(law, tmp_path, comm):
    """The Krylov solver's preconditioner along a pressure ramp (6 steps, tet10 cube):
    Chaboche flows from the first iteration on, so the preconditioner of the elastic
    first tangent is replaced at once at the second iteration (a rebuild on the change
    of the flowing points, not a capped attempt first), then kept for the next steps;
    J2 plasticity (rate independent) does not flow at a step's first iteration (the
    previous step's displacement), which must not cost a rebuild at every step. The law's
    tangent is computed for the iterates Newton solves from, not for the converged one."""
    material = {"j2": J2.replace("R0 = 250.0", "R0 = 60.0").replace("Hk = 20000.0", ""),
                "chaboche": CHABOCHE}[law]
    model, newton_solver = _ramp_model(tmp_path, comm, material, 4)
    m = model.law
    newton = newton_solver(1e-8)
    restarts = []
    restart = newton.linear.restart
    newton.linear.restart = lambda: (restarts.append(1), restart())
    tangents = []  # the law's tangents computed: one per linear solve, not at convergence
    update = m.update

    def counted(*args, **kw):
        sigma, C, new, ok = update(*args, **kw)
        if not callable(C):
            tangents.append(1)
            return sigma, C, new, ok
        return sigma, lambda: (tangents.append(1), C())[1], new, ok

    m.update = counted
    u, state = np.zeros(model.dofmap.n_local), m.initial_state(model.n_qp)
    builds, set_up = [], []
    for k in range(1, 7):
        before, seconds = newton.linear.rebuilds, newton.linear.setup_seconds
        tangents.clear()
        u, _, _, state, info = newton.step(u, state, k / 6, 1 / 6)
        assert len(tangents) == info["iterations"], (k, len(tangents), info["iterations"])
        builds.append(newton.linear.rebuilds - before)
        set_up.append(newton.linear.setup_seconds - seconds)
        if k == 1 and law == "chaboche":
            # rebuilt before the second solve: no capped attempt with the elastic one
            cap = int(newton.linear.REBUILD_GROWTH * newton.linear.iterations[0]) + 1
            assert len(restarts) == 1 and newton.linear.iterations[1] <= cap
        assert info["iterations"] >= 2
    assert (state["p"] > 0).mean() > 0.5  # the law flows in most of the cube
    assert sum(builds[3:]) <= 1, builds  # kept along the ramp
    # the set-up seconds are counted at the rebuilds only, within the solves' seconds
    assert all((s > 0) == (b > 0) for s, b in zip(set_up, builds)), (set_up, builds)
    assert 0 < newton.timings["pc_setup"] == pytest.approx(sum(set_up))
    assert newton.timings["pc_setup"] < newton.timings["solve"]


def test_a_step_from_a_guess_converges_to_the_same_state(tmp_path, comm):
    """Newton's first iterate may be an estimate of the step's displacement (the
    adaptive ROM's prediction): the law integrates from the previous state whatever the
    iterate, so the step converges to the same displacement and internal variables;
    from the converged displacement itself in no iteration, from a perturbed one in
    fewer than from the previous step. A step from the guess that fails is tried
    again from the previous state (no guess, no cut first): a wrong guess, far from
    the solution, costs an attempt, not the step."""
    from rom.stepping import StepFailure, advance_with_cuts

    model, newton_solver = _ramp_model(tmp_path, comm, CHABOCHE, 3)
    law = model.law

    def newton():
        return newton_solver(1e-10)

    u0, s0 = np.zeros(model.dofmap.n_local), law.initial_state(model.n_qp)
    u, _, _, state, info = newton().advance(u0, s0, 0.0, 0.5)
    u1, _, _, s1, ref = newton().advance(u, state, 0.5, 1.0)
    assert ref["iterations"][0] >= 3
    _, _, _, _, exact = newton().advance(u, state, 0.5, 1.0, guess=u1)
    assert exact["iterations"] == [0]
    rng = np.random.default_rng(comm.rank)
    near = u1 + 1e-3 * np.abs(u1).max() * rng.standard_normal(u1.shape)
    dm = model.dofmap  # the ghost values those of their owners
    near[dm.n_owned:] = 0.0
    near = dm.vector_to_local(dm.local_to_vector(near))
    u2, _, _, s2, info = newton().advance(u, state, 0.5, 1.0, guess=near)
    assert info["iterations"][0] < ref["iterations"][0], (info, ref)
    scale = np.abs(u1).max()
    assert np.abs(u2 - u1).max() <= 1e-7 * scale
    for k in s1:
        assert np.abs(s2[k] - s1[k]).max() <= 1e-6 * max(np.abs(s1[k]).max(), 1e-30), k
    # the attempt from the guess fails: the whole increment again from u, no guess
    calls = []
    solver = newton()
    step = solver.step

    def failing_once(*a, **k):
        calls.append((a[2], "guess" in k))
        if len(calls) == 1:
            raise StepFailure("failure for the test")
        return step(*a, **k)

    *_, info = advance_with_cuts(failing_once, u, state, 0.5, 1.0, guess=u1)
    assert calls == [(1.0, True), (1.0, False)], calls
    assert info["guess_failed"] and info["substeps"] == 1
    # a guess far from the solution: Newton from it fails, the step converges from u
    far = 1e4 * u1
    u3, _, _, s3, info = newton().advance(u, state, 0.5, 1.0, guess=far)
    assert info["guess_failed"], info
    assert np.abs(u3 - u1).max() <= 1e-7 * scale
    assert np.abs(s3["p"] - s1["p"]).max() <= 1e-6 * np.abs(s1["p"]).max()


def test_a_step_whose_residual_rises_is_restarted_with_accurate_solves(tmp_path, comm):
    """GMRES preconditioned by LU on the Chaboche bar, whose exact Newton lets the
    residual rise twice on its way (0.42, 0.46, 0.49): the step is restarted with
    accurate solves, and the restarted Newton follows the direct solver's iterates."""
    direct = write_case(tmp_path / "d", _bar(), BAR + "[steps]\ntimes = [1.0]\n",
                        material=CHABOCHE)
    krylov = BAR.replace('linear_solver = "mumps"\n', "") + """[solver.petsc]
pc_type = "lu"
pc_factor_mat_solver_type = "mumps"
[steps]
times = [1.0]
"""
    case = write_case(tmp_path / "k", _bar(), krylov, material=CHABOCHE)
    ref = solve(direct, comm, tmp_path / "d" / "out")
    res = solve(case, comm, tmp_path / "k" / "out")
    h, h_ref = res["history"][0], ref["history"][0]
    assert h_ref["restarts"] == 0 and h["restarts"] == 1 and h["substeps"] == 1
    r, r_ref = np.array(h["residuals"]), np.array(h_ref["residuals"])
    assert np.any(r_ref[3:] > r_ref[2:-1])  # the exact Newton's residual does rise
    assert len(r) == len(r_ref) and np.allclose(r[:-1], r_ref[:-1], rtol=1e-5)
    u, u_ref = (x["model"].dofmap.gather_nodal(x["u"]) for x in (res, ref))
    assert np.abs(u - u_ref).max() < 1e-8 * np.abs(u_ref).max()


# --- reaction forces on the Dirichlet sets ----------------------------------------------

J2_CURVE = """
[material]
law = "j2"
E = 200000.0
nu = 0.3
hardening = [[0.0, 250.0], [0.002, 280.0], [0.01, 320.0]]
"""

PULLED = ISOSTATIC_X0 + """
[[pressure]]
set = "xmax"
value = -300.0
table = [[0.0, 0.0], [1.0, 1.0]]
[steps]
end = 1.0
count = 3
[solver]
linear_solver = "mumps"
rtol = 1e-10
"""


def _file_reactions(path):
    """``(sets, (n_steps, n_sets, 3))`` of a snapshot file."""
    with h5py.File(path, "r") as f:
        n = int(f.attrs["completed_steps"])
        sets = [s.decode() for s in f["steps/0/reactions"].attrs["sets"]]
        return sets, np.array([f[f"steps/{k}/reactions"][...] for k in range(n)])


@pytest.mark.mpi
def test_reactions_balance_the_pressure_on_any_rank_count(tmp_path, comm):
    """A bar [0, 4] x [0, 1] x [0, 1] pulled by a traction of 300 t (t from 0 to 1) on
    x = 4 (area 1), held isostatically on x = 0 (ISOSTATIC_X0), yielding (tabulated
    hardening from 250): the reaction on the set x = 0 is -300 t in x and 0 in y and z
    (components it does not constrain); those of the edge y0 (in y) and the corner z0
    (in z) vanish, at every step, to the solver tolerance. The same on 1 and 2 ranks;
    written per step in the snapshot file."""
    case = write_case(tmp_path, _bar((4, 2, 2)), PULLED, material=J2_CURVE)
    res = solve(case, comm, tmp_path / "par")
    assert res["state"]["p"].max() > 1e-3  # beyond the table's second point
    reac = res["reactions"]
    assert reac["sets"] == ("xmin", "y0", "z0") and reac["time"] == 1.0
    expected = np.zeros((3, 3))
    expected[0, 0] = -300.0
    # measured: 4.1e-12 N (1 rank), 1.7e-12 (2 ranks)
    np.testing.assert_allclose(reac["values"], expected, rtol=0, atol=1e-8 * 300.0)
    assert reac["values"][0, 1] == reac["values"][0, 2] == 0.0  # not constrained
    path = comm.bcast(str(tmp_path / "par" / "snapshots.h5"))
    sets, per_step = _file_reactions(path)
    assert sets == ["xmin", "y0", "z0"] and per_step.shape == (3, 3, 3)
    t = np.array(case.times)
    np.testing.assert_allclose(per_step[:, 0, 0], -300.0 * t, rtol=0, atol=1e-8 * 300.0)
    np.testing.assert_allclose(per_step[-1], reac["values"], rtol=0, atol=0)
    ser = solve(case, MPI.COMM_SELF, tmp_path / f"ser{comm.rank}")
    np.testing.assert_allclose(ser["reactions"]["values"], reac["values"], rtol=0,
                               atol=1e-9 * 300.0)


def test_reactions_of_a_prescribed_displacement_and_of_loaded_supports(tmp_path, comm):
    """Two closed forms. (1) An elastic bar stretched by u_x = 0.004 on x = 4 (strain
    1e-3, uniaxial stress 200 MPa on an area of 1): reactions +200 on x = 4 and -200
    on x = 0, in x. (2) The bar of BAR (x = 0 clamped, traction 300 on x = 4, pressure
    20 on y = 1: area 4, whose nodes on x = 0 are clamped): the reaction balances every
    load, those applied at the clamped nodes included: (-300, 80, 0)."""
    elastic = "\n[material]\nlaw = \"elastic\"\nE = 200000.0\nnu = 0.3\n"
    body = ISOSTATIC_X0 + """
[[dirichlet]]
set = "xmax"
components = ["x"]
value = 0.004
[steps]
times = [1.0]
[solver]
linear_solver = "mumps"
rtol = 1e-10
"""
    res = solve(write_case(tmp_path / "a", _bar(), body, material=elastic), comm,
                tmp_path / "a" / "out")
    reac = res["reactions"]
    assert reac["sets"] == ("xmin", "y0", "z0", "xmax")
    expected = np.zeros((4, 3))
    expected[0, 0], expected[3, 0] = -200.0, 200.0
    np.testing.assert_allclose(reac["values"], expected, rtol=0, atol=1e-8 * 200.0)
    res = solve(write_case(tmp_path / "b", _bar(), BAR + "[steps]\ntimes = [1.0]\n",
                           material=J2), comm, tmp_path / "b" / "out")
    assert res["state"]["p"].max() > 0
    np.testing.assert_allclose(res["reactions"]["values"], [[-300.0, 80.0, 0.0]], rtol=0,
                               atol=1e-8 * 300.0)


def test_reactions_after_resume_and_in_the_summary(tmp_path, comm):
    """A resumed run writes the reactions of its steps as the uninterrupted run does,
    and reports those of the last step (also when the file was already complete); the
    ``hf`` command prints them per step and in its summary."""
    case = write_case(tmp_path, _bar((3, 1, 1)), PULLED, material=J2_CURVE)
    full = solve(case, comm, tmp_path / "full")
    solve(case, comm, tmp_path / "part", max_steps=1)
    part = solve(case, comm, tmp_path / "part", resume=True)
    again = solve(case, comm, tmp_path / "part", resume=True)  # nothing left to run
    a = _file_reactions(str(tmp_path / "full" / "snapshots.h5"))
    b = _file_reactions(str(tmp_path / "part" / "snapshots.h5"))
    assert a[0] == b[0] and a[1].shape == b[1].shape == (3, 3, 3)
    np.testing.assert_allclose(b[1], a[1], rtol=0, atol=1e-9 * 300.0)
    for r in (part, again):
        assert r["reactions"]["time"] == 1.0
        np.testing.assert_allclose(r["reactions"]["values"], full["reactions"]["values"],
                                   rtol=0, atol=1e-9 * 300.0)
    out = run_cli(["hf", str(tmp_path / "case.toml"), "--out", str(tmp_path / "cli")])
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("    reactions xmin [") == 3  # each step
    lines = out.stdout.splitlines()
    i = next(k for k, s in enumerate(lines) if s.startswith("  reactions at t = 1 "))
    name, *values = lines[i + 1].split()
    assert name == "xmin" and abs(float(values[0]) + 300.0) < 1e-6 and len(values) == 3
    assert [s.split()[0] for s in lines[i + 2: i + 4]] == ["y0", "z0"]


UNHELD = """
[[dirichlet]]
set = "xmin"
components = ["x"]
[[pressure]]
set = "xmax"
value = 10.0
[solver]
linear_solver = "SOLVER"
"""


@pytest.mark.mpi
@pytest.mark.parametrize("solver", ["gamg", "mumps"])
def test_a_structure_not_held_is_refused_before_the_run(tmp_path, comm, solver):
    """A face held in x only leaves three rigid motions free: GAMG would diverge after
    every step cut and MUMPS return an arbitrary rigid motion; the run is refused
    before it starts, naming them. An elastic support on a face, or an isostatic set,
    holds the structure (the run goes)."""
    folder = comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0)
    data = box_mesh((3, 2, 2), (2.0, 1.0, 1.0), "tetra10")
    case = write_case(os.path.join(folder, "c"), data, UNHELD.replace("SOLVER", solver),
                      comm=comm)
    with pytest.raises(RomError, match=r"not held: the Dirichlet conditions leave 3 "
                                       r"rigid-body motion\(s\) free \(translation in y; "
                                       r"translation in z; rotation about x\)"):
        solve(case, comm, os.path.join(folder, "o1"))
    assert not os.path.exists(os.path.join(folder, "o1", "snapshots.h5"))
    held = UNHELD.replace("SOLVER", solver) + '[[support]]\nset = "zmin"\nnormal = 1e3\n' \
        'tangential = 1e3\n'
    res = solve(write_case(os.path.join(folder, "s"), data, held, comm=comm), comm,
                os.path.join(folder, "o2"))
    assert res["steps_done"] == 1
    # a support of the normal only (rollers) on z = 0 stops z and the rotations about
    # x and y; with x held on x = 0, the translation in y stays free
    rollers = UNHELD.replace("SOLVER", solver) + '[[support]]\nset = "zmin"\nnormal = 1e3\n'
    with pytest.raises(RomError, match=r"elastic supports leave 1 rigid-body motion\(s\) "
                                       r"free \(translation in y\)"):
        solve(write_case(os.path.join(folder, "r"), data, rollers, comm=comm), comm,
              os.path.join(folder, "o3"))
    isostatic = ISOSTATIC_X0 + '[[pressure]]\nset = "xmax"\nvalue = 10.0\n'
    res = solve(write_case(os.path.join(folder, "i"), data, isostatic, comm=comm), comm,
                os.path.join(folder, "o4"))
    assert res["steps_done"] == 1
