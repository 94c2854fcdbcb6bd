"""Local reduced bases on the turbine blade: a cold (low-power) and a hot (take-off)
regime of flights, one dictionary against one global ROM.

    python bench/blade_local.py [--preset S] [--ranks 2] [--repeat 3] [--more-cold]
                                [--subsets]

A copy of ``cases/blade.toml`` on the ``--preset`` mesh (``bench/out/blade_local_<preset>/``)
with "cold" flights added: the gas at 480-540 C and the coolant at 380 C instead
of 780 C and 500 C (the take-off temperatures of the case's loadings), small hot spots;
the case's hot flights a, b, c (``--more-cold``: two more cold flights); held-out
flights ``cold_t`` and the case's ``t1``. With ``--cold power`` the cold regime is
instead five low-power flights without a hot spot whose gas (460-540 C) and coolant
(340-420 C) temperatures vary (the engine's power setting; held out: ``idle_t``), and
``--hot`` names the take-off flights trained on (default a, b, c).
Every flight's temperature fields (``run.py thermal``) and HF run (``run.py hf`` on
``--ranks`` ranks) are made once and kept. The global ROM and the dictionary (``[rom]
clusters = "auto"``: the a priori criterion chooses k) are built from the six training
flights (serially, in this process; the dictionary's POD tolerance ``--local-eps-u``
if given), and each runs the held-out flights ``--repeat``
times (best time). Printed: the criterion's costs, per ROM its modes and reduced
points, per held-out flight the member selected, the errors (U and p, relative L2
over the steps, against the HF run) and the online time per step (wall and CPU).
"""

import argparse
import os
import sys
import time
from dataclasses import replace

from blade_solver import blade_case, blade_mesh
from common import ROOT, run
from local_bases import held_out

HERE = os.path.dirname(os.path.abspath(__file__))

COLD = {"cold_a": (480.0, 0.35, 0.40, 60.0), "cold_b": (510.0, 0.55, 0.65, 80.0),
        "cold_c": (540.0, 0.70, 0.30, 70.0), "cold_t": (520.0, 0.50, 0.50, 75.0),
        "cold_d": (495.0, 0.45, 0.80, 90.0), "cold_e": (525.0, 0.65, 0.20, 50.0)}
# low-power flights: gas and coolant temperatures, no hot spot (--cold power)
POWER = {"idle_a": (460.0, 360.0), "idle_b": (500.0, 400.0), "idle_c": (540.0, 380.0),
         "idle_d": (480.0, 420.0), "idle_e": (520.0, 340.0), "idle_t": (505.0, 390.0)}
TRAINING = ["cold_a", "cold_b", "cold_c", "a", "b", "c"]
MORE_COLD = ["cold_d", "cold_e"]  # with --more-cold
HELD_OUT = ["cold_t", "t1"]


