"""Shared fixtures. Tests marked ``mpi`` also run under ``mpirun -n 2``; any failure
there aborts every rank (a failed assertion on one rank must not leave the other
waiting in a collective)."""

import os
import subprocess
import sys

import pytest
from mpi4py import MPI

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# no progress bars in the tests' output (rom.progress; test_progress turns them on)
os.environ.setdefault("ROM_PROGRESS", "0")
PYTHON = sys.executable


@pytest.fixture
def comm():
    return MPI.COMM_WORLD


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """HF snapshots of two loadings of a small Chaboche case (helpers.train_two_loadings)."""
    from helpers import train_two_loadings

    return train_two_loadings(tmp_path_factory)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and MPI.COMM_WORLD.size > 1:
        sys.stderr.write(f"\n[rank {MPI.COMM_WORLD.rank}] {item.nodeid} failed:\n"
                         f"{rep.longreprtext}\n")
        sys.stderr.flush()
        MPI.COMM_WORLD.Abort(1)


def run_cli(args, n=1, timeout=120, cwd=None, env=None):
    """Run ``run.py`` (under ``mpirun -n n`` when n > 1) with the extra environment
    variables ``env``; returns CompletedProcess."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", **(env or {}))
    # a child mpirun must not inherit the parent's MPI session (when pytest runs under mpirun)
    for k in list(env):
        if k.startswith(("OMPI_COMM_WORLD", "PMIX_", "OMPI_MCA_orte", "OMPI_MCA_ess")):
            env.pop(k)
    cmd = [PYTHON, os.path.join(ROOT, "run.py"), *args]
    if n > 1:
        cmd = ["mpirun", "-n", str(n), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=env)
