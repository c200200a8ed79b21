"""`seqalpha explain`: a deep_factor run on a synthetic market whose only signal is the 5-day
reversal; LRP puts the five planted daily returns (R0..R4) at the top, the relevances of each
prediction sum to its score, and the report draws them."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.report.explain import ATTRIBUTIONS, mean_abs_relevance, relevance_over_time

# the planted signal is minus the sum of the last 5 daily returns (data.synthetic, "reversal")
PLANTED = [f"R{k}" for k in range(5)]
FEATURES = {f"R{k}": f"Ref($close,{k})/Ref($close,{k + 1})-1" for k in range(8)}
FEATURES |= {"HL": "$high/$low-1", "VCHG": "$volume/Ref($volume,1)-1"}


@pytest.fixture(scope="module")
def reversal_run(tmp_path_factory) -> Path:
    from seqalpha.data.synthetic import SynthConfig, generate_market

    tmp = tmp_path_factory.mktemp("explain")
    market = generate_market(
        tmp / "market",
        SynthConfig(n_stocks=120, n_days=280, minute_days=0, seed=3, strengths={"reversal": 0.3}),
    )
    split = json.loads((market / "meta.json").read_text())["split"]
    cfg = {
        "data": {"dir": str(market), "universe": "market", "benchmark": "SYN_INDEX"},
        "features": {"library": "none", "extra": FEATURES},
        "labels": {"horizons": [1], "offset": 1, "kind": "raw"},
        "processors": {
            "features": [{"name": "cs_zscore"}, {"name": "fillna"}],
            "labels": [{"name": "drop_missing_label"}, {"name": "cs_zscore"}],
        },
        "model": {
            "name": "deep_factor",
            "params": {
                "hidden_sizes": [16, 8],
                "epochs": 6,
                "lr": 0.003,
                "threads": 1,
                "progress": False,
                "batch_size": 512,
            },
        },
        "walkforward": {"schedule": "fixed", **split},
        "seeds": [0],
        "tracking": {"enabled": False},
    }
    path = tmp / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    run = tmp / "run"
    done = CliRunner().invoke(app, ["train", str(path), "--out", str(run)])
    assert done.exit_code == 0, done.output
    return run


@pytest.mark.slow
def test_explain_ranks_the_planted_reversal_returns_first(reversal_run):
    done = CliRunner().invoke(app, ["explain", str(reversal_run)])
    assert done.exit_code == 0, done.output
    path = reversal_run / ATTRIBUTIONS
    att = pl.read_parquet(path)
    assert att.columns == ["date", "instrument", "feature", "relevance"]
    ranked = mean_abs_relevance(path)["feature"].to_list()
    assert set(ranked[:5]) == set(PLANTED), ranked
    # conservation (no biases): each prediction's relevances sum to its score
    pred = pl.read_parquet(reversal_run / "predictions.parquet")
    sums = att.group_by(["date", "instrument"]).agg(pl.col("relevance").sum())
    joined = pred.rename({"datetime": "date"}).join(sums, on=["date", "instrument"])
    assert joined.height == pred.height and att.height == pred.height * len(FEATURES)
    np.testing.assert_allclose(joined["relevance"], joined["score"], rtol=1e-3, atol=1e-4)
    over_time = relevance_over_time(path, top=3)
    assert set(over_time["feature"]) <= set(PLANTED) and over_time.height > 0
    # the report draws both charts
    rep = CliRunner().invoke(app, ["report", str(reversal_run)])
    assert rep.exit_code == 0, rep.output
    page = (reversal_run / "report.html").read_text()
    assert 'id="chart-relevance_features"' in page and 'id="chart-relevance_time"' in page


def test_explain_refuses_a_model_without_relevance(tmp_path):
    cfg = {
        "data": {"dir": str(tmp_path / "no_data_needed"), "universe": "market"},
        "features": {"library": "none", "extra": {"R0": FEATURES["R0"]}},
        "model": {"name": "linear"},
        "walkforward": {
            "schedule": "fixed",
            "train": ["2020-01-02", "2020-06-30"],
            "valid": ["2020-07-10", "2020-09-30"],
            "test": ["2020-10-10", "2020-12-31"],
        },
    }
    run = tmp_path / "linear_run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    done = CliRunner().invoke(app, ["explain", str(run)])
    assert done.exit_code == 2
    assert "'linear' has no LRP relevance" in done.output
    assert len(done.output.strip().splitlines()) == 1
