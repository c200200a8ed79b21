"""Factor risk model: planted factor returns are recovered, covariance(t) reads no data after t,
the factor form matches the dense covariance, and inputs are validated."""

from __future__ import annotations

import numpy as np
import pytest

from seqalpha.errors import ConfigError, DataError
from seqalpha.risk import FactorModelParams, FactorRiskModel, style_exposures

PARAMS = FactorModelParams(
    momentum_window=20,
    momentum_skip=5,
    volatility_window=20,
    cov_window=120,
    cov_half_life=40.0,
    specific_window=60,
    specific_half_life=20.0,
    min_specific_obs=10,
    min_history=20,
    return_clip=None,
)


def planted_market(T: int = 140, N: int = 150, G: int = 4, seed: int = 0):
    """Returns generated day by day as exposures(t-1) @ f_t + noise, with the model's own
    point-in-time style exposures; returns (r, industry, cap, value, f_true [T, K], noise)."""
    rng = np.random.default_rng(seed)
    ind = np.tile(rng.integers(0, G, N), (T, 1)).astype(np.int32)
    ind[:, :G] = np.arange(G)  # every industry has members
    cap = np.exp(rng.normal(22.0, 1.0, N))[None, :] * np.exp(
        np.cumsum(rng.normal(0, 0.01, (T, N)), 0)
    )
    value = rng.normal(0.0, 1.0, (T, N))
    uni = np.ones((T, N), bool)
    K = G + 4
    f_true = rng.normal(0.0, 0.01, (T, K))
    noise = rng.normal(0.0, 0.01, (T, N))
    r = np.full((T, N), np.nan)
    for t in range(1, T):
        # exposures at the close of t-1 from data up to t-1 only
        _, sty = style_exposures(r[:t], cap[:t], uni[:t], value[:t], PARAMS)
        X = np.zeros((N, K))
        X[np.arange(N), ind[t - 1]] = 1.0
        X[:, G:] = sty[t - 1]
        r[t] = X @ f_true[t] + noise[t]
    return r, ind, cap, value, f_true, noise


@pytest.fixture(scope="module")
def planted():
    return planted_market()


@pytest.fixture(scope="module")
def fitted(planted):
    r, ind, cap, value, _, _ = planted
    return FactorRiskModel(PARAMS).fit(r, ind, cap, value=value)


def test_recovers_planted_factor_returns(planted, fitted):
    _, _, _, _, f_true, noise = planted
    assert fitted.factor_names == [
        "industry_0",
        "industry_1",
        "industry_2",
        "industry_3",
        "size",
        "momentum",
        "volatility",
        "value",
    ]
    est = fitted.factor_returns
    # from the day every style exposure is defined (momentum needs 10 + 5 days of history)
    rows = np.arange(20, est.shape[0])
    for k, name in enumerate(fitted.factor_names):
        c = np.corrcoef(est[rows, k], f_true[rows, k])[0, 1]
        assert c > 0.95, (name, c)
    # specific returns are the planted noise
    u = fitted.specific_returns[rows].ravel()
    assert np.corrcoef(u, noise[rows].ravel())[0, 1] > 0.95


def test_specific_variance_tracks_noise_level(planted):
    r, ind, cap, value, _, _ = planted
    # double the noise of the first 30 names: their specific variance must be about 4x
    rng = np.random.default_rng(5)
    r2 = r.copy()
    r2[1:, :30] += rng.normal(0, 0.0173, (r.shape[0] - 1, 30))  # total sd ~ 0.02
    m = FactorRiskModel(PARAMS).fit(r2, ind, cap, value=value)
    d = m.specific_variance(r.shape[0] - 1)
    ratio = np.median(d[:30]) / np.median(d[30:])
    assert 3.0 < ratio < 5.5, ratio
    assert 0.5e-4 < np.median(d[30:]) < 2e-4  # 0.01 ** 2 = 1e-4


