"""The Python API: what the ``run.py`` commands do, for case scripts run under
``mpirun`` (a study over many loadings, a design loop). Every function is collective
over ``comm`` (MPI's ``COMM_WORLD`` unless the script splits it); errors are
:class:`rom.RomError` with the message the commands print.

Example (``mpirun -n 2 python script.py``)::

    from mpi4py import MPI
    from rom import api

    comm = MPI.COMM_WORLD
    case = api.load_case("cases/blade.toml")
    # a loading given in Python: fields of a [loadings.<name>] table (value,
    # expression, file, thermal parameters) or nodal arrays ("array")
    new = case.with_fields([{"time": 0.0, "value": 20.0},
                            {"time": 300.0, "thermal": {"hs_peak": 170.0}},
                            {"time": 3600.0, "value": 20.0}], name="mine")
    api.run_hf(new, comm, "results/mine")                   # -> results/mine/snapshots.h5
    files = [api.run_hf(case.with_loading(n), comm, f"results/{n}")["snapshots"]
             for n in ("a", "b")]
    api.build_rom(case, files, comm, "results/rom.h5")      # offline
    api.run_online(new, "results/rom.h5", comm, "results/mine_rom")
    study = api.Study(case, "results/rom.h5", comm)         # adaptive, over many loadings
    run = study.run(new, reference=True)   # extremes, HF steps, errors against HF
    study.save("results/rom_enriched.h5")
    res = api.read_result("results/mine_rom/online.h5", qp_fields=("p",))

``cases/blade_uq.py`` is the complete example: 100 sampled hot-spot loadings of the
blade through one adaptive ROM.
"""

import os
import time

import numpy as np

from rom import RomError
from rom.case import load_case
from rom.fem.kernels import von_mises

__all__ = ["load_case", "thermal_fields", "run_hf", "build_rom", "run_online",
           "run_adaptive", "read_result", "Study", "Extremes", "von_mises",
           "indicator_scores", "greedy_training", "greedy_candidates", "loading_table"]


def thermal_fields(case, comm, mesh=None, force=False, log=None):
    """Compute the fields of ``case``'s current loading that its ``[thermal]`` problem
    gives, when missing or stale (:func:`rom.thermal.compute_thermal_fields`); returns
    the list of those computed."""
    if case.thermal is None:
        return []
    from rom.thermal import compute_thermal_fields

    return compute_thermal_fields(case, comm, [None], force=force, mesh=mesh, log=log)


def run_hf(case, comm, out_dir, log=None, petsc_options=None):
    """The HF run of ``case`` (its current loading) into ``out_dir/snapshots.h5``
    (replaced if present); returns the run's summary with ``snapshots``: that path."""
    from rom.hf import run_hf as _run

    out = _run(case, comm, out_dir=out_dir, log=log, overwrite=True,
               petsc_options=petsc_options)
    return dict(out, snapshots=os.path.join(out_dir, "snapshots.h5"))


def build_rom(case, snapshot_files, comm, archive_path, log=None):
    """The offline stage: the ROM of ``case`` from HF snapshot files, written to
    ``archive_path``; returns the offline summary (modes, points, timings)."""
    from rom.offline import build_rom as _build

    return _build(case, list(snapshot_files), comm, archive_path,
                  log=log or (lambda *a, **k: None))


def run_online(case, archive_path, comm, out_dir, write_every=1, log=None):
    """The plain ROM on ``case``'s current loading (its thermal fields computed if
    needed): ``out_dir/online.h5`` and ``.xdmf``; returns the run's summary."""
    from rom.online import online_command

    thermal_fields(case, comm, log=log)
    return online_command(case, archive_path, comm, out_dir, None, write_every, log=log)


def run_adaptive(case, archive_path, comm, out_dir, tol=None, save=None, log=None):
    """The adaptive ROM on ``case``'s current loading (:func:`rom.adaptive.
    adaptive_command`); with ``save``, the enriched archive; returns its summary."""
    from rom.adaptive import adaptive_command

    return adaptive_command(case, archive_path, comm, out_dir, None, tol, save,
                            log=log or (lambda *a, **k: None))


