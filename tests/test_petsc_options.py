"""PETSc options the PETSc way (rom.petsc, rom.assembly.LinearSolver): the user's
options (``--petsc``, ``PETSC_OPTIONS``) in PETSc's global options database, the HF
solver's KSP and PC unprefixed and the thermal solver's prefixed ``thermal_``, the
project's defaults and the case's ``[solver.petsc]`` below them, ``-log_view`` and the
report of options never used at the end of the command."""

import re

import numpy as np
import pytest

from conftest import run_cli
from helpers import ISOSTATIC_X0, elastic_matrix, write_case
from rom.meshgen import box_mesh

ELASTIC = ISOSTATIC_X0 + """
[temperature]
expression = "20 + 300 * x * t"
[steps]
times = [1.0]
"""

# steady conduction from a fixed temperature and a convection face; the HF run of a
# loading computes its field first (the thermal solver, then the HF solver)
THERMAL = """
[sets.hot_face]
kind = "faces"
where = "x == 2"
[[dirichlet]]
set = "xmin"
[thermal]
conductivity = [[0.0, 0.02], [1500.0, 0.03]]
T_init = 500.0
dir = "thermal"
[[thermal.convection]]
set = "hot_face"
h = 4e-3
T_ext = 1000.0
[[thermal.fixed]]
set = "xmin"
value = 100.0
[loadings.hot]
fields = [{time = 0.0, value = 20.0}, {time = 1.0, thermal = {}}]
[steps]
times = [1.0]
"""


def _elastic_case(folder, extra=""):
    write_case(folder, box_mesh((4, 2, 2), (2.0, 1.0, 1.0), "tetra10"), ELASTIC + extra)
    return str(folder / "case.toml")


def _hf(case, out, petsc=None, n=1, env=None, extra=()):
    args = ["hf", case, "--out", str(out), "--overwrite", *extra]
    if petsc is not None:
        args += ["--petsc", petsc]
    res = run_cli(args, n=n, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def _ksp_iterations(stdout):
    return int(re.search(r"KSP iterations (\d+)", stdout).group(1))


def _views(stdout):
    """``{prefix: [types]}`` of the top-level KSP objects that ``-ksp_view`` printed
    (the multigrid levels' are indented)."""
    out = {}
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"KSP Object: (?:\((\w+)\) )?\d+ MPI process", line)
        if m:
            kind = re.match(r"\s+type: (\w+)", lines[i + 1]).group(1)
            out.setdefault(m.group(1) or "", []).append(kind)
    return out


def test_log_view_prints_petscs_log_at_the_end(tmp_path):
    case = _elastic_case(tmp_path / "c")
    out = _hf(case, tmp_path / "o", "-log_view")  # one token: --petsc=-log_view
    assert "PETSc Performance Summary" in out
    summary, log = out.index("max von Mises"), out.index("PETSc Performance Summary")
    assert summary < log
    assert re.search(r"^KSPSolve\s+\d", out, re.M)
    assert re.search(r"^PCSetUp\s+\d", out, re.M)
    assert "PETSc Performance Summary" not in _hf(case, tmp_path / "o")


@pytest.mark.parametrize("n", [1, 2])
def test_a_misspelt_option_is_named_at_the_end_on_rank_0(tmp_path, n):
    case = _elastic_case(tmp_path / "c")
    out = _hf(case, tmp_path / "o", "-ksp_rtoll 1e-3 -ksp_converged_reason", n=n)
    warnings = [ln for ln in out.splitlines() if ln.startswith("warning: PETSc option")]
    assert len(warnings) == 1, out  # once, by rank 0
    assert "never used: -ksp_rtoll 1e-3 (misspelt" in warnings[0]
    assert "-ksp_converged_reason" not in warnings[0]  # used
    assert out.index("max von Mises") < out.index(warnings[0])
    # the same from the environment; -options_left: PETSc's own table instead
    out = _hf(case, tmp_path / "o", "-options_left", env={"PETSC_OPTIONS": "-ksp_rtoll 3"})
    assert "Option left: name:-ksp_rtoll value: 3" in out
    assert "warning: PETSc option" not in out
    out = _hf(case, tmp_path / "o", "-options_left 0", env={"PETSC_OPTIONS": "-ksp_rtoll 3"})
    assert "warning: PETSc option" not in out and "Option left" not in out
    # nothing given, nothing reported
    assert "warning: PETSc option" not in _hf(case, tmp_path / "o")


