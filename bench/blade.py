"""The turbine blade's numbers of issue 12 in one run: the HF cost and the online step on
the S, M and L meshes, the errors on held-out loadings against the training design, and
the adaptive ROM over several flights outside the training domain.

    python bench/blade.py [--parts sizes flights design] [--presets S M L]
        [--training a] [--ranks 2] [--repeat 3]
        [--flights-preset M] [--flights-training a b] [--flights 5]
        [--loadings moved hotter] [--design greedy|maximin] [--design-dir results/blade]

Every HF run is kept (``bench/out/blade_<preset>/``) and reused by a second call; the
report is printed and written to ``bench/out/blade_report.md``.

* ``sizes``, for each of ``--presets``: the blade meshed (``meshes/make_blade.py``) and
  ``cases/blade.toml`` copied onto that mesh; the temperature fields of the loadings
  used (``run.py thermal``); the HF flights of the ``--training`` loadings on
  ``--ranks`` ranks under GNU time (``run.py hf``); the ROM built from them (``run.py
  offline``, the case's settings); ``run.py online`` on the held-out loading ``t1``,
  serially, ``--repeat`` times without field output (best time). Printed per preset:
  dofs, modes, ECM points; the HF cost per Newton iteration split into the law, the
  assembly, the preconditioner's set-ups and the rest of the linear solves (the run
  summary's wall seconds on rank 0 over the flight's Newton iterations, which count
  the converged increments only: with step cuts or restarts, also printed, the time
  per iteration reads high); the peak RSS of the largest rank; the HF and online times
  per step, their ratio, the online time against the first preset's. Then the growth
  exponents (least squares in log-log over the presets) of the HF time per Newton
  iteration and of the peak memory per rank, and their projection to the 5M-dof blade
  of the seed papers on 2, 8 and 32 ranks: the time divided by the ranks, perfectly and
  with an efficiency of 0.85 per doubling; the memory per rank from a linear fit
  ``base + per_dof dofs`` of the peaks, its per-dof part scaled by ``ranks / R`` (the
  intercept, the interpreter and libraries, stays; ``bench/scale.py`` fits the
  replicated part from 1- and 2-rank runs instead).
* ``flights``: the loadings ``--loadings`` (outside the training domain) over
  ``--flights`` flights on the ``--flights-preset`` mesh, by
  ``bench/adaptive_cycles.py``: HF, plain ROM and adaptive ROM side by side, with the
  ROM of that preset trained on the flights of ``--flights-training`` (kept as
  ``rom_flights.h5``).
* ``design``: the errors of the plain ROM on the held-out loadings ``t1``, ``t2``,
  ``t3`` of the S mesh against the number of training loadings, by
  ``bench/blade_greedy.py --add 12`` (the ROM chooses each new training hot spot,
  about 30 min) or ``bench/blade_training.py --sizes 6 12 18`` (the case's maximin
  design), in ``--design-dir`` (the output folder of ``make demo``: its six training
  runs are the first design; missing runs are made).
"""

import argparse
import json
import os
import re
import sys
import time

import numpy as np
from blade_solver import preset_case
from common import ROOT, hf_summary, run

HERE = os.path.dirname(os.path.abspath(__file__))
PY, RUNPY = sys.executable, os.path.join(ROOT, "run.py")
DOFS_5M = 5.0e6


def hf_flight(out, case, loading, ranks):
    """The HF flight of ``loading`` (run once under GNU time, its log kept): the run
    summary's numbers and the peak RSS of the largest rank."""
    d = os.path.join(out, f"train_{loading}")
    log_path = os.path.join(d, "hf_timed.log")
    snapshots = os.path.join(d, "snapshots.h5")
    if not (os.path.exists(log_path) and os.path.exists(snapshots)
            and os.path.getmtime(log_path) > os.path.getmtime(case)):
        log = run(["/usr/bin/time", "-f", "GNUTIME rss_kb=%M", "mpirun", "-n", str(ranks),
                   PY, RUNPY, "hf", case, "--loading", loading, "--out", d, "--overwrite"],
                  1, stderr=True)
        with open(log_path, "w") as f:
            f.write(log)
    with open(log_path) as f:
        return dict(hf_summary(f.read()), snapshots=snapshots)


