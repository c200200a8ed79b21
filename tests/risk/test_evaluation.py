"""Out-of-sample covariance evaluation: a model that knows the true covariance is calibrated
(bias ~ 1, realized TE ~ forecast), one that under-states risk by 2x has bias ~ 2, and the
true model's GMV portfolio is less volatile than a misspecified one's."""

from __future__ import annotations

import numpy as np
import pytest

from seqalpha.errors import DataError
from seqalpha.risk.base import RiskModel
from seqalpha.risk.evaluation import (
    EvalParams,
    evaluate_risk_model,
    evaluation_table,
    gmv_weights,
)


class Static(RiskModel):
    """The same factor-form covariance every day on a [T, N] grid."""

    def __init__(self, X, F, d, T):
        self.X, self.F, self.d, self.T = X, F, d, T

    @property
    def shape(self):
        return self.T, len(self.d)

    def ready(self, t):
        return True

    def covariance(self, t):
        return self.X.copy(), self.F.copy(), self.d.copy()


@pytest.fixture(scope="module")
def market():
    """Gaussian daily returns from a 3-factor model (market betas 0.3..1.7, two styles):
    N = 80 names, T = 400 days."""
    rng = np.random.default_rng(0)
    T, N, K = 400, 80, 3
    X = np.column_stack([rng.uniform(0.3, 1.7, N), rng.standard_normal((N, K - 1))])
    F = np.diag([1e-4, 4e-5, 2e-5])
    d = rng.uniform(1e-4, 6e-4, N)
    r = rng.standard_normal((T, K)) @ np.sqrt(F) @ X.T + rng.standard_normal((T, N)) * np.sqrt(d)
    styles = X[None, :, 1:].repeat(T, axis=0)
    return r, X, F, d, styles


P = EvalParams(horizon=5, n_random=20, random_names=20, gmv_max_weight=0.1)


def test_the_true_model_is_calibrated(market):
    r, X, F, d, styles = market
    T, N = r.shape
    res = evaluate_risk_model(Static(X, F, d, T), r, np.ones((T, N), bool), 0, T, P, styles)
    s = res.summary()
    assert len(res.rebalance_rows) == (T - 5 + 4) // 5
    for key in ("bias_random", "bias_factor", "bias_gmv"):
        v, se = s[key]
        assert abs(v - 1) < 4 * se + 0.05, key
    assert s["te_ratio"][0] == pytest.approx(1.0, abs=0.1)
    # cross-sectional R^2: (beta spread 1.6e-5 + styles 6e-5) / (that + specific 3.5e-4) ~ 0.18
    assert s["r2"][0] == pytest.approx(0.18, abs=4 * s["r2"][1] + 0.01)
    assert s["r2"][0] - 3 / 80 < s["r2_adj"][0] < s["r2"][0]  # ~ K / N less


def test_understated_risk_shows_in_the_bias(market):
    r, X, F, d, _styles = market
    T, N = r.shape
    res = evaluate_risk_model(Static(X, F / 4, d / 4, T), r, np.ones((T, N), bool), 0, T, P)
    s = res.summary()
    assert s["bias_random"][0] == pytest.approx(2.0, rel=0.1)
    assert s["te_ratio"][0] == pytest.approx(2.0, rel=0.1)
    assert np.isnan(s["bias_factor"][0])  # no styles given


def test_a_better_covariance_gives_a_less_volatile_gmv(market):
    r, X, F, d, _ = market
    T, N = r.shape
    uni = np.ones((T, N), bool)
    true = evaluate_risk_model(Static(X, F, d, T), r, uni, 0, T, P).summary()
    # misspecified: identity-like risk, no factor structure
    flat = Static(np.zeros((N, 1)), np.eye(1), np.full(N, d.mean()), T)
    naive = evaluate_risk_model(flat, r, uni, 0, T, P).summary()
    assert true["gmv_vol"][0] < naive["gmv_vol"][0] - 2 * naive["gmv_vol"][1]
    table = evaluation_table({"true": true, "flat": naive})
    assert table.splitlines()[2].startswith("| true | ") and "n/a" in table.splitlines()[3]


def test_gmv_weights_match_the_analytic_two_asset_solution():
    cov = np.array([[0.04, 0.01], [0.01, 0.09]])
    ci = np.linalg.inv(cov)
    ref = ci @ np.ones(2) / (np.ones(2) @ ci @ np.ones(2))
    w = gmv_weights(np.linalg.cholesky(cov), np.eye(2), np.zeros(2), max_weight=1.0)
    np.testing.assert_allclose(w, ref, atol=1e-6)
    assert gmv_weights(np.zeros((4, 1)), np.eye(1), np.ones(4), 0.3) == pytest.approx(0.25)


def test_mismatched_grids_are_one_line_errors(market):
    r, X, F, d, _ = market
    with pytest.raises(DataError, match="one \\[T, N\\] grid"):
        evaluate_risk_model(Static(X, F, d, 10), r, np.ones(r.shape, bool), 0, 10)
    with pytest.raises(DataError, match="cannot hold weight 1"):
        gmv_weights(np.zeros((4, 1)), np.eye(1), np.ones(4), 0.2)
