"""Progress bars with a remaining-time estimate (rom.progress, tqdm) on rank 0: on in a
terminal or under mpirun, off with ROM_PROGRESS=0, and log lines printed between them
intact."""

import re

import pytest

from rom.progress import Progress, enabled


def test_switches(monkeypatch):
    from mpi4py import MPI

    monkeypatch.setenv("ROM_PROGRESS", "1")
    assert enabled(MPI.COMM_WORLD) == (MPI.COMM_WORLD.rank == 0)
    monkeypatch.setenv("ROM_PROGRESS", "0")
    assert not enabled()
    assert Progress(None, 10, "off").bar is None
    monkeypatch.delenv("ROM_PROGRESS")
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")  # under mpirun: on, on rank 0 only

    class Rank1:
        rank = 1

    assert enabled() and not enabled(Rank1())


def test_bar_counts_and_estimates_the_remaining_time(monkeypatch, capsys):
    """The bar shows done/total, the elapsed and the remaining time (tqdm's estimate
    from the rate so far); a log line printed while it runs stays whole on its line."""
    import time

    monkeypatch.setenv("ROM_PROGRESS", "1")
    lines = []
    with Progress(None, 4.0, "work", unit="s simulated", log=lines.append) as p:
        for _ in range(4):
            time.sleep(0.3)
            p.advance(1.0)
            p.log("a log line")
    err = capsys.readouterr().err
    assert lines == ["a log line"] * 4
    assert "work:" in err and "s simulated" in err
    # "[elapsed<remaining]": after the first update the estimate is a time, not "?"
    assert re.search(r"\d+/4 s simulated \[00:0\d<00:0\d\]", err), err
    assert p.bar is None  # closed


def test_hf_run_shows_its_progress(tmp_path, monkeypatch, capsys):
    """An HF run draws a bar in simulated time; the step lines print between its
    redraws; with ROM_PROGRESS=0 nothing is drawn."""
    from mpi4py import MPI

    from helpers import CHABOCHE, TRAINING_BODY, solve, write_case
    from rom.meshgen import box_mesh

    if MPI.COMM_WORLD.size > 1:
        pytest.skip("serial")
    case = write_case(tmp_path, box_mesh((2, 1, 1), (2.0, 1.0, 1.0), "hexahedron20"),
                      TRAINING_BODY.replace("HOT", "300.0"), material=CHABOCHE)
    monkeypatch.setenv("ROM_PROGRESS", "1")
    solve(case, MPI.COMM_WORLD, tmp_path / "out", log=print)
    out, err = capsys.readouterr()
    assert f"HF {case.name}:" in err and "/2 s simulated" in err
    assert re.search(r"^step 8/8 ", out, re.M)  # the log lines, whole
    monkeypatch.setenv("ROM_PROGRESS", "0")
    solve(case, MPI.COMM_WORLD, tmp_path / "out2", log=print)
    assert "simulated" not in capsys.readouterr().err
