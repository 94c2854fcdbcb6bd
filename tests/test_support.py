"""Elastic supports ([[support]]: a foundation on a face set, normal and tangential
stiffness per area): a block on a foundation under a pressure against the closed form,
upright and turned (inclined faces: the normal projection), the blade-root kind of use
(normal-only supports as rollers), and a ROM with a support reproducing its training
run; a ROM refuses a case whose supports differ from its training's."""

import os

import numpy as np
import pytest

from helpers import rom_replays_training, solve, write_case
from rom import RomError
from rom.case import parse_case
from rom.meshgen import box_mesh

E, NU, P, KN, L = 200000.0, 0.3, 50.0, 1000.0, 2.0

ROTATION = None


def _rotation(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _block(tmp_path, comm, angle, name):
    """A block [0,1]x[0,1]x[0,L] turned by ``angle`` about x: foundation under its base
    (normal stiffness KN), stiff normal-only supports on x = 0 and y = 0 (rollers), a
    pressure P on its top. Uniaxial: sigma_zz = -P, u_z = -P/KN - P z/E,
    u_x = NU P x/E, u_y = NU P y/E in the block's own frame."""
    R = _rotation(angle)
    data = box_mesh((2, 2, 3), (1.0, 1.0, L), "tetra10", mapping=lambda p: p @ R.T)
    folder = comm.bcast(str(tmp_path / name) if comm.rank == 0 else None)
    case = write_case(folder, data, f"""
[[support]]
set = "zmin"
normal = {KN}
[[support]]
set = "xmin"
normal = 1e8
[[support]]
set = "ymin"
normal = 1e8
[[pressure]]
set = "zmax"
value = {P}
[steps]
times = [1.0]
[solver]
linear_solver = "mumps"
rtol = 1e-10
[rom]
gappy = ["sigma"]
""", comm=comm, material=f"""
[material]
law = "elastic"
E = {E}
nu = {NU}
""")
    return data, case, R


@pytest.mark.mpi
@pytest.mark.parametrize("angle", [0.0, 0.6])
def test_block_on_a_foundation(angle, tmp_path, comm):
    data, case, R = _block(tmp_path, comm, angle, f"a{angle}")
    res = solve(case, comm, os.path.join(case.path[:-5] + "_out"))
    u = res["model"].dofmap.gather_nodal(res["u"])
    X = data.points @ R  # coordinates in the block's frame
    exact = np.stack([NU * P * X[:, 0] / E, NU * P * X[:, 1] / E,
                      -P / KN - P * X[:, 2] / E], axis=1) @ R.T
    np.testing.assert_allclose(u, exact, atol=1e-7 * P / KN)


@pytest.mark.mpi
def test_rom_with_a_support(tmp_path, comm):
    """Offline and online with supports: the ROM of the (elastic, tabled) block
    reproduces its training run; a ROM built without the case's support, or a case
    without the ROM's, is refused."""
    from rom.online import open_for_case, run_online

    data, case, R = _block(tmp_path, comm, 0.3, "rom")
    text = case.text.replace("times = [1.0]", "end = 2.0\ncount = 4").replace(
        f"value = {P}", f"value = {P}\ntable = [[0.0, 0.0], [1.0, 1.0], [2.0, 0.3]]")
    case = parse_case(text, case.path)
    path = comm.bcast(case.path[:-5] + "_rom.h5" if comm.rank == 0 else None)
    out = rom_replays_training(case, comm, case.path[:-5] + "_hf", path)
    # another stiffness is taken from the case (the archive holds unit matrices)
    stiffer = parse_case(text.replace(f"normal = {KN}", f"normal = {2 * KN}"), case.path)
    out2 = run_online(open_for_case(path, stiffer)[0], stiffer)
    assert not np.allclose(out2["gamma"], out["gamma"])
    no_support = parse_case(text.replace('set = "zmin"\nnormal', 'set = "zmax"\nnormal'),
                            case.path)
    with pytest.raises(RomError, match="support"):
        open_for_case(path, no_support)


def test_bad_support_input(tmp_path):
    data = box_mesh((1, 1, 1), (1.0, 1.0, 1.0), "tetra")
    with pytest.raises(RomError, match="not both 0"):
        write_case(str(tmp_path), data, "[[support]]\nset = 'zmin'\nnormal = 0.0\n")
    with pytest.raises(RomError, match="two supports"):
        write_case(str(tmp_path), data, "[[support]]\nset = 'zmin'\nnormal = 1.0\n"
                   "[[support]]\nset = 'zmin'\nnormal = 2.0\n", name="b")
