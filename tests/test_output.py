"""Results files: the XDMF written by the solver reads back with meshio and with
:func:`rom.io.series.read_xdmf_series`, one grid per time step and nothing else."""

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
            assert set(point_data) == {"U", "T", "sigma_nodal", "von_mises_nodal",
                                       "principal_stress_nodal", "max_principal_nodal"}
            assert point_data["sigma_nodal"].shape == (data.n_nodes, 6)
            assert point_data["principal_stress_nodal"].shape == (data.n_nodes, 3)
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
    _check_one_grid_per_step(xdmf, [0.5, 1.0, 1.5, 2.0])
    from rom.io.series import read_xdmf_series

    series = read_xdmf_series(xdmf)
    np.testing.assert_allclose(series.times, [0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(series.displacement[-1], u)


def _check_one_grid_per_step(xdmf, times):
    """The domain holds the temporal collection only; each of its grids has its own
    topology, geometry and time (no top-level mesh grid, no XInclude)."""
    from xml.etree import ElementTree as ET

    root = ET.parse(xdmf).getroot()
    (domain,) = root
    (series,) = domain
    assert series.get("GridType") == "Collection" and series.get("CollectionType") == "Temporal"
    steps = list(series)
    assert len(steps) == len(times)
    for g, t in zip(steps, times):
        assert g.tag == "Grid" and g.get("GridType") == "Uniform"
        assert [c.tag for c in g][:3] == ["Topology", "Geometry", "Time"]
        assert float(g.find("Time").get("Value")) == pytest.approx(t)
    assert "include" not in open(xdmf).read()


def test_series_writer_one_grid_per_step(tmp_path):
    """SeriesWriter (online and adaptive results): the same layout; step attributes
    are stored on the step's group."""
    from rom.snapshots import SeriesWriter

    data = box_mesh((1, 1, 1), (1, 1, 1), "hexahedron")
    path = str(tmp_path / "r" / "online.h5")
    w = SeriesWriter(path, data, np.ones(8))
    for k, t in enumerate((0.5, 1.0)):
        w.write_step(t, {"U": np.full((data.n_nodes, 3), t), "T": np.zeros(data.n_nodes)},
                     {"p": np.zeros(8)}, {"p": np.zeros(1)}, attrs={"p_clipped": k})
    w.close()
    xdmf = str(tmp_path / "r" / "online.xdmf")
    _check_one_grid_per_step(xdmf, [0.5, 1.0])
    with h5py.File(path, "r") as f:
        assert f["steps/1"].attrs["p_clipped"] == 1
    with meshio.xdmf.TimeSeriesReader(xdmf) as reader:
        points, _ = reader.read_points_cells()
        assert len(points) == data.n_nodes
        t, point_data, cell_data = reader.read_data(1)
        assert t == 1.0 and np.all(point_data["U"] == 1.0) and "p" in cell_data


def _result_writer(tmp_path):
    """A ResultWriter of a 2-cell hexahedron mesh (8 points per cell), no ROM."""
    from rom.fem import CellBasis, get_element
    from rom.online import ResultWriter

    data = box_mesh((2, 1, 1), (2, 1, 1), "hexahedron")
    case = write_case(tmp_path / "w", data, BODY)
    w = CellBasis(get_element("hexahedron"), data.points[data.cells]).dx.ravel()
    archive = {"basis": {"qp_weights": w}, "attrs": {"n_qp_cell": 8}}
    return ResultWriter(str(tmp_path / "w" / "online.h5"), archive, case, data, None,
                        "test"), data


def test_result_writer_clips_reconstructions_to_their_bounds(tmp_path):
    """A reconstructed p dipping to -5e-6 (and the adaptive run's p_rom) is written
    clipped at 0 (quadrature values, cell averages, p_nodal), the positive values
    exactly as given; the step records how many points were clipped and the lowest
    value; the arrays given are not modified; sigma is written as given."""
    writer, data = _result_writer(tmp_path)
    n_qp = 16
    p = np.linspace(-5e-6, 1e-3, n_qp)
    p[8:] = np.linspace(-1e-7, -1e-8, 8)  # the second cell below zero everywhere
    p_given, p_rom = p.copy(), p[::-1].copy()
    sigma = np.tile([10.0, 0, 0, 0, 0, 0], (n_qp, 1))
    writer.write(1.0, np.zeros((data.n_nodes, 3)), {"p": p, "p_rom": p_rom, "sigma": sigma,
                                                     "X": None})
    writer.close()
    np.testing.assert_array_equal(p, p_given)  # the caller's (the ROM's) array untouched
    with h5py.File(writer.path, "r") as f:
        g = f["steps/0"]
        assert dict(g.attrs) == {"p_clipped": np.count_nonzero(p < 0),
                                 "p_min_unclipped": -5e-6,
                                 "p_rom_clipped": np.count_nonzero(p < 0),
                                 "p_rom_min_unclipped": -5e-6}
        np.testing.assert_array_equal(g["qp/p"][...], np.maximum(p, 0.0))
        np.testing.assert_array_equal(g["qp/p_rom"][...], np.maximum(p_rom, 0.0))
        assert g["cells/p"][1] == 0.0 and g["cells/p"][0] > 0
        assert g["nodes/p_nodal"][...].min() == 0.0
        np.testing.assert_array_equal(g["qp/sigma"][...], sigma)
        np.testing.assert_allclose(g["nodes/principal_stress_nodal"][...],
                                   np.tile([10.0, 0, 0], (data.n_nodes, 1)), atol=1e-12)
        assert f.attrs["lower_bounds"] == "p >= 0"
    # a field within its bounds: no record, values as given
    writer, data = _result_writer(tmp_path)
    writer.write(1.0, np.zeros((data.n_nodes, 3)), {"p": np.abs(p)})
    writer.close()
    with h5py.File(writer.path, "r") as f:
        assert not dict(f["steps/0"].attrs)
        np.testing.assert_array_equal(f["steps/0/qp/p"][...], np.abs(p))


def test_online_run_writes_p_clipped_and_keeps_the_reconstruction(trained, tmp_path):
    """An online run of the small Chaboche ROM: its Gappy reconstruction of p dips
    below zero (by 1e-8 at some steps); the written p is the reconstruction clipped
    at 0, at every step, and the reconstruction from the run's state (the law's p at
    the reduced points) still is the unclipped one."""
    from mpi4py import MPI

    from rom.offline import build_rom
    from rom.online import online_command

    tmp, case, files = trained
    rom_path = str(tmp_path / "rom.h5")
    comm = MPI.COMM_SELF
    build_rom(case, files, comm, rom_path, log=None)
    out = online_command(case, rom_path, comm, str(tmp_path / "on"), log=None)
    res = out["res"]
    model = res["model"]
    with h5py.File(out["files"][0], "r") as f:
        n = int(f.attrs["completed_steps"])
        clipped = 0
        for k in range(n):
            full = model.gappy("p", res["p_points"][k])
            written = f[f"steps/{k}/qp/p"][...]
            np.testing.assert_array_equal(written, np.maximum(full, 0.0))
            assert f[f"steps/{k}/nodes/p_nodal"][...].min() >= 0.0
            assert f[f"steps/{k}/cells/p"][...].min() >= 0.0
            clipped += int(f[f"steps/{k}"].attrs.get("p_clipped", 0))
            assert f[f"steps/{k}"].attrs.get("p_clipped", 0) == np.count_nonzero(full < 0)
        assert clipped > 0  # the case does dip below zero
        assert min(p.min() for p in res["p_points"]) >= 0.0  # the ROM's state
