"""The blade's thermal solve (rom.thermal, the [thermal] problem of cases/blade.toml)
on the S, M and L meshes, on 1 and 2 ranks.

    python bench/blade_thermal.py [--presets S M L] [--ranks 1 2] [--petsc "-pc_type hypre"]

For each preset the mesh is made if missing (``meshes/make_blade.py`` into
``bench/out/blade/``); a worker (this script with ``--worker``, under ``mpirun -n R``)
loads it, builds the conduction model of the case's take-off field of loading ``c``
(hot spot 190 C at mid-span) and solves it. Printed per run: nodes, Newton and Krylov
iterations, wall seconds of the mesh load, of the model set-up (face sets, convection
matrices) and of the solve, CPU seconds of the set-up and solve (largest rank), the
peak RSS of the largest rank, and the temperature range.
"""

import argparse
import json
import os
import subprocess
import sys
import time

from blade_solver import ENV, ROOT, blade_mesh


def worker(mesh_path, petsc=""):
    import resource

    import numpy as np
    from mpi4py import MPI

    sys.path.insert(0, ROOT)
    from rom.case import load_case
    from rom.mesh import load_mesh
    from rom.thermal import ThermalModel, solve_steady

    comm = MPI.COMM_WORLD
    case = load_case(os.path.join(ROOT, "cases", "blade.toml"))
    th = case.thermal
    params = dict(case.loadings["c"][1].thermal)
    t0 = time.perf_counter()
    mesh = load_mesh(mesh_path, comm, case.sets, case.partitioner)
    t1, c1 = time.perf_counter(), time.process_time()
    model = ThermalModel(mesh, th.conductivity, th.convection, th.source, params, th.define)
    comm.Barrier()
    t2, c2 = time.perf_counter(), time.process_time()
    from rom.cli import _parse_petsc

    T, info = solve_steady(model, th.fixed, th.T_init, th.rtol, th.max_iterations,
                           _parse_petsc(petsc), params=params, define=th.define)
    comm.Barrier()
    t3, c3 = time.perf_counter(), time.process_time()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # GB
    out = {"nodes": mesh.n_nodes_global, "newton": info["iterations"],
           "krylov": sum(info["ksp_iterations"]), "mesh_wall": t1 - t0,
           "setup_wall": t2 - t1, "solve_wall": t3 - t2,
           "setup_cpu": comm.allreduce(c2 - c1, op=MPI.MAX),
           "solve_cpu": comm.allreduce(c3 - c2, op=MPI.MAX),
           "rss_gb": comm.allreduce(rss, op=MPI.MAX),
           "T_min": comm.allreduce(float(np.min(T)), op=MPI.MIN),
           "T_max": comm.allreduce(float(np.max(T)), op=MPI.MAX)}
    if comm.rank == 0:
        print("RESULT " + json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["S", "M", "L"], choices=["S", "M", "L"])
    ap.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--petsc", default="", help="PETSc options of the thermal solver")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.petsc)
    print("| preset | nodes | ranks | Newton its | Krylov its | mesh load [s] | set-up wall / "
          "CPU [s] | solve wall / CPU [s] | peak RSS per rank [GB] | T range [C] |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for preset in args.presets:
        mesh = blade_mesh(preset)
        for ranks in args.ranks:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", mesh,
                   "--petsc", args.petsc]
            if ranks > 1:
                cmd = ["mpirun", "-n", str(ranks)] + cmd
            p = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
            line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if p.returncode or line is None:
                raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n"
                                 f"{p.stderr[-2000:]}")
            r = json.loads(line[7:])
            print(f"| {preset} | {r['nodes']} | {ranks} | {r['newton']} | {r['krylov']} | "
                  f"{r['mesh_wall']:.1f} | {r['setup_wall']:.2f} / {r['setup_cpu']:.2f} | "
                  f"{r['solve_wall']:.2f} / {r['solve_cpu']:.2f} | {r['rss_gb']:.2f} | "
                  f"{r['T_min']:.0f} to {r['T_max']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
