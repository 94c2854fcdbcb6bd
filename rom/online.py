"""Online stage: the hyper-reduced Newton solver on the modal coordinates.

Per time step (DESIGN section 5), with the reduced points ``S`` (ECM points with
weights ``omega``, Gappy points with weight 0), the mode strains ``B_q (6, N)``:

    r(gamma) = sum_q omega_q B_q^T sigma_q(B_q gamma) + K_s gamma - f_ext(t)
    k(gamma) = sum_q omega_q B_q^T C_q B_q + K_s

The law runs at the reduced points only, the temperature is interpolated there from
the nodal field at their cells' nodes only, the external load is
``f_ext(t) = sum_k table_k(t)^power_k f_k`` (reduced vectors from the archive).
Nothing here depends on the mesh size; full fields (``U = Psi gamma``, Gappy-POD of
``p`` and ``sigma``) are reconstructed only for the steps written.
"""

import os
import time

import numpy as np

from rom import RomError, inject_fault
from rom.loads import NodeSubset, TemperatureLoading
from rom.stepping import StepFailure, advance_with_cuts, newton_converged

__all__ = ["ReducedModel", "ResultWriter", "check_compatible", "open_for_case", "reduced_loads",
           "run_online", "online_command", "WRITTEN_FIELDS"]


def check_compatible(archive, case, path="ROM archive"):
    """The case's mesh (:class:`rom.mesh.MeshData`) if ``archive`` was built for
    ``case``'s mesh and law; :class:`rom.RomError` otherwise. When the mesh file has
    the bytes the archive was built from (``mesh_file_hash``), the mesh is the
    archive's copy, read without parsing the file; otherwise the file is read and its
    mesh must be the archive's (same nodes and cells: a mesh converted to another
    format is accepted)."""
    from rom.archive import file_hash, mesh_signature, read_mesh

    a = archive["attrs"]
    if a.get("law") != case.law:
        raise RomError(f"{path} was built for law '{a.get('law')}', the case uses "
                       f"'{case.law}'")
    if not os.path.isfile(case.mesh_file):
        raise RomError(f"mesh file not found: {case.mesh_file}")
    if file_hash(case.mesh_file) == a.get("mesh_file_hash"):
        data = (archive["mesh"] if archive.get("mesh") is not None
                else read_mesh(archive["path"]))
        data.source = case.mesh_file
        return data
    from rom.io.meshfile import read_mesh_file

    data = read_mesh_file(case.mesh_file)
    if mesh_signature(data.points, data.block_cells) != a.get("mesh_signature"):
        raise RomError(f"{path} was built on another mesh than {case.mesh_file} "
                       f"(case '{a.get('case_name')}')")
    return data


def open_collective(archive_path, case, comm, skip=(), member=None):
    """Collective. ``(archive, mesh data)``: rank 0 reads the archive (but ``skip``) and
    checks it against ``case`` (:func:`open_for_case`, choosing the member of a
    dictionary of local ROMs), the other ranks read the same member's reduced
    operators only (:data:`rom.archive.LEAN`; their mesh data is None)."""
    from rom import agree
    from rom.archive import LEAN, read_archive

    out = agree(comm, lambda: open_for_case(archive_path, case, skip, member)
                if comm.rank == 0 else None)
    member = comm.bcast(out[0]["member"] if comm.rank == 0 else None, root=0)
    other = agree(comm, lambda: read_archive(archive_path, LEAN, member)
                  if comm.rank else None)
    return out if comm.rank == 0 else (other, None)


