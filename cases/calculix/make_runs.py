"""The CalculiX runs of the worked nonintrusive example (``cases/calculix.toml``).

Writes, beside this script, the deck of a hot cantilever as a CalculiX user would
have it: ``beam.inp`` (the mesh: 8 x 2 x 2 twenty-node bricks C3D20 on
[0, 4] x [0, 1] x [0, 1] mm, node set ``FIXED`` at x = 0) and one analysis deck per
temperature level, ``<level>.inp`` (``*INCLUDE`` of the mesh, J2 plasticity with a
temperature-dependent yield stress, the root clamped, a pressure of 8 MPa on the
top face z = 1 (``*DLOAD`` on the element faces), a nodal temperature field
``level * (1 + z - 0.1 x)`` (degC above the 0 degC stress-free state) raised
linearly, with the pressure, to its peak at t = 1 s and back to zero at t = 2 s,
40 static increments of
0.05 s, ``*NODE FILE`` U and NT into ``<level>.frd``, ``*EL PRINT`` PEEQ into
``<level>.dat``), then runs ``ccx`` on each (unless ``--no-run``). The material and
the temperature field are those of ``cases/calculix.toml``: keep both in step.

The field is linear in the coordinates on purpose: CalculiX replaces the temperature
of the midside nodes of quadratic elements by the mean of the corner nodes' (its NT
output still shows the values given), so a field that is not linear within each
element is not the same load in both codes (measured with ``1 + z^2 - 0.1 x``: the
elastic displacements differ by 1.4e-3; with this field, our HF run and CalculiX's
agree to 4e-6 at every increment).

    .venv/bin/python cases/calculix/make_runs.py [--levels low=150 mid=200 high=250]
"""

import argparse
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

LEVELS = {"low": 150.0, "mid": 200.0, "high": 250.0}
E, NU, ALPHA, H = 200000.0, 0.3, 1.2e-5, 10000.0
R0 = [(0.0, 250.0), (1000.0, 150.0)]  # (T, yield stress): linear in between
N_INC, DT = 40, 0.05
AMPLITUDE = [(0.0, 0.0), (1.0, 1.0), (2.0, 0.0)]
PRESSURE = 8.0  # MPa on the top face z = 1
# C3D20 faces S1..S6 by their corner nodes (0-based), as CalculiX numbers them
FACES = ((0, 1, 2, 3), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6),
         (3, 0, 4, 7))


def temperature(points, level):
    """The peak temperature field ``(n,)`` of ``level`` at ``points (n, 3)``."""
    x, z = points[:, 0], points[:, 2]
    return level * (1.0 + z - 0.1 * x)


def _num(v):
    s = f"{v:.12g}"  # CalculiX reads 20-character fields
    assert len(s) <= 20, s
    return s


