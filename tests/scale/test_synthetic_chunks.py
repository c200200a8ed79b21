"""The synthetic market streams by time chunks: the chunk size changes nothing in the output,
and `minute_days` writes minute bars of the last days only."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.data.minute import minute_dates
from seqalpha.data.qlib_bin import load_panel
from seqalpha.data.synthetic import SynthConfig, generate_market
from seqalpha.errors import ConfigError

SMALL = {"n_stocks": 30, "n_days": 60, "bar_minutes": 30, "seed": 5}


def test_chunk_size_does_not_change_the_market(tmp_path):
    a = generate_market(tmp_path / "a", SynthConfig(chunk_days=7, **SMALL))
    b = generate_market(tmp_path / "b", SynthConfig(chunk_days=60, **SMALL))
    pa, pb = load_panel(a), load_panel(b)
    assert pa.field_names == pb.field_names
    for name in pa.field_names:
        np.testing.assert_array_equal(pa[name], pb[name])
    assert pl.read_parquet(a / "oracle.parquet").equals(pl.read_parquet(b / "oracle.parquet"))
    assert (a / "instruments" / "market.txt").read_text() == (
        b / "instruments" / "market.txt"
    ).read_text()
    assert not (a / "_daily_scratch").exists()


def test_minute_days_writes_the_last_days_only(tmp_path):
    out = generate_market(tmp_path / "m", SynthConfig(chunk_days=16, minute_days=5, **SMALL))
    panel = load_panel(out)
    days = minute_dates(out / "minute")
    np.testing.assert_array_equal(np.asarray(days, dtype="datetime64[D]"), panel.dates[-5:])
    meta = json.loads((out / "meta.json").read_text())
    assert meta["minute_dates"] == [str(panel.dates[-5]), str(panel.dates[-1])]


def test_minute_days_zero_and_bad_values(tmp_path):
    out = generate_market(tmp_path / "z", SynthConfig(minute_days=0, **SMALL))
    assert len(minute_dates(out / "minute")) == 0
    assert json.loads((out / "meta.json").read_text())["minute_dates"] is None
    with pytest.raises(ConfigError, match="minute_days"):
        SynthConfig(minute_days=-1, **SMALL)


def test_cli_minute_days(tmp_path):
    out = tmp_path / "cli"
    res = CliRunner().invoke(
        app,
        [
            "data",
            "synth",
            str(out),
            "--n-stocks",
            "20",
            "--n-days",
            "30",
            "--bar-minutes",
            "30",
            "--minute-days",
            "3",
        ],
    )
    assert res.exit_code == 0, res.output
    assert len(minute_dates(out / "minute")) == 3