def test_covariance_reads_no_data_after_t(planted):
    r, ind, cap, value, _, _ = planted
    t = 90
    base = FactorRiskModel(PARAMS).fit(r, ind, cap, value=value).covariance(t)
    rng = np.random.default_rng(1)
    r2, cap2, val2, ind2 = r.copy(), cap.copy(), value.copy(), ind.copy()
    r2[t + 1 :] += rng.normal(0, 0.05, r2[t + 1 :].shape)
    cap2[t + 1 :] *= 3.0
    val2[t + 1 :] = rng.normal(size=val2[t + 1 :].shape)
    ind2[t + 1 :] = np.roll(ind2[t + 1 :], 7, axis=1)
    after = FactorRiskModel(PARAMS).fit(r2, ind2, cap2, value=val2).covariance(t)
    for a, b in zip(base, after, strict=False):
        np.testing.assert_array_equal(a, b)
    # ... while a change at day t itself does change it (the check can fail)
    r3 = r.copy()
    r3[t] += rng.normal(0, 0.05, r.shape[1])
    changed = FactorRiskModel(PARAMS).fit(r3, ind, cap, value=value).covariance(t)
    assert not np.allclose(changed[1], base[1]) and not np.allclose(changed[2], base[2])


def test_factor_form_matches_dense_covariance(fitted):
    t = fitted.shape[0] - 1
    X, F, d = fitted.covariance(t)
    N, K = X.shape
    assert F.shape == (K, K) and d.shape == (N,)
    np.testing.assert_allclose(F, F.T)
    assert np.linalg.eigvalsh(F).min() > 0
    C = fitted.full_covariance(t)
    assert C.shape == (N, N)
    w = np.random.default_rng(2).dirichlet(np.ones(N))
    np.testing.assert_allclose(fitted.portfolio_variance(t, w), w @ C @ w, rtol=1e-10)
    # exposures at t: one industry dummy per name, z-scored styles (mean 0 over the universe)
    assert np.all(X[:, :4].sum(axis=1) == 1.0)
    np.testing.assert_allclose(X[:, 4:].mean(axis=0), 0.0, atol=0.05)


def test_factor_covariance_is_shrunk_ewma_of_factor_returns(fitted):
    t = 100
    p = fitted.params
    f = fitted.factor_returns[max(0, t - p.cov_window + 1) : t + 1]
    f = f[np.isfinite(f).all(axis=1)]
    age = np.arange(len(f))[::-1]
    w = 0.5 ** (age / p.cov_half_life)
    w /= w.sum()
    S = sum(wi * np.outer(fi, fi) for wi, fi in zip(w, f, strict=False))  # slow reference
    ref = (1 - p.factor_shrinkage) * S + p.factor_shrinkage * np.diag(np.diag(S))
    np.testing.assert_allclose(fitted.factor_covariance(t), ref, rtol=1e-10)


def test_names_without_industry_or_enough_residuals(planted):
    r, ind, cap, value, _, _ = planted
    ind2 = ind.copy()
    ind2[:, 10] = -1  # never classified: no risk
    r2 = r.copy()
    r2[:-5, 11] = np.nan  # only 4 residuals: median specific variance
    m = FactorRiskModel(PARAMS).fit(r2, ind2, cap, value=value)
    X, _, d = m.covariance(r.shape[0] - 1)
    assert np.isnan(d[10]) and np.isnan(X[10]).all()
    enough = np.isfinite(m.specific_returns[-PARAMS.specific_window :]).sum(0) >= 10
    assert not enough[11]
    assert d[11] == pytest.approx(np.median(d[enough & np.isfinite(d)]))
    assert not m.ready(PARAMS.min_history - 1) and m.ready(PARAMS.min_history)
    with pytest.raises(DataError, match="row 5"):
        m.covariance(5)


def test_universe_limits_the_regression_but_not_the_exposures(planted):
    r, ind, cap, value, _, _ = planted
    uni = np.ones(r.shape, bool)
    uni[:, 100:] = False
    m = FactorRiskModel(PARAMS).fit(r, ind, cap, universe=uni, value=value)
    assert m.n_names[50] == 100
    X, _, d = m.covariance(r.shape[0] - 1)
    # names outside the universe still have exposures and residuals (e.g. when still held)
    assert np.isfinite(X[120]).all() and np.isfinite(d[120])


