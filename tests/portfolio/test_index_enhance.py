"""Index enhancement: the tracking-error bound binds when the alpha pushes, active industry,
style and per-name weights stay within their bounds, untradable names keep their side, the
forecast TE is calibrated on returns drawn from the model, and the registered strategy runs
on the synthetic market."""

from __future__ import annotations

import numpy as np
import pytest

from seqalpha.errors import ConfigError
from seqalpha.portfolio import get_strategy
from seqalpha.portfolio.index_enhance import (
    BenchmarkSetup,
    IndexEnhanceParams,
    active_report,
    cap_weights,
    forecast_tracking_error,
    index_enhance_weights,
    with_alpha_factor,
)
from seqalpha.portfolio.optimizer import OptimizerParams, optimize_weights


class Static:
    """The same factor-form covariance every day on a [T, N] grid."""

    def __init__(self, X, F, d, T):
        self.X, self.F, self.d, self.shape = X, F, d, (T, len(d))

    def ready(self, t):
        return True

    def covariance(self, t):
        return self.X.copy(), self.F.copy(), self.d.copy()


def toy(T: int = 3, N: int = 40, seed: int = 0) -> tuple[BenchmarkSetup, np.ndarray]:
    """A market of N names in 4 industries with 2 styles, a 3-factor risk model, cap weights
    and random scores [T, N]."""
    rng = np.random.default_rng(seed)
    styles = rng.standard_normal((N, 2))
    X = np.column_stack([np.ones(N), styles])
    risk = Static(X, np.diag([2e-4, 5e-5, 3e-5]), rng.uniform(1e-4, 4e-4, N), T)
    members = np.ones((T, N), bool)
    bench = cap_weights(np.tile(rng.lognormal(0, 1, N), (T, 1)), members)
    setup = BenchmarkSetup(
        risk=risk,
        benchmark=bench,
        members=members,
        styles=np.tile(styles, (T, 1, 1)),
        style_names=["size", "momentum"],
        industry=np.tile(np.arange(N) % 4, (T, 1)),
    )
    return setup, rng.standard_normal((T, N))


