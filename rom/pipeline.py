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

Each stage is skipped when its output is up to date: a complete snapshot file of the
same case text and loading (for an imported run: a replay of the same result file,
unchanged since); an archive of the same case text built from the same
snapshot files, newer than them.
"""

import os
import time

from rom import RomError

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


def run_pipeline(case, comm, reference=True, out_dir=None, log=print):
    """Collective. Run the pipeline of ``case`` (its ``[rom] training`` and ``test``
    loadings, and the adaptive ROM on its ``[rom] adaptive`` loadings); returns a
    summary dict and writes the report (rank 0)."""
    from rom.adaptive import adaptive_command
    from rom.hf import run_hf
    from rom.offline import build_rom
    from rom.online import online_command
    from rom.sources import imported_runs, snapshot_file

    say = log if comm.rank == 0 and log else (lambda *a, **k: None)
    if not case.rom.training or not case.rom.test:
        raise RomError(f"{os.path.basename(case.path)}: the pipeline needs [rom] training "
                       "(loading names) and test (a loading name)")
    out = out_dir or case.output_dir
    timings, files = {}, []
    if case.thermal is not None:  # the temperature fields of every loading run below
        from rom.thermal import compute_thermal_fields

        names = list(dict.fromkeys([*case.rom.training, case.rom.test, *case.rom.adaptive]))
        t0 = time.perf_counter()
        if compute_thermal_fields(case, comm, names, log=say):
            timings["thermal"] = time.perf_counter() - t0

    imported = imported_runs(case)

    def hf_stage(name, folder, what):
        """HF run of loading ``name`` into ``folder`` unless up to date; its file. A
        loading run by another solver: its replay (rom.sources), unless up to date."""
        if name in imported:
            say(f"[pipeline] {what} {name}: the run of {imported[name].path}")
            t0 = time.perf_counter()
            path = snapshot_file(imported[name], case, comm, out, log=say)
            timings[f"import_{name}"] = time.perf_counter() - t0
            if what.startswith("reference"):  # compared step by step with the ROM's
                problem = _other_times(path, case, imported[name]) if comm.rank == 0 else None
                problem = comm.bcast(problem, root=0)
                if problem:
                    raise RomError(problem)
            return path
        c = case.with_loading(name)
        path = os.path.join(out, folder, "snapshots.h5")
        up = comm.bcast(_snapshots_up_to_date(path, c) if comm.rank == 0 else None, root=0)
        if up:
            say(f"[pipeline] HF {what} {name}: up to date ({path})")
        else:
            say(f"[pipeline] HF run on {what} {name}")
            t0 = time.perf_counter()
            run_hf(c, comm, out_dir=os.path.dirname(path), log=None, overwrite=True)
            timings[f"hf_{name}"] = time.perf_counter() - t0
        return path

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
    test = case.rom.test
    say(f"[pipeline] online run on test loading {test}")
    t0 = time.perf_counter()
    on = online_command(case, rom_path, comm, os.path.join(out, f"online_{test}"), test,
                        log=None)
    timings["online_total"] = time.perf_counter() - t0
    timings["online"] = on["time_online"]
    ref_path = None
    if reference:
        ref_path = hf_stage(test, f"hf_{test}", "reference, test loading")
    adaptive = []
    for name in case.rom.adaptive:
        say(f"[pipeline] online and adaptive runs (tol {case.rom.tol:g}) on loading {name}")
        plain = on if name == test else online_command(  # the test run is the plain run
            case, rom_path, comm, os.path.join(out, f"online_{name}"), name, log=None)
        t0 = time.perf_counter()
        ada = adaptive_command(case, rom_path, comm, os.path.join(out, f"adaptive_{name}"),
                               name, log=None)
        timings[f"adaptive_{name}"] = time.perf_counter() - t0
        ref = hf_stage(name, f"hf_{name}", "reference, loading") if reference else None
        adaptive.append((name, ada, plain["files"][0], ref))
    summary = None
    if comm.rank == 0:
        from rom.report import write_report

        summary = write_report(case, out, rom_path, on, ref_path, timings, files, adaptive)
    return comm.bcast(summary, root=0)
