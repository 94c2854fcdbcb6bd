"""Offline stage timing and memory: ~100 snapshots of a ~100k-dof Chaboche case.

    python bench/offline_bench.py [--n 32] [--steps 50]    (driver: runs everything)

1. HF snapshots (once, cached under bench/out/offline/): a hex8 unit cube (n^3 cells,
   3 (n+1)^3 dofs; n = 32: 107,811 dofs, 262,144 quadrature points), DESIGN reference
   Chaboche law, two temperature loadings, `steps` steps each, run under mpirun -n 2.
2. `run.py offline` on all snapshots, serially and under mpirun -n 2, side by side;
   time per phase (read, POD, ECM, Gappy) from the archive summary, the CPU seconds
   (user + system) and the peak resident memory of each rank (/usr/bin/time -v).
3. With ``--compare REV``: first the same serial offline run with the code of the git
   revision REV (a worktree under bench/out/offline/), for a before/after ratio
   measured side by side in one run.
"""

import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out", "offline")

CASE = """
name = "bench_offline_{hot}"
[mesh]
file = "cube{n}.msh"
[material]
law = "chaboche"
E = [[20.0, 200000.0], [1000.0, 150000.0]]
nu = 0.3
alpha = 2e-5
R0 = 10.0
K = [[20.0, 300.0], [1000.0, 150.0]]
n = 30.0
C = 1e5
D = 1e3
[sets.x0]
kind = "nodes"
where = "x == 0"
[sets.e0]
kind = "nodes"
where = "(x == 0) & (y == 0)"
[sets.c0]
kind = "nodes"
where = "(x == 0) & (y == 0) & (z == 0)"
[[dirichlet]]
set = "x0"
components = ["x"]
[[dirichlet]]
set = "e0"
components = ["y"]
[[dirichlet]]
set = "c0"
components = ["z"]
[[pressure]]
set = "xmax"
value = -120.0
table = [[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]]
[temperature]
expression = "20 + {hot} * exp(-((x - 0.7)**2 + (y - 0.5)**2) / 0.1) * (1 - abs(1 - t))"
[steps]
end = 2.0
count = {steps}
[rom]
eps_u = 1e-4
ecm_tol = 1e-4
"""


def sh(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, text=True, **kw)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--compare", help="a git revision to run first, serially (before/after)")
    args = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    py = sys.executable
    run = os.path.join(ROOT, "run.py")
    mesh = os.path.join(OUT, f"cube{args.n}.msh")
    if not os.path.exists(mesh):
        sh([py, run, "mesh", "box", "--n", str(args.n), str(args.n), str(args.n), "--type",
            "hexahedron", "--out", mesh])
    files = []
    for hot in (300, 600):
        case = os.path.join(OUT, f"case_{hot}.toml")
        with open(case, "w") as f:
            f.write(CASE.format(n=args.n, hot=hot, steps=args.steps))
        snap = os.path.join(OUT, f"snap_{hot}", "snapshots.h5")
        if not os.path.exists(snap + ".done"):
            sh(["mpirun", "-n", "2", py, run, "hf", case, "--out", os.path.dirname(snap),
                "--overwrite"],
               stdout=subprocess.DEVNULL)
            open(snap + ".done", "w").close()
        files.append(snap)
    results = {}
    runs = [("current", 1, ROOT), ("current", 2, ROOT)]
    if args.compare:
        tree = os.path.join(OUT, "rev_" + args.compare.replace("/", "_"))
        if not os.path.isdir(tree):
            sh(["git", "-C", ROOT, "worktree", "add", "--detach", tree, args.compare])
        runs.insert(0, (args.compare, 1, tree))
    for label, ranks, root in runs:
        out = os.path.join(OUT, f"rom_{label.replace('/', '_')}_np{ranks}.h5")
        cmd = [py, os.path.join(root, "run.py"), "offline", os.path.join(OUT, "case_300.toml"),
               "--snapshots", *files, "--out", out]
        cmd = (["mpirun", "-n", str(ranks)] if ranks > 1 else []) + ["/usr/bin/time", "-v",
                                                                     *cmd]
        # one thread per rank (CPU seconds = wall seconds x ranks), mpirun as root allowed
        env = dict(os.environ, PYTHONPATH=root, OMP_NUM_THREADS="1",
                   OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
                   OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        proc = subprocess.run(cmd, text=True, capture_output=True, env=env)
        if proc.returncode:
            sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
        rss = [int(m) / 1024 for m in re.findall(r"Maximum resident set size \(kbytes\): (\d+)",
                                                  proc.stderr)]
        cpu = [float(u) + float(v) for u, v in zip(
            re.findall(r"User time \(seconds\): ([\d.]+)", proc.stderr),
            re.findall(r"System time \(seconds\): ([\d.]+)", proc.stderr))]
        results[f"{label} np{ranks}"] = {"stdout": proc.stdout, "peak_rss_mb_per_rank": rss,
                                         "cpu_s_per_rank": cpu}
        print(proc.stdout)
        print(f"{label}, {ranks} rank(s): CPU [s] per rank {[round(c, 1) for c in cpu]}, "
              f"peak RSS per rank [MB] {[round(r) for r in rss]}", flush=True)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
