"""`seqalpha features --replace`: an --expr may redefine a library feature, in its place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from typer.testing import CliRunner

from seqalpha.cli import app


def features(market: Path, out: Path, *extra: str):
    args = ["features", str(market), "--library", "alpha158", "--universe", "market"]
    args += ["--start", "2020-04-01", "--end", "2020-04-10", "--out", str(out), *extra]
    return CliRunner().invoke(app, args)


def test_replace_redefines_a_library_feature_in_its_place(synth_market, tmp_path):
    plain = features(synth_market, tmp_path / "plain.parquet")
    assert plain.exit_code == 0, plain.output
    expr = ["--expr", "KMID=$close/$open"]
    refused = features(synth_market, tmp_path / "no.parquet", *expr)
    assert refused.exit_code == 2 and "KMID" in refused.output and "--replace" in refused.output
    assert not (tmp_path / "no.parquet").exists()
    done = features(synth_market, tmp_path / "yes.parquet", *expr, "--replace")
    assert done.exit_code == 0, done.output
    base, new = (
        pl.read_parquet(tmp_path / "plain.parquet"),
        pl.read_parquet(tmp_path / "yes.parquet"),
    )
    assert new.columns == base.columns  # same names, same order
    assert not new.select("KMID").equals(base.select("KMID"))
    other = [c for c in base.columns if c != "KMID"]
    assert new.select(other).equals(base.select(other))
    # KMID was ($close-$open)/$open; now $close/$open, i.e. the old value + 1
    np.testing.assert_allclose(new["KMID"].to_numpy(), base["KMID"].to_numpy() + 1, rtol=1e-5)
