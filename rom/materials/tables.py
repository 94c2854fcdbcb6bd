"""Temperature tables of material parameters and tabulated hardening curves."""

import numpy as np

from rom import RomError

__all__ = ["Table", "HardeningTable"]


class Table:
    """A parameter that is a constant or a piecewise-linear function of temperature.

    ``Table(200000.0)`` or ``Table([[20, 200000], [800, 150000]])`` (rows
    ``(T, value)`` with increasing ``T``). Outside the table the end values are
    held constant. ``low``/``high`` bound the admissible values (open bounds, or
    closed with ``low_closed``/``high_closed``): every tabulated value is checked,
    which bounds the piecewise-linear function everywhere.
    """

    def __init__(self, spec, name="parameter", low=None, high=None, low_closed=False,
                 high_closed=False):
        self.name = name
        try:
            arr = np.asarray(spec, dtype=float)
        except (TypeError, ValueError):
            arr = np.zeros((0, 0))
        if arr.ndim == 0:
            self.T = None
            self.values = arr.reshape(1)
        elif arr.ndim == 2 and arr.shape[1] == 2 and len(arr) >= 1:
            if np.any(np.diff(arr[:, 0]) <= 0):
                raise RomError(f"table of '{name}': temperatures must increase")
            self.T, self.values = arr[:, 0], arr[:, 1]
        else:
            raise RomError(f"'{name}' must be a number or a list of [T, value] rows, "
                           f"got {spec!r}")
        if not np.all(np.isfinite(self.values)):
            raise RomError(f"'{name}' has non-finite values")
        bad = np.zeros(len(self.values), dtype=bool)
        if low is not None:
            bad |= self.values < low if low_closed else self.values <= low
        if high is not None:
            bad |= self.values > high if high_closed else self.values >= high
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            at = "" if self.T is None else f" at T = {self.T[i]:g}"
            lo = "-inf" if low is None else f"{low:g}"
            hi = "inf" if high is None else f"{high:g}"
            rng = f"{'[' if low_closed else '('}{lo}, {hi}{']' if high_closed else ')'}"
            raise RomError(f"'{name}' = {self.values[i]:g}{at} is outside its physical "
                           f"range {rng}")

    @property
    def is_constant(self):
        return self.T is None or len(self.T) == 1

    def __call__(self, T):
        """Values at temperatures ``T`` (array), same shape."""
        T = np.asarray(T, dtype=float)
        if self.T is None:
            return np.full(T.shape, self.values[0])
        return np.interp(T, self.T, self.values)

    def __repr__(self):
        if self.T is None:
            return f"Table({self.values[0]!r})"
        return f"Table({np.column_stack([self.T, self.values]).tolist()!r})"


class HardeningTable:
    """Isotropic hardening ``R(p[, T])``: the yield stress as a piecewise-linear
    function of the cumulated plastic strain ``p``, one curve or one per temperature.

    ``HardeningTable([[0.0, 250.0], [0.01, 300.0], [0.05, 330.0]])``: rows ``(p,
    R)``, the rows of an Abaqus/CalculiX ``*PLASTIC`` card (``stress, plastic strain``)
    with their first two columns swapped. Rows ``(p, R, T)`` give a curve per
    temperature, as CalculiX's third column does: the consecutive rows of one
    temperature form its curve, the temperatures increase from curve to curve.

    Each curve starts at ``p = 0`` with the initial yield stress (``> 0``); ``p``
    increases strictly from row to row and ``R`` does not decrease (no softening).
    Beyond its last point a curve is constant (perfect plasticity, as in Abaqus).
    Between two temperatures ``R`` is linear in ``T`` at a fixed ``p``: ``R(p, T) =
    (1 - w) R_i(p) + w R_i+1(p)``, ``w = (T - T_i) / (T_i+1 - T_i)``; outside the
    temperatures, the first or the last curve.

    Attributes
    ----------
    p : (m,) the union of the curves' plastic strains (``p[0] = 0``): at a given
        temperature ``R`` is linear in ``p`` between two of them
    T : (n_T,) the curves' temperatures, or None (one curve)
    values : (n_T, m) every curve at every ``p``
    """

    def __init__(self, spec, name="hardening"):
        self.name = name
        arr = _numbers(spec)
        if arr is None or arr.ndim != 2 or arr.shape[1] not in (2, 3) or len(arr) < 1:
            raise RomError(f"'{name}' must be a list of [p, R] rows (or [p, R, T]: a curve "
                           f"per temperature), got {spec!r}")
        if not np.all(np.isfinite(arr)):
            raise RomError(f"'{name}' has non-finite values")
        if arr.shape[1] == 2:
            curves, self.T = [arr], None
        else:
            starts = np.flatnonzero(np.r_[True, np.diff(arr[:, 2]) != 0])
            curves = np.split(arr[:, :2], starts[1:])
            self.T = arr[starts, 2]
            if np.any(np.diff(self.T) <= 0):
                raise RomError(f"'{name}': the temperatures (third column) must increase "
                               "from curve to curve, each curve's rows together")
        for i, c in enumerate(curves):
            at = "" if self.T is None else f" at T = {self.T[i]:g}"
            p, R = c[:, 0], c[:, 1]
            if p[0] != 0.0:
                raise RomError(f"'{name}'{at}: the first row must be at p = 0 (the initial "
                               f"yield stress), not p = {p[0]:g}")
            if np.any(np.diff(p) <= 0):
                raise RomError(f"'{name}'{at}: the plastic strains must increase")
            if R[0] <= 0:
                raise RomError(f"'{name}'{at}: the initial yield stress {R[0]:g} must be "
                               "positive")
            if np.any(np.diff(R) < 0):
                j = int(np.flatnonzero(np.diff(R) < 0)[0]) + 1
                raise RomError(f"'{name}'{at}: R decreases at p = {p[j]:g} ({R[j - 1]:g} -> "
                               f"{R[j]:g}); softening is not supported")
        self.p = np.unique(np.concatenate([c[:, 0] for c in curves]))
        self.values = np.array([np.interp(self.p, c[:, 0], c[:, 1]) for c in curves])

    def weights(self, T):
        """The curves' weights at temperatures ``T (n,)``: a list of ``n_T`` arrays
        ``(n,)`` (hat functions of ``T``, summing to 1)."""
        T = np.asarray(T, dtype=float)
        if self.T is None or len(self.T) == 1:
            return [np.ones(T.shape)]
        eye = np.eye(len(self.T))
        return [np.interp(T, self.T, e) for e in eye]

    def at_point(self, k, weights):
        """``R(p[k], T)`` ``(n,)`` for the :meth:`weights` of ``T``."""
        return sum(w * v for w, v in zip(weights, self.values[:, k]))

    def __call__(self, p, T, weights=None):
        """``R(p, T)`` at points ``p, T (n,)``."""
        weights = self.weights(T) if weights is None else weights
        p = np.asarray(p, dtype=float)
        return sum(w * np.interp(p, self.p, v) for w, v in zip(weights, self.values))

    def __repr__(self):
        return f"HardeningTable(p={self.p.tolist()!r}, T={self.T!r})"


def _numbers(spec):
    """``spec`` as a float array if it is numbers (nested lists; no booleans or
    strings), else None."""
    def ok(v):
        if isinstance(v, (list, tuple, np.ndarray)):
            return all(ok(a) for a in v)
        return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)

    if not ok(spec):
        return None
    try:
        return np.asarray(spec, dtype=float)
    except (TypeError, ValueError):  # ragged rows
        return None