def open_for_case(archive_path, case, skip=(), member=None):
    """``(archive, mesh data)``: the archive ``archive_path`` read (but ``skip``, see
    :func:`rom.archive.read_archive`) and checked against ``case``: its name, mesh and
    law, homogeneous Dirichlet conditions on the supports the modes were built with,
    and a reduced load for every load of the case on the same faces or axis;
    :class:`rom.RomError` otherwise. Of a dictionary of local ROMs, the ``member``
    given or else the one selected for the case's loading
    (:func:`rom.dictionary.select_member`; ``archive["selection"]``: the
    dissimilarities to each member's medoid)."""
    from rom.archive import read_archive, read_clusters, read_mesh
    from rom.loads import require_affine_loads, require_homogeneous_dirichlet, support_signatures

    clusters = read_clusters(archive_path) if os.path.isfile(archive_path) else None
    selection = None
    if clusters is not None and member is None:
        from rom.dictionary import select_member

        member, selection = select_member(clusters, case, read_mesh(archive_path))
    archive = read_archive(archive_path, skip=skip, member=member)
    archive["selection"] = selection
    a = archive["attrs"]
    if a.get("case_name") != case.name:
        raise RomError(f"{archive_path} was built for case '{a.get('case_name')}'"
                       f", not '{case.name}'")
    require_homogeneous_dirichlet(case)
    require_affine_loads(case)
    data = check_compatible(archive, case, archive_path)
    data.add_definitions(case.sets)
    dirichlet, pressure = support_signatures(data, case)
    if a.get("dirichlet", "") != dirichlet:
        raise RomError(f"{archive_path}: its modes hold the Dirichlet supports "
                       f"'{a.get('dirichlet', '')}', the case {os.path.basename(case.path)} "
                       f"has '{dirichlet}' (set:components:hash of the nodes); rebuild the "
                       "ROM from runs with the case's supports")
    reduced_loads(archive, case, archive_path, pressure)  # refuses an unknown support
    reduced_supports(archive, case, archive_path, pressure)  # same sets and faces
    return archive, data


def reduced_supports(archive, case, path="ROM archive", signatures=None):
    """The stiffness ``(N, N)`` of the case's elastic supports on the archive's modes
    (``normal Kn_r + tangential Kt_r`` of each, the archive holding the unit matrices),
    or None without supports. The archive and the case must have supports on the same
    sets (and faces, ``signatures`` from :func:`rom.loads.support_signatures`): the
    modes were built with them; :class:`rom.RomError` otherwise."""
    have = {s["set"]: s for s in archive.get("supports", [])}
    want = {sp.set: sp for sp in case.supports}
    if set(have) != set(want):
        raise RomError(f"{path} was built with elastic supports on "
                       f"{', '.join(sorted(have)) or 'no set'}, the case "
                       f"{os.path.basename(case.path)} has supports on "
                       f"{', '.join(sorted(want)) or 'no set'}; rebuild the ROM from runs "
                       "with the case's supports")
    K = None
    for name, sp in want.items():
        s = have[name]
        if signatures is not None and s["faces"] != signatures.get(f"support:{name}"):
            raise RomError(f"{path}: the support set '{name}' selects other faces than in "
                           "training; rebuild the ROM")
        k = sp.normal * np.asarray(s["normal"]) + sp.tangential * np.asarray(s["tangential"])
        K = k if K is None else K + k
    return K


def reduced_loads(archive, case, path="ROM archive", supports=None):
    """The case's external loads on the archive's modes: ``[(LoadTerm, f_k (N,))]``,
    ``f_ext(t) = sum term.factor(t) f_k``. The archive holds the reduced vectors of unit
    load terms; the magnitudes and time tables are the case's. A load on a set (or a
    set whose faces, ``supports``: ``{name: hash}`` from
    :func:`rom.loads.support_signatures`, differ from the archive's) or an axis the
    archive has no reduced vector for raises :class:`rom.RomError` naming it."""
    from rom.loads import load_terms

    known = {}
    for term in archive["loads"]:
        known.setdefault(term["name"], []).append(term)
    out = []
    for term in load_terms(case):
        cands = known.get(term.name, [])
        if term.axis is not None:
            cands = [c for c in cands if c.get("axis") is not None
                     and _same_axis(c["axis"], term.axis)]
        elif supports is not None:
            cands = [c for c in cands if c.get("support") == supports[term.name]]
        if not cands:
            have = ", ".join(sorted(f"{c['name']}" + (f" (axis {_axis_text(c['axis'])})"
                                                       if c.get("axis") else "")
                                    for c in archive["loads"])) or "none"
            if term.axis is not None:
                what = f"a centrifugal load about the axis {_axis_text(term.axis)}"
            elif term.field is None:
                what = f"a pressure on set '{term.set}'"
            else:
                what = (f"the pressure field {term.field[1]!r} on set '{term.set}' (a ROM "
                        "holds the pressure fields of its training runs)")
            if term.axis is None and known.get(term.name):
                what += " with these faces (the set selects other faces than in training)"
            raise RomError(f"{path} has no reduced load for {what} of "
                           f"{os.path.basename(case.path)} (it has: {have}); rebuild the ROM "
                           "from training runs with this load")
        out.append((term, np.asarray(cands[0]["vector"])))
    return out


