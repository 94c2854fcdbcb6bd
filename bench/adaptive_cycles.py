"""End-to-end time of the adaptive ROM versus the HF run over a long cyclic history.

    python bench/adaptive_cycles.py [--n 6] [--cycles 5] [--tol 2e-2 [5e-2 ...]]
    python bench/adaptive_cycles.py --case cases/blade.toml --rom results/blade/rom.h5
                                    --loading hotter [--cycles 5] [--tol ...]

Cube (default): uses the cube pipeline's ROM of bench/out/cube<n>/ (run
bench/online_scaling.py first; it trains on one 2 s cycle of loadings a, b, c), or for
n = 6 the one of `make demo` (results/cube/) when the former does not exist. The loading
"hot" is repeated over ``cycles`` cycles of 2 s (20 steps each), far outside the
training set. With ``--case`` (a case whose ``[steps]`` repeat a cycle, ``cycles =
...``, e.g. the blade's flight) and ``--rom``: the loading ``--loading`` over
``cycles`` of the case's own cycles (its temperature fields computed first if
missing). Under `mpirun -n 2`, side by side: the HF run, the plain ROM, and the
adaptive ROM at each tolerance. Prints the errors against HF, the HF steps, the
times, and how the indicator reads the true error of the prediction (the largest true
error at a step without HF step, and the Spearman correlation over all steps); with
``--steps``, the indicator and the true error of the prediction at every step. With
``--compare REV``: then the HF run and the adaptive runs again with the code of git
revision ``REV`` (a worktree in ``bench/out/rev_<its commit>``; same case, same ROM),
each revision's adaptive runs against its own HF run, in a second table.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
import tomllib

from common import ENV, ROOT, worktree

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=ENV)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout, time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=6)
    p.add_argument("--cycles", type=int, default=5)
    p.add_argument("--tol", type=float, nargs="+", default=[2e-2])
    p.add_argument("--case", help="a case whose [steps] give cycles (default: the cube)")
    p.add_argument("--rom", help="its ROM archive (with --case)")
    p.add_argument("--loading", default="hot", help="the loading (with --case)")
    p.add_argument("--steps", action="store_true", help="also print, per step of each "
                   "adaptive run, the indicator and the true error of the prediction")
    p.add_argument("--compare", metavar="REV", help="also run HF and adaptive with the code "
                   "of this git revision, side by side")
    args = p.parse_args()
    py = sys.executable
    mpi = ["mpirun", "-n", "2", py, os.path.join(ROOT, "run.py")]
    if args.case:
        if not args.rom or not os.path.exists(args.rom):
            sys.exit(f"--case needs --rom, an existing archive (not {args.rom})")
        rom = os.path.abspath(args.rom)
        with open(args.case) as f:
            text = f.read()
        # the case's name (a copy of a case on another mesh has its own): its folder
        name = tomllib.loads(text).get("name") or os.path.splitext(
            os.path.basename(args.case))[0]
        if not re.search(r"\[steps\][^\[]*cycles\s*=", text):
            sys.exit(f"{args.case}: its [steps] have no 'cycles = ...'")
        text = re.sub(r"(\[steps\][^\[]*?cycles\s*=\s*)\d+", rf"\g<1>{args.cycles}", text)
        out = os.path.join(HERE, "out", f"{name}_{args.loading}", f"cycles{args.cycles}")
    else:
        d = os.path.join(HERE, "out", f"cube{args.n}")
        rom = os.path.join(d, "results", "rom.h5")
        if not os.path.exists(rom) and args.n == 6:  # the demo's ROM (cases/cube.toml)
            d, rom = os.path.join(ROOT, "cases"), os.path.join(ROOT, "results", "cube", "rom.h5")
        if not os.path.exists(rom):
            sys.exit(f"{rom} not found: run bench/online_scaling.py --sizes {args.n} first")
        with open(os.path.join(d, "cube.toml")) as f:
            text = f.read()
        text = re.sub(r"\[steps\][^\[]*", f"[steps]\ncycles = {args.cycles}\nperiod = 2.0\n"
                      "count = 20\n\n", text)
        name = "cube"
        out = os.path.join(HERE, "out", f"cube{args.n}", f"cycles{args.cycles}")
    # the mesh path relative to the case's folder; results (thermal fields) stay where
    # the case's own runs keep them (run from the repository root)
    text = text.replace('"../meshes/', f'"{os.path.join(ROOT, "meshes")}/')
    os.makedirs(out, exist_ok=True)
    case = os.path.join(out, f"{name}.toml")
    with open(case, "w") as f:
        f.write(text)
    if "[thermal]" in text:
        run(mpi + ["thermal", case, "--loading", args.loading])
    label = name if args.case else f"cube n = {args.n}"
    series(mpi, case, rom, args, out, label, "current code")
    if args.compare:
        short, tree = worktree(args.compare, os.path.join(HERE, "out"))
        mpi_rev = ["mpirun", "-n", "2", py, os.path.join(tree, "run.py")]
        series(mpi_rev, case, rom, args, os.path.join(out, f"rev_{short}"), label,
               f"code of {short}", plain=False)


def series(mpi, case, rom, args, out, label, code, plain=True):
    """The HF run, the plain ROM (``plain``) and the adaptive ROM at each tolerance of
    ``args`` in ``out`` with the ``run.py`` of ``mpi``, one after the other; prints
    their table."""
    hf_dir, on_dir = (os.path.join(out, k) for k in ("hf", "online"))
    loading = args.loading
    _, t_hf = run(mpi + ["hf", case, "--loading", loading, "--out", hf_dir, "--overwrite"])
    runs = []
    if plain:
        _, t_on = run(mpi + ["online", case, "--rom", rom, "--loading", loading, "--out",
                             on_dir])
        runs.append(("plain ROM", on_dir, t_on, None))
    for tol in args.tol:
        ada_dir = os.path.join(out, f"adaptive_{tol:g}")
        _, t_ada = run(mpi + ["adaptive", case, "--rom", rom, "--loading", loading, "--tol",
                              str(tol), "--out", ada_dir])
        runs.append((f"adaptive ROM, tol {tol:g}", ada_dir, t_ada, tol))
    sys.path.insert(0, ROOT)
    import numpy as np
    from scipy.stats import spearmanr

    from rom.report import _predicted_errors, relative_errors
    from rom.snapshots import read_snapshots

    ref = os.path.join(hf_dir, "snapshots.h5")
    hf = read_snapshots(ref, ("U",), ("p",))
    n = len(hf["time"])
    print(f"{label}, loading {loading} over {args.cycles} cycles ({n} steps), ROM {rom}, "
          f"{code}")
    print("| run | wall time [s] | vs HF | HF steps | error U | error p | largest true error "
          "without HF step | Spearman(indicator, true error) |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| HF | {t_hf:.1f} | 1 | {n} | - | - | - | - |")
    details, per_step = [], []
    for name, folder, t, tol in runs:
        r = read_snapshots(os.path.join(folder, "online.h5"), ("U",), ("p",))
        eu = relative_errors(r["U"], hf["U"])[1]
        ep = relative_errors(r["qp/p"], hf["qp/p"])[1]
        if tol is None:
            print(f"| {name} | {t:.1f} | {t_hf / t:.1f}x | 0 | {eu:.2e} | {ep:.2e} | - | - |")
            continue
        with open(os.path.join(folder, "adaptive.json")) as f:
            ada = json.load(f)
        true = _predicted_errors(os.path.join(folder, "online.h5"), ref, ada["times"],
                                 ada["indicator_fields"], ada["floor"],
                                 ada.get("indicator_peak"))
        quiet = ~np.asarray(ada["enriched"])
        worst = np.nanmax(true[quiet]) if quiet.any() else float("nan")
        ok = np.isfinite(true)
        rho = spearmanr(np.asarray(ada["indicator"])[ok], true[ok]).correlation
        print(f"| {name} | {t:.1f} | {t_hf / t:.1f}x | {ada['n_enrichments']} | {eu:.2e} | "
              f"{ep:.2e} | {worst:.2e} ({worst / tol:.1f} tol) | {rho:.2f} |")
        if args.steps:
            per_step.append((name, ada, true))
        tm = ada["timings"]
        details.append(f"tol {tol:g}: HF steps at {[e['step'] + 1 for e in ada['enrichments']]}; "
                       f"run {tm['total']:.1f} s (HF steps {tm['hf_step']:.1f}, updates "
                       f"{tm['update']:.1f}, online {tm['online']:.2f}, indicator "
                       f"{tm['indicator'] / n * 1e3:.2f} ms per step); calibration "
                       + ", ".join(f"{k} {v:.2f}" for k, v in ada["factors"].items()))
    print("\n".join(details))
    for name, ada, true in per_step:  # --steps
        print(f"\n{name}: step, HF step, indicator (field), true error of the prediction")
        for k, (e, ind, fld) in enumerate(zip(ada["enriched"], ada["indicator"],
                                              ada["indicator_field"])):
            print(f"{k + 1:4d} {'HF' if e else '  '} {ind:.2e} ({fld}) {true[k]:.2e}")
    print()


if __name__ == "__main__":
    main()
