"""Where the adaptive ROM's error at an HF step comes from, and what two cheaper HF
steps would cost in accuracy (issue 10: why the cube's `hot` loading needs 8 to 10 HF
steps in its first cycle, and why they cannot simply be made cheaper).

    python bench/adaptive_anatomy.py [--n 12] [--tol 2e-2] [--hot-fraction 0.2]
    mpirun -n 2 python bench/adaptive_anatomy.py ...

Runs the adaptive ROM of ``bench/out/cube<n>/`` (run ``bench/online_scaling.py --sizes
<n>`` first) on its loading ``hot``, one 2 s cycle, in this process (the communicator
of the run: serial or under ``mpirun``). At every HF step taken from a ROM prediction
(not after a failed reduced step), from the same state at ``t_{n-1}`` as the step:

* ``prediction``: the true error of the ROM's prediction, per indicator field (Gappy
  reconstruction of the values at the reduced points; relative to the field's peak
  along the run, as the run records it);
* ``law at ROM u``: the error of the law integrated at every quadrature point with the
  ROM's displacement ``Psi gamma_n``, in the same measure: the part of the error that
  comes from the displacement alone, whatever the Gappy bases (no HF solve);
* ``hot share``: the share of the displacement correction ``|u_hf - Psi gamma_n|^2``
  carried by the ``--hot-fraction`` of the nodes whose temperature rises most over the
  cycle, and the fraction of the nodes they are (what an HF correction restricted to
  the hot spot, with the ROM's displacement around it, could capture);
* ``1 iteration``: the field errors of the HF step stopped after one Newton iteration
  from the prediction, against the converged step (the step solved again to the
  HF run's tolerance; relative to the peak as above; U relative to the step's
  increment); the step is solved a third time to the converged one's first relative
  residual (the count of iterations is printed if that took more than one).

The run itself is the usual adaptive run (its HF steps to ``1e-3 tol``); the extra
solves and law evaluations are not timed and change nothing in it.
"""

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def field_errors(a, b, w, comm, peaks, floor):
    """``{field: ||a_f - b_f|| / max(peak_f, ||b_f||)}`` (quadrature-weighted L2), as
    the adaptive run measures its true errors (:func:`rom.indicator.prediction_errors`:
    an internal variable at most ``floor`` everywhere left out)."""
    from rom.indicator import peak_relative, prediction_errors

    return {f: peak_relative(e, n, peaks.get(f, 0.0))
            for f, (e, n) in prediction_errors(a, b, w, comm, floor).items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--tol", type=float, default=2e-2)
    ap.add_argument("--hot-fraction", type=float, default=0.2)
    args = ap.parse_args()
    from mpi4py import MPI

    import rom.adaptive as adaptive
    from rom.case import load_case

    comm = MPI.COMM_WORLD
    d = os.path.join(HERE, "out", f"cube{args.n}")
    rom_path = os.path.join(d, "results", "rom.h5")
    if not os.path.exists(rom_path):
        sys.exit(f"{rom_path} not found: run bench/online_scaling.py --sizes {args.n} first")
    case = load_case(os.path.join(d, "cube.toml"))
    rows = []

    def hot_nodes(ada):
        """This rank's nodes among the ``--hot-fraction`` of all nodes whose temperature
        rises most from the start to the cycle's peak (t = 1 s)."""
        lo = ada.newton.loading
        rise = lo.temperature.nodal(ada.newton.load_time(1.0)) - lo.temperature.nodal(0.0)
        owned = np.concatenate(comm.allgather(rise[: ada.rb.dm.n_owned // 3]))
        return rise > np.sort(owned)[int((1 - args.hot_fraction) * (len(owned) - 1))]

    class Anatomy(adaptive.AdaptiveRom):
        """The adaptive ROM, with the measurements of the module docstring at its HF
        steps (the arguments of each HF step kept for :meth:`prediction_errors`)."""

        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self._hot = hot_nodes(self)
            advance = self._advance = self.newton.advance
            self._step = {}

            def kept(u_old, state_old, t_prev, t, cuts, guess=None):
                self._step = dict(u_old=u_old, state_old={k: v.copy() for k, v in
                                                          state_old.items()},
                                  t_prev=t_prev, t=t, guess=guess)
                return advance(u_old, state_old, t_prev, t, cuts, guess=guess)

            self.newton.advance = kept

        def prediction_errors(self, state, sigma, sig_full, st_full):
            peaks = dict(self._peak)  # before this step's HF norms count in them
            out = super().prediction_errors(state, sigma, sig_full, st_full)
            s = self._step
            if s.get("guess") is not None:
                rows.append(self._measure(s, out, peaks, sig_full, st_full))
            return out

        def _measure(self, s, predicted, peaks, sig_full, st_full):
            m, nw, w = self.rb.model, self.newton, self.rb.w
            names = list(predicted)
            hf = {"sigma": sig_full, **st_full}
            tl = nw.load_time(s["t"])
            T_qp = m.interpolate(nw.loading.temperature.nodal(tl))
            bc, vals = nw.loading.dirichlet_values(tl)
            g = np.array(s["guess"])
            g[bc] = vals
            sig_r, _, st_r, _ = m.law.update(m.strain(g), s["state_old"], T_qp,
                                             s["t"] - s["t_prev"], tangent=False)
            replay = field_errors({f: ({"sigma": sig_r, **st_r})[f] for f in names},
                                  {f: hf[f] for f in names}, w, self.comm, peaks,
                                  self.floor)
            # the HF step again: exactly (the HF run's tolerance), then one iteration
            rtol = nw.rtol
            try:
                nw.rtol = case.solver.rtol
                exact = self._advance(s["u_old"], s["state_old"], s["t_prev"], s["t"], 0,
                                      guess=s["guess"])
                res = exact[4]["residuals"]
                nw.rtol = res[1] * (1 + 1e-9) if len(res) > 1 else rtol
                one = self._advance(s["u_old"], s["state_old"], s["t_prev"], s["t"], 0,
                                    guess=s["guess"])
            finally:
                nw.rtol = rtol
            ex = {"sigma": exact[1], **exact[3]}
            loose = field_errors({f: ({"sigma": one[1], **one[3]})[f] for f in names},
                                 {f: ex[f] for f in names}, w, self.comm, peaks,
                                 self.floor)
            no = self.rb.dm.n_owned
            du = self.comm.allreduce(float(np.sum((one[0] - exact[0])[:no] ** 2)))
            un = self.comm.allreduce(float(np.sum((exact[0] - s["u_old"])[:no] ** 2)))
            loose["U"] = np.sqrt(du / un) if un > 0 else 0.0
            # the displacement correction over the hottest nodes (owned nodes only)
            corr = ((exact[0] - g)[:no].reshape(-1, 3) ** 2).sum(axis=1)
            total = self.comm.allreduce(float(corr.sum()))
            hot = corr[self._hot[: no // 3]].sum()
            share = self.comm.allreduce(float(hot)) / total if total > 0 else 0.0
            return dict(t=s["t"], prediction=predicted, replay=replay, share=share,
                        one=loose, iterations=one[4]["iterations"],
                        residual=res[1] if len(res) > 1 else res[0])

    adaptive.AdaptiveRom = Anatomy  # what adaptive_command builds
    res = adaptive.adaptive_command(case, rom_path, comm, os.path.join(d, "anatomy"),
                                    loading="hot", tol=args.tol, log=None)
    if comm.rank:
        return
    fields = res["indicator_fields"]
    print(f"cube n = {args.n}, loading hot, tol {args.tol:g}, {comm.size} rank(s): "
          f"{res['n_enrichments']} HF steps; hot share: the "
          f"{args.hot_fraction:.0%} hottest nodes")
    head = " | ".join(f"prediction {f} | law at ROM u {f}" for f in fields)
    print(f"| t | {head} | hot share | 1 iteration: residual | "
          + " | ".join(f"1 iteration {f}" for f in ["U", *fields]) + " |")
    print("|---" * (4 + 3 * len(fields)) + "|")

    def cell(d, f):
        return f"{d[f]:.1e}" if f in d else "-"

    for r in rows:
        pairs = " | ".join(f"{cell(r['prediction'], f)} | {cell(r['replay'], f)}"
                           for f in fields)
        ones = " | ".join(cell(r["one"], f) for f in ["U", *fields])
        its = sum(r["iterations"])  # 1, unless its first iterate missed the exact one's
        print(f"| {r['t']:.1f} | {pairs} | {r['share']:.2f} | {r['residual']:.1e}"
              f"{'' if its == 1 else f' ({its} iterations)'} | {ones} |")


if __name__ == "__main__":
    main()
