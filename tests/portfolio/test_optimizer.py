"""Mean-variance optimizer: analytic 2-3 asset solutions, active bounds, industry constraints,
untradable names held, turnover cost, infeasibility errors naming the date, and a run on the
synthetic market with the factor risk model feeding the backtest."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from seqalpha.errors import ConfigError, DataError
from seqalpha.portfolio.optimizer import (
    InfeasibleError,
    OptimizerParams,
    optimize_weights,
    optimize_with_factor_model,
)
from seqalpha.risk import FactorModelParams


class StaticRisk:
    """A risk model with the same covariance every day, given in factor form."""

    def __init__(self, cov: np.ndarray | None = None, X=None, F=None, d=None):
        if cov is not None:
            X, F, d = np.linalg.cholesky(cov), np.eye(len(cov)), np.zeros(len(cov))
        self.X, self.F, self.d = X, F, d

    def covariance(self, t):
        return self.X.copy(), self.F.copy(), self.d.copy()


def mv_equality_solution(a, cov, lam, total):
    """argmax a'w - lam w' cov w  s.t. sum(w) = total (Lagrange, no bounds)."""
    ci = np.linalg.inv(cov)
    one = np.ones(len(a))
    nu = (one @ ci @ a - 2 * lam * total) / (one @ ci @ one)
    return ci @ (a - nu * one) / (2 * lam)


@pytest.mark.parametrize("solver,tol", [("CLARABEL", 1e-6), ("OSQP", 1e-3)])
def test_two_assets_long_only_matches_the_analytic_solution(solver, tol):
    cov = np.array([[0.04, 0.01], [0.01, 0.09]])
    a = np.array([0.05, 0.08])
    p = OptimizerParams(risk_aversion=2.0, alpha="raw", max_weight=1.0, solver=solver)
    w = optimize_weights(a[None, :], StaticRisk(cov), p)
    np.testing.assert_allclose(w[0], mv_equality_solution(a, cov, 2.0, 1.0), atol=tol)
    assert w[0].sum() == pytest.approx(1.0)


def test_three_assets_dollar_neutral_matches_the_analytic_solution():
    cov = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.0625]])
    a = np.array([0.02, -0.01, 0.03])
    p = OptimizerParams(
        risk_aversion=5.0, alpha="raw", mode="dollar_neutral", max_weight=5.0, gross=10.0
    )
    w = optimize_weights(a[None, :], StaticRisk(cov), p)
    ref = mv_equality_solution(a, cov, 5.0, 0.0)
    np.testing.assert_allclose(w[0], ref, atol=1e-6)
    assert abs(w[0].sum()) < 1e-8


def water_filling(a, var, lam, ub):
    """Diagonal covariance, 0 <= w <= ub, sum w = 1.

    w_i = clip((a_i - nu) / (2 lam var_i), 0, ub).
    """
    lo, hi = -10.0, 10.0
    for _ in range(200):
        nu = (lo + hi) / 2
        s = np.clip((a - nu) / (2 * lam * var), 0, ub).sum()
        lo, hi = (nu, hi) if s > 1 else (lo, nu)
    return np.clip((a - nu) / (2 * lam * var), 0, ub)


def test_bounds_are_active_as_in_water_filling():
    a = np.array([0.10, 0.03, 0.02, 0.01, -0.02])
    var = np.array([0.04, 0.04, 0.09, 0.02, 0.04])
    risk = StaticRisk(X=np.zeros((5, 1)), F=np.eye(1), d=var)
    p = OptimizerParams(risk_aversion=1.0, alpha="raw", max_weight=0.4)
    w = optimize_weights(a[None, :], risk, p)[0]
    ref = water_filling(a, var, 1.0, 0.4)
    np.testing.assert_allclose(w, ref, atol=1e-6)
    assert w[0] == pytest.approx(0.4, abs=1e-7)  # the upper bound binds
    assert w[4] == 0.0  # the lower bound binds
    assert w.sum() == pytest.approx(1.0)


@pytest.fixture(scope="module")
def industry_case():
    rng = np.random.default_rng(0)
    N = 30
    ind = np.repeat(np.arange(3), 10)[None, :]
    X = np.zeros((N, 3))
    X[np.arange(N), ind[0]] = 1.0
    risk = StaticRisk(X=X, F=np.diag([0.0004, 0.0009, 0.0006]), d=np.full(N, 0.0004))
    scores = rng.normal(size=(1, N))
    scores[0, :10] += 1.5  # industry 0 looks attractive: an unconstrained optimizer overweights it
    bench = np.full((1, N), 1.0 / N)
    return risk, scores, ind, bench


def test_industry_neutral_against_the_benchmark(industry_case):
    risk, scores, ind, bench = industry_case
    p = OptimizerParams(risk_aversion=1.0, max_weight=0.2)
    free = optimize_weights(scores, risk, p, industry=ind, benchmark=bench)[0]
    H = (ind[0][None, :] == np.arange(3)[:, None]).astype(float)
    assert (H @ free - H @ bench[0])[0] > 0.05  # the constraint below is not idle
    neutral = optimize_weights(
        scores,
        risk,
        OptimizerParams(risk_aversion=1.0, max_weight=0.2, industry_neutral=True),
        industry=ind,
        benchmark=bench,
    )[0]
    np.testing.assert_allclose(H @ neutral, H @ bench[0], atol=1e-6)
    band = optimize_weights(
        scores,
        risk,
        OptimizerParams(risk_aversion=1.0, max_weight=0.2, max_industry_active=0.05),
        industry=ind,
        benchmark=bench,
    )[0]
    active = H @ band - H @ bench[0]
    assert np.abs(active).max() <= 0.05 + 1e-6
    assert np.abs(active).max() == pytest.approx(0.05, abs=1e-5)  # it binds
    assert neutral.min() >= 0 and band.sum() == pytest.approx(1.0)


def test_dollar_neutral_industry_neutral_without_benchmark(industry_case):
    risk, scores, ind, _ = industry_case
    p = OptimizerParams(
        mode="dollar_neutral", risk_aversion=1.0, max_weight=0.1, gross=1.0, industry_neutral=True
    )
    w = optimize_weights(scores, risk, p, industry=ind)[0]
    H = (ind[0][None, :] == np.arange(3)[:, None]).astype(float)
    np.testing.assert_allclose(H @ w, 0.0, atol=1e-6)
    assert np.abs(w).sum() <= 1.0 + 1e-6 and np.abs(w).max() <= 0.1 + 1e-8
    with pytest.raises(ConfigError, match="benchmark"):
        optimize_weights(scores, risk, OptimizerParams(industry_neutral=True), industry=ind)


def test_untradable_names_keep_their_weight_and_outside_universe_is_zero():
    rng = np.random.default_rng(1)
    T, N = 3, 12
    risk = StaticRisk(X=np.ones((N, 1)) * 0.1, F=np.eye(1) * 0.04, d=np.full(N, 0.001))
    scores = rng.normal(size=(T, N))
    scores[1] = -scores[0]  # day 1 wants to reverse everything
    scores[2] = scores[0]
    tradable = np.ones((T, N), bool)
    tradable[1, :3] = False  # suspended on day 1
    mask = np.ones((T, N), bool)
    k = int(np.argmax(scores[0, 3:])) + 3  # the best name of day 0 ...
    mask[2, k] = False  # ... leaves the universe on day 2
    p = OptimizerParams(risk_aversion=0.5, max_weight=0.3)
    w = optimize_weights(scores, risk, p, mask=mask, tradable=tradable)
    np.testing.assert_array_equal(w[1, :3], w[0, :3])
    assert not np.allclose(w[1, 3:], w[0, 3:])  # the others do move
    assert w[2, k] == 0.0 and w[0, k] > 0  # was held, had to go
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-7)
    # can_buy / can_sell: a name at its limit cannot be raised / cut
    cb = np.ones((T, N), bool)
    cb[1, 3:] = False
    w2 = optimize_weights(scores, risk, p, can_buy=cb)
    assert np.all(w2[1, 3:] <= w2[0, 3:] + 1e-9)


def test_turnover_cost_reduces_trading():
    rng = np.random.default_rng(2)
    T, N = 6, 20
    risk = StaticRisk(X=rng.normal(0, 0.1, (N, 2)), F=np.eye(2) * 0.02, d=np.full(N, 0.002))
    scores = rng.normal(size=(T, N))
    tov = []
    for cost in (0.0, 0.002, 1.0):
        w = optimize_weights(
            scores, risk, OptimizerParams(risk_aversion=2.0, max_weight=0.2, turnover_cost=cost)
        )
        tov.append(np.abs(np.diff(w, axis=0)).sum())
    assert tov[0] > tov[1] > tov[2]
    assert tov[2] < 1e-6  # prohibitive cost: the first portfolio is kept


def test_rebalance_every_and_nan_rows_before_the_risk_model_is_ready():
    class LateRisk(StaticRisk):
        def ready(self, t):
            return t >= 2

    N = 8
    risk = LateRisk(X=np.zeros((N, 1)), F=np.eye(1), d=np.full(N, 0.01))
    scores = np.random.default_rng(3).normal(size=(7, N))
    scores[3] = np.nan  # no signal on day 3
    w = optimize_weights(scores, risk, OptimizerParams(max_weight=0.5, rebalance_every=2))
    assert np.isnan(w[:2]).all()
    np.testing.assert_array_equal(w[3], w[2])  # day 3 is not a rebalance day anyway
    assert np.isfinite(w[4]).all() and not np.allclose(w[4], w[2])
    np.testing.assert_array_equal(w[5], w[4])


def test_infeasible_days_raise_errors_naming_the_date():
    N = 10
    risk = StaticRisk(X=np.zeros((N, 1)), F=np.eye(1), d=np.full(N, 0.01))
    dates = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]")
    scores = np.ones((2, N))
    with pytest.raises(InfeasibleError, match=r"2024-01-02.*budget"):
        optimize_weights(scores, risk, OptimizerParams(max_weight=0.05), dates=dates)
    # bounds allow the budget, but the benchmark's industry 0 weight (0.6) cannot be matched
    ind = np.tile(np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1]), (2, 1))
    bench = np.tile(np.r_[np.full(3, 0.2), np.full(7, 0.4 / 7)], (2, 1))
    p = OptimizerParams(max_weight=0.15, industry_neutral=True)
    with pytest.raises(InfeasibleError, match=r"2024-01-02.*infeasible"):
        optimize_weights(scores, risk, p, industry=ind, benchmark=bench, dates=dates)
    with pytest.raises(DataError, match="mask"):
        optimize_weights(scores, risk, OptimizerParams(), mask=np.ones((3, N), bool))
    with pytest.raises(ConfigError, match="mode"):
        OptimizerParams(mode="long_short")


def test_factor_model_on_synthetic_market_feeds_the_backtest(synth_market):
    from seqalpha.backtest import backtest_weights, load_market
    from seqalpha.data.qlib_bin import load_panel
    from seqalpha.risk import fit_factor_model

    panel = load_panel(synth_market, ["close", "bp"], "all")
    params = FactorModelParams(
        momentum_window=40,
        momentum_skip=5,
        volatility_window=20,
        cov_window=120,
        cov_half_life=40.0,
        specific_window=60,
        specific_half_life=20.0,
        min_specific_obs=10,
        min_history=30,
    )
    rm = fit_factor_model(synth_market, panel, params=params)
    assert rm.factor_names[-4:] == ["size", "momentum", "volatility", "value"]
    T, N = panel.shape
    close = panel["close"].astype(np.float64)
    mom = np.full((T, N), np.nan)
    mom[5:] = close[5:] / close[:-5] - 1
    scores = -mom  # a reversal signal, known at t
    mask = np.isfinite(close)
    p_lo = OptimizerParams(risk_aversion=200.0, max_weight=0.1)
    p_hi = OptimizerParams(risk_aversion=0.5, max_weight=0.1)
    lo_risk = optimize_weights(scores, rm, p_lo, mask=mask)
    hi_risk = optimize_weights(scores, rm, p_hi, mask=mask)
    ready = np.isfinite(lo_risk).all(axis=1)
    assert not ready[: params.min_history].any() and ready[-20:].all()
    t = T - 1
    assert rm.portfolio_variance(t, lo_risk[t]) < rm.portfolio_variance(t, hi_risk[t])
    # same grid as the backtest's market: weights go in as they are
    market = load_market(synth_market, benchmark=None)
    assert list(market.instruments) == list(panel.instruments)
    res = backtest_weights(lo_risk, market)
    assert np.isfinite(res.returns["return"].to_numpy()).all()
    assert res.positions.height > 0


def reference_day(a, X, F, d, prev, lo, hi, H, target, band, lam, cost, b):
    """The same day's problem written directly over all N names (slow, obviously correct)."""
    w = cp.Variable(len(a))
    L = np.linalg.cholesky(F)
    risk = cp.sum_squares(L.T @ X.T @ (w - b)) + cp.sum_squares(cp.multiply(np.sqrt(d), w - b))
    obj = a @ w - lam * risk - cost * cp.norm1(w - prev)
    cons = [w >= lo, w <= hi, cp.sum(w) == 1, cp.abs(H @ w - target) <= band]
    cp.Problem(cp.Maximize(obj), cons).solve(solver="CLARABEL")
    return w.value


