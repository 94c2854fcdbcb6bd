"""The pursuit's least-squares sessions (``rom.hyper._ColumnQR.session``): deleting
columns one by one from the tall factor ``Q R``, against moving at once to the small
system ``[R  Q^T b] = Q_s [R'  d]`` (cheaper deletions, then the product ``Q Q_s`` at
the session's end); the number of deletions from which the small system pays
(``_ColumnQR.SMALL_AFTER``).

    python bench/qr_session.py [--sizes 936x700 3699x1900 4000x800 2000x1000]
                               [--deletions 10 30 100 300] [--repeat 3]

For each ``rows x cols`` size a random matrix is factorized by ``_ColumnQR``; each
session deletes ``d`` columns at random positions one at a time (a least squares after
each, as the Lawson-Hanson loop does), once with ``SMALL_AFTER`` out of reach (every
deletion on ``Q R``) and once with ``SMALL_AFTER = 0`` (the small system from the first
deletion), from copies of the same factorization. Printed: the seconds of each
session, its end included (best of ``--repeat``). The sizes: the demo blade's
enrichment (936 rows of the integrand, 700 points) and the blade's many-query study
near its end (3,699 rows, 1,900 points).
"""

import argparse
import copy
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rom.hyper import _ColumnQR  # noqa: E402


def session(qr, b, positions, small_after):
    """Seconds of a session of ``qr`` deleting the columns at ``positions``."""
    qr.SMALL_AFTER = small_after  # (on the instance: the class keeps its value)
    t0 = time.perf_counter()
    with qr.session(b):
        for j in positions:
            keep = np.ones(_active(qr), dtype=bool)
            keep[j] = False
            qr.delete(keep)
            qr.lstsq(b)
    return time.perf_counter() - t0


def _active(qr):
    """The columns the session's factorization holds now."""
    small = qr._session[2]
    return qr.k if small is None else small[1].shape[1] - 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["936x700", "3699x1900", "4000x800",
                                                    "2000x1000"])
    ap.add_argument("--deletions", type=int, nargs="+", default=[10, 30, 100, 300])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print("| rows x columns | deletions | on Q R [s] | small system [s] |")
    print("|---|---|---|---|")
    for size in args.sizes:
        m, k = (int(x) for x in size.split("x"))
        base = _ColumnQR(m)
        base.append(rng.standard_normal((m, k)))
        b = rng.standard_normal(m)
        for d in args.deletions:
            best = [np.inf, np.inf]
            for _ in range(args.repeat):
                pos = [int(rng.integers(0, k - i)) for i in range(d)]
                for i, small_after in enumerate((k + 1, 0)):
                    best[i] = min(best[i], session(copy.deepcopy(base), b, pos,
                                                   small_after))
            print(f"| {m} x {k} | {d} | {best[0]:.3f} | {best[1]:.3f} |")


if __name__ == "__main__":
    main()
