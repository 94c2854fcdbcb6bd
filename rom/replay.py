"""Replay: the dual quantities of an imported displacement history, by integrating
the case's constitutive law along it (the nonintrusive method of DESIGN section 8).

Another solver gives the nodal displacements ``u_k`` at times ``t_k`` (a reader of
:mod:`rom.io`); at every quadrature point of the case's mesh the strains
``eps(u_k)`` follow, and the law is integrated step by step from rest with the
case's temperature loading, giving ``sigma`` and every internal variable. When the
local integration fails on an increment, the increment is split into ``2, 4, ...``
sub-increments with the displacement interpolated linearly in time. The result is
written as this project's snapshot file, so that ``offline``, ``online`` and
``adaptive`` take it as a training run; every step also records the equilibrium
residual of the replayed stresses, ``|F_int(sigma) - F_ext|_free / max(|F_ext|,
|F_int|, |F_int|_cells)`` (``|F_int|_cells``: the norm of the cells' internal forces
before assembly, which does not vanish with the loads: the residual stresses of an
unloaded body): zero for the solver's own converged solution, and the measure of the
nonintrusive approximation when the other solver's law or discretization differ.
"""

import os
import time

import numpy as np

from rom import RomError, agree


def replay(case, results, comm, out_dir, log=print, overwrite=False, max_splits=6,
           source=None):
    """Collective. Replay ``results`` (:class:`rom.io.results.NodalResults`, read on
    every rank) on ``case``'s mesh and law; write ``<out_dir>/snapshots.h5`` (and its
    XDMF), with attributes ``source`` and ``source_stamp`` from ``source = (path,
    stamp)`` (what :func:`rom.sources.snapshot_file` checks) and ``source_steps``
    (the number of result times replayed). A first result at t = 0 is the initial
    state: it must be at rest, and is not replayed. Returns a dict: ``times``,
    ``residuals`` (relative equilibrium residual per step), ``substeps`` per step,
    ``path``. Raises :class:`rom.RomError` when the nodes do not match the mesh, or
    when an increment still fails after ``max_splits`` halvings."""
    from rom.assembly import dirichlet_rows
    from rom.hf import StructuralModel, check_loading, free_residual, write_step
    from rom.io.results import match_nodes
    from rom.loads import Loading
    from rom.materials import make_law
    from rom.mesh import load_mesh
    from rom.snapshots import SnapshotStore, prepare_output

    say = log if comm.rank == 0 and log else (lambda *a, **k: None)
    mesh = load_mesh(case.mesh_file, comm, case.sets, case.partitioner)
    say(mesh.summary())
    if case.thermal is not None:
        from rom.thermal import compute_thermal_fields

        compute_thermal_fields(case, comm, [None], mesh=mesh, log=say)
    law = make_law(case.law, case.material_params())
    model = StructuralModel(mesh, law)
    loading = Loading(case, model)
    check_loading(case, loading, comm)
    order = agree(comm, lambda: match_nodes(results, mesh.points))
    times = np.asarray(results.times, dtype=float)
    first = 0
    if len(times) and times[0] == 0:  # the initial state: at rest, as the replay starts
        if np.abs(results.displacement[0]).max() > 0:
            raise RomError(f"{results.source}: the displacements at t = 0 are not zero; "
                           "the replay starts from rest")
        first, times = 1, times[1:]
    if len(times) == 0 or np.any(np.diff(times) <= 0) or times[0] <= 0:
        raise RomError(f"{results.source}: the result times must be positive and "
                       f"increasing ({times[:5]} ...)")
    path = comm.bcast(os.path.join(out_dir, "snapshots.h5"), root=0)
    prepare_output(path, comm, overwrite=overwrite)
    store = SnapshotStore.create(path, model, comm, case.text, case.name, case.law,
                                 loading=case.loading or "")
    path_, stamp = source or (os.path.abspath(results.source), "")
    store._set_attrs(source=path_, source_stamp=stamp, source_steps=len(times))
    mesh.release_global()
    dm = model.dofmap
    R, work = dm.create_vector(), dm.create_vector()
    u_old = np.zeros(dm.n_local)
    state = law.initial_state(model.n_qp)
    t_old, residuals, substeps = 0.0, [], []
    try:
        for k, t in enumerate(times):
            ts = time.perf_counter()
            u = results.displacement[first + k][order].ravel()
            splits = 0
            while True:  # the increment, in 2**splits sub-increments
                n = 2 ** splits
                s_state = state
                failed = False
                for j in range(1, n + 1):
                    a = j / n
                    tj = t_old + a * (t - t_old)
                    T_qp = model.interpolate(loading.temperature.nodal(case.load_time(tj)))
                    eps = model.strain((1 - a) * u_old + a * u)
                    sigma, _, s_new, ok = law.update(eps, s_state, T_qp, (t - t_old) / n,
                                                      tangent=False)
                    if comm.allreduce(int(np.sum(~ok))):
                        failed = True
                        break
                    s_state = s_new
                if not failed:
                    break
                splits += 1
                if splits > max_splits:
                    raise RomError(f"replay of {results.source}: the local integration "
                                   f"fails on the increment to t = {t:g} even in "
                                   f"{2 ** max_splits} sub-increments")
            state = s_state
            tl = case.load_time(t)
            F_ext = loading.external_forces(tl)
            rows = dirichlet_rows(dm, loading.dirichlet_values(tl)[0])
            rnorm, F_int_norm = free_residual(model, loading, u, sigma, F_ext, rows, R, work)
            scale = max(F_int_norm, dm.local_to_vector(F_ext, work, add=True).norm(),
                        np.sqrt(comm.allreduce(model.element_forces_norm2(sigma))))
            rel = rnorm / scale if scale > 0 else 0.0
            residuals.append(rel)
            substeps.append(2 ** splits)
            write_step(store, model, t, u, sigma, state, loading.temperature.nodal(tl))
            say(f"step {k + 1}/{len(times)}  t = {t:<10.5g} sub-increments {2 ** splits}  "
                f"equilibrium residual {rel:.2e}  ({time.perf_counter() - ts:.2f} s)")
            u_old, t_old = u, t
    finally:
        store.close()
    return {"times": times, "residuals": residuals, "substeps": substeps, "path": path}
