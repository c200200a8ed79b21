"""The factor risk model on the real CSI300 store: point-in-time Shenwan industries and market
cap, and a calibration check (random portfolios' next-day returns over predicted risk)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from seqalpha.data.qlib_bin import load_panel
from seqalpha.risk import fit_factor_model


@pytest.fixture(scope="module")
def csi300_model(csi300_dir, meta_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # codes listed without data files
        panel = load_panel(csi300_dir, ["close", "factor"], "csi300", "2018-01-01", "2020-12-31")
    return panel, fit_factor_model(csi300_dir, panel, meta_dir=meta_dir)


def test_real_model_covers_the_universe(csi300_model):
    panel, m = csi300_model
    assert m.factor_names[-3:] == ["size", "momentum", "volatility"]
    assert 25 <= len(m.industries) <= 31  # SW2021 level-1 industries present in CSI300
    t = panel.shape[0] - 1
    _, F, d = m.covariance(t)
    inside = panel.universe[t] & np.isfinite(panel["close"][t])
    assert np.isfinite(d[inside]).mean() > 0.99
    assert np.linalg.eigvalsh(F).min() > -1e-15
    # every industry with members today has factor variance
    today = np.unique(m.industry_col[t][inside & (m.industry_col[t] >= 0)])
    assert np.all(np.diag(F)[today] > 1e-6)
    # daily specific volatility of large caps: between 0.5% and 5%
    assert 0.005 < np.sqrt(np.nanmedian(d[inside])) < 0.05


def test_real_model_predicts_risk_of_random_portfolios(csi300_model):
    """Bias statistic: std of r_{t+1} / sigma_t over random 30-name portfolios is close to 1."""
    panel, m = csi300_model
    T, N = panel.shape
    close = panel["close"].astype(np.float64)
    r = np.full((T, N), np.nan)
    r[1:] = close[1:] / close[:-1] - 1.0
    rng = np.random.default_rng(0)
    z = []
    for t in range(300, T - 1, 3):
        _, _, d = m.covariance(t)
        idx = np.flatnonzero(np.isfinite(d) & panel.universe[t] & np.isfinite(r[t + 1]))
        for _ in range(3):
            w = np.zeros(N)
            w[rng.choice(idx, 30, replace=False)] = 1.0 / 30
            z.append(w @ np.nan_to_num(r[t + 1]) / np.sqrt(m.portfolio_variance(t, w)))
    assert len(z) > 300
    assert 0.8 < np.std(z) < 1.25
