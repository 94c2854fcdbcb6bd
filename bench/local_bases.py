"""Local reduced bases against the global ROM on a case with two regimes.

    python bench/local_bases.py [--n 8] [--steps 10] [--repeat 3]

The cube of ``tests/test_dictionary.py`` (``n^3`` hex20 cells, J2 with a yield
stress falling with the temperature, pulled on x = 1, isostatic supports) with two
families of temperature fields: "cold" ones growing along x (levels 250, 325, 400)
and "hot" ones along y (550, 650, 750), held-out levels cold_t (290) and hot_t (700).
The six training runs (HF, serial, kept in ``bench/out/local_bases/``) give a global
ROM and a dictionary (``[rom] clusters = "auto"``: the a priori criterion chooses
k); each ROM is run serially on the held-out loadings ``--repeat`` times (best
time). Printed: the criterion's costs, per ROM its modes and reduced points, and per
held-out loading the member selected, the error (U, relative L2 over the steps,
against the HF run) and the online time per step (wall and CPU), side by side.
"""

import argparse
import os
import sys
import time
from dataclasses import replace

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

LEVELS = {"cold_a": "250 * x * x", "cold_b": "325 * x * x", "cold_c": "400 * x * x",
          "cold_t": "290 * x * x", "hot_a": "550 * y * y", "hot_b": "650 * y * y",
          "hot_c": "750 * y * y", "hot_t": "700 * y * y"}
TRAINING = ["cold_a", "cold_b", "cold_c", "hot_a", "hot_b", "hot_c"]
CASE = """name = "two_regimes"
[mesh]
file = "cube.msh"
[material]
law = "j2"
E = 200000.0
nu = 0.3
alpha = 1.2e-5
T_ref = 20.0
R0 = [[20.0, 160.0], [700.0, 40.0]]
H = 2000.0
[sets.x0]
kind = "nodes"
where = "x == 0"
[sets.edge]
kind = "nodes"
where = "(x == 0) & (y == 0)"
[sets.corner]
kind = "nodes"
where = "(x == 0) & (y == 0) & (z == 0)"
[sets.pulled]
kind = "faces"
where = "x == 1"
[[dirichlet]]
set = "x0"
components = ["x"]
[[dirichlet]]
set = "edge"
components = ["y"]
[[dirichlet]]
set = "corner"
components = ["z"]
[[pressure]]
set = "pulled"
value = 150.0
table = [[0.0, 0.0], [1.0, 1.0]]
[steps]
end = 1.0
count = {steps}
[solver]
linear_solver = "mumps"
rtol = 1e-9
[rom]
clusters = "auto"
"""


def held_out(rom, case, name, reference, repeat):
    """The ROM archive ``rom`` (a member selected for a dictionary) on ``case``'s
    loading ``name``, ``repeat`` times: ``(member, modes, points, error U, error p,
    wall s/step, CPU s/step)``, the errors (relative L2 over the steps) against the HF
    run ``reference`` (error p None without p), the best time of the repeats."""
    from rom.online import open_for_case, run_online
    from rom.snapshots import read_snapshots

    c = case.with_loading(name)
    archive = open_for_case(rom, c)[0]
    best = (np.inf, np.inf)
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = run_online(archive, c)
        best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
    model = out["model"]
    ref = read_snapshots(reference, ("U",), ("p",) if "p" in archive["gappy"] else ())
    U = np.array([model.displacement(g) for g in out["gamma"]])
    err_u = np.linalg.norm(U - ref["U"]) / np.linalg.norm(ref["U"])
    err_p = None
    if "qp/p" in ref:
        p = np.array([model.gappy("p", q) for q in out["p_points"]])
        err_p = np.linalg.norm(p - ref["qp/p"]) / np.linalg.norm(ref["qp/p"])
    n = len(c.times)
    return (archive["member"], model.n_modes, model.m, err_u, err_p, best[0] / n,
            best[1] / n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from mpi4py import MPI

    from rom.case import load_case
    from rom.hf import run_hf
    from rom.io.meshfile import write_mesh_file
    from rom.meshgen import box_mesh
    from rom.offline import build_rom
    from rom.snapshots import read_snapshots

    comm = MPI.COMM_SELF
    folder = os.path.join(HERE, "out", "local_bases", f"n{args.n}_s{args.steps}")
    os.makedirs(folder, exist_ok=True)
    mesh = os.path.join(folder, "cube.msh")
    if not os.path.isfile(mesh):
        write_mesh_file(mesh, box_mesh((args.n,) * 3, (1.0, 1.0, 1.0), "hexahedron20"))
    text = CASE.replace("{steps}", str(args.steps)) + "".join(
        f'[loadings.{k}]\nexpression = "20 + {v} * t"\n' for k, v in LEVELS.items())
    path = os.path.join(folder, "case.toml")
    with open(path, "w") as f:
        f.write(text)
    case = load_case(path)
    files = {}
    for name in LEVELS:
        out = os.path.join(folder, f"hf_{name}")
        files[name] = os.path.join(out, "snapshots.h5")
        if not os.path.isfile(files[name]):
            run_hf(case.with_loading(name), comm, out_dir=out, log=None, overwrite=True)
    print(f"two-regime cube: {args.n}^3 hex20, {3 * len(read_snapshots(files['cold_a'])['points'])}"
          f" dofs, {args.steps} steps, training {', '.join(TRAINING)}")
    rows = []
    for tag, clusters in (("global", None), ("local", "auto")):
        c = replace(case, rom=replace(case.rom, clusters=clusters))
        rom = os.path.join(folder, f"rom_{tag}.h5")
        t0, c0 = time.perf_counter(), time.process_time()
        s = build_rom(c, [files[k] for k in TRAINING], comm, rom, log=print if clusters
                      else None)
        offline = (time.perf_counter() - t0, time.process_time() - c0)
        modes = s.get("n_modes_members", [s["n_modes"]])
        points = s.get("n_points_members", [s["n_reduced_points"]])
        print(f"{tag:>6}: modes {modes}, reduced points {points}, offline "
              f"{offline[0]:.1f} s wall, {offline[1]:.1f} s CPU")
        for name in ("cold_t", "hot_t"):
            member, n, m, err, _, wall, cpu = held_out(rom, c, name, files[name],
                                                      args.repeat)
            rows.append((tag, name, member, n, m, err, wall, cpu))
    print(f"{'ROM':>6} {'loading':>7} {'member':>6} {'modes':>5} {'points':>6} "
          f"{'error U':>9} {'ms/step':>8} {'CPU ms/step':>11}")
    for tag, name, member, n, m, err, wall, cpu in rows:
        print(f"{tag:>6} {name:>7} {'-' if member is None else member:>6} {n:>5} {m:>6} "
              f"{err:>9.2e} {wall * 1e3:>8.2f} {cpu * 1e3:>11.2f}")


if __name__ == "__main__":
    main()
