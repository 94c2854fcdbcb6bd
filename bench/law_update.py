"""The Chaboche law's update alone, side by side for two code versions: time per call
and agreement of the results.

    python bench/law_update.py [--points 300000] [--repeat 4] [--compare REV]

The law of ``cases/blade.toml`` (nickel-base superalloy, tables in temperature) on
``--points`` random strains (seed 1, scale 3e-3) at temperatures from 20 to 1090 C,
from the state a first update left (non-zero back stress), over ``dt = 5 s``. Each
code runs in its own process (one BLAS thread): the best CPU seconds of ``--repeat``
calls with the tangent, and, where the code has it, with ``tangent=False`` (the
tangent deferred: the HF Newton's converged iterate). With ``--compare REV`` (a git
worktree in ``bench/out/rev_<its commit>``) also the largest difference of the stress,
the tangent and the internal variables between the two codes, relative to each
field's largest value.
"""

import argparse
import os
import subprocess
import sys
import tempfile

from common import ENV, ROOT, worktree

CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from rom.case import load_case
from rom.materials import make_law

case = load_case(sys.argv[2])
law = make_law(case.law, case.material_params())
n, repeat = int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(1)
T = np.linspace(20.0, 1090.0, n)
eps = 3e-3 * rng.standard_normal((n, 6))
_, _, state, _ = law.update(eps, law.initial_state(n), T, 5.0)
eps = eps + 1e-3 * rng.standard_normal((n, 6))


def best(**kw):
    t = []
    for _ in range(repeat):
        c = time.process_time()
        out = law.update(eps, state, T, 5.0, **kw)
        t.append(time.process_time() - c)
    return min(t), out


t_eager, (sigma, C, new, ok) = best()
try:
    t_lazy = best(tangent=False)[0]
except TypeError:  # a code without the deferred tangent
    t_lazy = float("nan")
flowing = float(np.mean(new["p"] > state["p"]))
print(f"{t_eager:.3f} {t_lazy:.3f} {flowing:.3f} {int(ok.all())}")
np.savez(sys.argv[5], sigma=sigma, C=C, **new)
"""


def measure(root, args, out):
    """``(CPU s with the tangent, without it, fraction of flowing points, all ok)`` of
    the code at ``root``; its results in ``out`` (npz)."""
    p = subprocess.run([sys.executable, "-c", CHILD, root,
                        os.path.join(ROOT, "cases", "blade.toml"), str(args.points),
                        str(args.repeat), out], capture_output=True, text=True, env=ENV)
    if p.returncode:
        sys.exit(f"law update with the code of {root} failed:\n{p.stderr[-2000:]}")
    eager, lazy, flowing, ok = p.stdout.split()
    return float(eager), float(lazy), float(flowing), ok == "1"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=300000)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--compare", metavar="REV")
    args = ap.parse_args()
    import numpy as np

    codes = [("current", ROOT)]
    if args.compare:
        short, tree = worktree(args.compare, os.path.join(ROOT, "bench", "out"))
        codes.insert(0, (short, tree))
    print(f"Chaboche update of cases/blade.toml, {args.points} points, best CPU s of "
          f"{args.repeat}")
    print("| code | with the tangent [s] | tangent deferred [s] | flowing points | all ok |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, root in codes:
            files.append(os.path.join(tmp, f"{name}.npz"))
            eager, lazy, flowing, ok = measure(root, args, files[-1])
            print(f"| {name} | {eager:.3f} | {lazy:.3f} | {flowing:.2f} | {ok} |")
        if len(files) == 2:
            a, b = np.load(files[0]), np.load(files[1])
            diffs = ", ".join(f"{k} {np.abs(a[k] - b[k]).max() / np.abs(a[k]).max():.1e}"
                              for k in a.files)
            print(f"\nlargest difference between the two codes, relative to the field's "
                  f"largest value: {diffs}")


if __name__ == "__main__":
    main()
