"""One time step of the Chaboche law on a tet10 cube: time per Newton iteration split
into law integration, assembly and linear solve; law throughput.

    mpirun -n N python bench/chaboche_step.py [--n 16] [--steps 1] [--json out.json]
                                              [--petsc pc_gamg_agg_nsmooths=0 ...]

Unit cube of tetra10 cells (6 n^3 cells, 3 (2n+1)^3 dofs; n = 16: 107,811 dofs,
98,304 quadrature points), DESIGN reference Chaboche parameters, x = 0 clamped,
pressure -150 MPa (traction) on x = 1 and 30 MPa on y = 1, a temperature gradient;
one step of 1 s from the unloaded state (well into viscoplasticity), or with
``--steps K`` the pressures ramped from 0 to their value in K steps over that second
(K = 1 is the single step), which shows the cost of a Newton iteration along a
loading, where the preconditioner is kept from step to step. Linear solver:
GMRES + GAMG (the consistent tangent is not symmetric), inexact Newton (forcing
terms of at most 1e-3; this case gave ksp_rtol = 1e-8 until 2026-12-01), the
preconditioner kept across Newton iterations until the iterations grow
(:class:`rom.assembly.LinearSolver`). Reports wall seconds per phase and CPU seconds
of the step (largest over the ranks).
"""

import argparse
import json
import time

import numpy as np
from mpi4py import MPI

CASE = """
[mesh]
file = "unused"
[material]
law = "chaboche"
E = 200000.0
nu = 0.3
alpha = 2e-5
R0 = 10.0
K = 300.0
n = 30.0
C = 1e5
D = 1e3
[sets.x0]
kind = "nodes"
where = "x == 0"
[sets.x1]
kind = "faces"
where = "x == 1"
[sets.y1]
kind = "faces"
where = "y == 1"
[[dirichlet]]
set = "x0"
[[pressure]]
set = "x1"
value = -150.0
table = [[0.0, 0.0], [1.0, 1.0]]
[[pressure]]
set = "y1"
value = 30.0
table = [[0.0, 0.0], [1.0, 1.0]]
[temperature]
expression = "20 + 400 * x"
[solver]
rtol = 1e-8
"""


def _peak_rss_gb():
    """This process's peak resident memory so far [GB] (``ru_maxrss``)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def main():
    from rom.case import parse_case
    from rom.hf import NewtonSolver, StructuralModel
    from rom.loads import Loading
    from rom.materials import make_law
    from rom.mesh import load_mesh
    from rom.meshgen import box_mesh
    from rom.petsc import PETSc

    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--steps", type=int, default=1,
                   help="steps of the load ramp over 1 s (1: the whole load at once)")
    p.add_argument("--json")
    p.add_argument("--petsc", nargs="*", default=[], metavar="KEY=VALUE",
                   help="solver options over the case's (e.g. pc_gamg_agg_nsmooths=0)")
    args = p.parse_args()
    comm = MPI.COMM_WORLD
    case = parse_case(CASE, "/tmp/bench_chaboche.toml")
    data = box_mesh((args.n,) * 3, (1, 1, 1), "tetra10")
    data.add_definitions(case.sets)
    mesh = load_mesh(data, comm)
    law = make_law(case.law, case.material_params())
    model = StructuralModel(mesh, law)
    loading = Loading(case, model)
    options = dict(case.solver.petsc_options(), **dict(a.split("=", 1) for a in args.petsc))
    newton = NewtonSolver(model, loading, case.solver.rtol, 25, options)
    u = np.zeros(model.dofmap.n_local)
    state = law.initial_state(model.n_qp)
    comm.Barrier()
    rss_setup = _peak_rss_gb()
    t0, c0 = time.perf_counter(), time.process_time()
    per_step = []  # (Newton iterations, Krylov iterations, rebuilds, CPU s)
    for k in range(1, args.steps + 1):
        c1, its0, reb0 = time.process_time(), len(newton.linear.iterations), newton.linear.rebuilds
        u, sigma, C, state, info = newton.step(u, state, k / args.steps, 1.0 / args.steps)
        per_step.append((info["iterations"], newton.linear.iterations[its0:],
                         newton.linear.rebuilds - reb0,
                         comm.allreduce(time.process_time() - c1, op=MPI.MAX)))
    cpu = time.process_time() - c0
    rss_step = _peak_rss_gb()
    comm.Barrier()
    wall = time.perf_counter() - t0
    n_it = sum(s[0] for s in per_step)
    n_eval = n_it + args.steps  # the law and the residual: once more than the tangent
    # law throughput on this rank's points, alone
    eps = model.strain(u)
    T = np.full(model.n_qp, 300.0)
    s0 = law.initial_state(model.n_qp)
    t1 = time.perf_counter()
    law.update(eps, s0, T, 1.0)
    law_alone = time.perf_counter() - t1
    n_qp = comm.allreduce(model.n_qp)
    out = {
        "ranks": comm.size, "dofs": model.dofmap.n_global, "qp": n_qp,
        # Newton iterations of all steps; the residuals of the last step
        "steps": args.steps, "newton_iterations": n_it, "residuals": info["residuals"],
        "step_wall": wall, "step_cpu_max_rank": comm.allreduce(cpu, op=MPI.MAX),
        # per step: Newton iterations, Krylov iterations of each, preconditioner
        # builds, CPU s (largest rank); the CPU per Newton iteration after the first
        # step (the preconditioner kept from step to step)
        "per_step": per_step,
        "cpu_per_newton_iteration_after_first_step": (
            sum(s[3] for s in per_step[1:]) / max(sum(s[0] for s in per_step[1:]), 1)
            if args.steps > 1 else None),
        "preconditioner_rebuilds": newton.linear.rebuilds,
        "law_per_iteration": comm.allreduce(newton.timings["law"], op=MPI.MAX) / n_eval,
        "assembly_per_iteration": comm.allreduce(newton.timings["assembly"], op=MPI.MAX)
        / n_eval,
        "solve_per_iteration": comm.allreduce(newton.timings["solve"], op=MPI.MAX) / max(n_it, 1),
        "ksp_iterations": newton.linear.iterations,
        "law_points_per_second": comm.allreduce(model.n_qp / law_alone),
        "max_p": comm.allreduce(float(state["p"].max()), op=MPI.MAX),
        # per rank: peak RSS after the set-up (mesh, model, loads, solver) and after
        # the step, and the nonzeros allocated for the tangent
        "peak_rss_setup_gb": comm.allgather(rss_setup),
        "peak_rss_step_gb": comm.allgather(rss_step),
        "matrix_nonzeros": comm.allgather(int(newton.A.getInfo(
            PETSc.Mat.InfoType.LOCAL)["nz_allocated"])),
    }
    if comm.rank == 0:
        print(json.dumps(out))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f)


if __name__ == "__main__":
    main()
