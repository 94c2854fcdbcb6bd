"""The indicator's calibration (rom.indicator) and the snapshot coordinates it uses
(rom.pod), each against a direct computation on the full fields."""

import numpy as np
import pytest

from rom.indicator import QUANTILE, WINDOW, calibration_factor, indicator_fields
from rom.pod import fields_pod, incremental_pod


class _Serial:
    def allreduce(self, x, op=None):
        return x


def _localized_snapshots(n=600, n_s=30, seed=0):
    """Fields with moving, growing bumps (like plastic zones) on [0, 1]."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, n)
    S = []
    for k in range(n_s):
        c, w = 0.3 + 0.4 * rng.random(), 0.03 + 0.1 * rng.random()
        S.append(np.exp(-((x - c) / w) ** 2) * (1 + k / n_s) + 0.05 * np.sin(3 * x * (k + 1)))
    return np.array(S).T


def test_snapshot_coordinates_of_the_pod_and_of_its_update():
    comm = _Serial()
    S = _localized_snapshots()
    w = np.full(len(S), 1.0 / len(S))
    pod = fields_pod(list(S.T[:20]), comm, w, eps=1e-12, normalize=True)
    unit = S[:, :20] / np.sqrt(w @ S[:, :20] ** 2)
    np.testing.assert_allclose(pod.coefficients, pod.modes.T @ (w[:, None] * unit),
                               atol=1e-8)
    new = S[:, 20:] / np.sqrt(w @ S[:, 20:] ** 2)
    upd = incremental_pod(pod, new, comm, w, eps=1e-12)
    both = np.hstack([unit, new])
    np.testing.assert_allclose(upd.coefficients, upd.modes.T @ (w[:, None] * both),
                               atol=1e-7)


def test_calibration_factor_equals_the_direct_gappy_reconstruction_errors():
    """The factor from the small matrices (QR of the mask, snapshot coordinates) equals
    the quantile of (error over all rows) / (residual at the mask rows) computed from the
    full fields, basis truncation by basis truncation."""
    comm = _Serial()
    S = _localized_snapshots()
    w = np.full(len(S), 1.0 / len(S))
    pod = fields_pod(list(S.T), comm, w, eps=1e-6, normalize=True)
    Phi, A = pod.modes, pod.coefficients
    X = Phi @ A  # the snapshots as the basis holds them
    rows = np.unique(np.r_[np.argsort(-np.abs(Phi).max(axis=1))[:2 * pod.n_modes],
                          np.arange(0, len(S), 37)])
    factor, n = calibration_factor(Phi[rows], A)
    ratios = []
    for k in range(1, pod.n_modes):
        C = np.linalg.lstsq(Phi[rows, :k], X[rows], rcond=None)[0]
        res = np.linalg.norm(X[rows] - Phi[rows, :k] @ C, axis=0) / np.linalg.norm(
            X[rows], axis=0)
        err = np.sqrt(w @ (X - Phi[:, :k] @ C) ** 2) / np.sqrt(w @ X ** 2)
        sel = (err >= WINDOW[0]) & (err <= WINDOW[1]) & (res > 0)
        ratios += list(err[sel] / res[sel])
    assert n == len(ratios) > 50
    assert factor == pytest.approx(np.quantile(ratios, QUANTILE), rel=1e-8)
    # the mask rows sit where the fields peak: the residual there under-reads
    assert factor > 1.0
    assert calibration_factor(Phi[rows, :1], A[:1]) == (1.0, 0)  # nothing to measure


def test_indicator_fields_are_checked():
    from rom import RomError

    law = ("p", "eps_vp", "X")
    assert indicator_fields(None, law, {"sigma", "p", "eps_vp", "X"}) == [
        "sigma", "p", "eps_vp"]
    assert indicator_fields(None, (), {"sigma"}) == ["sigma"]
    with pytest.raises(RomError, match="no Gappy basis of the indicator field"):
        indicator_fields(["sigma", "X"], law, {"sigma"})
    with pytest.raises(RomError, match="neither sigma nor an internal variable"):
        indicator_fields(["q"], law, {"sigma"})
