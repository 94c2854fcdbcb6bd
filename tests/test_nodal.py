"""Nodal stresses (extrapolated from the quadrature points in each cell, averaged at
the nodes): exact for fields linear over the cells, the same on 1 and 2 ranks as the
serial kernel on the whole mesh, and written by the HF run and the online run (HDF5
and XDMF); their principal values against closed forms."""

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
            principal = f["steps/0/nodes/principal_stress_nodal"][...]
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
        from rom.fem.kernels import principal_stresses

        np.testing.assert_allclose(principal, principal_stresses(serial), atol=1e-9)
        assert np.ptp(vm) > 50.0  # not a uniform field
        # Tensor6 (xx, ...): at the loaded end's middle (y = 0.5), sigma_xx = 180 MPa
        mid = np.isclose(data.points[:, 0], 3.0) & np.isclose(data.points[:, 1], 0.5)
        assert mid.sum() >= 2
        np.testing.assert_allclose(s_nodal[mid, 0], 180.0, rtol=0.05)


def _rotation(angles):
    """Rotation matrix of Euler angles (z, x, z)."""
    def about(axis, a):
        c, s = np.cos(a), np.sin(a)
        i, j = [k for k in range(3) if k != axis]
        R = np.eye(3)
        R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
        return R
    return about(2, angles[0]) @ about(0, angles[1]) @ about(2, angles[2])


def test_principal_stresses_closed_forms():
    """Diagonal states: the diagonal sorted (sigma_1 >= sigma_2 >= sigma_3); the same
    states rotated (R diag R^T, Mandel shears): the same values; uniaxial, equibiaxial
    and hydrostatic (repeated values); pure shear tau: (tau, 0, -tau); the von Mises
    stress of the principal values equals that of the tensor."""
    from rom.fem import tensor_to_mandel, von_mises
    from rom.fem.kernels import principal_stresses

    diag = np.array([[300.0, -50.0, 120.0], [0.0, 0.0, 0.0], [100.0, 0.0, 0.0],
                     [80.0, 80.0, 0.0], [-70.0, -70.0, -70.0], [-1e-3, 2e3, 5.0]])
    expected = -np.sort(-diag, axis=1)
    np.testing.assert_array_equal(principal_stresses(tensor_to_mandel(
        np.einsum("ni,ij->nij", diag, np.eye(3)))), expected)
    rng = np.random.default_rng(1)
    for angles in rng.uniform(0, 2 * np.pi, (5, 3)):
        R = _rotation(angles)
        sigma = tensor_to_mandel(np.einsum("ij,nj,kj->nik", R, diag, R))
        assert np.abs(sigma[:, 3:]).max() > 1.0 or np.allclose(diag[:, 0], diag[:, 2])
        s = principal_stresses(sigma)
        np.testing.assert_allclose(s, expected, atol=1e-12 * np.abs(diag).max())
        assert np.all(np.diff(s, axis=1) <= 0)
        vm = np.sqrt(0.5 * ((s[:, 0] - s[:, 1]) ** 2 + (s[:, 1] - s[:, 2]) ** 2
                            + (s[:, 2] - s[:, 0]) ** 2))
        np.testing.assert_allclose(vm, von_mises(sigma), atol=1e-10)
    tau = 40.0  # sigma_xy = tau: Mandel component 5 is sqrt2 tau
    np.testing.assert_allclose(principal_stresses(np.array([0, 0, 0, 0, 0, np.sqrt(2) * tau])),
                               [tau, 0.0, -tau], atol=1e-13)
    assert principal_stresses(np.zeros((2, 7, 6))).shape == (2, 7, 3)


@pytest.mark.mpi
def test_hf_writes_principal_stresses_of_a_uniform_state(tmp_path, comm):
    """A bar pulled by a uniform traction (isostatic supports, 1 or 2 ranks): at every
    node sigma_nodal is the uniaxial state and the principal values are (q, 0, 0), the
    largest q; in the HDF5 file and the XDMF index as a Vector and a Scalar."""
    import h5py

    folder = comm.bcast(str(tmp_path / "uniform") if comm.rank == 0 else None)
    data = box_mesh((3, 2, 2), (3.0, 1.0, 1.0), "hexahedron20", distort=0.1)
    case = write_case(folder, data, ISOSTATIC_X0 + """
[[pressure]]
set = "xmax"
value = -75.0
[steps]
times = [1.0]
[solver]
rtol = 1e-10
""", comm=comm)
    res = solve(case, comm, os.path.join(folder, "out"))
    if comm.rank != 0:
        return
    with h5py.File(res["files"][0], "r") as f:
        g = f["steps/0/nodes"]
        principal, s1 = g["principal_stress_nodal"][...], g["max_principal_nodal"][...]
        vm = g["von_mises_nodal"][...]
    assert principal.shape == (data.n_nodes, 3)
    np.testing.assert_allclose(principal, np.tile([75.0, 0.0, 0.0], (data.n_nodes, 1)),
                               atol=1e-6)
    np.testing.assert_array_equal(s1, principal[:, 0])
    np.testing.assert_allclose(vm, 75.0, rtol=1e-8)
    with open(res["files"][1]) as f:
        xdmf = f.read()
    assert ('Name="principal_stress_nodal" AttributeType="Vector" Center="Node"' in xdmf
            and 'Name="max_principal_nodal" AttributeType="Scalar" Center="Node"' in xdmf)
