"""Online hyper-reduced solver: on a training loading the ROM reproduces the HF run."""

import os

import numpy as np
import pytest

from rom.archive import read_archive
from rom.offline import build_rom
from rom.online import check_compatible, run_online
from rom.snapshots import read_snapshots


@pytest.mark.mpi
def test_rom_reproduces_a_training_loading(trained, comm):
    tmp, case, files = trained
    out = os.path.join(tmp, f"rom_online_np{comm.size}.h5")
    build_rom(case, files, comm, out, log=None)
    archive = read_archive(out)
    data = check_compatible(archive, case)
    res = run_online(archive, case, data)
    hf = read_snapshots(files[1], ("U",), ("p",))  # the case is the second loading
    model = res["model"]
    U = np.array([model.displacement(g) for g in res["gamma"]])
    assert np.linalg.norm(U - hf["U"]) <= 1e-3 * np.linalg.norm(hf["U"])
    P = np.array([model.gappy("p", p) for p in res["p_points"]])
    assert np.linalg.norm(P - hf["qp/p"]) <= 1e-2 * np.linalg.norm(hf["qp/p"])
    assert hf["qp/p"].max() > 1e-4  # the loading is inelastic
    # the online state never touches the mesh: m reduced points, N modes
    assert res["gamma"].shape == (len(case.times), archive["basis"]["U"].shape[1])
