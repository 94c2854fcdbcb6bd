"""The pipeline command end to end on a small case; stages up to date are skipped.

The test loading (amplitude 400) lies between the training ones (300, 500), so the
ROM is expected to be close to the HF reference (the sanity bound is 10 %)."""

import re

import numpy as np

from conftest import run_cli
from helpers import CHABOCHE, ISOSTATIC_X0, write_case
from rom.meshgen import box_mesh

BODY = ISOSTATIC_X0 + """
[[pressure]]
set = "xmax"
value = -120.0
table = [[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]]
[loadings.a]
expression = "20 + 300 * x * y * (1 - abs(1 - t))"
[loadings.b]
expression = "20 + 500 * x * y * (1 - abs(1 - t))"
[loadings.t]
expression = "20 + 400 * x * y * (1 - abs(1 - t))"
[steps]
end = 2.0
count = 6
[rom]
eps_u = 1e-4
ecm_tol = 1e-4
gappy = ["p", "sigma", "eps_vp", "X"]
training = ["a", "b"]
test = "t"
adaptive = ["t"]
tol = 1e-2
[output]
dir = "out"
"""


def test_pipeline_runs_reports_and_skips_up_to_date_stages(tmp_path):
    write_case(tmp_path, box_mesh((2, 2, 2), (1, 1, 1), "hexahedron20"), BODY,
               material=CHABOCHE)
    args = ["pipeline", str(tmp_path / "case.toml"), "--out", str(tmp_path / "out")]
    first = run_cli(args, n=2, timeout=600, env={"ROM_PROGRESS": "1"})
    assert first.returncode == 0, first.stderr
    # progress bars on rank 0's standard error (rom.progress), for the HF runs whose
    # step lines the pipeline does not print, the offline stage, the ROM runs (their
    # time estimates are redrawn every 0.5 s: test_progress checks them)
    for bar in ("HF case (a):", "HF case (t):", "offline: snapshots read", "ECM:",
                "online ROM (t):", "adaptive ROM (t):"):
        assert bar in first.stderr, bar
    assert "errors vs HF" in first.stdout
    m = re.search(r"errors vs HF\s+U ([-+.e0-9]+), p ([-+.e0-9]+)", first.stdout)
    eu, ep = float(m.group(1)), float(m.group(2))
    assert np.isfinite([eu, ep]).all() and eu < 0.1 and ep < 0.1
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| U |" in report and (tmp_path / "out" / "errors.png").exists()
    assert (tmp_path / "out" / "probe.png").exists()
    _check_report_content(tmp_path, report)
    # the adaptive ROM on loading t: its section, plot and summary line; its HF
    # reference is the test loading's (up to date already)
    assert "## Adaptive ROM on loading t" in report and "Spearman" in report
    assert (tmp_path / "out" / "adaptive_t.png").exists()
    assert re.search(r"adaptive, t +\d+ HF step\(s\) of 6", first.stdout)
    assert first.stdout.count("up to date") == 1
    second = run_cli(args, n=2, timeout=600)
    assert second.returncode == 0, second.stderr
    # 2 training runs, offline, the online and adaptive runs, 2 references
    assert second.stdout.count("up to date") == 7, second.stdout
    _check_reruns(tmp_path, report, (tmp_path / "out" / "report.md").read_text(), args)
    # an archive the online command would refuse (here: written by an older version,
    # whose Dirichlet signature had no node hashes) is not up to date: it is rebuilt
    import h5py

    from rom.case import load_case
    from rom.pipeline import _archive_up_to_date

    case = load_case(str(tmp_path / "case.toml"))
    rom_path = tmp_path / "out" / "rom.h5"
    files = [str(tmp_path / "out" / f"train_{k}" / "snapshots.h5") for k in "ab"]
    assert _archive_up_to_date(str(rom_path), case, files)
    with h5py.File(rom_path, "r+") as f:
        f.attrs["dirichlet"] = re.sub(r":[0-9a-f]{16}", "", f.attrs["dirichlet"])
    assert not _archive_up_to_date(str(rom_path), case, files)
    bad = run_cli(["pipeline", str(tmp_path / "case.toml")] + ["--out", str(tmp_path / "o2")],
                  n=1)
    assert bad.returncode == 0  # a fresh folder works too (serially)


