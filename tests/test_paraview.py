"""The XDMF written by the solver opens and renders in ParaView (when pvbatch and
xvfb-run are installed: Debian packages paraview and xvfb; skipped otherwise)."""

import os
import shutil
import subprocess

import pytest

from helpers import solve, write_case
from rom.meshgen import box_mesh

HERE = os.path.dirname(os.path.abspath(__file__))
NEEDS_PARAVIEW = pytest.mark.skipif(not (shutil.which("pvbatch") and shutil.which("xvfb-run")),
                                    reason="ParaView (pvbatch) or xvfb-run not installed")


def _result(tmp_path, comm, cell_type, n, lengths):
    """The XDMF (absolute path) of an HF run of a small loaded, heated box."""
    data = box_mesh(n, lengths, cell_type)
    case = write_case(tmp_path, data, '[[dirichlet]]\nset = "xmin"\n[[pressure]]\n'
                      'set = "xmax"\nvalue = 50.0\n[temperature]\nexpression = "20 + 100 * y"\n')
    return os.path.abspath(solve(case, comm, tmp_path / "out")["files"][1])


@NEEDS_PARAVIEW
def test_paraview_opens_results(tmp_path, comm):
    xdmf = _result(tmp_path, comm, "hexahedron20", (2, 2, 2), (1, 1, 1))
    png = tmp_path / "view.png"
    for _ in range(3):  # a loaded machine's Xvfb may not answer its first client
        proc = subprocess.run(["xvfb-run", "-a", "pvbatch",
                               os.path.join(HERE, "data", "paraview_render.py"), xdmf,
                               str(png)], capture_output=True, text=True, timeout=300)
        if "bad X server connection" not in proc.stderr:
            break
    assert proc.returncode == 0, proc.stderr
    assert ("point arrays ['sigma_nodal', 'T', 'U', 'von_mises_nodal'] cell arrays ['eps', "
            "'sigma', 'von_mises']") in proc.stdout
    assert png.stat().st_size > 10000


@NEEDS_PARAVIEW
def test_render_command(tmp_path, comm):
    """run.py render: one picture per field (nodal von Mises, temperature), a state
    file naming the result, the side-by-side comparison with a second result in the
    same color range, a clear message for an unknown field or a missing result."""
    from conftest import run_cli

    xdmf = _result(tmp_path, comm, "tetra10", (3, 2, 2), (3.0, 1.0, 1.0))
    out = tmp_path / "pics"
    proc = run_cli(["render", xdmf, "--out", str(out)], timeout=600)
    assert proc.returncode == 0, proc.stderr
    for name in ("T", "von_mises_nodal"):
        assert (out / f"{name}.png").stat().st_size > 10000, name
    assert not (out / "p_nodal.png").exists()  # an elastic run has no p
    assert xdmf in (out / "view.pvsm").read_text()
    proc = run_cli(["render", xdmf, "--out", str(out), "--fields", "von_mises_nodal",
                    "--compare", xdmf, "--warp", "100"], timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (out / "von_mises_nodal_compare.png").stat().st_size > 20000
    # inside an MPI job (the pipeline's report): pvbatch must not join it
    proc = run_cli(["render", xdmf, "--out", str(tmp_path / "mpi"), "--fields", "T"], n=2,
                   timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mpi" / "T.png").stat().st_size > 10000
    proc = run_cli(["render", xdmf, "--out", str(out), "--fields", "nope"], timeout=600)
    assert proc.returncode != 0 and "has no array nope" in proc.stderr
    assert "von_mises_nodal" in proc.stderr  # the arrays it has are listed
    proc = run_cli(["render", str(tmp_path / "missing.xdmf")])
    assert proc.returncode != 0 and "result file not found" in proc.stderr
