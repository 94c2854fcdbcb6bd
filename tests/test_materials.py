"""Constitutive laws at a material point against closed forms and a fine ODE
integration, and their consistent tangents against finite differences."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from rom.materials import Chaboche, J2Plasticity, NortonCreep, ThermoElastic
from rom.materials.driver import uniaxial

E, NU = 200000.0, 0.3
REFERENCE = dict(E=E, nu=NU, R0=10.0, K=300.0, n=30.0, C=1e5, D=1e3, alpha=2e-5)


def test_norton_creep_at_constant_stress():
    law = NortonCreep(E, NU, K=300.0, n=5.0)
    t = np.linspace(0.0, 10.0, 21)
    r = uniaxial(law, t, stress=np.full_like(t, 200.0))
    exact = 200.0 / E + (200.0 / 300.0) ** 5 * t  # backward Euler is exact here
    np.testing.assert_allclose(r["eps"][:, 0], exact, rtol=1e-9)
    np.testing.assert_allclose(r["eps"][:, 1], -NU * 200.0 / E - 0.5 * (exact - 200.0 / E),
                               rtol=1e-9)  # incompressible creep
    np.testing.assert_allclose(r["p"], (200.0 / 300.0) ** 5 * t, rtol=1e-9)


def test_norton_relaxation_at_fixed_strain():
    K, n, eps0 = 300.0, 5.0, 2e-3
    law = NortonCreep(E, NU, K=K, n=n)
    t = np.concatenate([[0.0], np.geomspace(1e-9, 1e-2, 3000)])
    r = uniaxial(law, t, strain=np.full_like(t, eps0))
    s0 = E * eps0
    exact = (s0 ** (1 - n) + (n - 1) * E * K ** (-n) * t) ** (1 / (1 - n))
    assert exact[-1] < 0.5 * s0  # it really relaxed
    np.testing.assert_allclose(r["sigma"][:, 0], exact, rtol=1e-2)


def _reverse_loading(law, eps_max=0.01, n=400):
    path = np.concatenate([np.linspace(0, eps_max, n), np.linspace(eps_max, -eps_max, 2 * n)])
    return path, uniaxial(law, np.arange(len(path), dtype=float), strain=path)["sigma"][:, 0]


@pytest.mark.parametrize("hardening", ["isotropic", "kinematic"])
def test_j2_linear_hardening_loading_and_reverse_loading(hardening):
    R0, H = 250.0, 10000.0
    kw = {"H": H} if hardening == "isotropic" else {"Hk": H}
    law = J2Plasticity(E, NU, R0=R0, **kw)
    eps, sig = _reverse_loading(law)
    Et = E * H / (E + H)
    e_y = R0 / E
    s1 = R0 + Et * (0.01 - e_y)  # end of loading
    p1 = 0.01 - s1 / E
    s_rev = -(R0 + H * p1) if hardening == "isotropic" else s1 - 2 * R0  # reverse yield
    e_rev = 0.01 - (s1 - s_rev) / E
    exact = np.where(eps <= e_y, E * eps, R0 + Et * (eps - e_y))
    back = np.arange(len(eps)) >= 400
    exact[back] = np.where(eps[back] >= e_rev, s1 - E * (0.01 - eps[back]),
                           s_rev + Et * (eps[back] - e_rev))
    np.testing.assert_allclose(sig, exact, atol=1e-8 * R0)


def _internal_states(law, times, eps, T=20.0):
    """The law's state after each step along the strains ``eps (n_steps, 6)`` of a
    :func:`uniaxial` run (the same updates the driver made): ``{name: (n_steps, ...)}``."""
    state, out = law.initial_state(1), []
    for k in range(len(times)):
        dt = times[k] - times[k - 1] if k else 0.0
        _, _, state, ok = law.update(eps[k:k + 1], state, np.array([T]), dt)
        assert ok.all()
        out.append(state)
    return {name: np.array([st[name][0] for st in out]) for name in out[0]}


# The sign of the back stress X (Mandel; deviatoric): independent checks. In uniaxial
# stress along x the flow direction is n = 3/2 dev(sigma - X) / J(sigma - X) =
# +-(1, -1/2, -1/2, 0, 0, 0), so X = (X11, -X11/2, -X11/2, 0, 0, 0) and the scalar back
# stress of the uniaxial curve is x = 3/2 X11: the elastic domain is |sigma - x| <= R.

J2_COMBINED = dict(R0=250.0, H=5000.0, Hk=15000.0)  # isotropic and kinematic hardening


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["tension", "compression"])
def test_j2_back_stress_has_the_sign_of_the_plastic_strain(sign):
    """Monotonic tension or compression with linear isotropic + kinematic hardening:
    ``X = 2/3 Hk eps_vp`` at every step (dX = 2/3 Hk deps_vp), so X11 = sign 2/3 Hk p,
    and the flow stress is ``R0 + H p + x`` with ``x = 3/2 X11 = Hk p``."""
    R0, H, Hk = J2_COMBINED.values()
    law = J2Plasticity(E, NU, **J2_COMBINED)
    path = sign * np.linspace(0.0, 0.01, 101)
    t = np.arange(len(path), dtype=float)
    r = uniaxial(law, t, strain=path)
    st = _internal_states(law, t, r["eps"])
    X, evp, p = st["X"], st["eps_vp"], st["p"]
    np.testing.assert_array_equal(p, r["p"])
    plastic = p > 0
    assert plastic.sum() > 80 and p[-1] > 5e-3
    # measured errors: X 4.3e-14 MPa, sigma 1.1e-13 MPa (X up to 80, sigma up to 410)
    np.testing.assert_allclose(X, 2.0 / 3.0 * Hk * evp, rtol=0, atol=5e-13)
    np.testing.assert_allclose(X[:, 0], sign * 2.0 / 3.0 * Hk * p, rtol=0, atol=5e-13)
    np.testing.assert_allclose(X[:, 1:3], -0.5 * X[:, [0, 0]], rtol=0, atol=5e-13)
    np.testing.assert_allclose(X[:, 3:], 0.0, rtol=0, atol=5e-13)
    assert np.all(np.sign(X[plastic, 0]) == sign)
    assert np.all(np.sign(np.diff(evp[:, 0])[plastic[1:]]) == sign)
    np.testing.assert_allclose(r["sigma"][plastic, 0], sign * (R0 + (H + Hk) * p[plastic]),
                               rtol=0, atol=1e-12)


def test_j2_reverse_yield_point_with_combined_hardening():
    """Bauschinger effect, closed form (stress control). Loaded in tension to sigma1 past
    yield, p1 = (sigma1 - R0) / (H + Hk), the back stress is x1 = Hk p1 and the radius
    R1 = R0 + H p1: reverse yield at ``x1 - R1`` (-175 here), smaller in magnitude than
    sigma1 = 400 and than R1 = 287.5 (isotropic hardening alone); a back stress of the
    wrong sign would put it at -x1 - R1 = -400. Then ``dp = -dsigma / (H + Hk)``."""
    R0, H, Hk = J2_COMBINED.values()
    law = J2Plasticity(E, NU, **J2_COMBINED)
    s1 = 400.0
    p1 = (s1 - R0) / (H + Hk)
    s_rev = Hk * p1 - (R0 + H * p1)
    assert s_rev == -175.0 and abs(s_rev) < R0 + H * p1 < s1
    # forward to s1, then down to just above, at and just below the reverse yield point
    sig = np.concatenate([np.linspace(0.0, s1, 41),
                          [s1 - 1, 0.0, s_rev + 1, s_rev + 1e-6, s_rev, s_rev - 1e-6, s_rev - 1,
                           s_rev - 50, -s1]])
    t = np.arange(len(sig), dtype=float)
    r = uniaxial(law, t, stress=sig)
    st = _internal_states(law, t, r["eps"])
    fwd = np.arange(len(sig)) <= 40
    p = np.where(fwd, np.maximum(0.0, (sig - R0) / (H + Hk)),
                 p1 + np.maximum(0.0, (s_rev - sig) / (H + Hk)))
    evp11 = np.where(fwd, p, 2 * p1 - p)  # forward flow, then reverse flow
    # measured errors: p 2.4e-17, eps 1.7e-17, X 1.7e-13 MPa, other stresses 3.4e-13 MPa
    np.testing.assert_allclose(r["p"], p, rtol=0, atol=2e-16)
    assert r["p"][-6] == r["p"][40] and r["p"][-4] > r["p"][40]  # s_rev -+ 1e-6 MPa
    np.testing.assert_allclose(st["eps_vp"][:, 0], evp11, rtol=0, atol=2e-16)
    np.testing.assert_allclose(st["X"][:, 0], 2.0 / 3.0 * Hk * evp11, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r["eps"][:, 0], sig / E + evp11, rtol=0, atol=2e-16)
    np.testing.assert_allclose(r["eps"][:, 1], -NU * sig / E - evp11 / 2, rtol=0, atol=2e-16)
    np.testing.assert_allclose(r["sigma"][:, 1:], 0.0, rtol=0, atol=3e-12)


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["tension", "compression"])
def test_chaboche_back_stress_saturates_at_C_over_D(sign):
    """Monotonic uniaxial tension or compression at a constant strain rate. With
    deps_vp = dp n, n11 = sign, the Armstrong-Frederick rule dX = 2/3 C deps_vp - D X dp
    gives dX11 = (2/3 C sign - D X11) dp: ``X11 = sign 2C/(3D) (1 - exp(-D p))``, which
    saturates at ``sign 2C/(3D)`` (x = 3/2 X11 = C/D = 100 MPa). At saturation
    dp/dt = the strain rate and ``sigma = sign (C/D + R0 + K rate^(1/n))``."""
    law = Chaboche(**REFERENCE)
    R0, K, n, C, D = (REFERENCE[k] for k in ("R0", "K", "n", "C", "D"))
    rate = 1e-3  # steps of 0.01 s while X evolves (D p < 5), then of 0.1 s
    t = np.concatenate([np.linspace(0.0, 5.0, 501), np.linspace(5.0, 20.0, 151)[1:]])
    r = uniaxial(law, t, strain=sign * rate * t)
    st = _internal_states(law, t, r["eps"])
    X, evp, p = st["X"], st["eps_vp"], st["p"]
    inelastic = p > 0
    assert inelastic.sum() > 600 and D * p[-1] > 18  # saturated to exp(-18)
    assert np.all(np.sign(X[inelastic, 0]) == sign)
    assert np.all(np.sign(np.diff(evp[:, 0])[inelastic[1:]]) == sign)
    X_sat = 2.0 * C / (3.0 * D)
    # measured: X11 along the path within 1.37e-3 X_sat of the closed form (backward Euler,
    # first order: 6.9e-4 with twice the steps); at the end 2.4e-8 X_sat (exp(-D p) =
    # 1.2e-8); the other components 1.4e-14 MPa; the stress at the end 7.2e-9 relative
    closed = sign * X_sat * (1.0 - np.exp(-D * p))
    assert np.abs(X[:, 0] - closed).max() < 1e-2 * X_sat
    assert abs(X[-1, 0] - sign * X_sat) < 2e-7 * X_sat
    np.testing.assert_allclose(X[:, 1:3], -0.5 * X[:, [0, 0]], rtol=0, atol=1e-13)
    np.testing.assert_allclose(X[:, 3:], 0.0, rtol=0, atol=1e-13)
    s_sat = C / D + R0 + K * rate ** (1.0 / n)
    assert abs(r["sigma"][-1, 0] - sign * s_sat) < 5e-8 * s_sat


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["tension", "compression"])
def test_chaboche_reverse_flow_starts_before_the_stress_changes_sign(sign):
    """Bauschinger effect of the Armstrong-Frederick back stress, nearly rate independent
    (n = 1, K = 0.01 MPa s: overstress 1e-7 MPa). After loading to p1 the back stress is
    x1 = C/D (1 - exp(-D p1)) (closed form, 98.84 MPa here); on strain reversal the
    response is elastic until ``sigma = x1 - R0`` (88.84 MPa: still tensile), where
    reverse flow starts. A back stress of the wrong sign would put it at -x1 - R0."""
    R0, C, D = 10.0, 1e5, 1e3
    law = Chaboche(E, NU, R0=R0, K=0.01, n=1.0, C=C, D=D)
    e1, de = 5e-3, 1e-6  # unloading strain steps of 1e-6: 0.2 MPa
    path = sign * np.concatenate([np.linspace(0.0, e1, 501), e1 - de * np.arange(1, 201)])
    t = np.arange(len(path), dtype=float)
    r = uniaxial(law, t, strain=path)
    st = _internal_states(law, t, r["eps"])
    k1 = 500  # the end of loading
    p1 = r["p"][k1]
    x1 = C / D * (1.0 - np.exp(-D * p1))
    s = sign * r["sigma"][:, 0]
    back = np.arange(len(path)) > k1
    flow = back & (np.diff(r["p"], prepend=0.0) > 0)
    first = np.flatnonzero(flow)[0]
    # measured: the law's 3/2 X11 at the end of loading is 0.024 MPa below the closed form
    # x1 (backward Euler), reverse flow starts between 88.815 and 88.716 MPa (one step of
    # 0.2 MPa), x1 - R0 = 88.839 MPa
    assert abs(1.5 * sign * st["X"][k1, 0] - x1) < 0.1
    assert s[first - 1] > x1 - R0 - 0.1 and s[first] < x1 - R0 + 0.1
    assert s[first] > 80.0  # the reverse flow starts in tension (compression for sign -1)
    assert not flow[k1 + 1: first].any() and flow[first:].all()
    assert np.all(sign * np.diff(st["eps_vp"][first - 1:, 0]) < 0)  # reverse flow


def _chaboche_ode(t_eval, strain, R0, K, n, C, D):
    """Uniaxial Chaboche equations (scalar X = 3/2 X_11), stiff ODE (Radau)."""

    def rhs(t, y):
        evp, X = y
        s = E * (strain(t) - evp)
        f = abs(s - X) - R0
        pdot = (f / K) ** n if f > 0 else 0.0
        sgn = np.sign(s - X)
        return [pdot * sgn, C * pdot * sgn - D * X * pdot]

    sol = solve_ivp(rhs, (t_eval[0], t_eval[-1]), [0.0, 0.0], method="Radau", t_eval=t_eval,
                    rtol=1e-10, atol=1e-14, max_step=1e-3)
    assert sol.success
    return E * (strain(t_eval) - sol.y[0])


def test_chaboche_cyclic_strain_history_matches_ode():
    law = Chaboche(**REFERENCE)
    period, amp = 2.0, 5e-3

    def strain(t):  # triangle wave 0 -> amp -> -amp -> 0
        ph = np.mod(np.asarray(t) / period, 1.0)
        return amp * np.where(ph < 0.25, 4 * ph, np.where(ph < 0.75, 2 - 4 * ph, 4 * ph - 4))

    t = np.linspace(0.0, 2 * period, 1601)
    r = uniaxial(law, t, strain=strain(t))
    ref = _chaboche_ode(t, strain, 10.0, 300.0, 30.0, 1e5, 1e3)
    err = np.abs(r["sigma"][:, 0] - ref).max() / np.abs(ref).max()
    assert np.abs(ref).max() > 250 and r["p"][-1] > 0.02  # well into viscoplasticity
    assert err < 1e-2, err


# [p, R, T] rows: two temperatures, curves with different plastic strains
J2_CURVES = [[0.0, 300.0, 20.0], [0.001, 340.0, 20.0], [0.004, 380.0, 20.0],
             [0.02, 420.0, 20.0],
             [0.0, 150.0, 1000.0], [0.002, 180.0, 1000.0], [0.01, 200.0, 1000.0]]

LAWS = {
    "elastic": lambda: ThermoElastic([[20, 2e5], [1000, 1.2e5]], [[20, 0.3], [1000, 0.33]],
                                     [[20, 1e-5], [1000, 2e-5]]),
    "j2": lambda: J2Plasticity([[20, 2e5], [1000, 1.2e5]], 0.3, R0=[[20, 300], [1000, 150]],
                               H=[[20, 5e3], [1000, 2e3]], Hk=[[20, 2e4], [1000, 1e4]],
                               alpha=1e-5),
    # tabulated hardening, a curve per temperature (different plastic strains), with
    # kinematic hardening; and a short curve that most points pass (perfectly plastic
    # beyond its last point)
    "j2_table": lambda: J2Plasticity([[20, 2e5], [1000, 1.2e5]], 0.3, Hk=[[20, 2e4], [1000, 1e4]],
                                     hardening=J2_CURVES, alpha=1e-5),
    "j2_table_short": lambda: J2Plasticity(2e5, 0.3, hardening=[[0.0, 200.0], [2e-4, 220.0]]),
    "norton": lambda: NortonCreep([[20, 2e5], [1000, 1.2e5]], 0.3, K=[[20, 400], [1000, 200]],
                                  n=[[20, 6.0], [1000, 4.0]], alpha=1e-5),
    "chaboche": lambda: Chaboche(**{**REFERENCE, "K": [[20, 300], [1000, 150]],
                                    "R0": [[20, 10], [1000, 5]]}),
}


def _states(law, rng, n_points, T, dt, level):
    """Random strains at ``level`` (elastic ~1e-4, inelastic ~5e-3) after a preload step
    that leaves non-zero internal variables."""
    state = law.initial_state(n_points)
    pre = rng.normal(scale=level, size=(n_points, 6))
    _, _, state, ok = law.update(pre, state, T, dt)
    assert ok.all()
    return pre + rng.normal(scale=0.3 * level, size=(n_points, 6)), state


@pytest.mark.parametrize("name", list(LAWS))
@pytest.mark.parametrize("level", [1e-5, 5e-3])
def test_consistent_tangent_matches_finite_differences(name, level):
    law = LAWS[name]()
    rng = np.random.default_rng(4)
    n_points = 12
    T = np.repeat([20.0, 400.0, 900.0], 4)
    dt = 0.05
    eps, state = _states(law, rng, n_points, T, dt, level)
    sigma, C, _, ok = law.update(eps, state, T, dt)
    assert ok.all()
    h = 1e-7 * max(level, 1e-3)
    fd = np.empty_like(C)
    for j in range(6):
        e = np.zeros(6)
        e[j] = h
        sp, _, _, _ = law.update(eps + e, state, T, dt)
        sm, _, _, _ = law.update(eps - e, state, T, dt)
        fd[:, :, j] = (sp - sm) / (2 * h)
    scale = np.abs(C).max(axis=(1, 2))[:, None, None]
    assert np.all(np.abs(fd - C) <= 1e-6 * scale), np.abs(fd - C).max() / scale.min()
    if name != "elastic" and level > 1e-3:  # inelastic points really were inelastic
        assert np.any(np.abs(C - law.stiffness(T)).max(axis=(1, 2)) > 1e-3 * scale[:, 0, 0])


@pytest.mark.parametrize("name", list(LAWS))
def test_laws_are_pure_functions(name):
    law = LAWS[name]()
    rng = np.random.default_rng(5)
    eps, state = _states(law, rng, 5, np.full(5, 300.0), 0.1, 5e-3)
    copy = {k: v.copy() for k, v in state.items()}
    law.update(eps * 2, state, np.full(5, 300.0), 0.1)
    for k in state:
        assert np.array_equal(state[k], copy[k])


@pytest.mark.parametrize("name", list(LAWS))
@pytest.mark.parametrize("level", [1e-5, 5e-3])
def test_deferred_tangent_is_the_tangent(name, level):
    """``tangent=False``: the same stress and state, and a function that returns the
    tangent ``tangent=True`` gives (a function of the update's own arrays: the result
    does not change when the inputs are overwritten after the update)."""
    law = LAWS[name]()
    rng = np.random.default_rng(6)
    T = np.repeat([20.0, 400.0, 900.0], 4)
    eps, state = _states(law, rng, 12, T, 0.05, level)
    sigma, C, new, ok = law.update(eps, state, T, 0.05)
    sigma2, later, new2, ok2 = law.update(eps, state, T, 0.05, tangent=False)
    assert callable(later) and not callable(C)
    eps[:] = np.nan
    T[:] = np.nan
    for v in state.values():
        v[:] = np.nan
    np.testing.assert_array_equal(later(), C)
    np.testing.assert_array_equal(sigma2, sigma)
    np.testing.assert_array_equal(ok2, ok)
    for k in new:
        np.testing.assert_array_equal(new2[k], new[k])


def test_chaboche_local_problem_is_that_of_the_formed_stress_difference():
    """The local Newton iterates on the scalar products ``s:s, X:s, X:X`` (``eta = a s -
    X`` never formed): at the solution, the flow rule ``J(sigma - X) = R0 + K (dp /
    dt)^(1/n)`` holds with ``sigma`` and ``X`` formed from the returned state, to
    round-off, at points with a large back stress (``J(X)`` several times ``R0``), and
    without threshold at points where ``J(sigma - X)`` is 1e-5 of ``J(X)``."""
    law = Chaboche(**REFERENCE)
    rng = np.random.default_rng(7)
    n_points, dt = 200, 0.05
    T = np.full(n_points, 300.0)
    state = law.initial_state(n_points)
    direction = rng.normal(size=(n_points, 6))
    for k in range(6):  # cyclic straining: the back stress saturates (C / D = 100 MPa)
        eps = (0.01 if k % 2 == 0 else -0.002) * direction
        _, _, state, ok = law.update(eps, state, T, dt)
    from rom.materials.inelastic import deviator, equivalent

    X_old = state["X"]
    assert np.median(equivalent(X_old)) > 5 * REFERENCE["R0"]
    eps = 0.012 * direction + 1e-3 * rng.normal(size=(n_points, 6))
    sigma, _, new, ok = law.update(eps, state, T, dt)
    assert ok.all()
    dp = new["p"] - state["p"]
    flowing = dp > 0
    assert flowing.sum() > n_points / 2
    J = equivalent(deviator(sigma) - new["X"])[flowing]
    rule = REFERENCE["R0"] + REFERENCE["K"] * (dp[flowing] / dt) ** (1 / REFERENCE["n"])
    np.testing.assert_allclose(J, rule, rtol=1e-10)
    # no threshold and a trial stress within 1e-5 of a back stress of 400 MPa: J(sigma -
    # X) is 1e-5 of J(X), where a J formed from s:s, X:s, X:X would lose 4e-13 of J(X)
    # to cancellation (and the local Newton its convergence at 1e-13)
    law = Chaboche(E, NU, R0=0.0, K=100.0, n=1.0, C=5e4, D=100.0)
    X = deviator(rng.normal(size=(n_points, 6)))
    X *= (400.0 / equivalent(X))[:, None]
    mu = E / (2 * (1 + NU))
    state = {"eps_vp": np.zeros((n_points, 6)), "X": X, "p": np.zeros(n_points)}
    T = np.full(n_points, 20.0)
    sigma, _, new, ok = law.update(X * (1 + 1e-5) / (2 * mu), state, T, dt)
    assert ok.all()
    dp = new["p"]
    J = equivalent(deviator(sigma) - new["X"])
    np.testing.assert_allclose(J, 100.0 * dp / dt, rtol=1e-8)


# --- tabulated isotropic hardening (J2, *PLASTIC) ---------------------------------------

CURVE = [[0.0, 250.0], [0.002, 300.0], [0.01, 330.0], [0.05, 360.0]]  # [p, R] rows


def test_j2_tabulated_hardening_follows_the_table_in_uniaxial_tension():
    """Monotonic uniaxial tension (strain control): in the plastic range sigma = R(p)
    with p = eps - sigma / E (uniaxial stress), the table's piecewise-linear curve, at
    every step; the strains that end exactly on the table's points (eps_k = R_k / E +
    p_k) give its stress and plastic strain; beyond the last point the stress stays
    at the last value (perfect plasticity)."""
    law = J2Plasticity(E, NU, hardening=CURVE)
    p_tab, R_tab = np.array(CURVE).T
    on_points = R_tab / E + p_tab
    path = np.unique(np.concatenate([np.linspace(0.0, 0.08, 81), on_points]))
    r = uniaxial(law, np.arange(len(path), dtype=float), strain=path)
    sig, p = r["sigma"][:, 0], r["p"]
    plastic = path > R_tab[0] / E
    assert plastic.sum() > 75 and p[-1] > 0.05  # the whole table and beyond it
    np.testing.assert_array_equal(p[~plastic], 0.0)
    np.testing.assert_allclose(sig[~plastic], E * path[~plastic], rtol=1e-12)
    # measured: sigma - R(p) 6.3e-13 MPa, p - (eps - sigma/E) 7e-18, lateral stresses 6e-13;
    # on the table points: sigma 2.3e-13 MPa, p 3.5e-18
    np.testing.assert_allclose(sig[plastic], np.interp(p[plastic], p_tab, R_tab), rtol=0,
                               atol=1e-9)
    np.testing.assert_allclose(p, path - sig / E, rtol=0, atol=1e-15)
    np.testing.assert_allclose(r["sigma"][:, 1:], 0.0, rtol=0, atol=1e-8)
    at = np.searchsorted(path, on_points)
    np.testing.assert_allclose(sig[at], R_tab, rtol=0, atol=1e-9)
    np.testing.assert_allclose(p[at], p_tab, rtol=0, atol=1e-15)
    beyond = p > p_tab[-1]
    assert beyond.sum() > 10
    np.testing.assert_allclose(sig[beyond], R_tab[-1], rtol=0, atol=1e-9)


def test_j2_tabulated_hardening_reverse_yield_and_temperature_interpolation():
    """Reverse loading after tension to p1: elastic until sigma = -R(p1) (isotropic
    hardening), then the curve again from p1. At a temperature between two curves R is
    their average at the same p (linear in T), outside them the nearest curve."""
    law = J2Plasticity(E, NU, hardening=CURVE)
    e1 = 0.006
    path = np.concatenate([np.linspace(0.0, e1, 61), np.linspace(e1, -e1, 241)[1:]])
    r = uniaxial(law, np.arange(len(path), dtype=float), strain=path)
    p_tab, R_tab = np.array(CURVE).T
    k1 = 60
    p1, s1 = r["p"][k1], r["sigma"][k1, 0]
    assert abs(s1 - np.interp(p1, p_tab, R_tab)) < 1e-9
    back = np.arange(len(path)) > k1
    flow = back & (np.diff(r["p"], prepend=0.0) > 0)
    first = np.flatnonzero(flow)[0]
    elastic = back & (np.arange(len(path)) < first)
    np.testing.assert_allclose(r["sigma"][elastic, 0], s1 - E * (e1 - path[elastic]),
                               rtol=0, atol=1e-9)
    R1 = np.interp(p1, p_tab, R_tab)
    assert r["sigma"][first - 1, 0] > -R1 and r["sigma"][first, 0] < -R1 + 1e-9
    s = r["sigma"][first:, 0]
    np.testing.assert_allclose(-s, np.interp(r["p"][first:], p_tab, R_tab), rtol=0, atol=1e-9)

    hot = [[0.0, 150.0], [0.004, 170.0], [0.03, 180.0]]  # other plastic strains
    rows = [row + [20.0] for row in CURVE] + [row + [520.0] for row in hot]
    law = J2Plasticity([[20.0, E], [520.0, 0.8 * E]], NU, hardening=rows)
    p_h, R_h = np.array(hot).T
    path = np.linspace(0.0, 0.06, 121)
    for T, expected in ((270.0, lambda p: 0.5 * (np.interp(p, p_tab, R_tab)
                                                  + np.interp(p, p_h, R_h))),
                        (900.0, lambda p: np.interp(p, p_h, R_h)),
                        (-50.0, lambda p: np.interp(p, p_tab, R_tab))):
        r = uniaxial(law, np.arange(len(path), dtype=float), strain=path, T=T)
        pl = r["p"] > 0
        assert pl.sum() > 100
        np.testing.assert_allclose(r["sigma"][pl, 0], expected(r["p"][pl]), rtol=0,
                                   atol=1e-9, err_msg=f"T = {T}")


@pytest.mark.parametrize("Hk", [0.0, 15000.0])
def test_j2_linear_hardening_as_a_two_point_table(Hk):
    """``[[0, R0], [1, R0 + H]]`` is the linear hardening R0 + H p (up to p = 1): the
    same stresses along a tension-compression cycle, with or without kinematic
    hardening, to round-off."""
    R0, H = 250.0, 10000.0
    lin = J2Plasticity(E, NU, R0=R0, H=H, Hk=Hk)
    tab = J2Plasticity(E, NU, hardening=[[0.0, R0], [1.0, R0 + H]], Hk=Hk)
    eps, sig_lin = _reverse_loading(lin)
    _, sig_tab = _reverse_loading(tab)
    assert np.abs(sig_lin).max() > 1.2 * R0
    np.testing.assert_allclose(sig_tab, sig_lin, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kw, message", [
    ({"hardening": [[0.001, 250.0], [0.01, 300.0]]}, "first row must be at p = 0"),
    ({"hardening": [[0.0, 250.0], [0.01, 300.0], [0.005, 320.0]]}, "must increase"),
    ({"hardening": [[0.0, 250.0], [0.01, 240.0]]}, "R decreases at p = 0.01"),
    ({"hardening": [[0.0, 0.0], [0.01, 240.0]]}, "initial yield stress 0 must be positive"),
    ({"hardening": [[0.0, 250.0, 500.0], [0.0, 260.0, 20.0]]}, "temperatures .* increase"),
    ({"hardening": [[0.0, 250.0, 20.0], [0.01, 300.0, 20.0], [0.02, 200.0, 20.0]]},
     r"at T = 20: R decreases"),
    ({"hardening": [250.0, 300.0]}, r"list of \[p, R\] rows"),
    ({"hardening": [[0.0, True]]}, r"list of \[p, R\] rows"),
    ({"hardening": [[0.0, 250.0], [0.01]]}, r"list of \[p, R\] rows"),
    ({"hardening": [[0.0, 250.0]], "R0": 250.0}, "not both"),
    ({"hardening": [[0.0, 250.0]], "H": 1000.0}, "not both"),
    ({}, "needs 'R0'"),
])
def test_j2_hardening_table_errors(kw, message):
    from rom import RomError
    from rom.materials import make_law

    with pytest.raises(RomError, match=message):
        make_law("j2", {"E": E, "nu": NU, **kw})


def test_j2_hardening_in_a_case_file(tmp_path):
    """The case-file form: a [p, R] table; a bad one is named with its section."""
    from rom import RomError
    from rom.case import parse_case

    text = ('[mesh]\nfile = "m.msh"\n[material]\nlaw = "j2"\nE = 2e5\nnu = 0.3\n'
            "hardening = [[0.0, 250.0], [0.01, 300.0], [0.05, 330.0]]\n")
    case = parse_case(text, str(tmp_path / "c.toml"))
    assert case.material_params()["hardening"][2] == [0.05, 330.0]
    with pytest.raises(RomError, match=r"c.toml: 'hardening': R decreases .* in \[material\]"):
        parse_case(text.replace("330.0", "290.0"), str(tmp_path / "c.toml"))
