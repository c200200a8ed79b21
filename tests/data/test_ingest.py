"""Ingest of long daily bars (CSV/Parquet) into a Qlib store, with validation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.data.info import describe_store
from seqalpha.data.ingest import ingest_daily
from seqalpha.data.qlib_bin import load_panel, read_calendar, read_instruments
from seqalpha.data.validate import clean_daily_bars
from seqalpha.errors import ConfigError, DataError


def bars(rows: list[tuple]) -> pl.DataFrame:
    """Long bars from (date, instrument, open, high, low, close, volume) tuples."""
    schema = {
        "date": pl.Utf8,
        "instrument": pl.Utf8,
        **{c: pl.Float64 for c in ("open", "high", "low", "close", "volume")},
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


GOOD = [
    ("2022-03-01", "SH600000", 10.0, 10.5, 9.8, 10.2, 1000.0),
    ("2022-03-02", "SH600000", 10.2, 10.4, 10.0, 10.1, 800.0),
    ("2022-03-03", "SH600000", 10.1, 10.3, 9.9, 10.0, 0.0),
    ("2022-03-01", "SZ000001", 20.0, 20.5, 19.5, 20.1, 500.0),
    ("2022-03-03", "SZ000001", 20.1, 21.0, 20.0, 20.9, 700.0),
]


@pytest.fixture
def good_csv(tmp_path: Path) -> Path:
    path = tmp_path / "bars.csv"
    bars(GOOD).write_csv(path)
    return path


def test_ingest_csv_round_trip(good_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "store"
    rep = ingest_daily(good_csv, out)
    assert (rep.rows_read, rep.rows_written, rep.total_dropped) == (5, 5, 0)
    assert (rep.n_dates, rep.n_instruments) == (3, 2)
    p = load_panel(out, ["open", "high", "low", "close", "volume"])
    np.testing.assert_array_equal(
        p.dates, np.array(["2022-03-01", "2022-03-02", "2022-03-03"], dtype="datetime64[D]")
    )
    np.testing.assert_array_equal(
        p["close"], np.array([[10.2, 20.1], [10.1, np.nan], [10.0, 20.9]], np.float32)
    )
    assert p["volume"][2, 0] == 0.0
    assert [(s.code, str(s.start), str(s.end)) for s in read_instruments(out, "all")] == [
        ("SH600000", "2022-03-01", "2022-03-03"),
        ("SZ000001", "2022-03-01", "2022-03-03"),
    ]


def test_ingest_several_files_csv_and_parquet_with_optional_columns(tmp_path: Path) -> None:
    a = bars(GOOD[:3]).with_columns(pl.lit(2.0).alias("factor"), pl.lit(1e4).alias("AMOUNT"))
    b = bars([("2022-03-04", "sh600000", 10.0, 10.0, 10.0, 10.0, 5.0)]).with_columns(
        pl.lit(2.5).alias("factor")
    )
    a.rename({"date": "datetime"}).write_csv(tmp_path / "a.csv")
    b.with_columns(pl.col("date").str.to_date()).write_parquet(tmp_path / "b.parquet")
    rep = ingest_daily([tmp_path / "a.csv", tmp_path / "b.parquet"], tmp_path / "out")
    assert rep.fields == ["open", "high", "low", "close", "volume", "amount", "factor"]
    np.testing.assert_array_equal(
        read_calendar(tmp_path / "out"),
        np.array(["2022-03-01", "2022-03-02", "2022-03-03", "2022-03-04"], dtype="datetime64[D]"),
    )
    p = load_panel(tmp_path / "out", ["factor", "amount"])
    np.testing.assert_array_equal(p["factor"][:, 0], [2.0, 2.0, 2.0, 2.5])
    # b.parquet has no amount: the stored value is NaN, not 0.
    assert p["amount"][0, 0] == 1e4 and math.isnan(p["amount"][3, 0])


BAD_CASES = [
    ("nan price", ("2022-03-02", "SH600000", 10.2, 10.4, 10.0, float("nan"), 800.0), "bad_price"),
    ("inf price", ("2022-03-02", "SH600000", float("inf"), 10.4, 10.0, 10.1, 800.0), "bad_price"),
    ("negative price", ("2022-03-02", "SH600000", 10.2, 10.4, -1.0, 10.1, 800.0), "bad_price"),
    ("high below low", ("2022-03-02", "SH600000", 10.2, 9.9, 10.0, 10.1, 800.0), "high_below_low"),
    ("negative volume", ("2022-03-02", "SH600000", 10.2, 10.4, 10.0, 10.1, -5.0), "bad_volume"),
]


@pytest.mark.parametrize("label,row,reason", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_row_raises_naming_file_instrument_date(tmp_path: Path, label, row, reason) -> None:
    path = tmp_path / "bad.csv"
    bars([GOOD[0], row, *GOOD[2:]]).write_csv(path)
    with pytest.raises(
        DataError,
        match=rf"1 rows .* '{reason}' \(e\.g\. file=.*bad\.csv, "
        r"instrument=SH600000, date=2022-03-02",
    ):
        ingest_daily(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("label,row,reason", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_row_dropped_and_counted(tmp_path: Path, label, row, reason) -> None:
    path = tmp_path / "bad.csv"
    bars([GOOD[0], row, *GOOD[2:]]).write_csv(path)
    rep = ingest_daily(path, tmp_path / "out", on_bad="drop")
    assert rep.dropped[reason] == 1 and rep.total_dropped == 1 and rep.rows_written == 4
    p = load_panel(tmp_path / "out", ["close"])
    # 2022-03-02 had only the dropped row, so it is not a trading day of the new store.
    assert np.datetime64("2022-03-02") not in p.dates


def test_duplicates_raise_with_key_and_file(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    changed = ("2022-03-03", "SZ000001", 20.1, 21.0, 20.0, 20.8, 700.0)
    bars([*GOOD, changed]).write_csv(path)
    with pytest.raises(
        DataError,
        match=r"duplicate \(date, instrument\) rows: 1 keys, e\.g\. "
        r"SZ000001 on 2022-03-03 \(2 rows, in \[.*dup\.csv",
    ):
        ingest_daily(path, tmp_path / "out")


def test_duplicates_drop_collapses_copies_and_drops_conflicts() -> None:
    conflict = ("2022-03-03", "SZ000001", 20.1, 21.0, 20.0, 20.8, 700.0)
    df = bars([*GOOD, GOOD[0], conflict])
    clean, rep = clean_daily_bars(df, on_bad="drop")
    assert rep.identical_duplicates == 1
    assert rep.dropped["duplicate"] == 2
    assert clean.height == 4
    assert (
        clean.filter((pl.col("instrument") == "SZ000001") & (pl.col("date") == "2022-03-03")).height
        == 0
    )


def test_row_counted_once_under_first_reason() -> None:
    both = ("2022-03-02", "SH600000", -1.0, 9.0, 10.0, 10.1, -3.0)
    _, rep = clean_daily_bars(bars([GOOD[0], both]), on_bad="drop")
    assert rep.dropped["bad_price"] == 1 and rep.total_dropped == 1


def test_max_loss_refuses_heavy_cleaning(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    bars([GOOD[0], BAD_CASES[0][1], *GOOD[2:]]).write_csv(path)
    with pytest.raises(DataError, match=r"1 of 5 rows dropped \(20\.0%\) exceeds max_loss=10\.0%"):
        ingest_daily(path, tmp_path / "out", on_bad="drop", max_loss=0.1)


def test_input_errors(tmp_path: Path, good_csv: Path) -> None:
    with pytest.raises(ConfigError, match="on_bad='skip'"):
        ingest_daily(good_csv, tmp_path / "o1", on_bad="skip")
    bars(GOOD).drop("volume").write_csv(tmp_path / "novol.csv")
    with pytest.raises(DataError, match=r"novol\.csv.*lack the required columns \['volume'\]"):
        ingest_daily(tmp_path / "novol.csv", tmp_path / "o2")
    bars([("2022/03/01", *GOOD[0][1:])]).write_csv(tmp_path / "baddate.csv")
    with pytest.raises(
        DataError, match=r"baddate\.csv: column .date.: 1 value.*not ISO.*2022/03/01"
    ):
        ingest_daily(tmp_path / "baddate.csv", tmp_path / "o3")
    with pytest.raises(DataError, match="input file not found"):
        ingest_daily(tmp_path / "nope.csv", tmp_path / "o4")


def test_existing_store_needs_overwrite(good_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "store"
    ingest_daily(good_csv, out)
    with pytest.raises(DataError, match="not empty"):
        ingest_daily(good_csv, out)
    bars(GOOD[3:]).write_csv(tmp_path / "only_sz.csv")
    ingest_daily(tmp_path / "only_sz.csv", out, overwrite=True)
    assert [s.code for s in read_instruments(out, "all")] == ["SZ000001"]
    assert not (out / "features" / "sh600000").exists()


def test_cli_ingest_then_info(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    bars([GOOD[0], BAD_CASES[3][1], *GOOD[2:]]).write_csv(path)
    out = tmp_path / "store"
    runner = CliRunner()
    res = runner.invoke(app, ["data", "ingest-daily", str(path), "--out", str(out)])
    assert res.exit_code == 2
    res = runner.invoke(
        app, ["data", "ingest-daily", str(path), "--out", str(out), "--on-bad", "drop"]
    )
    assert res.exit_code == 0, res.output
    assert "ingested 4 of 5 rows" in res.output and "high_below_low=1" in res.output
    res = runner.invoke(app, ["data", "info", str(out)])
    assert res.exit_code == 0, res.output
    assert "2022-03-01 .. 2022-03-03" in res.output
    info = describe_store(out)
    assert info["calendar"]["days"] == 2 and info["n_with_data"] == 2
    assert info["fields"] == {f: 2 for f in ("close", "high", "low", "open", "volume")}


def test_extra_columns_are_stored_and_failed_overwrite_keeps_old_store(tmp_path: Path) -> None:
    src = tmp_path / "with_change.csv"
    bars(GOOD).with_columns(pl.Series("change", [0.5, -1.0, float("nan"), 2.0, 4.0])).write_csv(src)
    out = tmp_path / "store"
    rep = ingest_daily(src, out, extra=["change"])
    assert rep.fields[-1] == "change"
    p = load_panel(out, ["change"])
    assert p["change"][1, 0] == -1.0 and math.isnan(p["change"][2, 0])
    with pytest.raises(ConfigError, match=r"extra=\['close'\]"):
        ingest_daily(src, out, overwrite=True, extra=["close"])
    bad = tmp_path / "bad.csv"
    bars([GOOD[0], BAD_CASES[4][1]]).write_csv(bad)
    with pytest.raises(DataError, match="bad_volume"):
        ingest_daily(bad, out, overwrite=True)
    assert load_panel(out, ["change"]).shape == (3, 2)  # the old store is intact


@pytest.mark.shared
def test_real_bars_round_trip_through_long_parquet(csi300_dir: Path, tmp_path: Path) -> None:
    codes = ["SH600000", "SH600519", "SZ000001", "SH000300", "SH000852", "SZ399006"]
    fields = ["open", "high", "low", "close", "volume", "factor", "change"]
    orig = load_panel(csi300_dir, fields, universe=codes)
    listed = load_panel(csi300_dir, ["close"], universe="all").select_instruments(codes).universe
    orig.universe = listed
    long = orig.to_long(fields).rename({"datetime": "date"})
    long.write_parquet(tmp_path / "bars.parquet")
    bad_rows = long.filter(
        pl.any_horizontal([pl.col(c).is_nan() for c in ("open", "high", "low", "close", "volume")])
    )
    rep = ingest_daily(
        tmp_path / "bars.parquet", tmp_path / "store", on_bad="drop", extra=["change"]
    )
    assert rep.rows_read == long.height and rep.total_dropped == bad_rows.height
    assert rep.dropped["bad_price"] >= 243  # CSI1000 has no values before its launch
    back = load_panel(tmp_path / "store", fields)
    np.testing.assert_array_equal(back.instruments, sorted(codes))
    kept = back.dates
    sub = orig.select_instruments(list(back.instruments))
    t = np.searchsorted(sub.dates, kept)
    for f in fields:
        a, b = back[f], sub[f][t]
        both = ~np.isnan(a)
        np.testing.assert_array_equal(a[both], b[both])
    assert int(np.isnan(back["close"]).sum()) == int(np.isnan(sub["close"][t]).sum())


def _first_reason(row: dict) -> str | None:
    """Slow, obvious classification of one row (the order of `REASONS`)."""
    if row["date"] is None or row["instrument"] is None:
        return "missing_key"
    for c in ("open", "high", "low", "close"):
        v = row[c]
        if v is None or math.isnan(v) or math.isinf(v) or v <= 0:
            return "bad_price"
    if row["high"] < row["low"]:
        return "high_below_low"
    v = row["volume"]
    if v is None or math.isnan(v) or math.isinf(v) or v < 0:
        return "bad_volume"
    return None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["2022-01-03", "2022-01-04", None]),
            st.sampled_from(["SH600000", "SZ000001"]),
            *[st.sampled_from([1.0, 2.0, 0.0, -1.0, float("nan"), float("inf")])] * 5,
        ),
        min_size=1,
        max_size=30,
    )
)
def test_clean_counts_match_a_row_by_row_reference(rows) -> None:
    df = bars(rows).with_columns(pl.col("date").str.to_date())
    clean, rep = clean_daily_bars(df, on_bad="drop")
    expected = {r: 0 for r in rep.dropped}
    survivors = []
    for row in df.rows(named=True):
        reason = _first_reason(row)
        if reason:
            expected[reason] += 1
        else:
            survivors.append(row)
    distinct = {}
    for r in survivors:
        distinct.setdefault((r["date"], r["instrument"]), set()).add(
            tuple(r[c] for c in ("open", "high", "low", "close", "volume"))
        )
    # Exact copies collapse to one row per distinct value; a key left with several rows conflicts
    # and loses all of them.
    expected["duplicate"] = sum(len(v) for v in distinct.values() if len(v) > 1)
    assert rep.dropped == expected
    assert clean.height == sum(1 for v in distinct.values() if len(v) == 1)
    assert rep.identical_duplicates == len(survivors) - sum(len(v) for v in distinct.values())