def test_petsc_options_environment_variable_is_read(tmp_path):
    case = _elastic_case(tmp_path / "c")
    out = _hf(case, tmp_path / "o", env={"PETSC_OPTIONS": "-ksp_monitor"})
    assert re.search(r"^\s+0 KSP Residual norm", out, re.M)
    assert "warning: PETSc option" not in out
    # the command line after the environment, as PETSc takes them: the later wins
    out = _hf(case, tmp_path / "o", "-ksp_type gmres -ksp_view",
              env={"PETSC_OPTIONS": "-ksp_type bcgs"})
    assert _views(out) == {"": ["gmres"]}


def test_user_options_override_the_defaults_and_the_case(tmp_path):
    case = _elastic_case(tmp_path / "c")
    default = _hf(case, tmp_path / "o", "-ksp_view")
    assert _views(default) == {"": ["cg"]}  # the project's default: CG + GAMG
    assert "type: gamg" in default
    # the user's ksp_rtol: every solve to it, instead of the Newton forcing terms
    tight = _hf(case, tmp_path / "o", "-ksp_rtol 1e-13")
    assert _ksp_iterations(tight) > _ksp_iterations(default)
    out = _hf(case, tmp_path / "o", "-ksp_type gmres -pc_type jacobi -ksp_view")
    assert _views(out) == {"": ["gmres"]} and "type: jacobi" in out
    assert "warning: PETSc option" not in out  # GAMG's defaults are no user options
    # the case's [solver.petsc] over the defaults, the user's over the case's
    case = _elastic_case(tmp_path / "d", '[solver.petsc]\nksp_type = "bcgs"\n')
    assert _views(_hf(case, tmp_path / "o", "-ksp_view")) == {"": ["bcgs"]}
    assert _views(_hf(case, tmp_path / "o", "-ksp_type gmres -ksp_view")) == {"": ["gmres"]}


@pytest.mark.parametrize("n", [1, 2])
def test_thermal_and_hf_solvers_take_their_own_options(tmp_path, n):
    write_case(tmp_path / "c", box_mesh((4, 2, 1), (2.0, 1.0, 0.5), "tetra10"), THERMAL)
    case = str(tmp_path / "c" / "case.toml")
    petsc = "-ksp_type gmres -ksp_view -thermal_ksp_type bcgs -thermal_ksp_view"
    # the field is computed (thermal solver), then the HF run (HF solver)
    out = _hf(case, tmp_path / "o", petsc, n=n, extra=["--loading", "hot"])
    views = _views(out)
    assert set(views) == {"", "thermal_"}, views
    assert set(views[""]) == {"gmres"} and set(views["thermal_"]) == {"bcgs"}
    assert "warning: PETSc option" not in out
    # the thermal command: its solver's options; unprefixed ones are the HF solver's
    res = run_cli(["thermal", case, "--force", "--petsc", "-thermal_ksp_converged_reason "
                   "-ksp_converged_reason"], n=n)
    assert res.returncode == 0, res.stderr
    assert "Linear thermal_ solve converged" in res.stdout
    assert re.search(r"^Linear solve", res.stdout, re.M) is None
    assert "never used: -ksp_converged_reason (" in res.stdout
    # the field up to date: the thermal solver's options are not used, and said so
    out = _hf(case, tmp_path / "o", petsc, n=n, extra=["--loading", "hot"])
    assert _views(out) == {"": ["gmres"]}
    assert "never used: -thermal_ksp_type bcgs -thermal_ksp_view (" in out


def test_every_command_that_builds_a_petsc_solver_takes_petsc_options():
    from rom.cli import PETSC_COMMANDS, _petsc_value_attached, build_parser

    parser = build_parser()
    given = {"hf": ["c.toml"], "solve": ["c.toml"], "thermal": ["c.toml"],
             "offline": ["c.toml", "--snapshots", "a.h5", "--out", "r.h5"],
             "online": ["c.toml", "--rom", "r.h5", "--out", "o"],
             "adaptive": ["c.toml", "--rom", "r.h5", "--out", "o"],
             "pipeline": ["c.toml"], "import": ["c.toml", "--from", "a.frd", "--out", "o"],
             "greedy": ["c.toml", "--add", "2"]}
    assert set(PETSC_COMMANDS) | {"online"} == set(given)
    for command, args in given.items():
        argv = _petsc_value_attached([command, *args, "--petsc", "-log_view"])
        assert parser.parse_args(argv).petsc == "-log_view"


def test_the_online_command_reports_its_petsc_options_unused():
    from rom.petsc import unused_report

    report = unused_report({"log_view": "", "ksp_rtol": "1e-9"},
                           "the online command builds no PETSc object")
    assert report.startswith("warning: PETSc option(s) given but never used: -log_view "
                             "-ksp_rtol 1e-9 (the online command builds no PETSc object)")


