"""The `ensemble:` section through `seqalpha run` / `train` on the small synthetic market."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.combine import combine, read_member_run

EXTRA = {
    "rev5": "-($close/Ref($close,5)-1)",
    "ret1": "$close/Ref($close,1)-1",
    "vol10": "Std($close/Ref($close,1)-1, 10)",
}
LGBM = {"name": "lgbm", "params": {"num_threads": 1, "n_estimators": 20}}


def write_config(path: Path, market: Path, ensemble: dict) -> Path:
    split = json.loads((market / "meta.json").read_text())["split"]
    raw = {
        "data": {"dir": str(market), "universe": "market", "benchmark": "SYN_INDEX"},
        "features": {"library": "none", "extra": EXTRA},
        "labels": {"horizons": [1], "offset": 1},
        "processors": {
            "features": [{"name": "cs_zscore"}, {"name": "fillna"}],
            "labels": [{"name": "drop_missing_label"}, {"name": "cs_zscore"}],
        },
        "model": {"name": "linear"},
        "walkforward": {"schedule": "fixed", **{k: split[k] for k in ("train", "valid", "test")}},
        "portfolio": {"strategy": "topk_dropout", "topk": 10, "n_drop": 2},
        "tracking": {"enabled": False},
        "ensemble": ensemble,
    }
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def ensemble_run(synth_market: Path, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("ensemble")
    ens = {
        "method": "rolling_ic",
        "params": {"window": 20, "min_periods": 5},
        "members": [
            {"name": "lin"},  # the run's own model
            {"name": "gbm", "model": LGBM},
            {"name": "lin_rank", "processors": {"labels": [{"name": "cs_rank"}]}},
        ],
    }
    cfg = write_config(tmp / "ens.yaml", synth_market, ens)
    result = CliRunner().invoke(app, ["run", str(cfg), "--out", str(tmp / "run")])
    assert result.exit_code == 0, result.output + str(result.exception)
    return tmp / "run"


def test_an_ensemble_run_writes_members_weights_and_a_normal_run(ensemble_run: Path) -> None:
    for name in ("lin", "gbm", "lin_rank"):
        assert (ensemble_run / "members" / name / "predictions.parquet").is_file()
        assert (ensemble_run / "members" / name / "windows").is_dir()  # resumable
    assert (ensemble_run / "report.html").is_file()
    w = pl.read_parquet(ensemble_run / "combine_weights.parquet")
    assert w.columns == ["date", "member", "weight"]
    assert set(w["member"]) == {"lin", "gbm", "lin_rank"}
    preds = pl.read_parquet(ensemble_run / "predictions.parquet")
    assert w["date"].n_unique() == preds["datetime"].n_unique()
    metrics = json.loads((ensemble_run / "metrics.json").read_text())
    assert metrics["ensemble"]["method"] == "rolling_ic"
    assert metrics["model"] == "ensemble:rolling_ic"
    assert set(metrics["ensemble"]["members"]) == {"lin", "gbm", "lin_rank"}
    assert np.isfinite(metrics["overall"]["IC"])
    # the run's label is each member's label (same labels config): the combination is scored
    # on the same target as its members
    lin = pl.read_parquet(ensemble_run / "members" / "lin" / "predictions.parquet")
    joined = preds.join(lin, on=["datetime", "instrument"], suffix="_m")
    np.testing.assert_allclose(joined["label"].to_numpy(), joined["label_m"].to_numpy())


def test_run_directories_as_members(ensemble_run: Path, synth_market: Path, tmp_path) -> None:
    runs = {n: str(ensemble_run / "members" / n) for n in ("lin", "gbm")}
    ens = {"method": "equal", "members": [{"name": n, "run": r} for n, r in runs.items()]}
    cfg = write_config(tmp_path / "e.yaml", synth_market, ens)
    result = CliRunner().invoke(app, ["train", str(cfg), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output + str(result.exception)
    got = pl.read_parquet(tmp_path / "r" / "predictions.parquet")
    want = combine({n: read_member_run(r) for n, r in runs.items()}, "equal").predictions
    np.testing.assert_allclose(got["score"].to_numpy(), want.to_frame()["score"].to_numpy())


@pytest.mark.parametrize(
    ("ensemble", "message"),
    [
        ({"method": "vote", "members": [{"name": "a"}]}, "ensemble.method: unknown combine"),
        (
            {"method": "lasso", "params": {"alpah": 1}, "members": [{"name": "a"}]},
            "ensemble.params: method 'lasso' has no param 'alpah'",
        ),
        (
            {"members": [{"name": "a", "model": {"name": "xgb"}}]},
            "ensemble.members.a: model.name: unknown model 'xgb'",
        ),
        ({"members": [{"name": "a", "run": "/nonexistent/run"}]}, "ensemble.members.a.run"),
        ({"members": [{"name": "a"}, {"name": "a"}]}, "'a' is repeated"),
    ],
)
def test_ensemble_config_errors_are_one_line(synth_market, tmp_path, ensemble, message) -> None:
    cfg = write_config(tmp_path / "bad.yaml", synth_market, ensemble)
    result = CliRunner().invoke(app, ["train", str(cfg), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "members").exists()  # refused before any data is read


def test_each_member_is_backtested_beside_the_combination(
    ensemble_run: Path, synth_market: Path, tmp_path
) -> None:
    metrics = json.loads((ensemble_run / "metrics.json").read_text())
    for row in metrics["ensemble"]["members"].values():
        assert np.isfinite(row["AlphaRtn"]) and np.isfinite(row["AlphaSharpe"])
    report = (ensemble_run / "report.html").read_text(encoding="utf-8")
    members_table = report[report.index('id="table-members"') :]
    assert "<th>AlphaRtn</th>" in members_table[: members_table.index("</thead>")]
    # a one-member equal combination ranks stocks as its member does each day: the member's
    # backtest and the combination's (the run's own) must agree
    lin = str(ensemble_run / "members" / "lin")
    cfg = write_config(
        tmp_path / "one.yaml",
        synth_market,
        {"method": "equal", "members": [{"name": "lin", "run": lin}]},
    )
    result = CliRunner().invoke(app, ["run", str(cfg), "--out", str(tmp_path / "one")])
    assert result.exit_code == 0, result.output + str(result.exception)
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    member = one["ensemble"]["members"]["lin"]
    assert member["AlphaRtn"] == pytest.approx(one["overall"]["AlphaRtn"], abs=1e-9)
    assert member["AlphaSharpe"] == pytest.approx(one["overall"]["AlphaSharpe"], abs=1e-9)