def indicator_scores(case, archive_path, candidates, comm, log=None, failures=None):
    """The plain ROM ``archive_path`` (one ROM, not a dictionary) on each candidate
    loading, ``candidates`` (name -> case, e.g. from :meth:`rom.case.Case.with_fields`;
    their thermal fields computed if needed), without any HF step: the largest error
    indicator of each run over its steps (:meth:`rom.adaptive.AdaptiveRom.run`, the
    calibrated estimate of the relative error of its fields), ``inf`` where the reduced
    Newton fails, ``nan`` for a candidate whose loading cannot be set up (its thermal
    fields or temperature files: the message in ``failures``, a dict, if given).
    Returns ``{name: score}``. Cost: one online run with the indicator per candidate,
    independent of the mesh size apart from its thermal fields."""
    from rom.adaptive import AdaptiveRom
    from rom.online import open_collective

    thermal_fields(case, comm)  # (the ROM is set up on the case's own loading first)
    archive = open_collective(archive_path, case, comm)[0]
    if archive.get("member") is not None:
        raise RomError(f"indicator scores: {archive_path} is a dictionary of local ROMs; "
                       "score the candidates with one ROM ([rom] clusters unset)")
    rom = AdaptiveRom(archive, case, comm, np.inf, max_enrichments=0)
    scores, failed = {}, {}
    for name, c in candidates.items():
        try:  # (collective errors: every rank raises; use_loading keeps the previous)
            thermal_fields(c, comm, mesh=rom.rb.mesh)
            rom.use_loading(c)
        except RomError as exc:
            scores[name], failed[name] = np.nan, str(exc)
            if log is not None and comm.rank == 0:
                log(f"greedy: candidate {name} left out: {exc}")
            continue
        try:
            scores[name] = float(max(rom.run()["indicator"], default=0.0))
        except RomError:  # the reduced Newton failed (collective: every rank raises)
            scores[name] = np.inf
        if log is not None and comm.rank == 0:
            log(f"greedy: indicator of {name}: {scores[name]:.3e}")
    if failures is not None:
        failures.update(comm.bcast(failed, root=0))
    # replicated values, rank 0's: a choice made from them is the same on every rank
    return comm.bcast(scores, root=0)


