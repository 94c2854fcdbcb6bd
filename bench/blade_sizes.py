"""The blade's online time per step on meshes of growing size, and its speedup over
the HF step, with ROMs trained the same way on each mesh.

    python bench/blade_sizes.py [--presets S M] [--training a b] [--ranks 2]
        [--repeat 3]

For each preset the blade is meshed (``meshes/make_blade.py``, into
``bench/out/blade/``) and a copy of ``cases/blade.toml`` points to it (in
``bench/out/blade_<preset>/``); the temperature fields of the loadings used are
computed, the ``--training`` loadings run by HF on ``--ranks`` ranks (kept: a second
call reuses them), the ROM built from them, and ``run.py online`` run serially on
``t1`` ``--repeat`` times without writing fields (``--write-every 1000``). Printed
per preset: dofs, modes, reduced points, the HF time per step (the training runs'
steps, wall seconds on the ranks) and the online time per step (best of the repeats),
their ratio, and the online times relative to the first preset's.
"""

import argparse
import os
import re
import sys

from blade_solver import preset_case
from common import ROOT, run

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["S", "M"], choices=["S", "M", "L"])
    ap.add_argument("--training", nargs="+", default=["a", "b"])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    py, runpy = sys.executable, os.path.join(ROOT, "run.py")
    rows = []
    for preset in args.presets:
        out, case = preset_case(preset)
        for name in [*args.training, "t1"]:
            run([py, runpy, "thermal", case, "--loading", name], args.ranks)
        files, hf_time, hf_steps = [], 0.0, 0
        for name in args.training:
            d = os.path.join(out, f"train_{name}")
            files.append(os.path.join(d, "snapshots.h5"))
            log_path = os.path.join(d, "hf.log")
            if not os.path.exists(log_path):
                log = run([py, runpy, "hf", case, "--loading", name, "--out", d,
                           "--overwrite"], args.ranks)
                with open(log_path, "w") as f:
                    f.write(log)
            with open(log_path) as f:
                log = f.read()
            m = re.search(r"(\d+) of (\d+) step\(s\)", log)
            hf_steps += int(m.group(1))
            hf_time += float(re.search(r"steps ([\d.]+) \(law", log).group(1))
        rom = os.path.join(out, "rom.h5")
        off = run([py, runpy, "offline", case, "--snapshots", *files, "--out", rom],
                  args.ranks)
        modes = int(re.search(r"POD of U .*: (\d+) modes", off).group(1))
        dofs = int(re.search(r"(\d+) dofs", off).group(1))
        points = int(re.search(r"ECM .*: (\d+) points", off).group(1))
        best = float("inf")
        for _ in range(args.repeat):
            on = run([py, runpy, "online", case, "--rom", rom, "--loading", "t1", "--out",
                      os.path.join(out, "online_t1"), "--write-every", "1000"])
            best = min(best, float(re.search(r"\(([0-9.e+-]+) per step\)", on).group(1)))
        rows.append((preset, dofs, modes, points, hf_time / hf_steps, best))
        print(f"{preset}: {dofs} dofs, {modes} modes, {points} ECM points, HF "
              f"{hf_time / hf_steps:.3f} s per step, online {best:.3e} s per step",
              flush=True)
    print(f"\ntraining loadings {', '.join(args.training)}; HF on {args.ranks} ranks, "
          "online serial\n")
    print("| preset | dofs | modes | ECM points | HF per step [s] | online per step [s] | "
          "speedup per step | online / first preset's |")
    print("|---|---|---|---|---|---|---|---|")
    for preset, dofs, modes, points, hf, on in rows:
        print(f"| {preset} | {dofs} | {modes} | {points} | {hf:.3f} | {on:.3e} | "
              f"{hf / on:.0f}x | {on / rows[0][5]:.2f} |")


if __name__ == "__main__":
    main()
