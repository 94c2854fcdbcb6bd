"""The cost of an adaptive enrichment (basis and reduced quadrature update) against
the HF step it follows, side by side for two code versions.

    python bench/update_cost.py [--case cases/blade.toml] [--rom results/blade/rom.h5]
        [--loading moved] [--ranks 2] [--max-enrichments 3] [--repeat 2]
        [--compare REV]

Runs ``run.py adaptive CASE --rom ROM --loading L --max-enrichments K`` under
``mpirun -n R``, ``--repeat`` times; with ``--compare REV`` the same command of
revision ``REV`` (a git worktree in ``bench/out/rev_<its commit>``) alternately with
the current code. Printed per run, from its ``adaptive.json``: the HF steps, the
Newton iterations of each, their total seconds, the updates' total seconds and their
ratio (target of issue 10: an update at most 0.3x the HF step), the modes and reduced
points at the end, and the process wall and CPU seconds (children's, all ranks).
Defaults: the blade of ``make demo`` on its loading ``moved`` (outside the training
domain); for the 12^3 cube, ``--case bench/out/cube12/cube.toml --rom
bench/out/cube12/results/rom.h5 --loading hot`` after ``bench/online_scaling.py
--sizes 12``.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from common import ENV, ROOT, worktree

HERE = os.path.dirname(os.path.abspath(__file__))


def run(code, args, out):
    cmd = ["mpirun", "-n", str(args.ranks), sys.executable, os.path.join(code, "run.py"),
           "adaptive", args.case, "--rom", args.rom, "--loading", args.loading,
           "--max-enrichments", str(args.max_enrichments), "--out", out]
    env = dict(ENV, PYTHONPATH=code)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    with open(os.path.join(out, "adaptive.json")) as f:
        a = json.load(f)
    cpu = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    return a, wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default=os.path.join(ROOT, "cases", "blade.toml"))
    ap.add_argument("--rom", default=os.path.join(ROOT, "results", "blade", "rom.h5"))
    ap.add_argument("--loading", default="moved")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--max-enrichments", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--compare", help="a git revision to run alternately with this code")
    args = ap.parse_args()
    args.case, args.rom = os.path.abspath(args.case), os.path.abspath(args.rom)
    codes = [("current", ROOT)]
    if args.compare:
        codes.append(worktree(args.compare, os.path.join(HERE, "out")))
    tmp = tempfile.mkdtemp(prefix="update_cost_")
    print(f"{os.path.basename(args.case)}, loading {args.loading}, {args.ranks} ranks, at most "
          f"{args.max_enrichments} enrichments\n")
    print("| code | HF steps | their Newton iterations | HF steps [s] | updates [s] | "
          "update / HF step | modes | reduced points | wall [s] | CPU [s] |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for i in range(args.repeat):
        for name, code in codes:
            a, wall, cpu = run(code, args, os.path.join(tmp, f"{name}_{i}"))
            t = a["timings"]
            newton = [sum(it) if isinstance(it, list) else it  # (per sub-step)
                      for it, e in zip(a["iterations"], a["enriched"]) if e]
            print(f"| {name} | {a['n_enrichments']} | {' + '.join(map(str, newton))} | "
                  f"{t['hf_step']:.2f} | {t['update']:.2f} | "
                  f"{t['update'] / t['hf_step']:.2f} | {a['final_modes']} | "
                  f"{a['final_points']} | {wall:.1f} | {cpu:.1f} |", flush=True)


if __name__ == "__main__":
    main()