def _same_axis(a, b, tol=1e-9):
    """Do the axes ``(point, unit direction)`` ``a`` and ``b`` describe the same line?"""
    pa, da = (np.asarray(v, dtype=float) for v in a)
    pb, db = (np.asarray(v, dtype=float) for v in b)
    if np.linalg.norm(np.cross(da, db)) > tol:
        return False
    d = pb - pa
    scale = max(1.0, np.linalg.norm(pa), np.linalg.norm(pb))
    return np.linalg.norm(d - (d @ da) * da) <= tol * scale


def _axis_text(axis):
    return f"point {list(axis[0])}, direction {list(axis[1])}"


class ReducedModel:
    """A ROM ready to run: reduced operators of an archive, a law, a case's loading.

    Parameters
    ----------
    archive : dict from :func:`rom.archive.read_archive`
    case : rom.case.Case (temperature loading, time steps, solver settings)

    The model holds what the reduced points need (their cells' nodes, with the mesh
    file's point numbers for temperature files): its size is independent of the mesh.
    """

    def __init__(self, archive, case):
        from rom.materials import make_law

        red = archive["reduced"]
        self.archive = archive
        self.case = case
        self.law = make_law(case.law, case.material_params())
        self.B = red["B"]
        self.w = red["weights"]
        self.n_modes = self.B.shape[2]
        # omega_q B_q stacked (6 m, N): f_int = WB^T sigma, K = WB^T (C B)
        self._WB = (self.w[:, None, None] * self.B).reshape(-1, self.n_modes)
        self.m = len(self.w)
        self.shape = red["shape"]
        nodes, inverse = np.unique(red["cell_nodes"], return_inverse=True)
        self._cell_local = inverse.reshape(red["cell_nodes"].shape)
        pts = np.zeros((len(nodes), 3))
        pts[self._cell_local.ravel()] = red["node_points"].reshape(-1, 3)
        # the few nodes the reduced points need (their temperatures)
        attrs = archive["attrs"]
        self.nodes = NodeSubset(pts, nodes, red["node_file_ids"], int(attrs["n_nodes"]),
                                int(attrs["n_file_points"]))
        self.temperature = TemperatureLoading(case.temperature, self.nodes,
                                              getattr(self.law, "T_ref", 20.0))
        self.loads = reduced_loads(archive, case)
        self.K_support = reduced_supports(archive, case)  # (N, N) or None
        self.rtol = case.solver.rtol
        self.max_iterations = case.solver.max_iterations
        self.timings = {"law": 0.0, "newton": 0.0}
        self._gappy_svd = {}  # field -> thin SVD of its mask rows (_gappy_solver)

    def temperature_at_points(self, t):
        """Temperatures ``(m,)`` at the reduced points at time ``t``."""
        T_nodes = self.temperature.nodal(self.case.load_time(t))
        return np.einsum("qa,qa->q", self.shape, T_nodes[self._cell_local])

    def external_forces(self, t):
        tl = self.case.load_time(t)
        f = np.zeros(self.n_modes)
        for term, vec in self.loads:
            f += term.factor(tl) * vec
        return f

    def initial_state(self):
        return np.zeros(self.n_modes), self.law.initial_state(self.m)

    def step(self, gamma_old, state_old, t, dt):
        """Newton on the modal coordinates for the step ending at ``t``: ``(gamma,
        sigma, C_tan, state, info)`` (``C_tan``: a function giving the law's tangent at
        the solution, computed only if called)."""
        T = self.temperature_at_points(t)
        f_ext = self.external_forces(t)
        gamma = gamma_old.copy()
        residuals, first = [], None
        for it in range(self.max_iterations + 1):
            t0 = time.perf_counter()
            eps = self.B @ gamma
            # the tangent only if this iterate is not the converged one
            sigma, C, state, ok = self.law.update(eps, state_old, T, dt, tangent=False)
            self.timings["law"] += time.perf_counter() - t0
            if not np.all(ok):
                raise StepFailure(f"local integration failed at {np.sum(~ok)} reduced points "
                                  f"at t = {t:g}")
            f_int = self._WB.T @ sigma.ravel()
            if self.K_support is not None:
                f_int = f_int + self.K_support @ gamma
            r = f_int - f_ext
            rn = np.linalg.norm(r)
            first = rn if first is None else first
            ref = max(np.linalg.norm(f_int), np.linalg.norm(f_ext), first)
            if newton_converged(rn, ref, residuals, self.rtol, it, t):
                return gamma, sigma, C, state, {"iterations": it, "residuals": residuals}
            if it == self.max_iterations:
                break
            t0 = time.perf_counter()
            C = C()
            self.timings["law"] += time.perf_counter() - t0
            K = self._WB.T @ (C @ self.B).reshape(-1, self.n_modes)
            if self.K_support is not None:
                K = K + self.K_support
            try:
                gamma = gamma - np.linalg.solve(K, r)
            except np.linalg.LinAlgError:
                raise StepFailure(f"singular reduced tangent at t = {t:g}") from None
        raise StepFailure(f"reduced Newton did not converge in {self.max_iterations} "
                          f"iterations at t = {t:g}: " + ", ".join(f"{r:.2e}" for r in residuals))

    def advance(self, gamma, state, t_old, t_new, log=None):
        t0 = time.perf_counter()
        out = advance_with_cuts(self.step, gamma, state, t_old, t_new, self.case.max_cuts, log)
        self.timings["newton"] += time.perf_counter() - t0
        return out

    # --- Gappy-POD of dual fields from their values at the reduced points ---------------
    def _mask(self, name):
        """``(basis, c, Psi_mask)`` of Gappy field ``name``: its full basis (None when
        the archive was read without it), components and rows at all the reduced points
        (``m c x r``); None without a basis."""
        g = self.archive["gappy"].get(name)
        if g is None or g["mask"].shape[1] == 0:
            return None
        return g.get("basis"), len(g["mask"]) // self.m, g["mask"]

    def _gappy_solver(self, name):
        """The thin SVD ``(U, s, Vt)`` of field ``name``'s mask rows ``Psi_mask``,
        computed once per model (None without a basis), singular values at or below
        :func:`numpy.linalg.lstsq`'s default cutoff (``eps max(m c, r) s_1``) dropped:
        each step's Gappy least squares is then two products, ``O(m c r)``, instead of
        a factorization, ``O(m c r^2)`` (measured on the enriched blade ROM, 2228
        points, about 100 modes: 60 ms per field and step), with ``lstsq``'s result."""
        if name not in self._gappy_svd:
            mk = self._mask(name)
            svd = None
            if mk is not None:
                U, s, Vt = np.linalg.svd(mk[2], full_matrices=False)
                keep = s > np.finfo(float).eps * max(mk[2].shape) * (s[0] if s.size else 0)
                svd = (np.ascontiguousarray(U[:, keep]), s[keep], Vt[keep])
            self._gappy_svd[name] = svd
        return self._gappy_svd[name]

    def factorize_gappy(self):
        """The factorizations of :meth:`_gappy_solver` for every Gappy basis, now
        rather than at their first use (the adaptive enrichment counts them in its
        update)."""
        for name in self.archive["gappy"]:
            self._gappy_solver(name)

    def gappy_coefficients(self, name, values_at_points):
        """``c* = argmin ||Psi_mask c - f_hat||`` (minimum norm) over all the reduced
        points (the ECM points and the Q-DEIM points of every Gappy basis); None
        without a basis."""
        return self._gappy_project(name, values_at_points)[0]

    def _gappy_project(self, name, values_at_points):
        """``(c*, Psi_mask c*)``, ``(None, None)`` without a basis or values."""
        svd = self._gappy_solver(name)
        f = np.asarray(values_at_points, dtype=float).reshape(-1)
        if svd is None or not f.size:
            return None, None
        U, s, Vt = svd
        a = U.T @ f
        return Vt.T @ (a / s), U @ a

    def gappy(self, name, values_at_points):
        """Full quadrature field ``name`` (``(n_qp[, c])``) from its values at the
        reduced points ``(m[, c])`` by Gappy-POD; None if the archive has no basis.
        Cost proportional to the mesh: only for written steps."""
        coef = self.gappy_coefficients(name, values_at_points)
        if coef is None:
            return None
        basis, c, _ = self._mask(name)
        full = basis @ coef
        return full.reshape(-1, c) if c > 1 else full

    def gappy_residual(self, name, values_at_points, floor=0.0):
        """Relative Gappy residual ``||f_hat - Psi_mask c*|| / ||f_hat||`` over the
        reduced points; 0 when ``max |f_hat| <= floor`` (e.g. ``p`` of elastic steps),
        1 without a basis (no mode represents a non-zero field). Cost ``O(m c r)`` per
        call (:meth:`_gappy_solver`), independent of the mesh."""
        return self.gappy_fit(name, values_at_points, floor)[1]

    def gappy_fit(self, name, values_at_points, floor=0.0):
        """``(c*, residual)``: the Gappy coefficients (None without a basis) and the
        relative residual of :meth:`gappy_residual`, from one least squares."""
        f = np.asarray(values_at_points, dtype=float).reshape(-1)
        coef, proj = self._gappy_project(name, f)
        if not f.size or np.abs(f).max() <= floor:
            return coef, 0.0
        if coef is None:
            return None, 1.0
        return coef, float(np.linalg.norm(f - proj) / np.linalg.norm(f))

    def displacement(self, gamma):
        """Nodal displacement ``(n_nodes, 3)`` (global numbering) ``Psi gamma``."""
        return (self.archive["basis"]["U"] @ gamma).reshape(-1, 3)


