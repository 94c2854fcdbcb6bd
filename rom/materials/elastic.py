"""Isotropic thermoelasticity with temperature-dependent E, nu, alpha."""

import numpy as np

from rom import RomError
from rom.fem.kernels import IDENTITY_MANDEL
from rom.materials.tables import Table

__all__ = ["ThermoElastic", "isotropic_stiffness"]

_J = np.outer(IDENTITY_MANDEL, IDENTITY_MANDEL) / 3.0  # volumetric projector (Mandel)
_K = np.eye(6) - _J  # deviatoric projector


def isotropic_stiffness(E, nu):
    """Mandel stiffness ``(n, 6, 6)`` for arrays ``E, nu (n,)``: ``3k J + 2mu K``."""
    E = np.asarray(E, dtype=float)
    nu = np.asarray(nu, dtype=float)
    k = E / (3.0 * (1.0 - 2.0 * nu))
    mu = E / (2.0 * (1.0 + nu))
    C = (2.0 * mu)[..., None, None] * _K
    C[..., :3, :3] += k[..., None, None]  # 3k J: k on the normal block
    return C


def _deferred(tangent, compute):
    """A law's tangent: ``compute()`` now, or with ``tangent=False`` the function
    ``compute`` itself, to be called if the tangent is needed (its inputs are the
    update's arrays: nothing is recomputed)."""
    return compute() if tangent else compute


class ThermoElastic:
    """``sigma = C(T) : (eps - alpha(T) (T - T_ref) I)``.

    ``alpha`` is the secant expansion coefficient from ``T_ref``. No internal
    variable; the law never fails.

    Parameters
    ----------
    E, nu, alpha : number or [[T, value], ...]
    T_ref : float
    """

    name = "elastic"
    state_shapes = {}

    def __init__(self, E, nu, alpha=0.0, T_ref=20.0):
        self.E = Table(E, "E", low=0.0)
        self.nu = Table(nu, "nu", low=-1.0, high=0.5)
        self.alpha = Table(alpha, "alpha")
        T_ref = Table(T_ref, "T_ref")  # a finite number
        if T_ref.T is not None:
            raise RomError("'T_ref' must be a number, not a table")
        self.T_ref = float(T_ref.values[0])

    def thermal_strain(self, T):
        """Isotropic thermal strain ``(n, 6)`` at temperatures ``T (n,)``."""
        T = np.asarray(T, dtype=float)
        return (self.alpha(T) * (T - self.T_ref))[:, None] * IDENTITY_MANDEL

    def stiffness(self, T):
        """Elastic stiffness ``(n, 6, 6)`` at temperatures ``T (n,)``; with ``E`` and
        ``nu`` independent of the temperature, one matrix seen ``n`` times (a read-only
        broadcast view: no memory per point)."""
        T = np.asarray(T, dtype=float)
        if self.E.is_constant and self.nu.is_constant:
            C = isotropic_stiffness(self.E(T[:1]), self.nu(T[:1])) if T.size else \
                isotropic_stiffness(self.E.values[:1], self.nu.values[:1])
            return np.broadcast_to(C[0], T.shape + (6, 6))
        return isotropic_stiffness(self.E(T), self.nu(T))

    def initial_state(self, n):
        return {}

    def update(self, eps, state_old, T, dt, tangent=True):
        """Batched update: ``eps (n, 6)``, ``T (n,)`` -> ``(sigma, C_tan, state, ok)``
        (with ``tangent=False``, a function returning ``C_tan``: see
        :mod:`rom.materials`)."""
        assert eps.ndim == 2 and eps.shape[1] == 6, eps.shape
        C = self.stiffness(T)
        sigma = np.einsum("nij,nj->ni", C, eps - self.thermal_strain(T))
        return sigma, _deferred(tangent, lambda: C), {}, np.ones(len(eps), dtype=bool)
