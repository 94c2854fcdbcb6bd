"""Profiles (cProfile) of the two costs issue 10 works on; BENCHMARKS.md quotes their
top lines.

    python bench/profiles.py ecm       the offline ECM alone on the snapshots of
                                       bench/offline_bench.py (run it first), serial
    python bench/profiles.py update    three adaptive enrichments on the 12^3 cube's
                                       `hot` loading (run bench/online_scaling.py
                                       --sizes 12 first), serial
    python bench/profiles.py update --ranks 2 [--case C --rom R --loading L]
        [--compare REV]                the same under mpirun, one profile per rank
                                       (default: the blade of `make demo` on `moved`);
                                       with --compare, revision REV too (a worktree in
                                       bench/out/rev_<commit>), one after the other

Prints the cumulative time of the functions that make the ECM (stress_cubature and
what it calls) or the enrichment (AdaptiveRom.enrich and what it calls), and the
functions of largest own time; with ``--ranks``, rank 0's seconds in the parts of the
enrichment (the sum over the enrichments), per code version.
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


# the parts of an enrichment: (label, regular expression of "file:line(function)")
UPDATE_PARTS = [
    ("enrichments (AdaptiveRom.enrich)", r"adaptive\.py:\d+\(enrich\)"),
    ("reduced quadrature (stress_cubature)", r"\(stress_cubature\)"),
    ("  of which the pursuit (_pursuit)", r"\(_pursuit\)"),
    ("incremental PODs (incremental_pod)", r"\(incremental_pod\)"),
    ("Q-DEIM rows (set_gappy)", r"\(set_gappy\)"),
    ("displacement modes (set_modes)", r"\(set_modes\)"),
    ("archive content (content)", r"offline\.py:\d+\(content\)"),
]

# run as a script under mpirun: one profile per rank of the command after it
_RANK_PROFILER = """import cProfile, os, runpy, sys
rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
sys.argv = sys.argv[1:]
prof = cProfile.Profile()
code = 0
prof.enable()
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exc:  # run.py ends with sys.exit: its code is the process's
    code = exc.code
finally:
    prof.disable()
    prof.dump_stats(os.environ["PROF_OUT"] + f".{rank}.prof")
sys.exit(code)
"""


def _parts(prof):
    """``{label: (cumulative seconds, calls)}`` of :data:`UPDATE_PARTS` in ``prof``."""
    import re

    stats = pstats.Stats(prof).stats
    out = {}
    for label, pattern in UPDATE_PARTS:
        hits = [(ct, nc) for (f, line, name), (_, nc, _, ct, _) in stats.items()
                if re.search(pattern, f"{f}:{line}({name})")]
        out[label] = (sum(h[0] for h in hits), sum(h[1] for h in hits))
    return out


def profile_update_ranks(args):
    import subprocess

    from common import ENV, worktree

    codes = [("current", ROOT)]
    if args.compare:
        codes.append(worktree(args.compare, os.path.join(HERE, "out")))
    tmp = tempfile.mkdtemp(prefix="profiles_")  # (kept: the profiles, to read further)
    wrapper = os.path.join(tmp, "rank_profiler.py")
    with open(wrapper, "w") as f:
        f.write(_RANK_PROFILER)
    results = {}
    for name, code in codes:
        out = os.path.join(tmp, name)
        cmd = ["mpirun", "-n", str(args.ranks), sys.executable, wrapper,
               os.path.join(code, "run.py"), "adaptive", args.case, "--rom", args.rom,
               "--loading", args.loading, "--max-enrichments", "3", "--out", out]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                           env=dict(ENV, PYTHONPATH=code, PROF_OUT=out))
        if p.returncode:
            sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
        results[name] = _parts(out + ".0.prof")
    print(f"rank 0 of {args.ranks}, {os.path.basename(args.case)}, loading {args.loading}, "
          f"3 enrichments: cumulative seconds under the profiler (calls); profiles in {tmp}\n")
    print("| part | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for label, _ in UPDATE_PARTS:
        print(f"| {label} | " + " | ".join(f"{r[label][0]:.2f} ({r[label][1]})"
                                           for r in results.values()) + " |")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["ecm", "update"])
    p.add_argument("--ranks", type=int, help="update: under mpirun, one profile per rank")
    p.add_argument("--case", default=os.path.join(ROOT, "cases", "blade.toml"))
    p.add_argument("--rom", default=os.path.join(ROOT, "results", "blade", "rom.h5"))
    p.add_argument("--loading", default="moved")
    p.add_argument("--compare", help="update --ranks: also profile this git revision")
    args = p.parse_args()
    args.case, args.rom = os.path.abspath(args.case), os.path.abspath(args.rom)
    if args.what == "ecm":
        profile_ecm()
    elif args.ranks:
        profile_update_ranks(args)
    else:
        profile_update()


if __name__ == "__main__":
    main()
