"""`seqalpha run` end to end on the small synthetic market: every artifact of the run directory,
metrics that agree with the files, a baseline, resume, and one-line config errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from seqalpha.cli import app

EXTRA = {
    "rev5": "-($close/Ref($close,5)-1)",
    "ret1": "$close/Ref($close,1)-1",
    "vol10": "Std($close/Ref($close,1)-1, 10)",
}


def write_config(path: Path, market: Path, **over) -> Path:
    meta = json.loads((market / "meta.json").read_text())
    split = meta["split"]
    raw = {
        "data": {"dir": str(market), "universe": "market", "benchmark": "SYN_INDEX"},
        "features": {"library": "none", "extra": EXTRA},
        "labels": {"horizons": [1], "offset": 1},
        "processors": {
            "features": [{"name": "cs_zscore"}, {"name": "fillna"}],
            "labels": [{"name": "drop_missing_label"}, {"name": "cs_zscore"}],
        },
        "model": {"name": "linear"},
        "walkforward": {
            "schedule": "fixed",
            "train": split["train"],
            "valid": split["valid"],
            "test": split["test"],
        },
        "portfolio": {"strategy": "topk_dropout", "topk": 10, "n_drop": 2},
        "baselines": [
            {
                "name": "lgbm_small",
                "set": {
                    "model.name": "lgbm",
                    "model.params": {"num_threads": 1, "n_estimators": 30},
                },
            }
        ],
    }
    for key, value in over.items():
        raw[key] = value
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def finished_run(synth_market: Path, tmp_path_factory) -> tuple[Path, Path, object]:
    tmp = tmp_path_factory.mktemp("pipeline")
    cfg = write_config(tmp / "run.yaml", synth_market)
    run = tmp / "run"
    result = CliRunner().invoke(app, ["run", str(cfg), "--out", str(run)])
    return cfg, run, result


def test_run_writes_every_artifact(finished_run):
    _, run, result = finished_run
    assert result.exit_code == 0, result.output
    for name in (
        "config.yaml",
        "predictions.parquet",
        "positions.parquet",
        "returns.parquet",
        "trades.parquet",
        "metrics.json",
        "report.html",
        "provenance.json",
        "ic.parquet",
        "quantiles.parquet",
    ):
        assert (run / name).is_file(), name
    assert (run / "baselines" / "lgbm_small" / "report.html").is_file()
    base = json.loads((run / "baselines" / "lgbm_small" / "metrics.json").read_text())
    assert "predictions_from" not in base and base["windows_trained"] >= 1  # another model
    assert "report:" in result.output and "AlphaRtn" in result.output


def test_metrics_agree_with_files(finished_run):
    _, run, _ = finished_run
    m = json.loads((run / "metrics.json").read_text())
    for key in ("ic", "rank_ic", "icir", "rank_icir"):
        assert np.isfinite(m[key])
    ret = pl.read_parquet(run / "returns.parquet")
    overall = m["overall"]
    assert overall["AlphaRtn"] == pytest.approx(238 * ret["excess"].mean(), rel=1e-9)
    assert overall["AlphaRtnNC"] == pytest.approx(238 * ret["excess_nc"].mean(), rel=1e-9)
    assert overall["TOV"] == pytest.approx(ret["turnover"].mean(), rel=1e-9)
    assert overall["IC"] == pytest.approx(m["ic"])
    years = {str(y) for y in ret["datetime"].dt.year().unique().to_list()}
    assert set(m["by_year"]) == years
    # the reversal signal is planted: a linear model on -5-day return finds it
    assert m["ic"] > 0


def test_provenance_records_code_data_and_seeds(finished_run):
    _, run, _ = finished_run
    import seqalpha

    prov = json.loads((run / "provenance.json").read_text())
    assert prov["seqalpha"] == seqalpha.__version__
    assert prov["seeds"] == [0]
    assert prov["data"]["n_files"] > 0 and len(prov["data"]["sha256"]) == 64
    assert "numpy" in prov["packages"] and "torch" in prov["packages"]


def test_rerun_resumes_finished_windows(finished_run):
    cfg, run, _ = finished_run
    before = pl.read_parquet(run / "predictions.parquet")
    result = CliRunner().invoke(app, ["run", str(cfg), "--out", str(run)])
    assert result.exit_code == 0, result.output
    assert "0 trained, 1 resumed" in result.output.replace("\n", " ")
    after = pl.read_parquet(run / "predictions.parquet")
    assert before.equals(after)


@pytest.mark.parametrize(
    "over, key",
    [
        ({"model": {"name": "grux"}}, "model.name"),
        ({"model": {"name": "seqalpha.models.classic.LinearModel"}}, "model.name"),
        ({"data": {"dir": "/nonexistent/store", "universe": "market"}}, "data.dir"),
        (
            {
                "walkforward": {
                    "schedule": "fixed",
                    "train": ["2020-01-02", "2020-06-30"],
                    "test": ["2020-06-01", "2020-08-31"],
                }
            },
            "overlaps",
        ),
    ],
)
def test_config_errors_are_one_line_naming_the_key(synth_market, tmp_path, over, key):
    cfg = write_config(tmp_path / "bad.yaml", synth_market, **over)
    result = CliRunner().invoke(app, ["run", str(cfg), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    message = " ".join(lines)
    assert key in message
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_python_object_tags_are_rejected(synth_market, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", synth_market)
    text = cfg.read_text().replace("name: linear", "name: !!python/object/apply:os.system ['true']")
    cfg.write_text(text)
    result = CliRunner().invoke(app, ["run", str(cfg), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "tag" in result.output and "rejected" in result.output


@pytest.mark.parametrize(
    "strategy, params",
    [
        ("score_weighted", {"topk": 10}),
        ("optimizer", {"risk_aversion": 5.0, "max_weight": 0.1}),
    ],
)
def test_weight_strategies_backtest_through_the_rules(synth_market, tmp_path, strategy, params):
    cfg = write_config(
        tmp_path / "w.yaml",
        synth_market,
        baselines=[],
        portfolio={"strategy": strategy, "params": params},
        tracking={"enabled": False},
    )
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(cfg), "--out", str(run)])
    assert result.exit_code == 0, result.output
    pos = pl.read_parquet(run / "positions.parquet")
    daily = pos.group_by("datetime").agg(pl.col("weight").sum())
    assert pos.height > 0 and (pos["weight"] >= 0).all()
    assert daily["weight"].max() <= 1.0 + 1e-6
    if strategy == "optimizer":
        assert pos["weight"].max() <= 0.1 * 1.25  # bound at rebalance, then price drift


def test_report_from_memory_matches_the_report_of_the_files(finished_run, tmp_path):
    from seqalpha.report.html import write_report

    _, run, _ = finished_run
    again = write_report(run, output=tmp_path / "from_files.html")
    assert again.read_text() == (run / "report.html").read_text()


def test_a_run_writes_each_file_once_and_reads_none_back(synth_market, tmp_path, monkeypatch):
    import seqalpha.jsonio
    from seqalpha import pipeline

    cfg = write_config(tmp_path / "c.yaml", synth_market, baselines=[], tracking={"enabled": False})
    writes: list[str] = []
    real_json, real_parquet = (
        seqalpha.jsonio.write_json_atomic,
        seqalpha.jsonio.write_parquet_atomic,
    )

    def count_json(path, obj):
        writes.append(Path(path).name)
        return real_json(path, obj)

    def count_parquet(df, path):
        writes.append(Path(path).name)
        return real_parquet(df, path)

    def no_read(*args, **kwargs):
        raise AssertionError(f"a run read a file back: {args[:1]}")

    monkeypatch.setattr(pipeline, "write_json_atomic", count_json)
    monkeypatch.setattr(pipeline, "write_parquet_atomic", count_parquet)
    monkeypatch.setattr(pl, "read_parquet", no_read)
    metrics = pipeline.run_pipeline(cfg, tmp_path / "run")["main"]
    assert writes.count("metrics.json") == 1 and writes.count("predictions.parquet") == 1
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["ic"] == metrics["ic"]


def test_train_is_the_run_stopped_after_training(finished_run, tmp_path):
    from seqalpha.pipeline import train_command

    cfg, run, _ = finished_run
    metrics = train_command(cfg, tmp_path / "train")
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == [
        "config.yaml",
        "inputs.json",
        "metrics.json",
        "predictions.parquet",
        "run.json",
        "windows",
    ]
    full = json.loads((run / "metrics.json").read_text())
    for key in ("ic", "rank_ic", "icir", "rank_icir", "n_predictions", "config_hash"):
        assert metrics[key] == full[key], key
    assert "overall" not in metrics
    a = pl.read_parquet(tmp_path / "train" / "predictions.parquet")
    assert a.equals(pl.read_parquet(run / "predictions.parquet"))
