"""Thermoelasticity against closed forms: free expansion, constrained bar with E(T)."""

import numpy as np
import pytest

from helpers import solve, write_case
from rom.meshgen import box_mesh

ISOSTATIC = """
[sets.origin]
kind = "nodes"
where = "(x == 0) & (y == 0) & (z == 0)"
[sets.xnode]
kind = "nodes"
where = "(x == 1) & (y == 0) & (z == 0)"
[sets.ynode]
kind = "nodes"
where = "(x == 0) & (y == 1) & (z == 0)"
[[dirichlet]]
set = "origin"
[[dirichlet]]
set = "xnode"
components = ["y", "z"]
[[dirichlet]]
set = "ynode"
components = ["z"]
"""


@pytest.mark.mpi
@pytest.mark.parametrize("name", ["tetra", "hexahedron20"])
def test_free_thermal_expansion_is_stress_free(name, tmp_path, comm):
    data = box_mesh((3, 3, 3), (1, 1, 1), name, distort=0.2)
    case = write_case(tmp_path, data, ISOSTATIC + "[temperature]\nvalue = 520.0\n"
                      "[solver]\nlinear_solver = 'mumps'\nrtol = 1e-12\n")
    res = solve(case, comm, tmp_path / "out")
    u = res["model"].dofmap.gather_nodal(res["u"])
    dT, alpha, E = 500.0, 1e-5, 2e5
    np.testing.assert_allclose(u, alpha * dT * data.points, atol=1e-10 * alpha * dT)
    assert np.abs(res["sigma"]).max() < 1e-7 * E * alpha * dT


BAR = """
[sets.left]
kind = "nodes"
where = "x == 0"
[sets.right]
kind = "nodes"
where = "x == 4"
[sets.bottom]
kind = "nodes"
where = "z == 0"
[sets.front]
kind = "nodes"
where = "y == 0"
[[dirichlet]]
set = "left"
components = ["x"]
[[dirichlet]]
set = "right"
components = ["x"]
[[dirichlet]]
set = "front"
components = ["y"]
[[dirichlet]]
set = "bottom"
components = ["z"]
[temperature]
value = 500.0
[solver]
linear_solver = "mumps"
rtol = 1e-12
"""

MATERIAL_T = """
[material]
law = "elastic"
E = [[20.0, 200000.0], [1000.0, 100000.0]]
nu = [[20.0, 0.3], [1000.0, 0.35]]
alpha = [[20.0, 1.0e-5], [1000.0, 2.0e-5]]
T_ref = 20.0
"""


@pytest.mark.mpi
def test_constrained_bar_with_temperature_dependent_moduli(tmp_path, comm):
    data = box_mesh((8, 2, 2), (4, 1, 1), "hexahedron")
    case = write_case(tmp_path, data, BAR, material=MATERIAL_T)
    res = solve(case, comm, tmp_path / "out")
    E = 200000.0 - 100000.0 * 480.0 / 980.0
    alpha = 1.0e-5 + 1.0e-5 * 480.0 / 980.0
    sxx = -E * alpha * 480.0
    s = res["sigma"]
    np.testing.assert_allclose(s[:, 0], sxx, rtol=1e-9)
    assert np.abs(s[:, 1:]).max() < 1e-8 * abs(sxx)
