"""Temperature tables for material parameters."""

import numpy as np

from rom import RomError

__all__ = ["Table"]


class Table:
    """A parameter that is a constant or a piecewise-linear function of temperature.

    ``Table(200000.0)`` or ``Table([[20, 200000], [800, 150000]])`` (rows
    ``(T, value)`` with increasing ``T``). Outside the table the end values are
    held constant.
    """

    def __init__(self, spec, name="parameter"):
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
