"""Error indicator and adaptive enrichment (DESIGN section 6): the ROM detects when it
leaves its domain of validity and corrects itself with one HF step.

Indicator
    At every converged online step, ``E_n = max_f c_f r_f`` over the indicator fields
    ``f`` (``[rom] indicator``; default ``sigma``, ``p`` and ``eps_vp``): ``r_f`` the
    Gappy-POD residual of the values the law computed at all the reduced points (ECM
    and Q-DEIM points), ``c_f`` its calibration factor, measured on the training
    snapshots and stored in the archive (:mod:`rom.indicator`), so that ``c_f r_f``
    estimates the relative error of the reconstructed field over the mesh. Cost
    ``O(m r^2)`` per field (one least squares on the mask rows), independent of the
    mesh. The internal variables are left
    out while the step is elastic (``max |p_hat| <= floor``, default 1e-6): they are
    zero or round-off there; the stress term then carries the indicator (without
    ``sigma`` among the fields an elastic step reads 0). Each term is
    relative to the field's peak along the run rather than to its current value
    (``c_f r_f s_f``, ``s_f = ||f|| / max over the steps so far of ||f||``, the norms
    of the Gappy reconstruction ``||c*||``): a stress shrinking on unloading or cooling
    would otherwise make a small absolute error look large. At every HF step the true
    error of the prediction, ``max_f ||f_rom - f_hf|| / max(peak_f, ||f_hf||)``, is
    measured
    (one mesh-size product per field, next to an HF step) and recorded next to
    ``E_n``; ``f_hf`` is the HF step from the same state at ``t_{n-1}``, so this is
    the error made over the step (a reference run also holds the error the ROM
    inherited from earlier steps). The calibration is measured again on the enriched
    bases, and each field's term learns from these measurements: its correction is
    multiplied by (true error) / (term) of the last HF step, within 1/4 to 4
    (:meth:`AdaptiveRom.learn`), so that a field whose residual under-reads (or
    over-reads) its error in this run is read as the HF steps found it.

Enrichment, when ``E_n >= tol`` (so ``tol = 0`` enriches every step)
    1. the full state at ``t_{n-1}``: the HF state itself if step ``n-1`` was
       enriched, otherwise ``u = Psi gamma`` and every internal variable at every
       quadrature point by Gappy-POD from its values at the reduced points;
    2. one HF step to ``t_n`` (:class:`rom.hf.NewtonSolver`, on the ranks of the run,
       with step cutting), Newton started from the ROM's prediction ``Psi gamma_n``
       (the law integrates from the state at ``t_{n-1}`` whatever the iterate), to the
       relative residual ``max([solver] rtol, min(HF_STEP_ACCURACY tol, HF_STEP_RTOL))``
       (``1e-3 tol``, at most ``1e-4``): a snapshot for a ROM of tolerance ``tol`` needs
       no more (with ``tol = 2e-2``, ``2e-5``: usually one Newton iteration less than the
       HF run's ``1e-8``; its fields are the exact step's to a few ``1e-6``);
    3. the HF displacement is added to the displacement basis and the HF stress and
       internal variables to their Gappy bases (incremental POD, same tolerances as
       offline). The Gappy bases are kept factored, ``Phi = P W``
       (:class:`rom.pod.FactoredBasis`: the update appends the new direction to ``P``
       and updates the small ``W``, ``O(rows x modes)``, instead of rotating every
       mode, ``O(rows x modes^2)``); the Q-DEIM selection continues from the current
       points (one more per new mode: the row of largest residual of the direction
       the current rows miss, one product with the basis);
    4. the reduced quadrature is recomputed by ECM warm-started from the current
       points and weights, on the integrands ``s_j phi_j : eps(psi_i)`` of the stress POD modes
       ``phi_j`` weighted by their singular values (they represent the training and
       enrichment stress snapshots), by :func:`rom.hyper.stress_cubature`, which takes
       them factored (:class:`rom.hyper.FactoredStresses`: never formed);
    5. the online run continues from the HF state: ``gamma = Psi^T M u``, the internal
       variables at the new reduced points are the HF values there.

The step's output is then the HF solution. The enriched ROM can be saved as an
archive (attributes ``revision``, ``parent``, ``enrichments``), which a later run
starts from. Everything that touches the mesh (steps 1 to 5) is collective and
distributed; the online steps are replicated on every rank. The updates do not gather
the full bases on rank 0: after an enrichment the written fields are reconstructed on
each rank's rows and gathered, and the bases are gathered when the archive is saved
(:meth:`AdaptiveRom.complete`).
"""

