"""Temperature tables for material parameters."""

import numpy as np

from rom import RomError

__all__ = ["Table"]


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
