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


LAWS = {
    "elastic": lambda: ThermoElastic([[20, 2e5], [1000, 1.2e5]], [[20, 0.3], [1000, 0.33]],
                                     [[20, 1e-5], [1000, 2e-5]]),
    "j2": lambda: J2Plasticity([[20, 2e5], [1000, 1.2e5]], 0.3, R0=[[20, 300], [1000, 150]],
                               H=[[20, 5e3], [1000, 2e3]], Hk=[[20, 2e4], [1000, 1e4]],
                               alpha=1e-5),
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
