"""The real 15-minute A-share bars go through the same ingest -> load -> resample path."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from seqalpha.data.minute import A_SHARE, ingest_minute, load_minute, minute_to_daily, resample

PLACEHOLDER_CODE = "SH600289"  # a stock whose source rows include all-zero no-trade bars


@pytest.fixture(scope="module")
def real_subset(intraday15_path, tmp_path_factory):
    """~50 real stocks (49 codes + one with zero placeholder bars): source rows, ingested dir."""
    lf = pl.scan_parquet(intraday15_path)
    codes = (
        lf.select("instrument")
        .unique()
        .sort("instrument")
        .head(49)
        .collect()["instrument"]
        .to_list()
    )
    codes = sorted(set(codes) | {PLACEHOLDER_CODE})
    src = lf.filter(pl.col("instrument").is_in(codes)).collect()
    tmp = tmp_path_factory.mktemp("real15")
    src.write_parquet(tmp / "subset.parquet")
    report = ingest_minute(tmp / "subset.parquet", tmp / "minute")
    return src, report, tmp / "minute"


def test_ingest_report_counts_placeholders(real_subset):
    src, report, _ = real_subset
    zero = src.filter((pl.col("close") == 0) & (pl.col("volume") == 0)).height
    assert zero > 0 and report.empty_bars == zero
    assert report.rows_written == src.height - zero and report.bar_minutes == 15
    assert report.dates == 183 and report.instruments == 50
    assert sum(report.dropped.values()) == 0


def test_thirty_minute_bars_conserve_volume_and_match_source_ohlc(real_subset):
    src, _, out = real_subset
    bars15 = load_minute(out)
    assert bars15.shape == (183, 16, 50)
    bars = resample(bars15, 30)
    assert bars.bar_ends.tolist() == A_SHARE.bar_ends(30).tolist()
    # reference from the source rows: 30-minute buckets aligned to 09:30 / 13:00, end-labelled
    live = src.filter(~((pl.col("close") == 0) & (pl.col("volume") == 0)))
    minute = pl.col("datetime").dt.hour().cast(pl.Int32) * 60 + pl.col("datetime").dt.minute()
    start = pl.when(minute <= 11 * 60 + 30).then(9 * 60 + 30).otherwise(13 * 60)
    bucket_end = start + ((minute - start + 29) // 30) * 30
    ref = (
        live.with_columns(bucket_end.alias("end"), pl.col("datetime").dt.date().alias("day"))
        .sort("datetime")
        .group_by("day", "instrument", "end")
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
            pl.col("amount").sum(),
        )
    )
    di = np.searchsorted(bars.dates, ref["day"].to_numpy().astype("datetime64[D]"))
    bi = np.searchsorted(bars.bar_end_minutes(), ref["end"].to_numpy())
    ni = np.searchsorted(bars.instruments, ref["instrument"].to_numpy().astype(str))
    for k in ("open", "high", "low", "close"):
        np.testing.assert_allclose(bars[k][di, bi, ni], ref[k].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(bars["volume"][di, bi, ni], ref["volume"].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(bars["amount"][di, bi, ni], ref["amount"].to_numpy(), rtol=1e-5)
    # every bar present in the reference, nothing else
    assert np.isfinite(bars["close"]).sum() == ref.height
    # daily volume conserved against the source rows
    daily = minute_to_daily(bars)
    day_ref = src.group_by(pl.col("datetime").dt.date().alias("day"), "instrument").agg(
        pl.col("volume").sum()
    )
    dj = np.searchsorted(bars.dates, day_ref["day"].to_numpy().astype("datetime64[D]"))
    nj = np.searchsorted(bars.instruments, day_ref["instrument"].to_numpy().astype(str))
    np.testing.assert_allclose(
        np.nan_to_num(daily["volume"][dj, nj]), day_ref["volume"].to_numpy(), rtol=1e-6
    )
    ok = np.isfinite(bars["close"])
    assert (bars["high"][ok] >= np.maximum(bars["open"][ok], bars["close"][ok])).all()
    assert (bars["low"][ok] <= np.minimum(bars["open"][ok], bars["close"][ok])).all()
    vwap = bars["vwap"][ok & (bars["volume"] > 0)]
    lo, hi = bars["low"][ok & (bars["volume"] > 0)], bars["high"][ok & (bars["volume"] > 0)]
    assert (
        np.mean((vwap >= lo * 0.999) & (vwap <= hi * 1.001)) > 0.999
    )  # amount in CNY, volume in shares


def test_loading_thirty_minutes_directly_equals_resampling(real_subset):
    _, _, out = real_subset
    direct = load_minute(
        out,
        start="2025-03-03",
        end="2025-03-07",
        bar_minutes=30,
        instruments=["SH600000", PLACEHOLDER_CODE],
    )
    via = resample(
        load_minute(
            out, start="2025-03-03", end="2025-03-07", instruments=["SH600000", PLACEHOLDER_CODE]
        ),
        30,
    )
    assert direct.shape == (5, 8, 2)
    for k in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(direct[k], via[k])
