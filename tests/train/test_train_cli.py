"""`seqalpha train` end to end on a small synthetic market: run dir contents, metrics that
match the predictions, a tiny GRU, one-line errors, resume of a finished run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.config import load_config

# Few cheap daily features (evaluated by the expression engine) keep the test fast.
EXTRA = {
    "ret1": "$close/Ref($close,1)-1",
    "ret5": "$close/Ref($close,5)-1",
    "vol5": "Std($close/Ref($close,1)-1, 5)",
    "hl": "($high-$low)/$close",
}


def write_config(path: Path, market: Path, model: dict, **wf) -> Path:
    raw = {
        "data": {"dir": str(market), "universe": "market", "benchmark": "SYN_INDEX"},
        "features": {"library": "none", "extra": EXTRA},
        "labels": {"horizons": [1], "offset": 1},
        "processors": {
            "features": [{"name": "robust_zscore", "params": {"clip": 3.0}}, {"name": "fillna"}],
            "labels": [{"name": "drop_missing_label"}, {"name": "cs_zscore"}],
        },
        "model": model,
        "walkforward": {"schedule": "rolling", "step": 20, "train_days": 60, "valid_days": 5, **wf},
    }
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def market(synth_market) -> Path:
    """The session's small synthetic market (tests/conftest.py)."""
    return synth_market


def invoke(*args: str):
    return CliRunner().invoke(app, ["train", *map(str, args)])


def daily_ic_reference(df: pl.DataFrame) -> tuple[float, float]:
    """Mean daily Pearson and Spearman IC, computed independently with pandas."""
    pdf = df.drop_nulls(["score", "label"]).to_pandas()
    pdf = pdf[np.isfinite(pdf["score"]) & np.isfinite(pdf["label"])]
    ic = pdf.groupby("datetime").apply(lambda g: g["score"].corr(g["label"]))
    ric = pdf.groupby("datetime").apply(lambda g: g["score"].rank().corr(g["label"].rank()))
    return float(ic.mean()), float(ric.mean())


def test_train_linear_end_to_end(market: Path, tmp_path: Path):
    cfg = write_config(tmp_path / "lin.yaml", market, {"name": "linear"})
    run = tmp_path / "run"
    res = invoke(cfg, "--out", run)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in run.iterdir()) == [
        "config.yaml",
        "inputs.json",
        "metrics.json",
        "predictions.parquet",
        "run.json",
        "windows",
    ]
    meta = json.loads((run / "run.json").read_text())
    n = len(meta["windows"])
    assert n >= 4 and len(list((run / "windows").glob("*.parquet"))) == n
    preds = pl.read_parquet(run / "predictions.parquet")
    assert preds.columns == ["datetime", "instrument", "score", "label"]
    first_test = np.datetime64(meta["windows"][0]["test"][0])
    assert preds["datetime"].min() == first_test.astype(object)
    assert preds["score"].is_finite().mean() > 0.95
    # test ranges of consecutive windows tile without gaps or overlaps
    for a, b in zip(meta["windows"], meta["windows"][1:], strict=False):
        assert np.datetime64(a["test"][1]) < np.datetime64(b["test"][0])
    m = json.loads((run / "metrics.json").read_text())
    for k in ("ic", "rank_ic", "icir", "rank_icir"):
        assert np.isfinite(m[k])
    ic, ric = daily_ic_reference(preds)
    assert m["ic"] == pytest.approx(ic, abs=1e-6) and m["rank_ic"] == pytest.approx(ric, abs=1e-6)
    assert m["windows_trained"] == n and m["windows_resumed"] == 0
    # the resolved config is the one that ran: absolute data dir, embargo default
    again = load_config(run / "config.yaml")
    assert again.data.dir == str(market) and again.embargo == 2

    # re-running a finished run trains nothing and reproduces the same predictions
    res2 = invoke(cfg, "--out", run)
    assert res2.exit_code == 0, res2.output
    m2 = json.loads((run / "metrics.json").read_text())
    assert m2["windows_resumed"] == n and m2["windows_trained"] == 0
    assert pl.read_parquet(run / "predictions.parquet").equals(preds)