def build_rom(case, files, rom, ranks):
    """``run.py offline`` of the snapshot ``files`` into ``rom`` (kept when it was built
    by this script from the same files, after them and after the case); its modes and
    ECM points."""
    log_path = rom + ".log"
    head = "snapshots: " + " ".join(files) + "\n"
    fresh = os.path.exists(rom) and os.path.exists(log_path) and all(
        os.path.getmtime(rom) > os.path.getmtime(f) for f in [*files, case])
    if fresh:
        with open(log_path) as f:
            fresh = f.readline() == head
    if not fresh:
        log = run([PY, RUNPY, "offline", case, "--snapshots", *files, "--out", rom], ranks)
        with open(log_path, "w") as f:
            f.write(head + log)
    with open(log_path) as f:
        log = f.read()
    return (int(re.search(r"POD of U .*: (\d+) modes", log).group(1)),
            int(re.search(r"ECM .*: (\d+) points", log).group(1)))


def sizes(args, report):
    rows = []
    for preset in args.presets:
        out, case = preset_case(preset)
        for name in [*args.training, "t1"]:
            run([PY, RUNPY, "thermal", case, "--loading", name], args.ranks)
        flights = [hf_flight(out, case, name, args.ranks) for name in args.training]
        modes, points = build_rom(case, [f["snapshots"] for f in flights],
                                  os.path.join(out, "rom.h5"), args.ranks)
        best = float("inf")
        for _ in range(args.repeat):
            on = run([PY, RUNPY, "online", case, "--rom", os.path.join(out, "rom.h5"),
                      "--loading", "t1", "--out", os.path.join(out, "online_t1"),
                      "--write-every", "1000"])
            best = min(best, float(re.search(r"\(([0-9.e+-]+) per step\)", on).group(1)))
        total = {k: sum(f[k] for f in flights) for k in
                 ("newton", "krylov", "steps", "law", "assembly", "solve", "pc_setup",
                  "steps_done", "cuts", "restarts")}
        rows.append(dict(preset=preset, dofs=flights[0]["dofs"], modes=modes, points=points,
                         rss_gb=max(f["rss_gb"] for f in flights), online=best, **total))
        print(f"{preset}: done ({rows[-1]['dofs']} dofs)", flush=True)
    it = [r["newton"] for r in rows]
    report.append(f"### HF cost and online step on S, M and L\n\nTraining loadings "
                  f"{', '.join(args.training)} (one flight each); HF on {args.ranks} ranks "
                  "(wall seconds of rank 0 per Newton iteration, peak RSS of the largest "
                  "rank); online serial on t1, best of "
                  f"{args.repeat}.\n")
    report.append("| preset | dofs | Newton its (Krylov) | step cuts, restarts | law | "
                  "assembly | PC set-up | rest of the solve | steps' wall per Newton it [s] "
                  "| peak RSS per rank [GB] | KB per dof (largest rank x ranks) | modes | "
                  "ECM points | HF per step [s] | online per step [s] | speedup per step | "
                  "online / first |")
    report.append("|" + "---|" * 17)
    for r, n in zip(rows, it):
        hf_step = r["steps"] / r["steps_done"]
        report.append(
            f"| {r['preset']} | {r['dofs']:,} | {n} ({r['krylov']}) | {r['cuts']}, "
            f"{r['restarts']} | {r['law'] / n:.3f} | "
            f"{r['assembly'] / n:.3f} | {r['pc_setup'] / n:.3f} | "
            f"{(r['solve'] - r['pc_setup']) / n:.3f} | {r['steps'] / n:.3f} | "
            f"{r['rss_gb']:.2f} | {r['rss_gb'] * args.ranks * 2 ** 20 / r['dofs']:.2f} | "
            f"{r['modes']} | "
            f"{r['points']} | {hf_step:.3f} | {r['online']:.3e} | "
            f"{hf_step / r['online']:,.0f}x | {r['online'] / rows[0]['online']:.2f} |")
    if len(rows) >= 2:
        dofs = np.array([r["dofs"] for r in rows], dtype=float)
        t_it = np.array([r["steps"] / n for r, n in zip(rows, it)])
        mem = np.array([r["rss_gb"] for r in rows])
        bt, at = np.polyfit(np.log(dofs), np.log(t_it), 1)
        bm = np.polyfit(np.log(dofs), np.log(mem), 1)[0]
        per_dof, base = np.polyfit(dofs, mem, 1)  # peak per rank = base + per_dof dofs
        t5 = float(np.exp(at + bt * np.log(DOFS_5M)))
        report.append(f"\nGrowth over the presets: time per Newton iteration ~ dofs^{bt:.2f}, "
                      f"peak memory per rank ~ dofs^{bm:.2f}; linear fit of the peak per "
                      f"rank: {base:.2f} GB + {per_dof * 2 ** 20 * 1e3:.1f} KB per 1000 dofs "
                      f"on {args.ranks} ranks. Projection to the 5M-dof blade: {t5:.0f} s per "
                      f"Newton iteration on {args.ranks} ranks (extrapolated).\n")
        report.append("| ranks | wall per Newton iteration [s], perfect .. 0.85 per doubling "
                      "| memory per rank [GB]: the fit's intercept + its per-dof part "
                      f"scaled by {args.ranks} / ranks |")
        report.append("|---|---|---|")
        for ranks in (2, 8, 32):
            f = args.ranks / ranks
            eff = 0.85 ** np.log2(ranks / args.ranks)
            m5 = max(base, 0.0) + per_dof * DOFS_5M * f
            report.append(f"| {ranks} | {t5 * f:.0f} .. {t5 * f / eff:.0f} | {m5:.1f} |")
    report.append("")
    return rows


