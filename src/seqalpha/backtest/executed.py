"""Execution in the daily backtest: each day's trades go through the intraday simulator on that
day's bars (the signal of the day before decides them), so returns carry execution cost.

The daily engine trades at one price per (day, name); the hook runs it at the close, sends the
resulting trades to `seqalpha.execution` as parent orders, books each traded name at its average
fill (adjusted like the close), blocks names whose order filled nothing, and runs the engine
again until every traded (day, name) has been executed. A partial fill is booked whole at its
average price: the execution table's `fill_rate` says how much the bars could take.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl

from seqalpha.backtest.market import Market
from seqalpha.backtest.run import BacktestResult
from seqalpha.config.schema import ExecutionConfig
from seqalpha.data.minute import MinuteBars, load_minute
from seqalpha.errors import DataError
from seqalpha.execution import OrderBars, Orders, SimParams, Strategy, make_strategy, simulate
from seqalpha.execution.bars import previous_close


def _day_close(bars: MinuteBars) -> np.ndarray:
    """Last valid bar close of each day [D, N] (the raw close)."""
    shifted = previous_close(
        MinuteBars(
            np.concatenate([bars.dates, bars.dates[-1:] + 1]),
            bars.bar_ends,
            bars.instruments,
            {"close": np.concatenate([bars["close"], bars["close"][-1:] * np.nan])},
        )
    )
    return shifted[1:]


def _locate(trades: pl.DataFrame, bars: MinuteBars) -> tuple[np.ndarray, np.ndarray]:
    """Day and instrument indices of trades in the bars; a trade without bars is a DataError."""
    days = trades["datetime"].cast(pl.Date).to_numpy().astype("datetime64[D]")
    d = np.searchsorted(bars.dates, days).clip(0, len(bars.dates) - 1)
    codes = {c: j for j, c in enumerate(bars.instruments.tolist())}
    inst = np.array([codes.get(c, -1) for c in trades["instrument"].to_list()], dtype=np.int64)
    bad = (bars.dates[d] != days) | (inst < 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"backtest.execution: no intraday bars for {days[k]} {trades['instrument'][k]} "
            f"(data.minute_dir covers {bars.dates[0]}..{bars.dates[-1]}, "
            f"{len(bars.instruments)} instruments)"
        )
    return d, inst


def backtest_executed(
    run: Callable[[Market], BacktestResult],
    market: Market,
    bars: MinuteBars,
    strategy: Strategy,
    params: SimParams,
    window: tuple[int, int | None] = (0, None),
    lookback: int = 20,
    max_passes: int = 5,
) -> BacktestResult:
    """`run(market)` (a daily backtest) with every trade executed by `strategy` over the bars
    `window` (start bar, end bar exclusive; None = the close) of its day. The result carries
    `execution`: one row per executed parent order (costs in bps, > 0 = paid)."""
    B = len(bars.bar_ends)
    start, end = window[0], B if window[1] is None else window[1]
    if not 0 <= start < end <= B:
        raise DataError(f"backtest.execution: bars {start}..{end} outside the day's {B} bars")
    col = {c: j for j, c in enumerate(market.instruments.tolist())}
    dates = market.dates.astype("datetime64[D]")
    price, can_buy, can_sell = market.price.copy(), market.can_buy.copy(), market.can_sell.copy()
    day_close = _day_close(bars)
    done: dict[tuple[int, int, str], dict] = {}
    result = run(market)
    for _ in range(max_passes):
        tr = result.trades
        t = np.searchsorted(dates, tr["datetime"].cast(pl.Date).to_numpy().astype("datetime64[D]"))
        i = np.array([col[c] for c in tr["instrument"].to_list()], dtype=np.int64)
        sides = tr["side"].to_list()
        keys = zip(t.tolist(), i.tolist(), sides, strict=True)
        new = np.array([k not in done for k in keys], dtype=bool)
        if not new.any():
            break
        sub = tr.filter(pl.Series(new))
        t, i = t[new], i[new]
        d, j = _locate(sub, bars)
        side = np.where(sub["side"].to_numpy() == "buy", 1.0, -1.0)
        orders = Orders.make(side, sub["shares"].to_numpy(), start, end, B)
        fills = simulate(orders, OrderBars.gather(bars, d, j, lookback), strategy, params)
        avg, rate, close_raw = fills.avg_price, fills.fill_rate, day_close[d, j]
        with np.errstate(invalid="ignore", divide="ignore"):
            exec_price = market.close[t, i] * avg / close_raw
        ok = (rate > 0) & np.isfinite(exec_price)
        price[t[ok], i[ok]] = exec_price[ok]
        can_buy[t[~ok & (side > 0)], i[~ok & (side > 0)]] = False
        can_sell[t[~ok & (side < 0)], i[~ok & (side < 0)]] = False
        for k in range(len(t)):
            done[(int(t[k]), int(i[k]), "buy" if side[k] > 0 else "sell")] = {
                "quantity": orders.quantity[k],
                "filled": fills.filled[k],
                "avg_price": avg[k],
                "arrival": fills.arrival[k],
                "close": close_raw[k],
                "side": side[k],
            }
        result = run(replace(market, price=price, can_buy=can_buy, can_sell=can_sell))
    result.execution = _table(result.trades, done, dates, col)
    return result


def _table(trades: pl.DataFrame, done: dict, dates: np.ndarray, col: dict) -> pl.DataFrame:
    """One row per executed parent order behind the final trades."""
    rows = []
    missing = 0
    t = np.searchsorted(dates, trades["datetime"].cast(pl.Date).to_numpy().astype("datetime64[D]"))
    sides = trades["side"].to_list()
    for k, (inst, day) in enumerate(zip(trades["instrument"].to_list(), t, strict=True)):
        rec = done.get((int(day), col[inst], sides[k]))
        if rec is None:
            missing += 1
            continue
        s, avg = rec["side"], rec["avg_price"]
        rows.append(
            {
                "datetime": trades["datetime"][k],
                "instrument": inst,
                "side": "buy" if s > 0 else "sell",
                "quantity": rec["quantity"],
                "filled": rec["filled"],
                "fill_rate": rec["filled"] / rec["quantity"],
                "avg_price": avg,
                "value": rec["filled"] * avg if np.isfinite(avg) else 0.0,
                "cost_vs_arrival_bps": s * (avg / rec["arrival"] - 1) * 1e4,
                "cost_vs_close_bps": s * (avg / rec["close"] - 1) * 1e4,
            }
        )
    if missing:
        warnings.warn(
            f"backtest.execution: {missing} trades were booked at the close (not converged)",
            stacklevel=2,
        )
    low = sum(r["fill_rate"] < 0.99 for r in rows)
    if low:
        warnings.warn(
            f"backtest.execution: {low} of {len(rows)} orders filled less than 99% on their "
            f"bars and are booked whole at their average price (see execution.parquet)",
            stacklevel=2,
        )
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def executed_from_config(
    run: Callable[[Market], BacktestResult],
    market: Market,
    minute_dir: str | Path,
    spec: ExecutionConfig,
) -> BacktestResult:
    """`backtest_executed` as the `backtest.execution` section sets it: bars read from
    `minute_dir` (the backtest's days plus `lookback` earlier ones for the volume curve)."""
    pad = np.timedelta64(int(spec.lookback * 1.6) + 7, "D")
    bars = load_minute(
        minute_dir,
        start=market.dates[0].astype("datetime64[D]") - pad,
        end=market.dates[-1].astype("datetime64[D]"),
        instruments=list(market.instruments),
    )
    params = SimParams(spec.participation, spec.impact, spec.price, spec.limit)
    strategy = make_strategy(spec.strategy, **spec.params)
    window = (spec.start_bar, spec.end_bar)
    return backtest_executed(run, market, bars, strategy, params, window, spec.lookback)
