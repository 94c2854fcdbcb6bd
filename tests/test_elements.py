"""Reference elements and quadrature rules against closed forms."""

from math import factorial

import numpy as np
import pytest

from rom.fem import (
    ELEMENTS,
    VOLUME_TYPES,
    CellBasis,
    FaceBasis,
    default_rule,
    extrapolation_matrix,
    gauss_rule,
    get_element,
)
from rom.meshgen import box_mesh

ALL = list(ELEMENTS)
VOLUMES = list(VOLUME_TYPES)
NEW = ["wedge", "wedge15", "pyramid", "pyramid13"]


def _interior_points(el, n, rng, margin=0.05):
    """``n`` random points inside ``el``'s reference domain, ``margin`` away from its
    boundary (a simplex's points in its corner region, as the tests always took)."""
    if el.shape == "simplex":
        return rng.uniform(margin, 0.3, (n, el.dim))
    if el.shape == "cube":
        return rng.uniform(-1 + margin, 1 - margin, (n, el.dim))
    if el.shape == "prism":
        return np.column_stack([rng.uniform(margin, 0.3, (n, 2)),
                                rng.uniform(-1 + margin, 1 - margin, n)])
    assert el.shape == "pyramid"
    z = rng.uniform(margin, 1 - 2 * margin, n)
    s = rng.uniform(-1 + margin, 1 - margin, (n, 2))
    return np.column_stack([s * (1 - z - margin)[:, None], z])


