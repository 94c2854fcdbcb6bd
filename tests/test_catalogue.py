"""The bad-input catalogue: every kind of bad input or fault a user can hit in a normal
week, run as a user runs it (``run.py``), serially and under ``mpirun -n 2``, each with
a timeout. Each must

* end with a non-zero exit (no hang, no exit 0 on input that cannot be right),
* print one message that names the problem, once (not once per rank),
* leave intact the complete result file placed in its output folder beforehand.

The folder holds a small thermoelastic case, its complete HF run, a ROM built from it
and a complete online run; each catalogue entry writes its bad input next to them
and points its command at a copy of the matching result folder.
"""

import hashlib
import re
import shutil
import time

import numpy as np
import pytest

from conftest import run_cli
from helpers import ISOSTATIC_X0
from rom.io.meshfile import write_mesh_file
from rom.meshgen import box_mesh

# the isostatic supports of the x = 0 face (sets y0, z0 and three Dirichlet blocks)
GOOD = """name = "good"
[mesh]
file = "mesh.msh"
[sets.right]
kind = "faces"
where = "x == 1"
[material]
law = "elastic"
E = [[20.0, 200000.0], [800.0, 150000.0]]
nu = 0.3
alpha = 1e-5
rho = 8e-9
""" + ISOSTATIC_X0 + """
[[pressure]]
set = "right"
value = -50.0
[centrifugal]
omega = 300.0
axis_point = [-1.0, 0.0, 0.0]
axis_direction = [0.0, 0.0, 1.0]
[temperature]
expression = "20 + 300 * x * y * t"
[loadings.hot]
expression = "20 + 500 * x * y * t"
[steps]
end = 1.0
count = 2
[rom]
gappy = ["sigma"]
"""

N_NODES = 27  # box 2 x 2 x 2 of hex8


