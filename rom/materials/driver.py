"""Material-point driver: integrate a law along a uniaxial-stress history.

Mixed control at one point: the axial component (11) follows a prescribed strain or
stress history, every other stress component is zero. Each step solves for the
unknown strain components by Newton's method with the law's consistent tangent, so a
wrong tangent shows as slow or failed convergence.
"""

import numpy as np

from rom import RomError

__all__ = ["uniaxial"]


def uniaxial(law, times, strain=None, stress=None, T=20.0, tol=1e-10, max_iter=30):
    """Uniaxial-stress response of ``law`` at one point.

    Parameters
    ----------
    times : (n_steps,) increasing times (the state at ``times[0]`` is the initial one)
    strain, stress : (n_steps,) axial strain or axial stress history (one of them)
    T : float or (n_steps,) temperature

    Returns
    -------
    dict with ``eps (n_steps, 6)``, ``sigma (n_steps, 6)``, ``p (n_steps,)`` and
    ``iterations (n_steps,)``.
    """
    times = np.asarray(times, dtype=float)
    T = np.broadcast_to(np.asarray(T, dtype=float), times.shape)
    control = np.asarray(strain if strain is not None else stress, dtype=float)
    free = np.arange(1, 6) if strain is not None else np.arange(6)
    target = np.zeros(6)
    state = law.initial_state(1)
    eps = np.zeros((1, 6))
    out = {"eps": np.zeros((len(times), 6)), "sigma": np.zeros((len(times), 6)),
           "p": np.zeros(len(times)), "iterations": np.zeros(len(times), dtype=int)}
    for k in range(len(times)):
        dt = times[k] - times[k - 1] if k else 0.0
        if strain is not None:
            eps[0, 0] = control[k]
        else:
            target[0] = control[k]
        for it in range(max_iter):
            sigma, C, new, ok = law.update(eps, state, T[k:k + 1], dt)
            if not ok.all():
                raise RomError(f"local integration failed at step {k} (t = {times[k]:g})")
            r = sigma[0, free] - target[free]
            if np.abs(r).max() <= tol * max(1.0, np.abs(sigma).max()):
                out["iterations"][k] = it
                break
            eps[0, free] -= np.linalg.solve(C[0][np.ix_(free, free)], r)
        else:
            raise RomError(f"material-point Newton did not converge at step {k}")
        state = new
        out["eps"][k], out["sigma"][k] = eps[0], sigma[0]
        out["p"][k] = state.get("p", np.zeros(1))[0]
    return out
