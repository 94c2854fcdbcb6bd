"""Subcommands of ``run.py`` (the same under ``mpirun``).

    python run.py hf CASE.toml [--out DIR] [--resume] [--petsc "-ksp_monitor ..."]
    python run.py solve CASE.toml ...     (same as hf)
    python run.py offline CASE.toml --snapshots A.h5 [B.h5 ...] --out rom.h5
    python run.py online CASE.toml --rom rom.h5 [--loading NAME] --out DIR
    python run.py pipeline CASE.toml [--no-reference]
    python run.py thermal CASE.toml [--loading NAME ...] [--force]
    python run.py import CASE.toml --from RESULTS.frd [--format frd] [--loading NAME] --out DIR
    python run.py render RESULT.xdmf [--compare HF.xdmf] [--fields T von_mises_nodal]
    python run.py mesh box --n 8 8 8 --type hexahedron20 --out meshes/cube.msh

Every command that builds PETSc objects takes ``--petsc "-ksp_monitor -log_view ..."``,
PETSc's command line (:mod:`rom.petsc`).
"""

import argparse
import math
import os
import sys
import time

from rom import RomError
from rom.io import RESULT_FORMATS

__all__ = ["main"]


# commands that build PETSc objects: PETSc starts with their --petsc options as its
# command line (rom.petsc); `online` builds none, and reports its --petsc as unused
PETSC_COMMANDS = ("hf", "solve", "offline", "adaptive", "pipeline", "thermal", "import",
                  "greedy")
PETSC_HELP = ("PETSc options, as on PETSc's command line (after those of the environment "
              "variable PETSC_OPTIONS): unprefixed for the HF solver's KSP and PC (e.g. "
              '"-ksp_monitor -ksp_rtol 1e-9 -ksp_view"), -thermal_ for the thermal '
              "solver's (-thermal_ksp_monitor), -log_view (PETSc's log at the end), "
              "-options_left; they override the case file's [solver.petsc], and those never "
              "used are named at the end")


