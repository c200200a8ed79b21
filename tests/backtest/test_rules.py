"""Each A-share rule on a hand-checkable tiny market (2 stocks, top-1 dropout unless stated)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from seqalpha.backtest import (
    BacktestConfig,
    backtest_topk,
    backtest_weights,
    performance_table,
    weights_returns,
)
from seqalpha.errors import ConfigError, DataError
from seqalpha.portfolio import TopkDropout

TOP1 = TopkDropout(topk=1, n_drop=1)


def flat(T: int = 5, N: int = 2, price: float = 10.0) -> np.ndarray:
    return np.full((T, N), price)


def trades_on(res, day: int) -> pl.DataFrame:
    d = res.returns["datetime"][day]
    return res.trades.filter(pl.col("datetime") == d)


def held_on(res, day: int) -> set[str]:
    d = res.returns["datetime"][day]
    return set(res.positions.filter(pl.col("datetime") == d)["instrument"].to_list())


def scores(rows: list[list[float]], T: int = 5) -> np.ndarray:
    s = np.full((T, len(rows[0])), np.nan)
    for t, r in enumerate(rows):
        s[t] = r
    return s


def test_signal_of_day_t_trades_on_day_t_plus_1(market_factory):
    m = market_factory(flat())
    res = backtest_topk(scores([[2, 1]]), m, TOP1)
    assert trades_on(res, 0).height == 0
    t1 = trades_on(res, 1)
    assert t1["instrument"].to_list() == ["SZ000000"] and t1["side"].to_list() == ["buy"]


def test_limit_up_stock_is_not_bought(market_factory):
    close = flat()
    close[1:, 0] = 11.0  # +10% on day 1: limit-up, flat afterwards
    res = backtest_topk(scores([[2, 1], [2, 1], [2, 1]]), market_factory(close), TOP1)
    assert trades_on(res, 1).height == 0
    assert trades_on(res, 2)["instrument"].to_list() == ["SZ000000"]
    assert res.returns["value"][1] == pytest.approx(1e8)  # nothing bought, all cash


def test_limit_down_stock_is_not_sold(market_factory):
    close = flat()
    close[2:, 0] = 9.0  # -10% on day 2: limit-down
    s = scores([[2, 1], [1, 2], [1, 2], [1, 2]])
    res = backtest_topk(s, market_factory(close), TOP1)
    assert trades_on(res, 2).filter(pl.col("side") == "sell").height == 0
    assert "SZ000000" in held_on(res, 2)
    sold3 = trades_on(res, 3).filter(pl.col("side") == "sell")
    assert sold3["instrument"].to_list() == ["SZ000000"]


def test_limit_up_holding_is_kept_under_forbid_all_but_sold_otherwise(market_factory):
    close = flat()
    close[2:, 0] = 11.0  # the holding hits limit-up on day 2
    s = scores([[2, 1], [1, 2], [1, 2]])
    strict = backtest_topk(s, market_factory(close), TOP1)
    assert "SZ000000" in held_on(strict, 2)
    loose = backtest_topk(
        s, market_factory(close), TopkDropout(topk=1, n_drop=1, forbid_all_trade_at_limit=False)
    )
    assert "SZ000000" not in held_on(loose, 2)


def test_suspended_stock_neither_bought_nor_sold(market_factory):
    vol = np.full((5, 2), 1e6)
    vol[1, 0] = 0.0  # A suspended on day 1: cannot be bought
    res = backtest_topk(scores([[2, 1], [2, 1]]), market_factory(flat(), vol), TOP1)
    assert trades_on(res, 1).height == 0
    assert trades_on(res, 2)["instrument"].to_list() == ["SZ000000"]
    vol = np.full((5, 2), 1e6)
    vol[2, 0] = np.nan  # held A suspended on day 2: cannot be sold
    res = backtest_topk(scores([[2, 1], [1, 2], [1, 2]]), market_factory(flat(), vol), TOP1)
    assert "SZ000000" in held_on(res, 2)
    assert trades_on(res, 3).filter(pl.col("side") == "sell")["instrument"].to_list() == [
        "SZ000000"
    ]


def test_lots_of_100_raw_shares_from_adjusted_prices(market_factory):
    close = flat(price=99.9)
    factor = np.full((5, 2), 3.0)  # raw price 33.3
    cfg = BacktestConfig(account=1e6)
    res = backtest_topk(scores([[2, 1]]), market_factory(close, factor=factor), TOP1, cfg)
    buy = trades_on(res, 1).row(0, named=True)
    assert buy["shares"] == 28500  # floor(950000 / 33.3 / 100) * 100
    assert buy["price"] == pytest.approx(33.3, rel=1e-6)
    assert buy["value"] == pytest.approx(28500 * 33.3, rel=1e-6)
    assert buy["cost"] == pytest.approx(28500 * 33.3 * 0.0005, rel=1e-6)
    pos = res.positions.filter(pl.col("datetime") == res.returns["datetime"][1]).row(0, named=True)
    assert pos["shares"] == pytest.approx(28500)


def test_minimum_cost_per_trade(market_factory):
    cfg = BacktestConfig(account=10_000)
    res = backtest_topk(scores([[2, 1]]), market_factory(flat()), TOP1, cfg)
    buy = trades_on(res, 1).row(0, named=True)
    assert buy["shares"] == 900  # 9500 CNY budget, lots of 100 at 10 CNY
    assert buy["cost"] == pytest.approx(5.0)  # 0.05% of 9000 is 4.5 < 5
    assert res.returns["value"][1] == pytest.approx(10_000 - 5.0)


def test_costs_reduce_return_by_exactly_the_cost(market_factory):
    close = flat(T=6)
    close[:, 0] = [10, 10, 10.5, 11, 10, 10.2]
    close[:, 1] = [10, 10, 9.9, 10.3, 10.6, 10.1]
    s = scores([[2, 1], [1, 2], [2, 1], [1, 2], [2, 1]], T=6)
    m = market_factory(close)
    paid = backtest_topk(s, m, TOP1)
    free = backtest_topk(s, m, TOP1, BacktestConfig(buy_cost=0, sell_cost=0, min_cost=0))
    r = paid.returns
    assert np.allclose(r["return_nc"] - r["return"], r["cost"])
    prev = np.concatenate([[1e8], r["value"].to_numpy()[:-1]])
    daily_cost = paid.trades.group_by("datetime").agg(pl.col("cost").sum()).sort("datetime")
    assert r["cost"][1] * 1e8 == pytest.approx(daily_cost["cost"][0])
    assert np.all(r["cost"].to_numpy() >= 0) and r["cost"].sum() > 0
    assert free.returns["cost"].sum() == 0
    assert free.returns["value"][-1] > paid.returns["value"][-1]
    assert np.allclose(
        r["turnover"].to_numpy() * prev,
        paid.trades.group_by("datetime")
        .agg(pl.col("value").sum())
        .join(r.select("datetime"), on="datetime", how="right")
        .sort("datetime")["value"]
        .fill_null(0)
        .to_numpy(),
    )


def test_benchmark_and_excess_from_index_close(market_factory):
    bench = np.array([1000, 1010, 999.9, 1000, 1000])
    close = flat()
    close[:, 0] = [10, 10, 11, 11, 11]
    res = backtest_topk(scores([[2, 1]]), market_factory(close, bench=bench), TOP1)
    r = res.returns
    assert r["benchmark"][1] == pytest.approx(0.01)
    assert r["benchmark"][2] == pytest.approx(999.9 / 1010 - 1, rel=1e-5)  # float32 closes
    assert np.allclose(r["excess"], r["return"] - r["benchmark"])
    assert r["return"][2] == pytest.approx(r["value"][2] / r["value"][1] - 1)
    assert 0.09 < r["return"][2] < 0.0951  # 95% invested in a stock that rose 10%


def test_t_plus_1_never_sell_what_was_bought_today(market_factory):
    rng = np.random.default_rng(4)
    T, N = 30, 12
    close = 10 * np.cumprod(1 + 0.03 * rng.standard_normal((T, N)), axis=0)
    m = market_factory(close)
    res = backtest_topk(rng.standard_normal((T, N)), m, TopkDropout(topk=4, n_drop=3))
    both = res.trades.group_by("datetime", "instrument").agg(pl.col("side").n_unique().alias("k"))
    assert both["k"].max() == 1
    w = np.zeros((T, N))
    w[np.arange(T), np.arange(T) % N] = 1.0  # all-in on a different name every day
    wres = backtest_weights(w, m, BacktestConfig(hold_thresh=2))
    # a name bought on day t can be sold on day t+2 at the earliest with hold_thresh=2
    buys = wres.trades.filter(pl.col("side") == "buy").select("datetime", "instrument")
    sells = wres.trades.filter(pl.col("side") == "sell").select("datetime", "instrument")
    j = buys.join(sells, on="instrument", suffix="_s").filter(
        pl.col("datetime_s") >= pl.col("datetime")
    )
    first = j.group_by("datetime", "instrument").agg(pl.col("datetime_s").min())
    gap = (first["datetime_s"] - first["datetime"]).dt.total_days()
    assert gap.min() >= 2
    with pytest.raises(ConfigError, match="T\\+1"):
        BacktestConfig(hold_thresh=0)


def test_weights_backtest_tracks_target_and_rejects_shorts(market_factory):
    m = market_factory(flat(T=4, N=3))
    w = np.zeros((4, 3))
    w[:, 0], w[:, 1] = 0.5, 0.5
    res = backtest_weights(w, m, BacktestConfig(account=1e6))
    last = res.positions.filter(pl.col("datetime") == res.returns["datetime"][3])
    assert sorted(last["instrument"].to_list()) == ["SZ000000", "SZ000001"]
    assert last["weight"].to_numpy() == pytest.approx([0.475, 0.475], abs=1e-3)
    with pytest.raises(ConfigError, match="negative"):
        backtest_weights(-w, m)


def test_deal_price_open_uses_open(market_factory):
    close = flat()
    open_ = flat(price=9.0)
    res = backtest_topk(
        scores([[2, 1]]), market_factory(close, open_=open_, deal_price="open"), TOP1
    )
    assert trades_on(res, 1)["price"][0] == pytest.approx(9.0)
    with pytest.raises(DataError, match="vwap"):
        market_factory(close, deal_price="vwap")


def test_write_parquet_columns(market_factory, tmp_path):
    res = backtest_topk(scores([[2, 1], [1, 2]]), market_factory(flat()), TOP1)
    res.write(tmp_path / "run")
    r = pl.read_parquet(tmp_path / "run" / "returns.parquet")
    assert r.columns == [
        "datetime",
        "return",
        "return_nc",
        "benchmark",
        "excess",
        "excess_nc",
        "turnover",
        "cost",
        "value",
    ]
    assert pl.read_parquet(tmp_path / "run" / "positions.parquet").columns == [
        "datetime",
        "instrument",
        "shares",
        "weight",
        "price",
    ]
    t = pl.read_parquet(tmp_path / "run" / "trades.parquet")
    assert t.columns == ["datetime", "instrument", "side", "shares", "price", "value", "cost"]
    assert t.height == res.trades.height == 3  # buy A, then sell A and buy B


def test_performance_table_by_hand():
    dates = np.array(
        ["2021-12-30", "2021-12-31", "2022-01-04", "2022-01-05"], dtype="datetime64[D]"
    )
    ex = np.array([0.01, -0.02, 0.03, 0.01])
    df = pl.DataFrame(
        {"datetime": dates, "excess": ex, "excess_nc": ex + 0.001, "turnover": [0.2, 0.4, 0.1, 0.3]}
    )
    tab = performance_table(df)
    o = tab["overall"]
    assert o["AlphaRtn"] == pytest.approx(238 * ex.mean())
    assert o["AlphaSharpe"] == pytest.approx(ex.mean() / ex.std(ddof=1) * np.sqrt(238))
    assert o["AlphaDrawdown"] == pytest.approx(0.02)  # cum 0.01, -0.01, ...
    assert o["max_drawdown"] == pytest.approx(-0.02)
    assert o["AlphaRtnNC"] == pytest.approx(238 * (ex.mean() + 0.001))
    assert o["TOV"] == pytest.approx(0.25)
    assert set(tab["by_year"]) == {2021, 2022}
    assert tab["by_year"][2022]["AlphaRtn"] == pytest.approx(238 * 0.02)
    with pytest.raises(DataError, match="turnover"):
        performance_table(df.drop("turnover"))


def test_weights_returns_long_short_by_hand():
    w = np.array([[1.0, -1.0], [1.0, -1.0], [0.0, 0.0]])
    r = np.array([[0.0, 0.0], [0.0, 0.0], [0.02, -0.01]])
    out = weights_returns(w, r, cost_rate=0.001, lag=1)
    # weights of day 0 are traded at the close of day 1 and earn day 2's returns
    assert out["gross"].tolist() == pytest.approx([0.0, 0.0, 0.03])
    assert out["turnover"].tolist() == pytest.approx([0.0, 2.0, 0.0])
    assert out["net"][1] == pytest.approx(-0.002)


def test_frictionless_weights_backtest_equals_vectorized_returns(market_factory):
    rng = np.random.default_rng(11)
    T, N = 40, 6
    close = 10 * np.cumprod(1 + 0.01 * rng.standard_normal((T, N)), axis=0)
    m = market_factory(close)
    w = rng.random((T, N))
    w /= w.sum(axis=1, keepdims=True)
    cfg = BacktestConfig(buy_cost=0, sell_cost=0, min_cost=0, trade_unit=0, risk_degree=1.0)
    res = backtest_weights(w, m, cfg)
    r = np.full((T, N), np.nan)
    r[1:] = m.close[1:] / m.close[:-1] - 1
    vec = weights_returns(w, r, cost_rate=0.0, lag=1)
    assert res.returns["return"].to_numpy() == pytest.approx(vec["gross"], abs=1e-9)
    assert np.abs(vec["gross"]).sum() > 0.01