class ResultWriter:
    """Rank 0's writer of ROM results (the snapshot layout, :class:`SeriesWriter`):
    nodal U and T, quadrature p and sigma with their cell averages and the von Mises
    cell averages, nodal stresses (tensor, von Mises, principal values) and nodal p,
    from global arrays.

    Physical bounds: a Gappy reconstruction is a least-squares fit by POD modes, which
    can undershoot a bound that every snapshot satisfies (the cumulated plasticity
    ``p >= 0``: values down to -5e-6 reported; -1.6e-8 in the small Chaboche case of
    the tests, at points nearly elastic, HF p <= 1.2e-8). The fields written are
    clipped to :data:`LOWER_BOUNDS` (``p`` and the adaptive run's ``p_rom``, hence their
    cell averages and ``p_nodal``); nothing else changes: the ROM's state (the law's
    ``p`` at the reduced points, which the law keeps non-negative) and the Gappy
    coefficients and residuals (the adaptive indicator's) are untouched, and clipping
    towards a bound the true field satisfies can only reduce the pointwise error. Each
    step records what was clipped (attributes ``<name>_clipped``, the count of
    quadrature points, and ``<name>_min_unclipped``, the lowest value before
    clipping). The linear constraints (``eps_vp`` and ``X`` trace-free) hold exactly
    for any combination of modes and need no correction. The fields of
    :meth:`rom.adaptive.AdaptiveRom.step_fields` (the API's in-memory results) are not
    clipped yet."""

    # lower bound of a written quadrature field (by name; ``<name>_rom`` alike)
    LOWER_BOUNDS = {"p": 0.0}

    def __init__(self, path, archive, case, data, law, source):
        from rom.snapshots import SeriesWriter

        self.case = case
        self.w = archive["basis"]["qp_weights"]
        self.qp_start = np.concatenate([[0], np.cumsum(data.qp_per_cell())])
        self.temperature = TemperatureLoading(case.temperature, NodeSubset.of_mesh(data),
                                              getattr(law, "T_ref", 20.0))
        self.writer = SeriesWriter(path, data, self.w,
                                   {"case_text": case.text, "case_name": case.name,
                                    "law": case.law, "loading": case.loading or "",
                                    "source": source,
                                    "lower_bounds": ", ".join(
                                        f"{k} >= {v:g}" for k, v in self.LOWER_BOUNDS.items())})
        self.path, self.xdmf_path = path, self.writer.xdmf_path

    def _cell_avg(self, v):
        from rom.fem import cell_average  # (not rom.hf: PETSc, collective, on rank 0 only)

        return cell_average(self.w, v, self.qp_start)

    def _nodal(self, v):
        """Nodal values of a full quadrature field (extrapolated in each cell and
        averaged at the nodes, as :meth:`rom.hf.StructuralModel.nodal_values`)."""
        from rom.fem import extrapolation_matrix, nodal_sums

        data = self.writer.data
        if getattr(self, "_P", None) is None:
            self._P = [extrapolation_matrix(b.element) for b in data.blocks]
        v = v.reshape(len(self.w), -1)
        sums, counts = 0.0, 0
        for b, P in zip(data.blocks, self._P):
            s, c = nodal_sums(b.cells, data.n_nodes, P,
                              v[self.qp_start[b.start]: self.qp_start[b.stop]])
            sums, counts = sums + s, counts + c
        return sums / np.maximum(counts, 1)[:, None]

    def bounded(self, qp):
        """``(fields, record)``: the quadrature fields ``qp`` (name -> array) with those
        of :data:`LOWER_BOUNDS` clipped (new arrays; the arguments are not modified),
        and the record of the step's attributes (names clipped: count, lowest value)."""
        out, record = dict(qp), {}
        for name, v in qp.items():
            lo = self.LOWER_BOUNDS.get(name.removesuffix("_rom"))
            if lo is None:
                continue
            below = np.count_nonzero(v < lo)
            if below:
                record[f"{name}_clipped"] = below
                record[f"{name}_min_unclipped"] = float(v.min())
                out[name] = np.maximum(v, lo)
        return out, record

    def write(self, t, U, qp):
        """Write the step at ``t``: ``U (n_nodes, 3)``, ``qp`` name -> full field or
        None (clipped to their bounds, :meth:`bounded`); nodal ``sigma_nodal`` (XDMF
        Tensor6), ``von_mises_nodal``, ``principal_stress_nodal``,
        ``max_principal_nodal`` (:func:`rom.snapshots.principal_node_fields`) and
        ``p_nodal`` beside the cell averages."""
        from rom.fem import von_mises
        from rom.io.xdmf import mandel_to_tensor6
        from rom.snapshots import principal_node_fields

        qp, record = self.bounded({k: v for k, v in qp.items() if v is not None})
        cells = {k: self._cell_avg(v) for k, v in qp.items()}
        nodal = {"U": U, "T": self.temperature.nodal(self.case.load_time(t))}
        if "sigma" in qp:
            cells["von_mises"] = self._cell_avg(von_mises(qp["sigma"]))
            s = self._nodal(qp["sigma"])
            nodal.update(sigma_nodal=mandel_to_tensor6(s), von_mises_nodal=von_mises(s),
                         **principal_node_fields(s))
        if "p" in qp:  # extrapolation overshoots: clipped again
            nodal["p_nodal"] = np.maximum(self._nodal(qp["p"])[:, 0], self.LOWER_BOUNDS["p"])
        self.writer.write_step(t, nodal, qp, cells, attrs=record)

    def close(self):
        self.writer.close()