def _petsc_value_attached(argv):
    """``argv`` with ``--petsc -log_view`` as ``--petsc=-log_view``: argparse takes a
    value that starts with a dash and has no space for an option of its own."""
    out = []
    for arg in argv:
        if out and out[-1] == "--petsc" and arg.startswith("-") and not arg.startswith("--"):
            out[-1] = f"--petsc={arg}"
        else:
            out.append(arg)
    return out


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are :class:`rom.RomError` (printed once under mpirun,
    like every other error)."""

    def error(self, message):
        raise RomError(f"{self.prog}: {message} (see {self.prog} -h)")


def _int_at_least(low, what):
    """An argparse type: an integer ``>= low`` (``what`` names it in the error)."""
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"must be {what}, not {v}")
        return v

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_nonnegative_int = _int_at_least(0, "an integer >= 0")


def _nonnegative_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text}")
    return v


def _positive_float(text):
    v = _nonnegative_float(text)
    if v == 0:
        raise argparse.ArgumentTypeError("must be positive, not 0")
    return v


def build_parser():
    p = _Parser(prog=os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0].endswith(
        ("run.py", "rom")) else "run.py", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in ("hf", "solve"):
        s = sub.add_parser(name, help="run a case with the high-fidelity solver, writing "
                           "snapshots.h5 and snapshots.xdmf" + (" (alias of hf)"
                                                                if name == "solve" else ""))
        s.add_argument("case", help="case file (TOML)")
        s.add_argument("--out", help="output directory (default: the case's [output] dir)")
        s.add_argument("--resume", action="store_true",
                       help="continue the snapshot file in --out from its last complete step")
        s.add_argument("--overwrite", action="store_true",
                       help="replace an existing snapshot file in --out (refused otherwise)")
        s.add_argument("--max-steps", type=_positive_int, help="stop after this many steps")
        s.add_argument("--loading", help="a named loading of the case ([loadings.NAME]) "
                       "instead of its [temperature]")
        s.add_argument("--petsc", default="", help=PETSC_HELP)
    o = sub.add_parser("offline", help="build a ROM archive (POD, ECM, Gappy-POD) from "
                       "snapshot files")
    o.add_argument("case", help="case file (TOML): mesh, material, loads, [rom] settings")
    o.add_argument("--snapshots", nargs="+", required=True, help="snapshot files (hf runs)")
    o.add_argument("--out", required=True, help="ROM archive to write (e.g. rom.h5)")
    o.add_argument("--petsc", default="", help=PETSC_HELP + " (offline builds the POD "
                   "product's matrix, no solver)")
    n = sub.add_parser("online", help="run a ROM archive on a loading (hyper-reduced Newton)")
    n.add_argument("case", help="case file (TOML) the ROM was built for")
    n.add_argument("--rom", required=True, help="ROM archive (rom.h5)")
    n.add_argument("--loading", help="named loading of the case (default: [temperature])")
    n.add_argument("--out", required=True, help="output directory (online.h5, online.xdmf)")
    n.add_argument("--write-every", type=_positive_int, default=1, help="write every K-th "
                   "step (and the last); reconstruction of full fields costs O(mesh) per "
                   "written step")
    n.add_argument("--member", type=int, help="of a dictionary of local ROMs: this member "
                   "(default: the one whose medoid's temperature is nearest the loading's)")
    n.add_argument("--petsc", default="", help="accepted as by the other commands, but "
                   "the online run builds no PETSc object: its options are reported unused")
    a = sub.add_parser("adaptive", help="run a ROM archive on a loading with the error "
                       "indicator and HF enrichment")
    a.add_argument("case", help="case file (TOML) the ROM was built for")
    a.add_argument("--rom", required=True, help="ROM archive (rom.h5)")
    a.add_argument("--loading", help="named loading of the case (default: [temperature])")
    a.add_argument("--tol", type=_nonnegative_float, help="indicator tolerance: an HF step when "
                   "E_n >= tol (default: the case's [rom] tol)")
    a.add_argument("--out", required=True, help="output directory (online.h5, online.xdmf, "
                   "adaptive.json)")
    a.add_argument("--indicator", help="fields of the indicator, comma-separated, e.g. "
                   "sigma,p (default: the case's [rom] indicator, else sigma, p, eps_vp)")
    a.add_argument("--save", help="write the enriched ROM to this archive")
    a.add_argument("--max-enrichments", type=_positive_int, help="at most this many HF steps")
    a.add_argument("--write-every", type=_positive_int, default=1, help="write every K-th step")
    a.add_argument("--petsc", default="", help=PETSC_HELP + " (the HF steps' solver)")
    q = sub.add_parser("pipeline", help="HF on the training loadings, offline build, online "
                       "on the test loading, HF reference, report")
    q.add_argument("case", help="case file with [rom] training and test loadings")
    q.add_argument("--no-reference", action="store_true",
                   help="skip the HF reference run on the test loading")
    q.add_argument("--out", help="output directory (default: the case's [output] dir)")
    q.add_argument("--petsc", default="", help=PETSC_HELP + " (every HF run's and thermal "
                   "solve's of the pipeline)")
    g = sub.add_parser("greedy", help="a training design chosen by the ROM: HF runs of "
                       "the candidate loadings of [rom.greedy] where the plain ROM's error "
                       "indicator is largest, one at a time")
    g.add_argument("case", help="case file with [rom] training (the first design) and "
                   "[rom.greedy]")
    g.add_argument("--out", help="output directory (default: the case's [output] dir; the "
                   "training runs in train_<loading>/ as the pipeline's, the design in "
                   "greedy/)")
    g.add_argument("--add", type=_nonnegative_int, help="HF runs to add at most (default: "
                   "[rom.greedy] add)")
    g.add_argument("--petsc", default="", help=PETSC_HELP + " (the HF runs' solver)")
    t = sub.add_parser("thermal", help="compute the temperature fields the loadings take "
                       "from the case's [thermal] problem (steady conduction)")
    t.add_argument("case", help="case file (TOML) with a [thermal] section")
    t.add_argument("--loading", nargs="+", help="only these loadings (default: every loading "
                   "and [temperature])")
    t.add_argument("--force", action="store_true", help="recompute fields already computed")
    t.add_argument("--petsc", default="", help="PETSc options, as on PETSc's command line "
                   "(after those of PETSC_OPTIONS): the thermal solver's KSP and PC take the "
                   'prefix -thermal_ (e.g. "-thermal_ksp_monitor -thermal_ksp_view"), '
                   "-log_view (PETSc's log at the end), -options_left; those never used "
                   "are named at the end")
    r = sub.add_parser("render", help="pictures of a result with ParaView (pvbatch), and a "
                       "ParaView state file of the same view")
    r.add_argument("result", help="a result's XDMF file (snapshots.xdmf, online.xdmf)")
    r.add_argument("--compare", help="a second result rendered beside it with the same color "
                   "ranges (e.g. the HF reference of a ROM run)")
    r.add_argument("--fields", nargs="+", help="point or cell arrays (default: T, "
                   "von_mises_nodal and p_nodal, those the result has)")
    r.add_argument("--time", type=float, help="the step nearest this time (default: the last)")
    r.add_argument("--warp", type=_nonnegative_float, default=0.0,
                   help="displacement magnification (default 0: undeformed)")
    r.add_argument("--camera", choices=["pressure", "suction", "iso"], default="pressure",
                   help="view direction (the blade's pressure or suction side, or iso)")
    r.add_argument("--out", help="folder of the pictures (default: pictures/ beside the "
                   "result)")
    i = sub.add_parser("import", help="another solver's displacement history replayed "
                       "through the case's law: a snapshot file that offline takes as a "
                       "training run")
    i.add_argument("case", help="case file (TOML): mesh, law and temperature loading")
    i.add_argument("--from", dest="source", required=True,
                   help="result file of the other solver (" + ", ".join(
                       f"{k} {'/'.join(v[2])}" for k, v in RESULT_FORMATS.items()) + ")")
    i.add_argument("--format", choices=list(RESULT_FORMATS),
                   help="its format (default: by extension)")
    i.add_argument("--loading", help="the case's named loading the results were run with")
    i.add_argument("--out", required=True, help="output directory")
    i.add_argument("--overwrite", action="store_true",
                   help="replace an existing snapshot file in --out")
    i.add_argument("--petsc", default="", help=PETSC_HELP + " (the replay solves only "
                   "the thermal problem, if the case has one)")
    m = sub.add_parser("mesh", help="generate a structured box mesh")
    m.add_argument("kind", choices=["box"])
    m.add_argument("--n", type=_positive_int, nargs=3, default=(4, 4, 4),
                   metavar=("NX", "NY", "NZ"))
    m.add_argument("--size", type=_positive_float, nargs=3, default=(1.0, 1.0, 1.0))
    m.add_argument("--type", default="hexahedron20",
                   help="tetra, tetra10, hexahedron, hexahedron20, or mixed / mixed2 "
                   "(hexahedra, wedges, pyramids and tetrahedra, linear / quadratic)")
    m.add_argument("--out", required=True)
    return p


def main(argv, comm):
    """Run one subcommand on communicator ``comm``; raises RomError on bad input.

    A command that builds PETSc objects (:data:`PETSC_COMMANDS`) starts PETSc with its
    ``--petsc`` options as PETSc's command line (:func:`rom.petsc.initialize`); when
    it ends, rank 0 names the options given (``--petsc``, ``PETSC_OPTIONS``) but
    never used (:func:`rom.petsc.unused_report`)."""
    from rom.petsc import parse_options

    args = build_parser().parse_args(_petsc_value_attached(argv))
    options = parse_options(getattr(args, "petsc", ""))
    restore, petsc = {}, args.command in PETSC_COMMANDS
    if petsc:
        from rom.petsc import initialize

        restore = initialize(options)
    try:
        code = _command(args, comm)
        if petsc or options:
            from rom.petsc import unused_report

            report = (unused_report() if petsc else unused_report(
                options, f"the {args.command} command builds no PETSc object"))
            if report and comm.rank == 0:
                print(report, flush=True)
    finally:  # the options of this command do not outlive it, even when it fails
        if restore:
            from rom.petsc import forget

            forget(restore)
    return code


def _command(args, comm):
    if args.command in ("hf", "solve"):
        return _hf(args, comm)
    if args.command == "offline":
        return _offline(args, comm)
    if args.command == "online":
        return _online(args, comm)
    if args.command == "adaptive":
        return _adaptive(args, comm)
    if args.command == "pipeline":
        return _pipeline(args, comm)
    if args.command == "thermal":
        return _thermal(args, comm)
    if args.command == "greedy":
        return _greedy(args, comm)
    if args.command == "import":
        return _import(args, comm)
    if args.command == "render":
        if comm.rank == 0:
            from rom.render import render

            out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.result)),
                                           "pictures")
            files = render(args.result, out, args.fields, args.time, args.compare,
                           args.warp, camera=args.camera)
            for name, path in files.items():
                print(f"  {name:<18s} {path}")
        return 0
    if args.command == "mesh":
        if comm.rank == 0:
            from rom.io.meshfile import write_mesh_file
            from rom.meshgen import box_mesh

            data = box_mesh(tuple(args.n), tuple(args.size), args.type)
            try:
                write_mesh_file(args.out, data)
            except RomError:
                raise
            except Exception as exc:  # noqa: BLE001 - meshio's failure names the cause
                raise RomError(f"cannot write mesh file {args.out}: {exc}") from None
            print(f"wrote {args.out}: {data.n_nodes} nodes, " + ", ".join(
                f"{n} {t}" for t, n in data.cell_types.items()))
        return 0
    return 1


def _xdmf_of(snapshot_path):
    """`` <the XDMF of a snapshot file>`` (empty for None)."""
    return f" {os.path.splitext(snapshot_path)[0]}.xdmf" if snapshot_path else ""


def _import(args, comm):
    from rom import agree
    from rom.case import load_case
    from rom.io import read_results
    from rom.replay import replay
    from rom.sources import bcast_results

    case = load_case(args.case).with_loading(args.loading)
    # read on rank 0, then broadcast (one reading of a large file)
    results = bcast_results(agree(comm, lambda: read_results(args.source, args.format)
                                  if comm.rank == 0 else None), comm)
    out = replay(case, results, comm, args.out, overwrite=args.overwrite)
    if comm.rank == 0:
        r = out["residuals"]
        print("-" * 72)
        print(f"imported {args.source}: {len(out['times'])} step(s), t = "
              f"{out['times'][0]:g} .. {out['times'][-1]:g}, replayed through "
              f"{case.law} in {sum(out['substeps'])} increment(s)")
        print(f"  equilibrium residual of the replayed stresses: max {max(r):.2e} "
              f"(step {r.index(max(r)) + 1}), last {r[-1]:.2e}")
        print(f"  results            {out['path']}")
    return 0


def _hf(args, comm):
    from rom.case import load_case
    from rom.hf import run_hf

    t0 = time.perf_counter()
    case = load_case(args.case).with_loading(args.loading)
    res = run_hf(case, comm, out_dir=args.out, resume=args.resume, max_steps=args.max_steps,
                 overwrite=args.overwrite)
    wall = time.perf_counter() - t0
    if comm.rank == 0:
        t = res["timings"]
        h5, xdmf = res["files"]
        print("-" * 72)
        print(f"case {case.name} ({case.law}): {res['steps_done']} of {len(case.times)} "
              f"step(s) on {comm.size} rank(s), {3 * res['mesh'].n_nodes_global} dofs")
        print(f"  max |u|            {res['max_abs_u']:.6e}")
        print(f"  max von Mises      {res['max_von_mises']:.6e}")
        reac = res["reactions"]
        if reac is not None and reac["sets"]:
            print(f"  reactions at t = {reac['time']:g} (force of the supports on the "
                  "structure, Fx Fy Fz)")
            width = max(len(n) for n in reac["sets"])
            for name, r in zip(reac["sets"], reac["values"]):
                print(f"    {name:<{width}}  " + "  ".join(f"{v:13.6e}" for v in r))
        its = [sum(h["iterations"]) for h in res["history"]]
        subs = sum(h["substeps"] for h in res["history"])
        restarts = sum(h.get("restarts", 0) for h in res["history"])
        print(f"  Newton iterations  {sum(its)} in {subs} increment(s) (max {max(its, default=0)}"
              f" per step), KSP iterations {sum(res['ksp_iterations'])}"
              + (f", {restarts} step(s) restarted with accurate solves" if restarts else ""))
        print(f"  time [s]           total {wall:.2f}: mesh {t['mesh']:.2f}, setup "
              f"{t['setup']:.2f}, steps {t['steps']:.2f} (law {t['law']:.2f}, assembly "
              f"{t['assembly']:.2f}, linear solve {t['solve']:.2f} of which "
              f"preconditioner set-up {t['pc_setup']:.2f})")
        print(f"  results            {h5}")
        print(f"  ParaView           paraview {xdmf}")
        print("-" * 72)
    return 0


def _offline(args, comm):
    from rom.case import load_case
    from rom.offline import build_rom

    t0 = time.perf_counter()
    case = load_case(args.case)
    s = build_rom(case, args.snapshots, comm, args.out)
    if comm.rank == 0 and s.get("clusters", 1) > 1:
        print("-" * 72)
        print(f"dictionary of {s['clusters']} local ROMs of {case.name}: {s['n_snapshots']} "
              f"snapshots")
        for c in range(s["clusters"]):
            names = [n for n, lab in zip(s["loadings"], s["labels"]) if lab == c]
            print(f"  member {c}           {', '.join(names)}: {s['n_modes_members'][c]} "
                  f"modes, {s['n_points_members'][c]} reduced points")
        print(f"  time [s]           total {time.perf_counter() - t0:.2f}")
        print(f"  archive            {args.out}")
        print("-" * 72)
    elif comm.rank == 0:
        print("-" * 72)
        print(f"ROM of {case.name}: {s['n_snapshots']} snapshots -> {s['n_modes']} modes; "
              f"ECM {s['n_ecm_points']} points of {s['n_qp']} (residual "
              f"{s['ecm_residual']:.2e}); {s['n_reduced_points']} reduced points with Gappy")
        print("  Gappy modes        " + ", ".join(f"{k[8:]} {v}" for k, v in s.items()
                                                  if k.startswith("n_gappy_")))
        print(f"  time [s]           total {time.perf_counter() - t0:.2f}: read "
              f"{s['time_read']:.2f}, POD {s['time_pod']:.2f}, ECM {s['time_ecm']:.2f}, "
              f"Gappy {s['time_gappy']:.2f}")
        print(f"  archive            {args.out}")
        print(f"  spectrum           {os.path.splitext(args.out)[0]}_spectrum.png")
        print("-" * 72)
    return 0


def _online(args, comm):
    from rom.case import load_case
    from rom.online import online_command

    t0 = time.perf_counter()
    case = load_case(args.case)
    s = online_command(case, args.rom, comm, args.out, args.loading, args.write_every,
                       member=args.member)
    if comm.rank == 0:
        res = s["res"]
        its = [sum(h["iterations"]) for h in res["history"]]
        n = len(res["times"])
        print("-" * 72)
        print(f"ROM {args.rom} on {case.name} / loading {s['loading'] or '[temperature]'}: "
              f"{n} steps, {s['n_modes']} modes, {s['n_points']} reduced points")
        if s["member"] is not None:
            print(f"  local ROM          member {s['member']}" + (
                " (sine dissimilarity to the medoids: "
                + ", ".join(f"{d:.3f}" for d in s["selection"]) + ")"
                if s["selection"] is not None else " (given)"))
        print(f"  Newton iterations  {sum(its)} (max {max(its, default=0)} per step)")
        t = s["timings"]
        print(f"  time [s]           online {t['online']:.3f} ({t['online'] / n:.2e} per step); "
              f"case and archive {t['open']:.3f}, reconstruction and writing {t['write']:.3f}, "
              f"total {time.perf_counter() - t0:.2f}")
        print(f"  results            {s['files'][0]}")
        print(f"  ParaView           paraview {s['files'][1]}")
        print("-" * 72)
    return 0


def _adaptive(args, comm):
    from rom.adaptive import adaptive_command
    from rom.case import load_case

    case = load_case(args.case)
    s = adaptive_command(case, args.rom, comm, args.out, args.loading, args.tol, args.save,
                         fields=(args.indicator.split(",") if args.indicator else None),
                         max_enrichments=args.max_enrichments,
                         write_every=args.write_every)
    if comm.rank == 0:
        t = s["timings"]
        print("-" * 72)
        print(f"adaptive ROM {args.rom} on {case.name} / loading "
              f"{s['loading'] or '[temperature]'}: {s['n_steps']} steps, tol {s['tol']:g}")
        steps = ", ".join(str(e["step"] + 1) for e in s["enrichments"]) or "none"
        print(f"  HF steps           {s['n_enrichments']} (steps {steps})")
        print(f"  ROM at the end     {s['final_modes']} modes, {s['final_points']} reduced "
              "points")
        print(f"  indicator          max {max(s['indicator'], default=0):.2e} (calibrated fields "
              + ", ".join(f"{k} x {v:.2f}" for k, v in s["factors"].items()) + ")")
        known = [e for e in s["enrichments"] if e.get("true_error") is not None]
        if known:
            print("  at the HF steps    indicator / true error of the prediction: "
                  + ", ".join(f"{e['indicator']:.2e} / {e['true_error']:.2e}"
                              for e in known[:6]) + (" ..." if len(known) > 6 else ""))
        print(f"  time [s]           total {t['total']:.2f}: online {t['online']:.3f}, "
              f"indicator {t['indicator']:.4f}, HF steps {t['hf_step']:.2f}, "
              f"basis/ECM updates {t['update']:.2f} (setup {t['setup']:.2f})")
        if s.get("saved"):
            print(f"  enriched archive   {s['saved']}")
        print(f"  results            {s['files'][0]}")
        print(f"  ParaView           paraview {s['files'][1]}")
        print("-" * 72)
    return 0


def _pipeline(args, comm):
    from rom.case import load_case
    from rom.pipeline import run_pipeline
    from rom.report import speed_text

    t0 = time.perf_counter()
    case = load_case(args.case)
    s = run_pipeline(case, comm, reference=not args.no_reference, out_dir=args.out)
    if comm.rank == 0:
        print("-" * 72)
        print(f"pipeline {case.name}: ROM of {s['n_modes']} modes, {s['n_ecm_points']} ECM "
              f"points ({s['n_reduced_points']} reduced points), test loading {s['test']}")
        print(f"  mesh               {s['n_dofs']} dofs")
        print(f"  cost [s]           HF training steps {s['hf_training_time']:.2f}, offline "
              f"{s['offline_time']:.2f}, online {s['online_time']:.3f}")
        if "error_u" in s:
            ep = "n/a" if s["error_p"] is None else f"{s['error_p']:.2e}"
            print(f"  errors vs HF       U {s['error_u']:.2e}, p {ep} (L2 over all steps)")
            if math.isfinite(s["hf_time_per_step"]):  # not for another solver's run
                print(f"  time per step [s]  HF {s['hf_time_per_step']:.3e}, online "
                      f"{s['online_time_per_step']:.3e}: {speed_text(s['speedup_per_step'])}"
                      f" per step ({speed_text(s['speedup_trajectory'])} for the "
                      "trajectory)")
        for a in s.get("adaptive", []):
            line = (f"  adaptive, {a['loading']:<8s} {a['n_enrichments']} HF step(s) of "
                    f"{a['n_steps']} (tol {a['tol']:g})")
            if "error_u" in a:
                line += (f": errors U {a['error_u']:.2e}, p {a['error_p']:.2e} (plain ROM: "
                         f"U {a['plain_error_u']:.2e}, p {a['plain_error_p']:.2e})"
                         + (f", {speed_text(a['speedup'], 'HF')}"
                            if math.isfinite(a["speedup"]) else ""))
            print(line)
        print(f"  total time [s]     {time.perf_counter() - t0:.1f}")
        print(f"  report             {s['report']}")
        out = os.path.dirname(s["report"])
        print(f"  ParaView           paraview {out}/online_{s['test']}/online.xdmf"
              + _xdmf_of(s.get("reference")))
        for a in s.get("adaptive", []):
            print(f"                     paraview {out}/adaptive_{a['loading']}/online.xdmf"
                  + _xdmf_of(a.get("reference")))
        print("-" * 72)
    return 0


def _greedy(args, comm):
    import json

    from rom import api
    from rom.case import load_case
    from rom.pipeline import training_runs

    t0 = time.perf_counter()
    case = load_case(args.case)
    candidates = api.greedy_candidates(case)  # (names the missing [rom.greedy])
    if not case.rom.training:
        raise RomError(f"{os.path.basename(case.path)}: [rom] training names no loading: "
                       "the greedy design starts from their HF runs")
    spec = case.rom.greedy
    out = args.out or case.output_dir
    say = print if comm.rank == 0 else (lambda *a, **k: None)
    files = training_runs(case, comm, out, log=say)  # the pipeline's, reused if up to date
    folder = os.path.join(out, "greedy")
    say(f"[greedy] {len(candidates)} candidates from loading {spec.template}, "
        + ", ".join(f"{n} in [{lo:g}, {hi:g}]" for n, lo, hi in spec.parameters))
    res = api.greedy_training(case, {k: v[0] for k, v in candidates.items()}, files, comm,
                              folder, spec.add if args.add is None else args.add,
                              tol=spec.tol, log=lambda line: say(line, flush=True))
    if comm.rank == 0:
        chosen = [dict(c, parameters=candidates[c["name"]][1]) for c in res["chosen"]]
        tables = "".join(api.loading_table(candidates[c["name"]][0], c["name"]) + "\n"
                         for c in chosen)
        with open(os.path.join(folder, "loadings.toml"), "w", encoding="utf-8") as f:
            f.write(f"# loadings added by run.py greedy {os.path.basename(case.path)}, in "
                    "order; add them to the case and to [rom] training\n\n" + tables)
        summary = dict(res, chosen=chosen, candidates={k: v[1] for k, v in
                                                       candidates.items()})
        with open(os.path.join(folder, "greedy.json"), "w") as f:  # strict JSON: a
            json.dump(_json_numbers(summary), f, indent=1, allow_nan=False)  # non-finite
            # score ("inf": the reduced Newton failed; "nan": not set up) as a string
        print("-" * 72)
        print(f"greedy design of {case.name}: {len(chosen)} HF run(s) added to "
              f"{len(case.rom.training)} ({res['stopped']})")
        for c in chosen:
            print(f"  {c['name']:<14s} indicator {c['score']:.3e}  " + ", ".join(
                f"{k} = {v:.4g}" for k, v in c["parameters"].items()))
        for name, message in res["dropped"].items():
            print(f"  {name:<14s} left out: {message}")
        print(f"  ROM of the design  {res['archives'][-1]}")
        print(f"  loadings added     {os.path.join(folder, 'loadings.toml')}")
        print(f"  time [s]           total {time.perf_counter() - t0:.1f}")
        print("-" * 72)
    comm.Barrier()  # the files are complete when any rank returns
    return 0


def _json_numbers(x):
    """``x`` (dicts, lists, numbers) with its non-finite floats as strings."""
    if isinstance(x, dict):
        return {k: _json_numbers(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_numbers(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


def _thermal(args, comm):
    from rom.case import load_case
    from rom.thermal import compute_thermal_fields

    t0 = time.perf_counter()
    case = load_case(args.case)
    if case.thermal is None:
        raise RomError(f"{os.path.basename(case.path)} has no [thermal] section")
    names = args.loading
    for name in names or ():
        case.with_loading(name)  # an unknown name is an error that lists the loadings
    specs = case.thermal_fields(names)
    done = compute_thermal_fields(case, comm, names, force=args.force,
                                  log=print)
    if comm.rank == 0:
        print("-" * 72)
        print(f"thermal fields of {case.name}: {len(done)} computed, "
              f"{len(specs) - len(done)} up to date, in {case.thermal.dir}")
        for params, path, info in done:
            print(f"  {os.path.basename(path)}  T in [{info['T_min']:.1f}, "
                  f"{info['T_max']:.1f}]  {info['iterations']} Newton iterations  "
                  f"{info['seconds']:.2f} s  (" + ", ".join(f"{k} = {v:g}" for k, v in params)
                  + ")")
        print(f"  time [s]           total {time.perf_counter() - t0:.2f}")
        print("-" * 72)
    return 0
