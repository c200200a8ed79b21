"""`seqalpha features` on the real CSI300 store for a short range, and its one-line errors."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.data.qlib_bin import load_panel
from seqalpha.errors import ConfigError
from seqalpha.features import alpha158_expressions, compute_library, evaluate

runner = CliRunner()


def test_alpha158_for_members_with_lookback(csi300_dir, tmp_path) -> None:
    out = tmp_path / "f.parquet"
    res = runner.invoke(
        app,
        [
            "features",
            str(csi300_dir),
            "--library",
            "alpha158",
            "--universe",
            "csi300",
            "--start",
            "2022-12-20",
            "--end",
            "2022-12-30",
            "--expr",
            "MOM5=CSRank($close/Ref($close, 5))",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    df = pl.read_parquet(out)
    assert df.columns[:3] == ["datetime", "instrument", "KMID"]
    assert df.columns[2:] == [*list(alpha158_expressions()), "MOM5"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = load_panel(csi300_dir, ["open", "high", "low", "close", "volume"], "csi300")
    rng = full.slice_dates("2022-12-20", "2022-12-30")
    assert df.height == int(rng.universe.sum())  # rows = member-days in range
    assert df["datetime"].min().isoformat() == "2022-12-20"
    # values equal those computed on the whole history (the loaded look-back suffices)
    exprs = {k: alpha158_expressions()[k] for k in ("MA60", "CORD60", "IMXD60", "RSQR20")}
    ref = evaluate(full, exprs)
    ti = np.searchsorted(full.dates, df["datetime"].to_numpy().astype("datetime64[D]"))
    ni = np.searchsorted(full.instruments, df["instrument"].to_numpy())
    for k in exprs:
        np.testing.assert_allclose(
            df[k].to_numpy(), ref[k][ti, ni], rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=k
        )
    assert df["VWAP0"].is_nan().all()
    mom = df.filter(pl.col("datetime") == df["datetime"].max())["MOM5"].to_numpy()
    assert 0 < np.nanmin(mom) and np.nanmax(mom) == 1.0


def test_instruments_file_and_alpha360(csi300_dir, tmp_path) -> None:
    codes = tmp_path / "codes.txt"
    codes.write_text("SH600000\nSZ000001\n")
    out = tmp_path / "a360.parquet"
    res = runner.invoke(
        app,
        [
            "features",
            str(csi300_dir),
            "--library",
            "alpha360",
            "--instruments",
            str(codes),
            "--start",
            "2022-12-01",
            "--end",
            "2022-12-09",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    df = pl.read_parquet(out)
    assert df.width == 2 + 360 and sorted(df["instrument"].unique()) == ["SH600000", "SZ000001"]
    assert df.height == 2 * 7  # seven trading days
    np.testing.assert_allclose(df["CLOSE0"].to_numpy(), 1.0)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--expr", "oops"], "expected NAME=EXPR"),
        (["--expr", "X=Mean($close, 5"], "position"),
        (["--expr", "X=$amount"], "unknown field"),
        (["--library", "alpha999"], "unknown feature library"),
        (["--expr", "X=Foo($close)"], "unknown operator 'Foo'"),
        (["--library", "alpha158", "--start", "2030-01-01"], "no trading days"),
    ],
)
def test_errors_are_one_line_messages(csi300_dir, tmp_path, args, message) -> None:
    res = runner.invoke(
        app, ["features", str(csi300_dir), *args, "--out", str(tmp_path / "x.parquet")]
    )
    assert res.exit_code == 2
    assert message in " ".join(res.output.split())
    assert not (tmp_path / "x.parquet").exists()


def test_expr_replaces_a_library_feature_in_place(synth_market, tmp_path) -> None:
    from seqalpha.features.commands import features_command

    out = tmp_path / "r.parquet"
    args = (synth_market, "alpha158", "market", None, None, None, ["KMID=$close/$open"], out)
    df = features_command(*args, replace=True)
    assert df.columns[2:] == list(alpha158_expressions())  # KMID keeps its place
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = load_panel(synth_market, ["open", "close"], "market")
    ti = np.searchsorted(p.dates, df["datetime"].to_numpy().astype("datetime64[D]"))
    ni = np.searchsorted(p.instruments, df["instrument"].to_numpy())
    want = (p["close"] / p["open"])[ti, ni]
    np.testing.assert_allclose(df["KMID"].to_numpy(), want, rtol=1e-6)
    with pytest.raises(ConfigError, match="already features of alpha158"):
        features_command(*args)


def test_compute_library_leaves_out_excluded_names(synth_market) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = load_panel(synth_market, ["open", "high", "low", "close", "volume"], "market")
        names = compute_library(p, "alpha158", exclude={"KMID", "MA5"}).field_names  # no $vwap
    assert names == [n for n in alpha158_expressions() if n not in ("KMID", "MA5")]
