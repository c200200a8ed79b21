"""Minute bars: session grids, ingest validation, date-partitioned storage, resampling."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqalpha.data.minute import (
    A_SHARE,
    MinuteBars,
    Session,
    ingest_minute,
    load_minute,
    minute_to_daily,
    resample,
)
from seqalpha.errors import ConfigError, DataError

US = Session((("09:30", "16:00"),))


def random_bars(
    rng: np.random.Generator,
    days: int,
    n: int,
    bar_minutes: int = 1,
    session: Session = A_SHARE,
    nan_frac: float = 0.0,
) -> MinuteBars:
    """Consistent random OHLCV bars [D, B, N] (a random walk), with optional missing bars."""
    ends = session.bar_ends(bar_minutes)
    B = len(ends)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.002, (days, B, n)), axis=1))
    open_ = close * np.exp(rng.normal(0, 0.001, close.shape))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.002, close.shape))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.002, close.shape))
    volume = rng.integers(0, 1000, close.shape).astype(float) * 100
    amount = volume * (high + low) / 2
    fields = {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "amount": amount,
    }
    if nan_frac:
        hole = rng.random(close.shape) < nan_frac
        for v in fields.values():
            v[hole] = np.nan
    dates = np.arange(np.datetime64("2024-01-02"), np.datetime64("2024-01-02") + days)
    return MinuteBars(
        dates,
        ends,
        np.array([f"S{i:03d}" for i in range(n)]),
        {k: v.astype(np.float32) for k, v in fields.items()},
    )


def bars_to_long(bars: MinuteBars) -> pl.DataFrame:
    """Long rows `datetime` (bar end), `instrument`, OHLCV, amount (NaN bars left out)."""
    D, B, N = bars.shape
    mins = bars.bar_end_minutes()
    stamps = bars.dates.astype("datetime64[m]")[:, None] + mins[None, :].astype("timedelta64[m]")
    cols = {
        "datetime": np.repeat(stamps.reshape(-1), N).astype("datetime64[us]"),
        "instrument": np.tile(bars.instruments, D * B),
    }
    for k in ("open", "high", "low", "close", "volume", "amount"):
        cols[k] = bars[k].reshape(-1).astype(np.float64)
    df = pl.DataFrame(cols)
    return df.filter(pl.col("close").is_not_nan())


@pytest.fixture
def minute_csv(tmp_path):
    """Two days of 1-minute bars for 3 instruments as a CSV file; returns (path, bars)."""
    bars = random_bars(np.random.default_rng(1), days=2, n=3)
    path = tmp_path / "bars.csv"
    bars_to_long(bars).write_csv(path)
    return path, bars


# ---------------------------------------------------------------------------------- sessions


def test_a_share_thirty_minute_bars_are_labelled_by_end_time():
    assert A_SHARE.bar_ends(30).tolist() == [
        "10:00",
        "10:30",
        "11:00",
        "11:30",
        "13:30",
        "14:00",
        "14:30",
        "15:00",
    ]
    assert len(A_SHARE.bar_ends(1)) == 240 and A_SHARE.bar_ends(1)[[0, 119, 120]].tolist() == [
        "09:31",
        "11:30",
        "13:01",
    ]


def test_continuous_session_and_bars_that_do_not_tile_it():
    assert len(US.bar_ends(30)) == 13 and US.bar_ends(30)[-1] == "16:00"
    with pytest.raises(ConfigError, match="09:30-16:00"):
        US.bar_ends(60)
    assert Session.parse("09:30-11:30, 13:00-15:00") == A_SHARE
    with pytest.raises(ConfigError):
        Session((("10:00", "09:00"),))


# ---------------------------------------------------------------------------------- ingest / load


def test_ingest_writes_zstd_date_partitions_and_loads_back_dense(minute_csv, tmp_path):
    path, bars = minute_csv
    out = tmp_path / "minute"
    report = ingest_minute(path, out)
    assert report.rows_written == 2 * 240 * 3 and report.bar_minutes == 1 and report.dates == 2
    parts = sorted(p.name for p in out.glob("date=*"))
    assert parts == ["date=2024-01-02", "date=2024-01-03"]
    meta = pq.ParquetFile(next((out / "date=2024-01-02").glob("*.parquet"))).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    loaded = load_minute(out)
    assert loaded.shape == bars.shape and loaded.bar_ends.tolist() == bars.bar_ends.tolist()
    for k in ("open", "high", "low", "close", "volume", "amount"):
        np.testing.assert_allclose(loaded[k], bars[k], rtol=1e-6)


def test_load_selects_dates_and_instruments_and_reads_only_those_partitions(minute_csv, tmp_path):
    path, bars = minute_csv
    out = tmp_path / "minute"
    ingest_minute(path, out)
    # a corrupt partition outside the requested range must not be touched
    bad = out / "date=2024-02-01"
    bad.mkdir()
    (bad / "part-0.parquet").write_bytes(b"not parquet")
    sub = load_minute(
        out, start="2024-01-03", end="2024-01-31", instruments=["S002", "S000", "NOPE"]
    )
    assert sub.dates.tolist() == [np.datetime64("2024-01-03")]
    assert sub.instruments.tolist() == ["S002", "S000", "NOPE"]
    np.testing.assert_allclose(sub["close"][0, :, 0], bars["close"][1, :, 2], rtol=1e-6)
    assert np.isnan(sub["close"][..., 2]).all()
    with pytest.raises(DataError, match="date=2024-02-01"):
        load_minute(out)  # now the corrupt partition is in range


def test_load_can_resample_on_the_fly(minute_csv, tmp_path):
    path, bars = minute_csv
    ingest_minute(path, tmp_path / "m")
    thirty = load_minute(tmp_path / "m", bar_minutes=30)
    np.testing.assert_allclose(thirty["volume"], resample(bars, 30)["volume"], rtol=1e-6)
    assert thirty.bar_ends.tolist() == A_SHARE.bar_ends(30).tolist()


BAD_CASES = [
    (
        "bad_price",
        lambda df: df.with_columns(
            pl.when(pl.int_range(pl.len()) == 5)
            .then(float("nan"))
            .otherwise(pl.col("close"))
            .alias("close")
        ),
    ),
    (
        "bad_price",
        lambda df: df.with_columns(
            pl.when(pl.int_range(pl.len()) == 5).then(-1.0).otherwise(pl.col("open")).alias("open")
        ),
    ),
    (
        "high_below_low",
        lambda df: df.with_columns(
            pl.when(pl.int_range(pl.len()) == 5)
            .then(pl.col("low") - 1)
            .otherwise(pl.col("high"))
            .alias("high")
        ),
    ),
    (
        "bad_volume",
        lambda df: df.with_columns(
            pl.when(pl.int_range(pl.len()) == 5)
            .then(-100.0)
            .otherwise(pl.col("volume"))
            .alias("volume")
        ),
    ),
    (
        "outside_session",
        lambda df: df.with_columns(
            pl.when(pl.int_range(pl.len()) == 5)
            .then(pl.datetime(2024, 1, 2, 12, 0))
            .otherwise(pl.col("datetime"))
            .alias("datetime")
        ),
    ),
]


@pytest.mark.parametrize("reason,corrupt", BAD_CASES)
def test_bad_rows_raise_naming_file_instrument_and_datetime_or_are_dropped(
    minute_csv, tmp_path, reason, corrupt
):
    path, _ = minute_csv
    df = corrupt(pl.read_csv(path, try_parse_dates=True))
    row = df.row(5, named=True)
    bad_path = tmp_path / "bad.parquet"
    df.write_parquet(bad_path)
    with pytest.raises(DataError) as info:
        ingest_minute(bad_path, tmp_path / "out")
    msg = str(info.value)
    assert "bad.parquet" in msg and reason in msg and row["instrument"] in msg
    assert str(row["datetime"])[:16] in msg
    report = ingest_minute(bad_path, tmp_path / "out2", on_bad="drop")
    assert report.dropped[reason] == 1 and report.rows_written == df.height - 1


def test_duplicates_across_files_are_named(minute_csv, tmp_path):
    path, _ = minute_csv
    df = pl.read_csv(path, try_parse_dates=True)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    df.head(100).write_csv(a)
    df.slice(99, 50).write_csv(b)  # row 99 is in both
    with pytest.raises(DataError, match=r"duplicate.*\['a.csv', 'b.csv'\]"):
        ingest_minute([a, b], tmp_path / "out")
    # the same policy as daily ingest: exact copies collapse, conflicting ones are dropped
    report = ingest_minute([a, b], tmp_path / "out", on_bad="drop")
    assert report.identical_duplicates == 1 and report.dropped["duplicate"] == 0
    assert report.rows_written == 149


def test_all_zero_placeholder_bars_are_missing_not_errors(minute_csv, tmp_path):
    path, _ = minute_csv
    df = pl.read_csv(path, try_parse_dates=True)
    zero = pl.int_range(pl.len()) == 7
    df = df.with_columns(
        [
            pl.when(zero).then(0.0).otherwise(pl.col(c)).alias(c)
            for c in ("open", "high", "low", "close", "volume", "amount")
        ]
    )
    row = df.row(7, named=True)
    df.write_parquet(tmp_path / "z.parquet")
    report = ingest_minute(tmp_path / "z.parquet", tmp_path / "out")
    assert report.empty_bars == 1 and report.rows_written == df.height - 1
    bars = load_minute(tmp_path / "out", instruments=[row["instrument"]])
    minute = row["datetime"].hour * 60 + row["datetime"].minute
    b = int(np.nonzero(bars.bar_end_minutes() == minute)[0][0])
    assert np.isnan(bars["close"][0, b, 0]) and np.isfinite(bars["close"][0, b - 1, 0])


def test_missing_column_and_mixed_bar_lengths_are_errors(minute_csv, tmp_path):
    path, bars = minute_csv
    pl.read_csv(path).drop("volume").write_csv(tmp_path / "nov.csv")
    with pytest.raises(DataError, match="volume"):
        ingest_minute(tmp_path / "nov.csv", tmp_path / "out")
    ingest_minute(path, tmp_path / "out")
    bars_to_long(resample(bars, 30)).write_csv(tmp_path / "thirty.csv")
    with pytest.raises(DataError, match="not empty"):
        ingest_minute(tmp_path / "thirty.csv", tmp_path / "out")
    with pytest.raises(DataError, match="1-minute"):
        ingest_minute(tmp_path / "thirty.csv", tmp_path / "out", merge=True)


# ---------------------------------------------------------------------------------- resample


def test_resample_hand_computed_fifteen_to_thirty_minutes():
    ends = A_SHARE.bar_ends(15)
    n = len(ends)  # 16 bars
    o = np.arange(n, dtype=np.float32) + 10
    c = o + 0.5
    h = c + 1
    l_ = o - 1
    v = np.arange(1, n + 1, dtype=np.float32) * 100
    amt = v * 11
    o[2] = np.nan  # 10:15-10:30 missing: the 10:30 bar opens at the 10:30 15-minute bar
    fields = {
        k: a.reshape(1, n, 1)
        for k, a in {
            "open": o,
            "high": h,
            "low": l_,
            "close": c,
            "volume": v,
            "amount": amt,
        }.items()
    }
    bars = MinuteBars(
        np.array(["2024-01-02"], dtype="datetime64[D]"), ends, np.array(["A"]), fields
    )
    out = resample(bars, 30)
    assert out.bar_ends.tolist() == A_SHARE.bar_ends(30).tolist()
    np.testing.assert_allclose(out["open"][0, :3, 0], [10, 13, 14])
    np.testing.assert_allclose(out["close"][0, :, 0], c[1::2])
    np.testing.assert_allclose(out["high"][0, :, 0], h[1::2])
    np.testing.assert_allclose(out["low"][0, :, 0], l_[0::2])
    np.testing.assert_allclose(out["volume"][0, :, 0], v[0::2] + v[1::2])
    np.testing.assert_allclose(out["vwap"][0, :, 0], 11.0, rtol=1e-6)
    bars.fields["open"][0, 3, 0] = np.nan  # both 15-minute opens of the 10:30 bar missing
    assert np.isnan(resample(bars, 30)["open"][0, 1, 0])


def test_hourly_bars_never_span_the_lunch_break():
    bars = random_bars(np.random.default_rng(0), 1, 2)
    bars.fields["volume"][:] = np.arange(240, dtype=np.float32)[None, :, None]
    hourly = resample(bars, 60)
    assert hourly.bar_ends.tolist() == ["10:30", "11:30", "14:00", "15:00"]
    np.testing.assert_allclose(
        hourly["volume"][0, :, 0], [np.arange(a, a + 60).sum() for a in (0, 60, 120, 180)]
    )
    np.testing.assert_allclose(hourly["open"][0, 2], bars["open"][0, 120])


def test_resample_other_sessions_and_invalid_requests():
    us = random_bars(np.random.default_rng(2), 1, 3, session=US)
    half = resample(us, 30, US)
    assert half.shape == (1, 13, 3)
    np.testing.assert_allclose(half["close"][0, -1], us["close"][0, -1])
    thirty = resample(random_bars(np.random.default_rng(3), 1, 2), 30)
    with pytest.raises(ConfigError, match="45"):
        resample(thirty, 45)
    with pytest.raises(ConfigError, match="10-minute"):
        resample(thirty, 10)
    with pytest.raises(DataError, match="trades"):
        extra = random_bars(np.random.default_rng(3), 1, 2)
        extra.fields["trades"] = extra["volume"].copy()
        resample(extra, 30)
    summed = resample(extra, 30, how={"trades": "sum"})
    np.testing.assert_allclose(summed["trades"], summed["volume"])


def test_minute_to_daily_matches_first_max_min_last_sum():
    bars = random_bars(np.random.default_rng(4), 3, 5, nan_frac=0.1)
    d = minute_to_daily(bars)
    ref_open = np.array(
        [
            [bars["open"][i, ~np.isnan(bars["open"][i, :, j]), j][0] for j in range(5)]
            for i in range(3)
        ]
    )
    np.testing.assert_allclose(d["open"], ref_open)
    np.testing.assert_allclose(d["high"], np.nanmax(bars["high"], axis=1))
    np.testing.assert_allclose(d["low"], np.nanmin(bars["low"], axis=1))
    np.testing.assert_allclose(
        d["volume"], np.nansum(bars["volume"], axis=1, dtype=np.float64), rtol=1e-6
    )
    np.testing.assert_allclose(d["vwap"], d["amount"] / d["volume"], rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    k_in=st.sampled_from([1, 5, 15]),
    target=st.sampled_from([5, 10, 15, 30, 60]),
    nan_frac=st.sampled_from([0.0, 0.05, 0.5]),
    n=st.integers(1, 4),
)
def test_resample_invariants(seed, k_in, target, nan_frac, n):
    if target % k_in:
        target = k_in * (60 // k_in)
    bars = random_bars(np.random.default_rng(seed), 2, n, bar_minutes=k_in, nan_frac=nan_frac)
    out = resample(bars, target)
    r = target // k_in
    assert out.shape == (2, 240 // target, n)
    grp = {k: v.reshape(2, 240 // target, r, n) for k, v in bars.fields.items()}
    # volume conserved per group and per day
    np.testing.assert_allclose(
        np.nan_to_num(out["volume"]), np.nansum(grp["volume"], axis=2), rtol=1e-5
    )
    np.testing.assert_allclose(
        np.nansum(out["volume"], axis=1), np.nansum(bars["volume"], axis=1), rtol=1e-5
    )
    ok = ~np.isnan(out["close"])
    assert (out["high"][ok] >= np.maximum(out["open"][ok], out["close"][ok])).all()
    assert (out["low"][ok] <= np.minimum(out["open"][ok], out["close"][ok])).all()
    # a group is missing exactly when all its bars are missing
    np.testing.assert_array_equal(~ok, np.isnan(grp["close"]).all(axis=2))
    # first open and last close of each day preserved
    d_in, d_out = minute_to_daily(bars), minute_to_daily(out)
    np.testing.assert_array_equal(d_in["open"], d_out["open"])
    np.testing.assert_array_equal(d_in["close"], d_out["close"])
    # resampling composes: k_in -> 5*? -> target equals k_in -> target
    if target % (2 * k_in) == 0 and target != 2 * k_in:
        two = resample(resample(bars, 2 * k_in), target)
        for k in ("open", "high", "low", "close"):
            np.testing.assert_array_equal(two[k], out[k])


def test_ingesting_in_batches_merges_partitions_and_replaces_same_bars(minute_csv, tmp_path):
    path, bars = minute_csv
    df = pl.read_csv(path, try_parse_dates=True)
    df.filter(pl.col("instrument") != "S001").write_csv(tmp_path / "a.csv")
    fixed = df.filter(pl.col("instrument") == "S001").with_columns(pl.col("volume") + 1)
    fixed.write_csv(tmp_path / "b.csv")
    out = tmp_path / "out"
    ingest_minute(tmp_path / "a.csv", out)
    first = ingest_minute(tmp_path / "b.csv", out, merge=True)
    assert first.replaced == 0
    again = ingest_minute(
        tmp_path / "b.csv", out, merge=True
    )  # the same bars again: replaced, not duplicated
    assert again.replaced == fixed.height
    loaded = load_minute(out)
    assert loaded.instruments.tolist() == ["S000", "S001", "S002"]
    np.testing.assert_allclose(loaded["volume"][..., 1], bars["volume"][..., 1] + 1)
    np.testing.assert_allclose(loaded["close"], bars["close"], rtol=1e-6)


def test_chunked_loading_equals_one_pass(minute_csv, tmp_path):
    path, _ = minute_csv
    ingest_minute(path, tmp_path / "m")
    for k in (1, 30):
        one = load_minute(tmp_path / "m", bar_minutes=k, chunk_days=100)
        daily = load_minute(tmp_path / "m", bar_minutes=k, chunk_days=1)
        for name in ("open", "high", "low", "close", "volume", "amount"):
            np.testing.assert_array_equal(one[name], daily[name])
    with pytest.raises(ConfigError, match="bar_minutes=7"):
        load_minute(tmp_path / "m", bar_minutes=7)
