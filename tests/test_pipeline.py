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
    first = run_cli(args, n=2, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "errors vs HF" in first.stdout
    m = re.search(r"errors vs HF\s+U ([-+.e0-9]+), p ([-+.e0-9]+)", first.stdout)
    eu, ep = float(m.group(1)), float(m.group(2))
    assert np.isfinite([eu, ep]).all() and eu < 0.1 and ep < 0.1
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| U |" in report and (tmp_path / "out" / "errors.png").exists()
    assert (tmp_path / "out" / "probe.png").exists()
    # the adaptive ROM on loading t: its section, plot and summary line; its HF
    # reference is the test loading's (up to date already)
    assert "## Adaptive ROM on loading t" in report and "Spearman" in report
    assert (tmp_path / "out" / "adaptive_t.png").exists()
    assert re.search(r"adaptive, t +\d+ HF step\(s\) of 6", first.stdout)
    assert first.stdout.count("up to date") == 1
    second = run_cli(args, n=2, timeout=600)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("up to date") == 5  # 2 training runs, offline, 2 references
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