def run_online(archive, case, log=None, comm=None):
    """Run every step of ``case`` with the ROM (serial, replicated on every rank; a
    progress bar on rank 0 of ``comm``, :mod:`rom.progress`).

    Returns ``{"times", "gamma" (n_steps, N), "p_points" (n_steps, m) or None,
    "sigma_points" (n_steps, m, 6), "history", "timings"}``.
    """
    from rom.progress import Progress

    model = ReducedModel(archive, case)
    gamma, state = model.initial_state()
    out = {"times": [], "gamma": [], "p_points": [], "sigma_points": [], "history": []}
    t_prev = 0.0
    t0 = time.perf_counter()
    with Progress(comm, len(case.times) if comm is not None else 0,
                  "online ROM" + (f" ({case.loading})" if case.loading else ""),
                  log=log) as progress:
        for n, t in enumerate(case.times):
            gamma, sigma, C, state, info = model.advance(gamma, state, t_prev, t,
                                                         log and progress.log)
            out["times"].append(t)
            out["gamma"].append(gamma.copy())
            out["sigma_points"].append(sigma.copy())
            out["p_points"].append(state["p"].copy() if "p" in state else None)
            out["history"].append(info)
            if log:
                progress.log(f"step {n + 1}/{len(case.times)}  t = {t:<10.5g} Newton "
                             f"{info['iterations']}")
            progress.advance()
            t_prev = t
    out["timings"] = dict(model.timings, total=time.perf_counter() - t0)
    out["gamma"] = np.array(out["gamma"])
    out["model"] = model
    return out


