"""Hostile writes: every data writer stays inside its output directory, refuses unsafe names
before writing anything, never replaces an existing store without a flag, and never leaves a
half-written store or a temporary directory behind."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import seqalpha.data.qlib_bin as qlib_bin
from seqalpha.cli import app
from seqalpha.data.ingest import ingest_daily
from seqalpha.data.panel import Panel
from seqalpha.data.qlib_bin import load_panel, write_market, write_store
from seqalpha.data.safety import bad_name, leftovers
from seqalpha.data.synthetic import SynthConfig, generate_market
from seqalpha.errors import ConfigError, DataError

DATES = np.array(["2022-03-01", "2022-03-02", "2022-03-03"], dtype="datetime64[D]")
runner = CliRunner()


def snapshot(root: Path, skip: str | None = None) -> dict[str, bytes]:
    """Every file under `root` (relative path -> bytes), except those under `root/skip`."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not (skip and p.relative_to(root).parts[0] == skip)
    }


def bars_csv(path: Path, codes: list[str], close: float = 10.0) -> Path:
    """Three days of valid daily bars for `codes`, as CSV."""
    rows = [
        (str(d), c, close, close * 1.05, close * 0.95, close, 1000.0) for d in DATES for c in codes
    ]
    cols = ["date", "instrument", "open", "high", "low", "close", "volume"]
    pl.DataFrame(rows, schema=cols, orient="row").write_csv(path)
    return path


def one_line_error(result, *needles: str) -> str:
    """The CLI failed with exit 2 and ONE stderr line `error: ...` (the last; a progress bar may
    precede it) containing every needle, and no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A working folder with a neighbouring store (`neighbour/`) that must never change."""
    panel = Panel(DATES, np.array(["SH600000"]), {"close": np.full((3, 1), 7.0, np.float32)})
    write_store(tmp_path / "neighbour", panel)
    bars_csv(tmp_path / "good.csv", ["SH600000", "SZ000001"])
    return tmp_path


HOSTILE_CODES = [
    "../../X",
    "../../neighbour/features/sh600000",  # would overwrite the neighbour's close.day.bin
    "/tmp/seqalpha-abs-code",
    "A/B",
    "..",
    ".hidden",
    "A\tB",
    "A\x07B",
    "",
]


@pytest.mark.parametrize("code", HOSTILE_CODES)
def test_ingest_daily_refuses_codes_that_are_paths_before_writing(work: Path, code: str) -> None:
    src = work / "bad.parquet"
    good = pl.read_csv(bars_csv(work / "b.csv", ["SH600000"]))
    good.with_columns(pl.lit(code).alias("instrument")).write_parquet(src)
    before = snapshot(work)
    res = runner.invoke(app, ["data", "ingest-daily", str(src), "--out", str(work / "out")])
    one_line_error(res, "bad.parquet", "invalid instrument code")
    assert snapshot(work) == before  # nothing outside (or inside) the output was written
    assert not (work / "out").exists() and not leftovers(work)
    assert not Path("/tmp/seqalpha-abs-code").exists()


@pytest.mark.parametrize("code", ["../../X", "/abs", "A\\B", ""])
def test_ingest_minute_refuses_unsafe_codes_before_writing(work: Path, code: str) -> None:
    rows = {
        "datetime": ["2024-01-02 09:45"],
        "instrument": [code],
        **{c: [10.0] for c in ("open", "high", "low", "close", "volume")},
    }
    pl.DataFrame(rows).write_parquet(work / "m.parquet")
    before = snapshot(work)
    res = runner.invoke(
        app, ["data", "ingest-minute", str(work / "m.parquet"), "--out", str(work / "minute")]
    )
    one_line_error(res, "m.parquet", "invalid instrument code")
    assert snapshot(work) == before and not leftovers(work)


def test_write_store_and_write_market_refuse_unsafe_names(work: Path) -> None:
    before = snapshot(work)
    for codes in (["../x"], ["SH600000", "sh600000"]):
        panel = Panel(DATES, np.array(codes), {"close": np.ones((3, len(codes)), np.float32)})
        with pytest.raises(DataError, match="instrument code"):
            write_store(work / "out", panel)
    ok = Panel(DATES, np.array(["SH600000"]), {"close": np.ones((3, 1), np.float32)})
    with pytest.raises(DataError, match="market name"):
        write_store(work / "out", ok, markets={"../../evil": np.ones((3, 1), bool)})
    with pytest.raises(DataError, match="invalid field name"):
        write_store(work / "out", Panel(DATES, np.array(["A"]), {"../c": np.ones((3, 1))}))
    with pytest.raises(DataError, match="market name"):
        write_market(work / "neighbour", "../escape", np.ones((3, 1), bool), DATES, ["A"])
    assert snapshot(work) == before and not leftovers(work)


