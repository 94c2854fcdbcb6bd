"""Pipeline report: errors of the ROM against an HF reference, timings, plots, and
where, when and with what each run was made.

Writes ``report.md`` with ``errors.png`` (relative errors of U and p along time) and
``probe.png`` (displacement magnitude and p at a probe point, HF versus ROM, the
point named by its coordinates) next to the archive's ``rom_spectrum.png``. The
report lists the pipeline's stages, whether each was run or reused as up to date,
and the date, number of ranks, machine and package versions recorded with each run
(:mod:`rom.provenance`); its timings are those recorded when the runs were made.
Plots are labelled in the case's units (``units``: the cases use mm, MPa, s).
Serial (rank 0).
"""

import os

import numpy as np

__all__ = ["write_report", "relative_errors", "speed_text", "NORMS"]

# the definition of the error table's two columns, as the report states it
NORMS = ("U: the displacement, p: the cumulated plastic strain. Both columns are "
         "relative errors of the ROM result a against the HF reference b, in the "
         "Euclidean norm of all the values of a step, unweighted: for U the "
         "three components of every node, for p the value at every quadrature point "
         "(each point counts once, not weighted by its volume). *L2 over all steps*: "
         "sqrt(sum_k ||a_k - b_k||^2) / sqrt(sum_k ||b_k||^2), over every step k. "
         "*max over steps*: max_k ||a_k - b_k|| / max_k ||b_k||, the largest error of "
         "a step relative to the HF reference's largest norm over the steps (not to "
         "that step's own norm, so that a nearly unloaded step does not read large).")

DEFAULT_UNITS = (("length", "mm"), ("stress", "MPa"), ("time", "s"))


def relative_errors(a, b):
    """Per-step ``||a_k - b_k|| / max_k ||b_k||`` and the all-steps relative error
    ``||a - b|| / ||b||`` (:data:`NORMS`): ``a``, ``b`` of shape ``(n_steps, ...)``,
    each step's values taken as one vector, Euclidean norm, unweighted."""
    a, b = np.asarray(a), np.asarray(b)
    diff = np.sqrt(((a - b) ** 2).reshape(len(a), -1).sum(axis=1))
    norm = np.sqrt((b ** 2).reshape(len(b), -1).sum(axis=1))
    scale = norm.max() if norm.max() > 0 else 1.0
    total = np.linalg.norm(a - b) / (np.linalg.norm(b) or 1.0)
    return diff / scale, float(total)


def speed_text(ratio, than=None):
    """``ratio`` (reference time / ROM time) in words: ``"12x faster"``, ``"2.5x
    faster"``, ``"1.7x slower"`` (for 0.6: never "0.6x faster"), ``"about as fast"``
    within 5 %, ``"not timed"`` for NaN; with ``than``, compared to it (``"1.7x slower
    than the HF run"``, ``"about as fast as the HF run"``)."""
    ratio = float(ratio)
    if not np.isfinite(ratio) or ratio <= 0:
        return "not timed"
    if abs(ratio - 1.0) < 0.05:
        return "about as fast" + (f" as {than}" if than else "")
    r = ratio if ratio > 1 else 1.0 / ratio
    return ((f"{r:.0f}x" if r >= 10 else f"{r:.1f}x") + (" faster" if ratio > 1 else " slower")
            + (f" than {than}" if than else ""))


def _xyz(x, unit):
    return "(" + ", ".join(f"{v:.4g}" for v in x) + f") {unit}"


