"""Reference elements and quadrature rules against closed forms."""

import numpy as np
import pytest

from rom.fem import ELEMENTS, CellBasis, FaceBasis, default_rule, gauss_rule, get_element
from rom.meshgen import box_mesh

ALL = list(ELEMENTS)
VOLUMES = ["tetra", "tetra10", "hexahedron", "hexahedron20"]


@pytest.mark.parametrize("name", ALL)
def test_nodal_basis_and_partition_of_unity(name):
    el = ELEMENTS[name]
    np.testing.assert_allclose(el.shape_functions(el.nodes), np.eye(el.n_nodes), atol=1e-13)
    xi = np.random.default_rng(0).uniform(0, 0.3, (7, el.dim))
    np.testing.assert_allclose(el.shape_functions(xi).sum(axis=1), 1.0, atol=1e-13)
    np.testing.assert_allclose(el.shape_gradients(xi).sum(axis=1), 0.0, atol=1e-12)
    # linear completeness: sum_a N_a x_a = x
    np.testing.assert_allclose(el.shape_functions(xi) @ el.nodes, xi, atol=1e-13)


@pytest.mark.parametrize("name", ALL)
def test_gradients_match_finite_differences(name):
    el = ELEMENTS[name]
    xi = np.random.default_rng(1).uniform(0.05, 0.3, (4, el.dim))
    h = 1e-6
    fd = np.stack([(el.shape_functions(xi + h * e) - el.shape_functions(xi - h * e)) / (2 * h)
                   for e in np.eye(el.dim)], axis=-1)
    np.testing.assert_allclose(el.shape_gradients(xi), fd, atol=1e-8)


def _reference_volume(el):
    return {"simplex": 1 / 2 if el.dim == 2 else 1 / 6, "cube": 2.0 ** el.dim}[el.shape]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("degree", [1, 2, 3, 4, 5, 6])
def test_quadrature_exact_for_monomials(name, degree):
    from math import factorial

    el = ELEMENTS[name]
    rule = gauss_rule(el, degree)
    assert np.all(rule.weights > 0)
    np.testing.assert_allclose(rule.weights.sum(), _reference_volume(el), rtol=1e-13)
    for exps in np.ndindex(*([degree + 1] * el.dim)):
        if sum(exps) > degree:
            continue
        f = np.prod(rule.points ** np.array(exps), axis=1) @ rule.weights
        if el.shape == "cube":
            exact = np.prod([0.0 if e % 2 else 2.0 / (e + 1) for e in exps])
        else:  # Dirichlet integral over the unit simplex
            exact = np.prod([factorial(e) for e in exps]) / factorial(sum(exps) + el.dim)
        assert abs(f - exact) < 1e-13, (exps, f, exact)


def test_default_rules_are_the_full_gauss_rules():
    counts = {n: default_rule(ELEMENTS[n]).n_points for n in VOLUMES}
    assert counts == {"tetra": 1, "tetra10": 4, "hexahedron": 8, "hexahedron20": 27}


@pytest.mark.parametrize("name", VOLUMES)
def test_faces_are_outward_and_close_the_volume(name):
    """Divergence theorem on a distorted mesh: sum of x.n dA over the boundary is 3V,
    and sum of n dA over the faces of every cell vanishes."""
    d = box_mesh((2, 3, 2), (1.0, 2.0, 1.5), name, distort=0.25, seed=3)
    el = d.element
    vol = CellBasis(el, d.points[d.cells]).dx.sum()
    np.testing.assert_allclose(vol, 3.0, rtol=1e-12)
    _, _, conn = d.boundary_faces()
    fb = FaceBasis(get_element(el.face_type), d.points[conn])
    np.testing.assert_allclose(np.einsum("fqk,fqk->", fb.x, fb.nA) / 3, vol, rtol=1e-12)
    cells, local, conn = d.all_faces()
    fb = FaceBasis(get_element(el.face_type), d.points[conn])
    closed = np.zeros((d.n_cells, 3))
    np.add.at(closed, cells, fb.nA.sum(axis=1))
    np.testing.assert_allclose(closed, 0.0, atol=1e-12)


def test_unknown_cell_type_is_named():
    from rom import RomError

    with pytest.raises(RomError, match="pyramid"):
        get_element("pyramid")
