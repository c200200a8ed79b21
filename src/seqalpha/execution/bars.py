"""Intraday bars as the execution simulator reads them: per-order `[M, B]` slices of a
`MinuteBars` table, the previous close (price limits), and past-only volume-curve forecasts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from seqalpha.data.minute import MinuteBars
from seqalpha.errors import DataError


def previous_close(bars: MinuteBars) -> np.ndarray:
    """The last valid bar close before each day `[D, N]` (carried over days without trades; NaN
    before the first); the reference of the daily price limits."""
    close = bars["close"].astype(np.float64)
    valid = np.isfinite(close) & (close > 0)  # a 0 price (a bar without trades) is no price
    traded = valid.any(axis=1)
    last = np.where(traded, valid.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1), 0)
    day_close = np.take_along_axis(close, last[:, None, :], axis=1)[:, 0]
    idx = np.where(traded, np.arange(len(day_close))[:, None], -1)
    np.maximum.accumulate(idx, axis=0, out=idx)  # the last day with a trade, up to each day
    carried = np.where(idx >= 0, day_close[np.maximum(idx, 0), np.arange(idx.shape[1])], np.nan)
    out = np.full(day_close.shape, np.nan)
    out[1:] = carried[:-1]
    return out


def volume_curve(volume: np.ndarray, lookback: int = 20) -> np.ndarray:
    """Forecast intraday volume shares `[D, B, N]` (each day's curve sums to 1 over B) from the
    `lookback` PREVIOUS days only: the mean of each past day's volume share per bar, per
    instrument; an instrument without past volume gets the cross-section's past curve, and a
    day without any past volume a flat curve."""
    if lookback < 1:
        raise DataError(f"volume_curve: lookback must be >= 1, got {lookback}")
    vol = np.nan_to_num(np.asarray(volume, dtype=np.float64), nan=0.0)
    D, B, _ = vol.shape
    day = vol.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(day > 0, vol / day, np.nan)  # [D, B, N], NaN on days without volume
    has = np.isfinite(share[:, 0, :]).astype(np.float64)  # [D, N]
    csum = np.concatenate([np.zeros((1, B, vol.shape[2])), np.nancumsum(share, axis=0)])
    ccount = np.concatenate([np.zeros((1, vol.shape[2])), np.cumsum(has, axis=0)])
    d = np.arange(D)
    lo = np.maximum(d - lookback, 0)
    total = csum[d] - csum[lo]  # days lo..d-1: strictly before d
    count = (ccount[d] - ccount[lo])[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        own = total / count
        market = total.sum(axis=2) / count.sum(axis=2)  # [D, B]
    market = np.where(np.isfinite(market), market, 1.0 / B)
    return np.where(count > 0, own, market[:, :, None])


def past_daily_stats(bars: MinuteBars, lookback: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(mean daily volume, intraday volatility) `[D, N]` over the `lookback` PREVIOUS days with
    volume; volatility = sqrt(mean daily sum of squared bar log returns). NaN when unknown."""
    vol = np.nan_to_num(bars["volume"].astype(np.float64), nan=0.0)
    close = bars["close"].astype(np.float64)
    close = np.where(np.isfinite(close) & (close > 0), close, np.nan)  # a 0 price is no price
    r = np.diff(np.log(close), axis=1)
    rv = np.nansum(r**2, axis=1)  # [D, N]
    day_vol = vol.sum(axis=1)
    has = (day_vol > 0).astype(np.float64)
    out = []
    for x in (day_vol, rv):
        c = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(np.where(has > 0, x, 0.0), 0)])
        n = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(has, axis=0)])
        d = np.arange(x.shape[0])
        lo = np.maximum(d - lookback, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(n[d] - n[lo] > 0, (c[d] - c[lo]) / (n[d] - n[lo]), np.nan))
    return out[0], np.sqrt(out[1])


