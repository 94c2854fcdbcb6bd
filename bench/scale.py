"""Scale: the HF solver at about 100k, 300k and 1M dofs on 1 and 2 ranks, side by side
with DOLFINx for linear elasticity, with the memory of every rank; a projection to
the 5M-dof blade from the measured per-dof and per-rank costs.

    python bench/scale.py [--sizes S M L] [--ranks 1 2] [--skip linear|chaboche]
                          [--json bench/out/scale/results.json]

Each configuration runs in a fresh process under ``mpirun -n R /usr/bin/time``, so
every rank reports its own peak RSS (GNU time ``%M``) and CPU seconds:

* *linear*: ``bench/linear_elastic.py`` (hex8 cube, CG + GAMG, rtol 1e-8), this code
  and DOLFINx 0.5 one after the other at each size and rank count; phases mesh, setup,
  assembly, solve (wall seconds, rank 0, after barriers).
* *chaboche*: ``bench/chaboche_step.py`` (tet10 cube, one step of the Chaboche law
  well into viscoplasticity): Newton iterations, Krylov iterations per Newton
  iteration, CPU seconds of the step (largest rank) per Newton iteration, memory per
  dof; then the largest size serially along a load ramp of 4 steps (``--steps 4``),
  the preconditioner kept from step to step.

Sizes: S, M, L = about 100k, 300k and 1M dofs (hex8 n = 32, 46, 69; tet10 n = 16, 23,
34). The L runs need about 9 GB serially; a whole run takes about 45 minutes on 2
cores. Prints Markdown tables for BENCHMARKS.md.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

from common import ENV

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out", "scale")
SIZES = {"T": {"linear": 8, "chaboche": 4},  # tiny: a check of this script
         "S": {"linear": 32, "chaboche": 16}, "M": {"linear": 46, "chaboche": 23},
         "L": {"linear": 69, "chaboche": 34}}
TIME_FORMAT = "GNUTIME rss_kb=%M user=%U sys=%S wall=%e"


def run(script, ranks, args):
    """Run ``script`` on ``ranks`` ranks, each under GNU time; returns the script's JSON
    result with ``rss_gb`` and ``cpu`` (lists over the ranks) and ``process_wall``."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False, dir=OUT) as f:
        out = f.name
    # each rank writes its GNU time report to its own file (OMPI_COMM_WORLD_RANK)
    inner = " ".join(["/usr/bin/time", "-f", f"'{TIME_FORMAT}'", "-o",
                      f"{out}.time.${{OMPI_COMM_WORLD_RANK:-0}}", sys.executable,
                      os.path.join(HERE, script), *args, "--json", out])
    cmd = ["sh", "-c", inner]
    if ranks > 1:
        cmd = ["mpirun", "-n", str(ranks), *cmd]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - t0
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
    with open(out) as f:
        res = json.load(f)
    os.unlink(out)
    ranks_t = []
    for k in range(ranks):
        with open(f"{out}.time.{k}") as f:
            line = [s for s in f.read().splitlines() if s.startswith("GNUTIME")][-1]
        os.unlink(f"{out}.time.{k}")
        ranks_t.append({k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", line)})
    res["rss_gb"] = [r["rss_kb"] / 2 ** 20 for r in ranks_t]
    res["cpu"] = [r["user"] + r["sys"] for r in ranks_t]
    res["process_wall"] = wall
    return res


def linear(sizes, ranks_list, rows):
    print("\n## Linear elasticity (hex8, CG + GAMG rtol 1e-8), this code and DOLFINx 0.5\n")
    print("| size | dofs | ranks | code | mesh [s] | setup [s] | assembly [s] | solve [s] "
          "| total [s] | KSP its | peak RSS per rank [GB] | process CPU, sum of ranks [s] |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        n = SIZES[size]["linear"]
        for ranks in ranks_list:
            pair = {}
            for code in ("rom", "dolfinx"):
                r = run("linear_elastic.py", ranks, ["--code", code, "--n", str(n)])
                r.update(kind="linear", size=size)
                r["total"] = r["mesh"] + r["setup"] + r["assembly"] + r["solve"]
                rows.append(r)
                pair[code] = r
                print(f"| {size} | {r['dofs']} | {ranks} | {code} | {r['mesh']:.2f} | "
                      f"{r['setup']:.2f} | {r['assembly']:.2f} | {r['solve']:.2f} | "
                      f"{r['total']:.2f} | {r['ksp_iterations']} | "
                      f"{' / '.join(f'{g:.2f}' for g in r['rss_gb'])} | {sum(r['cpu']):.1f} |",
                      flush=True)
            a, b = pair["rom"], pair["dolfinx"]
            print(f"| {size} | | {ranks} | ratio | | | | | **{a['total'] / b['total']:.2f}** "
                  f"| | **{max(a['rss_gb']) / max(b['rss_gb']):.2f}** | "
                  f"{sum(a['cpu']) / sum(b['cpu']):.2f} |", flush=True)


def chaboche(sizes, ranks_list, rows):
    print("\n## One Chaboche step (tet10, GMRES + GAMG, inexact Newton)\n")
    print("| size | dofs | ranks | Newton its | Krylov its per Newton it | CPU per Newton it "
          "(largest rank) [s] | step wall [s] | peak RSS per rank [GB] | KB per dof "
          "(sum of ranks) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        n = SIZES[size]["chaboche"]
        for ranks in ranks_list:
            r = run("chaboche_step.py", ranks, ["--n", str(n)])
            r.update(kind="chaboche", size=size)
            its = max(r["newton_iterations"], 1)
            r["krylov_per_newton"] = sum(r["ksp_iterations"]) / its
            r["cpu_per_newton"] = r["step_cpu_max_rank"] / its
            r["kb_per_dof"] = sum(r["rss_gb"]) * 2 ** 20 / r["dofs"]
            rows.append(r)
            print(f"| {size} | {r['dofs']} | {ranks} | {r['newton_iterations']} | "
                  f"{r['krylov_per_newton']:.1f} | {r['cpu_per_newton']:.1f} | "
                  f"{r['step_wall']:.1f} | {' / '.join(f'{g:.2f}' for g in r['rss_gb'])} | "
                  f"{r['kb_per_dof']:.1f} |", flush=True)
    ramp(max(sizes, key=lambda s: SIZES[s]["chaboche"]), rows)


def ramp(size, rows, steps=4):
    """Size ``size`` (the largest of the run) serially along a load ramp of ``steps``
    (> 1) steps (``chaboche_step.py --steps``): the cost of a Newton iteration once the
    preconditioner is kept from step to step."""
    n = SIZES[size]["chaboche"]
    r = run("chaboche_step.py", 1, ["--n", str(n), "--steps", str(steps)])
    r.update(kind="chaboche-ramp", size=size)
    rows.append(r)
    print(f"\n## The same law along a load ramp of {steps} steps ({size}, {r['dofs']} dofs, "
          "1 rank)\n")
    print("| step | Newton its | Krylov its | preconditioner builds | CPU [s] | "
          "CPU per Newton it [s] |")
    print("|---|---|---|---|---|---|")
    for k, (its, krylov, builds, cpu) in enumerate(r["per_step"], 1):
        print(f"| {k} | {its} | {', '.join(map(str, krylov))} | {builds} | {cpu:.1f} | "
              f"{cpu / max(its, 1):.1f} |")
    print(f"\nCPU per Newton iteration after the first step: "
          f"{r['cpu_per_newton_iteration_after_first_step']:.1f} s; over every step: "
          f"{r['step_cpu_max_rank'] / max(r['newton_iterations'], 1):.1f} s; peak RSS "
          f"{max(r['rss_gb']):.2f} GB.", flush=True)


def projection(rows, dofs=5.0e6, rank_counts=(2, 8, 32), pessimistic=0.85):
    """The 5M-dof blade from the Chaboche rows. CPU per Newton iteration on one rank:
    ``a n^b`` fitted over the serial sizes; on ``R`` ranks that divided by ``R``
    (perfect scaling; the 2-rank efficiency measured here is printed, and taken as at
    most 1) and, as a pessimistic bound, by ``R e^log2(R)`` with ``e = pessimistic``
    per doubling of the ranks (an assumption: this 2-core machine measures no more
    than 2 ranks). Memory per rank: ``m(R) = r + d / R`` (a replicated part and a
    distributed one) fitted on the largest size's 1- and 2-rank peaks (largest rank),
    scaled by the dofs."""
    import numpy as np

    ser = sorted((r for r in rows if r["kind"] == "chaboche" and r["ranks"] == 1),
                 key=lambda r: r["dofs"])
    if len(ser) < 2:
        return
    b, loga = np.polyfit(np.log([r["dofs"] for r in ser]),
                         np.log([r["cpu_per_newton"] for r in ser]), 1)
    t1 = float(np.exp(loga) * dofs ** b)
    big = ser[-1]
    par = [r for r in rows if r["kind"] == "chaboche" and r["ranks"] == 2
           and r["dofs"] == big["dofs"]]
    print("\n## Projection: a 5M-dof blade (tet10), one Chaboche Newton iteration\n")
    line = (f"Fit over {len(ser)} serial sizes: CPU per Newton iteration ~ dofs^{b:.2f}, "
            f"{t1:.0f} CPU s per Newton iteration serially at 5M dofs (extrapolated)")
    m1 = max(big["rss_gb"]) * dofs / big["dofs"]
    rep = dist = None
    if par:
        eff = big["step_wall"] / (2 * par[0]["step_wall"])
        m2 = max(par[0]["rss_gb"]) * dofs / big["dofs"]
        dist = 2 * (m1 - m2)
        rep = m1 - dist
        line += (f"; measured 2-rank efficiency {eff:.2f} at {big['dofs']} dofs; peak memory "
                 f"per rank {max(big['rss_gb']):.2f} GB on 1 rank, {max(par[0]['rss_gb']):.2f}"
                 f" GB on 2: replicated {rep:.1f} GB + distributed {dist:.1f} GB / R at 5M")
    print(line + ".\n")
    print(f"| ranks | wall per Newton iteration [s], perfect .. e = {pessimistic} per doubling "
          "| memory per rank [GB] (replicated + distributed / R) |")
    print("|---|---|---|")
    for R in rank_counts:
        lo = t1 / R
        hi = t1 / (R * pessimistic ** np.log2(R))
        mem = f"{rep + dist / R:.1f}" if rep is not None else f"{m1 / R:.1f} (no 2-rank run)"
        print(f"| {R} | {lo:.0f} .. {hi:.0f} | {mem} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["S", "M", "L"], choices=list(SIZES))
    ap.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--skip", nargs="*", default=[], choices=["linear", "chaboche"])
    ap.add_argument("--json", default=os.path.join(OUT, "results.json"))
    ap.add_argument("--project-only", action="store_true",
                    help="print the projection from the results already in --json")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    if args.project_only:
        with open(args.json) as f:
            return projection(json.load(f))
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2 ** 30:.0f} GiB, "
          f"python {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M')}")
    rows = []
    if "linear" not in args.skip:
        linear(args.sizes, args.ranks, rows)
    if "chaboche" not in args.skip:
        chaboche(args.sizes, args.ranks, rows)
        projection(rows)
    with open(args.json, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
