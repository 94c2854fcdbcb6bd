"""The blade's training design chosen by the ROM itself (greedy), against the number of
training loadings, on the held-out loadings t1, t2, t3.

    mpirun -n 2 python bench/blade_greedy.py --dir results/blade [--add 12]
        [--candidates 120] [--seed 1] [--case cases/blade.toml]

``DIR`` is the output folder of ``make demo`` (``run.py pipeline cases/blade.toml``):
its training runs ``train_<a..f>/snapshots.h5`` are the first design (run when
missing), and the held-out references ``hf_<t1, t2, t3>`` are run when missing. The
candidates are those of the case's ``[rom.greedy]`` (:func:`rom.api.greedy_candidates`:
the flight of loading ``a`` with its hot spot sampled by Latin hypercube over span
0.3-0.8, chord 0.2-0.8, peak 100-200 C, the training domain of ``cases/blade_uq.py``),
``--candidates`` of them with ``--seed``; ``run.py greedy`` makes the same design
without the held-out errors. :func:`rom.api.greedy_training` adds
``--add`` of them one at a time, each the candidate of the largest indicator of the
current plain ROM (``DIR/greedy/``: the ROMs ``rom_<n>.h5``, the HF runs
``hf_<candidate>``). Printed after each build: the chosen hot spot, and the plain ROM's
errors on t1, t2, t3 (U and p, relative L2 over all steps, as the pipeline's report),
to compare with the maximin design of ``bench/blade_training.py``.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

TESTS = ("t1", "t2", "t3")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--case", default=os.path.join(ROOT, "cases", "blade.toml"))
    ap.add_argument("--add", type=int, default=12)
    ap.add_argument("--candidates", type=int, default=120)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    from dataclasses import replace

    from blade_training import complete_steps
    from mpi4py import MPI

    from rom import api
    from rom.report import relative_errors
    from rom.snapshots import read_snapshots

    comm = MPI.COMM_WORLD
    say = print if comm.rank == 0 else (lambda *a, **k: None)
    case = api.load_case(args.case)
    n_steps = len(case.times)
    training = []
    for name in case.rom.training:  # the first design
        out = os.path.join(args.dir, f"train_{name}")
        training.append(os.path.join(out, "snapshots.h5"))
        if complete_steps(training[-1]) < n_steps:
            c = case.with_loading(name)
            api.thermal_fields(c, comm)
            api.run_hf(c, comm, out)
    refs = {}
    for t in TESTS:
        out = os.path.join(args.dir, f"hf_{t}")
        refs[t] = os.path.join(out, "snapshots.h5")
        if complete_steps(refs[t]) < n_steps:
            c = case.with_loading(t)
            api.thermal_fields(c, comm)
            api.run_hf(c, comm, out)
    spec = replace(case.rom.greedy, samples=args.candidates, seed=args.seed)
    made = api.greedy_candidates(case, spec)
    candidates = {k: c for k, (c, _) in made.items()}
    spots = {k: p for k, (_, p) in made.items()}
    folder = os.path.join(args.dir, "greedy")
    rows = []

    def evaluate(n, rom):
        cells = []
        for t in TESTS:
            out = os.path.join(folder, f"online_n{n}_{t}")
            api.run_online(case.with_loading(t), rom, comm, out)
            if comm.rank == 0:
                a = read_snapshots(os.path.join(out, "online.h5"), ("U",), ("p",))
                b = read_snapshots(refs[t], ("U",), ("p",))
                cells.append((relative_errors(a["U"], b["U"])[1],
                              relative_errors(a["qp/p"], b["qp/p"])[1]))
        if comm.rank == 0:
            from rom.archive import LEAN, read_archive

            s = read_archive(rom, skip=LEAN)["summary"]
            rows.append((n, int(s["n_modes"]), int(s["n_ecm_points"]), cells))
            say(f"{n} training loadings: {int(s['n_modes'])} modes, "
                f"{int(s['n_ecm_points'])} ECM points; " + ", ".join(
                    f"{t} U {u:.2e} p {p:.2e}" for t, (u, p) in zip(TESTS, cells)),
                flush=True)

    t0 = time.perf_counter()
    res = api.greedy_training(case, candidates, training, comm, folder, args.add, tol=0.0,
                              evaluate=evaluate, log=lambda line: say(line, flush=True))
    wall = time.perf_counter() - t0
    say(f"\ngreedy: {len(res['chosen'])} loadings added in {wall:.0f} s ({res['stopped']})")
    say("\n| training loadings | added hot spot (span, chord, peak) | its indicator | modes "
        "| ECM points | " + " | ".join(f"{t}: U / p" for t in TESTS) + " |")
    say("|---|---|---|---|---|" + "---|" * len(TESTS))
    for i, (n, modes, points, cells) in enumerate(rows):
        if i == 0:
            added, score = "(a-f)", "-"
        else:
            c = res["chosen"][i - 1]
            p = spots[c["name"]]
            added = f"{p['hs_span']:.2f}, {p['hs_chord']:.2f}, {p['hs_peak']:.0f}"
            score = f"{c['score']:.2e}"
        say(f"| {n} | {added} | {score} | {modes} | {points} | " + " | ".join(
            f"{u:.2e} / {p:.2e}" for u, p in cells) + " |")


if __name__ == "__main__":
    main()
