"""The cost of the nonintrusive path: replaying another solver's displacements through
the law, against the HF run that produced them.

    python bench/replay_cost.py [--presets S M] [--loading a] [--ranks 2]

Takes the blade's HF training run of ``--loading`` made by ``bench/blade_sizes.py``
(``bench/out/blade_<preset>/train_<loading>/``; run that first), reads its
``snapshots.xdmf`` as another solver's XDMF time series would be read
(``run.py import --format xdmf``: the XDMF reader, node matching, the replay through
the Chaboche law with the loading's temperatures, a snapshot file), on ``--ranks``
ranks. Printed per preset: dofs, steps, the HF run's wall time in its steps (from
its snapshot file) and the import's wall and CPU seconds (all ranks' CPU, from the
child's rusage), their ratio, the peak resident memory of the largest rank process
(``ru_maxrss`` of the waited children, as Linux reports it), the largest
equilibrium residual of the replay and the largest difference of the replayed
stresses from the HF run's (relative to the HF run's largest stress: zero up to the
solver's tolerance, the replay being exact for a run of the same law and mesh).
"""

import argparse
import os
import re
import resource
import sys
import time

import numpy as np
from common import ROOT, run

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["S"], choices=["S", "M", "L"])
    ap.add_argument("--loading", default="a")
    ap.add_argument("--ranks", type=int, default=2)
    args = ap.parse_args()
    import h5py

    py, runpy = sys.executable, os.path.join(ROOT, "run.py")
    print(f"{'preset':>6} {'dofs':>9} {'steps':>5} {'HF steps [s]':>12} "
          f"{'import wall [s]':>15} {'CPU [s]':>8} {'import/HF':>9} {'RSS [GB]':>8} "
          f"{'residual':>9} "
          f"{'sigma diff':>10}")
    for preset in args.presets:
        folder = os.path.join(HERE, "out", f"blade_{preset}")
        hf = os.path.join(folder, f"train_{args.loading}", "snapshots.h5")
        if not os.path.isfile(hf):
            sys.exit(f"{hf} is missing: run bench/blade_sizes.py --presets {preset} "
                     f"--training {args.loading} first")
        out = os.path.join(folder, f"replay_{args.loading}")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        text = run([py, runpy, "import", os.path.join(folder, "blade.toml"), "--loading",
                    args.loading, "--from", os.path.splitext(hf)[0] + ".xdmf", "--format",
                    "xdmf", "--out", out, "--overwrite"], ranks=args.ranks)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        residual = float(re.search(r"stresses: max (\S+)", text).group(1))
        with h5py.File(hf, "r") as f, h5py.File(os.path.join(out, "snapshots.h5"), "r") as g:
            steps, hf_time = int(f.attrs["completed_steps"]), float(f.attrs["steps_time"])
            dofs = 3 * f["mesh/points"].shape[0]
            peak = max(np.abs(f[f"steps/{k}/qp/sigma"][...]).max() for k in range(steps))
            diff = max(np.abs(f[f"steps/{k}/qp/sigma"][...]
                              - g[f"steps/{k}/qp/sigma"][...]).max() for k in range(steps))
        print(f"{preset:>6} {dofs:>9} {steps:>5} {hf_time:>12.2f} {wall:>15.2f} "
              f"{cpu:>8.2f} {wall / hf_time:>9.3f} {after.ru_maxrss / 2 ** 20:>8.2f} "
              f"{residual:>9.1e} {diff / peak:>10.1e}")


if __name__ == "__main__":
    main()
