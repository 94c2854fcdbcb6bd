"""The blade's plain ROM on its held-out loadings against the number of training
loadings.

    python bench/blade_training.py --dir DIR [--sizes 6 9 12] [--ranks 2] [--case C]
        [--training a b c d e f g h i j k l]

``DIR`` is the output folder of ``run.py pipeline cases/blade.toml --out DIR`` (its
training runs ``train_<loading>/snapshots.h5`` are reused; missing or incomplete ones
are run, after their temperature fields). For each test loading ``t1``, ``t2``, ``t3``
the HF reference is run into ``DIR/hf_<loading>`` if missing; for each size ``n`` a ROM
is built from the first ``n`` training loadings (``--training``, default the case's)
(``DIR/rom_n<n>.h5``) and run on every test loading. Printed: modes, ECM points and, per
test loading, the relative errors of U and p (L2 over all steps and the mesh, as the
pipeline's report computes them); then the same errors of the best approximations in the
ROM's bases (the HF fields projected on the displacement basis and on the Gappy basis of
p, least squares in the norm of the errors): what the bases allow, apart from the
reduced solve.
"""

import argparse
import os
import sys

from common import ROOT
from common import run as common_run

sys.path.insert(0, ROOT)
CASE = os.path.join(ROOT, "cases", "blade.toml")
TESTS = ("t1", "t2", "t3")


def run(args, ranks):
    """``run.py ARGS`` on ``ranks`` ranks (:func:`common.run`)."""
    return common_run([sys.executable, os.path.join(ROOT, "run.py"), *args], ranks)


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


def projection_errors(rom, hf_file):
    """Relative errors (L2 over all steps) of the HF U and p projected on the ROM's
    displacement basis and Gappy basis of p, in the Euclidean norm of
    :func:`errors`."""
    import numpy as np

    from rom.archive import read_archive
    from rom.snapshots import read_snapshots

    a = read_archive(rom, skip=("mesh",))
    b = read_snapshots(hf_file, ("U",), ("p",))
    out = []
    for basis, snap in ((a["basis"]["U"], b["U"]), (a["gappy"]["p"]["basis"], b["qp/p"])):
        x = snap.reshape(len(snap), -1).T
        q, _ = np.linalg.qr(basis)
        out.append(np.linalg.norm(x - q @ (q.T @ x)) / np.linalg.norm(x))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--sizes", nargs="+", type=int, default=[6, 9, 12])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--case", default=CASE, help="the blade case (cases/blade.toml)")
    ap.add_argument("--training", nargs="+", help="training loadings, in order (default: the "
                    "case's [rom] training)")
    args = ap.parse_args()
    from rom.archive import LEAN, read_archive
    from rom.case import load_case

    case = load_case(args.case)
    names = list(args.training or case.rom.training)
    unknown = [n for n in names if n not in case.loadings]
    if unknown or max(args.sizes) > len(names):
        raise SystemExit(f"unknown loadings {unknown}" if unknown else
                         f"--sizes up to {max(args.sizes)}, but {len(names)} training loadings")
    training = [os.path.join(args.dir, f"train_{n}", "snapshots.h5") for n in names]
    run(["thermal", args.case], args.ranks)  # the fields of new loadings (others kept)
    for name, path in zip(names[:max(args.sizes)], training):
        if complete_steps(path) < len(case.times):
            run(["hf", args.case, "--loading", name, "--out", os.path.dirname(path),
                 "--overwrite"], args.ranks)
    for t in TESTS:
        hf = os.path.join(args.dir, f"hf_{t}", "snapshots.h5")
        if complete_steps(hf) < len(case.times):  # missing, or a killed run
            run(["hf", args.case, "--loading", t, "--out", os.path.dirname(hf), "--overwrite"],
                args.ranks)
    print("| training loadings | modes | ECM points | " +
          " | ".join(f"{t}: U / p" for t in TESTS) + " |")
    print("|---|---|---|" + "---|" * len(TESTS))
    best = []
    for n in args.sizes:
        rom = os.path.join(args.dir, f"rom_n{n}.h5")
        run(["offline", args.case, "--snapshots", *training[:n], "--out", rom], args.ranks)
        s = read_archive(rom, skip=LEAN)["summary"]
        cells = []
        for t in TESTS:
            out = os.path.join(args.dir, f"online_n{n}_{t}")
            run(["online", args.case, "--rom", rom, "--loading", t, "--out", out], 1)
            eu, ep = errors(os.path.join(out, "online.h5"),
                            os.path.join(args.dir, f"hf_{t}", "snapshots.h5"))
            cells.append(f"{eu:.2e} / {ep:.2e}")
            best.append(projection_errors(rom, os.path.join(args.dir, f"hf_{t}",
                                                            "snapshots.h5")))
        print(f"| {', '.join(names[:n])} | {int(s['n_modes'])} | "
              f"{int(s['n_ecm_points'])} | " + " | ".join(cells) + " |", flush=True)
    print("\nBest approximations in the bases (U on the displacement basis, p on the "
          "Gappy basis):\n")
    print("| training loadings | " + " | ".join(f"{t}: U / p" for t in TESTS) + " |")
    print("|---|" + "---|" * len(TESTS))
    for i, n in enumerate(args.sizes):
        cells = [f"{u:.2e} / {p:.2e}" for u, p in best[i * len(TESTS):(i + 1) * len(TESTS)]]
        print(f"| {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
