"""Patch test: a linear displacement field imposed on the boundary of a distorted mesh
is reproduced exactly inside (tet4, tet10, hex8, hex20)."""

import numpy as np
import pytest

from helpers import solve, write_case
from rom.meshgen import box_mesh

A = np.array([[1.0e-3, 2.0e-4, -3.0e-4], [5.0e-4, -1.0e-3, 1.0e-4], [2.0e-4, 3.0e-4, 4.0e-4]])
b = np.array([1e-3, -2e-3, 5e-4])


def _expr(k):
    return (f"{A[k, 0]!r} * x + {A[k, 1]!r} * y + {A[k, 2]!r} * z + {b[k]!r}")


@pytest.mark.mpi
@pytest.mark.parametrize("name", ["tetra", "tetra10", "hexahedron", "hexahedron20"])
def test_patch(name, tmp_path, comm):
    data = box_mesh((3, 3, 3), (1.0, 1.0, 1.0), name, distort=0.3, seed=7)
    body = """
[sets.boundary]
kind = "faces"
where = "(x == 0) | (x == 1) | (y == 0) | (y == 1) | (z == 0) | (z == 1)"
"""
    for k, c in enumerate("xyz"):
        body += f'[[dirichlet]]\nset = "boundary"\ncomponents = ["{c}"]\n' \
                f'expression = "{_expr(k)}"\n'
    body += '[solver]\nlinear_solver = "mumps"\nrtol = 1e-12\n'
    case = write_case(tmp_path, data, body)
    res = solve(case, comm, tmp_path / "out")
    u = res["model"].dofmap.gather_nodal(res["u"])
    exact = data.points @ A.T + b
    assert np.abs(u - exact).max() <= 1e-10 * np.abs(exact).max()
    # constant strain and stress everywhere
    eps = res["model"].strain(res["u"])
    eps_exact = np.array([A[0, 0], A[1, 1], A[2, 2], (A[1, 2] + A[2, 1]) / np.sqrt(2),
                          (A[0, 2] + A[2, 0]) / np.sqrt(2), (A[0, 1] + A[1, 0]) / np.sqrt(2)])
    assert np.abs(eps - eps_exact).max() <= 1e-9 * np.abs(eps_exact).max()
