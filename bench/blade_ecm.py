"""The blade's reduced quadrature: the plain ROM's errors against the ECM tolerance,
and the cost of an adaptive enrichment (its ECM, the rest of the update, the HF step).

    mpirun -n 2 .venv/bin/python bench/blade_ecm.py --dir DIR [--tols 1e-6 1e-5 1e-4 1e-3]
        [--update-tols 1e-6 1e-4]

``DIR``: the output folder of ``run.py pipeline cases/blade.toml`` (its training runs
``train_<loading>/snapshots.h5`` are reused; the HF references of t1, t2, t3 are run
into ``DIR/hf_<loading>`` if missing).

1. For each tolerance of ``--tols``: the ROM built from the six training loadings
   (``DIR/rom_ecm<tol>.h5``): ECM and reduced points, offline time, and on t1, t2, t3
   the plain ROM's errors (U, p: L2 over all steps, as the report) and its online time.
2. For each tolerance of ``--update-tols``: an adaptive run (:class:`rom.api.Study`,
   the case's indicator tolerance) of one in-domain hot spot (span 0.39, chord 0.57,
   peak 193 C: the second sample of ``cases/blade_uq.py``) from that ROM: per HF step,
   the HF step, the whole update and its ECM (wall seconds, rank 0), and the points.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "cases"))

TESTS = ("t1", "t2", "t3")
SAMPLE = {"hs_span": 0.39, "hs_chord": 0.57, "hs_peak": 193.0}


def main(comm):
    from dataclasses import replace

    import blade_uq

    import rom.offline
    from rom import api
    from rom.report import relative_errors

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--tols", nargs="*", type=float, default=[1e-6, 1e-5, 1e-4, 1e-3])
    ap.add_argument("--update-tols", nargs="*", type=float, default=[1e-6, 1e-4])
    args = ap.parse_args()
    say = print if comm.rank == 0 else (lambda *a, **k: None)
    case = api.load_case(os.path.join(ROOT, "cases", "blade.toml"))
    training = [os.path.join(args.dir, f"train_{n}", "snapshots.h5") for n in case.rom.training]
    refs = {}
    for t in TESTS:
        refs[t] = os.path.join(args.dir, f"hf_{t}", "snapshots.h5")
        if not os.path.isfile(refs[t]):
            api.run_hf(case.with_loading(t), comm, os.path.dirname(refs[t]))

    def rom_at(tol):
        c = replace(case, rom=replace(case.rom, ecm_tol=tol))
        path = os.path.join(args.dir, f"rom_ecm{tol:g}.h5")
        t0, c0 = time.perf_counter(), time.process_time()
        s = api.build_rom(c, training, comm, path)
        return c, path, s, time.perf_counter() - t0, time.process_time() - c0

    if args.tols:
        say("| ECM tolerance | ECM points | reduced points | offline wall / CPU [s] | "
            + " | ".join(f"{t}: U / p" for t in TESTS) + " | online per run [s] |")
        say("|---|---|---|---|" + "---|" * len(TESTS) + "---|")
    for tol in args.tols:
        c, path, s, wall, cpu = rom_at(tol)
        cells, times = [], []
        for t in TESTS:
            on = api.run_online(c.with_loading(t), path, comm,
                                os.path.join(args.dir, f"online_ecm{tol:g}_{t}"))
            times.append(on["time_online"])
            if comm.rank == 0:
                a = api.read_result(on["files"][0], ("U",), ("p",))
                b = api.read_result(refs[t], ("U",), ("p",))
                cells.append(f"{relative_errors(a['U'], b['U'])[1]:.2e} / "
                             f"{relative_errors(a['qp/p'], b['qp/p'])[1]:.2e}")
        say(f"| {tol:g} | {s['n_ecm_points']} | {s['n_reduced_points']} | {wall:.1f} / "
            f"{cpu:.1f} | " + " | ".join(cells) + f" | {sum(times) / len(times):.3f} |",
            flush=True)

    ecm_time = [0.0]
    cubature = rom.offline.RomBuilder.cubature

    def timed(self, *a, **k):
        t0 = time.perf_counter()
        try:
            return cubature(self, *a, **k)
        finally:
            ecm_time[0] += time.perf_counter() - t0

    rom.offline.RomBuilder.cubature = timed
    if args.update_tols:
        say("\n| ECM tolerance | HF steps | HF step [s] | update [s] | of which ECM [s] | "
            "update / HF step | points before -> after |")
        say("|---|---|---|---|---|---|---|")
    for tol in args.update_tols:
        c, path, s, _, _ = rom_at(tol)
        study = api.Study(c, path, comm)
        sample = c.with_fields(blade_uq.loading_fields(SAMPLE), name="bench")
        api.thermal_fields(sample, comm, mesh=study.rom.rb.mesh)
        ecm_time[0] = 0.0
        r = study.run(sample)
        n = max(r["hf_steps"], 1)
        tm = r["timings"]
        say(f"| {tol:g} | {r['hf_steps']} | {tm['hf_step'] / n:.2f} | {tm['update'] / n:.2f} "
            f"| {ecm_time[0] / n:.2f} | {tm['update'] / max(tm['hf_step'], 1e-9):.2f} | "
            f"{s['n_reduced_points']} -> {r['n_points']} |", flush=True)


if __name__ == "__main__":
    from mpi4py import MPI

    from rom.parallel import guarded

    sys.exit(guarded(lambda: main(MPI.COMM_WORLD), MPI.COMM_WORLD))
