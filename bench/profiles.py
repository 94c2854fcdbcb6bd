"""Profiles (cProfile, serial) of the two costs issue 10 works on; BENCHMARKS.md quotes
their top lines.

    python bench/profiles.py ecm       the offline ECM alone on the snapshots of
                                       bench/offline_bench.py (run it first)
    python bench/profiles.py update    three adaptive enrichments on the 12^3 cube's
                                       `hot` loading (run bench/online_scaling.py
                                       --sizes 12 first)

Prints the cumulative time of the functions that make the ECM (stress_cubature and
what it calls) or the enrichment (AdaptiveRom.enrich and what it calls), and the
functions of largest own time.
"""

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def _report(prof, entry):
    """Callees of ``entry`` (cumulative time) and the top own times of profile ``prof``."""
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_callees(entry)
    stats.sort_stats("tottime").print_stats(12)


def profile_ecm():
    from mpi4py import MPI

    from rom.case import load_case
    from rom.offline import RomBuilder
    from rom.pod import snapshot_pod
    from rom.snapshots import SnapshotStore

    d = os.path.join(HERE, "out", "offline")
    comm = MPI.COMM_WORLD
    case = load_case(os.path.join(d, "case_300.toml"))
    rb = RomBuilder(case, comm)
    U, S = [], []
    for name in ("snap_300", "snap_600"):
        store = SnapshotStore.open_read(os.path.join(d, name, "snapshots.h5"), rb.model, comm)
        for k in range(len(store.times)):
            U.append(store.read_nodal("U", k).ravel())
            S.append(store.read_qp("sigma", k))
        store.close()
    import numpy as np

    rb.set_modes(snapshot_pod(np.column_stack(U), comm, rb.product, eps=case.rom.eps_u))
    S = np.array(S)  # one array (S, n_qp, 6), as the offline stage reads them
    prof = cProfile.Profile()
    t0, c0 = time.perf_counter(), time.process_time()
    prof.enable()
    ecm = rb.cubature(S)
    prof.disable()
    print(f"ECM: {len(ecm.points)} points, residual {ecm.residual:.3e}, {ecm.iterations} "
          f"iterations, {ecm.diagnostics}; wall {time.perf_counter() - t0:.1f} s, CPU "
          f"{time.process_time() - c0:.1f} s")
    _report(prof, "stress_cubature")


def profile_update():
    d = os.path.join(HERE, "out", "cube12")
    out = tempfile.mkdtemp()
    prof = os.path.join(out, "update.prof")
    sys.argv = ["run.py", "adaptive", os.path.join(d, "cube.toml"), "--rom",
                os.path.join(d, "results", "rom.h5"), "--loading", "hot", "--out",
                os.path.join(out, "adaptive"), "--max-enrichments", "3"]
    import runpy

    # run.py ends with sys.exit: cProfile.runctx catches it and still writes the profile
    cProfile.runctx("runpy.run_path(os.path.join(ROOT, 'run.py'), run_name='__main__')",
                    {"runpy": runpy, "os": os, "ROOT": ROOT}, {}, prof)
    _report(prof, "enrich")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["ecm", "update"])
    args = p.parse_args()
    profile_ecm() if args.what == "ecm" else profile_update()


if __name__ == "__main__":
    main()
