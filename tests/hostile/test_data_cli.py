"""Hostile data through the command line: one-line errors with exit code 2 instead of
tracebacks, and `data check` / `data info` that count every problem they find."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.data.panel import Panel
from seqalpha.data.qlib_bin import write_store
from seqalpha.data.safety import leftovers

DATES = np.array(["2022-03-01", "2022-03-02", "2022-03-03"], dtype="datetime64[D]")
CODES = np.array(["SH600000", "SH600001"])
runner = CliRunner()


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def one_line_error(result, *needles: str) -> str:
    """Exit 2, exactly one `error: ...` line on stderr (the last), no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    close = np.array([[10, 20], [11, 21], [12, 22]], np.float32)
    fields = {"open": close, "high": close + 1, "low": close - 1, "close": close}
    fields["volume"] = np.full((3, 2), 5.0, np.float32)
    write_store(tmp_path / "store", Panel(DATES, CODES, fields))
    return tmp_path / "store"


def test_check_passes_a_clean_store(store: Path) -> None:
    res = runner.invoke(app, ["data", "check", str(store)])
    assert res.exit_code == 0, res.output
    assert "no problems found" in res.stdout


def test_check_counts_each_problem_class_and_exits_1(store: Path) -> None:
    path = store / "features" / "sh600001" / "close.day.bin"
    arr = np.fromfile(path, dtype="<f4")
    arr[1:] = -arr[1:]  # one stock's close negated
    arr.tofile(path)
    (store / "features" / "sh600000" / "volume.day.bin").unlink()
    (store / "features" / "sh600000" / "high.day.bin").write_bytes(b"\x00" * 7)
    res = runner.invoke(app, ["data", "check", str(store)])
    assert res.exit_code == 1, res.output
    lines = res.stdout.strip().splitlines()
    assert "error: close: non-positive values: 3 (in 1 instrument(s): SH600001 (3))" in lines
    assert "error: instruments missing the field file 'volume': 1 (SH600000)" in lines
    assert any(
        ln.startswith("error: malformed .bin files: 1 (") and "7 bytes" in ln for ln in lines
    )
    assert lines[-1].endswith("3 error class(es), 0 warning class(es)")
    info = runner.invoke(app, ["data", "info", str(store)])
    assert info.exit_code == 0, info.output
    assert (
        "close: non-positive values: 3" in info.stdout and "malformed .bin files: 1" in info.stdout
    )


def test_negated_close_never_reaches_features(store: Path, tmp_path: Path) -> None:
    path = store / "features" / "sh600001" / "close.day.bin"
    arr = np.fromfile(path, dtype="<f4")
    arr[2] = -arr[2]
    arr.tofile(path)
    out = tmp_path / "f.parquet"
    with pytest.warns(UserWarning, match=r"close: 1 non-positive value\(s\).*SH600001 \(1\)"):
        res = runner.invoke(
            app,
            ["features", str(store), "--universe", "all", "--expr", "C=$close", "--out", str(out)],
        )
    assert res.exit_code == 0, res.output
    df = pl.read_parquet(out).filter(pl.col("instrument") == "SH600001").sort("datetime")
    first, negated, last = df["C"].to_list()
    assert (first, last) == (20.0, 22.0)
    assert negated is None or np.isnan(negated)  # withheld, not -21


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"", "calendar is empty"),
        (b"\n \n", "calendar is empty"),
        (b"2022-03-01\n\xff\xfe2022\n", "calendar is not UTF-8 text"),
        (b"2022-03-01\nnot a date\n", "unparseable date"),
    ],
)
@pytest.mark.parametrize("command", ["info", "check"])
def test_broken_calendar_is_a_one_line_error(store: Path, content, needle, command) -> None:
    (store / "calendars" / "day.txt").write_bytes(content)
    res = runner.invoke(app, ["data", command, str(store)])
    one_line_error(res, "day.txt", needle)


