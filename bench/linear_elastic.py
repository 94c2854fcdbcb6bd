"""One linear elastic solve of a cube, timed by phase, with this code or DOLFINx.

    mpirun -n N python bench/linear_elastic.py --code rom|dolfinx --n 40 [--json out.json]
                                               [--petsc KEY=VALUE ...]

Unit cube of hex8 cells (n^3 cells, 3 (n+1)^3 dofs), E = 200000, nu = 0.3, x = 0
clamped, a pressure of 100 on x = 1. Both codes use the same KSP: CG + GAMG
(smoothed aggregation, V-cycles, 2 Chebyshev/Jacobi sweeps) with the rigid-body
near-nullspace, rtol 1e-8 (``--petsc`` changes or adds options, for both codes).
Phases: mesh (generate + distribute), setup (spaces, sparsity, forms), assembly
(matrix + right-hand side + Dirichlet), solve (KSP). DOLFINx's forms are
JIT-compiled in a warm-up run first, not timed. CPU seconds of each phase (rank 0) are
reported as ``<phase>_cpu``.
"""

import argparse
import json
import time

import numpy as np
from mpi4py import MPI

# every option of the multigrid cycle given: this code's own defaults differ (rom.assembly)
KSP_OPTIONS = {"ksp_type": "cg", "pc_type": "gamg", "ksp_rtol": 1e-8,
               "pc_gamg_type": "agg", "pc_gamg_agg_nsmooths": 1, "pc_mg_cycle_type": "v",
               "mg_levels_ksp_type": "chebyshev", "mg_levels_ksp_max_it": 2,
               "mg_levels_pc_type": "jacobi"}


def run_rom(comm, n):
    from rom.assembly import LinearSolver, dirichlet_rows
    from rom.case import parse_case
    from rom.loads import Loading
    from rom.materials import ThermoElastic
    from rom.mesh import SetDefinition, load_mesh
    from rom.meshgen import box_mesh

    t = {}
    t0, c0 = time.perf_counter(), time.process_time()
    data = box_mesh((n, n, n), (1, 1, 1), "hexahedron")
    data.add_definitions([SetDefinition("x0", "nodes", "x == 0"),
                          SetDefinition("x1", "faces", "x == 1")])
    mesh = load_mesh(data, comm)
    comm.Barrier()
    t["mesh"] = time.perf_counter() - t0
    t["mesh_cpu"] = time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    from rom.hf import StructuralModel

    law = ThermoElastic(200000.0, 0.3)
    model = StructuralModel(mesh, law)
    case = parse_case('[mesh]\nfile="x"\n[material]\nE=1.0\nnu=0.3\n[[dirichlet]]\nset="x0"\n'
                      '[[pressure]]\nset="x1"\nvalue=100.0\n', "/tmp/bench.toml")
    loading = Loading(case, model)
    A = model.assembler.create_matrix()
    solver = LinearSolver(model.dofmap, KSP_OPTIONS)
    comm.Barrier()
    t["setup"] = time.perf_counter() - t0
    t["setup_cpu"] = time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    C = law.stiffness(np.full(model.n_qp, 20.0))
    model.assembler.assemble(A, model.tangent_matrices(C))
    dofs, _ = loading.dirichlet_values(1.0)
    rows = dirichlet_rows(model.dofmap, dofs)
    A.zeroRowsColumns(rows, diag=1.0)
    b = model.dofmap.local_to_vector(loading.external_forces(1.0), add=True)
    b.setValues(rows, np.zeros(len(rows)))
    b.assemble()
    comm.Barrier()
    t["assembly"] = time.perf_counter() - t0
    t["assembly_cpu"] = time.process_time() - c0
    x = model.dofmap.create_vector()
    t0, c0 = time.perf_counter(), time.process_time()
    solver.set_operator(A)
    solver.solve(b, x)
    comm.Barrier()
    t["solve"] = time.perf_counter() - t0
    t["solve_cpu"] = time.process_time() - c0
    t["ksp_iterations"] = solver.ksp.getIterationNumber()
    t["dofs"] = model.dofmap.n_global
    t["u_max"] = x.norm(3)  # NORM_INFINITY
    return t


