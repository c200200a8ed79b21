"""Beta-quantile features: hand-checked betas, industry indices, buckets and no look-ahead."""

from __future__ import annotations

import numpy as np

from seqalpha.features.beta_quantile import (
    beta_quantile_features,
    beta_quantile_names,
    group_returns,
    quantile_bucket,
    rolling_beta,
)


def _market(T: int = 120, N: int = 12, seed: int = 0):
    """Closes whose returns are beta_i x market + industry + noise; two industries."""
    rng = np.random.default_rng(seed)
    beta = np.linspace(0.5, 1.6, N)
    industry = np.tile(np.arange(N) % 2, (T, 1))
    m = 0.01 * rng.standard_normal(T)
    f = 0.01 * rng.standard_normal((T, 2))
    r = beta * m[:, None] + f[:, industry[0]] + 0.002 * rng.standard_normal((T, N))
    close = 10 * np.cumprod(1 + r, axis=0)
    return close, np.ones((T, N), dtype=bool), industry, beta


def test_rolling_beta_equals_numpy_polyfit():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 2))
    y = 0.7 * x + 0.1 * rng.standard_normal((30, 2))
    y[5, 0] = np.nan
    b = rolling_beta(y, x, 10)
    for t, i in [(9, 1), (20, 0), (29, 0)]:
        xs, ys = x[t - 9 : t + 1, i], y[t - 9 : t + 1, i]
        ok = np.isfinite(ys)
        assert np.isclose(b[t, i], np.polyfit(xs[ok], ys[ok], 1)[0])
    assert np.isnan(b[3]).all()  # fewer than window / 2 pairs


def test_group_returns_are_the_day_mean_of_each_group():
    r = np.array([[0.01, 0.03, -0.02, np.nan], [0.0, 0.02, 0.04, 0.06]])
    g = np.array([[0, 0, 1, 1], [0, 1, 1, -1]])
    out = group_returns(r, g)
    np.testing.assert_allclose(out[0], [0.02, 0.02, -0.02, -0.02])
    np.testing.assert_allclose(out[1, :3], [0.0, 0.03, 0.03])
    assert np.isnan(out[1, 3])
    w = np.array([[1.0, 3.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    assert group_returns(r, g, w)[0, 0] == (0.01 + 3 * 0.03) / 4


def test_quantile_buckets_split_the_cross_section_evenly():
    x = np.array([[5.0, 1.0, 3.0, 2.0, 4.0, np.nan]])
    q = quantile_bucket(x, np.ones_like(x, dtype=bool), buckets=5)
    assert q[0, :5].tolist() == [4, 0, 2, 1, 3] and np.isnan(q[0, 5])


def test_market_betas_recover_the_planted_betas():
    close, member, industry, beta = _market()
    f = beta_quantile_features(close, member, industry, windows=(60,))
    assert list(f) == beta_quantile_names((60,))
    est = f["BETA_MKT60"][-1]
    assert np.corrcoef(est, beta)[0, 1] > 0.9
    assert f["BETA_MKT60_Q"][-1, 0] == 0 and f["BETA_MKT60_Q"][-1, -1] == 4
    # the industry index holds the industry factor: betas to it are near 1 on average
    assert abs(np.nanmean(f["BETA_IND60"][-1]) - 1) < 0.5


def test_no_lookahead():
    """Changing prices after day t changes no feature at or before t."""
    close, member, industry, _ = _market(T=90)
    cap = close * 1e6
    base = beta_quantile_features(close, member, industry, cap, "cap")
    t = 60
    moved = close.copy()
    moved[t + 1 :] *= np.random.default_rng(3).uniform(0.5, 1.5, moved[t + 1 :].shape)
    other = beta_quantile_features(moved, member, industry, moved * 1e6, "cap")
    for name in base:
        np.testing.assert_array_equal(base[name][: t + 1], other[name][: t + 1], err_msg=name)
        assert not np.allclose(base[name][t + 2 :], other[name][t + 2 :], equal_nan=True)
