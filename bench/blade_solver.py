"""The HF linear solver on the turbine blade: one elastic step, the default solver
options against the former ones (smoothed aggregation, V-cycles, 2 sweeps).

    python bench/blade_solver.py [--presets S M] [--ranks 2] [--repeat 2]

For each preset the blade is meshed (``meshes/make_blade.py``, into
``bench/out/blade/``), and a case written beside it: elastic (E 200 GPa, nu 0.3, rho
8.2e-9 t/mm^3), the root flanks clamped, a centrifugal load of 1500 rad/s about the
engine axis, 2 MPa on the pressure side, one step. ``run.py hf`` runs it under
``mpirun -n R`` with the defaults and with the former options in ``[solver.petsc]``,
alternately ``--repeat`` times; printed: Newton and Krylov iterations, the solve and
set-up seconds of the run summary, the peak von Mises stress.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

from common import ENV, ROOT

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


def run(case, ranks, out):
    shutil.rmtree(out, ignore_errors=True)  # run.py hf does not overwrite a run
    cmd = [sys.executable, os.path.join(ROOT, "run.py"), "hf", case, "--out", out]
    if ranks > 1:
        cmd = ["mpirun", "-n", str(ranks)] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    text = p.stdout

    def num(pattern):
        return float(re.search(pattern, text).group(1))

    return {"newton": int(num(r"Newton iterations\s+(\d+)")),
            "krylov": int(num(r"KSP iterations (\d+)")),
            "solve": num(r"linear solve ([\d.]+)"), "setup": num(r"setup ([\d.]+)"),
            "von_mises": num(r"max von Mises\s+([\d.e+-]+)"),
            "dofs": int(num(r"(\d+) dofs"))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["S", "M"], choices=["S", "M", "L"])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
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