def test_cap_weights_sum_to_one_over_members():
    cap = np.array([[1.0, 3.0, np.nan, 4.0], [2.0, 2.0, 2.0, 2.0]])
    members = np.array([[True, True, True, False], [False, False, False, False]])
    w = cap_weights(cap, members)
    np.testing.assert_allclose(w, [[0.25, 0.75, 0, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("te", [0.01, 0.03])
def test_the_tracking_error_bound_binds_when_the_alpha_pushes(te):
    setup, scores = toy()
    p = IndexEnhanceParams(
        tracking_error=te,
        max_active_weight=0.5,
        max_industry_active=None,
        max_style_active=None,
        risk_aversion=1e-6,
        turnover_cost=0.0,
        alpha_scale=1.0,
        rebalance_every=1,
    )
    w = index_enhance_weights(scores, setup, p)
    for t in range(w.shape[0]):
        assert w[t].sum() == pytest.approx(1.0) and w[t].min() >= 0
        fc = forecast_tracking_error(setup.risk, t, w[t], setup.benchmark[t])
        assert fc == pytest.approx(te, rel=2e-3)


def test_a_loose_bound_does_not_bind_under_risk_aversion():
    setup, scores = toy()
    p = IndexEnhanceParams(tracking_error=0.5, risk_aversion=50.0, rebalance_every=1)
    w = index_enhance_weights(scores, setup, p)
    fc = forecast_tracking_error(setup.risk, 0, w[0], setup.benchmark[0])
    assert 0.001 < fc < 0.4


def test_active_exposures_stay_within_their_bounds():
    setup, scores = toy()
    p = IndexEnhanceParams(
        tracking_error=0.2,
        max_active_weight=0.015,
        max_industry_active=0.01,
        max_style_active=0.05,
        risk_aversion=1e-3,
        alpha_scale=1.0,
        rebalance_every=1,
    )
    scores = scores + 3 * setup.styles[:, :, 1]  # an alpha that loads on the momentum style
    w = index_enhance_weights(scores, setup, p)
    tol = 1e-6
    for t in range(w.shape[0]):
        a = w[t] - setup.benchmark[t]
        assert np.abs(a).max() <= 0.015 + tol
        assert np.abs(np.bincount(setup.industry[t], weights=a)).max() <= 0.01 + tol
        style_active = setup.styles[t].T @ a
        assert np.abs(style_active).max() <= 0.05 + tol
        assert style_active[1] == pytest.approx(0.05, abs=1e-5)  # pushed to its bound


def test_untradable_names_keep_their_side():
    setup, scores = toy(T=2)
    can_buy = np.ones(scores.shape, bool)
    can_sell = np.ones(scores.shape, bool)
    p = IndexEnhanceParams(alpha_scale=1.0, rebalance_every=1)
    w0 = index_enhance_weights(scores[:1], _rows(setup, 1), p)[0]
    up, down = int(np.argmax(scores[1])), int(np.argmin(scores[1]))
    can_buy[1, up] = False  # limit up: cannot rise
    can_sell[1, down] = False  # limit down: cannot fall
    w = optimize_weights(
        scores,
        setup.risk,
        p.optimizer_params(),
        benchmark=setup.benchmark,
        styles=setup.styles,
        industry=setup.industry,
        can_buy=can_buy,
        can_sell=can_sell,
        initial=None,
    )
    np.testing.assert_allclose(w[0], w0, atol=1e-7)
    assert w[1, up] <= w[0, up] + 1e-9 and w[1, down] >= w[0, down] - 1e-9


def _rows(setup: BenchmarkSetup, n: int) -> BenchmarkSetup:
    X, F, d = setup.risk.covariance(0)
    return BenchmarkSetup(
        Static(X, F, d, n),
        setup.benchmark[:n],
        setup.members[:n],
        setup.styles[:n],
        setup.style_names,
        setup.industry[:n],
    )


def test_forecast_tracking_error_is_realized_on_returns_from_the_model():
    """Returns drawn from the risk model itself: realized TE ~ forecast TE, per-year rows."""
    T = 500
    setup, scores = toy(T=T, N=30)
    X, F, d = setup.risk.covariance(0)
    rng = np.random.default_rng(1)
    r = rng.standard_normal((T, 3)) @ np.sqrt(F) @ X.T + rng.standard_normal((T, 30)) * np.sqrt(d)
    p = IndexEnhanceParams(tracking_error=0.04, max_active_weight=0.5, rebalance_every=20)
    p = IndexEnhanceParams(**{**p.__dict__, "alpha_scale": 1.0, "risk_aversion": 1e-6})
    w = index_enhance_weights(scores, setup, p)
    dates = np.arange("2020-01-01", T, dtype="datetime64[D]")
    rep = active_report(w, r, setup, dates)
    assert set(rep) == {"2020", "2021", "overall"}
    assert rep["overall"]["te_forecast"] == pytest.approx(0.04, rel=1e-2)
    assert rep["overall"]["te_realized"] == pytest.approx(0.04, rel=0.15)
    assert {"style_size", "style_momentum", "industry_active", "ir"} <= set(rep["2020"])


def test_params_are_checked_by_name():
    with pytest.raises(ConfigError, match="tracking_eror"):
        get_strategy("index_enhance", {"tracking_eror": 0.05})
    with pytest.raises(ConfigError, match="tracking_error must be > 0"):
        get_strategy("index_enhance", {"tracking_error": 0})
    with pytest.raises(ConfigError, match="need benchmark weights"):
        optimize_weights(np.ones((1, 3)), None, OptimizerParams(max_tracking_error=0.05))


def test_the_registered_strategy_runs_on_the_synthetic_market(synth_market):
    from seqalpha.backtest import backtest_weights, load_market
    from seqalpha.data.qlib_bin import QlibStore

    cal = QlibStore(synth_market).calendar
    market = load_market(synth_market, start=cal[130], benchmark=None)  # the last 30 days
    scores = np.random.default_rng(0).normal(size=market.shape)
    params = {"universe": "market", "history_days": 120, "tracking_error": 0.04}
    w = get_strategy("index_enhance", params).weights(scores, market, params, str(synth_market))
    decided = np.isfinite(w).all(axis=1)
    assert decided.sum() >= 5
    np.testing.assert_allclose(w[decided].sum(axis=1), 1.0, atol=1e-6)
    res = backtest_weights(w, market)
    assert np.isfinite(res.returns["return"].to_numpy()).all()


def test_the_alpha_factor_adds_the_risk_of_bets_along_the_score():
    """Returns that load on yesterday's score: the alpha factor's variance is their mean
    square (from days <= t only), and a score-tilted portfolio's forecast TE rises with it."""
    T, N = 80, 40
    setup, scores = toy(T=T, N=N)
    rng = np.random.default_rng(3)
    f = 0.004 * rng.standard_normal(T)
    z = (scores - scores.mean(1, keepdims=True)) / scores.std(1, keepdims=True)
    r = np.zeros((T, N))
    r[1:] = f[1:, None] * z[:-1]
    aligned = with_alpha_factor(setup, scores, r, window=20)
    t = 50
    np.testing.assert_allclose(aligned.risk.alpha_var[t], np.mean(f[t - 19 : t + 1] ** 2))
    later = r.copy()
    later[t + 1 :] *= 10.0  # future returns do not move day t's forecast
    assert with_alpha_factor(setup, scores, later, 20).risk.alpha_var[t] == pytest.approx(
        aligned.risk.alpha_var[t]
    )
    tilt = setup.benchmark[t] + 0.002 * z[t]
    base = forecast_tracking_error(setup.risk, t, tilt, setup.benchmark[t])
    more = forecast_tracking_error(aligned.risk, t, tilt, setup.benchmark[t])
    extra = 0.002 * np.sum(z[t] ** 2) * np.sqrt(252 * aligned.risk.alpha_var[t])
    assert more == pytest.approx(np.hypot(base, extra), rel=1e-9)