def test_bin_that_is_a_directory_is_reported_not_raised(store: Path) -> None:
    path = store / "features" / "sh600000" / "close.day.bin"
    path.unlink()
    path.mkdir()
    res = runner.invoke(app, ["data", "check", str(store)])
    assert res.exit_code == 1 and "close.day.bin: a directory, not a file" in res.stdout
    assert runner.invoke(app, ["data", "info", str(store)]).exit_code == 0
    res = runner.invoke(
        app, ["features", str(store), "--universe", "all", "--expr", "C=$close", "--out", "x.pq"]
    )
    one_line_error(res, "close.day.bin", "is a directory")


def test_check_of_something_that_is_not_a_store_exits_2(tmp_path: Path) -> None:
    one_line_error(runner.invoke(app, ["data", "check", str(tmp_path / "nope")]), "does not exist")
    (tmp_path / "afile").write_text("x")
    one_line_error(
        runner.invoke(app, ["data", "check", str(tmp_path / "afile")]), "not a directory"
    )
    one_line_error(runner.invoke(app, ["data", "check", str(tmp_path)]), "calendar file not found")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_empty_minute_file_is_a_one_line_error(tmp_path: Path, suffix: str) -> None:
    src = tmp_path / f"empty{suffix}"
    if suffix == ".csv":
        src.write_bytes(b"")
    else:
        cols = ["datetime", "instrument", "open", "high", "low", "close", "volume"]
        pl.DataFrame({c: [] for c in cols}).write_parquet(src)
    res = runner.invoke(app, ["data", "ingest-minute", str(src), "--out", str(tmp_path / "m")])
    one_line_error(res, f"empty{suffix}")
    assert not (tmp_path / "m").exists() and not leftovers(tmp_path)


def test_minute_and_synth_outputs_that_are_files_or_unwritable(tmp_path: Path) -> None:
    rows = {
        "datetime": ["2024-01-02 09:45"],
        "instrument": ["A"],
        **{c: [10.0] for c in ("open", "high", "low", "close", "volume")},
    }
    pl.DataFrame(rows).write_csv(tmp_path / "m.csv")
    (tmp_path / "afile").write_text("x")
    before = snapshot(tmp_path)
    for out, needle in (
        (tmp_path / "afile", "not a directory"),
        (tmp_path / "afile" / "sub", "is a file"),
        (Path("/proc/seqalpha-no-such/out"), "cannot create"),
    ):
        res = runner.invoke(
            app,
            [
                "data",
                "ingest-minute",
                str(tmp_path / "m.csv"),
                "--out",
                str(out),
                "--bar-minutes",
                "15",
            ],
        )
        one_line_error(res, str(out), needle)
        res = runner.invoke(app, ["data", "synth", str(out), "--n-stocks", "10", "--n-days", "12"])
        one_line_error(res, str(out))
    assert snapshot(tmp_path) == before and not leftovers(tmp_path)


def test_daily_ingest_of_a_directory_or_garbage_file(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    one_line_error(
        runner.invoke(app, ["data", "ingest-daily", str(tmp_path / "dir.csv"), "--out", "o"]),
        "dir.csv",
    )
    (tmp_path / "junk.parquet").write_bytes(b"\x00\x01garbage")
    res = runner.invoke(
        app, ["data", "ingest-daily", str(tmp_path / "junk.parquet"), "--out", str(tmp_path / "o")]
    )
    one_line_error(res, "junk.parquet", "cannot be read")
    assert not (tmp_path / "o").exists()


def test_missing_field_file_of_the_first_stock_does_not_drop_the_field(store, tmp_path) -> None:
    (store / "features" / "sh600000" / "volume.day.bin").unlink()
    out = tmp_path / "v.parquet"
    args = ["features", str(store), "--universe", "all", "--expr", "V=$volume", "--out", str(out)]
    with pytest.warns(UserWarning, match="volume: no file for 1 instrument"):
        res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    df = pl.read_parquet(out)
    assert df.filter(pl.col("instrument") == "SH600001")["V"].to_list() == [5.0, 5.0, 5.0]
    assert df.filter(pl.col("instrument") == "SH600000")["V"].is_null().all() or (
        df.filter(pl.col("instrument") == "SH600000")["V"].is_nan().all()
    )
