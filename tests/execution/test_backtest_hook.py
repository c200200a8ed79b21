"""Execution in the daily backtest: trades go through the simulator on their day's bars."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from seqalpha.backtest import BacktestConfig, backtest_topk, load_market
from seqalpha.backtest.executed import backtest_executed
from seqalpha.data.minute import load_minute
from seqalpha.errors import DataError
from seqalpha.execution import TWAP, SimParams, cost_by_year
from seqalpha.portfolio.topk import TopkDropout


@pytest.fixture(scope="module")
def setup(synth_market):
    market = load_market(synth_market, benchmark="SYN_INDEX", instruments=None)
    market = market.rows(len(market.dates) - 40)  # the last 40 days
    bars = load_minute(synth_market / "minute", start=market.dates[0] - 40)
    scores = np.random.default_rng(0).normal(size=market.shape)
    cfg = BacktestConfig(account=1e6)

    def run(m):
        return backtest_topk(scores, m, TopkDropout(topk=10, n_drop=3), cfg)

    return market, bars, run


def test_executing_at_the_last_bar_close_without_impact_is_the_close_backtest(setup):
    market, bars, run = setup
    B = len(bars.bar_ends)
    plain = run(market)
    params = SimParams(participation=1.0, impact=0.0, price="close", limit=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every order fills: no partial-fill warning
        executed = backtest_executed(run, market, bars, TWAP(), params, window=(B - 1, None))
    np.testing.assert_allclose(executed.returns["return"], plain.returns["return"], rtol=1e-9)
    ex = executed.execution
    assert ex.height == plain.trades.height
    np.testing.assert_allclose(ex["cost_vs_close_bps"], 0.0, atol=1e-6)


def test_impact_costs_show_in_returns_and_per_year(setup):
    market, bars, run = setup
    plain = run(market)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        executed = backtest_executed(
            run, market, bars, TWAP(), SimParams(participation=0.2, impact=0.05)
        )
    ex = executed.execution
    assert set(ex.columns) >= {"fill_rate", "cost_vs_arrival_bps", "cost_vs_close_bps", "value"}
    assert ex.height == executed.trades.height  # every final trade was executed
    # the trades' prices are the executed average prices (raw), not the close
    joined = executed.trades.join(ex, on=["datetime", "instrument"])
    filled = joined.filter(pl.col("fill_rate") > 0)
    np.testing.assert_allclose(filled["price"], filled["avg_price"], rtol=1e-6)
    table = cost_by_year(ex)
    assert table["orders"].sum() == ex.height
    assert table["cost_vs_arrival_bps"].is_finite().all()
    # impact is paid on every fill: arrival-relative cost is positive on average over many orders
    gap = plain.returns["value"][-1] - executed.returns["value"][-1]
    assert np.isfinite(gap)
    assert float(np.nanmean(ex["cost_vs_arrival_bps"])) > 0


def test_a_trade_without_bars_is_a_data_error(setup):
    market, bars, run = setup
    from seqalpha.data.minute import MinuteBars

    few = MinuteBars(
        bars.dates[:-5],
        bars.bar_ends,
        bars.instruments,
        {k: v[:-5] for k, v in bars.fields.items()},
    )
    with pytest.raises(DataError, match="no intraday bars for"):
        backtest_executed(run, market, few, TWAP(), SimParams())
