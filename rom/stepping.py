"""Time stepping shared by the HF and the reduced solvers (no PETSc: the online stage
imports it without initializing MPI): the Newton convergence test and sub-stepping
by step cuts."""

import numpy as np

from rom import RomError

__all__ = ["StepFailure", "newton_converged", "advance_with_cuts"]


class StepFailure(RomError):
    """A time step that did not converge (the caller may cut it). Raised on every rank."""


def newton_converged(rnorm, ref, residuals, rtol, it, t):
    """The Newton test shared by the HF and the reduced solvers: append the relative
    residual ``rnorm / ref`` to ``residuals``; True when it is at most ``rtol`` (or the
    residual is exactly zero after an iteration). Raises :class:`StepFailure` when the
    residual is not finite."""
    if not np.isfinite(rnorm):
        raise StepFailure(f"residual is not finite at t = {t:g}, iteration {it}")
    rel = rnorm / ref if ref > 0 else 0.0
    residuals.append(rel)
    return rel <= rtol or (it > 0 and rnorm == 0.0)


def advance_with_cuts(step, u, state, t_old, t_new, max_cuts=8, log=None, guess=None):
    """Go from ``t_old`` to ``t_new`` in sub-steps of ``step(u, state, t, dt) ->
    (u, sigma, C_tan, state, info)`` (which raises :class:`StepFailure`): a failed
    sub-step is halved (down to ``(t_new - t_old) / 2**max_cuts``), and after two
    converged sub-steps in a row the increment doubles again; internal variables are
    committed only after each converged sub-step. ``guess``: an estimate of ``u`` at
    ``t_new`` (e.g. a ROM's prediction), the first Newton iterate of the first attempt,
    ``step(..., guess=guess)`` over the whole increment; if that attempt fails (a
    prediction far from the solution can lead Newton astray where the previous ``u``
    would not), the guess is dropped and the increment is tried again from ``u``, then
    cut as usual.

    Returns ``(u, sigma, C_tan, state, info)``; ``info`` has ``substeps``,
    ``iterations`` (per sub-step), ``residuals`` (of the last sub-step),
    ``restarts`` (converged sub-steps that ``step`` reports as ``restarted``) and
    ``guess_failed`` (the attempt from the guess failed).
    """
    full = t_new - t_old
    dt, t = full, t_old
    iterations, streak, restarts = [], 0, 0
    guess_failed = False
    while t < t_new:
        t_target = t_new if t + dt >= t_new - 1e-12 * full else t + dt
        from_guess = guess is not None and not guess_failed  # (the first attempt)
        try:
            extra = {"guess": guess} if from_guess else {}
            u_new, sigma, C, state_new, info = step(u, state, t_target, t_target - t,
                                                    **extra)
        except StepFailure as exc:
            if from_guess:
                guess_failed = True
                if log:
                    log(f"    the step from the guess failed: {exc}; retrying from the "
                        "previous state")
                continue
            if dt <= full / 2 ** max_cuts * (1 + 1e-9):
                raise RomError(f"step to t = {t_new:g} failed after {max_cuts} cuts "
                               f"(increment {t_target - t:.3g}): {exc}") from None
            dt /= 2
            streak = 0
            if log:
                log(f"    cut: {exc}; retrying with dt = {dt:.4g}")
            continue
        u, state, t = u_new, state_new, t_target
        iterations.append(info["iterations"])
        restarts += int(info.get("restarted", False))
        streak += 1
        if streak >= 2 and dt < full:
            dt, streak = min(2 * dt, full), 0
    return u, sigma, C, state, {"substeps": len(iterations), "iterations": iterations,
                                "residuals": info["residuals"], "restarts": restarts,
                                "guess_failed": guess_failed}