@dataclass
class OrderBars:
    """The bars of M orders' days `[M, B]` (raw prices): open high low close volume vwap; prev_close
    [M] (NaN = unknown, no limit rule); and what is known from previous days only: the volume
    curve [M, B], mean daily volume adv [M] and intraday volatility sigma [M]."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    vwap: np.ndarray
    prev_close: np.ndarray
    curve: np.ndarray
    adv: np.ndarray
    sigma: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.close.shape

    @classmethod
    def gather(
        cls, bars: MinuteBars, day: np.ndarray, inst: np.ndarray, lookback: int = 20
    ) -> OrderBars:
        """Rows of `bars` for orders on day index `day` [M] of instrument index `inst` [M]."""
        day, inst = np.asarray(day, dtype=np.int64), np.asarray(inst, dtype=np.int64)

        def price(k: str) -> np.ndarray:  # a 0 price (a bar without trades) is no price
            p = bars[k][day, :, inst].astype(np.float64)
            return np.where(p > 0, p, np.nan)

        get = {k: price(k) for k in ("open", "high", "low")}
        close = price("close")
        vol = np.nan_to_num(bars["volume"][day, :, inst].astype(np.float64), nan=0.0)
        amount = bars["amount"][day, :, inst].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            vwap = np.where(vol > 0, amount / vol, close)
        adv, sigma = past_daily_stats(bars, lookback)
        return cls(
            get["open"],
            get["high"],
            get["low"],
            close,
            vol,
            vwap,
            previous_close(bars)[day, inst],
            volume_curve(bars["volume"], lookback)[day, :, inst],
            adv[day, inst],
            sigma[day, inst],
        )

    def before(self, b: int) -> OrderBars:
        """Bars 0..b-1 of every order (views); prev_close and the curve are known before b."""
        return replace(self, **{k: getattr(self, k)[:, :b] for k in _BAR_FIELDS})

    def take(self, rows: np.ndarray | slice) -> OrderBars:
        """A subset of the orders (views where possible)."""
        return replace(self, **{k: getattr(self, k)[rows] for k in _ALL_FIELDS})


_BAR_FIELDS = ("open", "high", "low", "close", "volume", "vwap")
_ALL_FIELDS = (*_BAR_FIELDS, "prev_close", "curve", "adv", "sigma")


def load_bars_parquet(
    path: str | Path,
    start: str | None = None,
    end: str | None = None,
    instruments: list[str] | None = None,
) -> MinuteBars:
    """A long bar file (`datetime` = bar end, instrument, open high low close volume amount; e.g.
    the real 15-minute bars) as dense `MinuteBars` [D, B, N] (NaN where a bar is absent; a price
    of 0, which the real bars carry where nothing traded, becomes NaN)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such bar file")
    lazy = pl.scan_parquet(path)
    need = ["datetime", "instrument", "open", "high", "low", "close", "volume", "amount"]
    missing = [c for c in need if c not in lazy.collect_schema().names()]
    if missing:
        raise DataError(f"{path}: bar file lacks the column(s) {missing}")
    day = pl.col("datetime").dt.date()
    if start is not None:
        lazy = lazy.filter(day >= pl.lit(np.datetime64(start, "D")))
    if end is not None:
        lazy = lazy.filter(day <= pl.lit(np.datetime64(end, "D")))
    if instruments is not None:
        lazy = lazy.filter(pl.col("instrument").is_in([str(c).upper() for c in instruments]))
    df = (
        lazy.select(need)
        .with_columns(day.alias("_d"), pl.col("datetime").dt.strftime("%H:%M").alias("_b"))
        .collect()
    )
    if df.height == 0:
        raise DataError(f"{path}: no bars in {start}..{end}")
    dates = np.sort(df["_d"].unique().to_numpy()).astype("datetime64[D]")
    ends = np.array(sorted(df["_b"].unique().to_list()))
    codes = np.array(sorted(df["instrument"].unique().to_list()))
    di = np.searchsorted(dates, df["_d"].to_numpy().astype("datetime64[D]"))
    bi = np.searchsorted(ends, df["_b"].to_numpy())
    ii = np.searchsorted(codes, df["instrument"].to_numpy())
    fields = {}
    for k in ("open", "high", "low", "close", "volume", "amount"):
        arr = np.full((len(dates), len(ends), len(codes)), np.nan, dtype=np.float32)
        values = df[k].to_numpy()
        if k in ("open", "high", "low", "close"):  # 0 = no trade in the bar (real data)
            values = np.where(values > 0, values, np.nan)
        arr[di, bi, ii] = values
        fields[k] = arr
    return MinuteBars(dates, ends, codes, fields)
