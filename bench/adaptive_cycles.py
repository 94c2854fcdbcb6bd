"""End-to-end time of the adaptive ROM versus the HF run over a long cyclic history.

    python bench/adaptive_cycles.py [--n 6] [--cycles 5] [--tol 2e-2]

Uses the cube pipeline's ROM of bench/out/cube<n>/ (run bench/online_scaling.py
first; it trains on one 2 s cycle of loadings a, b, c). The loading "hot" is repeated
over ``cycles`` cycles of 2 s (20 steps each), far outside the training set. Under
`mpirun -n 2`, side by side: the HF run, the plain ROM, and the adaptive ROM (which
learns the new loading during the first cycle and should then run without HF steps).
Prints the errors against HF, the HF steps, and the times.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return proc.stdout, time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=6)
    p.add_argument("--cycles", type=int, default=5)
    p.add_argument("--tol", type=float, default=2e-2)
    args = p.parse_args()
    py = sys.executable
    d = os.path.join(HERE, "out", f"cube{args.n}")
    rom = os.path.join(d, "results", "rom.h5")
    if not os.path.exists(rom):
        sys.exit(f"{rom} not found: run bench/online_scaling.py --sizes {args.n} first")
    with open(os.path.join(d, "cube.toml")) as f:
        text = f.read()
    text = re.sub(r"\[steps\][^\[]*", f"[steps]\ncycles = {args.cycles}\nperiod = 2.0\n"
                  "count = 20\n\n", text)
    out = os.path.join(d, f"cycles{args.cycles}")
    os.makedirs(out, exist_ok=True)
    case = os.path.join(out, "cube.toml")
    with open(case, "w") as f:
        f.write(text)
    mpi = ["mpirun", "-n", "2", py, os.path.join(ROOT, "run.py")]
    hf_dir, on_dir, ada_dir = (os.path.join(out, k) for k in ("hf", "online", "adaptive"))
    _, t_hf = run(mpi + ["hf", case, "--loading", "hot", "--out", hf_dir, "--overwrite"])
    _, t_on = run(mpi + ["online", case, "--rom", rom, "--loading", "hot", "--out", on_dir])
    _, t_ada = run(mpi + ["adaptive", case, "--rom", rom, "--loading", "hot", "--tol",
                          str(args.tol), "--out", ada_dir])
    sys.path.insert(0, ROOT)
    from rom.report import relative_errors
    from rom.snapshots import read_snapshots

    hf = read_snapshots(os.path.join(hf_dir, "snapshots.h5"), ("U",), ("p",))
    with open(os.path.join(ada_dir, "adaptive.json")) as f:
        ada = json.load(f)
    n = len(hf["time"])
    print(f"cube n = {args.n}, loading hot over {args.cycles} cycles ({n} steps), "
          f"tol {args.tol:g}")
    print("| run | wall time [s] | HF steps | error U | error p |")
    print("|---|---|---|---|---|")
    print(f"| HF | {t_hf:.1f} | {n} | - | - |")
    for name, folder, t, k in (("plain ROM", on_dir, t_on, 0),
                               ("adaptive ROM", ada_dir, t_ada, ada["n_enrichments"])):
        r = read_snapshots(os.path.join(folder, "online.h5"), ("U",), ("p",))
        eu = relative_errors(r["U"], hf["U"])[1]
        ep = relative_errors(r["qp/p"], hf["qp/p"])[1]
        print(f"| {name} | {t:.1f} | {k} | {eu:.2e} | {ep:.2e} |")
    steps = [e["step"] + 1 for e in ada["enrichments"]]
    tm = ada["timings"]
    print(f"adaptive: HF steps at {steps}; run {tm['total']:.1f} s (HF steps "
          f"{tm['hf_step']:.1f}, updates {tm['update']:.1f}, online {tm['online']:.2f}, "
          f"indicator {tm['indicator'] / n * 1e3:.2f} ms per step); end to end "
          f"{t_hf / t_ada:.1f}x faster than HF (wall times with start-up)")


if __name__ == "__main__":
    main()
