"""The pipeline of a case: HF training runs, offline build, online test run, optional
HF reference, report.

    results/<case>/train_<loading>/snapshots.h5   HF snapshots of each training loading
    results/<case>/import_<loading>/snapshots.h5  or, for a loading whose run comes from
                                                   another solver ([rom] results), its
                                                   replay (rom.sources); it also serves
                                                   as that loading's HF reference
    results/<case>/rom.h5, rom_spectrum.png        the ROM archive
    results/<case>/online_<loading>/online.h5      the ROM on the test loading
    results/<case>/hf_<loading>/snapshots.h5       the HF reference (when asked)
    results/<case>/online_<a>/, adaptive_<a>/      plain and adaptive ROM runs on each
                                                   ``[rom] adaptive`` loading (and hf_<a>)
    results/<case>/report.md, *.png                errors, timings, plots

Each stage is skipped when its output is up to date (and the report says which were
reused):

* an HF run: a complete snapshot file of the same case text and loading (for an
  imported run: a replay of the same result file, unchanged since);
* the archive: the same case text, built from the same snapshot files, newer than
  them, and accepted by the online command;
* an online or adaptive run: its ``online.h5`` complete and stamped with the key
  (:func:`rom.provenance.inputs_key`) of the same inputs: the archive file (path,
  size, modification time; the archive not newer than the output), the case text,
  the loading (and the files it reads: mesh, temperature fields, pressure values),
  the code version, and for an adaptive run its tolerance, indicator fields and
  floor (and its ``adaptive.json``, whose SHA-256 the stamp holds).

A run made here is stamped when made (HDF5 attributes of its output, rank 0):
``run_info``, the environment of the run (date, ranks, machine, versions:
:func:`rom.provenance.environment`), and for online and adaptive runs
``pipeline_key`` and ``run_summary`` (the online time and timings, the member of a
dictionary of local ROMs and the dissimilarities that chose it, the ROM's size). A
reused run is read back from them, so that the report shows the timings recorded
when each run was made, not those of the machine's load of a later pipeline run.
"""

import hashlib
import json
import os
import time

from rom import RomError, __version__, agree

__all__ = ["run_pipeline"]


