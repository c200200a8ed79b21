"""Build a seqalpha data directory from the real 15-minute A-share bars.

    python scripts/prepare_real_intraday.py runs/real_intraday
        [--src SHARED/data/cn_intraday_15min/bars_15min.parquet] [--gap 0.105]

Writes OUT_DIR/minute/ (15-minute bars via ingest_minute, raw prices) and a daily Qlib store in
OUT_DIR: open high low close vwap (adjusted = raw * factor), volume (raw / factor), amount (CNY),
change (percent), factor, plus the equal-weighted benchmark EW_INDEX, instruments/all.txt and
instruments/market.txt (stock-days with at least one traded bar), and OUT_DIR/meta.json.

Corporate-action rule (the data carries no adjustment): on a main-board stock the opening price
can move at most 10% (5% for ST) from the previous close, so an overnight gap
|open_t - close_{t-1}| > `gap` * close_{t-1} + 0.02 CNY (default gap 10.5%; the two 0.01 ticks
absorb limit-price rounding of low-priced stocks) is taken as an ex-rights event (bonus shares /
split); close_{t-1} is the last available close (suspensions are bridged). The raw price
ratio r of the event is the gap, snapped to the nearest standard
bonus ratio 10 / (10 + k) (k = 0.5 .. 20 in steps of 0.5) when within 2%; the factor starts at 1
and is chained as factor_t = factor_{t-1} / r, so adjusted close is continuous across the event.
Cash dividends (a few percent) are not detected; they stay in the adjusted returns.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from seqalpha.data.minute import ingest_minute, load_minute, minute_to_daily
from seqalpha.data.panel import Panel
from seqalpha.data.qlib_bin import write_store
from seqalpha.errors import ConfigError, DataError
from seqalpha.paths import shared_data_dir

# Resolved like every other shared path: $SEQALPHA_SHARED, else ../shared beside the checkout.
DEFAULT_SRC = str(shared_data_dir("cn_intraday_15min") / "bars_15min.parquet")
INDEX_CODE = "EW_INDEX"
MARKET = "market"
STANDARD_RATIOS = 10.0 / (10.0 + np.arange(0.5, 20.01, 0.5))  # bonus k shares per 10 -> price ratio
SNAP_TOL = 0.02
TICK_SLACK = 0.02  # CNY: two 0.01 ticks, so limit moves of low-priced stocks (rounding) pass


def _ffill(x: np.ndarray) -> np.ndarray:
    """Forward-fill NaN along axis 0 of x [T, N] (leading NaN stay NaN)."""
    T = x.shape[0]
    idx = np.where(np.isnan(x), 0, np.arange(T)[:, None])
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = x[idx, np.arange(x.shape[1])[None, :]]
    return out


def detect_corporate_actions(
    open_: np.ndarray, close: np.ndarray, gap: float = 0.105
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw daily open/close [T, N] -> (factor [T, N] float64, event bool [T, N], ratio [T, N]).

    An event is a day whose open differs from the last available close by more than
    `gap` (fraction) of it plus TICK_SLACK CNY; ratio is the snapped raw price ratio of the
    event (1 elsewhere); factor chains 1 / ratio from 1 on the first day (NaN where the stock
    has no close that day).
    """
    if not 0 < gap < 1:
        raise ConfigError(f"gap={gap}: expected a fraction in (0, 1), e.g. 0.105")
    if open_.shape != close.shape or open_.ndim != 2:
        raise DataError(
            f"detect_corporate_actions: open {open_.shape} and close {close.shape} "
            "must be the same [T, N] shape"
        )
    prev = np.vstack([np.full((1, close.shape[1]), np.nan), _ffill(close)[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        g = open_ / prev
        move = np.abs(open_ - prev)
    event = np.isfinite(g) & (move > gap * prev + TICK_SLACK)
    ratio = np.ones_like(close, dtype=np.float64)
    if event.any():
        raw = g[event].astype(np.float64)
        dist = np.abs(np.log(raw)[:, None] - np.log(STANDARD_RATIOS)[None, :])
        best = dist.argmin(axis=1)
        snapped = np.where(dist[np.arange(len(raw)), best] < SNAP_TOL, STANDARD_RATIOS[best], raw)
        ratio[event] = snapped
    factor = np.cumprod(1.0 / ratio, axis=0)
    factor[np.isnan(close)] = np.nan
    return factor, event, ratio


def equal_weight_index(
    close_adj: np.ndarray, open_adj: np.ndarray, live: np.ndarray, base: float = 1000.0
) -> dict[str, np.ndarray]:
    """Equal-weighted index [T] from adjusted close/open [T, N]: mean close-to-close and
    close-to-open returns of the stocks live on both days, chained from `base`."""
    prev = np.vstack([np.full((1, close_adj.shape[1]), np.nan), close_adj[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        r_cc = np.where(live, close_adj / prev - 1.0, np.nan)
        r_co = np.where(live, open_adj / prev - 1.0, np.nan)
    with warnings.catch_warnings():  # days where no stock has both closes -> 0 return
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_cc = np.nan_to_num(np.nanmean(r_cc, axis=1))
        mean_co = np.nan_to_num(np.nanmean(r_co, axis=1))
    close = base * np.cumprod(1.0 + mean_cc)
    prev_idx = np.concatenate([[base], close[:-1]])
    open_ = prev_idx * (1.0 + mean_co)
    return {
        "open": open_,
        "close": close,
        "high": np.maximum(open_, close),
        "low": np.minimum(open_, close),
    }


def prepare(out_dir: str | Path, src: str | Path = DEFAULT_SRC, gap: float = 0.105) -> dict:
    """Ingest `src` 15-minute bars into OUT/minute and write the daily store + meta.json in OUT.

    Returns the summary written to meta.json (events found, shapes, timings).
    """
    out = Path(out_dir)
    src = Path(src)
    if not src.is_file():
        raise DataError(f"{src}: source bars not found")
    t0 = time.perf_counter()
    minute_dir = out / "minute"
    minute_dir.mkdir(parents=True, exist_ok=True)
    rep = ingest_minute(src, minute_dir, on_bad="drop")
    t_ingest = time.perf_counter() - t0
    bars = load_minute(minute_dir)  # [D, 16, N] raw prices
    daily = minute_to_daily(bars)  # name -> [D, N]
    D, N = daily["close"].shape
    factor, event, ratio = detect_corporate_actions(daily["open"], daily["close"], gap)
    live = np.isfinite(daily["close"]) & (np.nan_to_num(daily["volume"]) > 0)
    f = {}
    for k in ("open", "high", "low", "close", "vwap"):
        f[k] = daily[k] * factor
    f["volume"] = daily["volume"] / factor
    f["amount"] = daily["amount"].astype(np.float64)
    prev_c = np.vstack([np.full((1, N), np.nan), _ffill(f["close"])[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        f["change"] = (f["close"] / prev_c - 1.0) * 100.0
    f["factor"] = factor
    idx = equal_weight_index(f["close"], f["open"], live)
    idx_col = {k: idx[k] for k in ("open", "high", "low", "close")}
    idx_col["vwap"] = idx["close"]
    idx_col["volume"] = np.nansum(np.where(live, f["amount"], 0.0), axis=1) / idx["close"]
    idx_col["amount"] = np.nansum(np.where(live, f["amount"], 0.0), axis=1)
    idx_col["change"] = np.concatenate([[np.nan], (idx["close"][1:] / idx["close"][:-1] - 1) * 100])
    idx_col["factor"] = np.ones(D)
    codes = np.concatenate([bars.instruments.astype(str), [INDEX_CODE]])
    fields = {k: np.hstack([f[k], idx_col[k][:, None]]).astype(np.float32) for k in f}
    panel = Panel(bars.dates, codes, fields)
    market = np.hstack([live, np.zeros((D, 1), dtype=bool)])
    write_store(out, panel, markets={MARKET: market})
    ev_t, ev_n = np.nonzero(event)
    last_close = _ffill(daily["close"])
    events = [
        {
            "date": str(bars.dates[t]),
            "instrument": str(bars.instruments[n]),
            "gap": float(daily["open"][t, n] / last_close[t - 1, n] - 1.0),
            "ratio": float(ratio[t, n]),
        }
        for t, n in zip(ev_t, ev_n, strict=False)
    ]
    summary = {
        "source": str(src),
        "dates": [str(bars.dates[0]), str(bars.dates[-1])],
        "n_dates": int(D),
        "n_stocks": int(N),
        "benchmark": INDEX_CODE,
        "market": MARKET,
        "minute_dir": "minute",
        "minute_bar_minutes": int(rep.bar_minutes),
        "minute_prices": "raw (unadjusted)",
        "daily": "open/high/low/close/vwap = raw * factor; volume = raw / factor; amount CNY; "
        "change in percent",
        "factor_rule": f"overnight gap |open_t - close_(t-1)| > {gap} * close_(t-1) + {TICK_SLACK} "
        "CNY -> ex-rights event; ratio "
        f"snapped to 10/(10+k) within {SNAP_TOL}; factor_t = factor_(t-1) / ratio",
        "n_events": len(events),
        "events": events,
        "ingest": rep.summary(),
        "seconds_ingest": round(t_ingest, 2),
        "seconds_total": round(time.perf_counter() - t0, 2),
    }
    (out / "meta.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--src", default=DEFAULT_SRC)
    ap.add_argument("--gap", type=float, default=0.105)
    a = ap.parse_args(argv)
    s = prepare(a.out_dir, a.src, a.gap)
    print(
        f"{s['n_stocks']} stocks x {s['n_dates']} days {s['dates'][0]}..{s['dates'][1]}; "
        f"corporate-action events: {s['n_events']}; {s['seconds_total']} s -> {a.out_dir}"
    )
    for e in s["events"]:
        print(f"  {e['date']} {e['instrument']} gap {e['gap']:+.3f} ratio {e['ratio']:.4f}")
    print(s["ingest"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
