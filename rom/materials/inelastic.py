"""Inelastic laws with backward-Euler integration and exact consistent tangents.

All laws are isotropic thermoelastic (``E, nu, alpha, T_ref`` tables) plus an inelastic
strain ``eps_vp`` (Mandel, deviatoric) and the cumulated inelastic strain ``p``:

``J2Plasticity``
    rate independent von Mises plasticity, yield ``J(s - X) = R(p)``: linear isotropic
    hardening ``R = R0 + H p`` or a tabulated curve ``R(p[, T])``
    (:class:`rom.materials.tables.HardeningTable`, Abaqus/CalculiX ``*PLASTIC``), linear
    kinematic hardening ``dX = 2/3 Hk deps_vp``.
``NortonCreep``
    ``dp/dt = (J(sigma) / K)^n``, ``deps_vp = dp 3/2 dev(sigma) / J(sigma)``.
``Chaboche``
    viscoplastic, ``f = J(sigma - X) - R0``, ``dp/dt = <f / K>^n``,
    ``deps_vp = dp 3/2 dev(sigma - X) / J(sigma - X)``,
    ``dX = 2/3 C deps_vp - D X dp`` (Armstrong-Frederick).

with ``J(a) = sqrt(3/2 dev(a) : dev(a))``. Every update solves its local problem for
all points at once (a scalar equation per point after the radial-return reduction, by
a safeguarded Newton iteration on a bracket), never a loop over points; points where
it fails get ``ok = False``. Parameters are evaluated at the end-of-step temperature;
the elastic law is in total form ``sigma = C(T) : (eps - eps_th(T) - eps_vp)``.
"""

import numpy as np

from rom import RomError
from rom.fem.kernels import IDENTITY_MANDEL
from rom.materials.elastic import ThermoElastic, _deferred
from rom.materials.tables import HardeningTable, Table

__all__ = ["J2Plasticity", "NortonCreep", "Chaboche", "deviator", "equivalent"]

_KDEV = np.eye(6) - np.outer(IDENTITY_MANDEL, IDENTITY_MANDEL) / 3.0
# a rate-independent point flows when J - R exceeds the round-off of the trial stress:
# a strain that ends exactly on the yield surface stays elastic whatever the order of
# the trial stress's operations
YIELD_RTOL = 1e-12


def deviator(a):
    """Deviatoric part of Mandel vectors ``(..., 6)``."""
    return a - (a[..., 0] + a[..., 1] + a[..., 2])[..., None] / 3.0 * IDENTITY_MANDEL


def equivalent(a):
    """Von Mises equivalent ``J(a)`` of Mandel vectors ``(..., 6)``."""
    d = deviator(a)
    return np.sqrt(1.5 * np.einsum("...i,...i->...", d, d))


def _outer(a, b):
    return a[:, :, None] * b[:, None, :]


def _radial_tangent(C_el, mu, beta, dp, J_tr, nhat):
    """Consistent tangent of a radial return.

    ``C = C_el - 6 mu^2 beta N - 6 mu^2 dp / J_tr (K - N)`` with ``N = nhat x nhat``,
    ``beta = d(dp)/d(J_tr)``: the stress is ``sigma_tr - 2 mu dp n`` with
    ``n = sqrt(3/2) nhat`` and ``nhat`` the unit direction of the trial deviator.
    """
    N = _outer(nhat, nhat)
    m2 = 6.0 * mu ** 2
    ratio = np.divide(dp, J_tr, out=np.zeros_like(dp), where=J_tr > 0)
    return C_el - (m2 * beta)[:, None, None] * N - (m2 * ratio)[:, None, None] * (_KDEV - N)


def _equivalent_dev(d):
    """``J(d)`` of deviatoric Mandel vectors ``d (n, 6)`` (no projection)."""
    return np.sqrt(1.5 * np.einsum("ni,ni->n", d, d))


def _unit(a):
    norm = np.sqrt(np.einsum("ni,ni->n", a, a))
    return np.divide(a, norm[:, None], out=np.zeros_like(a), where=norm[:, None] > 0), norm


