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


def test_online_command_writes_results_and_reports_bad_input(trained, tmp_path):
    from conftest import run_cli

    tmp, case, files = trained
    rom_path = str(tmp_path / "rom.h5")
    proc = run_cli(["offline", case.path, "--snapshots", *files, "--out", rom_path], n=2)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(["online", case.path, "--rom", rom_path, "--out", str(tmp_path / "on")],
                   n=2)
    assert proc.returncode == 0, proc.stderr
    assert "per step" in proc.stdout
    on = read_snapshots(str(tmp_path / "on" / "online.h5"), ("U", "T"), ("p",))
    hf = read_snapshots(files[1], ("U", "T"), ("p",))
    np.testing.assert_allclose(on["time"], hf["time"])
    np.testing.assert_allclose(on["T"], hf["T"], atol=1e-10)
    assert np.linalg.norm(on["U"] - hf["U"]) <= 1e-3 * np.linalg.norm(hf["U"])
    assert np.linalg.norm(on["qp/p"] - hf["qp/p"]) <= 1e-2 * np.linalg.norm(hf["qp/p"])
    assert (tmp_path / "on" / "online.xdmf").exists()
    # bad input: clear messages and a non-zero exit
    other = tmp_path / "other.toml"
    other.write_text(case.text.replace('name = "case"', 'name = "other"').replace(
        'file = "mesh.msh"', f'file = "{os.path.join(os.path.dirname(case.path), "mesh.msh")}"'))
    from rom.io.meshfile import write_mesh_file
    from rom.meshgen import box_mesh

    write_mesh_file(str(tmp_path / "coarse.msh"), box_mesh((2, 2, 2), (2, 1, 1), "hexahedron20"))
    moved = tmp_path / "moved.toml"
    moved.write_text(case.text.replace('file = "mesh.msh"', f'file = "{tmp_path}/coarse.msh"'))
    checks = [
        (["online", str(other), "--rom", rom_path, "--out", str(tmp_path / "x")],
         "built for case 'case'"),
        (["online", str(moved), "--rom", rom_path, "--out", str(tmp_path / "x")],
         "built on another mesh"),
        (["online", case.path, "--rom", rom_path, "--loading", "nope", "--out",
          str(tmp_path / "x")], "unknown loading 'nope'"),
        (["online", case.path, "--rom", str(tmp_path / "none.h5"), "--out",
          str(tmp_path / "x")], "ROM archive not found"),
        (["online", case.path, "--rom", files[0], "--out", str(tmp_path / "x")],
         "not a ROM archive"),
    ]
    for args, pattern in checks:
        proc = run_cli(args, n=2)
        assert proc.returncode != 0 and pattern in proc.stderr, (args, proc.stderr)


@pytest.mark.mpi
def test_offline_on_n_ranks_online_on_one_equals_all_serial(trained, comm):
    """Offline on all ranks of the job, online serially: the same ROM results as an
    all-serial offline + online (on 1 rank both builds are serial: trivially equal)."""
    from mpi4py import MPI

    tmp, case, files = trained
    par = os.path.join(tmp, f"rom_rank_par{comm.size}.h5")
    build_rom(case, files, comm, par, log=None)
    ser = os.path.join(tmp, f"rom_rank_ser{comm.rank}_{comm.size}.h5")
    build_rom(case, files, MPI.COMM_SELF, ser, log=None)
    results = []
    for path in (par, ser):
        archive = read_archive(path)
        res = run_online(archive, case, check_compatible(archive, case))
        model = res["model"]
        results.append((np.array([model.displacement(g) for g in res["gamma"]]),
                        np.array([model.gappy("p", p) for p in res["p_points"]])))
    (u1, p1), (u2, p2) = results
    assert np.linalg.norm(u1 - u2) <= 1e-8 * np.linalg.norm(u2)
    assert np.linalg.norm(p1 - p2) <= 1e-8 * np.linalg.norm(p2)
