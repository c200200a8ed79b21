"""The Deep Risk Model: shapes, the collinearity penalty, recovery of a planted factor span on a
synthetic factor market, and no future data in a window's fit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from seqalpha.errors import ConfigError, DataError
from seqalpha.risk.drm import (
    DeepRiskModel,
    DRMNet,
    DRMParams,
    collinearity_penalty,
    standardize,
    unexplained_variance,
)
from seqalpha.risk.evaluation import cross_sectional_r2


def factor_market(T: int = 220, N: int = 40, S: int = 3, seed: int = 0):
    """Returns [T, N] = market + tanh(1.5 * styles of t-1) @ factor returns + noise, with slowly
    moving observable styles [T, N, S]; also the true exposures B [T, N, S]."""
    rng = np.random.default_rng(seed)
    s = np.zeros((T, N, S))
    s[0] = rng.standard_normal((N, S))
    for t in range(1, T):
        s[t] = 0.97 * s[t - 1] + np.sqrt(1 - 0.97**2) * rng.standard_normal((N, S))
    B = np.tanh(1.5 * s)
    f = 0.01 * rng.standard_normal((T, S))
    m = 0.01 * rng.standard_normal(T)
    r = np.full((T, N), np.nan)
    noise = 0.006 * rng.standard_normal((T - 1, N))
    r[1:] = m[1:, None] + np.einsum("tns,ts->tn", B[:-1], f[1:]) + noise
    return r, s, B


SMALL = DRMParams(
    n_factors=4,
    seq_len=3,
    hidden=16,
    horizon=3,
    epochs=4,
    train_days=120,
    refit_every=100,
    min_history=20,
    cov_window=60,
    specific_window=40,
    min_specific_obs=10,
)


@pytest.fixture(scope="module")
def market():
    return factor_market()


@pytest.fixture(scope="module")
def fitted(market):
    r, s, _ = market
    uni = np.ones(r.shape, bool)
    return DeepRiskModel(SMALL).fit(r, s, uni, start=170)


def test_network_and_risk_shapes(fitted, market):
    net = DRMNet(n_inputs=4, hidden=8, n_factors=5)
    assert net(torch.randn(30, 7, 4)).shape == (30, 5)
    r, _, _ = market
    X, F, d = fitted.covariance(200)
    N = r.shape[1]
    assert X.shape == (N, 1 + SMALL.n_factors) and F.shape == (5, 5) and d.shape == (N,)
    assert np.all(np.linalg.eigvalsh(F) > 0) and np.all(d > 0)
    np.testing.assert_allclose(X[:, 0], 1.0)  # the market column
    np.testing.assert_allclose(X[:, 1:].mean(axis=0), 0.0, atol=1e-5)  # z-scored factors
    assert not fitted.ready(169) and fitted.ready(170)
    with pytest.raises(DataError, match="not served"):
        fitted.covariance(100)


def test_penalty_grows_with_collinearity():
    g = torch.Generator().manual_seed(0)
    a, noise = torch.randn(500, 1, generator=g), torch.randn(500, 1, generator=g)
    values = []
    for rho in (0.0, 0.5, 0.9, 0.99):
        b = rho * a + np.sqrt(1 - rho**2) * noise
        values.append(float(collinearity_penalty(standardize(torch.cat([a, b], 1)))))
    assert values[0] == pytest.approx(2.0, abs=0.02)  # orthogonal: trace of I_2
    assert all(x < y for x, y in itertools.pairwise(values))
    assert values[-1] > 50  # 2 / (1 - rho^2) ~ 100


def test_unexplained_variance_is_one_minus_r2():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 3))
    y = X @ np.array([1.0, -0.5, 0.2]) + rng.standard_normal(80)
    design = torch.from_numpy(np.column_stack([np.ones(80), X]))
    uv = float(unexplained_variance(design, torch.from_numpy(y[:, None])))
    assert uv == pytest.approx(1 - cross_sectional_r2(y, X), abs=1e-6)


def test_recovers_the_planted_factor_span(fitted, market):
    """Out of sample (rows after the fit's cut-off), the learned exposures explain next-day
    returns nearly as well as the true exposures, and far better than random ones."""
    r, _, B = market
    rng = np.random.default_rng(0)
    drm, true, rand = [], [], []
    for t in range(170, r.shape[0] - 1):
        drm.append(cross_sectional_r2(r[t + 1], fitted.exposures(t)[:, 1:]))
        true.append(cross_sectional_r2(r[t + 1], B[t]))
        rand.append(cross_sectional_r2(r[t + 1], rng.standard_normal(B[t].shape)))
    assert np.mean(drm) > np.mean(true) - 0.1
    assert np.mean(drm) > np.mean(rand) + 0.4


def test_no_future_data_in_a_windows_fit(fitted, market):
    """Changing returns after row t0 changes nothing the model serves on rows <= t0."""
    r, s, _ = market
    t0 = 185
    r2, s2 = r.copy(), s.copy()
    r2[t0 + 1 :] *= -3.0
    s2[t0 + 1 :] = 0.0
    other = DeepRiskModel(SMALL).fit(r2, s2, np.ones(r.shape, bool), start=170)
    for t in (170, t0):
        for a, b in zip(fitted.covariance(t), other.covariance(t), strict=True):
            np.testing.assert_array_equal(a, b)
    assert not np.allclose(fitted.exposures(t0 + 5), other.exposures(t0 + 5))


def test_bad_settings_are_one_line_errors(market):
    r, s, _ = market
    with pytest.raises(ConfigError, match="n_factors"):
        DRMParams(n_factors=1)
    with pytest.raises(DataError, match="start"):
        DeepRiskModel(SMALL).fit(r, s, np.ones(r.shape, bool), start=3)
    with pytest.raises(ConfigError, match="industry"):
        DeepRiskModel(DRMParams(use_industry=True)).fit(r, s, np.ones(r.shape, bool), start=170)


def test_industry_dummies_join_the_exposures(market):
    r, s, _ = market
    ind = np.tile(np.arange(r.shape[1]) % 3, (r.shape[0], 1))
    p = DRMParams(**{**SMALL.__dict__, "use_industry": True, "epochs": 1, "refit_every": 50})
    m = DeepRiskModel(p).fit(r, s, np.ones(r.shape, bool), start=200, industry=ind)
    X, F, _ = m.covariance(210)
    assert X.shape[1] == 1 + 3 + p.n_factors and F.shape == (8, 8)
    np.testing.assert_array_equal(X[:, 1:4].argmax(axis=1), ind[210])


def test_the_optimizer_takes_its_covariance_like_the_barra_ones(fitted, market):
    from seqalpha.portfolio.optimizer import OptimizerParams, optimize_weights

    r, _, _ = market
    scores = np.random.default_rng(2).standard_normal(r.shape)
    scores[:170] = np.nan  # rows before the first fit: no decision
    w = optimize_weights(scores, fitted, OptimizerParams(max_weight=0.1, risk_aversion=10))
    assert np.isnan(w[:170]).all()
    np.testing.assert_allclose(w[170:].sum(axis=1), 1.0, atol=1e-6)
    assert fitted.portfolio_variance(200, w[200]) > 0
