"""The research models' example configs run through `seqalpha run` on the real CSI300 store, as a
user runs them from the repository root: nothing is changed but the date range (two years
instead of thirteen), one seed and one or two epochs, so that each takes well under a minute."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from seqalpha.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = {
    "hist": "csi300_hist_alpha360.yaml",
    "igmtf": "csi300_igmtf_alpha360.yaml",
    "add": "csi300_add_alpha360.yaml",
    "add_qlib": "csi300_add_alpha360_qlib.yaml",
    "adarnn": "csi300_adarnn_alpha360.yaml",
    "double_ensemble": "csi300_double_ensemble_alpha158.yaml",
    "deep_factor": "csi300_deep_factor.yaml",
}
SHORT = [
    "data.start=2016-01-04",
    "data.end=2017-12-29",
    "walkforward.train=[2016-05-03, 2017-04-28]",
    "walkforward.valid=[2017-05-02, 2017-08-31]",
    "walkforward.test=[2017-09-01, 2017-12-29]",
    "seeds=[0]",
]


@pytest.mark.slow  # about 20-60 s each on 2 cores
@pytest.mark.parametrize("model", list(EXAMPLES))
def test_the_example_config_runs_with_seqalpha_run(
    model: str, csi300_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # csi300_dir: the examples read ../shared/data/cn_csi300; skip (or fail in CI) without it
    monkeypatch.chdir(ROOT)  # the examples' relative paths are written from the repository root
    epochs = "model.params.epochs=2" if model == "double_ensemble" else "model.params.epochs=1"
    out = tmp_path / model
    args = ["run", f"examples/{EXAMPLES[model]}", "--out", str(out), "--set", epochs]
    for s in SHORT:
        args += ["--set", s]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_start"].startswith("2017-09") and metrics["test_end"].startswith("2017-12")
    assert metrics["n_predictions"] > 250 * 60  # ~300 stocks x ~80 test days
    assert -1 <= metrics["ic"] <= 1 and -1 <= metrics["rank_ic"] <= 1
    preds = pl.read_parquet(out / "predictions.parquet")
    assert preds["score"].is_finite().all()
    assert preds["datetime"].min() >= dt.date(2017, 9, 1)
    assert (out / "report.html").is_file()