def test_existing_market_file_is_replaced_only_with_overwrite(work: Path) -> None:
    store = work / "neighbour"
    with pytest.raises(DataError, match=r"all\.txt: market file exists"):
        write_market(store, "all", np.ones((3, 1), bool), DATES, ["SH600000"])
    write_market(store, "all", np.zeros((3, 1), bool), DATES, ["SH600000"], overwrite=True)
    assert (store / "instruments" / "all.txt").read_text() == ""


def test_overflow_and_inf_are_refused_at_ingest_and_write(work: Path) -> None:
    src = work / "huge.csv"
    pl.read_csv(work / "good.csv").with_columns(pl.lit(1e39).alias("close")).write_csv(src)
    res = runner.invoke(app, ["data", "ingest-daily", str(src), "--out", str(work / "out")])
    one_line_error(res, "huge.csv", "'close'", "overflow float32")
    assert not (work / "out").exists()
    inf = Panel(DATES, np.array(["A"]), {"close": np.array([[1.0], [np.inf], [2.0]])})
    with pytest.raises(DataError, match=r"field 'close'.*infinite"):
        write_store(work / "out", inf)
    assert not (work / "out").exists() and not leftovers(work)


def test_existing_store_is_kept_without_overwrite_and_replaced_with_it(work: Path) -> None:
    out = work / "out"
    assert runner.invoke(app, ["data", "ingest-daily", str(work / "good.csv"), "--out", str(out)])
    old = snapshot(out)
    src = bars_csv(work / "new.csv", ["SZ000002"], close=20.0)
    res = runner.invoke(app, ["data", "ingest-daily", str(src), "--out", str(out)])
    one_line_error(res, str(out), "not empty", "--overwrite")
    assert snapshot(out) == old
    (out / "minute").mkdir()
    (out / "minute" / "keep.txt").write_text("bars")  # not part of the store: kept
    res = runner.invoke(app, ["data", "ingest-daily", str(src), "--out", str(out), "--overwrite"])
    assert res.exit_code == 0, res.output
    assert load_panel(out, ["close"]).instruments.tolist() == ["SZ000002"]
    assert (out / "minute" / "keep.txt").read_text() == "bars"
    assert not leftovers(work)


def test_write_store_beside_other_content_but_not_over_a_store(work: Path) -> None:
    (work / "mixed" / "minute").mkdir(parents=True)
    panel = Panel(DATES, np.array(["SH600000"]), {"close": np.ones((3, 1), np.float32)})
    write_store(work / "mixed", panel)
    assert sorted(p.name for p in (work / "mixed").iterdir()) == [
        "calendars",
        "features",
        "instruments",
        "minute",
    ]
    with pytest.raises(DataError, match="a store exists there"):
        write_store(work / "neighbour", panel)
    assert not leftovers(work)


def test_overwrite_that_fails_midway_keeps_the_old_store(work: Path, monkeypatch) -> None:
    out = work / "out"
    ingest_daily(work / "good.csv", out)
    src = bars_csv(work / "new.csv", ["SZ000002", "SZ000003"], close=20.0)
    before = snapshot(work)
    real, calls = qlib_bin.write_bin, []

    def failing_write_bin(path, start, values):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(path))
        real(path, start, values)

    monkeypatch.setattr(qlib_bin, "write_bin", failing_write_bin)
    res = runner.invoke(app, ["data", "ingest-daily", str(src), "--out", str(out), "--overwrite"])
    one_line_error(res, str(out), "No space left on device")
    assert len(calls) == 3  # the failure happened in the middle of the new store
    assert snapshot(work) == before and not leftovers(work)


def test_output_that_is_a_file_or_unwritable_is_a_one_line_error(work: Path) -> None:
    (work / "afile").write_text("x")
    before = snapshot(work)
    for out, needle in (
        (work / "afile", "exists and is not a directory"),
        (work / "afile" / "store", "is a file, not a directory"),
        (Path("/proc/seqalpha-no-such/store"), "cannot create"),
    ):
        res = runner.invoke(
            app, ["data", "ingest-daily", str(work / "good.csv"), "--out", str(out)]
        )
        one_line_error(res, str(out), needle)
    assert snapshot(work) == before and not leftovers(work)


