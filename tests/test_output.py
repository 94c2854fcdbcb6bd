"""Results files: the XDMF written by the solver reads back with meshio."""

import os

import h5py
import meshio
import numpy as np
import pytest

from helpers import solve, write_case
from rom.meshgen import box_mesh

BODY = """
[sets.x0]
kind = "nodes"
where = "x == 0"
[[dirichlet]]
set = "x0"
[[pressure]]
set = "xmax"
value = 10.0
table = [[0.0, 0.0], [2.0, 1.0]]
[steps]
end = 2.0
count = 4
"""


@pytest.mark.mpi
def test_xdmf_time_series_reads_back_with_meshio(tmp_path, comm):
    data = box_mesh((3, 2, 2), (2, 1, 1), "tetra10")
    case = write_case(tmp_path, data, BODY)
    out = tmp_path / "out"
    res = solve(case, comm, out)
    u = res["model"].dofmap.gather_nodal(res["u"])
    if comm.rank != 0:
        return
    h5, xdmf = res["files"]
    assert os.path.dirname(xdmf) == str(out)
    with meshio.xdmf.TimeSeriesReader(xdmf) as reader:
        points, cells = reader.read_points_cells()
        np.testing.assert_allclose(points, data.points)
        assert cells[0].type == "tetra10" and np.array_equal(cells[0].data, data.cells)
        times = []
        for k in range(reader.num_steps):
            t, point_data, cell_data = reader.read_data(k)
            times.append(t)
            assert set(point_data) == {"U", "T", "sigma_nodal", "von_mises_nodal"}
            assert point_data["sigma_nodal"].shape == (data.n_nodes, 6)
            assert set(cell_data) == {"eps", "sigma", "von_mises"}
            assert cell_data["sigma"][0].shape == (data.n_cells, 6)
        np.testing.assert_allclose(times, [0.5, 1.0, 1.5, 2.0])
        np.testing.assert_allclose(point_data["U"], u)
    with h5py.File(h5, "r") as f:
        assert f.attrs["completed_steps"] == 4
        assert "xmax" in f.attrs["case_text"]
    # the pressure ramps linearly: the displacement at step k is k/4 of the last one
    with meshio.xdmf.TimeSeriesReader(xdmf) as reader:
        reader.read_points_cells()
        u1 = reader.read_data(0)[1]["U"]
    np.testing.assert_allclose(u1, u / 4, atol=1e-8 * np.abs(u).max())