def greedy_training(case, candidates, training, comm, out_dir, n_add, tol=None,
                    evaluate=None, log=None):
    """A training design chosen by the ROM itself (a weak greedy: Veroy et al., the
    reduced basis method's greedy with an error indicator in place of the error).

    From the snapshot files ``training`` (the first design's HF runs), repeat up to
    ``n_add`` times: build the ROM of the training runs (``out_dir/rom_<n>.h5``, ``n``
    the number of runs; ``[rom] clusters`` ignored), score every candidate not chosen
    yet by the plain ROM's largest indicator (:func:`indicator_scores`), run the HF
    model on the candidate of the largest score (``out_dir/hf_<name>``) and add it to
    the training runs; stop early when every score is below ``tol`` (default: the
    case's ``[rom] tol``). The ROM of the final design is built last. ``evaluate``, if
    given, is called as ``evaluate(n, archive_path)`` after each build (e.g. errors on
    held-out loadings). ``candidates``: name -> case (their loadings).

    A candidate whose loading cannot be set up, or whose HF run fails (its partial
    output is left in ``out_dir/hf_<name>``), is left out with its message in
    ``dropped`` and the next largest score is taken: one bad candidate does not end
    the design. A complete HF run of the same candidate already in ``out_dir`` (a
    design started again after an interruption) is reused.

    Returns ``{"chosen": [{"name", "score", "runs"}], "scores": [{name: score} per
    iteration], "archives": [paths], "training": [files], "dropped": {name: message},
    "stopped": reason}``."""
    from dataclasses import replace

    from rom.pipeline import hf_run_unless_up_to_date

    tol = case.rom.tol if tol is None else float(tol)
    if not training:
        raise RomError("greedy training: give at least one HF run to start from")
    if int(n_add) != n_add or n_add < 0:
        raise RomError(f"greedy training: n_add must be a whole number >= 0, not {n_add}")
    case = replace(case, rom=replace(case.rom, clusters=None))
    training, chosen, history, archives, dropped = list(training), [], [], [], {}
    # (the candidates' own [rom] too: a loading differs from the ROM's case by its
    # temperature only)
    remaining = {k: replace(c, rom=replace(c.rom, clusters=None))
                 for k, c in candidates.items()}
    say = log if log is not None and comm.rank == 0 else (lambda *a, **k: None)
    stopped = f"n_add = {n_add} runs added"
    while True:
        path = os.path.join(out_dir, f"rom_{len(training)}.h5")
        build_rom(case, training, comm, path)
        archives.append(path)
        if evaluate is not None:
            evaluate(len(training), path)
        if len(chosen) == n_add:
            break
        if not remaining:
            stopped = "no candidate left"
            break
        failures = {}
        scores = indicator_scores(case, path, remaining, comm, failures=failures)
        history.append(scores)
        for name, message in failures.items():
            remaining.pop(name)
            dropped[name] = message
        order = sorted((k for k in scores if not np.isnan(scores[k])),
                       key=lambda k: (scores[k], k), reverse=True)
        if not order:
            stopped = "no candidate left" + (" that could be run" if failures else "")
            break
        say(f"greedy: {len(training)} training runs; largest indicator "
            f"{scores[order[0]]:.3e} ({order[0]}), smallest {scores[order[-1]]:.3e}")
        added = None
        for name in order:
            if scores[name] < tol:
                break
            c = remaining.pop(name)
            try:  # (a complete run of the same candidate there, from a design started
                # again after an interruption, is reused)
                snapshots, reused = hf_run_unless_up_to_date(
                    c, comm, os.path.join(out_dir, f"hf_{name}"), check_fields=True)
            except RomError as exc:  # collective: every rank raises
                dropped[name] = f"HF run failed: {exc}"
                say(f"greedy: HF run of {name} failed, candidate left out: {exc}")
                continue
            training.append(snapshots)
            chosen.append({"name": name, "score": scores[name], "runs": len(training)})
            say(f"greedy: HF run of {name} added" + (" (up to date)" if reused else ""))
            added = name
            break
        if added is None:
            stopped = (f"every indicator below {tol:g}" if scores[order[0]] < tol else
                       f"every HF run of a candidate above {tol:g} failed")
            break
    return {"chosen": chosen, "scores": history, "archives": archives,
            "training": training, "dropped": dropped, "stopped": stopped}


def greedy_candidates(case, spec=None):
    """The candidate loadings of a greedy design (``spec``, default the case's ``[rom]
    greedy``, :class:`rom.case.GreedySpec`): ``{name: (case, parameters)}``, the names
    ``<template>_g<k>`` (``x`` appended while the case has a loading of that name);
    each is the template loading with the sampled values of the parameters (Latin
    hypercube over their ranges, :mod:`scipy.stats.qmc`) in every one of its
    ``[thermal]`` fields, its other fields as they are. A candidate whose fields are
    those of a ``[rom] training`` loading is left out."""
    from scipy.stats import qmc

    spec = spec or case.rom.greedy
    if spec is None:
        raise RomError(f"{os.path.basename(case.path)} has no [rom.greedy] section (the "
                       "template loading and the parameter ranges of the candidates)")
    names = [p[0] for p in spec.parameters]
    lo = np.array([p[1] for p in spec.parameters])
    hi = np.array([p[2] for p in spec.parameters])
    u = qmc.LatinHypercube(d=len(names), seed=spec.seed).random(spec.samples)
    template = case.loadings[spec.template]
    trained = [case.with_loading(t).temperature for t in case.rom.training]
    out = {}
    for k, row in enumerate(lo + u * (hi - lo)):
        values = dict(zip(names, map(float, row)))
        fields = []
        for f in template:
            entry = {"time": f.time}
            if f.thermal is not None:
                entry["thermal"] = dict(dict(f.thermal), **values)
            elif f.array is not None:
                entry["array"] = f.array
            elif f.value is not None:
                entry["value"] = f.value
            elif f.expression is not None:
                entry["expression"] = f.expression
            else:
                entry.update(file=f.file, **({"name": f.name} if f.name else {}))
            fields.append(entry)
        name = f"{spec.template}_g{k:03d}"
        while name in case.loadings:  # (e.g. the tables of an earlier design added)
            name += "x"
        c = case.with_fields(fields, name=name)
        if c.temperature not in trained:  # a candidate already trained on is left out
            out[name] = (c, values)
    return out