def test_train_tiny_gru_with_seed_ensemble(market: Path, tmp_path: Path):
    gru = {
        "name": "gru",
        "params": {
            "hidden_size": 8,
            "num_layers": 1,
            "epochs": 1,
            "seq_len": 5,
            "threads": 1,
            "progress": False,
        },
    }
    cfg = write_config(tmp_path / "gru.yaml", market, gru, step=40)
    run = tmp_path / "run"
    res = invoke(cfg, "--out", run, "--set", "seeds=[0, 1]")
    assert res.exit_code == 0, res.output
    preds = pl.read_parquet(run / "predictions.parquet")
    assert preds["score"].is_finite().mean() > 0.95
    w0 = pl.read_parquet(run / "windows" / "0.parquet")
    assert {"score_seed0", "score_seed1"} <= set(w0.columns)
    np.testing.assert_allclose(
        w0["score"].to_numpy(),
        (w0["score_seed0"].to_numpy() + w0["score_seed1"].to_numpy()) / 2,
        rtol=1e-5,
        atol=1e-7,
    )
    # the GRU reads 5-day windows, so window 0 needs 4 extra history days before its train range
    meta = json.loads((run / "run.json").read_text())
    cal = [line.strip() for line in (market / "calendars" / "day.txt").read_text().split()]
    assert cal.index(meta["windows"][0]["train"][0]) == 4


def test_cli_errors_are_one_line_and_name_the_key(market: Path, tmp_path: Path):
    cfg = write_config(tmp_path / "c.yaml", market, {"name": "linear"})
    res = invoke(cfg, "--out", tmp_path / "r", "--set", "walkforward.stepp=3")
    assert res.exit_code == 2
    assert "walkforward.stepp: unknown key" in res.output
    res = invoke(cfg, "--out", tmp_path / "r", "--set", "model.params.alphaa=1")
    assert res.exit_code == 2 and "model.params" in res.output and "alphaa" in res.output
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_changed_config_needs_fresh(market: Path, tmp_path: Path):
    cfg = write_config(tmp_path / "c.yaml", market, {"name": "linear"}, step=40)
    run = tmp_path / "run"
    assert invoke(cfg, "--out", run).exit_code == 0
    res = invoke(cfg, "--out", run, "--set", "model.params.alpha=0.5")
    said = " ".join(res.output.split())  # the console wraps long lines
    assert res.exit_code == 2 and "the config changed" in said and "--fresh" in said
    assert (
        not (run / "metrics.json").exists()
        or json.loads((run / "metrics.json").read_text())["model"] == "linear"
    )
    res = invoke(cfg, "--out", run, "--set", "model.params.alpha=0.5", "--fresh")
    assert res.exit_code == 0, res.output
    m = json.loads((run / "metrics.json").read_text())
    assert m["windows_resumed"] == 0 and m["windows_trained"] == m["n_windows"]
    assert load_config(run / "config.yaml").model.params == {"alpha": 0.5}


def test_synthetic_intraday_example_runs(market: Path, tmp_path: Path):
    example = Path(__file__).resolve().parents[2] / "examples" / "synthetic_intraday_gru.yaml"
    run = tmp_path / "run"
    res = invoke(
        example,
        "--out",
        run,
        "--data-dir",
        market,
        "--set",
        "model.params.epochs=1",
        "--set",
        "model.params.hidden_size=8",
        "--set",
        "model.params.threads=1",
        "--set",
        "walkforward.train_days=50",
        "--set",
        "walkforward.step=40",
    )
    assert res.exit_code == 0, res.output
    cfg = load_config(run / "config.yaml")
    assert cfg.features.bars and cfg.data.minute_dir == str(market / "minute")
    preds = pl.read_parquet(run / "predictions.parquet")
    assert preds["score"].is_finite().mean() > 0.9
    m = json.loads((run / "metrics.json").read_text())
    assert m["n_windows"] == len(json.loads((run / "run.json").read_text())["windows"]) >= 2


def test_multi_horizon_labels_are_all_written_and_scored(market: Path, tmp_path: Path):
    cfg = write_config(tmp_path / "mh.yaml", market, {"name": "linear"})
    raw = yaml.safe_load(cfg.read_text())
    raw["labels"]["horizons"] = [1, 5]
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    run = tmp_path / "run"
    res = invoke(cfg, "--out", run)
    assert res.exit_code == 0, res.output
    preds = pl.read_parquet(run / "predictions.parquet")
    assert preds.columns == [
        "datetime",
        "instrument",
        "score",
        "label",
        "label_raw_1d",
        "label_raw_5d",
    ]
    assert preds["label"].equals(preds["label_raw_1d"].alias("label"))
    m = json.loads((run / "metrics.json").read_text())
    assert set(m["by_label"]) == {"raw_1d", "raw_5d"}
    assert m["by_label"]["raw_1d"]["ic"] == pytest.approx(m["ic"], abs=1e-9)
    # the 5-day figures are computed against the 5-day label, not a copy of the 1-day ones
    ic5, _ = daily_ic_reference(preds.drop("label").rename({"label_raw_5d": "label"}))
    assert m["by_label"]["raw_5d"]["ic"] == pytest.approx(ic5, abs=1e-6)
    assert m["by_label"]["raw_5d"]["ic"] != pytest.approx(m["ic"], abs=1e-4)