def write_mesh_deck(path):
    """``beam.inp``: nodes, C3D20 elements (set EALL), node sets FIXED (x = 0) and
    NALL. Returns the node coordinates ``(n, 3)`` and the ``(element, face)`` of the
    faces on z = 1."""
    from rom.meshgen import box_mesh

    data = box_mesh((8, 2, 2), (4.0, 1.0, 1.0), "hexahedron20")
    lines = ["*NODE, NSET=NALL"]
    lines += [f"{i + 1}, " + ", ".join(_num(c) for c in p) for i, p in enumerate(data.points)]
    lines.append("*ELEMENT, TYPE=C3D20, ELSET=EALL")
    for e, cell in enumerate(data.cells.tolist()):
        ids = [str(i + 1) for i in cell]  # meshio's hexahedron20 order is C3D20's
        lines += [f"{e + 1}, " + ", ".join(ids[:15]) + ",", ", ".join(ids[15:])]
    fixed = np.flatnonzero(np.abs(data.points[:, 0]) < 1e-9) + 1
    lines.append("*NSET, NSET=FIXED")
    lines += [", ".join(str(i) for i in fixed[k:k + 10]) for k in range(0, len(fixed), 10)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    top = [(e + 1, k + 1) for e, cell in enumerate(data.cells) for k, face in enumerate(FACES)
           if np.all(np.abs(data.points[cell[list(face)], 2] - 1.0) < 1e-9)]
    return data.points, top


def write_run_deck(path, points, top, level):
    """The analysis deck of temperature ``level`` (``top``: the loaded faces)."""
    lines = ["*HEADING", f"hot cantilever, temperature level {level:g}",
             "*INCLUDE, INPUT=beam.inp",
             "*MATERIAL, NAME=STEEL", "*ELASTIC", f"{_num(E)}, {_num(NU)}",
             "*EXPANSION, ZERO=0.", _num(ALPHA), "*PLASTIC, HARDENING=ISOTROPIC"]
    for T, r0 in R0:  # the linear hardening R0(T) + H p as two points per temperature
        lines += [f"{_num(r0)}, 0., {_num(T)}", f"{_num(r0 + H)}, 1., {_num(T)}"]
    lines += ["*SOLID SECTION, ELSET=EALL, MATERIAL=STEEL",
              "*INITIAL CONDITIONS, TYPE=TEMPERATURE", "NALL, 0.",
              "*AMPLITUDE, NAME=CYCLE, TIME=TOTAL TIME"]
    lines += [f"{_num(t)}, {_num(a)}" for t, a in AMPLITUDE]
    lines += ["*STEP, INC=100000", "*STATIC, DIRECT", f"{_num(DT)}, {_num(N_INC * DT)}",
              "*CONTROLS, PARAMETERS=FIELD", "1e-7, 1e-5, 0., 0., 0.02, 1e-5, 1e-3, 1e-8",
              "*BOUNDARY", "FIXED, 1, 3, 0.", "*DLOAD, AMPLITUDE=CYCLE"]
    lines += [f"{e}, P{k}, {_num(PRESSURE)}" for e, k in top]
    lines.append("*TEMPERATURE, AMPLITUDE=CYCLE")
    lines += [f"{i + 1}, {_num(T)}" for i, T in enumerate(temperature(points, level))]
    lines += ["*NODE FILE", "U, NT", "*EL PRINT, ELSET=EALL", "PEEQ", "*END STEP"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def run_ccx(folder, job):
    """Run ``ccx -i job`` in ``folder`` (one thread); raises on a CalculiX error."""
    ccx = shutil.which("ccx")
    if ccx is None:
        raise SystemExit("ccx (CalculiX) is not on PATH: apt-get install calculix-ccx")
    env = dict(os.environ, OMP_NUM_THREADS="1", CCX_NPROC_EQUATION_SOLVER="1",
               CCX_NPROC_STIFFNESS="1", CCX_NPROC_RESULTS="1")
    r = subprocess.run([ccx, "-i", job], cwd=folder, capture_output=True, text=True,
                       env=env, timeout=600)
    if r.returncode != 0 or "*ERROR" in r.stdout:
        raise SystemExit(f"ccx -i {job} failed:\n{r.stdout[-3000:]}{r.stderr[-2000:]}")


def make_runs(folder=HERE, levels=None, run=True):
    """Write the decks of ``levels`` (name -> level) into ``folder`` and run them."""
    os.makedirs(folder, exist_ok=True)
    points, top = write_mesh_deck(os.path.join(folder, "beam.inp"))
    for name, level in (levels or LEVELS).items():
        write_run_deck(os.path.join(folder, f"{name}.inp"), points, top, level)
        if run:
            run_ccx(folder, name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", nargs="+", metavar="NAME=LEVEL",
                    help="temperature levels (default: " +
                    " ".join(f"{k}={v:g}" for k, v in LEVELS.items()) + ")")
    ap.add_argument("--out", default=HERE, help="folder of the decks and results")
    ap.add_argument("--no-run", action="store_true", help="write the decks only")
    args = ap.parse_args()
    levels = dict((k, float(v)) for k, v in (s.split("=") for s in args.levels)) \
        if args.levels else None
    make_runs(args.out, levels, run=not args.no_run)


if __name__ == "__main__":
    main()
