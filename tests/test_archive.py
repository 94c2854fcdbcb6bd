"""The ROM archive's partial readers."""

import h5py
import numpy as np
import pytest

from rom import RomError
from rom.archive import read_rows


def test_read_rows_by_blocks_equals_fancy_indexing(tmp_path):
    """Any rows, unsorted, repeated, spanning several blocks or none, equal the dataset's
    rows; rows outside the dataset are refused by name."""
    path = str(tmp_path / "a.h5")
    rng = np.random.default_rng(3)
    U = rng.standard_normal((1000, 7))
    with h5py.File(path, "w") as f:
        f["basis/U"] = U
    for rows in (rng.choice(1000, 300, replace=False), rng.integers(0, 1000, 50),
                 np.array([999, 0, 64, 63, 64]), np.arange(130, 140), np.zeros(0, int)):
        for block in (1, 64, 1000, 1 << 16):
            np.testing.assert_array_equal(read_rows(path, "basis/U", rows, block), U[rows])
    with pytest.raises(RomError, match="rows outside basis/U"):
        read_rows(path, "basis/U", [1000])
    # into the first columns of a Fortran-ordered buffer (a factored basis' P)
    rows = rng.choice(1000, 300, replace=False)
    buf = np.zeros((300, 10), order="F")
    read_rows(path, "basis/U", rows, 64, out=buf[:, :7])
    np.testing.assert_array_equal(buf[:, :7], U[rows])
    assert not buf[:, 7:].any()
    with pytest.raises(RomError, match="do not fit an array"):
        read_rows(path, "basis/U", rows, out=buf[:, :6])