def test_input_validation():
    r = np.zeros((10, 3))
    ind = np.zeros((10, 3), np.int32)
    cap = np.ones((10, 3))
    with pytest.raises(DataError, match="industry"):
        FactorRiskModel().fit(r, ind.astype(float), cap)
    with pytest.raises(DataError, match="market_cap"):
        FactorRiskModel().fit(r, ind, cap[:5])
    with pytest.raises(DataError, match="no known industry"):
        FactorRiskModel().fit(r, ind - 1, cap)
    with pytest.raises(ConfigError, match="factor_shrinkage"):
        FactorModelParams(factor_shrinkage=1.5)
    with pytest.raises(ConfigError, match="weighting"):
        FactorRiskModel(weighting="cap")
    with pytest.raises(ConfigError, match="fit"):
        FactorRiskModel().covariance(0)


def test_batched_regression_equals_per_day_weighted_lstsq():
    rng = np.random.default_rng(4)
    T, N = 30, 40
    r = rng.normal(0, 0.02, (T, N))
    r[5, :7] = np.nan
    ind = rng.integers(0, 3, (T, N)).astype(np.int32)
    ind[12] = np.where(ind[12] == 2, 0, ind[12])  # industry 2 empty on day 12 -> factor 0 on day 13
    cap = np.exp(rng.normal(22, 1, (T, N)))
    cap[:, 3] = np.nan  # no cap: weight = the day's median weight
    uni = rng.random((T, N)) > 0.1
    p = FactorModelParams(
        momentum_window=6, momentum_skip=1, volatility_window=6, min_history=5, return_clip=0.03
    )
    m = FactorRiskModel(p).fit(r, ind, cap, universe=uni)
    for t in range(7, T):  # slow reference: one lstsq per day on the rows used
        X = np.zeros((N, 3 + 3))
        X[np.arange(N), ind[t - 1]] = 1.0
        X[:, 3:] = m.styles[t - 1]
        y = np.clip(r[t], -0.03, 0.03)
        rows = uni[t - 1] & np.isfinite(y)
        w = np.sqrt(cap[t - 1])
        w[~np.isfinite(w)] = np.median(w[rows & np.isfinite(w)])
        sw = np.sqrt(w[rows])
        f, *_ = np.linalg.lstsq(X[rows] * sw[:, None], y[rows] * sw, rcond=None)
        np.testing.assert_allclose(m.factor_returns[t], f, atol=1e-9)
        ok = np.isfinite(y)
        np.testing.assert_allclose(m.specific_returns[t, ok], (y - X @ f)[ok], atol=1e-9)
        assert m.n_names[t] == rows.sum()
    assert m.factor_returns[13, 2] == 0.0


def test_view_serves_the_model_on_a_later_sub_grid(planted):
    r, ind, cap, value, _, _ = planted
    T, N = r.shape
    dates = np.datetime64("2024-01-01") + np.arange(T)
    inst = np.array([f"S{i:03d}" for i in range(N)])
    m = FactorRiskModel(PARAMS).fit(r, ind, cap, value=value, dates=dates, instruments=inst)
    # a backtest grid: the last 30 days, two of the model's names (reversed) and an unknown one
    v = m.view(dates[-30:], np.array(["S005", "S002", "NEW"]))
    assert v.shape == (30, 3)
    X, F, d = v.covariance(29)
    X0, F0, d0 = m.covariance(T - 1)
    np.testing.assert_array_equal(X[:2], X0[[5, 2]])
    np.testing.assert_array_equal(F, F0)
    np.testing.assert_array_equal(d[:2], d0[[5, 2]])
    assert np.isnan(d[2]) and np.isnan(X[2]).all()
    assert v.industry_codes[0].tolist() == [ind[T - 30, 5], ind[T - 30, 2], -1]
    assert v.ready(0) == m.ready(T - 30)
    with pytest.raises(DataError, match="not in the fitted model"):
        m.view(np.array(["2030-01-01"], dtype="datetime64[D]"))
