"""Start-up of the online command: process launch to the first reduced step.

    python bench/online_startup.py [--compare REV] [--repeat 7] [--case cases/cube.toml]

Runs ``run.py online`` on the case's test loading (serially, as a user does) from this
tree and, with ``--compare``, from a git worktree of revision REV (each with an archive
built by its own ``offline`` from the same snapshot files), alternately, ``--repeat``
times. The command runs inside a small wrapper that records the time at which
``rom.online.run_online`` is entered; start-up = the interpreter's own start (``python
-c pass``, measured alongside) + the wrapper's time to that call: imports, MPI (or not),
the case, the archive, the mesh and the checks. Also: the process's wall and CPU
seconds (``RUSAGE_CHILDREN``) and peak RSS. Prints a Markdown table (medians).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, worktree

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out", "startup")
PY = os.path.join(ROOT, ".venv", "bin", "python")

WRAPPER = r"""
import json, runpy, sys, time
t0 = time.perf_counter()
tree, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, tree)
import rom.online
marks = {}
run = rom.online.run_online
def timed(*args, **kwargs):
    marks.setdefault("first_step", time.perf_counter() - t0)
    return run(*args, **kwargs)
rom.online.run_online = timed
sys.argv = [tree + "/run.py"] + sys.argv[3:]
try:
    runpy.run_path(tree + "/run.py", run_name="__main__")
except SystemExit as exc:
    if exc.code:
        raise
finally:
    marks["end"] = time.perf_counter() - t0
    json.dump(marks, open(out, "w"))
"""


def child(cmd):
    """``(wall, cpu, stdout)`` of one child process."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu, p.stdout


def snapshot_files(case):
    """The pipeline's training snapshot files of ``case`` (results/<name>/train_*)."""
    sys.path.insert(0, ROOT)
    from rom.case import load_case

    c = load_case(case)
    files = [os.path.join(ROOT, "results", c.name, f"train_{name}", "snapshots.h5")
             for name in c.rom.training]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise SystemExit(f"run `make demo` first (missing {missing[0]})")
    return c, files


def prepare(tree, case, files, tag):
    archive = os.path.join(OUT, f"rom_{tag}.h5")
    if not os.path.isfile(archive):
        child([PY, os.path.join(tree, "run.py"), "offline", case, "--snapshots", *files,
               "--out", archive])
    return archive


def measure(tree, case, archive, loading, tag):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        marks = f.name
    cmd = [PY, "-c", WRAPPER, tree, marks, "online", case, "--rom", archive,
           "--loading", loading, "--out", os.path.join(OUT, f"online_{tag}")]
    wall, cpu, _ = child(["/usr/bin/time", "-f", "%M", "-o", marks + ".rss", *cmd])
    with open(marks) as f:
        m = json.load(f)
    with open(marks + ".rss") as f:
        rss = int(f.read().split()[-1]) / 1024
    return {"wall": wall, "cpu": cpu, "first_step": m["first_step"], "rss": rss}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default=os.path.join(ROOT, "cases", "cube.toml"))
    ap.add_argument("--compare", help="a git revision measured side by side")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    case = os.path.abspath(args.case)
    c, files = snapshot_files(case)
    trees = {"this tree": ROOT}
    if args.compare:
        rev, tree = worktree(args.compare, OUT)
        trees[rev] = tree
    archives = {tag: prepare(tree, case, files, tag.replace(" ", "_"))
                for tag, tree in trees.items()}
    runs = {tag: [] for tag in trees}
    bare = []
    for _ in range(args.repeat):
        bare.append(child([PY, "-c", "pass"])[0])
        for tag, tree in trees.items():
            runs[tag].append(measure(tree, case, archives[tag], c.rom.test,
                                     tag.replace(" ", "_")))
    py = statistics.median(bare)
    print(f"interpreter start (python -c pass): {py:.3f} s; medians of {args.repeat} runs, "
          f"{c.name}, loading {c.rom.test}\n")
    print("| code | start-up [s] | process wall [s] | process CPU [s] | peak RSS [MB] |")
    print("|---|---|---|---|---|")
    for tag, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(f"| {tag} | {py + med['first_step']:.3f} | {med['wall']:.3f} | {med['cpu']:.3f} "
              f"| {med['rss']:.0f} |")


if __name__ == "__main__":
    main()
