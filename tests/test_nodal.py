"""Nodal stresses (extrapolated from the quadrature points in each cell, averaged at
the nodes): exact for fields linear over the cells, the same on 1 and 2 ranks as the
serial kernel on the whole mesh, and written by the HF run and the online run (HDF5
and XDMF)."""

import os

import numpy as np
import pytest

from helpers import ISOSTATIC_X0, solve, write_case
from rom.fem import CellBasis, extrapolation_matrix, get_element, nodal_sums
from rom.meshgen import box_mesh


@pytest.mark.parametrize("cell_type,distort", [("tetra10", 0.15), ("hexahedron20", 0.15),
                                               ("hexahedron", 0.15), ("tetra", 0.0)])
def test_extrapolation_is_exact_for_linear_fields(cell_type, distort):
    data = box_mesh((3, 2, 2), (2.0, 1.0, 1.0), cell_type, distort=distort)
    el = get_element(cell_type)
    basis = CellBasis(el, data.points[data.cells])
    P = extrapolation_matrix(el, basis.rule)

    def field(x):  # two components: linear, and constant
        return np.stack([1.0 + 2 * x[..., 0] - 3 * x[..., 1] + 0.5 * x[..., 2],
                         np.full(x.shape[:-1], 7.0)], axis=-1)

    sums, counts = nodal_sums(data.cells, data.n_nodes, P, field(basis.x))
    nodal = sums / counts[:, None]
    if cell_type == "tetra":  # one point per cell: the cell mean, exact for constants
        np.testing.assert_allclose(nodal[:, 1], 7.0, rtol=1e-13)
        return
    np.testing.assert_allclose(nodal, field(data.points), atol=1e-12)


@pytest.mark.mpi
def test_hf_writes_nodal_stresses(tmp_path, comm):
    """A bar pulled by a traction growing along y (tension and bending) on 1 or 2
    ranks: the nodal fields equal the serial kernel's on the gathered quadrature
    stresses (the sums and counts of the nodes shared by ranks added up); the file and
    its XDMF index hold them; the stress along x near the loaded end is the traction."""
    import h5py

    from rom.snapshots import read_snapshots

    folder = comm.bcast(str(tmp_path / "bar") if comm.rank == 0 else None)
    data = box_mesh((3, 2, 2), (3.0, 1.0, 1.0), "tetra10", distort=0.1)
    case = write_case(folder, data, ISOSTATIC_X0 + """
[[pressure]]
set = "xmax"
expression = "-120 * (1 + y)"
[steps]
times = [1.0]
[solver]
rtol = 1e-10
""", comm=comm)
    res = solve(case, comm, os.path.join(folder, "out"))
    path = res["files"][0] if comm.rank == 0 else None
    if comm.rank == 0:
        snap = read_snapshots(path, ("U",), ("sigma",))
        with h5py.File(path, "r") as f:
            s_nodal = f["steps/0/nodes/sigma_nodal"][...]
            vm = f["steps/0/nodes/von_mises_nodal"][...]
        with open(res["files"][1]) as f:
            xdmf = f.read()
        assert 'Name="sigma_nodal"' in xdmf and 'Name="von_mises_nodal"' in xdmf
        from rom.fem import von_mises
        from rom.io.xdmf import mandel_to_tensor6

        P = extrapolation_matrix(get_element("tetra10"))
        sums, counts = nodal_sums(data.cells, data.n_nodes, P, snap["qp/sigma"][0])
        serial = sums / counts[:, None]
        np.testing.assert_allclose(s_nodal, mandel_to_tensor6(serial), atol=1e-9)
        np.testing.assert_allclose(vm, von_mises(serial), atol=1e-9)
        assert np.ptp(vm) > 50.0  # not a uniform field
        # Tensor6 (xx, ...): at the loaded end's middle (y = 0.5), sigma_xx = 180 MPa
        mid = np.isclose(data.points[:, 0], 3.0) & np.isclose(data.points[:, 1], 0.5)
        assert mid.sum() >= 2
        np.testing.assert_allclose(s_nodal[mid, 0], 180.0, rtol=0.05)