def _bracketed_newton(fun, lo, hi, x0, tol, max_iter=100):
    """Roots of decreasing scalar functions, batched: ``fun(x) -> (f, df)``.

    ``f(lo) >= 0 >= f(hi)``; Newton steps that leave the bracket are replaced by
    bisection. Returns ``(x, converged)``.
    """
    x = x0.copy()
    lo, hi = lo.copy(), hi.copy()
    done = np.zeros(len(x), dtype=bool)
    for _ in range(max_iter):
        f, df = fun(x)
        conv = np.abs(f) <= tol
        done |= conv
        if done.all():
            break
        pos = f > 0
        lo = np.where(pos, x, lo)
        hi = np.where(pos, hi, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = x - f / df
        bad = ~np.isfinite(xn) | (xn <= lo) | (xn >= hi)
        xn = np.where(bad, 0.5 * (lo + hi), xn)
        x = np.where(done, x, xn)
    f, _ = fun(x)
    return x, np.abs(f) <= tol * 10


class _Inelastic(ThermoElastic):
    """Shared thermoelastic part: parameters, trial state, result packing."""

    state_shapes = {"eps_vp": (6,), "p": ()}

    def initial_state(self, n):
        return {k: np.zeros((n,) + s) for k, s in self.state_shapes.items()}

    def _trial(self, eps, state_old, T):
        """``(T, mu, sig_tr)``: the elastic trial stress ``2 mu e + lambda tr(e) I`` of
        ``e = eps - eps_th - eps_vp_old`` (the isotropic stiffness applied without
        forming it; :meth:`stiffness` gives it for the tangents)."""
        assert eps.ndim == 2 and eps.shape[1] == 6, eps.shape
        # a copy: the deferred tangents use it after the caller's array may have changed
        T = np.array(np.broadcast_to(np.asarray(T, dtype=float), (len(eps),)))
        E, nu = self.E(T), self.nu(T)
        mu = E / (2.0 * (1.0 + nu))
        lam = E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu))
        e = eps - self.thermal_strain(T) - state_old["eps_vp"]
        sig_tr = (2.0 * mu)[:, None] * e
        sig_tr += (lam * (e[:, 0] + e[:, 1] + e[:, 2]))[:, None] * IDENTITY_MANDEL
        return T, mu, sig_tr


