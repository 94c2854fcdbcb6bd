"""The high-fidelity solver against CalculiX (``ccx``) on the same hex20 mesh.

Both codes run the same problem inside the test: same nodes and 20-node hexahedra
(a box mesh with randomly moved interior vertices; CalculiX C3D20, full 3x3x3 Gauss
integration like ours; meshio/VTK ``hexahedron20`` and C3D20 order their nodes
alike: corners, then the mid-edge nodes of edges 1-2, 2-3, 3-4, 4-1, 5-6, 6-7, 7-8,
8-5, 1-5, 2-6, 3-7, 4-8), same constraints, same face pressure (``*DLOAD`` Pn on
the matching element faces; positive pushes into the face in both codes) with the
same piecewise linear time factor, the same fixed time increments, small strain in
both (no NLGEOM), tight Newton tolerances in both. At every increment, the nodal
displacements must agree within ``TOL`` = 2e-6 of that increment's largest one: the
codes agree to the 7 significant digits CalculiX prints (``-1.050720E-04``; rounding
alone is up to 5e-7 of the largest value). Measured worst increments: creep 4.6e-7
(tension), 4.9e-7 (bending); J2 2.8e-7 (tension), 4.7e-7 (bending).

Two load cases for each law: a uniaxial bar ``[0,4] x [0,1] x [0,1]`` (x = 0 held in
x, y = 0 in y, z = 0 in z, so the Poisson contraction is free; traction on x = 4)
and a cantilever (x = 0 clamped, pressure on the top face z = 1: non-uniform,
non-proportional stress with redistribution).

* Norton creep ``dp/dt = (J/K)^n``: CalculiX ``*CREEP, LAW=NORTON`` with
  ``A = K^-n``, ``m = 0`` in ``*VISCO`` steps (no ``*PLASTIC``: zero yield stress).
  The load is applied within one increment of 1e-4 s, then held to 2 s; the creep
  strain ends well above the elastic one. Increments grow from 2e-3 to 4e-2 s as the
  stress redistribution slows down. (With backward Euler and n = 5, a load ramp
  over 0.1 s in 0.01 s increments overestimates the creep of the ramp by about a
  third: 2 % of the displacement at the end of the ramp.)
* J2 plasticity, linear isotropic hardening ``R0 + H p``: CalculiX ``*PLASTIC``
  (HARDENING=ISOTROPIC) with the two points ``(R0, 0)``, ``(R0 + H, 1)``, ``*STATIC``
  steps; loaded beyond yield, then unloaded to zero (residual displacement).
  (CalculiX's small-strain kinematic hardening is not used: it has a sign error.)

The increments are small enough that halving them changes the displacements by
well under 1 % (checked once by hand: at most 0.04 % for creep in tension, 0.09 %
for creep in bending, 0.16 % for the residual displacement of the plastic
cantilever). With 0.2 s increments instead of 0.05 s, CalculiX stops with "solution
seems to diverge" on the unloading of the plastic cantilever (ours converges).
"""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from helpers import solve, write_case
from rom.meshgen import box_mesh
from rom.snapshots import read_snapshots

CCX = shutil.which("ccx")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CCX is None, reason="CalculiX (ccx) is not on PATH")]

E, NU = 200000.0, 0.3
K, N = 300.0, 5.0  # Norton
R0, H = 250.0, 10000.0  # J2, linear isotropic hardening

# C3D20 faces P1..P6 by their corner nodes (0-based local numbering)
CCX_FACES = ((0, 1, 2, 3), (4, 5, 6, 7), (0, 1, 4, 5), (1, 2, 5, 6), (2, 3, 6, 7),
             (0, 3, 4, 7))

# geometry/load cases: constrained node groups and components, loaded face group
LOAD_CASES = {
    "tension": {"fixed": [("xmin", "x"), ("ymin", "y"), ("zmin", "z")], "face": "xmax"},
    "bending": {"fixed": [("xmin", "x"), ("xmin", "y"), ("xmin", "z")], "face": "zmax"},
}
# pressure (positive: compression), negative for a traction
CREEP_PRESSURE = {"tension": -100.0, "bending": 3.0}
J2_PRESSURE = {"tension": -1.5 * R0, "bending": 12.0}

# time segments (number of increments, increment): one CalculiX step each
# creep: load applied in one 1e-4 s increment, then held; the increments grow as the
# stress redistribution slows down
CREEP_SEGMENTS = [(1, 1e-4), (5, 0.002), (8, 0.005), (15, 0.01), (20, 0.02), (35, 0.04)]
CREEP_TABLE = [(0.0, 0.0), (1e-4, 1.0), (3.0, 1.0)]
J2_SEGMENTS = [(40, 0.05)]
J2_TABLE = [(0.0, 0.0), (1.0, 1.0), (2.0, 0.0)]
# every increment is compared, relative to its largest displacement; measured at most
# 4.9e-7 (the resolution of CalculiX's printed values)
TOL = 2e-6


