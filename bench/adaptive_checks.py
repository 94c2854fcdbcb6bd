"""Checks of the adaptive ROM on the cube's out-of-training loading "hot".

    python bench/adaptive_checks.py [--n 6]

Uses the ROM and the HF reference of bench/out/cube<n>/ (run bench/online_scaling.py
first). Reports:
* at the case's tol: the adaptive run on 2 ranks, saved; a second run of the saved
  archive (its HF steps, largest indicator, errors); the same first run on 1 rank
  (its enriched steps, difference to the 2-rank run);
* at tol 1e-2: the HF steps, errors and Spearman correlation, and the rerun.
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def adaptive(ranks, case, rom, out, tol=None, save=None):
    cmd = ["mpirun", "-n", str(ranks), sys.executable, os.path.join(ROOT, "run.py"),
           "adaptive", case, "--rom", rom, "--loading", "hot", "--out", out]
    cmd += ["--tol", str(tol)] if tol is not None else []
    cmd += ["--save", save] if save else []
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    with open(os.path.join(out, "adaptive.json")) as f:
        return json.load(f)


def main():
    from scipy.stats import spearmanr

    from rom.report import _predicted_errors, relative_errors
    from rom.snapshots import read_snapshots

    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=6)
    args = p.parse_args()
    d = os.path.join(HERE, "out", f"cube{args.n}")
    case, rom = os.path.join(d, "cube.toml"), os.path.join(d, "results", "rom.h5")
    ref = os.path.join(d, "results", "hf_hot", "snapshots.h5")
    if not (os.path.exists(rom) and os.path.exists(ref)):
        sys.exit(f"run bench/online_scaling.py --sizes {args.n} first")
    out = os.path.join(d, "adaptive_checks")
    hf = read_snapshots(ref, ("U",), ("p",))

    def errors(folder):
        r = read_snapshots(os.path.join(folder, "online.h5"), ("U",), ("p",))
        return (relative_errors(r["U"], hf["U"])[1], relative_errors(r["qp/p"], hf["qp/p"])[1],
                r)

    for tol in (None, 1e-2):
        tag = "case tol" if tol is None else f"tol {tol:g}"
        first_dir = os.path.join(out, f"first_{tol}")
        saved = os.path.join(first_dir, "enriched.h5")
        first = adaptive(2, case, rom, first_dir, tol, saved)
        eu, ep, r2 = errors(first_dir)
        true = _predicted_errors(os.path.join(first_dir, "online.h5"), ref, first["times"],
                                 first["indicator_fields"], first["floor"],
                             first.get("indicator_peak"))
        steps = [e["step"] + 1 for e in first["enrichments"]]
        print(f"{tag} ({first['tol']:g}): HF steps {steps}, errors U {eu:.2e} p {ep:.2e}, "
              f"Spearman {spearmanr(first['indicator'], true).correlation:.2f}")
        again = adaptive(2, case, saved, os.path.join(out, f"again_{tol}"), tol)
        eu, ep, _ = errors(os.path.join(out, f"again_{tol}"))
        print(f"  rerun of the enriched archive: HF steps "
              f"{[e['step'] + 1 for e in again['enrichments']]}, max indicator "
              f"{max(again['indicator']):.3g}, errors U {eu:.2e} p {ep:.2e}")
        if tol is None:
            one = adaptive(1, case, rom, os.path.join(out, "one_rank"))
            _, _, r1 = errors(os.path.join(out, "one_rank"))
            du = np.linalg.norm(r1["U"] - r2["U"]) / np.linalg.norm(r1["U"])
            dp = np.linalg.norm(r1["qp/p"] - r2["qp/p"]) / np.linalg.norm(r1["qp/p"])
            print(f"  1 rank vs 2 ranks: same enriched steps {one['enriched'] == first['enriched']}"
                  f", difference U {du:.1e} p {dp:.1e}")


if __name__ == "__main__":
    main()