@pytest.mark.parametrize("name", ALL)
def test_nodal_basis_and_partition_of_unity(name):
    el = ELEMENTS[name]
    np.testing.assert_allclose(el.shape_functions(el.nodes), np.eye(el.n_nodes), atol=1e-13)
    xi = _interior_points(el, 7, np.random.default_rng(0))
    np.testing.assert_allclose(el.shape_functions(xi).sum(axis=1), 1.0, atol=1e-13)
    np.testing.assert_allclose(el.shape_gradients(xi).sum(axis=1), 0.0, atol=1e-12)
    # linear completeness: sum_a N_a x_a = x, and the gradients of it the identity
    np.testing.assert_allclose(el.shape_functions(xi) @ el.nodes, xi, atol=1e-13)
    np.testing.assert_allclose(np.einsum("pai,aj->pij", el.shape_gradients(xi), el.nodes),
                               np.broadcast_to(np.eye(el.dim), (7, el.dim, el.dim)),
                               atol=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_gradients_match_finite_differences(name):
    el = ELEMENTS[name]
    xi = _interior_points(el, 4, np.random.default_rng(1))
    h = 1e-6
    fd = np.stack([(el.shape_functions(xi + h * e) - el.shape_functions(xi - h * e)) / (2 * h)
                   for e in np.eye(el.dim)], axis=-1)
    np.testing.assert_allclose(el.shape_gradients(xi), fd, atol=1e-8)


def test_pyramid13_is_bedrosians():
    """The 13-node pyramid's shape functions are the closed forms of Bedrosian (1992)
    on the reference pyramid (base corners (xa, ya, 0), apex (0, 0, 1))."""
    el = ELEMENTS["pyramid13"]
    x, y, z = _interior_points(el, 9, np.random.default_rng(2)).T
    a = 1 - z
    ref = [(1 + xa * x - z) * (1 + ya * y - z) * (xa * x + ya * y - 1) / (4 * a)
           for xa, ya, _ in el.nodes[:4]]
    ref.append(z * (2 * z - 1))
    for xa, ya, _ in el.nodes[5:9]:
        ref.append((1 - x - z) * (1 + x - z) * (1 + ya * y - z) / (2 * a) if xa == 0 else
                   (1 - y - z) * (1 + y - z) * (1 + xa * x - z) / (2 * a))
    ref += [z * (1 + 2 * xa * x - z) * (1 + 2 * ya * y - z) / a for xa, ya, _ in el.nodes[9:]]
    np.testing.assert_allclose(el.shape_functions(np.column_stack([x, y, z])),
                               np.array(ref).T, atol=1e-14)
    # pyramid5: (1 + xa x - z)(1 + ya y - z) / (4 (1 - z)) and z
    p5 = ELEMENTS["pyramid"]
    ref = [(1 + xa * x - z) * (1 + ya * y - z) / (4 * a) for xa, ya, _ in p5.nodes[:4]] + [z]
    np.testing.assert_allclose(p5.shape_functions(np.column_stack([x, y, z])),
                               np.array(ref).T, atol=1e-14)


def _reference_volume(el):
    return {"simplex": 1 / 2 if el.dim == 2 else 1 / 6, "cube": 2.0 ** el.dim,
            "prism": 1.0, "pyramid": 4 / 3}[el.shape]


def _line(e):
    """Integral of t^e over [-1, 1]."""
    return 0.0 if e % 2 else 2.0 / (e + 1)


def _exact_monomial_integral(el, exps):
    """Integral of ``x^i y^j [z^k]`` over ``el``'s reference domain (closed forms)."""
    if el.shape == "cube":
        return np.prod([_line(e) for e in exps])
    if el.shape == "simplex":  # Dirichlet integral over the unit simplex
        return np.prod([factorial(e) for e in exps]) / factorial(sum(exps) + el.dim)
    i, j, k = exps
    if el.shape == "prism":  # unit triangle x [-1, 1]
        return factorial(i) * factorial(j) / factorial(i + j + 2) * _line(k)
    # pyramid |x|, |y| <= 1 - z: int_0^1 z^k (1-z)^(i+j+2) dz times the section's
    return (_line(i) * _line(j) * factorial(k) * factorial(i + j + 2)
            / factorial(i + j + k + 3))


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("degree", [1, 2, 3, 4, 5, 6])
def test_quadrature_exact_for_monomials(name, degree):
    el = ELEMENTS[name]
    rule = gauss_rule(el, degree)
    assert np.all(rule.weights > 0)
    np.testing.assert_allclose(rule.weights.sum(), _reference_volume(el), rtol=1e-13)
    for exps in np.ndindex(*([degree + 1] * el.dim)):
        if sum(exps) > degree:
            continue
        f = np.prod(rule.points ** np.array(exps), axis=1) @ rule.weights
        exact = _exact_monomial_integral(el, exps)
        assert abs(f - exact) < 1e-13, (exps, f, exact)


@pytest.mark.parametrize("name", ["wedge", "wedge15"])
def test_prism_rule_degrees_in_plane_and_along(name):
    """A prism rule is the triangle's rule of ``degree`` times Gauss-Legendre in z of
    ``axial_degree``: x^i y^j z^k exact for i + j <= degree and k <= axial_degree."""
    el = ELEMENTS[name]
    rule = gauss_rule(el, 2, axial_degree=5)
    assert rule.n_points == 9 and rule.degree == 2 and np.all(rule.weights > 0)
    for i, j, k in np.ndindex(3, 3, 6):
        if i + j <= 2:
            f = (rule.points ** np.array([i, j, k])).prod(axis=1) @ rule.weights
            assert abs(f - _exact_monomial_integral(el, (i, j, k))) < 1e-14


def test_default_rules_are_the_full_gauss_rules():
    counts = {n: default_rule(ELEMENTS[n]).n_points for n in VOLUMES}
    assert counts == {"tetra": 1, "tetra10": 4, "hexahedron": 8, "hexahedron20": 27,
                      "wedge": 6, "wedge15": 9, "pyramid": 8, "pyramid13": 27}
    for n in VOLUMES:
        rule = default_rule(ELEMENTS[n])
        assert np.all(rule.weights > 0)
        np.testing.assert_allclose(rule.weights.sum(), _reference_volume(ELEMENTS[n]),
                                   rtol=1e-13)


@pytest.mark.parametrize("name", ["wedge", "pyramid", "pyramid13"])
def test_default_rules_integrate_reference_stiffness_and_mass(name):
    """The default rule gives the reference element's gradient Gram matrix (the
    stiffness of a Laplacian) and mass matrix of a much finer rule: exact, the rational
    pyramid functions included (wedge15's 9 points, the solvers' rule, are not)."""
    el = ELEMENTS[name]
    out = []
    for rule in (default_rule(el), gauss_rule(el, 12)):
        N, dN = el.shape_functions(rule.points), el.shape_gradients(rule.points)
        out.append((np.einsum("q,qai,qbi->ab", rule.weights, dN, dN),
                    np.einsum("q,qa,qb->ab", rule.weights, N, N)))
    np.testing.assert_allclose(out[0][0], out[1][0], atol=1e-13)
    np.testing.assert_allclose(out[0][1], out[1][1], atol=1e-14)


@pytest.mark.parametrize("name", VOLUMES)
def test_faces_conform_to_the_face_elements(name):
    """On each face, the element's shape functions are the face element's (of
    ``face_types``) of the face's nodes, and the other nodes' vanish: the face lists
    nodes in the face element's order, and pyramids are conforming with tetrahedra on
    their triangles and with hexahedra on their base."""
    el = ELEMENTS[name]
    assert len(el.face_types) == len(el.faces) == el.n_faces
    rng = np.random.default_rng(3)
    for face, ftype in zip(el.faces, el.face_types):
        fe = get_element(ftype)
        assert len(face) == fe.n_nodes and fe.degree == el.degree
        s = np.vstack([fe.nodes, _interior_points(fe, 6, rng)])
        xi = fe.shape_functions(s) @ el.nodes[list(face)]  # the face's reference points
        N = el.shape_functions(xi)
        np.testing.assert_allclose(N[:, list(face)], fe.shape_functions(s), atol=1e-13)
        others = np.setdiff1d(np.arange(el.n_nodes), face)
        np.testing.assert_allclose(N[:, others], 0.0, atol=1e-13)


@pytest.mark.parametrize("name", VOLUMES)
def test_faces_are_outward_on_the_reference_element(name):
    """The right-hand normal of each face's corners points away from the element's
    centroid; the faces' corners are the element's, each edge on two faces."""
    el = ELEMENTS[name]
    center = el.nodes[: el.n_corners].mean(axis=0)
    edges = []
    for face, ftype in zip(el.faces, el.face_types):
        nc = get_element(ftype).n_corners
        c = el.nodes[list(face[:nc])]
        n = np.cross(c[1] - c[0], c[2] - c[0]) if nc == 3 else \
            np.cross(c[2] - c[0], c[3] - c[1])
        assert n @ (c.mean(axis=0) - center) > 0, (name, face)
        assert max(face[:nc]) < el.n_corners
        edges += [frozenset((face[i], face[(i + 1) % nc])) for i in range(nc)]
    counts = {e: edges.count(e) for e in edges}
    assert set(counts.values()) == {2}


def test_face_type_and_face_blocks():
    from rom import RomError

    assert get_element("tetra10").face_type == "triangle6"
    assert get_element("hexahedron").face_type == "quad"
    assert get_element("quad8").face_type == "" and get_element("quad8").face_types == ()
    assert get_element("wedge").face_types == ("triangle", "triangle", "quad", "quad", "quad")
    assert get_element("pyramid13").face_types == ("quad8",) + ("triangle6",) * 4
    for name in NEW:
        with pytest.raises(RomError, match=f"{name} cells have .* faces: no single face type"):
            _ = get_element(name).face_type
    blocks = get_element("wedge15").face_blocks
    assert list(blocks) == ["triangle6", "quad8"]
    np.testing.assert_array_equal(blocks["triangle6"][0], [0, 1])
    np.testing.assert_array_equal(blocks["quad8"][1], np.array(get_element("wedge15").faces[2:]))
    assert {n: get_element(n).n_corners for n in NEW} == {
        "wedge": 6, "wedge15": 6, "pyramid": 5, "pyramid13": 5}
    assert {n: get_element(n).linear for n in VOLUMES} == {
        "tetra": "tetra", "tetra10": "tetra", "hexahedron": "hexahedron",
        "hexahedron20": "hexahedron", "wedge": "wedge", "wedge15": "wedge",
        "pyramid": "pyramid", "pyramid13": "pyramid"}
    for alias, name in [("wedge6", "wedge"), ("prism", "wedge"), ("penta15", "wedge15"),
                        ("pyramid5", "pyramid"), ("pyr13", "pyramid13")]:
        assert get_element(alias) is ELEMENTS[name]


@pytest.mark.parametrize("name", ["tetra", "tetra10", "hexahedron", "hexahedron20"])
def test_faces_are_outward_and_close_the_volume(name):
    """Divergence theorem on a distorted mesh: sum of x.n dA over the boundary is 3V,
    and sum of n dA over the faces of every cell vanishes."""
    d = box_mesh((2, 3, 2), (1.0, 2.0, 1.5), name, distort=0.25, seed=3)
    el = d.element
    vol = CellBasis(el, d.points[d.cells]).dx.sum()
    np.testing.assert_allclose(vol, 3.0, rtol=1e-12)
    flux = 0.0
    for ftype, (_, _, conn) in d.boundary_faces().items():
        fb = FaceBasis(get_element(ftype), d.points[conn])
        flux += np.einsum("fqk,fqk->", fb.x, fb.nA) / 3
    np.testing.assert_allclose(flux, vol, rtol=1e-12)
    closed = np.zeros((d.n_cells, 3))
    for ftype, (cells, _, conn) in d.all_faces().items():
        fb = FaceBasis(get_element(ftype), d.points[conn])
        np.add.at(closed, cells, fb.nA.sum(axis=1))
    np.testing.assert_allclose(closed, 0.0, atol=1e-12)


# --- patch tests on single distorted cells -------------------------------------------

def _cell(name, kind, seed=0):
    """One cell of ``name`` ``(1, n_nodes, 3)``: ``"affine"`` (a random affine image of
    the reference element) or ``"straight"`` (random corners, mid-edge nodes at the
    midpoints of the edges: non-affine, the geometry of the linear element) or
    ``"curved"`` (every node moved)."""
    el = ELEMENTS[name]
    rng = np.random.default_rng(seed)
    A = np.eye(3) + rng.uniform(-0.3, 0.3, (3, 3))
    assert np.linalg.det(A) > 0
    X = el.nodes @ A.T + rng.uniform(-1, 1, 3)
    if kind != "affine":
        lin = get_element(el.linear)
        corners = X[: el.n_corners] + rng.uniform(-0.15, 0.15, (el.n_corners, 3))
        X = lin.shape_functions(el.nodes) @ corners
        if kind == "curved":
            X[el.n_corners:] += rng.uniform(-0.05, 0.05, (el.n_nodes - el.n_corners, 3))
    return X[None]


def _surface_volume(el, X):
    """Volume of the cells ``X`` by the divergence theorem, (1/3) sum over their faces
    of x.n dA with the face elements (a fine rule): independent of the volume element's
    shape functions and rule."""
    vol = 0.0
    for ftype, (_, nodes) in el.face_blocks.items():
        fe = get_element(ftype)
        conn = X[:, nodes].reshape(-1, fe.n_nodes, 3)
        fb = FaceBasis(fe, conn, gauss_rule(fe, 9))
        vol += np.einsum("fqk,fqk->", fb.x, fb.nA) / 3
    return vol


@pytest.mark.parametrize("name", NEW + ["tetra10", "hexahedron20"])
@pytest.mark.parametrize("kind", ["affine", "straight", "curved"])
def test_patch_single_distorted_cell(name, kind):
    """Volume: the default rule's equals a fine rule's and the divergence theorem's on
    the faces (the curved quadratic cells: the fine rule only); a linear displacement
    gives its constant strain at every quadrature point; on the affine cells a quadratic
    displacement (quadratic elements) is reproduced with its strain."""
    el = ELEMENTS[name]
    X = _cell(name, kind)
    basis = CellBasis(el, X)
    fine = CellBasis(el, X, gauss_rule(el, 10)).dx.sum()
    if kind == "affine":
        ref = ELEMENTS[name]
        A = np.linalg.lstsq(np.column_stack([ref.nodes, np.ones(el.n_nodes)]), X[0],
                            rcond=None)[0][:3]
        np.testing.assert_allclose(fine, np.linalg.det(A) * _reference_volume(el), rtol=1e-12)
    np.testing.assert_allclose(_surface_volume(el, X), fine, rtol=1e-12)
    if kind != "curved" or el.degree == 1:
        np.testing.assert_allclose(basis.dx.sum(), fine, rtol=1e-12)
    rng = np.random.default_rng(5)
    G, c = rng.normal(size=(3, 3)), rng.normal(size=3)
    eps = basis.strain(X @ G.T + c)
    exact = 0.5 * (G + G.T)
    np.testing.assert_allclose(eps[..., :3], np.broadcast_to(np.diag(exact), eps[..., :3].shape),
                               atol=1e-11)
    np.testing.assert_allclose(eps[..., 3:], np.broadcast_to(
        np.sqrt(2) * exact[[1, 0, 0], [2, 2, 1]], eps[..., 3:].shape), atol=1e-11)
    if el.degree == 2 and kind == "affine":
        H = rng.normal(size=(3, 3, 3))
        H = H + H.transpose(0, 2, 1)  # u_k = x.H_k.x / 2 + G x: grad u_k = H_k x + G_k

        def u(x):
            return 0.5 * np.einsum("...i,kij,...j->...k", x, H, x) + x @ G.T

        np.testing.assert_allclose(basis.interpolate(u(X)), u(basis.x), atol=1e-12)
        grad = np.einsum("kij,cqj->cqki", H, basis.x) + G
        np.testing.assert_allclose(basis.strain(u(X))[..., :3],
                                   np.diagonal(grad, axis1=2, axis2=3), atol=1e-11)


@pytest.mark.parametrize("name", [n for n in VOLUMES if n != "tetra"])
@pytest.mark.parametrize("kind", ["affine", "straight"])
def test_extrapolation_is_exact_for_linear_fields(name, kind):
    """A field linear in x, y, z at the quadrature points extrapolates to its values at
    every node of a cell whose geometry is the linear element's (tet4's one point
    gives the mean to every node)."""
    el = ELEMENTS[name]
    X = _cell(name, kind, seed=1)
    basis = CellBasis(el, X)
    P = extrapolation_matrix(el)
    assert P.shape == (el.n_nodes, basis.n_qp)
    g = np.array([[1.0, -2.0, 0.5], [0.3, 0.7, -1.1]])

    def f(x):
        return x @ g.T + [0.25, -3.0]

    np.testing.assert_allclose(P @ f(basis.x[0]), f(X[0]), atol=1e-11)


def test_unknown_cell_type_is_named():
    from rom import RomError

    with pytest.raises(RomError, match="polyhedron.*wedge15, pyramid, pyramid13"):
        get_element("polyhedron")
