"""Qlib binary store: exact round trip, point-in-time universes, malformed input."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqalpha.data.panel import Panel
from seqalpha.data.qlib_bin import (
    QlibStore,
    Spell,
    load_panel,
    read_bin,
    read_calendar,
    read_instruments,
    write_bin,
    write_store,
)
from seqalpha.errors import DataError

DATES = np.array(
    ["2021-01-04", "2021-01-05", "2021-01-06", "2021-01-07", "2021-01-08", "2021-01-11"],
    dtype="datetime64[D]",
)
CODES = np.array(["SH600000", "SH600001", "SZ000001"])


@pytest.fixture
def small_panel() -> Panel:
    """3 instruments x 6 days; SH600001 starts late and has a NaN gap, SZ000001 ends early."""
    close = np.array(
        [
            [10.0, np.nan, 5.0],
            [10.5, np.nan, 5.1],
            [10.25, 20.0, 5.2],
            [10.0, np.nan, np.nan],
            [9.5, 21.0, np.nan],
            [9.75, 22.0, np.nan],
        ],
        dtype=np.float32,
    )
    volume = np.where(np.isnan(close), np.nan, 100.0).astype(np.float32)
    volume[1, 0] = 0.0
    return Panel(DATES, CODES, {"close": close, "volume": volume})


@pytest.fixture
def store(tmp_path: Path, small_panel: Panel) -> Path:
    """A store with an extra market `idx` where SH600000 has two spells."""
    member = np.zeros(small_panel.shape, dtype=bool)
    member[0:2, 0] = True
    member[4:6, 0] = True
    member[2:5, 1] = True
    write_store(tmp_path, small_panel, markets={"idx": member})
    return tmp_path


def test_round_trip_values_nan_positions_and_calendar(store: Path, small_panel: Panel) -> None:
    p = load_panel(store, ["close", "volume"])
    np.testing.assert_array_equal(p.dates, DATES)
    np.testing.assert_array_equal(p.instruments, CODES)
    for f in ("close", "volume"):
        np.testing.assert_array_equal(p[f], small_panel[f])  # NaN positions compare equal
    np.testing.assert_array_equal(read_calendar(store), DATES)


def test_all_txt_spans_first_to_last_value(store: Path) -> None:
    spells = read_instruments(store, "all")
    assert spells == [
        Spell("SH600000", DATES[0], DATES[5]),
        Spell("SH600001", DATES[2], DATES[5]),
        Spell("SZ000001", DATES[0], DATES[2]),
    ]
    start, values = read_bin(store / "features" / "sh600001" / "close.day.bin", len(DATES))
    assert start == 2 and len(values) == 4 and np.isnan(values[1])


def test_market_with_several_spells_is_point_in_time(store: Path) -> None:
    spells = read_instruments(store, "idx")
    assert [s for s in spells if s.code == "SH600000"] == [
        Spell("SH600000", DATES[0], DATES[1]),
        Spell("SH600000", DATES[4], DATES[5]),
    ]
    p = load_panel(store, ["close"], universe="idx")
    np.testing.assert_array_equal(p.instruments, ["SH600000", "SH600001"])
    np.testing.assert_array_equal(p.universe[:, 0], [True, True, False, False, True, True])
    np.testing.assert_array_equal(p.universe[:, 1], [False, False, True, True, True, False])


def test_universe_as_list_of_codes_and_date_range(store: Path) -> None:
    p = load_panel(
        store, ["close"], universe=["sz000001", "SH600000"], start="2021-01-05", end="2021-01-07"
    )
    np.testing.assert_array_equal(p.instruments, ["SH600000", "SZ000001"])
    np.testing.assert_array_equal(p.dates, DATES[1:4])
    np.testing.assert_array_equal(p["close"][:, 1], np.array([5.1, 5.2, np.nan], np.float32))
    assert p.universe.all()


def test_codes_without_files_warn_once_and_are_skipped(store: Path) -> None:
    (store / "instruments" / "big.txt").write_text(
        "SH600000\t2021-01-04\t2021-01-11\nSH699999\t2021-01-04\t2021-01-11\n"
        "SZ399999\t2021-01-05\t2021-01-06\n"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = load_panel(store, ["close"], universe="big")
    msgs = [str(w.message) for w in caught]
    assert len(msgs) == 1 and "SH699999" in msgs[0] and "SZ399999" in msgs[0]
    np.testing.assert_array_equal(p.instruments, ["SH600000"])


def test_unknown_market_names_available_ones(store: Path) -> None:
    with pytest.raises(DataError, match=r"no such market 'csi500'.*'all', 'idx'"):
        load_panel(store, universe="csi500")


def test_odd_length_bin_names_file_and_instrument(store: Path) -> None:
    path = store / "features" / "sh600001" / "close.day.bin"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(
        DataError,
        match=r"sh600001/close\.day\.bin: instrument SH600001: size "
        r"18 bytes is not a multiple of 4",
    ):
        load_panel(store, ["close"])


def test_start_index_beyond_calendar_names_last_date(store: Path) -> None:
    write_bin(store / "features" / "sh600000" / "close.day.bin", 9, np.ones(2, np.float32))
    with pytest.raises(
        DataError,
        match=r"instrument SH600000: start index 9 is beyond the "
        r"calendar \(6 days, last date 2021-01-11\)",
    ):
        load_panel(store, ["close"])


def test_values_running_past_calendar_end(store: Path) -> None:
    write_bin(store / "features" / "sz000001" / "volume.day.bin", 4, np.ones(3, np.float32))
    with pytest.raises(
        DataError,
        match=r"SZ000001: 3 values from index 4 \(first date "
        r"2021-01-08\) run 1 days past the end",
    ):
        load_panel(store, ["volume"])


def test_non_monotonic_calendar_names_the_line(store: Path) -> None:
    (store / "calendars" / "day.txt").write_text(
        "2021-01-04\n\n2021-01-05\n2021-01-07\n2021-01-06\n2021-01-08\n2021-01-11\n"
    )
    with pytest.raises(
        DataError,
        match=r"not strictly increasing at line 5: 2021-01-07 "
        r"\(line 4\) then 2021-01-06",
    ):
        QlibStore(store)


def test_unparseable_calendar_line(store: Path) -> None:
    (store / "calendars" / "day.txt").write_text("2021-01-04\n2021-13-05\n")
    with pytest.raises(DataError, match=r"day\.txt:2: unparseable date '2021-13-05'"):
        read_calendar(store)


def test_bad_market_file_lines_name_file_and_line(store: Path) -> None:
    (store / "instruments" / "m.txt").write_text(
        "SH600000\t2021-01-04\t2021-01-11\nSH600001\t2021-01-08\t2021-01-05\n"
    )
    with pytest.raises(DataError, match=r"m\.txt:2: spell of SH600001 ends \(2021-01-05\) before"):
        read_instruments(store, "m")
    (store / "instruments" / "m.txt").write_text("SH600000\t2021-01-04\n")
    with pytest.raises(DataError, match=r"m\.txt:1: expected CODE<TAB>start<TAB>end"):
        load_panel(store, universe="m")


def test_write_store_rejects_mismatched_market_mask(tmp_path: Path, small_panel: Panel) -> None:
    with pytest.raises(DataError, match="market 'bad' mask shape"):
        write_store(tmp_path, small_panel, markets={"bad": np.ones((2, 2), bool)})


def _spells_reference(mask: np.ndarray, dates: np.ndarray, codes: np.ndarray) -> list[Spell]:
    """Slow, obvious spell extraction: walk each column day by day."""
    out = []
    for j, code in enumerate(codes):
        run_start = None
        for t in range(len(dates) + 1):
            on = t < len(dates) and bool(mask[t, j])
            if on and run_start is None:
                run_start = t
            if not on and run_start is not None:
                out.append(Spell(str(code), dates[run_start], dates[t - 1]))
                run_start = None
    return out


@st.composite
def panels(draw):
    """Random small panels: values (incl. negatives; inf is refused on write), NaN holes, masks."""
    T = draw(st.integers(1, 25))
    N = draw(st.integers(1, 4))
    F = draw(st.integers(1, 3))
    gaps = draw(st.lists(st.integers(1, 4), min_size=T, max_size=T))
    dates = np.datetime64("2020-01-01") + np.cumsum(gaps).astype("timedelta64[D]")
    floats = st.floats(width=32, allow_nan=False, allow_infinity=False)
    fields = {}
    for f in range(F):
        vals = np.array(draw(st.lists(floats, min_size=T * N, max_size=T * N)), np.float32)
        holes = np.array(draw(st.lists(st.booleans(), min_size=T * N, max_size=T * N)))
        vals[holes] = np.nan
        fields[f"f{f}"] = vals.reshape(T, N)
    member = np.array(draw(st.lists(st.booleans(), min_size=T * N, max_size=T * N))).reshape(T, N)
    codes = np.array([f"SH60{j:04d}" for j in range(N)])
    return Panel(dates, codes, fields), member


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(panels())
def test_round_trip_property(case) -> None:
    panel, member = case
    with tempfile.TemporaryDirectory() as tmp:
        write_store(tmp, panel, markets={"mkt": member})
        np.testing.assert_array_equal(read_calendar(tmp), panel.dates)
        has_data = np.zeros(panel.shape[1], dtype=bool)
        for arr in panel.fields.values():
            has_data |= ~np.isnan(arr).all(axis=0)
        assert read_instruments(tmp, "mkt") == _spells_reference(
            member, panel.dates, panel.instruments
        )
        if not has_data.any():
            with pytest.raises(DataError, match="no instruments with data"):
                load_panel(tmp, list(panel.fields))
            return
        back = load_panel(tmp, list(panel.fields))
        np.testing.assert_array_equal(back.instruments, panel.instruments[has_data])
        for name, arr in panel.fields.items():
            np.testing.assert_array_equal(back[name], arr[:, has_data])
        if member[:, has_data].any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mk = load_panel(tmp, list(panel.fields), universe="mkt")
            keep = np.isin(panel.instruments, mk.instruments)
            np.testing.assert_array_equal(mk.universe, member[:, keep])


def test_describe_store_reports_markets_fields_problems_and_synthetic_meta(
    store: Path, capsys
) -> None:
    import json

    from seqalpha.data.info import describe_store, print_store_info

    (store / "instruments" / "big.txt").write_text(
        "SH600000\t2021-01-04\t2021-01-05\nSH600000\t2021-01-08\t2021-01-11\n"
        "SH699999\t2021-01-04\t2021-01-11\n"
    )
    (store / "features" / "sz000001" / "volume.day.bin").unlink()
    (store / "features" / "sh600001" / "close.day.bin").write_bytes(b"\x00" * 6)
    (store / "meta.json").write_text(json.dumps({"generator": "synthetic", "config": {"seed": 7}}))
    info = describe_store(store)
    assert info["calendar"] == {"start": "2021-01-04", "end": "2021-01-11", "days": 6}
    assert info["fields"] == {"close": 3, "volume": 2}
    big = info["markets"]["big"]
    assert (big["codes"], big["spells"], big["codes_without_data"]) == (2, 3, ["SH699999"])
    # SH600000 is a member on 4 of 6 days, SH699999 on all 6.
    assert big["mean_members"] == pytest.approx(10 / 6)
    assert big["mean_members_with_data"] == pytest.approx(4 / 6)
    text = "\n".join(info["warnings"])
    assert "field 'volume' is missing for 1 instruments: ['SZ000001']" in text
    assert "sh600001/close.day.bin: size 6 bytes is not a multiple of 4" in text
    assert "market 'big': 1 codes have no data files: ['SH699999']" in text
    assert info["synthetic"] == {"generator": "synthetic", "config": {"seed": 7}}
    capsys.readouterr()
    assert print_store_info(store)["n_with_data"] == 3
    printed = capsys.readouterr().out
    assert "config.seed" in printed and "SH699999" in printed