def test_ingest_minute_needs_a_flag_for_an_existing_directory(work: Path) -> None:
    rows = {
        "datetime": ["2024-01-02 09:45:00", "2024-01-02 10:00:00"],
        "instrument": ["SH600000", "SH600000"],
        "open": [10.0, 10.1],
        "high": [10.2, 10.3],
        "low": [9.9, 10.0],
        "close": [10.1, 10.2],
        "volume": [100.0, 200.0],
    }
    pl.DataFrame(rows).write_csv(work / "m.csv")
    out = work / "minute"
    cmd = ["data", "ingest-minute", str(work / "m.csv"), "--out", str(out), "--bar-minutes", "15"]
    assert runner.invoke(app, cmd).exit_code == 0
    old = snapshot(out)
    one_line_error(runner.invoke(app, cmd), str(out), "not empty")
    assert snapshot(out) == old
    assert runner.invoke(app, [*cmd, "--merge"]).exit_code == 0
    assert runner.invoke(app, [*cmd, "--overwrite"]).exit_code == 0
    assert not leftovers(work)


def test_synth_needs_overwrite_and_a_failed_regeneration_keeps_the_market(
    work: Path, monkeypatch
) -> None:
    out = work / "market"
    cfg = SynthConfig(n_stocks=10, n_days=12, bar_minutes=60)
    generate_market(out, cfg)
    old = snapshot(out)
    args = ["data", "synth", str(out), "--n-stocks", "10", "--n-days", "12", "--bar-minutes", "60"]
    one_line_error(runner.invoke(app, args), str(out), "--overwrite")
    assert snapshot(out) == old

    import seqalpha.data.synthetic as synthetic

    def broken(*a, **k):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(synthetic, "write_store_into", broken)
    one_line_error(runner.invoke(app, [*args, "--overwrite"]), "Input/output error")
    assert snapshot(out) == old and not leftovers(work)
    monkeypatch.undo()
    assert runner.invoke(app, [*args, "--seed", "3", "--overwrite"]).exit_code == 0
    assert snapshot(out) != old and not leftovers(work)
    (work / "foreign").mkdir()
    (work / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds no synthetic market"):
        generate_market(work / "foreign", cfg, overwrite=True)
    assert (work / "foreign" / "notes.txt").read_text() == "mine"


# --------------------------------------------------------------------------- property tests

CODE_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))
ALPHABET = string.ascii_letters + string.digits + "_-./\\\x00\n :~"


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(code=st.one_of(st.text(ALPHABET, max_size=12), st.text(CODE_CHARS, max_size=8)))
def test_random_codes_are_refused_or_written_strictly_inside(tmp_path_factory, code: str) -> None:
    root = tmp_path_factory.mktemp("codes")
    out = root / "store"
    try:
        # The Panel itself refuses a NUL (numpy's str arrays would drop a trailing one).
        panel = Panel(DATES, np.array([code], dtype=object), {"close": np.ones((3, 1), np.float32)})
        write_store(out, panel)
    except DataError as exc:
        assert "\n" not in str(exc).strip() and "instrument code" in str(exc)
        assert bad_name(code) and list(root.iterdir()) == []
        return
    assert not bad_name(code)
    files = [p for p in root.rglob("*") if p.is_file()]
    assert all(out.resolve() in p.resolve().parents for p in files)
    assert (out / "features" / code.lower() / "close.day.bin").is_file()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.data(),
    n_days=st.integers(1, 6),
    n_codes=st.integers(1, 3),
)
def test_random_valid_bars_round_trip_exactly(tmp_path_factory, data, n_days, n_codes) -> None:
    price = st.floats(0.0625, 1048576.0, width=32, allow_nan=False)
    rows = []
    dates = np.datetime64("2021-01-04") + np.arange(n_days)
    for d in dates:
        for j in range(n_codes):
            lo, hi = sorted(data.draw(st.lists(price, min_size=2, max_size=2)))
            o, c = data.draw(st.floats(lo, hi, width=32)), data.draw(st.floats(lo, hi, width=32))
            v = data.draw(st.floats(0.0, 1073741824.0, width=32))
            rows.append((str(d), f"SH60{j:04d}", o, hi, lo, c, v))
    root = tmp_path_factory.mktemp("rt")
    df = pl.DataFrame(
        rows, schema=["date", "instrument", "open", "high", "low", "close", "volume"], orient="row"
    )
    df.write_parquet(root / "bars.parquet")
    ingest_daily(root / "bars.parquet", root / "store")
    back = load_panel(root / "store", ["open", "high", "low", "close", "volume"], strict=True)
    for k, name in enumerate(["open", "high", "low", "close", "volume"], start=2):
        want = np.array([r[k] for r in rows], np.float32).reshape(n_days, n_codes)
        np.testing.assert_array_equal(back[name], want)
