"""Hyper-reduction methods side by side on one nonlinear solid case.

    python bench/methods.py [--case cases/cube.toml] [--methods ecm nnls]
                            [--adaptive] [--repeat 3]

Uses the training snapshots and the HF reference of the case's pipeline (run
``make demo`` first for the default cube: results/cube/train_*, hf_test, hf_hot).
For each method (``[rom] hyper``), serially and in one process, side by side:
the offline build (same snapshots, same POD and Gappy bases; only the reduced
quadrature differs), the number of reduced points, the relative error of the reduced
internal forces on the training stresses (the quadrature residual), the
reproduction of a training trajectory and the error on the test loading against HF,
the online time per step (best of ``repeat``), and with ``--adaptive`` the adaptive
ROM on the case's first ``[rom] adaptive`` loading (HF steps, errors, time). Prints
a Markdown table and writes ``bench/out/methods/methods.png``.
"""

import argparse
import os
import sys
import time
from dataclasses import replace

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--case", default=os.path.join(ROOT, "cases", "cube.toml"))
    p.add_argument("--methods", nargs="+", default=["ecm", "nnls"])
    p.add_argument("--adaptive", action="store_true")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()

    from mpi4py import MPI

    from rom.adaptive import adaptive_command
    from rom.archive import read_archive
    from rom.case import load_case
    from rom.offline import build_rom
    from rom.online import online_command
    from rom.report import relative_errors
    from rom.snapshots import read_snapshots

    comm = MPI.COMM_WORLD
    base = load_case(args.case)
    res_dir = os.path.join(ROOT, base.output_dir) if not os.path.isabs(
        base.output_dir) else base.output_dir
    files = [os.path.join(res_dir, f"train_{k}", "snapshots.h5") for k in base.rom.training]
    test = base.rom.test
    ref = os.path.join(res_dir, f"hf_{test}", "snapshots.h5")
    missing = [f for f in files + [ref] if not os.path.exists(f)]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: run the case's pipeline first (make demo)")
    out = os.path.join(HERE, "out", "methods")
    os.makedirs(out, exist_ok=True)

    def errors(folder, reference):
        r = read_snapshots(os.path.join(folder, "online.h5"), ("U",), ("p",))
        h = read_snapshots(reference, ("U",), ("p",))
        return relative_errors(r["U"], h["U"])[1], relative_errors(r["qp/p"], h["qp/p"])[1]

    rows = []
    for method in args.methods:
        case = replace(base, rom=replace(base.rom, hyper=method))
        path = os.path.join(out, f"rom_{method}.h5")
        t0, c0 = time.perf_counter(), time.process_time()
        s = build_rom(case, files, comm, path, log=None)
        t_off, c_off = time.perf_counter() - t0, time.process_time() - c0
        a = read_archive(path)
        print(f"{method}: offline {t_off:.2f} s, {s['n_ecm_points']} quadrature / "
              f"{s['n_reduced_points']} reduced points, force error {s['ecm_residual']:.2e}",
              flush=True)
        row = {"method": method, "offline": t_off, "offline_cpu": c_off,
               "ecm_points": s["n_ecm_points"], "points": s["n_reduced_points"],
               "force_residual": s["ecm_residual"]}
        # reproduction of the first training trajectory, error on the test loading
        train = base.rom.training[0]
        online_command(case, path, comm, os.path.join(out, f"{method}_train"), train,
                       log=None)
        row["train_u"], row["train_p"] = errors(os.path.join(out, f"{method}_train"),
                                                files[0])
        best = float("inf")
        for _ in range(args.repeat):
            on = online_command(case, path, comm, os.path.join(out, f"{method}_test"), test,
                                log=None)
            best = min(best, on["time_online"] / len(on["res"]["times"]))
        row["online_step"] = best
        row["test_u"], row["test_p"] = errors(os.path.join(out, f"{method}_test"), ref)
        if args.adaptive and base.rom.adaptive:
            name = base.rom.adaptive[0]
            ada_ref = os.path.join(res_dir, f"hf_{name}", "snapshots.h5")
            t0 = time.perf_counter()
            ada = adaptive_command(case, path, comm, os.path.join(out, f"{method}_ada"), name,
                                   log=None)
            row["ada_time"] = time.perf_counter() - t0
            row["ada_hf"] = ada["n_enrichments"]
            row["ada_update"] = ada["timings"]["update"] / max(ada["n_enrichments"], 1)
            row["ada_points"] = ada["final_points"]
            if os.path.exists(ada_ref):
                row["ada_u"], row["ada_p"] = errors(os.path.join(out, f"{method}_ada"), ada_ref)
        row["modes"] = a["basis"]["U"].shape[1]
        rows.append(row)

    print(f"case {base.name} ({os.path.relpath(args.case, ROOT)}), training "
          f"{', '.join(base.rom.training)}, test {test}; serial, one process")
    print("| method | offline [s] (CPU) | quadrature points / reduced points | force error on "
          "training stresses | training trajectory U / p | test U / p | online per step "
          "[ms] |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['offline']:.2f} ({r['offline_cpu']:.2f}) | "
              f"{r['ecm_points']} / {r['points']} | {r['force_residual']:.2e} | "
              f"{r['train_u']:.1e} / {r['train_p']:.1e} | {r['test_u']:.2e} / "
              f"{r['test_p']:.2e} | {r['online_step'] * 1e3:.2f} |")
    if args.adaptive:
        print("\n| method | adaptive on " + (base.rom.adaptive[0] if base.rom.adaptive else "-")
              + ": HF steps | error U / p | time [s] | per update [s] | reduced points at "
              "the end |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            if "ada_time" in r:
                print(f"| {r['method']} | {r['ada_hf']} | {r.get('ada_u', float('nan')):.2e} "
                      f"/ {r.get('ada_p', float('nan')):.2e} | {r['ada_time']:.1f} | "
                      f"{r['ada_update']:.2f} | {r['ada_points']} |")
    _plot(os.path.join(out, "methods.png"), rows)


def _plot(path, rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    names = [r["method"] for r in rows]
    ax = axes[0]
    ax.scatter([r["points"] for r in rows], [r["test_p"] for r in rows])
    for r in rows:
        ax.annotate(r["method"], (r["points"], r["test_p"]))
    ax.set_xlabel("reduced points")
    ax.set_ylabel("error of p on the test loading (relative L2)")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax = axes[1]
    ax.bar(names, [r["online_step"] * 1e3 for r in rows])
    ax.set_ylabel("online time per step [ms]")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
