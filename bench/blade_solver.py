"""The HF linear solver on the turbine blade: one elastic step, the default solver
options against the former ones (smoothed aggregation, V-cycles, 2 sweeps); or the
blade case's Chaboche law with MUMPS and GAMG at 1, 2 and 3 smoothing sweeps.

    python bench/blade_solver.py [--presets S M] [--ranks 2] [--repeat 2]
    python bench/blade_solver.py --chaboche [--flight] [--loading c] [--presets S M]
        [--configs mumps gamg1 gamg2 gamg3] [--repeat 1]

For each preset the blade is meshed (``meshes/make_blade.py``, into
``bench/out/blade/``), and a case written beside it: elastic (E 200 GPa, nu 0.3, rho
8.2e-9 t/mm^3), the root flanks clamped, a centrifugal load of 1500 rad/s about the
engine axis, 2 MPa on the pressure side, one step. ``run.py hf`` runs it under
``mpirun -n R`` with the defaults and with the former options in ``[solver.petsc]``,
alternately ``--repeat`` times; printed: Newton and Krylov iterations, the solve and
set-up seconds of the run summary, the peak von Mises stress.

With ``--chaboche``: ``cases/blade.toml`` on the preset's mesh, its loading
``--loading`` (temperature fields computed first), the take-off step alone (``[steps]
times = [300.0]``, from rest) or with ``--flight`` the case's whole flight, its
``[solver]`` replaced by each configuration: ``mumps``, or GMRES + GAMG (the project's
defaults) with ``mg_levels_ksp_max_it`` 1, 2 or 3 (``gamg1`` .. ``gamg3``). Printed
besides: the steps restarted with accurate linear solves (a residual that rose
twice in a row, :class:`rom.hf.NewtonSolver`), the step cuts (a diverged linear solve
or Newton halves the time step), the steps' seconds
and the peak RSS per rank (GNU time around ``mpirun``: its largest child).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

from common import ENV, ROOT, hf_summary
from common import run as common_run

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out", "blade")
CASE = """[mesh]
file = "{mesh}"
[material]
law = "elastic"
E = 200000.0
nu = 0.3
rho = 8.2e-9
[[dirichlet]]
set = "root_flanks"
[[pressure]]
set = "pressure_side"
value = 2.0
[centrifugal]
omega = 1500.0
axis_point = [0.0, 0.0, -250.0]
axis_direction = [1.0, 0.0, 0.0]
[temperature]
value = 20.0
[steps]
times = [1.0]
"""
FORMER = """[solver.petsc]
pc_gamg_agg_nsmooths = 1
pc_mg_cycle_type = "v"
mg_levels_ksp_max_it = 2
"""


def blade_mesh(preset):
    """The blade mesh of ``preset`` in ``bench/out/blade/`` (made if missing)."""
    os.makedirs(OUT, exist_ok=True)
    mesh = os.path.join(OUT, f"blade_{preset}.msh")
    if not os.path.exists(mesh):
        subprocess.run([sys.executable, os.path.join(ROOT, "meshes", "make_blade.py"),
                        "--preset", preset, "--out", mesh], check=True, env=ENV)
    return mesh


def preset_case(preset):
    """``cases/blade.toml`` on the ``preset`` mesh, written (when its text changed) to
    ``bench/out/blade_<preset>/blade.toml``: ``(that folder, the case's path)``."""
    out = os.path.join(HERE, "out", f"blade_{preset}")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(ROOT, "cases", "blade.toml")) as f:
        body = blade_case(f.read(), blade_mesh(preset), f"blade_{preset}")
    case = os.path.join(out, "blade.toml")
    if os.path.exists(case):
        with open(case) as f:
            if f.read() == body:
                return out, case
    with open(case, "w") as f:
        f.write(body)
    return out, case


def blade_case(text, mesh, name):
    """The text of ``cases/blade.toml`` on another ``mesh``, under another ``name``
    (its results then go elsewhere)."""
    text = re.sub(r'file = "[^"]*blade_S\.msh"', f'file = "{mesh}"', text)
    return text.replace('name = "blade"', f'name = "{name}"')


