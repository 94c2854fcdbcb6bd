"""The pursuit's QR deletions (``rom.hyper._ColumnQR.delete``): Givens sweeps against
the refactorization of the trailing block, on the same factor, side by side.

    python bench/qr_delete.py [--rows 936] [--cols 550] [--repeat 20]

A random ``rows x cols`` matrix is factorized; each case deletes some columns from a
copy of the factor, once with the trailing-block path disabled (``TRAILING = 0``:
Givens sweeps, or the whole ``R`` refactorized for many columns) and once as the code
runs it. Printed: milliseconds per deletion call (best of ``--repeat``, the copy of
the factor excluded) and the error of ``Q R`` against the kept columns.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rom.hyper import _ColumnQR  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=936)
    ap.add_argument("--cols", type=int, default=550)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    m, k = args.rows, args.cols
    rng = np.random.default_rng(0)
    A = rng.random((m, k))
    base = _ColumnQR(m)
    base.append(A)
    cases = {"20 among the last 32": k - 32 + rng.choice(32, 20, replace=False),
             "3 among the last 60": [k - 60, k - 30, k - 5],
             "20 spread": rng.choice(k, 20, replace=False)}
    print(f"| deletions ({m} x {k} factor) | Givens / whole R [ms] | as the code runs "
          "[ms] | error of Q R |")
    print("|---|---|---|---|")
    for name, leave in cases.items():
        keep = np.ones(k, dtype=bool)
        keep[leave] = False
        row = []
        for trailing in (0, _ColumnQR.TRAILING):
            best = np.inf
            for _ in range(args.repeat):
                qr = _ColumnQR(m)
                qr.Q, qr.R = base.Q.copy(order="F"), base.R.copy(order="F")
                qr.TRAILING = trailing
                t0 = time.perf_counter()
                qr.delete(keep)
                best = min(best, time.perf_counter() - t0)
            err = np.linalg.norm(qr.Q @ qr.R - A[:, keep]) / np.linalg.norm(A)
            row.append((best * 1e3, err))
        print(f"| {name} | {row[0][0]:.2f} | {row[1][0]:.2f} | "
              f"{max(row[0][1], row[1][1]):.1e} |")


if __name__ == "__main__":
    main()