import json
import os
import time

import numpy as np

from rom import RomError, agree, mpi_op
from rom.indicator import indicator_fields, peak_relative, prediction_errors
from rom.progress import Progress

__all__ = ["AdaptiveRom", "adaptive_command", "DEFAULT_FLOOR"]

DEFAULT_FLOOR = 1e-6
LEARN_RANGE = 4.0  # the HF steps may scale a field's calibration by 1/4 to 4
# an HF step's Newton tolerance relative to the indicator's, and at most HF_STEP_RTOL
# (see the module docstring)
HF_STEP_ACCURACY, HF_STEP_RTOL = 1e-3, 1e-4


class AdaptiveRom:
    """Collective. An adaptive ROM run of ``case`` (with its loading) from ``archive``.

    Parameters
    ----------
    archive : dict from :func:`rom.archive.read_archive` (Gappy bases of ``sigma``
        and of every internal variable of the law are required)
    case : rom.case.Case
    comm : communicator of the run (the HF steps are distributed over it)
    tol : indicator tolerance (enrich when ``E_n >= tol``)
    fields : the indicator fields (default: the case's ``[rom] indicator``, else
        :data:`rom.indicator.DEFAULT_FIELDS` that the law has)
    floor : the indicator's elastic guard (see the module docstring)
    max_enrichments : optional cap on the number of HF steps of each run
    """

    def __init__(self, archive, case, comm, tol, fields=None, floor=DEFAULT_FLOOR,
                 max_enrichments=None, log=None):
        from rom.hf import NewtonSolver, check_loading
        from rom.offline import RomBuilder
        from rom.online import ReducedModel

        self.case, self.comm = case, comm
        self.tol, self.floor = float(tol), float(floor)
        self.max_enrichments = max_enrichments
        self._log = log if comm.rank == 0 and log else None
        self.say = self._log or (lambda *a, **k: None)
        self.model = ReducedModel(archive, case)
        law = self.model.law
        needed = ["sigma", *law.state_shapes]
        # a basis may have no mode yet (e.g. p of a ROM trained in the elastic regime):
        # the first enrichment gives it one
        missing = [k for k in needed if k not in archive["gappy"]]
        if missing:
            raise RomError(f"adaptive ROM: the archive has no Gappy basis of "
                           f"{', '.join(missing)}; add them to [rom] gappy (law {case.law} "
                           f"needs {', '.join(needed)}) and rebuild it")
        self.fields = indicator_fields(case.rom.indicator if fields is None else fields,
                                       tuple(law.state_shapes), archive["gappy"])
        self.archive = archive
        # corrections learned by the runs this archive was saved from (1: none)
        self.learned = {f: float(archive["gappy"][f].get("indicator_learned", 1.0))
                        for f in self.fields}
        self._peak = {}  # each field's largest norm in the run (reset by run())
        self.rb = RomBuilder.from_archive(case, archive, comm)
        self.newton = NewtonSolver(self.rb.model, self.rb.loading,
                                   max(case.solver.rtol,
                                       min(HF_STEP_ACCURACY * self.tol, HF_STEP_RTOL)),
                                   case.solver.max_iterations, case.solver.petsc_options(),
                                   load_time=case.load_time)
        check_loading(case, self.rb.loading, comm)  # the HF steps' inputs, before the run
        self.newton.check_options()
        self.enrichments = []
        self._complete = True  # the archive content holds the full bases (complete())
        self.timings = {"online": 0.0, "indicator": 0.0, "hf_step": 0.0, "update": 0.0}

    def use_loading(self, case):
        """Collective. Make ``case`` (this run's case with another temperature loading,
        e.g. from :meth:`rom.case.Case.with_fields`) the loading of the next
        :meth:`run`: the bases, the reduced quadrature and the indicator's learned
        corrections, enriched by the runs so far, carry over (a study over many
        loadings). Its thermal fields must have been computed."""
        from dataclasses import replace

        from rom.hf import check_loading
        from rom.loads import TemperatureLoading
        from rom.online import ReducedModel

        if replace(case, temperature=self.case.temperature, loading=self.case.loading,
                   loadings=self.case.loadings) != self.case:
            raise RomError("adaptive ROM: the new loading's case differs from the run's in "
                           "more than its temperature loading (mesh, material, loads, steps "
                           "or settings); start a new AdaptiveRom for it")
        model = ReducedModel(self.archive, case)
        temperature = TemperatureLoading(case.temperature, self.rb.mesh,
                                         getattr(model.law, "T_ref", 20.0))
        old = self.rb.loading.temperature
        self.rb.loading.temperature = temperature
        try:  # collective; on failure the run keeps its previous loading
            check_loading(case, self.rb.loading, self.comm)
        except RomError:
            self.rb.loading.temperature = old
            raise
        model.timings = self.model.timings
        self.model = model
        self.case = self.rb.case = case

    def step_fields(self, gamma, state, sigma, names, clip=True):
        """The fields ``names`` (``U``: displacement of the local dofs; ``sigma`` and
        internal variables at the local quadrature points, ``(n_qp, c)`` or ``(n_qp,)``)
        of the reduced state ``(gamma, state, sigma)``: ``Psi gamma`` and the Gappy
        reconstructions (no communication), clipped to their physical bounds as the
        written fields are (:attr:`rom.online.ResultWriter.LOWER_BOUNDS`). Without
        ``clip``, the reconstructions as they are, and None for a field whose basis has
        no mode (what the writer takes: it clips and records the clipping)."""
        from rom.online import ResultWriter

        rb, out = self.rb, {}
        for k in names:
            if k == "U":
                out[k] = rb.modes_local @ gamma
                continue
            coef = self.model.gappy_coefficients(k, self._values(k, state, sigma))
            c = rb.gappy[k]["c"]
            if coef is None and not clip:
                out[k] = None
                continue
            v = (rb.gappy[k]["pod"].modes @ coef if coef is not None
                 else np.zeros(rb.model.n_qp * c))
            lo = ResultWriter.LOWER_BOUNDS.get(k)  # as written: p >= 0
            v = v if lo is None or not clip else np.maximum(v, lo)
            out[k] = v.reshape(rb.model.n_qp, c) if c > 1 else v
        return out

    def _reduced_output(self, gamma, state, sigma, written, displacement=True):
        """Collective. ``(U, {field: full field or None})`` of the reduced state on rank
        0 (``(None, {})`` elsewhere; ``U`` None without ``displacement``), for the
        writer: reconstructed on rank 0 from the full bases, as the plain online run,
        or, after an enrichment (which leaves the bases out), on each rank's rows
        (:meth:`step_fields`) and gathered."""
        if self._complete:
            if self.comm.rank != 0:
                return None, {}
            qp = {k: self.model.gappy(k, self._values(k, state, sigma)) for k in written}
            return (self.model.displacement(gamma) if displacement else None), qp
        local = self.step_fields(gamma, state, sigma,
                                 (["U"] if displacement else []) + written, clip=False)
        return self._gather_full(local.pop("U", None), local)

    # --- the pieces --------------------------------------------------------------------
    @property
    def factors(self):
        """The calibration factor ``c_f`` of each indicator field (1 when the archive
        has none)."""
        return {f: float(self.archive["gappy"][f].get("indicator_factor", 1.0))
                for f in self.fields}

    def indicator(self, state, sigma):
        """``E_n`` of the reduced state ``state`` and stress ``sigma`` at the reduced
        points (replicated, mesh-independent)."""
        return self._indicator(state, sigma)[0]

    def _values(self, name, state, sigma):
        return sigma if name == "sigma" else state[name]

    def _elastic(self, state):
        """The step is elastic: the internal variables carry no information."""
        p = state.get("p")
        return p is not None and np.abs(p).max(initial=0.0) <= self.floor

    def _indicator(self, state, sigma):
        """``(E_n, {field: l_f c_f r_f s_f})`` (internal variables left out of an
        elastic step). One Gappy fit per field gives the residual ``r_f`` and the norm
        over the mesh of the reconstructed field, ``||c*||`` (its basis is orthonormal
        in the weighted L2 product, whatever the reduced points); ``s_f`` is that norm
        over the field's largest one since the start of the run (this step included,
        which it records): the relative error of a stress that shrinks on unloading or
        cooling says little (it is relative to nearly nothing)."""
        elastic, factors = self._elastic(state), self.factors
        parts = {}
        for f in self.fields:
            coef, r = self.model.gappy_fit(f, self._values(f, state, sigma))
            n = float(np.linalg.norm(coef)) if coef is not None else 0.0
            self._peak[f] = max(self._peak.get(f, 0.0), n)
            if f != "sigma" and elastic:
                continue
            scale = n / self._peak[f] if self._peak[f] > 0 else 1.0
            parts[f] = self.learned.get(f, 1.0) * factors[f] * scale * r
        return max(parts.values(), default=0.0), parts

    def learn(self, parts, errors):
        """At an HF step: each field's term ``parts[f]`` of the prediction's indicator
        against its true error ``errors[f]``; the field's correction is multiplied by
        their ratio (kept within ``LEARN_RANGE`` of the archive's calibration), so that
        the next steps read the error as this step did."""
        for f, term in parts.items():
            e = errors.get(f)
            if e is None or term is None or term <= 0:
                continue
            c = self.learned.get(f, 1.0) * e / term
            self.learned[f] = float(np.clip(c, 1.0 / LEARN_RANGE, LEARN_RANGE))

    def prediction_errors(self, state, sigma, sig_full, st_full):
        """Collective. The true errors ``{field: ||f_rom - f_hf|| / max(peak_f,
        ||f_hf||)}`` of the indicator fields predicted from the reduced state
        ``(state, sigma)`` against the HF fields ``sig_full``, ``st_full`` (local
        arrays): relative to the field's peak along the run, as the indicator; the HF
        norms then count in the peaks."""
        rb, hf = self.rb, {"sigma": sig_full, **st_full}
        predicted = {}
        for f in self.fields:
            coef = self.model.gappy_coefficients(f, self._values(f, state, sigma))
            predicted[f] = (rb.gappy[f]["pod"].modes @ coef if coef is not None
                            else np.zeros(np.asarray(hf[f]).size))
        out = {}
        for f, (err, norm) in prediction_errors(predicted, hf, rb.w, self.comm,
                                                self.floor).items():
            out[f] = peak_relative(err, norm, self._peak.get(f, 0.0))
            self._peak[f] = max(self._peak.get(f, 0.0), norm)
        return out

    def full_state(self, gamma, state):
        """Local HF state ``(u, internal variables)`` of the reduced state
        ``(gamma, state)``: ``u = Psi gamma``, each variable by Gappy-POD (zero without
        a mode). ``p`` is clipped at 0 and the other variables are zero where ``p`` is:
        no plastic flow has happened there."""
        full = self.step_fields(gamma, state, None, ["U", *self.model.law.state_shapes])
        u = full.pop("U")
        if "p" in full:
            full["p"] = np.maximum(full["p"], 0.0)  # cumulated plasticity is >= 0
            elastic = full["p"] <= 0.0
            for k in full:
                if k != "p":
                    full[k][elastic] = 0.0
        return u, full

    def enrich(self, u, sigma, state):
        """Collective. Add the HF state ``(u, sigma, state)`` (local arrays) to the
        bases, update the reduced quadrature and the reduced model; returns the
        reduced state ``(gamma, state at the reduced points, sigma there)``."""
        from rom.hyper import FactoredStresses
        from rom.online import ReducedModel
        from rom.pod import FactoredBasis, gram, incremental_pod

        rb, comm, rom = self.rb, self.comm, self.case.rom
        owned = u[: rb.dm.n_owned, None]
        rb.set_modes(incremental_pod(rb.pod, owned, comm, rb.product, eps=rom.eps_u))
        fields = {"sigma": sigma, **state}
        for name, g in list(rb.gappy.items()):
            new = rb.normalized(np.asarray(fields[name]).reshape(-1, 1), g["c"])
            if new.shape[1] == 0:
                continue
            # kept factored (P W): the update appends a column to P instead of rotating
            # every mode, O(rows x modes) instead of O(rows x modes^2)
            rb.set_gappy(name, incremental_pod(g["pod"], new, comm, np.repeat(rb.w, g["c"]),
                                               eps=rom.eps_dual, factored=True),
                         keep_rows=True)
        sp = rb.gappy["sigma"]["pod"]
        basis = sp.modes = FactoredBasis.of(sp.modes)
        stresses = FactoredStresses(basis.P, basis.W * sp.singular_values[: sp.n_modes],
                                    basis.euclidean_gram(comm))
        # warm-started: a few pursuit iterations, for which compressing the rows of
        # the integrand would cost more than it saves
        rb.cubature(stresses, warm_start=rb.ecm.points, warm_weights=rb.ecm.weights,
                    compress_rows=rom.hyper != "ecm")  # NNLS has no warm start
        summary = dict(self.archive["summary"])
        summary["n_enrichments"] = int(summary.get("n_enrichments", 0)) + 1
        # without the full bases: the fields are reconstructed on each rank's rows, and
        # the bases gathered only to save the archive (complete())
        content = rb.content(everywhere=True, summary=summary, full=False)
        content["basis"]["qp_weights"] = self.archive["basis"].get("qp_weights")
        self._complete = False
        content["attrs"] = dict(self.archive["attrs"])
        for key in ("path", "root", "member"):  # where it came from (a dictionary's member)
            content[key] = self.archive.get(key)
        self.archive = content
        timings = self.model.timings
        self.model = ReducedModel(content, self.case)
        self.model.factorize_gappy()  # (the next steps' Gappy least squares: update cost)
        self.model.timings = timings
        gamma = gram(rb.pod.modes, owned, comm, rb.product)[:, 0]
        keys = list(state)
        vals = rb.at_points(content["reduced"]["points"],
                            lambda lq: [sigma[lq]] + [state[k][lq] for k in keys])
        return gamma, dict(zip(keys, vals[1:])), vals[0]

    def _gather_full(self, u, fields):
        """Collective. Global ``U (n_nodes, 3)`` (None without ``u``) and quadrature
        fields (None for None) on rank 0."""
        from rom.offline import _gather_rows

        rb = self.rb
        U = (None if u is None else
             _gather_rows(self.comm, rb.owned_rows, u[: rb.dm.n_owned], rb.dm.n_global))
        out = {}
        for name, v in fields.items():
            if v is None:  # (the same on every rank: a basis without mode)
                out[name] = None
                continue
            v = np.asarray(v)
            c = v.size // rb.model.n_qp
            rows = (rb.qp_ids[:, None] * c + np.arange(c)).ravel()
            g = _gather_rows(self.comm, rows, v.reshape(-1), rb.n_qp_global * c)
            out[name] = None if g is None else (g.reshape(-1, c) if c > 1 else g)
        return (None if U is None else U.reshape(-1, 3)), out

    # --- the run -----------------------------------------------------------------------
    def run(self, writer=None, write_every=1, observe=None):
        """Collective. Run every step of the case; write each step (every
        ``write_every``-th and the last) with ``writer`` (a
        :class:`rom.online.ResultWriter` on rank 0, None elsewhere). ``observe``: called
        on every rank after every step as ``observe(n, t, fields)``, ``fields(names)``
        giving the step's local fields (:meth:`step_fields`; the HF fields at an HF
        step; names among ``U``, ``sigma`` and the Gappy fields), e.g. to follow the
        extremes of a study without writing results. Returns a dict of
        per-step records (``times``, ``indicator``, ``indicator_field`` (the field of
        the largest term), ``indicator_parts`` (field -> ``l_f c_f r_f s_f`` per step,
        None where left out), ``indicator_peak`` (field -> its peak norm along the run
        at the step, prediction included, HF step not), ``true_error`` (the largest
        error of the prediction relative to the peak at HF steps, None elsewhere),
        ``enriched``, ``n_modes``, ``n_points``, ``iterations``), ``enrichments`` (the
        HF steps of this run) and ``timings`` (of this run). Written fields: U, and
        ``sigma``, ``p`` and the indicator fields (Gappy-reconstructed; at HF steps the
        HF fields, and the ROM's prediction as ``<field>_rom``)."""
        case, law = self.case, self.model.law
        self._peak = {}  # the fields' peaks are those of this run
        self.timings = dict.fromkeys(self.timings, 0.0)
        first_enrichment = len(self.enrichments)
        gamma, state = self.model.initial_state()
        full = (np.zeros(self.rb.dm.n_local), law.initial_state(self.rb.model.n_qp))
        rec = {k: [] for k in ("times", "indicator", "indicator_field", "true_error",
                               "enriched", "n_modes", "n_points", "iterations")}
        rec["indicator_parts"] = {f: [] for f in self.fields}
        rec["indicator_peak"] = {f: [] for f in self.fields}
        written = [f for f in dict.fromkeys(("sigma", "p", *self.fields))
                   if f == "sigma" or f in law.state_shapes]
        n_steps = len(case.times)
        # the full fields of an HF step are gathered only if some rank writes them
        writing = bool(self.comm.allreduce(writer is not None, op=mpi_op("LOR")))
        t_prev, t_start = 0.0, time.perf_counter()
        progress = Progress(self.comm, case.times[-1] if n_steps else 0,
                            "adaptive ROM" + (f" ({case.loading})" if case.loading else ""),
                            unit="s simulated", log=self._log)
        say = self.say
        if self._log is not None:  # log lines without breaking the bar
            self.say = progress.log
        try:
            return self._run(case, law, n_steps, writing, written, rec, first_enrichment,
                             gamma, state, full, t_prev, t_start, progress, writer,
                             write_every, observe)
        finally:
            self.say = say
            progress.close()

    def _run(self, case, law, n_steps, writing, written, rec, first_enrichment, gamma,
             state, full, t_prev, t_start, progress, writer, write_every, observe):
        """The step loop of :meth:`run`."""
        for n, t in enumerate(case.times):
            t0 = time.perf_counter()
            try:
                gamma_new, sigma, _, state_new, info = self.model.advance(gamma, state,
                                                                          t_prev, t)
            except RomError as exc:  # the ROM diverged: the clearest sign of leaving its
                failed = str(exc)    # domain; an HF step if allowed
                gamma_new, sigma, state_new, info = gamma, None, state, {"iterations": []}
            else:
                failed = None
            # the reduced step is replicated; should it fail on some ranks only, every
            # rank takes the failure (what follows holds collective operations)
            if self.comm.allreduce(failed is not None, op=mpi_op("LOR")) and failed is None:
                failed = "the reduced step failed on another rank"
                gamma_new, sigma, state_new, info = gamma, None, state, {"iterations": []}
            t1 = time.perf_counter()
            E, parts = (np.inf, {}) if failed else self._indicator(state_new, sigma)
            peaks = dict(self._peak)  # of this step, before its HF step
            measured = max(parts, key=parts.get) if parts else None
            t2 = time.perf_counter()
            self.timings["online"] += t1 - t0
            self.timings["indicator"] += t2 - t1
            enrich = E >= self.tol and (self.max_enrichments is None or len(
                self.enrichments) - first_enrichment < self.max_enrichments)
            # every rank computes the same E; rank 0 decides, so that the collective HF
            # step can never be entered by some ranks only
            enrich = self.comm.bcast(bool(enrich), root=0)
            if failed and not enrich:
                raise RomError(f"adaptive ROM: the reduced step to t = {t:g} failed and no "
                               f"HF step is allowed (max enrichments reached): {failed}")
            write = n % write_every == 0 or n == n_steps - 1  # the same on every rank
            predicted, true_error = {}, None
            if enrich:
                if writing and write and not failed:  # the ROM's prediction
                    _, qp = self._reduced_output(gamma_new, state_new, sigma, written,
                                                 displacement=False)
                    predicted = {f"{k}_rom": v for k, v in qp.items() if v is not None}
                prediction = None if failed else (state_new, sigma)
                if full is None:
                    full = self.full_state(gamma, state)
                t0 = time.perf_counter()
                # from the ROM's prediction: fewer Newton iterations than from the
                # previous step's displacement
                guess = None if failed else self.rb.modes_local @ gamma_new
                u, sig_full, _, st_full, hf_info = self.newton.advance(
                    full[0], full[1], t_prev, t, case.max_cuts, guess=guess)
                t1 = time.perf_counter()
                if prediction is not None:
                    errors = self.prediction_errors(*prediction, sig_full, st_full)
                    true_error = max(errors.values(), default=0.0)
                    self.learn(parts, errors)
                gamma_new, state_new, sigma = self.enrich(u, sig_full, st_full)
                t2 = time.perf_counter()
                self.timings["hf_step"] += t1 - t0
                self.timings["update"] += t2 - t1
                info = hf_info  # the iterations of the step taken
                full = (u, st_full)
                self.enrichments.append({"step": n, "time": t, "indicator": E,
                                         "true_error": true_error,
                                         "factors": self.factors,
                                         "n_modes": self.model.n_modes,
                                         "n_points": self.model.m,
                                         "loading": case.loading or ""})
                known = "" if true_error is None else f" (true error {true_error:.2e})"
                self.say(f"step {n + 1}/{n_steps}  t = {t:<10.5g} indicator {E:.2e}{known} "
                         f">= {self.tol:g}: HF step (Newton {hf_info['iterations']}), ROM now "
                         f"{self.model.n_modes} modes, {self.model.m} points "
                         f"({t2 - t0:.2f} s)")
                if write and writing:
                    fields = {k: sig_full if k == "sigma" else st_full[k] for k in written}
                    U_full, qp = self._gather_full(u, fields)
                    if writer is not None:
                        writer.write(t, U_full, dict(qp, **predicted))
            else:
                full = None
                self.say(f"step {n + 1}/{n_steps}  t = {t:<10.5g} Newton "
                         f"{info['iterations']}  indicator {E:.2e}")
                if write and writing:  # (collective: after an enrichment, gathered)
                    U, qp = self._reduced_output(gamma_new, state_new, sigma, written)
                    if writer is not None:
                        writer.write(t, U, qp)
            if observe is not None:
                if enrich:
                    hf_fields = {"U": u, "sigma": sig_full, **st_full}
                    observe(n, t, lambda names, f=hf_fields: {k: f[k] for k in names})
                else:
                    observe(n, t, lambda names, g=gamma_new, s=state_new, sg=sigma:
                            self.step_fields(g, s, sg, names))
            gamma, state = gamma_new, state_new
            for f in self.fields:
                rec["indicator_parts"][f].append(parts.get(f))
                rec["indicator_peak"][f].append(peaks.get(f))
            for k, v in (("times", t), ("indicator", E), ("indicator_field", measured),
                         ("true_error", true_error), ("enriched", bool(enrich)),
                         ("n_modes", self.model.n_modes), ("n_points", self.model.m),
                         ("iterations", info["iterations"])):
                rec[k].append(v)
            t_prev = t
            progress.update(t)
        self.timings["total"] = time.perf_counter() - t_start
        return dict(rec, enrichments=self.enrichments[first_enrichment:],
                    timings=dict(self.timings))

    def complete(self):
        """Collective. Gather the full bases of the enriched ROM on rank 0 (left out
        by the enrichments, :meth:`enrich`) into its archive content; nothing to do if
        there was no enrichment since the last call."""
        if self._complete:
            return
        bases = self.rb.full_bases()
        if self.comm.rank == 0:
            self.archive["basis"] = dict(self.archive["basis"], U=bases["U"],
                                         qp_weights=bases["qp_weights"])
            for name, basis in bases["gappy"].items():
                self.archive["gappy"][name] = dict(self.archive["gappy"][name], basis=basis)
        self._complete = True

    def content(self, parent=""):
        """Rank 0. The current (enriched) ROM as an archive's content: ``revision`` is
        the parent's plus one, ``enrichments`` lists the HF steps (JSON), and each
        indicator field's learned correction (``gappy/<field>/indicator_learned``)
        starts the next run from it. Its full bases are gathered by :meth:`complete`
        (collective), which must come first."""
        if not self._complete:
            raise RomError("AdaptiveRom.content: the full bases of the enriched ROM are not "
                           "gathered; call complete() on every rank first")
        content = dict(self.archive)
        content["gappy"] = {name: dict(g) for name, g in content["gappy"].items()}
        for f, c in self.learned.items():
            content["gappy"][f]["indicator_learned"] = np.float64(c)
        attrs = {k: v for k, v in content["attrs"].items()  # (run_info: the build's)
                 if k not in ("created", "code_version", "format", "format_version",
                              "run_info")}
        previous = json.loads(attrs.get("enrichments", "[]") or "[]")
        attrs.update(revision=int(attrs.get("revision", 0)) + (1 if self.enrichments else 0),
                     parent=os.path.abspath(parent) if parent else "",
                     enrichments=json.dumps(previous + self.enrichments))
        content["attrs"] = attrs
        return content

    def save(self, path, parent=""):
        """Collective (rank 0 writes). The current (enriched) ROM as an archive
        (:meth:`content`); a member of a dictionary of local ROMs is written back into
        a copy of its dictionary, the other members unchanged
        (:func:`rom.dictionary.rewrite_members`)."""
        self.complete()
        save_contents(self.comm, path, self.archive, {self.archive.get("member"):
                                                      self.content(parent)
                                                      if self.comm.rank == 0 else None})