def run_dolfinx(comm, n):
    import ufl
    from dolfinx import fem, mesh
    from dolfinx.fem.petsc import apply_lifting, assemble_matrix, assemble_vector, set_bc
    from petsc4py import PETSc

    t = {}
    t0, c0 = time.perf_counter(), time.process_time()
    msh = mesh.create_box(comm, [np.zeros(3), np.ones(3)], [n, n, n], mesh.CellType.hexahedron)
    comm.Barrier()
    t["mesh"] = time.perf_counter() - t0
    t["mesh_cpu"] = time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    V = fem.VectorFunctionSpace(msh, ("Lagrange", 1))
    E, nu = 200000.0, 0.3
    mu, lmbda = E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)

    def sigma(w):
        eps = ufl.sym(ufl.grad(w))
        return 2 * mu * eps + lmbda * ufl.tr(eps) * ufl.Identity(3)

    fdim = 2
    facets1 = mesh.locate_entities_boundary(msh, fdim, lambda x: np.isclose(x[0], 1.0))
    tags = mesh.meshtags(msh, fdim, facets1, np.full(len(facets1), 1, dtype=np.int32))
    ds = ufl.Measure("ds", domain=msh, subdomain_data=tags)
    nrm = ufl.FacetNormal(msh)
    a = fem.form(ufl.inner(sigma(u), ufl.sym(ufl.grad(v))) * ufl.dx)
    L = fem.form(-100.0 * ufl.dot(nrm, v) * ds(1))
    dofs0 = fem.locate_dofs_geometrical(V, lambda x: np.isclose(x[0], 0.0))
    bc = fem.dirichletbc(np.zeros(3, dtype=PETSc.ScalarType), dofs0, V)
    comm.Barrier()
    t["setup"] = time.perf_counter() - t0
    t["setup_cpu"] = time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    A = assemble_matrix(a, bcs=[bc])
    A.assemble()
    b = assemble_vector(L)
    apply_lifting(b, [a], bcs=[[bc]])
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    set_bc(b, [bc])
    comm.Barrier()
    t["assembly"] = time.perf_counter() - t0
    t["assembly_cpu"] = time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    # rigid-body near-nullspace from the dof coordinates
    x = V.tabulate_dof_coordinates()[: V.dofmap.index_map.size_local]
    coords = PETSc.Vec().createMPI((3 * len(x), PETSc.DECIDE), bsize=3, comm=comm)
    coords.array[:] = x.ravel()
    A.setNearNullSpace(PETSc.NullSpace().createRigidBody(coords))
    opts = PETSc.Options()
    for k, val in KSP_OPTIONS.items():
        opts["dfx_" + k] = val
    ksp = PETSc.KSP().create(comm)
    ksp.setOptionsPrefix("dfx_")
    ksp.setOperators(A)
    ksp.setFromOptions()
    uh = fem.Function(V)
    ksp.solve(b, uh.vector)
    comm.Barrier()
    t["solve"] = time.perf_counter() - t0
    t["solve_cpu"] = time.process_time() - c0
    t["ksp_iterations"] = ksp.getIterationNumber()
    t["dofs"] = V.dofmap.index_map.size_global * 3
    t["u_max"] = uh.vector.norm(PETSc.NormType.NORM_INFINITY)
    return t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--code", choices=["rom", "dolfinx"], required=True)
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--json")
    p.add_argument("--petsc", nargs="*", default=[], metavar="KEY=VALUE",
                   help="KSP options over KSP_OPTIONS (e.g. pc_gamg_agg_nsmooths=0)")
    args = p.parse_args()
    KSP_OPTIONS.update(a.split("=", 1) for a in args.petsc)
    comm = MPI.COMM_WORLD
    if args.code == "rom":
        t = run_rom(comm, args.n)
    else:
        run_dolfinx(comm, 2)  # JIT warm-up (compiles the forms once)
        t = run_dolfinx(comm, args.n)
    t["ranks"] = comm.size
    t["code"] = args.code
    if comm.rank == 0:
        print(json.dumps(t))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(t, f)


if __name__ == "__main__":
    main()