class J2Plasticity(_Inelastic):
    """Rate-independent J2 plasticity: isotropic hardening ``R(p)``, linear
    (``R0 + H p``) or tabulated (``hardening``), and linear kinematic hardening
    (``Hk``: ``dX = 2/3 Hk deps_vp``).

    Radial return: with ``xi = dev(sigma_tr) - X_old``, ``J_tr = J(xi)`` and ``A = 3 mu
    + Hk``, a point flows when ``f = J_tr - R(p_n) > YIELD_RTOL R(p_n)`` (round-off of
    the trial stress), and ``dp`` solves the scalar
    equation ``g(dp) = J_tr - A dp - R(p_n + dp) = 0``. Linear hardening: ``dp = f /
    (A + H)``. Tabulated hardening: ``R`` is piecewise linear in ``p`` (at the point's
    temperature) and ``g`` is piecewise linear and strictly decreasing, so the equation
    is solved exactly, segment by segment: the root lies in the first segment ``[p_k-1,
    p_k]`` of the table (``p_k > p_n``) where ``g(p_k - p_n) <= 0``, where ``R = R_k-1 +
    h (p - p_k-1)`` with the segment's slope ``h``, hence ``dp = (J_tr - R_k-1 - h (p_n -
    p_k-1)) / (A + h)``; beyond the last point ``h = 0``. A loop over the table's
    points, vectorized over the flowing points (no iteration, no tolerance). The
    consistent tangent is that of the linear case with the local slope ``h`` for ``H``
    (``d(dp)/dJ_tr = 1 / (A + h)``; at a root exactly on a table point, the slope of
    the segment below it).

    Parameters
    ----------
    E, nu, alpha, T_ref : as :class:`rom.materials.ThermoElastic`
    R0, H : initial yield stress (> 0) and linear isotropic hardening modulus (>= 0),
        numbers or ``[T, value]`` tables
    Hk : linear kinematic hardening modulus (>= 0)
    hardening : rows ``[p, R]`` or ``[p, R, T]`` (:class:`HardeningTable`), instead
        of ``R0`` and ``H``
    """

    name = "j2"
    state_shapes = {"eps_vp": (6,), "X": (6,), "p": ()}
    symmetric_tangent = True

    def __init__(self, E, nu, R0=None, H=None, Hk=0.0, alpha=0.0, T_ref=20.0,
                 hardening=None):
        super().__init__(E, nu, alpha, T_ref)
        self.Hk = Table(Hk, "Hk", low=0.0, low_closed=True)
        if hardening is None:
            if R0 is None:
                raise RomError("law 'j2' needs 'R0' (with 'H': linear hardening R0 + H p) "
                               "or 'hardening' (a table of [p, R] rows)")
            self.R0 = Table(R0, "R0", low=0.0)
            self.H = Table(0.0 if H is None else H, "H", low=0.0, low_closed=True)
            self.hardening = None
        else:
            if R0 is not None or H is not None:
                raise RomError("law 'j2': give 'hardening' (the tabulated curve) or 'R0' "
                               "and 'H' (linear hardening), not both")
            self.hardening = HardeningTable(hardening, "hardening")
            self.R0 = self.H = None

    def update(self, eps, state_old, T, dt, tangent=True):
        T, mu, sig_tr = self._trial(eps, state_old, T)
        Hk = self.Hk(T)
        xi = deviator(sig_tr) - state_old["X"]
        nhat, norm = _unit(xi)
        J_tr = np.sqrt(1.5) * norm
        if self.hardening is None:
            H = self.H(T)
            R = self.R0(T) + H * state_old["p"]
            f = J_tr - R
            plastic = f > YIELD_RTOL * R
            beta = np.where(plastic, 1.0 / (3.0 * mu + H + Hk), 0.0)
            dp = np.where(plastic, f, 0.0) * beta
        else:
            dp, h, plastic = self._tabulated_return(J_tr, state_old["p"], 3.0 * mu + Hk, T)
            beta = np.where(plastic, 1.0 / (3.0 * mu + h + Hk), 0.0)
        n = np.sqrt(1.5) * nhat
        sigma = sig_tr - (2.0 * mu * dp)[:, None] * n
        state = {"eps_vp": state_old["eps_vp"] + dp[:, None] * n,
                 "X": state_old["X"] + (2.0 / 3.0 * Hk * dp)[:, None] * n,
                 "p": state_old["p"] + dp}
        C = _deferred(tangent, lambda: _radial_tangent(self.stiffness(T), mu, beta, dp, J_tr,
                                                       nhat))
        return sigma, C, state, np.isfinite(sigma).all(axis=1)

    def _tabulated_return(self, J_tr, p_n, A, T):
        """``(dp, h, plastic)`` ``(n,)`` of the radial return with the tabulated ``R``
        (class docstring): the increment, the slope of ``R`` at ``p_n + dp`` and where
        the points flow. Only the flowing points enter the loop over the table."""
        tab = self.hardening
        w = tab.weights(T)
        R = tab(p_n, T, w)
        plastic = J_tr - R > YIELD_RTOL * R
        dp, h = np.zeros_like(J_tr), np.zeros_like(J_tr)
        ia = np.flatnonzero(plastic)
        if ia.size == 0:
            return dp, h, plastic
        J, p, a = J_tr[ia], p_n[ia], A[ia]
        w = [wi[ia] for wi in w]
        dp_a, h_a = np.zeros(ia.size), np.zeros(ia.size)
        todo = np.ones(ia.size, dtype=bool)
        R_lo = tab.at_point(0, w)
        for k in range(1, len(tab.p)):
            p_lo, p_hi = tab.p[k - 1], tab.p[k]
            R_hi = tab.at_point(k, w)
            hit = todo & (p_hi > p) & (J - a * (p_hi - p) - R_hi <= 0)
            if hit.any():
                slope = (R_hi[hit] - R_lo[hit]) / (p_hi - p_lo)
                dp_a[hit] = (J[hit] - R_lo[hit] - slope * (p[hit] - p_lo)) / (a[hit] + slope)
                h_a[hit] = slope
                todo &= ~hit
                if not todo.any():
                    break
            R_lo = R_hi
        else:  # beyond the last point: R constant
            dp_a[todo] = (J[todo] - R_lo[todo]) / a[todo]
        dp[ia], h[ia] = dp_a, h_a
        return dp, h, plastic