# --- stages up to date, the report's records (issue 15) ---------------------------------

def _recorded_timings(report):
    """The report's lines that show recorded timings: the recorded-cost table, the
    speedup line, the adaptive run's table and timing line."""
    recorded = report.split("Recorded cost")[1].split("Wall time of the stages")[0]
    keep = [line for line in report.splitlines()
            if line.startswith(("HF time per step", "| plain |", "| adaptive |", "| HF |",
                                "Adaptive run "))]
    return recorded, keep


def _check_reruns(tmp_path, first_report, second_report, args):
    """The second run reused every stage: its report says so and shows the first run's
    timings; a changed loading (or archive) is not up to date; a newer archive reruns
    the online and adaptive runs only."""
    import os
    from dataclasses import replace

    from rom.case import load_case
    from rom.pipeline import run_inputs, stored_run
    from rom.provenance import inputs_key

    assert _recorded_timings(second_report) == _recorded_timings(first_report)
    runs = second_report.split("## Runs")[1].split("\n## ")[0]
    for stage in ("HF training loading a", "offline build", "online ROM, test loading t",
                  "adaptive ROM, loading t", "HF reference, test loading t"):
        row = next(line for line in runs.splitlines() if stage in line)
        assert "reused (up to date)" in row and "| 2 |" in row, row  # made on 2 ranks
    assert "| run |" not in runs
    first_runs = first_report.split("## Runs")[1].split("\n## ")[0]
    assert first_runs.count("| run |") == 6, first_runs
    # the recorded dates are those of the first run
    assert [line.split("|")[3] for line in first_runs.splitlines() if "ROM," in line] == [
        line.split("|")[3] for line in runs.splitlines() if "ROM," in line]

    out = tmp_path / "out"
    case = load_case(str(tmp_path / "case.toml"))
    rom_path = str(out / "rom.h5")
    online = str(out / "online_t" / "online.h5")
    c = case.with_loading("t")
    key = inputs_key(run_inputs(c, rom_path, "online"))
    stored = stored_run(online, c, rom_path, key)
    assert stored is not None and stored["time_online"] > 0 and len(stored["times"]) == 6
    # another loading, another case text, another command: other keys
    assert inputs_key(run_inputs(case.with_loading("a"), rom_path, "online")) != key
    # the fields of loading a under the name t (same case text)
    changed = replace(c, temperature=case.with_loading("a").temperature)
    assert stored_run(online, changed, rom_path, inputs_key(
        run_inputs(changed, rom_path, "online"))) is None
    assert stored_run(online, c, rom_path, inputs_key(run_inputs(c, rom_path, "adaptive",
                                                                 tol=1e-2))) is None
    # the case text changed (a comment suffices: the text is the key), tol changed
    for other in (replace(c, text=c.text + "\n# edited\n"),
                  replace(c, rom=replace(c.rom, tol=2e-2))):
        k = inputs_key(run_inputs(other, rom_path, "adaptive", tol=other.rom.tol))
        assert k != inputs_key(run_inputs(c, rom_path, "adaptive", tol=c.rom.tol))
    # a newer archive (rebuilt, or touched): the online and adaptive runs are redone,
    # the HF runs and the archive (newer than its snapshots) are not
    st = os.stat(rom_path)
    os.utime(rom_path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert stored_run(online, c, rom_path, key) is None
    third = run_cli(args, n=2, timeout=600)
    assert third.returncode == 0, third.stderr
    assert third.stdout.count("up to date") == 5, third.stdout
    assert "online run on test loading t\n" in third.stdout + "\n"
    report = (out / "report.md").read_text()
    runs = report.split("## Runs")[1].split("\n## ")[0]
    assert runs.count("| run |") == 2 and runs.count("reused (up to date)") == 4, runs


def _check_report_content(tmp_path, report):
    """The report's records: date, ranks, machine, versions; the norms defined; the
    probe named by its coordinates; a ROM slower than HF said to be slower."""
    import json
    import socket

    import h5py

    from rom.case import load_case
    from rom.report import NORMS, write_report

    header = next(line for line in report.splitlines() if line.startswith("Report written"))
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", header)
    assert "2 MPI rank(s)" in header and socket.gethostname() in header
    for name in ("rom 0.1.0", "numpy", "scipy", "PETSc 3.", "petsc4py", "mpi4py",
                 "h5py", "HDF5", "logical CPUs"):
        assert name in header, (name, header)
    assert re.search(r"^\* E1: .*numpy .*PETSc 3\.", report, re.M)
    assert NORMS in report and "L2 over all steps" in NORMS and "max over steps" in NORMS
    # the probe by its coordinates, those of a node of the mesh and of a quadrature point
    m = re.search(r"Probe: \|U\| at the node \(([^)]*)\) mm.*quadrature point "
                  r"\(([^)]*)\) mm", report)
    assert m, report
    node, qp = (np.array([float(v) for v in g.split(",")]) for g in m.groups())
    with h5py.File(tmp_path / "out" / "hf_t" / "snapshots.h5", "r") as f:
        points, qps = f["mesh/points"][...], f["quadrature/points"][...]
    assert np.abs(points - node).max(axis=1).min() < 1e-3
    assert np.abs(qps - qp).max(axis=1).min() < 1e-3
    assert "at node 0" not in report and "quadrature point 0 " not in report
    # the run's stamp: when, where, what, and the online time
    with h5py.File(tmp_path / "out" / "online_t" / "online.h5", "r") as f:
        info, run = json.loads(f.attrs["run_info"]), json.loads(f.attrs["run_summary"])
    assert info["ranks"] == 2 and info["versions"]["rom"] == "0.1.0"
    assert f"{run['time_online']:.3f} |" in report
    # a ROM slower than HF (here: its recorded time made 1000 s) reads "slower"
    case = load_case(str(tmp_path / "case.toml"))
    out = tmp_path / "out"
    slow = {"res": {"times": list(case.times)}, "time_online": 1000.0, "member": None,
            "files": (str(out / "online_t" / "online.h5"), str(out / "online_t" /
                                                               "online.xdmf"))}
    (tmp_path / "slow").mkdir()
    s = write_report(case, str(tmp_path / "slow"), str(out / "rom.h5"), slow,
                     str(out / "hf_t" / "snapshots.h5"), {})
    text = (tmp_path / "slow" / "report.md").read_text()
    assert s["speedup_per_step"] < 1 and "slower per step" in text
    assert not re.search(r"\b0\.\d+x faster", text)


# --- the `rom` console script, installed with the package -------------------------------

def _run_rom(args, n=1, cwd=None, timeout=120):
    """Run the installed ``rom`` command (under ``mpirun -n n`` when n > 1), with the
    environment of :func:`conftest.run_cli`."""
    import os
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(sys.executable), "rom")
    assert os.path.isfile(script), (f"{script} missing: the package is installed without "
                                    "its console script; reinstall it (make setup)")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    for k in list(env):  # not the parent's MPI session (pytest under mpirun)
        if k.startswith(("OMPI_COMM_WORLD", "PMIX_", "OMPI_MCA_orte", "OMPI_MCA_ess")):
            env.pop(k)
    cmd = [script, *args] if n == 1 else ["mpirun", "-n", str(n), script, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=env)


def test_rom_console_script_runs_commands_serially_and_under_mpirun(tmp_path):
    import meshio

    help_ = _run_rom(["--help"])
    assert help_.returncode == 0, help_.stderr
    for command in ("hf", "offline", "online", "adaptive", "pipeline", "mesh"):
        assert command in help_.stdout
    for n in (1, 2):
        out = tmp_path / f"box{n}.msh"
        done = _run_rom(["mesh", "box", "--n", "2", "1", "1", "--type", "hexahedron",
                         "--out", str(out)], n=n)
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("wrote") == 1  # rank 0 only
        assert len(meshio.read(out).points) == 12
    # an error: its message once, exit code non-zero, on every rank count
    for n in (1, 2):
        bad = _run_rom(["hf", str(tmp_path / "missing.toml")], n=n)
        assert bad.returncode != 0 and bad.stderr.count("case file not found") == 1, (
            bad.stderr)
    # python -m rom is the same command
    import subprocess
    import sys

    mod = subprocess.run([sys.executable, "-m", "rom", "--help"], capture_output=True,
                         text=True, timeout=60)
    assert mod.returncode == 0 and "pipeline" in mod.stdout
