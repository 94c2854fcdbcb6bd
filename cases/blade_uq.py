"""The blade's many-query study: the uncertain hot spot propagated to the blade's
extremes through one adaptive ROM.

    mpirun -n 2 .venv/bin/python cases/blade_uq.py [--samples 100] [--check 5]
        [--seed 1] [--tol TOL] [--archive ROM.h5] [--out DIR]

The hot spot of the blade's gas temperature (``cases/blade.toml``) has an uncertain
position along the span and the chord and an uncertain peak, uniform over the domain
of the training loadings (span 0.3-0.8, chord 0.2-0.8, peak 100-200 C; width 0.15).
``--samples`` loadings are drawn from it by Latin hypercube sampling; each is one
flight (take-off field at 300 s, cruise field at 3300 s, as the case's loadings),
its two temperature fields computed by the case's thermal problem, and run by the
adaptive ROM, the ROM enriched by one run carried to the next (:class:`rom.api.Study`).
``--check`` of the samples, spread over the study, are also run by the HF solver:
their ROM errors and the ROM's extremes against the HF's are in the output, and the
HF run's measured time prices the same study in HF.

The ROM archive is the pipeline's (``make demo``: ``results/blade/rom.h5``); without
one the script builds it through the API (HF training runs, offline). Writes into
``--out`` (default ``results/blade/uq``): ``uq.json`` (every sample: parameters,
extremes, HF steps, times; the checks' HF extremes and errors), ``uq.md`` (quantiles,
histograms ``uq_hist.png``, the checks, the cost), and the enriched archive
``rom_uq.h5``.
"""

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from rom import RomError, api  # noqa: E402

DOMAIN = {"hs_span": (0.3, 0.8), "hs_chord": (0.2, 0.8), "hs_peak": (100.0, 200.0)}
CRUISE = {"gas": 700.0, "coolant": 450.0}  # the cruise field's changes (as the case's)
REGIONS = {"airfoil": lambda x: x[:, 2] > 0.0,  # above the platform
           "span": lambda x: x[:, 2] > 4.0,     # the airfoil away from its hub fillet
           "root": lambda x: x[:, 2] < -3.0}    # under the platform
QUANTITIES = [("p_airfoil", "max p, airfoil", ""), ("p_span", "max p, airfoil above 4 mm",
              ""), ("von_mises_airfoil", "max von Mises, airfoil", "MPa"),
              ("von_mises_root", "max von Mises, root", "MPa")]


def loading_fields(params):
    """The flight of one hot spot: 20 C at rest, take-off at 300 s, cruise at 3300 s."""
    return [{"time": 0.0, "value": 20.0},
            {"time": 300.0, "thermal": dict(params)},
            {"time": 3300.0, "thermal": dict(params, **CRUISE)},
            {"time": 3600.0, "value": 20.0}]


def sample(n, seed):
    """``n`` parameter sets by Latin hypercube over :data:`DOMAIN`."""
    from scipy.stats import qmc

    u = qmc.LatinHypercube(d=len(DOMAIN), seed=seed).random(n)
    lo = np.array([a for a, _ in DOMAIN.values()])
    hi = np.array([b for _, b in DOMAIN.values()])
    return [dict(zip(DOMAIN, map(float, row))) for row in lo + u * (hi - lo)]


def ensure_archive(case, path, comm, say):
    """The case's ROM at ``path``: built through the API when missing."""
    if os.path.isfile(path):
        return
    say(f"no ROM archive at {path}: HF training runs and offline stage")
    files = []
    for name in case.rom.training:
        c = case.with_loading(name)
        out = os.path.join(os.path.dirname(path), f"train_{name}")
        if not os.path.isfile(os.path.join(out, "snapshots.h5")):
            api.thermal_fields(c, comm)
            api.run_hf(c, comm, out)
        files.append(os.path.join(out, "snapshots.h5"))
    api.build_rom(case, files, comm, path)


def quantiles(values):
    v = np.asarray(values, float)
    return {"min": v.min(), "q05": np.quantile(v, 0.05), "median": np.median(v),
            "mean": v.mean(), "q95": np.quantile(v, 0.95), "max": v.max()}