def run(case, ranks, out, extra=()):
    shutil.rmtree(out, ignore_errors=True)  # run.py hf does not overwrite a run
    cmd = [sys.executable, os.path.join(ROOT, "run.py"), "hf", case, "--out", out, *extra]
    if ranks > 1:
        cmd = ["mpirun", "-n", str(ranks)] + cmd
    cmd = ["/usr/bin/time", "-f", "GNUTIME rss_kb=%M"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    text = p.stdout + p.stderr
    von_mises = float(re.search(r"max von Mises\s+([\d.e+-]+)", text).group(1))
    return dict(hf_summary(text), von_mises=von_mises)


CONFIGS = {"mumps": 'linear_solver = "mumps"\n',
           **{f"gamg{k}": f'linear_solver = "gamg"\n[solver.petsc]\nmg_levels_ksp_max_it = {k}\n'
              for k in (1, 2, 3)}}


def chaboche(args):
    """The blade case's Chaboche law under each solver configuration of ``args``."""
    with open(os.path.join(ROOT, "cases", "blade.toml")) as f:
        text = f.read()
    i, j = text.index("\n[solver]\n"), text.index("\n[rom]\n")
    print("| preset | dofs | solver | Newton its | Krylov its | steps restarted | "
          "step cuts | steps [s] | law / assembly / solve [s] | peak RSS per rank [GB] |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for preset in args.presets:
        mesh = blade_mesh(preset)
        for config in args.configs:
            body = blade_case(text[:i] + "\n[solver]\n" + CONFIGS[config] + text[j:], mesh,
                              f"blade_solver_{preset}")
            if not args.flight:
                body = re.sub(r"\[steps\][^\[]*", "[steps]\ntimes = [300.0]\n\n", body)
            case = os.path.join(OUT, f"chaboche_{preset}_{config}.toml")
            with open(case, "w") as f:
                f.write(body)
            common_run([sys.executable, os.path.join(ROOT, "run.py"), "thermal", case,
                        "--loading", args.loading], args.ranks)
            for _ in range(args.repeat):  # GAMG's parallel set-up varies run to run
                r = run(case, args.ranks, os.path.join(OUT, f"run_{preset}_{config}"),
                        ["--loading", args.loading])
                print(f"| {preset} | {r['dofs']} | {config} | {r['newton']} | "
                      f"{r['krylov']} | {r['restarts']} | {r['cuts']} | {r['steps']:.1f} | "
                      f"{r['law']:.2f} / {r['assembly']:.2f} / {r['solve']:.2f} | "
                      f"{r['rss_gb']:.2f} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["S", "M"], choices=["S", "M", "L"])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs of each configuration (default 2; with --chaboche 1)")
    ap.add_argument("--chaboche", action="store_true", help="the blade case's law")
    ap.add_argument("--flight", action="store_true", help="with --chaboche: the whole flight")
    ap.add_argument("--loading", default="c", help="with --chaboche")
    ap.add_argument("--configs", nargs="+", choices=list(CONFIGS),
                    default=["mumps", "gamg1", "gamg2", "gamg3"], help="with --chaboche")
    args = ap.parse_args()
    if args.repeat is None:
        args.repeat = 1 if args.chaboche else 2
    os.makedirs(OUT, exist_ok=True)
    if args.chaboche:
        return chaboche(args)
    print("| preset | dofs | options | Newton its | Krylov its | solve [s] | set-up [s] "
          "| max von Mises [MPa] |")
    print("|---|---|---|---|---|---|---|---|")
    for preset in args.presets:
        mesh = blade_mesh(preset)
        cases = {}
        for name, extra in (("defaults", ""), ("former", FORMER)):
            cases[name] = os.path.join(OUT, f"blade_{preset}_{name}.toml")
            with open(cases[name], "w") as f:
                f.write(CASE.format(mesh=mesh) + extra)
        for _ in range(args.repeat):
            for name, case in cases.items():
                r = run(case, args.ranks, os.path.join(OUT, f"run_{preset}_{name}"))
                print(f"| {preset} | {r['dofs']} | {name} | {r['newton']} | {r['krylov']} | "
                      f"{r['solve']:.2f} | {r['setup']:.2f} | {r['von_mises']:.0f} |",
                      flush=True)


if __name__ == "__main__":
    main()