def cold_loadings():
    """``[loadings.cold_*]`` tables: a low-power flight (gas, hot spot position and
    peak), the coolant at 380 C, shaped as the case's flights."""
    out = []
    for name, (gas, span, chord, peak) in COLD.items():
        spot = (f"gas = {gas}, coolant = 380.0, hs_span = {span}, hs_chord = {chord}, "
                f"hs_peak = {peak}")
        out.append(f"[loadings.{name}]\nfields = [{{time = 0.0, value = 20.0}},\n"
                   f"          {{time = 300.0, thermal = {{{spot}}}}},\n"
                   f"          {{time = 3300.0, thermal = {{{spot}}}}},\n"
                   "          {time = 3600.0, value = 20.0}]\n")
    for name, (gas, coolant) in POWER.items():
        spot = f"gas = {gas}, coolant = {coolant}"
        out.append(f"[loadings.{name}]\nfields = [{{time = 0.0, value = 20.0}},\n"
                   f"          {{time = 300.0, thermal = {{{spot}}}}},\n"
                   f"          {{time = 3300.0, thermal = {{{spot}}}}},\n"
                   "          {time = 3600.0, value = 20.0}]\n")
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="S", choices=["S", "M", "L"])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--more-cold", action="store_true",
                    help="train on five cold flights (cold_d, cold_e too) instead of three")
    ap.add_argument("--cold", default="spots", choices=["spots", "power"],
                    help="the cold regime: low-power flights with small hot spots "
                    "(default) or without hot spot, gas and coolant varying")
    ap.add_argument("--hot", nargs="+", default=["a", "b", "c"],
                    help="the take-off flights trained on (with --cold power)")
    ap.add_argument("--clusters", default="auto",
                    help="the dictionary's [rom] clusters (default auto: the criterion)")
    ap.add_argument("--local-eps-u", type=float, help="the dictionary's POD tolerance "
                    "(default: the case's eps_u, as the global ROM's)")
    ap.add_argument("--subsets", action="store_true",
                    help="instead: one ROM per training subset (the five cold flights, "
                    "with one take-off flight, with all three) on the held-out cold flight")
    args = ap.parse_args()
    from mpi4py import MPI

    from rom.case import load_case
    from rom.offline import build_rom

    folder = os.path.join(HERE, "out", f"blade_local_{args.preset}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(ROOT, "cases", "blade.toml")) as f:
        text = blade_case(f.read(), blade_mesh(args.preset), f"blade_local_{args.preset}")
    path = os.path.join(folder, "blade.toml")
    text = text.replace("[rom]\n", cold_loadings() + "[rom]\n", 1)
    text = text.replace('[output]\n', f'[output]\ndir = "{folder}/results"\n', 1) \
        if "[output]" in text else text + f'\n[output]\ndir = "{folder}/results"\n'
    with open(path, "w") as f:
        f.write(text)
    case = load_case(path)
    training = TRAINING + (MORE_COLD if args.more_cold or args.subsets else [])
    held = HELD_OUT
    if args.cold == "power":
        training = [k for k in POWER if k != "idle_t"] + args.hot
        held = ["idle_t", "t1"]
    py, runpy = sys.executable, os.path.join(ROOT, "run.py")
    files = {}
    for name in training + held:
        out = os.path.join(folder, f"hf_{name}")
        files[name] = os.path.join(out, "snapshots.h5")
        if not os.path.isfile(files[name]):
            run([py, runpy, "thermal", path, "--loading", name], ranks=args.ranks)
            t0 = time.perf_counter()
            run([py, runpy, "hf", path, "--loading", name, "--out", out, "--overwrite"],
                ranks=args.ranks)
            print(f"HF {name}: {time.perf_counter() - t0:.1f} s on {args.ranks} ranks",
                  flush=True)
    comm = MPI.COMM_SELF
    if args.subsets:  # what a cold-only basis misses of cold_t (the criterion's check)
        cold = ["cold_a", "cold_b", "cold_c"] + MORE_COLD
        c = replace(case, rom=replace(case.rom, clusters=None))
        for extra in ([], ["a"], ["b"], ["c"], ["a", "b", "c"]):
            rom = os.path.join(folder, "rom_subset.h5")
            build_rom(c, [files[k] for k in cold + extra], comm, rom, log=None)
            _, nm, m, eu, ep, _, _ = held_out(rom, c, "cold_t", files["cold_t"], 1)
            print(f"cold flights + {extra or 'nothing'}: {nm} modes, {m} points, cold_t "
                  f"error U {eu:.2e}, p {ep:.2e}", flush=True)
        return
    rows = []
    k = args.clusters if args.clusters == "auto" else int(args.clusters)
    for tag, clusters in (("global", None), ("local", k)):
        eps_u = args.local_eps_u if clusters and args.local_eps_u else case.rom.eps_u
        c = replace(case, rom=replace(case.rom, clusters=clusters, eps_u=eps_u))
        rom = os.path.join(folder, f"rom_{tag}{'_more' if args.more_cold else ''}"
                           f"{'_power' if args.cold == 'power' else ''}.h5")
        t0, c0 = time.perf_counter(), time.process_time()
        s = build_rom(c, [files[k] for k in training], comm, rom,
                      log=(lambda line: print(line, flush=True)
                           if "criterion" in line or "local ROM" in line else None))
        modes = s.get("n_modes_members", [s["n_modes"]])
        points = s.get("n_points_members", [s["n_reduced_points"]])
        print(f"{tag:>6} (eps_u {eps_u:g}): modes {modes}, reduced points {points}, offline "
              f"{time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} s CPU",
              flush=True)
        for name in held:
            rows.append((tag, name, *held_out(rom, c, name, files[name], args.repeat)))
    print(f"{'ROM':>6} {'flight':>7} {'member':>6} {'modes':>5} {'points':>6} "
          f"{'error U':>9} {'error p':>9} {'ms/step':>8} {'CPU ms/step':>11}")
    for tag, name, member, nm, m, eu, ep, wall, cpu in rows:
        print(f"{tag:>6} {name:>7} {'-' if member is None else member:>6} {nm:>5} {m:>6} "
              f"{eu:>9.2e} {ep:>9.2e} {wall * 1e3:>8.2f} {cpu * 1e3:>11.2f}")


if __name__ == "__main__":
    main()
