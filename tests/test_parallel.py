"""Rank-count independence: the same problem on 1 and N ranks gives the same global
solution (run under ``mpirun -n 2`` by ``make test``; trivially true on 1 rank)."""

from dataclasses import replace

import numpy as np
import pytest
from mpi4py import MPI

from helpers import solve, write_case
from rom.meshgen import box_mesh

BODY = """
[sets.x0]
kind = "nodes"
where = "x == 0"
[sets.edge]
kind = "nodes"
where = "(x == 0) & (y == 0)"
[sets.corner]
kind = "nodes"
where = "(x == 0) & (y == 0) & (z == 0)"
[sets.x1]
kind = "faces"
where = "x == 1"
[[dirichlet]]
set = "x0"
components = ["x"]
[[dirichlet]]
set = "edge"
components = ["y"]
[[dirichlet]]
set = "corner"
components = ["z"]
[[pressure]]
set = "x1"
value = 100.0
[centrifugal]
omega = 3000.0
axis_point = [-5.0, 0.5, 0.0]
axis_direction = [0.0, 0.0, 1.0]
[temperature]
expression = "20 + 400 * exp(-((x - 0.6)**2 + (y - 0.4)**2 + z**2) / 0.2)"
[solver]
rtol = 1e-10
[solver.petsc]
ksp_rtol = 1e-13
"""


@pytest.mark.mpi
@pytest.mark.parametrize("name,partitioner", [("tetra10", "ptscotch"),
                                              ("hexahedron", "rcb")])
def test_same_solution_on_any_rank_count(name, partitioner, tmp_path, comm):
    data = box_mesh((5, 4, 3), (1, 1, 1), name, distort=0.2, seed=2)
    case = replace(write_case(tmp_path, data, BODY), partitioner=partitioner)
    par = solve(case, comm, tmp_path / "par")
    u_par = par["model"].dofmap.gather_nodal(par["u"])
    ser = solve(case, MPI.COMM_SELF, tmp_path / "ser", write=False)
    u_ser = ser["model"].dofmap.gather_nodal(ser["u"])
    assert np.abs(u_par - u_ser).max() <= 1e-8 * np.abs(u_ser).max()
    # every cell on exactly one rank, every node owned by exactly one rank
    mesh = par["mesh"]
    assert comm.allreduce(mesh.n_cells) == data.n_cells
    assert comm.allreduce(mesh.n_owned) == data.n_nodes
    owned = np.concatenate(comm.allgather(mesh.node_ids[: mesh.n_owned]))
    assert np.array_equal(np.sort(owned), np.arange(data.n_nodes))


@pytest.mark.mpi
@pytest.mark.parametrize("tail, missing", [((), False), ((3,), False), ((4, 6), False),
                                           ((3,), True)])
def test_gather_rows_puts_every_rank_rows_at_their_global_ids(comm, tail, missing):
    """rom.offline._gather_rows: rank 0 gets the global array, every row from the rank
    that holds it (ids interleaved across ranks, one rank possibly empty, a
    Fortran-ordered input), zeros in the rows nobody gives; the other ranks get None."""
    from rom.offline import _gather_rows

    n_global = 37
    rng = np.random.default_rng(5)
    full = rng.standard_normal((n_global,) + tail)
    owner = rng.integers(0, comm.size, n_global)
    if missing:
        owner[[0, 11, 36]] = -1  # given by no rank
        full[[0, 11, 36]] = 0.0
    if comm.size > 1:
        owner[owner == comm.size - 1] = 0  # the last rank holds nothing
    mine = np.flatnonzero(owner == comm.rank)[::-1]  # any order
    values = np.asfortranarray(full[mine]) if full.ndim == 2 else full[mine]
    out = _gather_rows(comm, mine, values, n_global)
    if comm.rank == 0:
        np.testing.assert_array_equal(out, full)
    else:
        assert out is None
