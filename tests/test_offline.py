"""Offline stage end to end: HF snapshots of two loadings -> ROM archive; the reduced
quadrature reproduces the projected internal forces; the archive round-trips."""

import os
from dataclasses import replace

import h5py
import numpy as np
import pytest

from conftest import run_cli
from helpers import with_ecm_tol
from rom import RomError
from rom.archive import read_archive
from rom.case import parse_case
from rom.meshgen import box_mesh
from rom.offline import build_rom
from rom.snapshots import read_snapshots


@pytest.mark.mpi
def test_reduced_quadrature_reproduces_projected_internal_forces(trained, comm):
    tmp, case, files = trained
    out = os.path.join(tmp, "rom.h5")
    s = build_rom(case, files, comm, out, log=None)
    rom = read_archive(out)
    assert s["n_modes"] == rom["basis"]["U"].shape[1] and s["n_modes"] >= 2
    pts, w, B = rom["reduced"]["points"], rom["reduced"]["weights"], rom["reduced"]["B"]
    assert np.all(w >= 0) and int(rom["reduced"]["n_ecm"]) == np.sum(w > 0)
    # independent check through the FE assembly: Psi^T F_int(sigma_s) for every snapshot
    from rom.hf import StructuralModel
    from rom.materials import make_law
    from rom.mesh import load_mesh

    mesh = load_mesh(case.mesh_file, comm, case.sets)
    model = StructuralModel(mesh, make_law(case.law, case.material_params()))
    nq = model.n_qp_cell
    qp_ids = (mesh.cell_ids[:, None] * nq + np.arange(nq)).ravel()
    psi = rom["basis"]["U"][(3 * mesh.node_ids[:, None] + np.arange(3)).ravel()]  # local dofs
    full, red = [], []
    for path in files:
        snap = read_snapshots(path, (), ("sigma",))
        for sig in snap["qp/sigma"]:
            f = model.internal_forces(sig[qp_ids])
            full.append(comm.allreduce(psi.T @ f))
            red.append(np.einsum("q,qki,qk->i", w, B, sig[pts]))
    full, red = np.array(full), np.array(red)
    err = np.linalg.norm(red - full) / np.linalg.norm(full)
    assert err <= 1.0001 * case.rom.ecm_tol, err
    # Gappy: the dual snapshots are reconstructed from the values at the Q-DEIM rows
    g = rom["gappy"]["p"]
    snap = read_snapshots(files[1], (), ("p",))
    P = snap["qp/p"].T  # (n_qp, n_s)
    c = np.linalg.lstsq(g["basis"][g["rows"]], P[g["rows"]], rcond=None)[0]
    assert np.linalg.norm(g["basis"] @ c - P) <= 1e-3 * np.linalg.norm(P)
    assert os.path.exists(os.path.join(tmp, "rom_spectrum.png"))


@pytest.mark.mpi
def test_archive_written_on_n_ranks_reads_identically(trained, comm):
    tmp, case, files = trained
    case = with_ecm_tol(case)  # same points: see helpers.RANK_TEST_ECM_TOL
    out = os.path.join(tmp, f"rom_np{comm.size}.h5")
    s = build_rom(case, files, comm, out, log=None)
    rom = read_archive(out)
    # the modes read back are the modes of the run (rank 0 checks its owned dofs; the
    # other ranks' rows went through the same gather)
    assert rom["basis"]["U"].shape == (3 * s["n_nodes"], s["n_modes"])
    assert np.array_equal(rom["basis"]["U"][s["owned_rows"]], s["modes_local"][
        : len(s["owned_rows"])])
    assert np.array_equal(rom["reduced"]["points"][: int(rom["reduced"]["n_ecm"])],
                          s["ecm"].points)
    # and equal the serial build of the same ROM to round-off
    if comm.size > 1:
        from mpi4py import MPI

        ser = os.path.join(tmp, f"rom_serial{comm.rank}.h5")
        build_rom(case, files, MPI.COMM_SELF, ser, log=None)
        a = read_archive(ser)
        sv = a["basis"]["singular_values"]
        np.testing.assert_allclose(rom["basis"]["singular_values"], sv, atol=1e-10 * sv[0])
        # modes are resolved to about 1e-16 (s_0 / s_k)^2: compare the well-resolved ones
        k = int(np.sum(sv[: s["n_modes"]] > 1e-3 * sv[0]))
        np.testing.assert_allclose(np.abs(rom["basis"]["U"][:, :k]), np.abs(a["basis"]["U"][
            :, :k]), atol=1e-8 * np.abs(a["basis"]["U"]).max())
        assert np.array_equal(rom["reduced"]["points"], a["reduced"]["points"])


def test_archive_errors(trained, tmp_path, comm):
    tmp, case, files = trained
    with pytest.raises(RomError, match="not found"):
        read_archive(str(tmp_path / "none.h5"))
    with pytest.raises(RomError, match="not a ROM archive"):
        read_archive(files[0])  # a snapshot file
    out = str(tmp_path / "rom.h5")
    build_rom(case, files[:1], comm, out, log=None)
    with h5py.File(out, "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(RomError, match="version 99"):
        read_archive(out)
    with pytest.raises(RomError, match="snapshot file not found"):
        build_rom(case, [str(tmp_path / "missing.h5")], comm, out, log=None)
    other = replace(case, mesh_file=str(tmp_path / "other.msh"))
    from rom.io.meshfile import write_mesh_file

    write_mesh_file(other.mesh_file, box_mesh((3, 2, 2), (2.0, 1.0, 1.0), "hexahedron20"))
    with pytest.raises(RomError, match="another mesh"):
        build_rom(other, files, comm, out, log=None)
    bad = parse_case(case.text.replace("[[dirichlet]]\nset = \"xmin\"\ncomponents = [\"x\"]",
                                       "[[dirichlet]]\nset = \"xmin\"\ncomponents = [\"x\"]"
                                       "\nvalue = 0.1"), case.path)
    with pytest.raises(RomError, match="not homogeneous"):
        build_rom(bad, files, comm, out, log=None)


def test_offline_cli(trained, tmp_path):
    tmp, case, files = trained
    proc = run_cli(["offline", case.path, "--snapshots", *files, "--out",
                    str(tmp_path / "cli.h5")], n=2)
    assert proc.returncode == 0, proc.stderr
    assert "ECM" in proc.stdout and (tmp_path / "cli_spectrum.png").exists()
    proc = run_cli(["offline", case.path, "--snapshots", str(tmp_path / "nope.h5"), "--out",
                    str(tmp_path / "x.h5")], n=2)
    assert proc.returncode != 0 and "snapshot file not found" in proc.stderr
