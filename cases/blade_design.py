"""The blade's training design: hot-spot loadings added to a first set by a greedy
maximin rule, printed as the ``[loadings.<name>]`` tables of ``cases/blade.toml``.

    python cases/blade_design.py [--count 6] [--first g]

The uncertain hot spot has a position (span and chord fractions of its centre, in
span 0.3-0.8 and chord 0.2-0.8) and a peak (100-200 C over the gas temperature); its
width is 0.15 in both directions. Where it sits decides where the airfoil creeps, so
the positions are spread first: each new position is, on a grid of step 0.05, the one
farthest from every position already in the design (distances in hot-spot widths:
greedy maximin), starting from the first six training loadings ``a`` to ``f`` of the
case. The peaks of the new loadings follow the van der Corput sequence over 100-200 C
(150, 125, 175, 112.5, ...), so that every prefix of the design spreads its peaks too
and a design of ``n`` loadings is the first ``n`` of a larger one (the error can be
measured against the number of training loadings: ``bench/blade_training.py``).
"""

import argparse
import itertools

import numpy as np

SPAN, CHORD, PEAK = (0.3, 0.8), (0.2, 0.8), (100.0, 200.0)
WIDTH = 0.15
# the case's first training loadings a..f: span, chord, peak
FIRST = [(0.35, 0.30, 150.0), (0.45, 0.70, 110.0), (0.55, 0.45, 190.0),
         (0.65, 0.25, 130.0), (0.75, 0.60, 170.0), (0.40, 0.78, 200.0)]


def van_der_corput(k, base=2):
    """The ``k``-th term (k >= 1) of the van der Corput sequence in ``base``."""
    x, f = 0.0, 1.0
    while k:
        f /= base
        x += f * (k % base)
        k //= base
    return x


def design(count, first=FIRST, step=0.05):
    """``count`` new hot spots ``(span, chord, peak)`` after ``first``."""
    grid = np.array(list(itertools.product(
        np.arange(SPAN[0], SPAN[1] + step / 2, step),
        np.arange(CHORD[0], CHORD[1] + step / 2, step)))).round(10)
    chosen = [np.array(p[:2]) for p in first]
    new = []
    for k in range(1, count + 1):
        d = np.min(np.linalg.norm(grid[:, None] - np.array(chosen)[None], axis=2), axis=1)
        i = int(np.argmax(d / WIDTH))
        chosen.append(grid[i])
        peak = PEAK[0] + (PEAK[1] - PEAK[0]) * van_der_corput(k)
        new.append((round(float(grid[i, 0]), 2), round(float(grid[i, 1]), 2), peak))
    return new


def toml(name, span, chord, peak):
    """The ``[loadings.<name>]`` table of a hot spot (the case's take-off and cruise
    fields)."""
    spot = f"hs_span = {span:.2f}, hs_chord = {chord:.2f}, hs_peak = {peak:g}"
    return (f"[loadings.{name}]\n"
            "fields = [{time = 0.0, value = 20.0},\n"
            f"          {{time = 300.0, thermal = {{{spot}}}}},\n"
            f"          {{time = 3300.0, thermal = {{{spot}, gas = 700.0, coolant = 450.0}}}},\n"
            "          {time = 3600.0, value = 20.0}]")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=6)
    ap.add_argument("--first", default="g", help="name of the first new loading")
    args = ap.parse_args()
    for k, (span, chord, peak) in enumerate(design(args.count)):
        print(toml(chr(ord(args.first) + k), span, chord, peak))


if __name__ == "__main__":
    main()