def test_industry_slots_match_a_direct_formulation_as_memberships_change():
    rng = np.random.default_rng(7)
    T, N = 3, 24
    ind = np.tile(np.repeat(np.arange(4), 6), (T, 1))
    ind[1, :10] = 0  # industry 0 grows from 6 to 10 names, then to 14: the slots must grow
    ind[2, :14] = 0
    X = rng.normal(0, 0.1, (N, 3))
    F = np.diag([0.02, 0.01, 0.03])
    d = rng.uniform(0.001, 0.004, N)
    risk = StaticRisk(X=X, F=F, d=d)
    scores = rng.normal(size=(T, N))
    mask = np.ones((T, N), bool)
    mask[:, 20] = False  # never investable
    bench = np.tile(rng.dirichlet(np.full(N, 20.0)), (T, 1))  # near equal weights
    p = OptimizerParams(
        risk_aversion=3.0,
        turnover_cost=0.003,
        max_weight=0.12,
        max_industry_active=0.03,
        alpha="raw",
        alpha_scale=1.0,
    )
    w = optimize_weights(scores * 0.02, risk, p, mask=mask, industry=ind, benchmark=bench)
    prev = np.zeros(N)
    for t in range(T):
        H = (ind[t][None, :] == np.arange(4)[:, None]).astype(float)
        hi = np.where(mask[t], 0.12, 0.0)
        a = np.where(mask[t], scores[t] * 0.02, 0.0)
        ref = reference_day(
            a, X, F, d, prev, np.zeros(N), hi, H, H @ bench[t], 0.03, 3.0, 0.003, bench[t]
        )
        np.testing.assert_allclose(w[t], ref, atol=2e-5)
        assert np.abs(H @ w[t] - H @ bench[t]).max() <= 0.03 + 1e-6
        prev = w[t]