def _edit(old, new, text=GOOD):
    assert old in text, old
    return text.replace(old, new)


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A case with its complete results: ``hf/snapshots.h5``, ``rom/rom.h5``,
    ``online/online.h5``."""
    d = tmp_path_factory.mktemp("catalogue")
    write_mesh_file(str(d / "mesh.msh"), box_mesh((2, 2, 2), (1, 1, 1), "hexahedron"))
    write_mesh_file(str(d / "other.msh"), box_mesh((3, 2, 2), (1, 1, 1), "hexahedron"))
    (d / "good.toml").write_text(GOOD)
    for args in (["hf", "good.toml", "--out", "hf"],
                 ["offline", "good.toml", "--snapshots", "hf/snapshots.h5", "--out",
                  "rom/rom.h5"],
                 ["online", "good.toml", "--rom", "rom/rom.h5", "--out", "online"]):
        proc = run_cli(args, cwd=str(d), timeout=120)
        assert proc.returncode == 0, proc.stderr
    # inputs some entries use
    (d / "other.toml").write_text(GOOD.replace("mesh.msh", "other.msh"))
    (d / "clamped.toml").write_text(_edit('components = ["x"]', 'components = ["x", "y", "z"]'))
    for name in ("other", "clamped"):
        proc = run_cli(["hf", f"{name}.toml", "--out", f"hf_{name}"], cwd=str(d), timeout=120)
        assert proc.returncode == 0, proc.stderr
    return d


def _files(d):
    """Files an entry may need, made on demand in folder ``d``."""
    T = np.linspace(20.0, 300.0, N_NODES)
    np.save(d / "T_ok.npy", T)
    T_nan = T.copy()
    T_nan[-1] = np.nan  # the last node: on the second rank's part under mpirun -n 2
    np.save(d / "T_nan.npy", T_nan)
    np.save(d / "T_short.npy", T[:5])
    (d / "mesh.xyz").write_text("this is not a mesh\n1 2 3\n")
    (d / "notes.txt").write_text("not an HDF5 file\n")
    import meshio

    pts = np.random.default_rng(0).uniform(size=(27, 3))  # a 27-node hexahedron
    meshio.write(str(d / "hex27.vtu"), meshio.Mesh(pts, [("hexahedron27",
                                                          np.arange(27)[None, :])]))
    pts = box_mesh((1, 1, 1), (1, 1, 1), "hexahedron")
    p = pts.points.copy()
    p[0, 0] = np.nan
    meshio.write(str(d / "nan.vtu"), meshio.Mesh(p, [("hexahedron", pts.cells)]))
    if not (d / "snapcopy").exists():
        shutil.copytree(d / "hf", d / "snapcopy")
    if not (d / "rom_truncated.h5").exists():
        data = (d / "rom" / "rom.h5").read_bytes()
        (d / "rom_truncated.h5").write_bytes(data[: len(data) // 2])
        data = (d / "hf" / "snapshots.h5").read_bytes()
        (d / "snap_truncated.h5").write_bytes(data[: len(data) // 3])
        import h5py

        shutil.copy(d / "rom" / "rom.h5", d / "rom_nob.h5")
        with h5py.File(d / "rom_nob.h5", "r+") as f:
            del f["reduced/B"]
        shutil.copy(d / "rom" / "rom.h5", d / "rom_v99.h5")
        with h5py.File(d / "rom_v99.h5", "r+") as f:
            f.attrs["format_version"] = 99


def _case(name, text):
    return {"toml": (name, text)}


# name -> (command (the result folder is appended as --out), bad files, pattern)
# commands: "hf" runs hf CASE --out COPY, "offline", "online" likewise; CASE is the
# entry's own case file (written from the entry's text) or good.toml
HF, OFF, ON, ADA, MESH = "hf", "offline", "online", "adaptive", "mesh"
CATALOGUE = {
    # --- case file ---------------------------------------------------------------------
    "malformed toml": (HF, _edit("[material]", "[material"), [], r"malformed TOML"),
    "unknown key": (HF, _edit("count = 2", "count = 2\ncnt = 3"), [],
                    r"unknown key\(s\) 'cnt' in \[steps\]"),
    "missing mesh section": (HF, GOOD.replace('[mesh]\nfile = "mesh.msh"\n', ""), [],
                             r"missing key 'mesh'"),
    "misspelt nu": (HF, _edit("nu = 0.3", "posson = 0.3"), [],
                    r"unknown parameter\(s\) 'posson' of law 'elastic' \(its parameters: "
                    r"E, nu, alpha, T_ref\).*\[material\]"),
    "misspelt R0": (HF, _edit('law = "elastic"', 'law = "chaboche"\nR_0 = 10.0\nK = 300.0\n'
                              'n = 10.0\nC = 1e5\nD = 1e3'), [],
                    r"unknown parameter\(s\) 'R_0' of law 'chaboche'.*R0"),
    "missing parameter": (HF, _edit('law = "elastic"', 'law = "norton"\nn = 5.0'), [],
                          r"law 'norton' needs parameter\(s\) 'K'"),
    "unknown law": (HF, _edit('law = "elastic"', 'law = "rubber"'), [],
                    r"unknown material law 'rubber' \(known: .*chaboche"),
    "negative E": (HF, _edit("[[20.0, 200000.0], [800.0, 150000.0]]", "-5.0"), [],
                   r"'E' = -5 is outside its physical range \(0, inf\)"),
    "nu 0.5": (HF, _edit("nu = 0.3", "nu = 0.5"), [],
               r"'nu' = 0.5 is outside its physical range \(-1, 0.5\)"),
    "nu 0.7 in a table": (HF, _edit("nu = 0.3", "nu = [[20.0, 0.3], [800.0, 0.7]]"), [],
                          r"'nu' = 0.7 at T = 800 is outside its physical range"),
    "zero Norton coefficient": (HF, _edit('law = "elastic"', 'law = "norton"\nK = 0.0\n'
                                          'n = 5.0'), [], r"'K' = 0 is outside its physical"),
    "table not increasing": (HF, _edit("[[20.0, 200000.0], [800.0, 150000.0]]",
                                       "[[800.0, 200000.0], [20.0, 150000.0]]"), [],
                             r"table of 'E': temperatures must increase"),
    "non-finite time": (HF, _edit("end = 1.0\ncount = 2", "times = [0.5, nan]"), [],
                        r"step times must be finite"),
    "times decreasing": (HF, _edit("end = 1.0\ncount = 2", "times = [1.0, 0.5]"), [],
                         r"step times must be positive and increasing"),
    "non-finite load table": (HF, _edit("value = -50.0", "value = -50.0\n"
                                        "table = [[0.0, 0.0], [1.0, inf]]"), [],
                              r"'table': times must increase and values be finite"),
    "unknown linear solver": (HF, GOOD + "[solver]\nlinear_solver = 'magic'\n", [],
                              r"linear_solver must be 'gamg' or 'mumps', not 'magic'"),
    "Newton tolerance out of range": (HF, GOOD + "[solver]\nrtol = 5.0\n", [],
                                      r"'rtol' must be in \(0, 1\), not 5.0 in \[solver\]"),
    # --- mesh --------------------------------------------------------------------------
    "missing mesh file": (HF, _edit("mesh.msh", "absent.msh"), [],
                          r"mesh file not found: .*absent.msh"),
    "unknown mesh format": (HF, _edit("mesh.msh", "mesh.xyz"), [],
                            r"cannot read mesh file .*mesh.xyz"),
    "unsupported cell type": (HF, _edit("mesh.msh", "hex27.vtu"), [],
                              r"unsupported cell type.*hexahedron27"),
    "mesh with NaN": (HF, _edit("mesh.msh", "nan.vtu"), [],
                      r"node coordinates contain NaN or inf"),
    # --- sets --------------------------------------------------------------------------
    "missing set": (HF, _edit('set = "xmin"', 'set = "nowhere"'), [],
                    r"set 'nowhere' not found"),
    "empty Dirichlet set": (HF, _edit('where = "(x == 0) & (y == 0)"',
                                      'where = "(x == 0) & (y == 5)"'), [],
                            r"\[\[dirichlet\]\] #2: set 'y0' selects no node"),
    "empty pressure set": (HF, _edit('where = "x == 1"', 'where = "x == 2"'), [],
                           r"\[\[pressure\]\] #1: set 'right' selects no face"),
    "bad set predicate": (HF, _edit('where = "x == 1"', 'where = "x === 1"'), [],
                          r"set predicate|cannot evaluate"),
    # --- fields ------------------------------------------------------------------------
    "NaN in temperature file": (HF, _edit('expression = "20 + 300 * x * y * t"',
                                          'file = "T_nan.npy"'), [],
                                r"T_nan.npy has NaN or inf values at 1 node"),
    "temperature file of wrong size": (HF, _edit('expression = "20 + 300 * x * y * t"',
                                                 'file = "T_short.npy"'), [],
                                       r"T_short.npy has 5 values, the mesh has 27 nodes"),
    "missing temperature file": (HF, _edit('expression = "20 + 300 * x * y * t"',
                                           'file = "T_absent.npy"'), [],
                                 r"temperature file not found: .*T_absent.npy"),
    "bad temperature expression": (HF, _edit("20 + 300 * x * y * t", "20 + 300 * w"), [],
                                   r"cannot evaluate temperature expression '20 \+ 300 \* w'"),
    "temperature infinite at the last step": (HF, _edit("20 + 300 * x * y * t",
                                                        "20 + 300 * x / (1 - t)"), [],
                                              r"'20 \+ 300 \* x / \(1 - t\)' at t = 1 has "
                                              r"NaN or inf values"),
    # --- PETSc options -----------------------------------------------------------------
    "misspelt PETSc option": (HF, GOOD + "[solver.petsc]\nksp_tipe = 'cg'\n", [],
                              r"PETSc option\(s\) -ksp_tipe not used by the linear solver"),
    "unknown PETSc type": (HF, GOOD + "[solver.petsc]\npc_type = 'magic'\n", [],
                           r"PETSc refuses the linear solver options \(-pc_type magic\): "
                           r"Unable to find requested PC type magic"),
    "bad --petsc string": (HF, None, ["--petsc", "cg -ksp_type"],
                           r"--petsc: value 'cg' without an option name"),
    # --- outputs, resume, command line -------------------------------------------------
    "existing result without --overwrite": (HF, None, [],
                                            r"snapshots.h5 already exists .*--overwrite"),
    "output folder is a file": (HF, None, ["--out", "notes.txt"],
                                r"cannot write the output .*notes.txt is a file, not a "
                                r"folder"),
    "resume with another case": (HF, _edit("count = 2", "count = 3"), ["--resume"],
                                 r"written by a different case file"),
    "negative --max-steps": (HF, None, ["--overwrite", "--max-steps", "-1"],
                             r"--max-steps: must be a positive integer, not -1"),
    "unknown loading": (HF, None, ["--overwrite", "--loading", "cold"],
                        r"unknown loading 'cold' in good.toml \(it defines: hot\)"),
    "resume with another loading": (HF, None, ["--resume", "--loading", "hot"],
                                    r"holds the loading '\[temperature\]', not 'hot'"),
    "mesh of zero cells": (MESH, None, ["--n", "0", "2", "2"],
                           r"argument --n: must be a positive integer, not 0"),
    # --- snapshot files (offline) ------------------------------------------------------
    "truncated snapshot file": (OFF, None, ["--snapshots", "snap_truncated.h5"],
                                r"cannot open snapshot file snap_truncated.h5: .*truncated"),
    "snapshot file of another mesh": (OFF, None, ["--snapshots", "hf_other/snapshots.h5"],
                                      r"holds a mesh of \d+ nodes, the case's has 27"),
    "archive given as snapshots": (OFF, None, ["--snapshots", "rom/rom.h5"],
                                   r"rom.h5 is not a rom snapshot file"),
    "missing snapshot file": (OFF, None, ["--snapshots", "absent.h5"],
                              r"snapshot file not found: absent.h5"),
    "snapshots of other supports": (OFF, None, ["--snapshots", "hf_clamped/snapshots.h5"],
                                    r"computed with the Dirichlet supports 'xmin:012:"),
    "offline output is a snapshot file": (OFF, None, ["--snapshots", "hf/snapshots.h5",
                                                      "--out", "snapcopy/snapshots.h5"],
                                          r"snapcopy/snapshots.h5 exists and is not a "
                                          r"rom-archive file", ["snapcopy/snapshots.h5"]),
    "offline output is its input": (OFF, None, ["--snapshots", "snapcopy/snapshots.h5",
                                                "--out", "snapcopy/snapshots.h5"],
                                    r"the output snapcopy/snapshots.h5 is one of the "
                                    r"snapshot files", ["snapcopy/snapshots.h5"]),
    # --- archives (online) -------------------------------------------------------------
    "missing archive": (ON, None, ["--rom", "absent.h5"], r"ROM archive not found"),
    "archive not HDF5": (ON, None, ["--rom", "notes.txt"],
                         r"cannot open ROM archive notes.txt"),
    "truncated archive": (ON, None, ["--rom", "rom_truncated.h5"],
                          r"cannot open ROM archive rom_truncated.h5"),
    "archive missing a dataset": (ON, None, ["--rom", "rom_nob.h5"],
                                  r"rom_nob.h5 is incomplete: missing dataset reduced/B"),
    "archive of unknown version": (ON, None, ["--rom", "rom_v99.h5"],
                                   r"format version 99; this code reads version"),
    "online with an unknown load support": (ON, _edit("[[pressure]]\nset = \"right\"",
                                                      "[[pressure]]\nset = \"xmin\""),
                                            ["--rom", "rom/rom.h5"],
                                            r"no reduced load for a pressure on set 'xmin'"),
    "online with other Dirichlet supports": (ON, _edit('components = ["y"]',
                                                       'components = ["x", "y"]'),
                                             ["--rom", "rom/rom.h5"],
                                             r"its modes hold the Dirichlet supports"),
    "online with a set redefined": (ON, _edit('where = "x == 1"', 'where = "x == 0"'),
                                    ["--rom", "rom/rom.h5"],
                                    r"no reduced load for a pressure on set 'right' with "
                                    r"these faces"),
    "online with a prescribed displacement": (ON, _edit('components = ["x"]',
                                                        'components = ["x"]\nvalue = 0.05'),
                                              ["--rom", "rom/rom.h5"],
                                              r"Dirichlet condition on 'xmin' is not "
                                              r"homogeneous"),
    "online with another centrifugal axis": (ON, _edit("axis_point = [-1.0, 0.0, 0.0]",
                                                       "axis_point = [-2.0, 0.0, 0.0]"),
                                             ["--rom", "rom/rom.h5"],
                                             r"no reduced load for a centrifugal load about "
                                             r"the axis point \[-2.0, 0.0, 0.0\]"),
    "adaptive saving over its archive": (ADA, None, ["--rom", "rom/rom.h5", "--save",
                                                     "rom/rom.h5"],
                                         r"--save rom/rom.h5 is the archive the run starts "
                                         r"from", ["rom/rom.h5"]),
}

RESULT = {HF: ("hf", "snapshots.h5"), OFF: ("rom", "rom.h5"), ON: ("online", "online.h5"),
          ADA: ("online", "online.h5"), MESH: ("hf", "snapshots.h5")}


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("what", list(CATALOGUE))
def test_bad_input(what, n, folder):
    command, text, extra, pattern, *also = CATALOGUE[what]
    also = also[0] if also else []
    d = folder
    _files(d)
    tag = re.sub(r"\W+", "_", what) + f"_{n}"
    case = "good.toml"
    if text is not None:
        case = f"{tag}.toml"
        (d / case).write_text(text)
    src, name = RESULT[command]
    out = d / f"out_{tag}"
    shutil.copytree(d / src, out)
    result = out / name
    before = _digest(result)
    kept = {f: _digest(d / f) for f in also}
    if command == HF:
        args = ["hf", case, "--out", str(out)]
    elif command == OFF:
        args = ["offline", case, "--out", str(result)]
    elif command == MESH:
        args = ["mesh", "box", "--out", str(out / "box.msh")]
    else:
        args = [command, case, "--out", str(out)]
    if "--out" in extra:  # the entry's own output replaces the copy
        i = args.index("--out")
        args = args[:i] + args[i + 2:]
    args += extra
    t0 = time.perf_counter()
    proc = run_cli(args, n=n, timeout=120, cwd=str(d))
    took = time.perf_counter() - t0
    assert proc.returncode != 0, f"exit 0 on bad input ({what}):\n{proc.stdout}"
    assert re.search(pattern, proc.stderr), proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if re.search(pattern, ln)]
    assert len(lines) == 1, f"message not printed once:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    assert _digest(result) == before, f"{result} was modified by a failed run"
    for f, h in kept.items():
        assert _digest(d / f) == h, f"{f} was modified by a failed run"
    assert took < 60, took


def test_catalogue_has_at_least_30_kinds():
    assert len(CATALOGUE) >= 30


def test_error_on_one_rank_with_the_parallel_file_open_ends_the_job(folder):
    """An error raised on rank 1 only, while every rank has the parallel snapshot file
    open and rank 0 waits in a collective write: the job ends with the message within
    seconds (no collective call on the error path, run.py)."""
    d = folder
    out = d / "out_fault"
    env = {"ROM_INJECT_FAULT": "step1@1"}
    t0 = time.perf_counter()
    proc = run_cli(["hf", "good.toml", "--out", str(out)], n=2, timeout=60, cwd=str(d),
                   env=env)
    took = time.perf_counter() - t0
    assert proc.returncode != 0
    assert re.search(r"\[rank 1 of 2\] error: fault injected at step1 on rank 1",
                     proc.stderr), proc.stderr
    assert took < 30, took
    # the same error on every rank is printed once, by rank 0 (no rank prefix)
    proc = run_cli(["hf", "good.toml", "--out", str(out), "--overwrite"], n=2, timeout=60,
                   cwd=str(d), env={"ROM_INJECT_FAULT": "step1@*"})
    assert proc.returncode != 0 and proc.stderr.count("fault injected") == 1, proc.stderr
    assert "error: fault injected at step1 on rank 0" in proc.stderr, proc.stderr


@pytest.mark.parametrize("n", [1, 2])
def test_online_failing_after_its_first_written_step_keeps_the_previous_result(folder, n):
    d = folder
    out = d / f"out_online_fault_{n}"
    shutil.copytree(d / "online", out)
    before = _digest(out / "online.h5")
    proc = run_cli(["online", "good.toml", "--rom", "rom/rom.h5", "--out", str(out)], n=n,
                   timeout=60, cwd=str(d), env={"ROM_INJECT_FAULT": "online_write@0"})
    assert proc.returncode != 0 and "fault injected at online_write" in proc.stderr
    assert _digest(out / "online.h5") == before
    assert (out / "online.h5.part").exists()  # the partial run, left aside


def test_a_temperature_error_on_one_rank_is_made_collective(folder):
    """The NaN is at the corner node (1, 1, 1), which only the second rank holds (the
    rcb partition of the 2 x 2 x 2 box splits at x = 0.5): the check of the inputs
    makes the error collective, so it is printed by rank 0, without a rank prefix."""
    d = folder
    _files(d)
    (d / "nan_rcb.toml").write_text(_edit('file = "mesh.msh"', 'file = "mesh.msh"\n'
                                          'partitioner = "rcb"', _edit(
                                              'expression = "20 + 300 * x * y * t"',
                                              'file = "T_nan.npy"')))
    proc = run_cli(["hf", "nan_rcb.toml", "--out", str(d / "out_nan_rcb")], n=2, timeout=60,
                   cwd=str(d))
    assert proc.returncode != 0
    assert "error: temperature field" in proc.stderr and "[rank" not in proc.stderr, \
        proc.stderr
