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

    python bench/offline_bench.py --memory [--counts 25 50 100] [--compare REV]

   instead of 2.: the serial offline run on the first 25, 50 and 100 snapshots (half
   of them from each loading; files of HDF5 external links to the cached steps, no
   copy), its peak RSS (GNU time %M), wall and CPU time, with the code of REV first
   when given: does the offline memory grow with the number of snapshots?
"""

import argparse
import json
import os
import re
import subprocess
import sys

from common import ROOT, worktree

HERE = os.path.dirname(os.path.abspath(__file__))
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
    p.add_argument("--memory", action="store_true",
                   help="peak RSS of the serial offline stage on --counts snapshots")
    p.add_argument("--counts", type=int, nargs="+", default=[25, 50, 100])
    p.add_argument("--block-mb", type=float, nargs="*", default=[],
                   help="with --memory, also this tree with [rom] block_mb = each value")
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
    if args.memory:
        return memory(args, files)
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


def _env(root):
    # one thread per rank (CPU seconds = wall seconds x ranks), mpirun as root allowed
    return dict(os.environ, PYTHONPATH=root, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def _tree(rev):
    """A worktree of git revision ``rev`` under OUT (created once; its short hash)."""
    return worktree(rev, OUT)


def _subset(files, count):
    """Snapshot files holding the first ``count // 2`` (and ``count - count // 2``)
    steps of the two cached runs, as HDF5 external links (no data copied)."""
    import h5py

    out = []
    for path, n in zip(files, (count - count // 2, count // 2)):
        sub = os.path.join(OUT, f"subset{count}", os.path.basename(os.path.dirname(path))
                           + ".h5")
        os.makedirs(os.path.dirname(sub), exist_ok=True)
        with h5py.File(path, "r") as src, h5py.File(sub, "w") as dst:
            if n > int(src.attrs["completed_steps"]):
                sys.exit(f"{path} has fewer than {n} steps")
            for k, v in src.attrs.items():
                dst.attrs[k] = v
            dst.attrs["completed_steps"] = n
            dst["time"] = src["time"][:n]
            for name in ("mesh", "quadrature", "inputs"):
                if name in src:
                    dst[name] = h5py.ExternalLink(path, "/" + name)
            for k in range(n):
                dst[f"steps/{k}"] = h5py.ExternalLink(path, f"/steps/{k}")
        out.append(sub)
    return out


def memory(args, files):
    """Peak RSS of the serial offline stage on args.counts snapshots, per code version."""
    case = os.path.join(OUT, "case_300.toml")
    versions = [("current", ROOT, case)]
    if args.compare:
        versions.insert(0, _tree(args.compare) + (case,))
    for mb in args.block_mb:  # the same case with a smaller block of snapshots
        with open(case) as f:
            text = f.read().replace("[rom]\n", f"[rom]\nblock_mb = {mb:g}\n", 1)
        variant = os.path.join(OUT, f"case_300_block{mb:g}.toml")
        with open(variant, "w") as f:
            f.write(text)
        versions.append((f"block {mb:g} MB", ROOT, variant))
    rows = []
    for count in args.counts:
        subset = files if count == 2 * args.steps else _subset(files, count)
        for label, root, case_file in versions:
            out = os.path.join(OUT, f"rom_mem_{label.replace(' ', '_')}_{count}.h5")
            cmd = ["/usr/bin/time", "-f", "%M %e %U %S", sys.executable,
                   os.path.join(root, "run.py"), "offline", case_file,
                   "--snapshots", *subset, "--out", out]
            print("+", " ".join(cmd), flush=True)
            proc = subprocess.run(cmd, text=True, capture_output=True, env=_env(root))
            if proc.returncode:
                sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
            rss, wall, user, system = proc.stderr.strip().splitlines()[-1].split()
            line = next((x for x in proc.stdout.splitlines() if x.startswith("ROM of")), "")
            rows.append({"version": label, "snapshots": count, "peak_rss_mb": int(rss) / 1024,
                         "wall_s": float(wall), "cpu_s": float(user) + float(system),
                         "summary": line})
            print(f"{label:>10} {count:4d} snapshots: peak RSS {int(rss) / 1024:7.0f} MB, "
                  f"wall {float(wall):6.1f} s, CPU {float(user) + float(system):6.1f} s  "
                  f"{line}", flush=True)
    print(f"\n{'version':>10} {'snapshots':>9} {'peak RSS [MB]':>14} {'wall [s]':>9} "
          f"{'CPU [s]':>8}")
    for r in rows:
        print(f"{r['version']:>10} {r['snapshots']:9d} {r['peak_rss_mb']:14.0f} "
              f"{r['wall_s']:9.1f} {r['cpu_s']:8.1f}")
    with open(os.path.join(OUT, "memory.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