class NortonCreep(_Inelastic):
    """Norton creep ``dp/dt = (J(sigma)/K)^n`` (no threshold).

    Backward Euler reduces to one equation per point in ``u = log(dp)``:
    ``u = log(dt) + n log((J_tr - 3 mu e^u) / K)``, solved by bracketed Newton
    (the explicit estimate ``dt (J_tr/K)^n`` bounds ``dp`` from above; the log
    variable keeps full relative precision for tiny increments).
    """

    name = "norton"
    symmetric_tangent = True

    def __init__(self, E, nu, K, n, alpha=0.0, T_ref=20.0):
        super().__init__(E, nu, alpha, T_ref)
        self.K, self.n = Table(K, "K", low=0.0), Table(n, "n", low=0.0)

    def update(self, eps, state_old, T, dt, tangent=True):
        T, mu, sig_tr = self._trial(eps, state_old, T)
        K, n = self.K(T), self.n(T)
        nhat, norm = _unit(deviator(sig_tr))
        J_tr = np.sqrt(1.5) * norm
        active = (J_tr > 0) & (dt > 0)
        Ja = np.where(active, J_tr, K)
        log_dt = np.log(dt) if dt > 0 else 0.0
        u_cap = np.log(Ja / (3 * mu))  # dp < J_tr / (3 mu)
        hi = np.minimum(log_dt + n * np.log(Ja / K), u_cap)

        def fun(u):  # decreasing in u
            g = np.maximum(Ja - 3 * mu * np.exp(u), 1e-300 * Ja)
            phi = u - log_dt - n * np.log(g / K)
            return -phi, -(1.0 + 3 * mu * n * np.exp(u) / g)

        u, conv = _bracketed_newton(fun, hi - 60.0, hi, hi - 1e-3, tol=1e-12)
        dp = np.where(active, np.exp(u), 0.0)
        x = J_tr - 3 * mu * dp  # J(sigma_new)
        den = x + 3 * mu * n * dp
        beta = np.divide(n * dp, den, out=np.zeros_like(dp), where=active & (den > 0))
        n_dir = np.sqrt(1.5) * nhat
        sigma = sig_tr - (2.0 * mu * dp)[:, None] * n_dir
        state = {"eps_vp": state_old["eps_vp"] + dp[:, None] * n_dir, "p": state_old["p"] + dp}
        C = _deferred(tangent, lambda: _radial_tangent(self.stiffness(T), mu, beta, dp, J_tr,
                                                       nhat))
        ok = (conv | ~active) & np.isfinite(sigma).all(axis=1)
        return sigma, C, state, ok