def save_contents(comm, path, archive, contents):
    """Collective (rank 0 writes). Write ``contents`` (``{member: content}``, member None
    for a single ROM) of the archive ``archive`` (a dict of :func:`rom.archive.read_archive`)
    to ``path``: a single ROM as it is; members of a dictionary into a copy of it."""
    from rom.archive import write_archive

    def write():
        if comm.rank != 0:
            return
        try:
            if None in contents:
                content = dict(contents[None])
                content["attrs"] = {k: v for k, v in content["attrs"].items()
                                    if k not in ("members", "member_loadings")}
                write_archive(path, content)
            else:
                from rom.dictionary import rewrite_members

                rewrite_members(path, archive["path"], contents)
        except RomError:
            raise
        except Exception as exc:  # noqa: BLE001 - rank 0's failure, on every rank
            raise RomError(f"cannot write the enriched archive {path}: {exc}") from None

    agree(comm, write)


def adaptive_command(case, archive_path, comm, out_dir, loading=None, tol=None,
                     save=None, fields=None, floor=DEFAULT_FLOOR, max_enrichments=None,
                     write_every=1, log=print):
    """Collective. Run the adaptive ROM ``archive_path`` on ``case`` (its named
    ``loading``; ``tol`` defaults to the case's ``[rom] tol``); write
    ``<out_dir>/online.h5`` and ``.xdmf`` (U, sigma, p and the indicator fields; at
    enriched steps the HF fields, and the ROM's predictions as ``<field>_rom``) and
    ``<out_dir>/adaptive.json`` (the per-step records, :meth:`AdaptiveRom.run`); with
    ``save``, the enriched archive. ``fields``: the indicator fields (default: the
    case's). Returns a summary dict."""
    from rom.online import ResultWriter, open_collective
    from rom.snapshots import prepare_output

    case = case.with_loading(loading)
    tol = case.rom.tol if tol is None else float(tol)
    if not tol >= 0:
        raise RomError(f"adaptive ROM: tol must be >= 0, not {tol}")
    if case.thermal is not None:  # its HF steps need the mesh anyway: fields if missing
        from rom.thermal import compute_thermal_fields

        compute_thermal_fields(case, comm, [None], log=log)
    # rank 0 (the writer) reads and checks the whole archive; the others its reduced
    # operators, and their own rows of the full bases (RomBuilder.from_archive)
    archive, data = open_collective(archive_path, case, comm)
    prepare_output(os.path.join(out_dir, "online.h5"), comm, overwrite=True)
    if save:
        from rom.archive import FORMAT

        if os.path.abspath(save) == os.path.abspath(archive_path):
            raise RomError(f"adaptive: --save {save} is the archive the run starts from")
        prepare_output(save, comm, overwrite=True, expect=FORMAT)
    t0 = time.perf_counter()
    ada = AdaptiveRom(archive, case, comm, tol, fields, floor, max_enrichments, log)
    setup = time.perf_counter() - t0
    path = os.path.join(out_dir, "online.h5")
    writer = (ResultWriter(path, archive, case, data, ada.model.law,
                           f"adaptive {archive_path} tol {tol:g}")
              if comm.rank == 0 else None)
    res = ada.run(writer, write_every)  # on failure the partial file is left aside
    if writer is not None:
        writer.close()
    res["timings"]["setup"] = setup
    summary = dict(res, loading=case.loading, tol=tol, indicator_fields=ada.fields,
                   factors=ada.factors, learned=dict(ada.learned), floor=floor,
                   n_steps=len(res["times"]),
                   n_enrichments=len(res["enrichments"]), final_modes=ada.model.n_modes,
                   final_points=ada.model.m, archive=os.path.abspath(archive_path))
    if save:
        ada.save(save, archive_path)
        summary["saved"] = os.path.abspath(save)
    if comm.rank == 0:
        target = os.path.join(out_dir, "adaptive.json")
        with open(target + ".part", "w") as f:
            json.dump(summary, f, indent=1)
        os.replace(target + ".part", target)
    comm.Barrier()  # the files are complete when any rank returns
    summary["files"] = (path, os.path.splitext(path)[0] + ".xdmf")
    return summary