def _snapshots_up_to_date(path, case):
    import h5py

    if not os.path.isfile(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            return (f.attrs.get("case_text") == case.text
                    and f.attrs.get("loading", "") == (case.loading or "")
                    and int(f.attrs.get("completed_steps", -1)) == len(case.times))
    except OSError:
        return False


def hf_run_unless_up_to_date(case, comm, folder, before_run=None, check_fields=False):
    """Collective. ``(path, reused)``: the HF run of ``case``'s current loading in
    ``folder/snapshots.h5``, reused when up to date (the same case text and loading
    name, every step: :func:`_snapshots_up_to_date`), else run (``before_run()``
    called first; a stale file replaced) and stamped with the machine (``run_info``)
    and a digest of the loading's fields (``loading_fields``). With ``check_fields``
    the digest must match too: a loading made from Python
    (:meth:`rom.case.Case.with_fields`), whose name does not say its fields."""
    from rom.hf import run_hf
    from rom.provenance import environment, inputs_key, read_stamp

    path = os.path.join(folder, "snapshots.h5")
    key = inputs_key({"temperature": repr(case.temperature)})

    def up_to_date():
        return _snapshots_up_to_date(path, case) and (
            not check_fields or (read_stamp(path, "loading_fields") or {}).get("key") == key)

    up = comm.bcast(up_to_date() if comm.rank == 0 else None, root=0)
    if not up:
        if before_run is not None:
            before_run()
        run_hf(case, comm, out_dir=folder, log=None, overwrite=True)
        _stamp(comm, path, run_info=environment(comm), loading_fields={"key": key})
    return path, up


def training_runs(case, comm, out, log=None, on_hf=None):
    """Collective. The snapshot files of ``case``'s ``[rom] training`` loadings in
    ``out``, as the pipeline makes them: another solver's run replayed
    (:func:`rom.sources.snapshot_file`, ``out/import_<loading>/``), an HF run in
    ``out/train_<loading>/`` unless up to date (:func:`hf_run_unless_up_to_date`).
    ``log`` (rank 0) gets a line per loading; ``on_hf(name, path, reused, seconds)``
    is called after each HF stage (the pipeline records its stages)."""
    return [_training_run(case, comm, out, name, "training loading", f"train_{name}",
                          log, on_hf) for name in case.rom.training]


def _training_run(case, comm, out, name, what, folder, log, on_hf, imported=None):
    """One run of :func:`training_runs` (or a reference run of the pipeline): its
    snapshot file."""
    from rom.sources import imported_runs, snapshot_file

    say = log if comm.rank == 0 and log else (lambda *a, **k: None)
    imported = imported_runs(case) if imported is None else imported
    if name in imported:
        say(f"[pipeline] {what} {name}: the run of {imported[name].path}")
        return snapshot_file(imported[name], case, comm, out, log=say)
    t0 = time.perf_counter()
    path, up = hf_run_unless_up_to_date(
        case.with_loading(name), comm, os.path.join(out, folder),
        before_run=lambda: say(f"[pipeline] HF run on {what} {name}"))
    if up:
        say(f"[pipeline] HF {what} {name}: up to date ({path})")
    if on_hf is not None:
        on_hf(name, path, up, time.perf_counter() - t0)
    return path


def _archive_up_to_date(path, case, snapshot_files):
    """Rank 0. The archive ``path`` was built from ``snapshot_files`` (after them) with
    the case's text, and the online command accepts it for ``case`` (an archive of an
    older version of this code may not hold what the current one checks)."""
    if not os.path.isfile(path):
        return False
    from rom.archive import LEAN, read_clusters
    from rom.online import open_for_case

    dictionary = read_clusters(path) is not None
    try:
        a = open_for_case(path, case, LEAN, member=0 if dictionary else None)[0]
    except RomError:
        return False
    if case.rom.clusters != "auto" and dictionary != (case.rom.clusters not in (None, 1)):
        return False  # a dictionary asked for and a single ROM found, or the reverse
    files = "\n".join(os.path.abspath(p) for p in snapshot_files)
    newer = all(os.path.getmtime(path) > os.path.getmtime(p) for p in snapshot_files)
    listed = (a["attrs"] if dictionary else a["summary"]).get("snapshot_files")
    return (a["attrs"].get("case_text") == case.text and listed == files and newer
        and bool(a["attrs"].get("gappy_normalized"))  # else: built by an older version,
        and all("coefficients" in g for g in a["gappy"].values()))  # or uncalibrated


def _loading_files(case):
    """The files an online run of ``case`` (with its loading) reads besides the
    archive: the mesh file, the temperature fields' files, the pressure values'."""
    files = [case.mesh_file] + [f.file for f in case.temperature if f.file]
    files += [p.file for p in case.pressure if getattr(p, "file", None)]
    return list(dict.fromkeys(files))


def run_inputs(case, rom_path, command, **settings):
    """Rank 0. The inputs of an online or adaptive (``command``) run of ``case`` (with
    its loading) from the archive ``rom_path``, as a JSON-able dict: the archive's and
    the loading's files (:func:`rom.provenance.file_identity`), the case text, the
    loading and its temperature fields, the code version, and ``settings``."""
    from rom.provenance import file_identity

    return {"command": command, "archive": file_identity(rom_path), "case_text": case.text,
            "loading": case.loading or "", "temperature": repr(tuple(case.temperature)),
            "files": [file_identity(p) for p in _loading_files(case)],
            "code_version": __version__, **settings}


def stored_run(path, case, rom_path, key):
    """Rank 0. The ``run_summary`` stamped on the online or adaptive result ``path``
    (with ``times``, the steps written) if that result is up to date: complete (every
    step of ``case``, its XDMF index beside it), stamped with ``key`` (of
    :func:`run_inputs`), not older than the archive ``rom_path``; else None."""
    import h5py

    if not (os.path.isfile(path) and os.path.isfile(os.path.splitext(path)[0] + ".xdmf")):
        return None
    try:
        with h5py.File(path, "r") as f:
            a = f.attrs
            if (a.get("pipeline_key") != key
                    or int(a.get("completed_steps", -1)) != len(case.times)):
                return None
            summary = json.loads(a["run_summary"])
            summary["times"] = [float(t) for t in f["time"][...]]
    except (OSError, KeyError, ValueError, TypeError):
        return None
    if not os.path.isfile(rom_path) or os.path.getmtime(rom_path) > os.path.getmtime(path):
        return None
    return summary


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _stored_adaptive(path, case, rom_path, key):
    """Rank 0. The summary of the adaptive run whose result is ``path`` (its
    ``adaptive.json`` beside it, the one stamped) if up to date (:func:`stored_run`),
    else None."""
    stored = stored_run(path, case, rom_path, key)
    target = os.path.join(os.path.dirname(path), "adaptive.json")
    if stored is None or not os.path.isfile(target):
        return None
    if _sha256(target) != stored.get("adaptive_json_sha256"):
        return None
    try:
        with open(target) as f:
            summary = json.load(f)
    except (OSError, ValueError):
        return None
    return summary if int(summary.get("n_steps", -1)) == len(case.times) else None


def _other_times(path, case, run):
    """Rank 0. A message if the replay ``path`` of another solver's ``run`` has not the
    case's steps (a reference is compared with the ROM step by step), else None."""
    import h5py
    import numpy as np

    with h5py.File(path, "r") as f:
        times = f["time"][...]
    if len(times) == len(case.times) and np.allclose(times, case.times, rtol=1e-9,
                                                      atol=1e-12 * max(case.times)):
        return None
    return (f"{run.path}: the reference run of loading '{run.loading}' has {len(times)} "
            f"step(s) (t = {', '.join(f'{t:g}' for t in times[:4])}"
            f"{', ...' if len(times) > 4 else ''}), the case's [steps] {len(case.times)} "
            f"(t = {', '.join(f'{t:g}' for t in case.times[:4])}"
            f"{', ...' if len(case.times) > 4 else ''}): give the case the run's steps")


def _stamp(comm, path, **attrs):
    """Collective. Rank 0 sets the attributes ``attrs`` of the file ``path`` (closed
    on every rank: the barrier) (:func:`rom.provenance.stamp_file`)."""
    from rom.provenance import stamp_file

    comm.Barrier()
    agree(comm, lambda: stamp_file(path, **attrs) if comm.rank == 0 else None)


def run_pipeline(case, comm, reference=True, out_dir=None, log=print):
    """Collective. Run the pipeline of ``case`` (its ``[rom] training`` and ``test``
    loadings, and the adaptive ROM on its ``[rom] adaptive`` loadings), every stage
    unless up to date (module docstring); returns a summary dict and writes the report
    (rank 0). The summary's ``stages``: ``{"stage", "path", "reused"}`` of each
    stage, in order."""
    from rom.adaptive import DEFAULT_FLOOR, adaptive_command
    from rom.offline import build_rom
    from rom.online import online_command
    from rom.provenance import environment, inputs_key
    from rom.sources import imported_runs, snapshot_file

    say = log if comm.rank == 0 and log else (lambda *a, **k: None)
    if not case.rom.training or not case.rom.test:
        raise RomError(f"{os.path.basename(case.path)}: the pipeline needs [rom] training "
                       "(loading names) and test (a loading name)")
    out = out_dir or case.output_dir
    timings, files, stages = {}, [], []

    def record(stage, path, reused):
        if path is None or all(s["path"] != path for s in stages):
            stages.append({"stage": stage, "path": path, "reused": bool(reused)})

    if case.thermal is not None:  # the temperature fields of every loading run below
        from rom.thermal import compute_thermal_fields

        names = list(dict.fromkeys([*case.rom.training, case.rom.test, *case.rom.adaptive]))
        t0 = time.perf_counter()
        done = compute_thermal_fields(case, comm, names, log=say)
        if done:
            timings["thermal"] = time.perf_counter() - t0
        record(f"thermal fields ({len(done)} computed)" if done else "thermal fields",
               None, not done)

    imported = imported_runs(case)

    def identity(path):  # rank 0's view of a file, the same on every rank
        from rom.provenance import file_identity

        return comm.bcast(file_identity(path) if comm.rank == 0 else None, root=0)

    def hf_stage(name, folder, what):
        """HF run of loading ``name`` into ``folder`` unless up to date; its file. A
        loading run by another solver: its replay (rom.sources), unless up to date."""
        if name in imported:
            say(f"[pipeline] {what} {name}: the run of {imported[name].path}")
            before = identity(os.path.join(out, f"import_{name}", "snapshots.h5"))
            t0 = time.perf_counter()
            path = snapshot_file(imported[name], case, comm, out, log=say)
            timings[f"import_{name}"] = time.perf_counter() - t0
            record(f"replay of {os.path.basename(imported[name].path)} ({what} {name})",
                   path, before[1] is not None and identity(path) == before)
            if what.startswith("reference"):  # compared step by step with the ROM's
                problem = _other_times(path, case, imported[name]) if comm.rank == 0 else None
                problem = comm.bcast(problem, root=0)
                if problem:
                    raise RomError(problem)
            return path
        def on_hf(name, path, up, seconds):
            if not up:
                timings[f"hf_{name}"] = seconds
            record(f"HF {what} {name}", path, up)

        return _training_run(case, comm, out, name, what, folder, log, on_hf, imported)

    for name in case.rom.training:
        files.append(hf_stage(name, f"train_{name}", "training loading"))
    rom_path = os.path.join(out, "rom.h5")
    up = comm.bcast(_archive_up_to_date(rom_path, case, files) if comm.rank == 0 else None,
                    root=0)
    if up:
        say(f"[pipeline] offline: up to date ({rom_path})")
    else:
        say("[pipeline] offline build")
        t0 = time.perf_counter()
        build_rom(case, files, comm, rom_path, log=say)
        timings["offline"] = time.perf_counter() - t0
        _stamp(comm, rom_path, run_info=environment(comm))
    record("offline build (ROM archive)", rom_path, up)

    def online_stage(name, what):
        """The plain ROM on loading ``name`` unless up to date: its summary
        (:func:`rom.online.online_command`'s, or read back from the stamped result)."""
        c = case.with_loading(name)
        folder = os.path.join(out, f"online_{name}")
        path = os.path.join(folder, "online.h5")
        key = stored = None
        if comm.rank == 0:
            key = inputs_key(run_inputs(c, rom_path, "online"))
            stored = stored_run(path, c, rom_path, key)
        key, stored = comm.bcast((key, stored), root=0)
        record(f"online ROM, {what} {name}", path, stored is not None)
        if stored is not None:
            say(f"[pipeline] online run on {what} {name}: up to date ({path})")
            times = stored.pop("times")
            return dict(stored, res={"times": times}, reused=True,
                        files=(path, os.path.splitext(path)[0] + ".xdmf"))
        say(f"[pipeline] online run on {what} {name}")
        t0 = time.perf_counter()
        on = online_command(case, rom_path, comm, folder, name, log=None)
        timings[f"online_{name}"] = time.perf_counter() - t0
        sel = on.get("selection")
        run = {"time_online": float(on["time_online"]),
               "timings": {k: float(v) for k, v in on["timings"].items()},
               "n_modes": int(on["n_modes"]), "n_points": int(on["n_points"]),
               "loading": on["loading"],
               "member": None if on["member"] is None else int(on["member"]),
               "selection": None if sel is None else [float(d) for d in sel]}
        _stamp(comm, path, pipeline_key=key, run_summary=run, run_info=environment(comm))
        return dict(on, reused=False)

    def adaptive_stage(name):
        """The adaptive ROM on loading ``name`` unless up to date: its summary
        (:func:`rom.adaptive.adaptive_command`'s, or its ``adaptive.json``)."""
        c = case.with_loading(name)
        folder = os.path.join(out, f"adaptive_{name}")
        path = os.path.join(folder, "online.h5")
        settings = {"tol": float(c.rom.tol), "floor": DEFAULT_FLOOR,
                    "indicator": None if c.rom.indicator is None else list(c.rom.indicator)}
        key = stored = None
        if comm.rank == 0:
            key = inputs_key(run_inputs(c, rom_path, "adaptive", **settings))
            stored = _stored_adaptive(path, c, rom_path, key)
        key, stored = comm.bcast((key, stored), root=0)
        record(f"adaptive ROM, loading {name}", path, stored is not None)
        files = (path, os.path.splitext(path)[0] + ".xdmf")
        if stored is not None:
            say(f"[pipeline] adaptive run on loading {name}: up to date ({path})")
            return dict(stored, files=files, reused=True)
        t0 = time.perf_counter()
        ada = adaptive_command(case, rom_path, comm, folder, name, log=None)
        timings[f"adaptive_{name}"] = time.perf_counter() - t0
        digest = comm.bcast(_sha256(os.path.join(folder, "adaptive.json"))
                            if comm.rank == 0 else None, root=0)
        run = {"adaptive_json_sha256": digest,
               "timings": {k: float(v) for k, v in ada["timings"].items()}, **settings}
        _stamp(comm, path, pipeline_key=key, run_summary=run, run_info=environment(comm))
        return dict(ada, reused=False)

    test = case.rom.test
    on = online_stage(test, "test loading")
    ref_path = None
    if reference:
        ref_path = hf_stage(test, f"hf_{test}", "reference, test loading")
    adaptive = []
    for name in case.rom.adaptive:
        say(f"[pipeline] online and adaptive runs (tol {case.rom.tol:g}) on loading {name}")
        plain = on if name == test else online_stage(name, "loading")  # the test run is
        ada = adaptive_stage(name)                                      # the plain run
        ref = hf_stage(name, f"hf_{name}", "reference, loading") if reference else None
        adaptive.append((name, ada, plain["files"][0], ref))
    report_env = environment(comm)
    summary = None
    if comm.rank == 0:
        from rom.report import write_report

        summary = write_report(case, out, rom_path, on, ref_path, timings, files, adaptive,
                               stages=stages, environment=report_env)
    return comm.bcast(summary, root=0)
