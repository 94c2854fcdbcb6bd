"""The blade's ROM trained on runs of several flights, and its adaptive runs over 5
flights outside the training domain.

    python bench/blade_flights.py [--train-flights 2] [--flights 5]
        [--loadings hotter moved] [--ranks 2]

The case's training loadings (``cases/blade.toml``, ``[rom] training``) are run by HF
over ``--train-flights`` flights (``[steps] cycles``) into
``bench/out/blade_flights<K>/train_<loading>`` (kept: a second call reuses them),
the ROM is built from them (``rom.h5`` there, the case's ``[rom]`` settings), and
``bench/adaptive_cycles.py`` runs each of ``--loadings`` over ``--flights`` flights
with it: HF, plain and adaptive ROM side by side. Training on one flight (the
demo's archive) is the same command with ``--train-flights 1``. What it measures:
whether the shut-down and the second take-off from a plastically deformed blade,
absent from one-flight training runs, are what the adaptive ROM spends its HF steps
on over later flights.
"""

import argparse
import os
import re
import sys

from common import ROOT, run

HERE = os.path.dirname(os.path.abspath(__file__))
CASE = os.path.join(ROOT, "cases", "blade.toml")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-flights", type=int, default=2)
    ap.add_argument("--flights", type=int, default=5)
    ap.add_argument("--loadings", nargs="+", default=["hotter", "moved"])
    ap.add_argument("--ranks", type=int, default=2)
    args = ap.parse_args()
    sys.path.insert(0, ROOT)
    from rom.case import load_case

    out = os.path.join(HERE, "out", f"blade_flights{args.train_flights}")
    os.makedirs(out, exist_ok=True)
    with open(CASE) as f:
        text = f.read()
    text = re.sub(r"(\[steps\][^\[]*?cycles\s*=\s*)\d+", rf"\g<1>{args.train_flights}", text)
    text = text.replace('"../meshes/', f'"{os.path.join(ROOT, "meshes")}/')
    case = os.path.join(out, "blade.toml")
    with open(case, "w") as f:
        f.write(text)
    c = load_case(case)
    py, runpy = sys.executable, os.path.join(ROOT, "run.py")
    run([py, runpy, "thermal", case], args.ranks)
    files = []
    for name in c.rom.training:
        d = os.path.join(out, f"train_{name}")
        files.append(os.path.join(d, "snapshots.h5"))
        if not os.path.exists(files[-1]):
            run([py, runpy, "hf", case, "--loading", name, "--out", d, "--overwrite"],
                args.ranks)
    rom = os.path.join(out, "rom.h5")
    log = run([py, runpy, "offline", case, "--snapshots", *files, "--out", rom], args.ranks)
    print(f"ROM of {len(files)} training runs of {args.train_flights} flight(s): {rom}")
    print("\n".join(ln for ln in log.splitlines()
                    if ln.startswith(("offline:", "  POD", "  ECM", "  Gappy"))) + "\n")
    for loading in args.loadings:
        print(run([py, os.path.join(HERE, "adaptive_cycles.py"), "--case", CASE, "--rom", rom,
                   "--loading", loading, "--cycles", str(args.flights)], 1), flush=True)


if __name__ == "__main__":
    main()