def test_optimize_with_factor_model_on_a_backtest_grid(synth_market):
    from seqalpha.backtest import backtest_weights, load_market
    from seqalpha.data.qlib_bin import QlibStore
    from seqalpha.risk import fit_factor_model

    cal = QlibStore(synth_market).calendar
    market = load_market(synth_market, start=cal[120], benchmark=None)  # the last 40 days
    T, N = market.shape
    scores = np.random.default_rng(0).normal(size=(T, N))
    scores[:, -1] = np.nan  # a name without a score is never invested
    params = FactorModelParams(
        momentum_window=40,
        momentum_skip=5,
        volatility_window=20,
        cov_window=120,
        cov_half_life=40.0,
        specific_window=60,
        specific_half_life=20.0,
        min_specific_obs=10,
        min_history=30,
    )
    opt = OptimizerParams(risk_aversion=5.0, max_weight=0.1, turnover_cost=0.001)
    w = optimize_with_factor_model(
        scores,
        synth_market,
        market.dates,
        market.instruments,
        opt,
        params,
        history_days=120,
        can_buy=market.can_buy,
        can_sell=market.can_sell,
    )
    assert w.shape == (T, N) and np.isfinite(w).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-7)
    assert np.all(w[:, -1] == 0)
    # the same as fitting on the whole history by hand and viewing the last 40 days
    from seqalpha.data.qlib_bin import load_panel

    panel = load_panel(synth_market, ["close", "factor", "bp"], "all", cal[0], cal[-1])
    view = fit_factor_model(synth_market, panel, params=params).view(
        market.dates, market.instruments
    )
    ref = optimize_weights(scores, view, opt, can_buy=market.can_buy, can_sell=market.can_sell)
    np.testing.assert_allclose(w, ref, atol=1e-9)
    res = backtest_weights(w, market)
    assert res.positions.height > 0
