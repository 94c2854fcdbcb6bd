"""Convergence against closed forms.

* Thick-walled cylinder under internal pressure, plane strain (Lame): the L2 error
  of u decreases at rate 2 for linear and 3 for quadratic elements.
* Thin rotating annular disk (plane stress): the radial displacement matches the
  closed form within the discretization error.
"""

import numpy as np
import pytest

from helpers import l2_error, solve, write_case
from rom.meshgen import cylinder_sector_mesh

E, NU, P, A, B = 200000.0, 0.3, 100.0, 1.0, 2.0

LAME = """
[[dirichlet]]
set = "ymin"
components = ["y"]
[[dirichlet]]
set = "ymax"
components = ["x"]
[[dirichlet]]
set = "zmin"
components = ["z"]
[[dirichlet]]
set = "zmax"
components = ["z"]
[[pressure]]
set = "xmin"
value = 100.0
[solver]
linear_solver = "mumps"
rtol = 1e-12
"""


def lame_exact(x):
    r = np.hypot(x[..., 0], x[..., 1])
    ur = (1 + NU) * A ** 2 * P / (E * (B ** 2 - A ** 2)) * ((1 - 2 * NU) * r + B ** 2 / r)
    return np.stack([ur * x[..., 0] / r, ur * x[..., 1] / r, 0 * r], axis=-1)


@pytest.mark.parametrize("name,sizes,rate", [
    ("hexahedron", (4, 8, 16), 2.0),
    ("tetra", (4, 8, 16), 2.0),
    ("hexahedron20", (2, 4, 8), 3.0),
    ("tetra10", (2, 4, 8), 3.0),
    # hexahedra, wedges, pyramids and tetrahedra in one mesh (rom.meshgen.mixed_box_mesh)
    ("mixed", (4, 8, 16), 2.0),
    ("mixed2", (4, 8), 3.0),
])
def test_lame_cylinder_convergence_rate(name, sizes, rate, tmp_path, comm):
    errors = []
    for n in sizes:
        data = cylinder_sector_mesh(A, B, 0.25, n=(n, n, 1), cell_type=name)
        case = write_case(tmp_path / f"n{n}", data, LAME)
        res = solve(case, comm, tmp_path / f"out{n}")
        err, ref = l2_error(res, lame_exact)
        errors.append(err / ref)
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(rates > rate - 0.25), (errors, rates)


DISK = """
[[dirichlet]]
set = "ymin"
components = ["y"]
[[dirichlet]]
set = "ymax"
components = ["x"]
[[dirichlet]]
set = "zmin"
components = ["z"]
[centrifugal]
omega = 2000.0
axis_point = [0.0, 0.0, 0.0]
axis_direction = [0.0, 0.0, 1.0]
[solver]
linear_solver = "mumps"
rtol = 1e-12
"""


def disk_ur(r, a, b, rho, omega):
    """Plane-stress annular disk, free edges: u_r = r/E (s_t - nu s_r)."""
    k = (3 + NU) / 8 * rho * omega ** 2
    s_r = k * (a ** 2 + b ** 2 - a ** 2 * b ** 2 / r ** 2 - r ** 2)
    s_t = k * (a ** 2 + b ** 2 + a ** 2 * b ** 2 / r ** 2 - (1 + 3 * NU) / (3 + NU) * r ** 2)
    return r / E * (s_t - NU * s_r)


@pytest.mark.mpi
def test_rotating_disk_matches_plane_stress(tmp_path, comm):
    a, b, h, rho, omega = 20.0, 100.0, 2.0, 8e-9, 2000.0
    errors = []
    for n in (2, 4, 8):
        # half thickness z in [0, h/2] with symmetry on z = 0
        data = cylinder_sector_mesh(a, b, h / 2, n=(n, 2 * n, 1), cell_type="hexahedron20")
        case = write_case(tmp_path / f"n{n}", data, DISK)
        res = solve(case, comm, tmp_path / f"out{n}")
        u = res["model"].dofmap.gather_nodal(res["u"])
        r = np.hypot(data.points[:, 0], data.points[:, 1])
        ur = (u[:, 0] * data.points[:, 0] + u[:, 1] * data.points[:, 1]) / r
        exact = disk_ur(r, a, b, rho, omega)
        errors.append(np.abs(ur - exact).max() / np.abs(exact).max())
    # discretization error converges (quadratic elements, curved edges), down to the
    # plane-stress modelling error of the 3D thin disk, O(nu (h/b)^2) ~ 1e-4
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 1e-3 and np.all(rates > 2.0), (errors, rates)