def _plots(out, times, err_u, err_p, probe, units):
    """``errors.png`` (per-step relative errors of U and p, :data:`NORMS`) and
    ``probe.png`` (|U| and p at the probe, named by its coordinates), axes labelled
    with ``units`` (dict: length, time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    L, T = units["length"], units["time"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.semilogy(times, np.maximum(err_u, 1e-16), "o-", ms=3, label="U")
    if err_p is not None:
        ax.semilogy(times, np.maximum(err_p, 1e-16), "s-", ms=3, label="p")
    ax.set_xlabel(f"time [{T}]")
    ax.set_ylabel("relative error of the step [-]")
    ax.set_title("ROM versus HF reference (relative to the HF peak norm)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "errors.png"), dpi=100)
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].plot(times, probe["u_hf"], "k-", label="HF")
    axes[0].plot(times, probe["u_rom"], "r--", label="ROM")
    axes[0].set_ylabel(f"displacement magnitude |U| [{L}]")
    axes[0].set_title(f"|U| at node {_xyz(probe['node_xyz'], L)}", fontsize=9)
    if probe.get("p_hf") is not None:
        axes[1].plot(times, probe["p_hf"], "k-", label="HF")
        axes[1].plot(times, probe["p_rom"], "r--", label="ROM")
        axes[1].set_ylabel("cumulated plastic strain p [-]")
        where = (_xyz(probe["qp_xyz"], L) if probe.get("qp_xyz") is not None
                 else "(coordinates not in the reference file)")
        axes[1].set_title(f"p at the quadrature point {where}", fontsize=9)
    else:  # a law without plasticity
        axes[1].axis("off")
    for ax in axes:
        ax.set_xlabel(f"time [{T}]")
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "probe.png"), dpi=100)
    plt.close(fig)


def _probe_coordinates(path, node, qp):
    """``(xyz of node, xyz of quadrature point qp or None)`` in the snapshot file
    ``path``: its ``mesh/points`` and ``quadrature/points`` (else the centroid of the
    point's cell, ``quadrature/cell``; None without either)."""
    import h5py

    with h5py.File(path, "r") as f:
        x_node = np.asarray(f["mesh/points"][node], dtype=float)
        x_qp = None
        if qp is not None and "quadrature/points" in f:
            x_qp = np.asarray(f["quadrature/points"][qp], dtype=float)
        elif qp is not None and "quadrature/cell" in f:
            cell = int(f["quadrature/cell"][qp])
            for cells in f["mesh/cells"].values():  # blocks, in the cells' order
                if cell < len(cells):
                    x_qp = f["mesh/points"][...][cells[cell]].mean(axis=0)
                    break
                cell -= len(cells)
    return x_node, x_qp


def _pictures(out, rom_xdmf, hf_xdmf, hf_h5):
    """Report lines with the ROM and HF pictures (:func:`rom.render.render`) at the step
    of the largest von Mises stress of the HF run, or a line saying why there are
    none."""
    import h5py

    from rom import RomError
    from rom.render import render

    try:
        with h5py.File(hf_h5, "r") as f:
            n = int(f.attrs["completed_steps"])
            peaks = [float(f[f"steps/{k}/cells/von_mises"][...].max()) for k in range(n)]
            t = float(f["time"][int(np.argmax(peaks))])
        files = render(rom_xdmf, os.path.join(out, "pictures"), time=t, compare=hf_xdmf)
    except RomError as exc:
        return ["Pictures: not drawn (" + str(exc) + ").", ""]
    lines = [f"## Pictures (t = {t:g}, the step of the largest von Mises stress of the HF "
             "run; ROM left, HF right, same color range)", ""]
    for name, path in files.items():
        if name != "state":
            lines += [f"![{name}]({os.path.relpath(path, out)})", ""]
    lines += [f"ParaView state of the view: `paraview --state {files['state']}`", ""]
    return lines


def _steps_time(path):
    """``(wall time of the solver steps, number of steps timed)`` of a snapshot file
    (NaN for another solver's run, replayed)."""
    import h5py

    with h5py.File(path, "r") as f:
        if f.attrs.get("source"):  # another solver's run, replayed: not timed here
            return np.nan, int(f.attrs.get("completed_steps", 0))
        return (float(f.attrs.get("steps_time", np.nan)),
                int(f.attrs.get("timed_steps", 0)) or int(f.attrs.get("completed_steps", 0)))


def write_report(case, out, rom_path, online, ref_path, timings, training_files=(),
                 adaptive=(), stages=(), environment=None, units=None):
    """Write the report; returns its numbers as a dict.

    The timings table shows the recorded cost of every stage, also of those skipped
    this time because up to date: HF steps from each snapshot file's ``steps_time``,
    the offline stages from the archive summary, the online run's from ``online``
    (read back from its result when reused, :mod:`rom.pipeline`); ``timings`` (this
    run's stage wall times, setup included) is listed below it. ``adaptive``:
    ``(loading, adaptive summary, plain online file, HF reference or None)`` of each
    adaptive run, a section each (:func:`adaptive_section`). ``stages``: ``{"stage",
    "path", "reused"}`` of each stage of the pipeline, listed with the environment
    recorded with its output (``run_info``, :mod:`rom.provenance`); ``environment``:
    the report's own (:func:`rom.provenance.environment`). ``units``: dict of the
    ``length``, ``stress`` and ``time`` units of the case, for labels (default mm,
    MPa, s: those of the cases shipped; the code takes the user's units as given)."""
    from rom.archive import LEAN, read_archive, read_clusters
    from rom.snapshots import read_snapshots

    units = dict(DEFAULT_UNITS, **(units or {}))
    # of a dictionary of local ROMs: the member the test run used
    archive = read_archive(rom_path, skip=LEAN, member=online.get("member"))
    s = archive["summary"]
    on_path = online["files"][0]
    res = online["res"]
    n = len(res["times"])
    summary = {"n_dofs": 3 * int(archive["attrs"]["n_nodes"]), "n_modes": int(s["n_modes"]),
               "n_ecm_points": int(s["n_ecm_points"]),
               "n_reduced_points": int(s["n_reduced_points"]), "steps": n,
               "online_time": online["time_online"],
               "online_time_per_step": online["time_online"] / n,
               "offline_time": sum(float(v) for k, v in s.items()
                                   if k.startswith("time_")),
               "test": case.rom.test}
    lines = [f"# ROM report: case {case.name}", "",
             f"Training loadings: {', '.join(case.rom.training)}; test loading: "
             f"{case.rom.test} ({n} steps). Units: lengths in {units['length']}, stresses "
             f"in {units['stress']}, time in {units['time']}.", ""]
    if environment:
        from rom.provenance import describe_machine, describe_versions

        lines += [f"Report written {environment['date']} on {describe_machine(environment)}"
                  f", {environment['ranks']} MPI rank(s); {describe_versions(environment)}. "
                  "The timings are those recorded with each run when it was made (see "
                  "Runs).", ""]
    if stages:
        sec, runs = _runs_section(stages)
        lines += sec
        summary["stages"] = runs
    clusters = read_clusters(rom_path)
    if clusters is not None:
        lines += _clusters_section(out, rom_path, clusters, online, case)
        summary.update(clusters=clusters["members"], member=online.get("member"))
    spectrum = ("rom_spectrum.png" if clusters is None
                else f"rom_spectrum_{online.get('member')}.png")
    lines += [("Local ROM used for the test loading: " if clusters is not None else "")
              + f"ROM: {s['n_snapshots']} snapshots, {s['n_modes']} displacement modes, "
              f"{s['n_ecm_points']} ECM points of {s['n_qp']} quadrature points (residual "
              f"{s['ecm_residual']:.2e}), {s['n_reduced_points']} reduced points with the "
              "Gappy points.", "", f"![POD spectra]({spectrum})", ""]
    if ref_path:
        hf = read_snapshots(ref_path, ("U",), ("p",) if "p" in archive["gappy"] else ())
        on = read_snapshots(on_path, ("U",), ("p",) if "p" in archive["gappy"] else ())
        err_u, tot_u = relative_errors(on["U"], hf["U"])
        err_p, tot_p = (relative_errors(on["qp/p"], hf["qp/p"]) if "qp/p" in hf
                        else (None, None))
        hf_time, hf_steps = _steps_time(ref_path)
        hf_steps = hf_steps or n
        node = int(np.argmax(np.linalg.norm(hf["U"][-1], axis=1)))
        qp = int(np.argmax(hf["qp/p"][-1])) if err_p is not None else None
        x_node, x_qp = _probe_coordinates(ref_path, node, qp)
        probe = {"node_xyz": x_node, "u_hf": np.linalg.norm(hf["U"][:, node], axis=1),
                 "u_rom": np.linalg.norm(on["U"][:, node], axis=1)}
        if err_p is not None:
            probe.update(qp_xyz=x_qp, p_hf=hf["qp/p"][:, qp], p_rom=on["qp/p"][:, qp])
        _plots(out, hf["time"], err_u, err_p, probe, units)
        per_step_hf = hf_time / hf_steps
        summary.update(error_u=tot_u, error_p=tot_p, max_step_error_u=float(err_u.max()),
                       hf_time=hf_time, hf_time_per_step=per_step_hf,
                       speedup_per_step=per_step_hf / summary["online_time_per_step"],
                       speedup_trajectory=hf_time * n / hf_steps / online["time_online"],
                       probe_node_xyz=[float(v) for v in x_node],
                       probe_qp_xyz=None if x_qp is None else [float(v) for v in x_qp])
        summary.update(speed_per_step=speed_text(summary["speedup_per_step"]),
                       speed_trajectory=speed_text(summary["speedup_trajectory"]))
        lines += ["## Errors against the HF reference", "",
                  "| quantity | L2 over all steps | max over steps |", "|---|---|---|",
                  f"| U | {tot_u:.3e} | {err_u.max():.3e} |"]
        if err_p is not None:
            lines.append(f"| p | {tot_p:.3e} | {err_p.max():.3e} |")
        L = units["length"]
        lines += ["", NORMS, "", "![errors along time](errors.png)", "",
                  f"Probe: |U| at the node {_xyz(x_node, L)}, the node of the largest "
                  "displacement at the last step of the HF reference"
                  + ("" if err_p is None else
                     "; p at the quadrature point "
                     + (_xyz(x_qp, L) if x_qp is not None else
                        "of the largest p (its coordinates are not in the reference file)")
                     + ", the point of the largest p at the last step")
                  + ".", "", "![probe](probe.png)", ""]
        lines += _pictures(out, online["files"][1], os.path.splitext(ref_path)[0] + ".xdmf",
                           ref_path)
    lines += ["## Timings", "", "Recorded cost of each stage, when it was made (also when "
              "reused this time; the ranks and machine of each run: see Runs):", "",
              "| stage | time [s] |", "|---|---|"]
    train = 0.0
    for path in training_files:
        t, k = _steps_time(path)
        what = os.path.basename(os.path.dirname(path))
        if np.isnan(t):  # another solver's run, imported (rom.sources): not timed here
            lines.append(f"| HF {what} ({k} steps, another solver's run) | not timed |")
            continue
        train += t
        lines.append(f"| HF {what} ({k} steps) | {t:.3f} |")
    summary["hf_training_time"] = train
    for k, v in s.items():
        if k.startswith("time_"):
            lines.append(f"| offline: {k[5:]} | {float(v):.3f} |")
    lines.append(f"| offline total | {summary['offline_time']:.3f} |")
    lines.append(f"| online ({n} steps) | {online['time_online']:.3f} |")
    if ref_path:
        lines.append(f"| HF reference ({hf_steps} steps) | "
                     + (f"{hf_time:.3f} |" if np.isfinite(hf_time) else
                        "another solver's run, not timed |"))
    lines += ["", "Wall time of the stages run this time (setup and output included):",
              "", "| stage | time [s] |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in timings.items()] or [
        "| none: every stage up to date | - |"]
    if ref_path and np.isfinite(hf_time):
        lines += ["", f"HF time per step {summary['hf_time_per_step']:.3e} s, online "
                  f"{summary['online_time_per_step']:.3e} s: the ROM is "
                  f"{summary['speed_per_step']} per step, {summary['speed_trajectory']} "
                  "for the trajectory."]
    summary["adaptive"] = []
    for name, ada, plain_path, ref in adaptive:
        sec, nums = adaptive_section(out, name, ada, plain_path, ref, units)
        lines += [""] + sec
        summary["adaptive"].append(nums)
    lines += ["", f"Files: archive `{rom_path}`, ROM results `{on_path}` (ParaView: "
              f"`{online['files'][1]}`)" + (f", HF reference `{ref_path}`." if ref_path
                                          else ".")]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    summary["report"] = os.path.join(out, "report.md")
    summary["reference"] = ref_path
    return summary


def _run_record(path):
    """``(date, ranks, environment or None, note)`` recorded with the output ``path``
    of a run: its ``run_info`` (:mod:`rom.provenance`), else what the file says of
    itself (an archive's ``created`` and ``code_version``)."""
    import h5py

    from rom.provenance import read_stamp

    env = read_stamp(path) if path and os.path.isfile(path) else None
    if env is not None:
        return env.get("date", "?"), env.get("ranks", "?"), env, ""
    created = version = None
    if path and os.path.isfile(path):
        try:
            with h5py.File(path, "r") as f:
                created, version = f.attrs.get("created"), f.attrs.get("code_version")
        except OSError:
            pass
    note = "not recorded" + (f" (rom {version})" if version is not None else "")
    return (created or "not recorded"), "not recorded", None, note


def _runs_section(stages):
    """Markdown lines listing the pipeline's stages: run or reused (up to date), when,
    on how many ranks, on which machine and with which versions each output was made;
    and the records as a list of dicts."""
    from rom.provenance import describe_machine, describe_versions

    lines = ["## Runs", "",
             "Each stage's output: made by this pipeline run, or reused because up to date "
             "(the same inputs: rom/pipeline.py); when, on how many MPI ranks, on which "
             "machine and with which versions it was made. The timings below are those "
             "recorded then.", "",
             "| stage | this time | made | ranks | machine and versions |",
             "|---|---|---|---|---|"]
    labels, records = {}, []
    for st in stages:
        date, ranks, env, note = (("-", "-", None, "-") if st.get("path") is None
                                  else _run_record(st["path"]))
        if env is not None:
            k = describe_machine(env) + "; " + describe_versions(env)
            labels.setdefault(k, f"E{len(labels) + 1}")
            note = labels[k]
        lines.append(f"| {st['stage']} | {'reused (up to date)' if st['reused'] else 'run'} "
                     f"| {date} | {ranks} | {note} |")
        records.append(dict(st, date=date, ranks=ranks, environment=env))
    if labels:
        lines += [""] + [f"* {v}: {k}." for k, v in labels.items()]
    return lines + [""], records


def _clusters_section(out, rom_path, clusters, online, case):
    """Markdown lines of a dictionary of local ROMs: its members (training loadings,
    medoid, modes and reduced points), the a priori criterion when it chose ``k``
    (also as ``criterion.png``), and the member selected for the test loading with the
    dissimilarities that chose it."""
    import json

    from rom.archive import LEAN, read_archive

    loadings = json.loads(clusters["loadings"])
    labels, medoids = np.asarray(clusters["labels"]), np.asarray(clusters["medoids"])
    k = int(clusters["members"])
    lines = ["## Local reduced bases", "",
             f"A dictionary of {k} ROMs: the training runs clustered by k-medoids on the "
             + ("sine dissimilarity of their loadings' temperature fields"
                if clusters["by"] == "temperature" else
                "sine of the largest principal angle between their displacement "
                "subspaces") + "; each member has its own POD, reduced quadrature and "
             "Gappy bases (rom.dictionary).", "",
             "| member | training loadings | medoid | modes | reduced points |",
             "|---|---|---|---|---|"]
    for c in range(k):
        m = read_archive(rom_path, skip=LEAN, member=c)["summary"]
        names = [loadings[j] for j in np.flatnonzero(labels == c)]
        lines.append(f"| {c} | {', '.join(names)} | {loadings[medoids[c]]} | "
                     f"{int(m['n_modes'])} | {int(m['n_reduced_points'])} |")
    if "criterion_costs" in clusters:
        costs = np.asarray(clusters["criterion_costs"])
        dims = json.loads(clusters["criterion_dimensions"])
        gen = np.asarray(clusters.get("criterion_generalization", np.full(len(costs), np.nan)))
        lines += ["", "A priori criterion (POD dimension of each cluster at eps_u, expected "
                  "online cost sum_c w_c (N_c / N_1)^2 relative to the global basis of "
                  f"dimension {int(clusters['global_dimension'])}, and the generalization "
                  "ratio: the largest leave-one-out error of a training run in its "
                  "cluster's basis over that in the global basis, the worst cluster; a k "
                  "is admissible up to "
                  f"{1 + float(clusters.get('criterion_generalization_tol', np.nan)):g}):",
                  "", "| k | dimensions | expected cost | generalization ratio |",
                  "|---|---|---|---|"]
        lines += [f"| {kk} | {', '.join(map(str, d))} | {c:.3f} | {g:.2f} |"
                  for kk, d, c, g in zip(np.asarray(clusters["criterion_ks"]), dims, costs,
                                         gen)]
        lines += ["", f"k = {k} recommended.", "", "![criterion](criterion.png)"]
        _criterion_plot(os.path.join(out, "criterion.png"), clusters["criterion_ks"], costs, k)
    sel = online.get("selection")
    lines += ["", f"Test loading {case.rom.test}: member {online.get('member')} selected"
              + (" (sine dissimilarity of its temperature signature to the medoids': "
                 + ", ".join(f"{d:.3f}" for d in sel) + ")" if sel is not None else "")
              + ".", ""]
    return lines


def _criterion_plot(path, ks, costs, k):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(ks, costs, "o-")
    ax.axvline(k, color="k", ls=":", lw=1)
    ax.set_xlabel("number of clusters k [-]")
    ax.set_ylabel("expected online cost / global basis's [-]")
    ax.set_title("a priori criterion of local bases")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _predicted_errors(ada_path, ref_path, times, fields, floor, peaks=None):
    """Per-step true error of the ROM's prediction,
    ``max_f ||f_rom - f_hf|| / max(peak_f, ||f_hf||)`` (quadrature-weighted L2) over
    the indicator ``fields`` written in both files (at enriched steps the prediction
    stored as ``<field>_rom``, elsewhere the written field; internal variables left
    out where the reference is at most ``floor``), ``peak_f`` the run's peak norm of
    the field at the step (``peaks[f][n]``; 0 when not given: relative to the step's
    own norm): what the indicator estimates (:mod:`rom.indicator`,
    :mod:`rom.adaptive`). NaN for steps not written."""
    import h5py
    from mpi4py import MPI

    from rom.indicator import peak_relative, prediction_errors

    out = np.full(len(times), np.nan)
    with h5py.File(ada_path, "r") as fa, h5py.File(ref_path, "r") as fh:
        w = fh["quadrature/weights"][...]
        written = {round(float(t), 12): k for k, t in enumerate(fa["time"][...])}
        reference = {round(float(t), 12): k for k, t in enumerate(fh["time"][...])}
        for n, t in enumerate(times):
            k, j = written.get(round(float(t), 12)), reference.get(round(float(t), 12))
            if k is None or j is None:
                continue
            g, h = fa[f"steps/{k}/qp"], fh[f"steps/{j}/qp"]
            errors = []
            for field in fields:
                name = f"{field}_rom" if f"{field}_rom" in g else field
                if name not in g or field not in h:
                    continue
                pk = (peaks or {}).get(field)
                pk = 0.0 if pk is None or pk[n] is None else pk[n]
                errors += [peak_relative(err, norm, pk) for err, norm in prediction_errors(
                    {field: g[name][...]}, {field: h[field][...]}, w, MPI.COMM_SELF,
                    floor).values()]
            if errors:
                out[n] = max(errors)
    return out


def adaptive_section(out, name, ada, plain_path, ref_path, units=None):
    """Markdown lines and numbers of the adaptive run ``ada`` (the summary of
    :func:`rom.adaptive.adaptive_command`) on loading ``name`` against the plain ROM
    (``plain_path``) and the HF reference ``ref_path`` (None: no errors); writes
    ``adaptive_<name>.png`` (indicator, true error of the prediction, HF steps, mode
    and point counts along time; ``units`` as :func:`write_report`'s)."""
    from scipy.stats import pearsonr, spearmanr

    times = np.asarray(ada["times"])
    ind = np.asarray(ada["indicator"])
    enriched = np.asarray(ada["enriched"], dtype=bool)
    t = ada["timings"]
    n = len(times)
    units = dict(DEFAULT_UNITS, **(units or {}))
    nums = {"loading": name, "tol": ada["tol"], "n_steps": n,
            "n_enrichments": ada["n_enrichments"], "final_modes": ada["final_modes"],
            "final_points": ada["final_points"], "adaptive_time": t["total"],
            "enrichment_time": t["hf_step"] + t["update"],
            "indicator_time_per_step": t["indicator"] / n, "reference": ref_path}
    lines = [f"## Adaptive ROM on loading {name}", "",
             f"Indicator tolerance {ada['tol']:g}: {ada['n_enrichments']} HF step(s) of {n} "
             f"(steps {', '.join(str(i + 1) for i in np.flatnonzero(enriched)) or 'none'}); "
             f"the ROM ends with {ada['final_modes']} modes and {ada['final_points']} "
             "reduced points.", ""]
    err = None
    if ref_path:
        hf = _read_u_p(ref_path)
        on = _read_u_p(ada["files"][0])
        pl = _read_u_p(plain_path)
        _, tu_a = relative_errors(on["U"], hf["U"])
        _, tu_p = relative_errors(pl["U"], hf["U"])
        has_p = all("qp/p" in r for r in (on, pl, hf))
        tp_a = relative_errors(on["qp/p"], hf["qp/p"])[1] if has_p else float("nan")
        tp_p = relative_errors(pl["qp/p"], hf["qp/p"])[1] if has_p else float("nan")
        err = _predicted_errors(ada["files"][0], ref_path, times, ada["indicator_fields"],
                                ada["floor"], ada.get("indicator_peak"))
        quiet = ~enriched & np.isfinite(err)
        worst = float(err[quiet].max()) if quiet.any() else float("nan")
        ok = np.isfinite(err) & np.isfinite(ind)
        pear = float(pearsonr(ind[ok], err[ok])[0]) if ok.sum() > 2 else float("nan")
        spear = float(spearmanr(ind[ok], err[ok]).correlation) if ok.sum() > 2 else float(
            "nan")
        hf_time, hf_steps = _steps_time(ref_path)
        hf_total = hf_time * n / (hf_steps or n)
        # the plain run's online time, as recorded with it (rom.pipeline)
        from rom.provenance import read_stamp

        plain_time = (read_stamp(plain_path, "run_summary") or {}).get("time_online")
        nums.update(plain_error_u=tu_p, plain_error_p=tp_p, error_u=tu_a, error_p=tp_a,
                    pearson=pear, spearman=spear, hf_time=hf_total,
                    worst_error_without_hf=worst,
                    speedup=hf_total / t["total"], speed=speed_text(hf_total / t["total"]))
        lines += ["| ROM | error U | error p | HF steps | time [s] |", "|---|---|---|---|---|",
                  f"| plain | {tu_p:.3e} | {tp_p:.3e} | 0 | " + (
                      f"{plain_time:.3f} |" if plain_time is not None else
                      f"online steps of the adaptive run {t['online']:.3f} |"),
                  f"| adaptive | {tu_a:.3e} | {tp_a:.3e} | {ada['n_enrichments']} | "
                  f"{t['total']:.2f} |",
                  f"| HF | - | - | {n} | "
                  + (f"{hf_total:.2f} |" if np.isfinite(hf_total) else "another solver's |"),
                  "",
                  "Errors: the L2 over all steps of the error table above (relative to "
                  "the HF reference's norm over all steps; U over every node's "
                  "components, p over every quadrature point, unweighted).", "",
                  f"Indicator (fields {', '.join(ada['indicator_fields'])}, calibration "
                  "factors " + ", ".join(f"{k} {v:.2f}" for k, v in ada["factors"].items())
                  + "; corrections learned from the HF steps "
                  + ", ".join(f"{k} {v:.2f}" for k, v in ada.get("learned", {}).items())
                  + ") versus the true error of the ROM's prediction at each step (the "
                  "largest relative error, quadrature-weighted L2 over the mesh, of the "
                  "indicator fields written, relative to the field's peak along the run; "
                  "at HF steps the prediction before the "
                  f"correction): Pearson {pear:.2f}, Spearman {spear:.2f}. Largest true "
                  f"error at a step without HF step: {worst:.2e}"
                  + (f" ({worst / ada['tol']:.1f} x tol)." if ada["tol"] > 0 and
                     np.isfinite(worst) else "."), ""]
    lines += [f"Adaptive run {t['total']:.2f} s: online steps {t['online']:.3f} s, "
              f"indicator {t['indicator'] / n * 1e3:.3f} ms per step, HF steps "
              f"{t['hf_step']:.2f} s, basis and cubature updates {t['update']:.2f} s"
              + (f"; {speed_text(nums['speedup'], 'the HF run')}."
                 if ref_path and np.isfinite(nums["speedup"]) else "."),
              "", f"![adaptive ROM on {name}](adaptive_{name}.png)", ""]
    _adaptive_plot(os.path.join(out, f"adaptive_{name}.png"), times, ind, ada["tol"],
                   enriched, err, ada["n_modes"], ada["n_points"], units["time"])
    return lines, nums


def _read_u_p(path):
    """U and, when the file has it (plastic laws), p of a result file."""
    import h5py

    from rom.snapshots import read_snapshots

    with h5py.File(path, "r") as f:
        has_p = "steps/0/qp/p" in f
    return read_snapshots(path, ("U",), ("p",) if has_p else ())


def _adaptive_plot(path, times, ind, tol, enriched, err, modes, points, time_unit="s"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    ax = axes[0]
    ax.semilogy(times, np.maximum(ind, 1e-16), "o-", ms=3, label="indicator $E_n$")
    if err is not None:
        ax.semilogy(times, np.maximum(err, 1e-16), "s--", ms=3,
                    label="true error of the prediction")
    ax.axhline(max(tol, 1e-16), color="k", ls=":", lw=1, label="tol")
    for t in times[enriched]:
        ax.axvline(t, color="r", alpha=0.25, lw=3)
    ax.set_xlabel(f"time [{time_unit}]")
    ax.set_ylabel("indicator, relative error [-]")
    ax.set_title("indicator (red bands: HF steps)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.step(times, modes, where="post", label="modes")
    ax.set_xlabel(f"time [{time_unit}]")
    ax.set_ylabel("number of modes [-]")
    ax2 = ax.twinx()
    ax2.step(times, points, where="post", color="C1", label="reduced points")
    ax2.set_ylabel("number of reduced points [-]")
    ax.set_title("ROM size")
    ax.grid(True, alpha=0.3)
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
