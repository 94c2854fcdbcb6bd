"""Constitutive laws: pure functions over batches of quadrature points.

Every law has ``update(eps, state_old, T, dt, tangent=True) -> (sigma, C_tan,
state_new, ok)`` with ``eps (n, 6)`` Mandel strains, ``T (n,)`` temperatures,
``state`` a dict of ``(n, ...)`` arrays never modified in place, ``C_tan (n, 6, 6)``
the consistent tangent and ``ok (n,)`` False where the local integration failed. With
``tangent=False``, ``C_tan`` is a function that computes the tangent when called, from
the update's own arrays: a Newton solver that finds the iterate converged never pays
for it.
"""

import inspect

from rom import RomError
from rom.materials.elastic import ThermoElastic, isotropic_stiffness
from rom.materials.inelastic import Chaboche, J2Plasticity, NortonCreep
from rom.materials.tables import HardeningTable, Table

__all__ = ["ThermoElastic", "J2Plasticity", "NortonCreep", "Chaboche", "Table",
           "HardeningTable", "isotropic_stiffness", "make_law", "LAWS"]

LAWS = {"elastic": ThermoElastic, "j2": J2Plasticity, "norton": NortonCreep,
        "chaboche": Chaboche}


def make_law(name, params):
    """Build law ``name`` from a dict of parameters (tables allowed)."""
    if name not in LAWS:
        raise RomError(f"unknown material law '{name}' (known: {', '.join(sorted(LAWS))})")
    cls = LAWS[name]
    sig = inspect.signature(cls.__init__)
    names = [p for p in sig.parameters if p != "self"]
    required = [p for p in names if sig.parameters[p].default is inspect.Parameter.empty]
    unknown = [k for k in params if k not in names]
    if unknown:
        raise RomError(f"unknown parameter(s) {', '.join(repr(k) for k in unknown)} of law "
                       f"'{name}' (its parameters: {', '.join(names)})")
    missing = [k for k in required if k not in params]
    if missing:
        raise RomError(f"law '{name}' needs parameter(s) {', '.join(repr(k) for k in missing)}"
                       f" (its parameters: {', '.join(names)})")
    return cls(**params)
