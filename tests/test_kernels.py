"""Vectorized kernels: two ways of computing the same quantity must agree."""

import numpy as np
import pytest

from rom.fem import CellBasis, mandel_to_tensor, tensor_to_mandel, von_mises
from rom.materials import isotropic_stiffness
from rom.meshgen import box_mesh


@pytest.mark.parametrize("name", ["tetra", "tetra10", "hexahedron", "hexahedron20"])
def test_strain_operator_force_and_tangent_are_consistent(name):
    d = box_mesh((2, 2, 1), (1, 1, 1), name, distort=0.2)
    b = CellBasis(d.element, d.points[d.cells])
    rng = np.random.default_rng(0)
    u_e = rng.normal(size=(d.n_cells, d.element.n_nodes, 3))
    B = b.strain_operator()
    eps_B = np.einsum("cqia,ca->cqi", B, u_e.reshape(d.n_cells, -1))
    np.testing.assert_allclose(b.strain(u_e), eps_B, atol=1e-12)
    C = isotropic_stiffness(np.full(b.dx.shape, 2e5), np.full(b.dx.shape, 0.3))
    sigma = np.einsum("cqij,cqj->cqi", C, eps_B)
    f = b.internal_forces(sigma).reshape(d.n_cells, -1)
    K = b.tangent(C)
    np.testing.assert_allclose(np.einsum("cab,cb->ca", K, u_e.reshape(d.n_cells, -1)), f,
                               rtol=1e-10, atol=1e-8 * np.abs(f).max())
    np.testing.assert_allclose(K, K.transpose(0, 2, 1), atol=1e-8 * np.abs(K).max())
    # rigid-body modes produce no strain
    rot = np.cross(np.array([0.3, -0.2, 0.5]), d.points[d.cells]) + np.array([1.0, 2.0, 3.0])
    assert np.abs(b.strain(rot)).max() < 1e-12


def test_mandel_conventions():
    rng = np.random.default_rng(1)
    t = rng.normal(size=(5, 3, 3))
    t = t + t.transpose(0, 2, 1)
    m = tensor_to_mandel(t)
    np.testing.assert_allclose(mandel_to_tensor(m), t)
    np.testing.assert_allclose(np.einsum("nij,nij->n", t, t), np.einsum("ni,ni->n", m, m))
    # uniaxial stress: von Mises equals the stress; pure shear tau: sqrt(3) tau
    assert np.isclose(von_mises(np.array([250.0, 0, 0, 0, 0, 0])), 250.0)
    assert np.isclose(von_mises(np.array([0, 0, 0, 0, 0, np.sqrt(2) * 10.0])),
                      np.sqrt(3) * 10.0)


def test_isotropic_stiffness_closed_form():
    E, nu = 210000.0, 0.3
    C = isotropic_stiffness(np.array([E]), np.array([nu]))[0]
    lam = E * nu / ((1 + nu) * (1 - 2 * nu))
    mu = E / (2 * (1 + nu))
    assert np.isclose(C[0, 0], lam + 2 * mu) and np.isclose(C[0, 1], lam)
    assert np.isclose(C[3, 3], 2 * mu) and np.isclose(C[0, 3], 0.0)
