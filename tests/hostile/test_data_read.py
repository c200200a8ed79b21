"""Hostile reads: impossible values, missing files, shifted dates and ambiguous formats are
caught (NaN with a counted warning, or a one-line DataError), never silently used."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqalpha.data import DataQualityWarning
from seqalpha.data.ingest import ingest_daily
from seqalpha.data.minute import ingest_minute, load_minute
from seqalpha.data.panel import Panel
from seqalpha.data.qlib_bin import QlibStore, load_panel, read_bin, read_calendar, write_store
from seqalpha.errors import DataError

DATES = np.array(["2022-03-01", "2022-03-02", "2022-03-03", "2022-03-04"], dtype="datetime64[D]")
CODES = np.array(["SH600000", "SH600001", "SZ000001"])
FIELDS = ("open", "high", "low", "close", "volume")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """4 days x 3 stocks of consistent bars: close 10..13, high +1, low -1, volume 100."""
    close = np.arange(10, 14, dtype=np.float32)[:, None] + np.zeros((1, 3), np.float32)
    fields = {
        "open": close.copy(),
        "high": close + 1,
        "low": close - 1,
        "close": close.copy(),
        "volume": np.full((4, 3), 100, np.float32),
    }
    write_store(tmp_path / "store", Panel(DATES, CODES, fields))
    return tmp_path / "store"


def poke(store: Path, code: str, field: str, day: int, value: float) -> None:
    """Overwrite one value of a `.bin` file in place (as a corrupted or hostile file would)."""
    path = store / "features" / code.lower() / f"{field}.day.bin"
    arr = np.fromfile(path, dtype="<f4")
    arr[1 + day] = value
    arr.tofile(path)


def load_warned(store: Path, fields=FIELDS, **kw) -> tuple[Panel, str]:
    """Load with warnings recorded; the DataQualityWarning text ('' when none)."""
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        panel = load_panel(store, list(fields) if fields else None, **kw)
    texts = [str(w.message) for w in got if issubclass(w.category, DataQualityWarning)]
    assert len(texts) <= 1
    return panel, (texts[0] if texts else "")


@pytest.mark.parametrize(
    "value,kind", [(np.inf, "infinite"), (0.0, "non-positive"), (-11.0, "non-positive")]
)
def test_impossible_prices_become_nan_with_a_counted_warning(store, value, kind) -> None:
    poke(store, "SH600001", "close", 1, value)
    poke(store, "SH600001", "close", 2, value)
    panel, text = load_warned(store)
    assert np.isnan(panel["close"][1:3, 1]).all()
    assert np.isfinite(panel["close"][:, [0, 2]]).all() and panel["close"][0, 1] == 10
    assert f"close: 2 {kind} value(s) in 1 instrument(s): SH600001 (2)" in text
    with pytest.raises(DataError, match=rf"strict.*close: 2 {kind}.*SH600001"):
        load_panel(store, list(FIELDS), strict=True)


def test_negative_volume_and_inconsistent_bars_are_caught(store) -> None:
    poke(store, "SZ000001", "volume", 0, -5.0)
    poke(store, "SH600000", "high", 3, 5.0)  # high 5 < low 12
    poke(store, "SH600001", "close", 0, 50.0)  # close far above high 11
    panel, text = load_warned(store)
    assert np.isnan(panel["volume"][0, 2])
    assert "volume: 1 negative value(s) in 1 instrument(s): SZ000001 (1)" in text
    assert "high: 1 high below low value(s) in 1 instrument(s): SH600000 (1)" in text
    # SH600000's close 13 is also above its poked high: both of its bar checks fire
    assert "close: 2 outside [low, high] (close) value(s) in 2 instrument(s)" in text
    for name in ("open", "high", "low", "close"):  # the whole inconsistent bar is withheld
        assert np.isnan(panel[name][3, 0]) and np.isnan(panel[name][0, 1])
    assert np.isfinite(panel["close"][1:, 1]).all()


def test_close_alone_is_checked_for_value_but_not_against_unloaded_high_low(store) -> None:
    poke(store, "SH600001", "close", 0, 50.0)
    panel, text = load_warned(store, ["close"])
    assert panel["close"][0, 1] == 50.0 and text == ""  # documented: bar checks need high/low


def test_missing_field_file_of_one_instrument_keeps_the_field(store) -> None:
    (store / "features" / "sh600000" / "volume.day.bin").unlink()  # the FIRST instrument
    panel, text = load_warned(store, None)
    assert "volume" in panel.fields  # fields=None takes the union, not the first instrument's
    assert np.isnan(panel["volume"][:, 0]).all() and (panel["volume"][:, 1:] == 100).all()
    assert "volume: no file for 1 instrument(s): SH600000" in text
    with pytest.raises(DataError, match="volume: no file for 1 instrument"):
        load_panel(store, None, strict=True)
    with pytest.raises(DataError, match=r"field\(s\) \['vwap'\] stored for none"):
        load_panel(store, ["close", "vwap"])


def test_minute_reader_withholds_impossible_bars(tmp_path: Path) -> None:
    rows = {
        "datetime": [f"2024-01-02 {t}" for t in ("10:30", "11:30", "14:00", "15:00")] * 2,
        "instrument": ["A"] * 4 + ["B"] * 4,
        "open": [10.0] * 8,
        "high": [11.0] * 8,
        "low": [9.0] * 8,
        "close": [10.5] * 8,
        "volume": [100.0] * 8,
    }
    pl.DataFrame(rows).write_csv(tmp_path / "m.csv")
    ingest_minute(tmp_path / "m.csv", tmp_path / "m", bar_minutes=60)
    part = next((tmp_path / "m").glob("date=*/*.parquet"))
    df = pl.read_parquet(part)
    bad = (pl.col("instrument") == "A") & (pl.col("datetime").dt.hour() == 11)
    df.with_columns(
        pl.when(bad).then(pl.lit(-1.0, pl.Float32)).otherwise(pl.col("close")).alias("close")
    ).write_parquet(part)
    with pytest.warns(DataQualityWarning, match=r"close: 1 non-positive value\(s\).*A \(1\)"):
        bars = load_minute(tmp_path / "m")
    assert np.isnan(bars["close"][0, 1, 0]) and np.isfinite(bars["close"][0, [0, 2, 3], 0]).all()
    with pytest.raises(DataError, match="strict"):
        load_minute(tmp_path / "m", strict=True)


# ------------------------------------------------------------------------- files that are broken


def test_calendar_that_is_empty_or_not_utf8_or_a_directory(store) -> None:
    cal = store / "calendars" / "day.txt"
    cal.write_text("\n\n")
    with pytest.raises(DataError, match=r"day\.txt: calendar is empty"):
        read_calendar(store)
    cal.write_bytes(b"2022-03-01\n2022-03-02\xff\xfe\n")
    with pytest.raises(DataError, match=r"day\.txt:2: calendar is not UTF-8 text \(byte 0xff"):
        QlibStore(store)
    cal.unlink()
    cal.mkdir()
    with pytest.raises(DataError, match=r"day\.txt: calendar is a directory"):
        read_calendar(store)


def test_bin_that_is_a_directory(store) -> None:
    path = store / "features" / "sh600000" / "close.day.bin"
    path.unlink()
    path.mkdir()
    with pytest.raises(DataError, match=r"close\.day\.bin: instrument SH600000: is a directory"):
        read_bin(path, 4)
    with pytest.raises(DataError, match="is a directory"):
        load_panel(store, ["close"])


def test_market_file_with_a_path_as_code_is_refused(store) -> None:
    (store / "instruments" / "evil.txt").write_text("../../etc\t2022-03-01\t2022-03-04\n")
    with pytest.raises(DataError, match=r"evil\.txt:1: invalid instrument code '\.\./\.\./etc'"):
        load_panel(store, ["close"], universe="evil")
    with pytest.raises(DataError, match="invalid instrument code"):
        load_panel(store, ["close"], universe=["../sh600000"])


# ------------------------------------------------------------------------- dates and timezones


def daily_rows(dates: list, codes=("SH600000",)) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "date": [d for d in dates for _ in codes],
            "instrument": [c for _ in dates for c in codes],
            "open": 10.0,
            "high": 11.0,
            "low": 9.0,
            "close": 10.5,
            "volume": 100.0,
        }
    )


def test_timezone_aware_parquet_dates_land_on_shanghai_dates(tmp_path: Path) -> None:
    # Midnight in Shanghai stored as UTC: 16:00 the previous day (2022-03-06 is a Sunday).
    utc = [dt.datetime(2022, 3, d, 16, 0) for d in (6, 7, 8)]
    df = daily_rows(utc).with_columns(pl.col("date").dt.replace_time_zone("UTC"))
    df.write_parquet(tmp_path / "tz.parquet")
    ingest_daily(tmp_path / "tz.parquet", tmp_path / "store")
    cal = read_calendar(tmp_path / "store")
    np.testing.assert_array_equal(
        cal, np.array(["2022-03-07", "2022-03-08", "2022-03-09"], "M8[D]")
    )
    assert np.is_busday(cal).all()  # no Sunday in the calendar


def test_timezone_aware_minute_stamps_are_converted_to_exchange_time(tmp_path: Path) -> None:
    stamps = ["2024-01-02T01:45:00Z", "2024-01-02T02:00:00Z"]  # 09:45 and 10:00 in Shanghai
    df = pl.DataFrame(
        {
            "datetime": stamps,
            "instrument": "A",
            "open": 10.0,
            "high": 11.0,
            "low": 9.0,
            "close": 10.5,
            "volume": 1.0,
        }
    )
    df.write_csv(tmp_path / "utc.csv")
    ingest_minute(tmp_path / "utc.csv", tmp_path / "m", bar_minutes=15)
    stored = pl.read_parquet(next((tmp_path / "m").glob("date=*/*.parquet")))["datetime"]
    assert [t.strftime("%H:%M") for t in stored.to_list()] == ["09:45", "10:00"]


def test_ambiguous_dates_are_refused_unless_the_format_is_given(tmp_path: Path) -> None:
    daily_rows(["01/02/2022", "01/03/2022"]).write_csv(tmp_path / "mdy.csv")
    with pytest.raises(DataError, match=r"mdy\.csv: column 'date'.*not ISO.*01/02/2022"):
        ingest_daily(tmp_path / "mdy.csv", tmp_path / "s1")
    ingest_daily(tmp_path / "mdy.csv", tmp_path / "s2", date_format="%m/%d/%Y")
    assert str(read_calendar(tmp_path / "s2")[0]) == "2022-01-02"
    pl.DataFrame({"date": [20220103]}).hstack(daily_rows(["x"]).drop("date")).write_parquet(
        tmp_path / "int.parquet"
    )
    with pytest.raises(DataError, match=r"int\.parquet: column 'date'.*integers"):
        ingest_daily(tmp_path / "int.parquet", tmp_path / "s3")


def test_month_day_year_minute_stamps_are_refused_unless_the_format_is_given(tmp_path) -> None:
    df = pl.DataFrame(
        {
            "datetime": ["01/02/2025 09:45", "01/03/2025 09:45"],
            "instrument": "A",
            "open": 10.0,
            "high": 11.0,
            "low": 9.0,
            "close": 10.5,
            "volume": 1.0,
        }
    )
    df.write_csv(tmp_path / "mdy.csv")
    with pytest.raises(DataError, match=r"mdy\.csv: column 'datetime'.*01/02/2025 09:45"):
        ingest_minute(tmp_path / "mdy.csv", tmp_path / "m", bar_minutes=15)
    rep = ingest_minute(
        tmp_path / "mdy.csv", tmp_path / "m", bar_minutes=15, datetime_format="%m/%d/%Y %H:%M"
    )
    assert rep.dates == 2
    assert sorted(p.name for p in (tmp_path / "m").glob("date=*")) == [
        "date=2025-01-02",
        "date=2025-01-03",
    ]


def test_off_grid_minute_bars_are_refused_unless_a_bar_length_is_given(tmp_path: Path) -> None:
    times = [f"{h:02d}:{m:02d}" for h, m in ((9, 45), (10, 0), (10, 15), (10, 30))] + ["09:47"]
    df = pl.DataFrame(
        {
            "datetime": [f"2024-01-02 {t}" for t in times],
            "instrument": "A",
            "open": 10.0,
            "high": 11.0,
            "low": 9.0,
            "close": 10.5,
            "volume": 1.0,
        }
    )
    df.write_csv(tmp_path / "grid.csv")
    with pytest.raises(DataError, match=r"grid\.csv: bar end times are off-grid.*15 minutes"):
        ingest_minute(tmp_path / "grid.csv", tmp_path / "m")
    with pytest.raises(
        DataError, match="outside_session at instrument A datetime 2024-01-02 09:47"
    ):
        ingest_minute(tmp_path / "grid.csv", tmp_path / "m", bar_minutes=15)
    rep = ingest_minute(tmp_path / "grid.csv", tmp_path / "m", bar_minutes=15, on_bad="drop")
    assert rep.dropped["outside_session"] == 1 and rep.rows_written == 4


def test_duplicates_are_handled_identically_by_daily_and_minute_ingest(tmp_path: Path) -> None:
    base = {"instrument": "A", "high": 11.0, "low": 9.0, "close": 10.5, "volume": 1.0}
    opens = [10.0, 10.0, 10.0, 10.1]  # key 1 twice identical, key 2 twice conflicting
    daily = pl.DataFrame(
        {"date": ["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-03"], "open": opens, **base}
    )
    minute = pl.DataFrame(
        {
            "datetime": ["2024-01-02 09:45"] * 2 + ["2024-01-02 10:00"] * 2,
            "open": opens,
            **base,
        }
    )
    daily.write_csv(tmp_path / "d.csv")
    minute.write_csv(tmp_path / "m.csv")
    with pytest.raises(DataError, match="duplicate"):
        ingest_daily(tmp_path / "d.csv", tmp_path / "d0")
    with pytest.raises(DataError, match="duplicate"):
        ingest_minute(tmp_path / "m.csv", tmp_path / "m0", bar_minutes=15)
    d = ingest_daily(tmp_path / "d.csv", tmp_path / "d1", on_bad="drop")
    m = ingest_minute(tmp_path / "m.csv", tmp_path / "m1", bar_minutes=15, on_bad="drop")
    assert (d.identical_duplicates, d.dropped["duplicate"], d.rows_written) == (1, 2, 1)
    assert (m.identical_duplicates, m.dropped["duplicate"], m.rows_written) == (1, 2, 1)


def test_overflowing_minute_values_are_refused(tmp_path: Path) -> None:
    df = pl.DataFrame(
        {
            "datetime": ["2024-01-02 09:45"],
            "instrument": "A",
            "open": 10.0,
            "high": 1e39,
            "low": 9.0,
            "close": 10.5,
            "volume": 1.0,
        }
    )
    df.write_parquet(tmp_path / "big.parquet")
    with pytest.raises(DataError, match=r"big\.parquet: column 'high'.*overflow float32"):
        ingest_minute(tmp_path / "big.parquet", tmp_path / "m", bar_minutes=15)
    assert not (tmp_path / "m").exists()