def loading_table(case, name):
    """The ``[loadings.<name>]`` table (TOML text) of the named loading of ``case``
    made from Python (e.g. a greedy candidate) whose fields are values, expressions,
    files or ``[thermal]`` parameters: what a case file gives to define it."""
    def number(v):
        return repr(float(v))

    parts = []
    for f in case.loadings[name]:
        if f.array is not None:
            raise RomError(f"loading '{name}': a field given as an array has no case-file "
                           "form; save it to a .npy file")
        if f.thermal is not None:
            spec = "thermal = {" + ", ".join(f"{_toml_key(k)} = {number(v)}"
                                             for k, v in f.thermal) + "}"
        elif f.value is not None:
            spec = f"value = {number(f.value)}"
        elif f.expression is not None:
            spec = f"expression = {_toml_string(f.expression)}"
        else:
            spec = f"file = {_toml_string(f.file)}" + (
                f", name = {_toml_string(f.name)}" if f.name else "")
        parts.append(f"{{time = {number(f.time)}, {spec}}}")
    return (f"[loadings.{_toml_key(name)}]\nfields = [" + ",\n          ".join(parts)
            + "]\n")


def _toml_string(s):
    """A TOML basic string: JSON's escapes (backslash, quote, control characters) are
    TOML's, and DEL, which JSON leaves, is escaped too."""
    import json

    return json.dumps(str(s), ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_key(k):
    """A TOML key: bare when it may be, else quoted."""
    import re

    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_string(k)


def read_result(path, fields=("U",), qp_fields=()):
    """Serial. An HF or ROM result file: ``{"time", "U" (steps, nodes, 3), "points",
    "qp/<name>" (steps, n_qp, ...), "weights"}`` (:func:`rom.snapshots.
    read_snapshots`)."""
    from rom.snapshots import read_snapshots

    return read_snapshots(path, tuple(fields), tuple(qp_fields))


class Extremes:
    """Collective observer of a run (``observe`` of :meth:`rom.adaptive.AdaptiveRom.
    run`): in each region, the largest von Mises stress over the run and (``plastic``)
    the largest cumulated plasticity ``p``, each with its quadrature point's
    coordinates and time.

    ``points``: coordinates ``(n_qp, 3)`` of the local quadrature points; ``regions``:
    name -> boolean mask over them (default: the whole mesh, ``"all"``).
    """

    def __init__(self, comm, points, regions=None, plastic=True):
        self.comm, self.points = comm, points
        self.regions = regions or {"all": np.ones(len(points), bool)}
        self.quantities = ("von_mises", "p") if plastic else ("von_mises",)
        self.values = {f"{q}_{r}": {"value": -np.inf, "at": None, "time": None}
                       for r in self.regions for q in self.quantities}

    def __call__(self, n, t, fields):
        f = fields(["sigma", "p"] if "p" in self.quantities else ["sigma"])
        values = [von_mises(np.asarray(f["sigma"]).reshape(-1, 6))]
        if "p" in self.quantities:
            values.append(np.asarray(f["p"]))
        local = []
        for mask in self.regions.values():
            for v in values:
                v = np.where(mask, v, -np.inf)
                i = int(np.argmax(v)) if v.size else -1
                local.append((float(v[i]) if i >= 0 else -np.inf,
                              self.points[i].tolist() if i >= 0 else None))
        gathered = self.comm.allgather(local)
        for j, key in enumerate(f"{q}_{r}" for r in self.regions for q in self.quantities):
            value, at = max((g[j] for g in gathered), key=lambda x: x[0])
            if value > self.values[key]["value"]:
                self.values[key] = {"value": value, "at": at, "time": t}

    def result(self):
        return {k: dict(v) for k, v in self.values.items()}


class _Recorder:
    """Observer keeping each step's owned U and local p, if the law has it (errors
    between two runs)."""

    def __init__(self, n_owned, plastic):
        self.n_owned, self.plastic, self.U, self.p = n_owned, plastic, [], []

    def __call__(self, n, t, fields):
        f = fields(["U", "p"] if self.plastic else ["U"])
        self.U.append(np.array(f["U"][: self.n_owned]))
        if self.plastic:
            self.p.append(np.array(f["p"]).ravel())


def _relative_l2(comm, a, b):
    """All-steps relative L2 error ``||a - b|| / ||b||`` of distributed step lists."""
    assert len(a) == len(b), (len(a), len(b))
    d = sum(float(np.sum((x - y) ** 2)) for x, y in zip(a, b))
    n = sum(float(np.sum(y ** 2)) for y in b)
    d, n = comm.allreduce(d), comm.allreduce(n)
    return float(np.sqrt(d / n)) if n > 0 else float(np.sqrt(d))


def _clock():
    return time.perf_counter(), time.process_time()


class Study:
    """Collective. An adaptive ROM carried over many loadings: each :meth:`run` starts
    from the bases, reduced quadrature and indicator corrections that the previous runs
    enriched (:meth:`rom.adaptive.AdaptiveRom.use_loading`). One mesh and HF solver are
    set up once for all the runs and their HF steps.

    Parameters
    ----------
    case : rom.case.Case of the archive (its loadings are replaced by each run's)
    archive_path : ROM archive of the case (``run.py offline`` or :func:`build_rom`)
    comm : communicator
    tol : indicator tolerance (default: the case's ``[rom] tol``)
    regions : name -> predicate ``f(points (n, 3)) -> bool mask`` of the regions whose
        extremes :meth:`run` reports (default: the whole mesh, ``"all"``)
    """

    def __init__(self, case, archive_path, comm, tol=None, regions=None, log=None):
        from rom.adaptive import AdaptiveRom
        from rom.online import open_collective

        t0 = _clock()
        self.comm, self.archive_path = comm, archive_path
        self.tol = case.rom.tol if tol is None else float(tol)
        if not self.tol >= 0:
            raise RomError(f"Study: tol must be >= 0, not {tol}")
        thermal_fields(case, comm, log=log)
        # rank 0 (which saves the enriched archive) reads it whole, the others its
        # reduced operators (as the adaptive command)
        archive = open_collective(archive_path, case, comm)[0]
        self.rom = AdaptiveRom(archive, case, comm, self.tol, log=log)
        self.log = log
        # of a dictionary of local ROMs: one adaptive ROM per member used, chosen by
        # each run's loading (rom.dictionary.select_member)
        self.roms = {archive["member"]: self.rom}
        self.fields = [f for f in ("sigma", "p") if f == "sigma"
                       or f in self.rom.model.law.state_shapes]
        points = self.rom.rb.model.quadrature_points()
        self.regions = {k: np.asarray(f(points), bool)
                        for k, f in (regions or {"all": lambda x: np.ones(len(x), bool)})
                        .items()}
        self.points = points
        t1 = _clock()
        self.setup_seconds = {"wall": t1[0] - t0[0], "cpu": t1[1] - t0[1]}

    def _select(self, case):
        """Collective. Of a dictionary of local ROMs, the member for ``case``'s loading
        becomes the study's ROM (opened on its first use)."""
        if self.rom.archive.get("member") is None:
            return
        from rom import agree
        from rom.adaptive import AdaptiveRom
        from rom.archive import read_clusters, read_mesh
        from rom.dictionary import select_member
        from rom.online import open_collective

        path = self.archive_path
        member = agree(self.comm, lambda: select_member(read_clusters(path), case,
                                                        read_mesh(path))[0]
                       if self.comm.rank == 0 else None)
        member = self.comm.bcast(member, root=0)
        if member not in self.roms:
            archive = open_collective(path, case, self.comm, member=member)[0]
            self.roms[member] = AdaptiveRom(archive, case, self.comm, self.tol, log=self.log)
        self.rom = self.roms[member]

    def _prepare(self, case):
        self._select(case)
        thermal_fields(case, self.comm, mesh=self.rom.rb.mesh)
        self.rom.use_loading(case)

    def run(self, case, reference=False):
        """The adaptive ROM on ``case``'s loading; with ``reference``, also the HF run
        of the same loading (in memory, on the same mesh and solver) and the ROM's
        errors against it. Returns ``{"loading", "extremes" (:class:`Extremes`),
        "hf_steps", "enrichments" (step, time, indicator, true error of each HF step),
        "n_modes", "n_points", "seconds" (wall), "cpu_seconds" (this
        rank's CPU), "timings"}``, with ``reference``: ``"hf": {"extremes", "seconds",
        "cpu_seconds"}`` and ``"errors": {"U", "p"}`` (relative L2 over all steps, as
        the pipeline's report)."""
        t0 = _clock()
        self._prepare(case)
        plastic = "p" in self.fields
        ext = Extremes(self.comm, self.points, self.regions, plastic)
        rec = _Recorder(self.rom.rb.dm.n_owned, plastic) if reference else None

        def observe(n, t, fields):
            ext(n, t, fields)
            if rec is not None:
                rec(n, t, fields)

        res = self.rom.run(observe=observe)
        t1 = _clock()
        out = {"loading": case.loading, "extremes": ext.result(),
               "hf_steps": len(res["enrichments"]), "enrichments": res["enrichments"],
               "n_modes": self.rom.model.n_modes,
               "n_points": self.rom.model.m, "seconds": t1[0] - t0[0],
               "cpu_seconds": t1[1] - t0[1], "timings": res["timings"]}
        if reference:
            hf_ext = Extremes(self.comm, self.points, self.regions, plastic)
            hf_rec = _Recorder(self.rom.rb.dm.n_owned, plastic)
            seconds = self.hf_run(case, lambda n, t, f: (hf_ext(n, t, f), hf_rec(n, t, f)))
            out["hf"] = dict(extremes=hf_ext.result(), **seconds)
            out["errors"] = {"U": _relative_l2(self.comm, rec.U, hf_rec.U)}
            if plastic:
                out["errors"]["p"] = _relative_l2(self.comm, rec.p, hf_rec.p)
        return out

    def hf_run(self, case, observe):
        """The HF run of ``case``'s loading in memory (the study's mesh and Newton
        solver, to the case's ``[solver] rtol``, with step cutting), ``observe(n, t,
        fields)`` after every step as in :meth:`rom.adaptive.AdaptiveRom.run`; returns
        its ``{"seconds", "cpu_seconds"}`` (thermal fields excluded)."""
        self._prepare(case)
        rom = self.rom
        t0 = _clock()
        u = np.zeros(rom.rb.dm.n_local)
        state = rom.model.law.initial_state(rom.rb.model.n_qp)
        t_prev = 0.0
        # to the case's Newton tolerance (the adaptive ROM's HF steps stop earlier)
        newton = rom.newton
        rtol, newton.rtol = newton.rtol, case.solver.rtol
        try:
            for n, t in enumerate(case.times):
                u, sigma, _, state, _ = newton.advance(u, state, t_prev, t, case.max_cuts)
                fields = {"U": u, "sigma": sigma, **state}
                observe(n, t, lambda names, f=fields: {k: f[k] for k in names})
                t_prev = t
        finally:
            newton.rtol = rtol
        t1 = _clock()
        return {"seconds": t1[0] - t0[0], "cpu_seconds": t1[1] - t0[1]}

    def save(self, path):
        """Write the enriched ROM as an archive (its parent: the study's archive; of a
        dictionary of local ROMs, the dictionary with every member the study used
        enriched); an existing file is replaced only if it is a ROM archive."""
        from rom.archive import FORMAT
        from rom.snapshots import prepare_output

        if os.path.abspath(path) == os.path.abspath(self.archive_path):
            raise RomError(f"Study.save: {path} is the archive the study started from")
        prepare_output(path, self.comm, overwrite=True, expect=FORMAT)
        if self.rom.archive.get("member") is None:
            self.rom.save(path, self.archive_path)
            return
        from rom.adaptive import save_contents  # every member used, enriched

        for r in self.roms.values():
            r.complete()
        save_contents(self.comm, path, self.rom.archive, {
            m: r.content(self.archive_path) if self.comm.rank == 0 else None
            for m, r in self.roms.items()})
