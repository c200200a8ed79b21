"""Covariance helpers and the Ledoit-Wolf sample covariance model (served in factor form)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.covariance import LedoitWolf

from seqalpha.errors import ConfigError, DataError
from seqalpha.risk import SampleCovarianceModel, ewma_weights, shrink_to_diagonal, weighted_cov


def test_ewma_weights_halve_every_half_life_and_sum_to_one():
    w = ewma_weights(30, half_life=10)
    assert w.sum() == pytest.approx(1.0)
    assert w[-1] / w[-11] == pytest.approx(2.0)  # today vs 10 days ago
    np.testing.assert_allclose(ewma_weights(4, None), 0.25)
    with pytest.raises(ConfigError, match="half_life"):
        ewma_weights(5, 0.0)


def test_weighted_cov_equal_weights_is_numpy_cov():
    x = np.random.default_rng(0).normal(size=(50, 3))
    np.testing.assert_allclose(weighted_cov(x, None, demean=True), np.cov(x.T), rtol=1e-12)
    np.testing.assert_allclose(weighted_cov(x, None, demean=False), x.T @ x / 50, rtol=1e-12)
    x[7, 1] = np.nan  # a row with a NaN is dropped
    np.testing.assert_allclose(weighted_cov(x, None, demean=True), np.cov(np.delete(x, 7, 0).T))


def test_shrink_to_diagonal_keeps_variances():
    c = np.array([[4.0, 1.0], [1.0, 9.0]])
    np.testing.assert_allclose(shrink_to_diagonal(c, 0.25), [[4.0, 0.75], [0.75, 9.0]])
    with pytest.raises(ConfigError):
        shrink_to_diagonal(c, -0.1)


@pytest.fixture
def returns():
    rng = np.random.default_rng(3)
    common = rng.normal(0, 0.01, (80, 1))
    return common + rng.normal(0, 0.02, (80, 12))


def test_sample_model_equals_sklearn_ledoit_wolf(returns):
    m = SampleCovarianceModel(window=40).fit(returns)
    t = 70
    X, F, d = m.covariance(t)
    assert X.shape == (12, 40) and F.shape == (40, 40) and d.shape == (12,)
    win = returns[t - 39 : t + 1]
    ref = LedoitWolf(assume_centered=True).fit(win - win.mean(axis=0)).covariance_
    np.testing.assert_allclose(m.full_covariance(t), ref, rtol=1e-10)


def test_sample_model_reads_no_data_after_t_and_handles_missing(returns):
    t = 50
    r2 = returns.copy()
    r2[t + 1 :] *= 5.0
    a = SampleCovarianceModel(window=40).fit(returns).covariance(t)
    b = SampleCovarianceModel(window=40).fit(r2).covariance(t)
    for x, y in zip(a, b, strict=False):
        np.testing.assert_array_equal(x, y)
    r3 = returns.copy()
    r3[: t - 5, 4] = np.nan  # only 6 returns in the window: no risk for name 4
    uni = np.ones(returns.shape, bool)
    uni[:, 5] = False  # outside the universe: no risk
    X, _, d = SampleCovarianceModel(window=40, min_obs=20).fit(r3, uni).covariance(t)
    assert np.isnan(d[[4, 5]]).all() and np.isnan(X[[4, 5]]).all()
    assert np.isfinite(d[[0, 1, 2, 3, 6]]).all()
    m = SampleCovarianceModel(window=40, min_obs=20).fit(returns)
    assert not m.ready(18) and m.ready(19)
    with pytest.raises(DataError, match="row 3"):
        m.covariance(3)
    with pytest.raises(ConfigError, match="min_obs"):
        SampleCovarianceModel(window=10, min_obs=11)
