"""Linear solvers for the HF tangent, side by side at growing size (issue 11).

    python bench/solvers.py [--sizes 16 23 34] [--ranks 1 2] [--configs NAME ...]

For each tet10 cube size ``n`` (3 (2n+1)^3 dofs: 16 -> 107,811, 23 -> 311,469,
34 -> 985,527) the Chaboche step of ``bench/chaboche_step.py`` runs its first Newton
iteration and writes the tangent of its second iteration (the consistent,
non-symmetric tangent of a viscoplastic state), its right-hand side and the node
coordinates to ``bench/out/solvers/n{n}.petsc`` (cached). Then every solver
configuration of ``CONFIGS`` solves that system in a fresh process (``mpirun -n R``
for R > 1 ranks) to a relative residual of 1e-8, and the script prints and appends to
``bench/out/solvers/results.jsonl``: Krylov iterations, preconditioner set-up and
solve seconds (CPU, the largest over the ranks, and wall), the true relative residual
and the peak memory per rank.

``python bench/solvers.py --solve FILE --config NAME`` is the inner command.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out", "solvers")
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

_GAMG = {"pc_type": "gamg", "pc_gamg_type": "agg", "pc_gamg_agg_nsmooths": 1,
         "mg_levels_ksp_type": "chebyshev", "mg_levels_pc_type": "jacobi"}
_HYPRE = {"pc_type": "hypre", "pc_hypre_type": "boomeramg",
          "pc_hypre_boomeramg_nodal_coarsen": 6, "pc_hypre_boomeramg_vec_interp_variant": 3,
          "pc_hypre_boomeramg_strong_threshold": 0.5}
# name -> (PETSc options, preconditioner built from the symmetric part of the tangent)
CONFIGS = {
    "gmres30-gamg": ({"ksp_type": "gmres", **_GAMG}, False),  # the default until now
    "gmres200-gamg": ({"ksp_type": "gmres", "ksp_gmres_restart": 200, **_GAMG}, False),
    "bcgs-gamg": ({"ksp_type": "bcgs", **_GAMG}, False),
    "gmres30-gamg-thr": ({"ksp_type": "gmres", **_GAMG, "pc_gamg_threshold": 0.02}, False),
    "gmres30-gamg-sym": ({"ksp_type": "gmres", **_GAMG}, True),
    "gmres200-gamg-sym": ({"ksp_type": "gmres", "ksp_gmres_restart": 200, **_GAMG}, True),
    "bcgs-gamg-sym": ({"ksp_type": "bcgs", **_GAMG}, True),
    "gmres30-hypre": ({"ksp_type": "gmres", **_HYPRE}, False),
    "gmres200-hypre": ({"ksp_type": "gmres", "ksp_gmres_restart": 200, **_HYPRE}, False),
    "bcgs-hypre": ({"ksp_type": "bcgs", **_HYPRE}, False),
    "gmres30-hypre-plain": ({"ksp_type": "gmres", "pc_type": "hypre",
                             "pc_hypre_type": "boomeramg"}, False),
    "gmres30-hypre-nodal": ({"ksp_type": "gmres", "pc_type": "hypre",
                             "pc_hypre_type": "boomeramg",
                             "pc_hypre_boomeramg_nodal_coarsen": 6,
                             "pc_hypre_boomeramg_strong_threshold": 0.5}, False),
    "gmres30-hypre-thr": ({"ksp_type": "gmres", "pc_type": "hypre",
                           "pc_hypre_type": "boomeramg",
                           "pc_hypre_boomeramg_strong_threshold": 0.5}, False),
    "gmres30-gamg-sq0": ({"ksp_type": "gmres", **_GAMG, "pc_gamg_square_graph": 0}, False),
    "gmres30-gamg-ns0": ({"ksp_type": "gmres", **_GAMG, "pc_gamg_agg_nsmooths": 0}, False),
    "gmres30-gamg-sq0-ns0": ({"ksp_type": "gmres", **_GAMG, "pc_gamg_square_graph": 0,
                              "pc_gamg_agg_nsmooths": 0}, False),
    "gmres30-gamg-sor": ({"ksp_type": "gmres", **_GAMG, "mg_levels_ksp_type": "richardson",
                          "mg_levels_pc_type": "sor"}, False),
    "mumps": ({"ksp_type": "preonly", "pc_type": "lu",
               "pc_factor_mat_solver_type": "mumps"}, False),
}


def dump(n, path, iteration=2):
    """Run the Newton iterations of the Chaboche step on the n-cube before
    ``iteration`` (each linear solve to 1e-8) and write that iteration's tangent,
    right-hand side and coordinates to ``path``."""
    import chaboche_step
    from mpi4py import MPI
    from petsc4py import PETSc

    from rom.case import parse_case
    from rom.hf import NewtonSolver, StepFailure, StructuralModel
    from rom.loads import Loading
    from rom.materials import make_law
    from rom.mesh import load_mesh
    from rom.meshgen import box_mesh

    comm = MPI.COMM_WORLD
    case = parse_case(chaboche_step.CASE, "/tmp/bench_solvers.toml")
    data = box_mesh((n,) * 3, (1, 1, 1), "tetra10")
    data.add_definitions(case.sets)
    mesh = load_mesh(data, comm)
    law = make_law(case.law, case.material_params())
    model = StructuralModel(mesh, law)
    newton = NewtonSolver(model, Loading(case, model), case.solver.rtol, 25,
                          {"ksp_rtol": 1e-8})
    solve = newton.linear.solve
    calls = []

    class Dumped(Exception):
        pass

    def dumping_solve(b, x):
        calls.append(1)
        if len(calls) == iteration:
            viewer = PETSc.Viewer().createBinary(path + ".tmp", "w", comm=newton.dm.pcomm)
            newton.A.view(viewer)
            b.view(viewer)
            xyz = PETSc.Vec().createMPI((newton.dm.n_owned, newton.dm.n_global), bsize=3,
                                        comm=newton.dm.pcomm)
            xyz.array[:] = mesh.points[: mesh.n_owned].ravel()
            xyz.view(viewer)
            viewer.destroy()
            raise Dumped()
        return solve(b, x)

    newton.linear.solve = dumping_solve
    u = np.zeros(model.dofmap.n_local)
    try:
        newton.step(u, law.initial_state(model.n_qp), 1.0, 1.0)
    except (Dumped, StepFailure):
        pass
    if comm.rank == 0:
        os.replace(path + ".tmp", path)
        if os.path.exists(path + ".tmp.info"):
            os.replace(path + ".tmp.info", path + ".info")


def solve_one(path, name):
    """Inner command: solve the system of ``path`` with configuration ``name``."""
    from mpi4py import MPI
    from petsc4py import PETSc

    comm = MPI.COMM_WORLD
    opts, sym = CONFIGS[name]
    db = PETSc.Options()
    for k, v in {**opts, "ksp_rtol": 1e-8, "ksp_atol": 1e-50, "ksp_max_it": 3000,
                 "matload_block_size": 3}.items():
        db.setValue(k, str(v))
    viewer = PETSc.Viewer().createBinary(path, "r", comm=PETSc.COMM_WORLD)
    A = PETSc.Mat().create(comm=PETSc.COMM_WORLD)
    A.setType("aij")
    A.setFromOptions()
    A.load(viewer)
    b = PETSc.Vec().create(comm=PETSc.COMM_WORLD)
    b.load(viewer)
    xyz = PETSc.Vec().create(comm=PETSc.COMM_WORLD)
    xyz.setBlockSize(3)
    xyz.load(viewer)
    viewer.destroy()
    ns = PETSc.NullSpace().createRigidBody(xyz)
    P = A
    if sym:  # preconditioner from (A + A^T) / 2
        P = A.transpose()
        P.axpy(1.0, A)
        P.scale(0.5)
        P.setBlockSize(3)
    A.setNearNullSpace(ns)
    P.setNearNullSpace(ns)
    ksp = PETSc.KSP().create(comm=PETSc.COMM_WORLD)
    ksp.setOperators(A, P)
    ksp.setFromOptions()
    x = b.duplicate()
    comm.Barrier()
    c0, w0 = time.process_time(), time.perf_counter()
    ksp.setUp()
    c1, w1 = time.process_time(), time.perf_counter()
    ksp.solve(b, x)
    c2, w2 = time.process_time(), time.perf_counter()
    r = b.duplicate()
    A.mult(x, r)
    r.aypx(-1.0, b)
    out = {
        "config": name, "ranks": comm.size, "dofs": A.getSize()[0],
        "iterations": ksp.getIterationNumber(), "reason": ksp.getConvergedReason(),
        "setup_cpu": comm.allreduce(c1 - c0, op=MPI.MAX),
        "solve_cpu": comm.allreduce(c2 - c1, op=MPI.MAX),
        "setup_wall": w1 - w0, "solve_wall": w2 - w1,
        "true_relative_residual": r.norm() / b.norm(),
        "peak_rss_mb": comm.allgather(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if comm.rank == 0:
        print(json.dumps(out), flush=True)


def _path(n, iteration):
    return os.path.join(OUT, f"n{n}" + ("" if iteration == 2 else f"_it{iteration}")
                        + ".petsc")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[16, 23, 34])
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--configs", nargs="+", default=list(CONFIGS))
    p.add_argument("--mumps-max-dofs", type=int, default=400_000)
    p.add_argument("--solve")
    p.add_argument("--config")
    p.add_argument("--dump", type=int)
    p.add_argument("--iteration", type=int, default=2,
                   help="the Newton iteration whose tangent is solved (1 = elastic)")
    args = p.parse_args()
    if args.solve:
        return solve_one(args.solve, args.config)
    if args.dump:
        return dump(args.dump, _path(args.dump, args.iteration), args.iteration)
    os.makedirs(OUT, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    py = sys.executable
    for n in args.sizes:
        path = _path(n, args.iteration)
        if not os.path.exists(path):
            subprocess.run([py, __file__, "--dump", str(n), "--iteration",
                            str(args.iteration)], check=True, env=env)
        dofs = 3 * (2 * n + 1) ** 3
        for ranks in args.ranks:
            for name in args.configs:
                if name == "mumps" and dofs > args.mumps_max_dofs:
                    continue
                cmd = ([] if ranks == 1 else ["mpirun", "-n", str(ranks)]) + [
                    py, __file__, "--solve", path, "--config", name]
                proc = subprocess.run(cmd, env=env, text=True, capture_output=True)
                line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
                if proc.returncode or not line.startswith("{"):
                    print(f"n={n} ranks={ranks} {name}: failed\n{proc.stderr[-2000:]}",
                          flush=True)
                    continue
                rec = json.loads(line)
                rec["n"] = n
                rec["newton_iteration"] = args.iteration
                with open(os.path.join(OUT, "results.jsonl"), "a") as f:
                    f.write(json.dumps(rec) + "\n")
                print(f"n={n:3d} dofs={rec['dofs']:8d} ranks={ranks} {name:18s} "
                      f"it={rec['iterations']:5d} reason={rec['reason']:3d} "
                      f"setup={rec['setup_cpu']:7.1f}s solve={rec['solve_cpu']:7.1f}s CPU "
                      f"(wall {rec['setup_wall'] + rec['solve_wall']:7.1f}s) "
                      f"res={rec['true_relative_residual']:.1e} "
                      f"rss={max(rec['peak_rss_mb']):.0f}MB", flush=True)


if __name__ == "__main__":
    main()
