"""scripts/prepare_real_intraday.py: real 15-minute bars -> minute/ + daily Qlib store with a
data-derived adjustment factor (a planted 2-for-1 split must show up exactly where planted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqalpha.data import load_panel
from seqalpha.data.minute import load_minute
from seqalpha.errors import ConfigError, DataError

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "prepare_real_intraday.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("prepare_real_intraday", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


prep = _load_script()
SPLIT_CODE = "SH600000"
SPLIT_DAY = 10  # index of the ex-date among the subset's dates


@pytest.fixture(scope="module")
def subset(intraday15_path, tmp_path_factory) -> tuple[Path, pl.DataFrame]:
    """30 stocks x 20 days of the real bars; SH600000 gets a planted 2-for-1 split (prices / 2,
    volume x 2, amount unchanged) from the 11th day on."""
    lazy = pl.scan_parquet(intraday15_path)
    codes = (
        lazy.select(pl.col("instrument").unique().sort()).collect().to_series().head(30).to_list()
    )
    assert SPLIT_CODE in codes
    days = lazy.select(pl.col("datetime").dt.date().unique().sort()).collect().to_series().head(20)
    df = lazy.filter(
        pl.col("instrument").is_in(codes) & pl.col("datetime").dt.date().is_in(days.implode())
    ).collect()
    planted = (pl.col("instrument") == SPLIT_CODE) & (
        pl.col("datetime").dt.date() >= days[SPLIT_DAY]
    )
    df = df.with_columns(
        *[
            pl.when(planted).then(pl.col(c) / 2).otherwise(pl.col(c)).alias(c)
            for c in ("open", "high", "low", "close")
        ],
        pl.when(planted).then(pl.col("volume") * 2).otherwise(pl.col("volume")).alias("volume"),
    )
    path = tmp_path_factory.mktemp("bars") / "bars.parquet"
    df.write_parquet(path)
    return path, df


@pytest.fixture(scope="module")
def prepared(subset, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("real_intraday")
    summary = prep.prepare(out, subset[0])
    return out, summary


def test_daily_close_is_last_bar_close_times_factor(prepared, subset):
    out, _ = prepared
    panel = load_panel(out, ["close", "factor", "volume"], "all")
    last = (
        subset[1]
        .sort("datetime")
        .group_by(pl.col("datetime").dt.date().alias("date"), "instrument")
        .agg(pl.col("close").last(), pl.col("volume").sum())
    )
    wide = last.pivot(on="instrument", index="date", values="close").sort("date")
    codes = [c for c in wide.columns if c != "date"]
    raw_close = wide.select(codes).to_numpy().astype(np.float32)
    j = [list(panel.instruments).index(c) for c in codes]
    np.testing.assert_array_equal(panel.dates, wide["date"].to_numpy().astype("datetime64[D]"))
    expected = raw_close * panel.fields["factor"][:, j]
    np.testing.assert_allclose(panel.fields["close"][:, j], expected, rtol=1e-6)
    # the minute store keeps raw prices, 16 bars a day, resampled to 8 thirty-minute bars on load
    bars = load_minute(out / "minute", bar_minutes=30)
    assert bars.shape == (20, 8, 30)
    jb = [list(bars.instruments).index(c) for c in codes]
    np.testing.assert_allclose(bars["close"][:, -1, jb], raw_close, rtol=1e-6)


def test_factor_jumps_exactly_at_planted_split(prepared):
    out, summary = prepared
    panel = load_panel(out, ["close", "factor"], "all")
    j = list(panel.instruments).index(SPLIT_CODE)
    f = panel.fields["factor"][:, j]
    np.testing.assert_array_equal(f[:SPLIT_DAY], 1.0)
    np.testing.assert_array_equal(f[SPLIT_DAY:], 2.0)  # raw ratio 0.5 snapped to 10/(10+10)
    events = [(e["date"], e["instrument"]) for e in summary["events"]]
    assert events == [(str(panel.dates[SPLIT_DAY]), SPLIT_CODE)]
    # adjusted close has no split jump: the ex-day adjusted return is an ordinary move
    r = panel.fields["close"][SPLIT_DAY, j] / panel.fields["close"][SPLIT_DAY - 1, j] - 1
    assert abs(r) < 0.1
    assert json.loads((out / "meta.json").read_text())["n_events"] == 1


def test_benchmark_and_market_files(prepared):
    out, _ = prepared
    assert (out / "instruments" / "all.txt").is_file()
    market = load_panel(out, ["close"], "market")
    assert prep.INDEX_CODE not in market.instruments  # the benchmark is not a tradable stock
    full = load_panel(out, ["close", "change"], "all")
    k = list(full.instruments).index(prep.INDEX_CODE)
    stocks = [i for i, c in enumerate(full.instruments) if c != prep.INDEX_CODE]
    # EW_INDEX daily change (percent) is the mean adjusted close-to-close change of the stocks
    ew = np.nanmean(full.fields["change"][1:, stocks], axis=1)
    np.testing.assert_allclose(full.fields["change"][1:, k], ew, rtol=1e-4, atol=1e-4)


def test_detect_corporate_actions_synthetic_case():
    """Three stocks x 6 days: a 10-for-3 bonus after a suspension, a limit-up of a 1.67 CNY stock
    (rounding pushes it past 10.5%: not an event) and a cash-dividend-like 3% gap (not an event)."""
    nan = np.nan
    close = np.array(
        [
            [20.0, 1.60, 10.0],
            [20.4, 1.67, 10.1],
            [nan, 1.85, 9.8],  # stock 0 suspended
            [15.8, 1.90, 9.9],
            [15.9, 1.88, 9.7],
            [16.0, 1.86, 9.8],
        ]
    )
    open_ = np.array(
        [
            [20.0, 1.60, 10.0],
            [20.2, 1.62, 10.0],
            [nan, 1.85, 9.8],
            [15.7, 1.86, 9.6],  # stock 0: 20.4 -> 15.7 = -23%: ex-rights 10/13
            [15.8, 1.89, 9.7],
            [15.9, 1.87, 9.5],
        ]
    )  # stock 2: -3.1% gap, a dividend: ignored
    factor, event, ratio = prep.detect_corporate_actions(open_, close)
    assert event.sum() == 1 and event[3, 0]
    assert ratio[3, 0] == pytest.approx(10 / 13)
    np.testing.assert_allclose(factor[:, 0], [1, 1, nan, 1.3, 1.3, 1.3])
    np.testing.assert_array_equal(factor[:, 1:], 1.0)
    adj = close * factor
    assert abs(adj[3, 0] / adj[1, 0] - 1) < 0.02  # continuous across the bonus issue


def test_bad_inputs_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match=r"gap=1\.5"):
        prep.detect_corporate_actions(np.ones((2, 2)), np.ones((2, 2)), gap=1.5)
    with pytest.raises(DataError, match="same"):
        prep.detect_corporate_actions(np.ones((2, 2)), np.ones((3, 2)))
    with pytest.raises(DataError, match=r"nope\.parquet"):
        prep.prepare(tmp_path / "out", tmp_path / "nope.parquet")
