"""The ROM archive holds reduced vectors of *unit* load terms: an online run takes the
magnitudes and time tables of the case it is given (a changed pressure is honoured,
not silently replaced by the training one), and refuses load or Dirichlet supports
the archive has no reduced operator for."""

import os

import numpy as np
import pytest

from helpers import solve
from rom import RomError
from rom.case import parse_case
from rom.offline import build_rom
from rom.online import open_for_case, run_online
from rom.snapshots import read_snapshots


def _case_like(case, old, new, name=None):
    """``case`` with ``old`` replaced by ``new`` in its text, parsed from the same folder
    (same mesh file)."""
    assert old in case.text
    text = case.text.replace(old, new)
    return parse_case(text, case.path if name is None else
                      os.path.join(os.path.dirname(case.path), name))


PRESSURES = (-150.0, -300.0)  # training pressures on xmax (tabled); tested at -225


@pytest.fixture(scope="module")
def pressure_rom(trained, tmp_path_factory):
    """A ROM trained on the fixture's first temperature loading at two pressures:
    ``(folder, case of the first pressure, archive path)``."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    tmp, case, files = trained
    base = _case_like(case, "x * y * (1 - abs", "0.5 * x * y * (1 - abs")
    files = []
    for p in PRESSURES:
        c = _case_like(base, "value = -150.0", f"value = {p}")
        res = solve(c, comm, os.path.join(tmp, f"press{-p:g}_np{comm.size}"), overwrite=True)
        files.append(comm.bcast(res["files"][0] if res["files"] else None, root=0))
    out = os.path.join(tmp, f"rom_press_np{comm.size}.h5")
    build_rom(base, files, comm, out, log=None)
    return tmp, base, out


@pytest.fixture(scope="module")
def archive_path(pressure_rom):
    return pressure_rom[2]


def _errors(res, hf):
    model = res["model"]
    U = np.array([model.displacement(g) for g in res["gamma"]])
    P = np.array([model.gappy("p", p) for p in res["p_points"]])
    S = np.array([model.gappy("sigma", s) for s in res["sigma_points"]])
    return {"U": np.linalg.norm(U - hf["U"]) / np.linalg.norm(hf["U"]),
            "p": np.linalg.norm(P - hf["qp/p"]) / np.linalg.norm(hf["qp/p"]),
            "sigma": np.linalg.norm(S - hf["qp/sigma"]) / np.linalg.norm(hf["qp/sigma"])}


def _rom_and_stale_errors(pressure_rom, other, tag, comm):
    """Errors against the HF run of the case ``other``: of the ROM run on ``other``, and
    of the ROM run on the training case (which must be far off: the test sees which
    loads the ROM used)."""
    tmp, case, archive_path = pressure_rom
    res_hf = solve(other, comm, os.path.join(tmp, f"hf_{tag}_np{comm.size}"), overwrite=True)
    hf = read_snapshots(res_hf["files"][0], ("U",), ("p", "sigma")) if comm.rank == 0 else None
    hf = comm.bcast(hf, root=0)
    assert hf["qp/p"].max() > 1e-4  # inelastic
    errors = []
    for c in (other, case):
        archive, data = open_for_case(archive_path, c)
        errors.append(_errors(run_online(archive, c), hf))
    print(f"errors ({tag}; training case):", *errors)
    return errors


@pytest.mark.mpi
def test_online_at_1p5_times_the_training_pressure_matches_hf(pressure_rom, comm):
    case = pressure_rom[1]
    err, stale = _rom_and_stale_errors(
        pressure_rom, _case_like(case, "value = -150.0", "value = -225.0"), "p225", comm)
    # measured: U 8.2e-4, p 8.0e-3, sigma 1.7e-2 (at the training pressure: 0.47,
    # 0.83, 0.27)
    assert err["U"] <= 2e-3 and err["p"] <= 2e-2 and err["sigma"] <= 3e-2, err
    assert stale["U"] > 10 * err["U"], (stale, err)


@pytest.mark.mpi
def test_online_with_another_load_table_matches_hf(pressure_rom, comm):
    """The time table is the case's too: -225 MPa held from t = 1 to 1.5, then released
    within 0.5 s (training: -150 or -300 MPa, ramped up to t = 1 and down to t = 2).
    A steeper table, reaching -270 MPa by t = 1 after -150 at t = 0.5, is outside what
    this ROM represents (U error 0.9 from t = 1 on, against HF): the history, not only
    the magnitude, must stay near the training ones."""
    case = pressure_rom[1]
    old = "table = [[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]]"
    other = _case_like(_case_like(case, old, "table = [[0.0, 0.0], [1.0, 1.0], [1.5, 1.0], "
                                  "[2.0, 0.0]]"), "value = -150.0", "value = -225.0")
    err, stale = _rom_and_stale_errors(pressure_rom, other, "table", comm)
    # measured: U 2.5e-3, p 1.4e-2, sigma 2.6e-2
    assert err["U"] <= 5e-3 and err["p"] <= 5e-2 and err["sigma"] <= 5e-2, err
    assert stale["U"] > 10 * err["U"], (stale, err)


def test_online_refuses_unknown_load_and_dirichlet_supports(pressure_rom):
    tmp, case, archive_path = pressure_rom
    zmax = _case_like(case, 'set = "ymax"', 'set = "zmax"')
    with pytest.raises(RomError, match="no reduced load for a pressure on set 'zmax'"):
        open_for_case(archive_path, zmax)
    spin = _case_like(case, "D = 1e3\n", "D = 1e3\nrho = 8e-9\n")
    spin = _case_like(spin, "[steps]", "[centrifugal]\nomega = 100.0\n[steps]")
    with pytest.raises(RomError, match="no reduced load for a centrifugal load"):
        open_for_case(archive_path, spin)
    free = _case_like(case, 'set = "z0"\ncomponents = ["z"]', 'set = "z0"\ncomponents = ["x"]')
    with pytest.raises(RomError, match="Dirichlet supports"):
        open_for_case(archive_path, free)
    # magnitudes and tables may change freely
    table = _case_like(case, "table = [[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]]",
                       "table = [[0.0, 0.0], [2.0, 1.0]]")
    open_for_case(archive_path, table)