@pytest.mark.mpi
def test_solvers_leave_the_options_database_as_they_found_it(comm):
    """The defaults and a caller's options are in PETSc's database only while their
    solver sets up or solves: two solvers of the same prefix with different options
    coexist, each with its own, a user's option applies to both, and the database
    ends as it began (PETSc 3.18's holds at most 512 entries)."""
    from rom.assembly import DofMap, LinearSolver, MatrixAssembler
    from rom.mesh import load_mesh
    from rom.petsc import PETSc, database

    mesh = load_mesh(box_mesh((4, 2, 2), (2.0, 1.0, 1.0), "tetra10"), comm)
    dm = DofMap(mesh)
    A = elastic_matrix(mesh, dm, MatrixAssembler(dm), lambda x: np.full_like(x, 1e3))
    db = PETSc.Options()
    before = database()
    db.setValue("ksp_max_it", "500")  # the user's
    try:
        krylov = LinearSolver(dm, {"ksp_type": "gmres"})
        direct = LinearSolver(dm, {"linear_solver": "mumps"})
        assert database() == {**before, "ksp_max_it": "500"}
        b = dm.create_vector()
        b.set(1.0)
        for _ in range(2):  # interleaved
            for solver in (krylov, direct):
                solver.restart()
                solver.set_operator(A)
                solver.solve(b, dm.create_vector(), rtol=1e-8)
                assert database() == {**before, "ksp_max_it": "500"}
        assert krylov.ksp.getType() == "gmres" and krylov.ksp.getPC().getType() == "gamg"
        assert direct.ksp.getType() == "preonly"
        assert direct.ksp.getPC().getType() == "cholesky"
        assert krylov.ksp.getTolerances()[3] == 500  # (preonly reads no tolerance)
        assert krylov.options["ksp_max_it"] == "500"
        for _ in range(100):  # many solvers in turn: nothing accumulates
            LinearSolver(dm, {"ksp_type": "gmres"}).check_options(A)
        assert database() == {**before, "ksp_max_it": "500"}
    finally:
        db.delValue("ksp_max_it")
    assert database() == before


def test_a_commands_options_do_not_outlive_it_in_the_same_process(tmp_path, comm):
    """Commands run one after another in one process (tests, case scripts): each
    command's --petsc options leave PETSc's database when it ends, failed or not, and
    an option it overrode gets its previous value back (in the test process PETSc was
    started before)."""
    from rom import RomError
    from rom.cli import main
    from rom.petsc import PETSc, database

    if comm.size > 1:
        pytest.skip("serial")
    case = _elastic_case(tmp_path / "c")
    before = database()
    with pytest.raises(RomError):  # fails during the run (an unknown KSP type)
        main(["hf", case, "--out", str(tmp_path / "o1"), "--petsc", "-ksp_type bogus"], comm)
    assert database() == before
    db = PETSc.Options()
    db.setValue("ksp_type", "bcgs")  # as PETSC_OPTIONS would have set it
    try:
        main(["hf", case, "--out", str(tmp_path / "o2"), "--petsc",
              "-ksp_type gmres -ksp_max_it 300"], comm)
        assert database() == {**before, "ksp_type": "bcgs"}
    finally:
        db.delValue("ksp_type")
    assert database() == before


FRESH = """
import sys
from mpi4py import MPI
from rom.cli import main
from rom.petsc import database
case, out = sys.argv[1:]
main(["hf", case, "--out", out + "/a", "--petsc", "-ksp_type gmres -ksp_max_it 300"],
     MPI.COMM_WORLD)
print("AFTER", sorted(database().items()))
"""


def test_options_of_a_command_that_started_petsc_are_put_back(tmp_path):
    """When the command starts PETSc itself (its options on PETSc's command line, after
    PETSC_OPTIONS), its end leaves the database as PETSC_OPTIONS alone would have: an
    overridden option back to PETSC_OPTIONS' value, the others removed."""
    import ast
    import os
    import subprocess
    import sys

    case = _elastic_case(tmp_path / "c")
    script = tmp_path / "fresh.py"
    script.write_text(FRESH)
    env = dict(os.environ, PETSC_OPTIONS="-ksp_type bcgs -options_left 0")
    res = subprocess.run([sys.executable, str(script), case, str(tmp_path / "o")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    after = dict(ast.literal_eval(next(line[6:] for line in res.stdout.splitlines()
                                       if line.startswith("AFTER "))))
    assert after.get("ksp_type") == "bcgs" and "ksp_max_it" not in after, after
