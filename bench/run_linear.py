"""Driver: linear elastic cube (about 200k dofs), this code vs DOLFINx, 1 and 2 ranks,
side by side in one run. Prints a Markdown table for BENCHMARKS.md.

    python bench/run_linear.py [--n 40] [--repeat 2]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(code, ranks, n):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [sys.executable, os.path.join(HERE, "linear_elastic.py"), "--code", code,
           "--n", str(n), "--json", out]
    if ranks > 1:
        cmd = ["mpirun", "-n", str(ranks), *cmd]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    rows = []
    for ranks in (1, 2):
        for code in ("rom", "dolfinx"):
            best = None
            for _ in range(args.repeat):  # best of `repeat` (the machine is shared)
                t = run(code, ranks, args.n)
                if best is None or t["assembly"] + t["solve"] < best["assembly"] + best["solve"]:
                    best = t
            rows.append(best)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"cube {args.n}^3 hex8, {rows[0]['dofs']} dofs, CG+GAMG rtol 1e-8, best of "
          f"{args.repeat}\n")
    print("| code | ranks | mesh [s] | setup [s] | assembly [s] | solve [s] | assembly+solve [s]"
          " | KSP its | max u |")
    print("|---|---|---|---|---|---|---|---|---|")
    for t in rows:
        print(f"| {t['code']} | {t['ranks']} | {t['mesh']:.2f} | {t['setup']:.2f} | "
              f"{t['assembly']:.2f} | {t['solve']:.2f} | {t['assembly'] + t['solve']:.2f} | "
              f"{t['ksp_iterations']} | {t['u_max']:.6e} |")
    print()
    for ranks in (1, 2):
        r, d = [t for t in rows if t["ranks"] == ranks]
        print(f"ranks {ranks}: rom / dolfinx (assembly + solve) = "
              f"{(r['assembly'] + r['solve']) / (d['assembly'] + d['solve']):.2f}, "
              f"assembly alone {r['assembly'] / d['assembly']:.2f}")
    with open(os.path.join(HERE, "linear_results.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