def write_report(out, runs, checks, cost, args, env):
    """``uq.md`` and ``uq_hist.png`` (rank 0)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for ax, (key, label, unit) in zip(axes.ravel(), QUANTITIES):
        ax.hist([r["extremes"][key]["value"] for r in runs], bins=20, color="tab:blue",
                alpha=0.8, label="ROM, all samples")
        hf = [r["hf"]["extremes"][key]["value"] for r in checks]
        ax.plot(hf, np.zeros(len(hf)), "rv", ms=9, label="HF checks")
        ax.set_xlabel(f"{label} [{unit}]" if unit else label)
        ax.set_ylabel("samples")
        ax.legend(fontsize=8)
    fig.suptitle(f"{len(runs)} hot-spot loadings, adaptive ROM (tol {args.tol_used:g})")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "uq_hist.png"), dpi=100)
    plt.close(fig)
    lines = [f"# Blade: {len(runs)} uncertain hot-spot loadings through the adaptive ROM",
             "", f"{env}.", "",
             "Hot spot uniform over " + ", ".join(f"{k} in [{a:g}, {b:g}]" for k, (a, b)
                                                 in DOMAIN.items())
             + f" (Latin hypercube, seed {args.seed}); one flight each; extremes over the "
             "flight and the region (quadrature points; p is the cumulated plasticity, "
             "von Mises in MPa).", "",
             "| quantity | min | 5 % | median | mean | 95 % | max |",
             "|---|---|---|---|---|---|---|"]
    for key, label, _ in QUANTITIES:
        q = quantiles([r["extremes"][key]["value"] for r in runs])
        lines.append(f"| {label} | " + " | ".join(f"{q[k]:.4g}" for k in
                                                   ("min", "q05", "median", "mean", "q95",
                                                    "max")) + " |")
    hf_steps = [r["hf_steps"] for r in runs]
    lines += ["", "![histograms](uq_hist.png)", "",
              f"HF steps taken by the adaptive ROM: {sum(hf_steps)} in all, in "
              f"{sum(1 for h in hf_steps if h)} of the {len(runs)} runs (in the first "
              f"half {sum(hf_steps[:len(runs) // 2])}, in the second "
              f"{sum(hf_steps[len(runs) // 2:])}); the ROM ended with "
              f"{runs[-1]['n_modes']} modes and {runs[-1]['n_points']} reduced points.",
              "", "## HF checks", "",
              "| sample | span | chord | peak | U error | p error | max p airfoil ROM / HF "
              "| max p above 4 mm ROM / HF | max von Mises airfoil ROM / HF | max von Mises "
              "root ROM / HF | HF steps | HF run [s] |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in checks:
        e, h, pr = r["extremes"], r["hf"]["extremes"], r["params"]
        lines.append(
            f"| {r['index']} | {pr['hs_span']:.3f} | {pr['hs_chord']:.3f} | "
            f"{pr['hs_peak']:.1f} | {r['errors']['U']:.2e} | {r['errors']['p']:.2e} | "
            + " | ".join(f"{e[k]['value']:.4g} / {h[k]['value']:.4g}" for k in
                         ("p_airfoil", "p_span", "von_mises_airfoil", "von_mises_root"))
            + f" | {r['hf_steps']} | {r['hf']['seconds']:.1f} |")
    lines += ["", "## Cost", "",
              f"* the study (thermal fields, ROM runs and their HF steps, {len(runs)} "
              f"loadings): {cost['study_wall']:.1f} s wall, {cost['study_cpu']:.1f} s CPU "
              f"(rank 0), set-up {cost['setup_wall']:.1f} s wall"]
    if checks:
        lines.append(f"* one HF run (mean of the {len(checks)} checks): {cost['hf_run']:.1f} s "
                     f"wall, {cost['hf_run_cpu']:.1f} s CPU; the same study in HF: about "
                     f"{cost['hf_study']:.0f} s wall ({cost['speedup']:.1f}x the ROM study's "
                     "time)")
    with open(os.path.join(out, "uq.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main(comm, argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", default=os.path.join(ROOT, "cases", "blade.toml"))
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--check", type=int, default=5, help="samples also run in HF")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tol", type=float, default=None, help="default: the case's")
    ap.add_argument("--archive", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    say = print if comm.rank == 0 else (lambda *a, **k: None)
    case = api.load_case(args.case)
    archive = args.archive or os.path.join(case.output_dir, "rom.h5")
    out = args.out or os.path.join(case.output_dir, "uq")
    if comm.rank == 0:
        os.makedirs(out, exist_ok=True)
    if not 1 <= args.samples or not 0 <= args.check <= args.samples:
        raise RomError("need --samples >= 1 and 0 <= --check <= --samples")
    ensure_archive(case, archive, comm, say)
    t0, c0 = time.perf_counter(), time.process_time()
    study = api.Study(case, archive, comm, tol=args.tol, regions=REGIONS)
    args.tol_used = study.tol
    setup = (time.perf_counter() - t0, time.process_time() - c0)
    params = sample(args.samples, args.seed)
    checked = set(np.linspace(0, args.samples - 1, args.check).round().astype(int).tolist()
                  if args.check else [])
    runs, checks = [], []
    study_wall = study_cpu = 0.0
    for i, p in enumerate(params):
        c = case.with_fields(loading_fields(p), name=f"s{i:03d}")
        t0, c0 = time.perf_counter(), time.process_time()
        api.thermal_fields(c, comm, mesh=study.rom.rb.mesh)
        thermal = (time.perf_counter() - t0, time.process_time() - c0)
        r = study.run(c, reference=i in checked)
        r.update(index=i, params=p, thermal_seconds=thermal[0])
        study_wall += thermal[0] + r["seconds"]
        study_cpu += thermal[1] + r["cpu_seconds"]
        runs.append(r)
        extra = ""
        if "hf" in r:
            checks.append(r)
            extra = (f"  | HF check: U {r['errors']['U']:.1e}, p {r['errors']['p']:.1e}, "
                     f"max p {r['hf']['extremes']['p_airfoil']['value']:.3e}, "
                     f"{r['hf']['seconds']:.1f} s")
        e = r["extremes"]
        say(f"sample {i + 1}/{args.samples} span {p['hs_span']:.2f} chord {p['hs_chord']:.2f}"
            f" peak {p['hs_peak']:5.1f}: max p {e['p_airfoil']['value']:.3e} (above 4 mm "
            f"{e['p_span']['value']:.3e}), max vM "
            f"{e['von_mises_airfoil']['value']:.0f} / root {e['von_mises_root']['value']:.0f}"
            f" MPa, {r['hf_steps']} HF steps, {r['seconds']:.1f} s{extra}", flush=True)
    hf_run = float(np.mean([r["hf"]["seconds"] for r in checks])) if checks else np.nan
    hf_cpu = float(np.mean([r["hf"]["cpu_seconds"] for r in checks])) if checks else np.nan
    thermal_mean = float(np.mean([r["thermal_seconds"] for r in runs]))
    cost = {"study_wall": study_wall, "study_cpu": study_cpu, "setup_wall": setup[0],
            "hf_run": hf_run, "hf_run_cpu": hf_cpu,
            "hf_study": args.samples * (hf_run + thermal_mean)}
    cost["speedup"] = cost["hf_study"] / study_wall
    if comm.rank == 0:
        import platform

        env = (f"Run {time.strftime('%Y-%m-%d %H:%M')} on {comm.size} rank(s), "
               f"{platform.node()} ({os.cpu_count()} cores), archive {archive}")
        with open(os.path.join(out, "uq.json"), "w") as f:
            json.dump({"environment": env, "domain": DOMAIN, "seed": args.seed,
                       "tol": study.tol, "runs": runs, "cost": cost}, f, indent=1,
                      default=float)
        write_report(out, runs, checks, cost, args, env)
    study.save(os.path.join(out, "rom_uq.h5"))  # after the results: they are kept if it fails
    if comm.rank == 0:
        say(f"study {study_wall:.1f} s wall ({args.samples} loadings); HF run "
            f"{hf_run:.1f} s: the study in HF ~{cost['hf_study']:.0f} s "
            f"({cost['speedup']:.1f}x); {out}/uq.md")


if __name__ == "__main__":
    from mpi4py import MPI

    from rom.parallel import guarded

    # an error on any rank ends the whole job with its message
    sys.exit(guarded(lambda: main(MPI.COMM_WORLD), MPI.COMM_WORLD))