class Chaboche(_Inelastic):
    """Elastoviscoplastic law of DESIGN section 2 (Norton flow with threshold ``R0``,
    Armstrong-Frederick kinematic hardening ``C``, ``D``).

    Backward Euler: with ``eta = (1 + D dp) s_tr - X_old``, the direction is
    ``n = 3/2 eta / J(eta)`` and ``J(sigma - X) = (J(eta) - (3 mu (1 + D dp) + C) dp) /
    (1 + D dp)``; the flow rule gives one equation per point in ``z = (dp/dt)^(1/n)``:
    ``J(sigma - X)(dp) - R0 - K z = 0``, solved by bracketed Newton on
    ``[0, z_max]`` (``3 mu dp <= J(s_tr) + J(X_old) - R0`` bounds it). The consistent
    tangent follows by implicit differentiation (it is not symmetric).
    """

    name = "chaboche"
    state_shapes = {"eps_vp": (6,), "X": (6,), "p": ()}
    symmetric_tangent = False
    TANGENT_BLOCK = 16384  # points per block of the tangent's (n, 6, 6) temporaries

    def __init__(self, E, nu, R0, K, n, C, D, alpha=0.0, T_ref=20.0):
        super().__init__(E, nu, alpha, T_ref)
        self.R0 = Table(R0, "R0", low=0.0, low_closed=True)
        self.K, self.n = Table(K, "K", low=0.0), Table(n, "n", low=0.0)
        self.C = Table(C, "C", low=0.0, low_closed=True)
        self.D = Table(D, "D", low=0.0, low_closed=True)

    @staticmethod
    def _local(z, dt, n, mu, products, C, D):
        """``(dp, a, J_xi, dJ_xi/ddp)`` at ``z``, from the scalar products
        ``(d:d, d:s, s:s)`` of ``d = s - X_old`` and the trial deviator ``s``: with
        ``b = D dp``, ``a = 1 + b``, ``eta = a s - X_old = d + b s`` is never formed
        (``J_eta^2 = 3/2 (d:d + 2 b d:s + b^2 s:s)``, ``eta:s = d:s + b s:s``; in ``d``,
        not in ``s`` and ``X`` separately, so that no cancellation occurs when ``eta`` is
        small against them), and the local Newton iterations cost a few scalar
        operations per point."""
        dd, ds, ss = products
        dp = dt * z ** n
        b = D * dp
        a = 1.0 + b
        J_eta = np.sqrt(np.maximum(1.5 * (dd + b * (2.0 * ds + b * ss)), 0.0))
        A = J_eta - (3 * mu * a + C) * dp
        J_xi = A / a
        # d J_eta / d dp = D n_eta : s, n_eta = 3/2 eta / J_eta
        dA = (D * 1.5 * (ds + b * ss) / np.where(J_eta > 0, J_eta, 1.0)
              - (3 * mu * D * dp + 3 * mu * a + C))
        dJ_xi = (dA * a - D * A) / a ** 2
        return dp, a, J_xi, dJ_xi

    def update(self, eps, state_old, T, dt, tangent=True):
        T, mu, sig_tr = self._trial(eps, state_old, T)
        R0, K, n, C, D = self.R0(T), self.K(T), self.n(T), self.C(T), self.D(T)
        s_tr = deviator(sig_tr)
        X_old = state_old["X"]
        f_tr = equivalent(s_tr - X_old) - R0
        active = (f_tr > 0) & (dt > 0)
        ia = np.flatnonzero(active)
        sigma = sig_tr.copy()
        state = {k: v.copy() for k, v in state_old.items()}
        ok = np.isfinite(sig_tr).all(axis=1)
        flow = None
        if ia.size:
            mu_, n_, C_, D_, K_, R0_ = (v[ia] for v in (mu, n, C, D, K, R0))
            # X is deviatoric; projected once here, so that every J below is a norm
            s_, X_ = s_tr[ia], deviator(X_old[ia])
            d_ = s_ - X_
            products = tuple(np.einsum("ni,ni->n", x, y) for x, y in
                             ((d_, d_), (d_, s_), (s_, s_)))

            def fun(z):
                _, _, J_xi, dJ = self._local(z, dt, n_, mu_, products, C_, D_)
                ddp_dz = n_ * dt * z ** (n_ - 1)
                return J_xi - R0_ - K_ * z, dJ * ddp_dz - K_

            # at the root J(sigma - X) = R0 + K z >= R0 and J(sigma - X) <= J(s_tr) + J(X_old)
            # - 3 mu dp, which bounds dp (and z) from above
            J_X = _equivalent_dev(X_)
            bound = np.sqrt(1.5 * products[2]) + J_X
            dp_max = np.maximum(bound - R0_, 0.0) / (3 * mu_)
            z_max = np.minimum((dp_max / dt) ** (1.0 / n_), bound / K_)
            z0 = np.minimum(f_tr[ia] / K_, z_max)
            scale = R0_ + f_tr[ia] + J_X
            z, conv = _bracketed_newton(lambda z: tuple(v / scale for v in fun(z)),
                                        np.zeros_like(z0), z_max, z0, tol=1e-13)
            dp, a, _, dJ = self._local(z, dt, n_, mu_, products, C_, D_)
            eta = a[:, None] * s_ - X_
            J_eta = _equivalent_dev(eta)
            ndir = 1.5 * eta / J_eta[:, None]
            sigma[ia] = sig_tr[ia] - (2 * mu_ * dp)[:, None] * ndir
            X_new = (X_ + (2.0 / 3.0 * C_ * dp)[:, None] * ndir) / a[:, None]
            state["X"][ia] = X_new
            state["eps_vp"][ia] = state_old["eps_vp"][ia] + dp[:, None] * ndir
            state["p"][ia] = state_old["p"][ia] + dp
            ok[ia] &= conv & np.isfinite(sigma[ia]).all(axis=1)
            flow = (z, dp, a, ndir, J_eta, dJ, mu_, n_, K_, D_, s_)

        def tangent_of():
            Ct = self.stiffness(T)
            if flow is None:  # (constant moduli: one matrix, broadcast, as elastic)
                return Ct
            if not Ct.flags.writeable:
                Ct = Ct.copy()
            z, dp, a, ndir, J_eta, dJ, mu_, n_, K_, D_, s_ = flow
            # tangent: r(eps, z) = J_xi - R0 - K z = 0
            ddp_dz = n_ * dt * z ** (n_ - 1)
            dr_dz = dJ * ddp_dz - K_
            g = (-(2 * mu_ / dr_dz) * ddp_dz)[:, None] * ndir  # d(dp)/d(eps)
            v = s_ - (2.0 / 3.0) * np.einsum("ni,ni->n", ndir, s_)[:, None] * ndir
            # (n, 6, 6) temporaries by blocks of points (the memory of a few blocks)
            for b in range(0, len(ia), self.TANGENT_BLOCK):
                j = slice(b, b + self.TANGENT_BLOCK)
                P = _KDEV - (2.0 / 3.0) * _outer(ndir[j], ndir[j])
                dn = (1.5 / J_eta[j])[:, None, None] * (
                    (2 * mu_[j] * a[j])[:, None, None] * P
                    + D_[j][:, None, None] * _outer(v[j], g[j]))
                Ct[ia[j]] -= (2 * mu_[j])[:, None, None] * (
                    _outer(ndir[j], g[j]) + dp[j][:, None, None] * dn)
            return Ct

        return sigma, _deferred(tangent, tangent_of), state, ok