def _num(v):
    """A real for CalculiX: it reads 20-character fields."""
    s = f"{v:.12g}"
    assert len(s) <= 20, s
    return s


def _times(segments):
    t = [0.0]
    for n, dt in segments:
        t += [t[-1] + dt * k for k in range(1, n + 1)]
    return np.array(t[1:])


def _face_loads(data, group):
    """``(element, face label)`` of CalculiX for the boundary faces of ``group``."""
    faces = data.element_groups[group]["faces"][data.element.face_type]
    wanted = {frozenset(f[:4]) for f in faces.tolist()}
    found = [(e + 1, k + 1) for e, cell in enumerate(data.cells.tolist())
             for k, corners in enumerate(CCX_FACES)
             if frozenset(cell[i] for i in corners) in wanted]
    assert len(found) == len(faces)
    return found


def _write_inp(path, data, material, procedure, segments, load_case, pressure, table):
    lines = ["*HEADING", "rom vs CalculiX", "*NODE, NSET=NALL"]
    lines += [f"{i + 1}, " + ", ".join(_num(x) for x in p) for i, p in enumerate(data.points)]
    lines.append("*ELEMENT, TYPE=C3D20, ELSET=EALL")
    for e, cell in enumerate(data.cells.tolist()):
        ids = [str(i + 1) for i in cell]
        lines += [f"{e + 1}, " + ", ".join(ids[:15]) + ",", ", ".join(ids[15:])]
    groups = sorted({g for g, _ in LOAD_CASES[load_case]["fixed"]})
    for g in groups:
        ids = [str(i + 1) for i in sorted(data.node_groups[g].tolist())]
        lines.append(f"*NSET, NSET=N{g.upper()}")
        lines += [", ".join(ids[i:i + 10]) for i in range(0, len(ids), 10)]
    lines += ["*MATERIAL, NAME=MAT", *material, "*SOLID SECTION, ELSET=EALL, MATERIAL=MAT",
              "*AMPLITUDE, NAME=LOAD, TIME=TOTAL TIME"]
    lines += [f"{_num(t)}, {_num(a)}" for t, a in table]
    for k, (n, dt) in enumerate(segments):
        lines += ["*STEP, INC=100000", procedure, f"{_num(dt)}, {_num(n * dt)}",
                  # residual / correction tolerances far tighter than the defaults
                  "*CONTROLS, PARAMETERS=FIELD", "1e-7, 1e-5, 0., 0., 0.02, 1e-5, 1e-3, 1e-8"]
        if k == 0:  # boundary conditions and loads carry over to the next steps
            lines.append("*BOUNDARY")
            for g, c in LOAD_CASES[load_case]["fixed"]:
                i = "xyz".index(c) + 1
                lines.append(f"N{g.upper()}, {i}, {i}, 0.")
            lines.append("*DLOAD, AMPLITUDE=LOAD")
            lines += [f"{e}, P{f}, {_num(pressure)}"
                      for e, f in _face_loads(data, LOAD_CASES[load_case]["face"])]
        lines += ["*NODE PRINT, NSET=NALL", "U", "*END STEP"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _read_dat(path, n_nodes):
    """``{time: U (n_nodes, 3)}`` from the ``*NODE PRINT`` blocks of a .dat file."""
    out = {}
    with open(path) as f:
        lines = f.read().splitlines()
    head = re.compile(r"\s*displacements \(vx,vy,vz\) for set NALL and time\s+(\S+)")
    i = 0
    while i < len(lines):
        m = head.match(lines[i])
        i += 1
        if not m:
            continue
        u = np.full((n_nodes, 3), np.nan)
        while i < len(lines) and not lines[i].strip():
            i += 1
        while i < len(lines) and lines[i].strip():
            node, *vals = lines[i].split()
            u[int(node) - 1] = [float(v) for v in vals]
            i += 1
        assert np.isfinite(u).all(), f"{path}: incomplete block at t = {m.group(1)}"
        out[float(m.group(1))] = u
    return out


def _run_ccx(folder, data, material, procedure, segments, load_case, pressure, table):
    _write_inp(os.path.join(folder, "ccx.inp"), data, material, procedure, segments,
               load_case, pressure, table)
    env = dict(os.environ, OMP_NUM_THREADS="1", CCX_NPROC_EQUATION_SOLVER="1",
               CCX_NPROC_STIFFNESS="1", CCX_NPROC_RESULTS="1")
    r = subprocess.run([CCX, "-i", "ccx"], cwd=folder, capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0 and "*ERROR" not in r.stdout, r.stdout[-3000:] + r.stderr
    return _read_dat(os.path.join(folder, "ccx.dat"), len(data.points))


def _run_ours(folder, data, material, segments, load_case, pressure, table, comm):
    """``{time: U (n_nodes, 3)}`` after every step, read from the run's snapshot file."""
    fixed = "".join(f'[[dirichlet]]\nset = "{g}"\ncomponents = ["{c}"]\nvalue = 0.0\n'
                    for g, c in LOAD_CASES[load_case]["fixed"])
    times = ", ".join(repr(float(t)) for t in _times(segments))
    body = (fixed + f'[[pressure]]\nset = "{LOAD_CASES[load_case]["face"]}"\n'
            f"value = {pressure!r}\ntable = {[list(map(float, row)) for row in table]}\n"
            f"[steps]\ntimes = [{times}]\n"
            '[solver]\nlinear_solver = "mumps"\nrtol = 1e-10\n')
    case = write_case(folder, data, body, material=material)
    res = solve(case, comm, os.path.join(folder, "out"))
    snap = read_snapshots(os.path.join(folder, "out", "snapshots.h5"), ("U",))
    assert len(snap["U"]) == len(case.times) == len(_times(segments))
    return dict(zip(case.times, snap["U"])), res


def _compare(ours, theirs):
    """Relative difference ``max |u - u_ccx| / max |u|`` at each time of ``ours`` (every
    increment: CalculiX prints every one)."""
    assert len(theirs) == len(ours), (len(theirs), len(ours))
    errors = {}
    for t, u in ours.items():
        tc = min(theirs, key=lambda s: abs(s - t))
        assert abs(tc - t) < 1e-9, f"no CalculiX output at t = {t}: {sorted(theirs)}"
        errors[t] = np.abs(u - theirs[tc]).max() / np.abs(u).max()
    return errors


@pytest.mark.parametrize("load_case", ["tension", "bending"])
def test_norton_creep_matches_calculix(load_case, tmp_path, comm):
    data = box_mesh((4, 2, 2), (4.0, 1.0, 1.0), "hexahedron20", distort=0.2)
    p = CREEP_PRESSURE[load_case]
    theirs = _run_ccx(str(tmp_path), data,
                      ["*ELASTIC", f"{_num(E)}, {_num(NU)}",
                       "*CREEP, LAW=NORTON", f"{_num(K ** -N)}, {_num(N)}, 0."],
                      "*VISCO, DIRECT, CETOL=1e-3",  # CETOL is required, unused with DIRECT
                      CREEP_SEGMENTS, load_case, p, CREEP_TABLE)
    material = f'[material]\nlaw = "norton"\nE = {E}\nnu = {NU}\nK = {K}\nn = {N}\n'
    ours, _ = _run_ours(str(tmp_path), data, material, CREEP_SEGMENTS, load_case, p,
                        CREEP_TABLE, comm)
    errors = _compare(ours, theirs)
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"t = {worst}: relative difference {errors[worst]:.3e}"
    # the test means something: creep more than doubles the instantaneous displacement
    assert np.abs(ours[max(ours)]).max() > 2.0 * np.abs(ours[min(ours)]).max()


@pytest.mark.parametrize("load_case", ["tension", "bending"])
def test_j2_isotropic_hardening_matches_calculix(load_case, tmp_path, comm):
    data = box_mesh((4, 2, 2), (4.0, 1.0, 1.0), "hexahedron20", distort=0.2)
    p = J2_PRESSURE[load_case]
    theirs = _run_ccx(str(tmp_path), data,
                      ["*ELASTIC", f"{_num(E)}, {_num(NU)}",
                       "*PLASTIC, HARDENING=ISOTROPIC", f"{_num(R0)}, 0.", f"{_num(R0 + H)}, 1."],
                      "*STATIC, DIRECT", J2_SEGMENTS, load_case, p, J2_TABLE)
    material = (f'[material]\nlaw = "j2"\nE = {E}\nnu = {NU}\nR0 = {R0}\nH = {H}\n'
                "Hk = 0.0\n")
    ours, res = _run_ours(str(tmp_path), data, material, J2_SEGMENTS, load_case, p, J2_TABLE,
                          comm)
    errors = _compare(ours, theirs)
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"t = {worst}: relative difference {errors[worst]:.3e}"
    # the test means something: yielded, and a large residual displacement after unloading
    # (at the end, t = 2) compared with the one at the peak load (t = 1)
    assert res["state"]["p"].max() > R0 / E
    peak = min(ours, key=lambda t: abs(t - 1.0))
    assert abs(peak - 1.0) < 1e-9
    assert np.abs(ours[max(ours)]).max() > 0.1 * np.abs(ours[peak]).max()
