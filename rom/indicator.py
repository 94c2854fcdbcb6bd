"""The adaptive ROM's error indicator: calibrated Gappy residuals of several fields.

For a dual field ``f`` (``p``, ``eps_vp``, ``sigma``...) with Gappy basis ``Psi`` (unit
snapshots, weighted L2 product) and rows ``Psi_mask`` at the reduced points, the
residual of values ``f_hat`` computed by the law at those points is

    r_f = ||f_hat - Psi_mask c*|| / ||f_hat||,   c* = argmin ||Psi_mask c - f_hat||

(:meth:`rom.online.ReducedModel.gappy_residual`, cost ``O(m r)``). It measures how far
the field at the points is from the basis, but on another scale than the error of the
reconstruction over the whole mesh, ``e_f = ||Psi c* - f|| / ||f||``: the points sit
where the field varies most, so ``r_f`` under-reads ``e_f`` for a localized field
such as ``p`` (by 1.5 to 4 times on the cube) and over-reads it for the stress.

Calibration (offline, and again after every enrichment)
    The training snapshots are written in the basis, ``f_j = Psi a_j``
    (:attr:`rom.pod.PODResult.coefficients`). Truncating the basis to its first ``k``
    modes makes every snapshot a field the basis does not hold: its values at the
    points are ``Psi_mask a_j``, the Gappy coefficients ``c`` from the first ``k``
    columns, the residual ``r`` at the points and the error over the mesh
    ``e^2 = ||a_j[:k] - c||^2 + ||a_j[k:]||^2`` (``Psi`` is orthonormal) are all
    computed from the small matrices (a QR factorization of ``Psi_mask``: no mesh-size
    operation). Over every snapshot and truncation whose error lies in ``window``
    (1e-3 to 0.3: the errors an indicator must tell apart), the factor ``c_f`` is the
    ``quantile`` (0.9) of ``e / r``: ``c_f r_f`` then reads the mesh error of ``f``
    from above in 9 cases of 10 on the training fields.

Indicator
    ``E_n = max_f c_f r_f`` over the indicator fields (default: ``sigma`` and the
    law's ``p`` and ``eps_vp``; :mod:`rom.adaptive` also scales each term to the
    field's peak along the run and by what the run's HF steps measured): an estimate
    of the largest relative error of the predicted fields. The stress term sees what
    the plastic ones cannot: an elastic unloading after plasticity, an elastic step
    under a temperature field unlike the training ones. Internal variables are
    skipped while the step is elastic (``max |p| <= floor``): they are then zero or
    round-off. Its true counterpart, the largest error of the ROM's prediction of the
    same fields (:func:`prediction_errors`), is measured at every HF step of an
    adaptive run.
"""

import numpy as np

from rom import RomError, mpi_op

__all__ = ["calibration_factor", "DEFAULT_FIELDS", "indicator_fields",
           "prediction_errors", "peak_relative"]

DEFAULT_FIELDS = ("sigma", "p", "eps_vp")
QUANTILE = 0.9
WINDOW = (1e-3, 0.3)


def calibration_factor(mask, coefficients, quantile=QUANTILE, window=WINDOW):
    """``(c_f, n)``: the calibration factor of the module docstring from the basis
    rows at the reduced points ``mask (m c, r)`` and the snapshot coordinates
    ``coefficients (r, n_s)``, and the number of (snapshot, truncation) pairs it was
    measured on; ``(1.0, 0)`` when there is none (fewer than 2 modes, or no snapshot
    error in ``window``)."""
    mask = np.asarray(mask, dtype=float)
    A = np.asarray(coefficients, dtype=float)
    r = mask.shape[1]
    if r < 2 or A.size == 0 or mask.shape[0] < r:
        return 1.0, 0
    R = np.linalg.qr(mask, mode="r")  # (Q itself is not needed)
    Y = R @ A  # values at the points, in the orthonormal basis Q of the mask's span
    norm_y = np.linalg.norm(Y, axis=0)
    norm_a = np.linalg.norm(A, axis=0)
    ok = (norm_y > 0) & (norm_a > 0)
    Y, A, norm_y, norm_a = Y[:, ok], A[:, ok], norm_y[ok], norm_a[ok]
    # tails ||Y[k:]||, ||A[k:]|| for every k
    tail_y = np.sqrt(np.cumsum((Y ** 2)[::-1], axis=0)[::-1])
    tail_a = np.sqrt(np.cumsum((A ** 2)[::-1], axis=0)[::-1])
    diag = np.abs(np.diag(R))
    ratios = []
    for k in range(1, r):
        if diag[:k].min() <= 1e-12 * diag.max():  # the first k columns are degenerate
            break
        C = np.linalg.solve(np.triu(R[:k, :k]), Y[:k])
        res = tail_y[k] / norm_y
        err = np.sqrt(np.sum((A[:k] - C) ** 2, axis=0) + tail_a[k] ** 2) / norm_a
        sel = (err >= window[0]) & (err <= window[1]) & (res > 0)
        ratios.append(err[sel] / res[sel])
    ratios = np.concatenate(ratios) if ratios else np.zeros(0)
    if ratios.size == 0:
        return 1.0, 0
    return float(np.quantile(ratios, quantile)), int(ratios.size)


def indicator_fields(requested, law_fields, available):
    """The indicator fields: ``requested`` (a list, or None for
    :data:`DEFAULT_FIELDS` restricted to the law's), each of which must be ``sigma``
    or an internal variable of the law (``law_fields``) with a Gappy basis in
    ``available``; :class:`rom.RomError` otherwise."""
    known = ("sigma", *law_fields)
    if requested is None:
        fields = [f for f in DEFAULT_FIELDS if f in known]
    else:
        fields = list(requested)
        if not fields:
            raise RomError("adaptive ROM: the indicator needs at least one field")
        unknown = [f for f in fields if f not in known]
        if unknown:
            raise RomError(f"adaptive ROM: indicator field(s) {', '.join(unknown)} are "
                           f"neither sigma nor an internal variable of the law "
                           f"({', '.join(law_fields) or 'none'})")
    missing = [f for f in fields if f not in available]
    if missing:
        raise RomError(f"adaptive ROM: no Gappy basis of the indicator field(s) "
                       f"{', '.join(missing)}; add them to [rom] gappy and rebuild the ROM")
    return fields


def prediction_errors(predicted, reference, weights, comm, floor):
    """Collective. ``{field: (||f_rom - f_hf||, ||f_hf||)}`` (quadrature-weighted L2
    over the mesh, rows distributed) of the predicted fields ``predicted`` (local
    quadrature arrays) against ``reference``; an internal variable whose reference is
    at most ``floor`` everywhere (an elastic step) is left out."""
    out = {}
    for name, f in predicted.items():
        g = np.asarray(reference[name], dtype=float).reshape(len(weights), -1)
        f = np.asarray(f, dtype=float).reshape(g.shape)
        big = comm.allreduce(float(np.abs(g).max(initial=0.0)), op=mpi_op("MAX"))
        if name != "sigma" and big <= floor:
            continue
        num = comm.allreduce(float(weights @ np.sum((f - g) ** 2, axis=1)))
        den = comm.allreduce(float(weights @ np.sum(g ** 2, axis=1)))
        out[name] = (float(np.sqrt(num)), float(np.sqrt(den)))
    return out


def peak_relative(err, norm, peak):
    """``err / max(peak, norm)`` (0 when both are 0): an error of
    :func:`prediction_errors` relative to the field's peak norm along a run, the HF
    norm ``norm`` counting in it."""
    ref = max(peak, norm)
    return err / ref if ref > 0 else 0.0