# the quadrature fields an online run writes (Gappy reconstructions)
WRITTEN_FIELDS = ("p", "sigma")


def online_command(case, archive_path, comm, out_dir, loading=None, write_every=1,
                   log=print, member=None):
    """Collective (the reduced solve is replicated on every rank, rank 0 writes). Run the
    ROM ``archive_path`` on ``case`` (with its named ``loading``); write
    ``<out_dir>/online.h5`` (the snapshot layout: U, T and Gappy-reconstructed p and
    sigma at the written steps) and ``online.xdmf``. Returns a summary dict, with
    ``timings``: ``open`` (archive and checks), ``online`` (the reduced run, also
    ``time_online``) and ``write`` (reconstruction and output).

    Every rank reads the reduced operators only (:data:`rom.archive.LEAN`); rank 0
    checks the archive against the case and, after the run, reads the bases of the
    fields it writes. Of a dictionary of local ROMs, ``member`` or the one selected
    for the loading (:func:`open_for_case`)."""
    from rom.archive import LEAN, read_datasets
    from rom.snapshots import prepare_output

    say = log if comm.rank == 0 and log else (lambda *a, **k: None)
    t0 = time.perf_counter()
    case = case.with_loading(loading)
    archive, data = open_collective(archive_path, case, comm, LEAN, member)
    if archive["member"] is not None:
        sel = archive.get("selection")
        say(f"local ROM {archive['member']} of the dictionary "
            + (f"selected for loading {case.loading} (sine dissimilarity of the "
               "temperature signatures to the medoids: "
               + ", ".join(f"{d:.3f}" for d in sel) + ")" if sel is not None else "given"))
    # the result replaces an existing one only once complete (SeriesWriter)
    prepare_output(os.path.join(out_dir, "online.h5"), comm, overwrite=True)
    t1 = time.perf_counter()
    res = run_online(archive, case, log=say, comm=comm)
    t2 = time.perf_counter()
    model = res["model"]
    path = None
    if comm.rank == 0:
        full = read_datasets(archive_path, ["basis/U", "basis/qp_weights"] + [
            f"gappy/{name}/basis" for name in WRITTEN_FIELDS], root=archive["root"])
        archive["basis"].update(U=full["basis/U"], qp_weights=full["basis/qp_weights"])
        for name in WRITTEN_FIELDS:
            if f"gappy/{name}/basis" in full:
                archive["gappy"][name]["basis"] = full[f"gappy/{name}/basis"]
        path = os.path.join(out_dir, "online.h5")
        writer = ResultWriter(path, archive, case, data, model.law, "online " + archive_path)
        n = len(res["times"])
        for k in range(n):
            if k % write_every and k != n - 1:
                continue
            qp = {name: (model.gappy(name, res[f"{name}_points"][k])
                         if res[f"{name}_points"][k] is not None else None)
                  for name in WRITTEN_FIELDS}
            writer.write(res["times"][k], model.displacement(res["gamma"][k]), qp)
            inject_fault("online_write", comm)
        writer.close()
    path = comm.bcast(path, root=0)
    timings = {"open": t1 - t0, "online": t2 - t1, "write": time.perf_counter() - t2}
    sel = archive.get("selection") if comm.rank == 0 else None
    return {"res": res, "time_online": t2 - t1, "timings": timings,
            "files": (path, os.path.splitext(path)[0] + ".xdmf"),
            "n_modes": model.n_modes, "n_points": model.m, "loading": case.loading,
            "member": archive["member"],
            "selection": comm.bcast(None if sel is None else list(sel), root=0)}
