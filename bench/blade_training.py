"""The blade's plain ROM on its held-out loadings against the number of training
loadings.

    python bench/blade_training.py --dir DIR [--sizes 2 4 6] [--ranks 2]

``DIR`` is the output folder of ``run.py pipeline cases/blade.toml --out DIR`` (its
training runs ``train_<loading>/snapshots.h5`` are reused). For each test loading
``t1``, ``t2``, ``t3`` the HF reference is run into ``DIR/hf_<loading>`` if missing;
for each size ``n`` a ROM is built from the first ``n`` training loadings
(``DIR/rom_n<n>.h5``) and run on every test loading. Printed: modes, ECM points and,
per test loading, the relative errors of U and p (L2 over all steps and the mesh, as
the pipeline's report computes them).
"""

import argparse
import os
import subprocess
import sys

from blade_solver import ENV, ROOT

sys.path.insert(0, ROOT)
CASE = os.path.join(ROOT, "cases", "blade.toml")
TESTS = ("t1", "t2", "t3")


def run(args, ranks):
    cmd = [sys.executable, os.path.join(ROOT, "run.py"), *args]
    if ranks > 1:
        cmd = ["mpirun", "-n", str(ranks)] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.stdout


def complete_steps(path):
    """The complete steps of a snapshot file (0 when there is none)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return int(f.attrs.get("completed_steps", 0))
    except OSError:
        return 0


def errors(rom_file, hf_file):
    """Relative errors of U and p, L2 over all steps (the report's
    :func:`rom.report.relative_errors`)."""
    from rom.report import relative_errors
    from rom.snapshots import read_snapshots

    a = read_snapshots(rom_file, ("U",), ("p",))
    b = read_snapshots(hf_file, ("U",), ("p",))
    return (relative_errors(a["U"], b["U"])[1], relative_errors(a["qp/p"], b["qp/p"])[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--sizes", nargs="+", type=int, default=[2, 4, 6])
    ap.add_argument("--ranks", type=int, default=2)
    args = ap.parse_args()
    from rom.archive import LEAN, read_archive
    from rom.case import load_case

    case = load_case(CASE)
    training = [os.path.join(args.dir, f"train_{n}", "snapshots.h5") for n in case.rom.training]
    for t in TESTS:
        hf = os.path.join(args.dir, f"hf_{t}", "snapshots.h5")
        if complete_steps(hf) < len(case.times):  # missing, or a killed run
            run(["hf", CASE, "--loading", t, "--out", os.path.dirname(hf), "--overwrite"],
                args.ranks)
    print("| training loadings | modes | ECM points | " +
          " | ".join(f"{t}: U / p" for t in TESTS) + " |")
    print("|---|---|---|" + "---|" * len(TESTS))
    for n in args.sizes:
        rom = os.path.join(args.dir, f"rom_n{n}.h5")
        run(["offline", CASE, "--snapshots", *training[:n], "--out", rom], args.ranks)
        s = read_archive(rom, skip=LEAN)["summary"]
        cells = []
        for t in TESTS:
            out = os.path.join(args.dir, f"online_n{n}_{t}")
            run(["online", CASE, "--rom", rom, "--loading", t, "--out", out], 1)
            eu, ep = errors(os.path.join(out, "online.h5"),
                            os.path.join(args.dir, f"hf_{t}", "snapshots.h5"))
            cells.append(f"{eu:.2e} / {ep:.2e}")
        print(f"| {', '.join(case.rom.training[:n])} | {int(s['n_modes'])} | "
              f"{int(s['n_ecm_points'])} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