def flights(args, report):
    out, case = preset_case(args.flights_preset)
    for name in args.flights_training:
        run([PY, RUNPY, "thermal", case, "--loading", name], args.ranks)
    files = [hf_flight(out, case, name, args.ranks)["snapshots"]
             for name in args.flights_training]
    rom = os.path.join(out, "rom_flights.h5")
    modes, points = build_rom(case, files, rom, args.ranks)
    report.append(f"### {args.flights} flight(s) outside the training domain, "
                  f"{args.flights_preset} mesh\n\nROM trained on the flights of "
                  f"{', '.join(args.flights_training)}: {modes} modes, {points} ECM points; "
                  "`bench/adaptive_cycles.py` (2 ranks, wall seconds of each command):\n")
    for loading in args.loadings:
        report.append(run([PY, os.path.join(HERE, "adaptive_cycles.py"), "--case", case,
                           "--rom", rom, "--loading", loading, "--cycles",
                           str(args.flights)]))


def design(args, report):
    if args.design == "greedy":
        cmd = ["mpirun", "-n", str(args.ranks), PY, os.path.join(HERE, "blade_greedy.py"),
               "--dir", args.design_dir, "--add", "12"]
    else:
        cmd = [PY, os.path.join(HERE, "blade_training.py"), "--dir", args.design_dir,
               "--sizes", "6", "12", "18", "--training", *"abcdefghijklmnopqr"]
    shown = " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd)
    report.append(f"### Held-out errors against the training design ({args.design}), S "
                  f"mesh\n\n`{shown}`:\n")
    report.append(run(cmd))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", default=["sizes", "flights", "design"],
                    choices=["sizes", "flights", "design"])
    ap.add_argument("--presets", nargs="+", default=["S", "M", "L"], choices=["S", "M", "L"])
    ap.add_argument("--training", nargs="+", default=["a"])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--flights-preset", default="M", choices=["S", "M", "L"])
    ap.add_argument("--flights-training", nargs="+", default=["a", "b"])
    ap.add_argument("--flights", type=int, default=5)
    ap.add_argument("--loadings", nargs="+", default=["moved", "hotter"])
    ap.add_argument("--design", default="greedy", choices=["greedy", "maximin"])
    ap.add_argument("--design-dir", default=os.path.join(ROOT, "results", "blade"))
    args = ap.parse_args()
    t0 = time.strftime("%Y-%m-%d %H:%M")
    report = [f"## The blade in one run ({t0}): `python bench/blade.py "
              + " ".join(sys.argv[1:]) + "`\n"]
    parts = {"sizes": sizes, "flights": flights, "design": design}
    data = {}
    for part in args.parts:
        print(f"[blade] {part}", flush=True)
        started = time.perf_counter()
        data[part] = parts[part](args, report)
        report.append(f"({part}: {time.perf_counter() - started:.0f} s)\n")
    report.append(f"Ended {time.strftime('%Y-%m-%d %H:%M')}.")
    text = "\n".join(report)
    print("\n" + text)
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    with open(os.path.join(HERE, "out", "blade_report.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(HERE, "out", "blade_report.json"), "w") as f:
        json.dump(data.get("sizes"), f, indent=1)


if __name__ == "__main__":
    main()
