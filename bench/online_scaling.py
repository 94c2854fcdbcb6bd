"""Online time per step at two refinements of the cube (about 8x the dofs), and the
speedup over HF per step, side by side in one run.

    python bench/online_scaling.py [--sizes 6 12]

For each size n: meshes and temperature fields from meshes/make_cube.py --n n (under
bench/out/cube<n>/), a copy of cases/cube.toml pointing to them, then
`mpirun -n 2 run.py pipeline` (stages up to date are reused; the online stage always
runs, with the plain and adaptive ROM on the loading "hot"; the HF references on the
test and hot loadings are rerun unless --reuse-reference). Prints the pipeline
summaries, a table, and the adaptive runs.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

from common import ENV, ROOT

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[6, 12])
    p.add_argument("--reuse-reference", action="store_true",
                   help="keep an HF reference of an earlier run (default: rerun it, so HF "
                        "and online are timed in the same run)")
    p.add_argument("--repeat", type=int, default=5,
                   help="interleaved repetitions of the online runs alone")
    args = p.parse_args()
    py = sys.executable
    rows, adaptive = [], []
    with open(os.path.join(ROOT, "cases", "cube.toml")) as f:
        text = f.read()
    for n in args.sizes:
        d = os.path.join(HERE, "out", f"cube{n}")
        os.makedirs(d, exist_ok=True)
        if not os.path.exists(os.path.join(d, "cube.msh")):
            subprocess.run([py, os.path.join(ROOT, "meshes", "make_cube.py"), "--n", str(n),
                            "--out", d], check=True)
        case = os.path.join(d, "cube.toml")
        with open(case, "w") as f:
            f.write(text.replace("../meshes/", f"{d}/"))
        if not args.reuse_reference:  # the test and adaptive (hot) loadings' references
            for ref in ("hf_test", "hf_hot"):
                shutil.rmtree(os.path.join(d, "results", ref), ignore_errors=True)
        proc = subprocess.run(["mpirun", "-n", "2", py, os.path.join(ROOT, "run.py"),
                               "pipeline", case, "--out", os.path.join(d, "results")],
                              capture_output=True, text=True, env=ENV)
        if proc.returncode:
            sys.exit(f"pipeline of cube {n} failed:\n{proc.stdout[-2000:]}\n"
                     f"{proc.stderr[-2000:]}")
        out = proc.stdout
        print(out[out.index("pipeline cube"):])
        m = re.search(r"HF ([0-9.e+-]+), online ([0-9.e+-]+): ", out)
        dofs = re.search(r"mesh +(\d+) dofs", out)
        err = re.search(r"U ([0-9.e+-]+), p ([0-9.e+-]+)", out)
        rows.append((n, dofs.group(1) if dofs else "?", float(m.group(1)), float(m.group(2)),
                     err.group(1), err.group(2)))
        ada = re.search(r"adaptive, (\S+) +(.*)", out)
        if ada:
            adaptive.append((n, ada.group(1), ada.group(2)))
    print("| n | dofs | HF per step [s] | online per step [s] | speedup | error U | error p |")
    print("|---|---|---|---|---|---|---|")
    for n, dofs, hf, on, eu, ep in rows:
        print(f"| {n} | {dofs} | {hf:.3e} | {on:.3e} | {hf / on:.0f}x | {eu} | {ep} |")
    if len(rows) > 1:
        print(f"online time per step, finest / coarsest: {rows[-1][3] / rows[0][3]:.2f}")
        # the online steps alone, repeated and interleaved (the machine is shared): the
        # best of `repeat` serial runs per size
        best = {n: float("inf") for n, *_ in rows}
        for _ in range(args.repeat):
            for n, *_ in rows:
                d = os.path.join(HERE, "out", f"cube{n}")
                proc = subprocess.run(
                    [py, os.path.join(ROOT, "run.py"), "online", os.path.join(d, "cube.toml"),
                     "--rom", os.path.join(d, "results", "rom.h5"), "--loading", "test",
                     "--out", os.path.join(d, "online_repeat"), "--write-every", "1000"],
                    check=True, capture_output=True, text=True)
                per = float(re.search(r"\(([0-9.e+-]+) per step\)", proc.stdout).group(1))
                best[n] = min(best[n], per)
        print(f"online per step, best of {args.repeat} interleaved serial runs: "
              + ", ".join(f"n = {n}: {v:.3e} s" for n, v in best.items())
              + f"; finest / coarsest {best[rows[-1][0]] / best[rows[0][0]]:.2f}")
    for n, loading, text in adaptive:
        print(f"n = {n}, adaptive ROM on {loading}: {text}")


if __name__ == "__main__":
    main()
