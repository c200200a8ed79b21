"""The Python API as a notebook uses it: load a config, run it (stopping after training, then
the whole run), read the results, compute features, plot; results equal to what the CLI writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

import seqalpha
from seqalpha import api
from seqalpha.cli import app
from seqalpha.errors import ConfigError, DataError

TIMINGS = ("seconds_inputs", "seconds_walkforward", "seconds_total", "seconds_pipeline")


def without_timings(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMINGS}


@pytest.fixture(scope="module")
def config_file(synth_market: Path, tmp_path_factory) -> Path:
    """The API's example config for the session's synthetic market, as a YAML file."""
    path = tmp_path_factory.mktemp("api") / "example.yaml"
    path.write_text(yaml.safe_dump(api.example_config(synth_market), sort_keys=False))
    return path


@pytest.fixture(scope="module")
def runs(config_file: Path) -> dict:
    """The same config run by the CLI (`train`, `run`) and by the API: stopped after training
    (its files listed then), then the whole run into the same directory (resuming)."""
    root = config_file.parent
    out = {"api": root / "api_run", "cli_train": root / "cli_train", "cli_run": root / "cli_run"}
    for name, cmd in (("cli_train", "train"), ("cli_run", "run")):
        res = CliRunner().invoke(app, [cmd, str(config_file), "--out", str(out[name])])
        assert res.exit_code == 0, res.output
    out["train"] = api.run(config_file, out["api"], stop_after="train")
    out["train_files"] = sorted(p.name for p in out["api"].iterdir())
    out["train_predictions"] = pl.read_parquet(out["api"] / "predictions.parquet")
    out["full"] = api.run(config_file, out["api"])
    return out


def test_run_stopped_after_training_equals_seqalpha_train(runs):
    res = runs["train"]
    assert isinstance(res, api.RunResult) and res.backtest is None
    assert runs["train_files"] == sorted(p.name for p in runs["cli_train"].iterdir())
    cli_preds = pl.read_parquet(runs["cli_train"] / "predictions.parquet")
    assert runs["train_predictions"].equals(cli_preds)
    assert res.predictions.to_frame().equals(cli_preds)
    cli_metrics = json.loads((runs["cli_train"] / "metrics.json").read_text())
    assert without_timings(res.metrics) == without_timings(cli_metrics)
    # the daily tables are computed from the predictions when the run stopped after training
    assert res.ic.height == len(res.predictions.dates)
    assert np.nanmean(res.ic["ic"].to_numpy()) == pytest.approx(res.metrics["ic"], rel=1e-6)


def test_the_whole_run_resumes_the_trained_windows_and_equals_seqalpha_run(runs):
    res = runs["full"]
    assert res.metrics["windows_resumed"] == res.metrics["n_windows"] >= 1
    for name in ("predictions", "ic", "quantiles", "returns", "positions", "trades"):
        cli = pl.read_parquet(runs["cli_run"] / f"{name}.parquet")
        assert pl.read_parquet(runs["api"] / f"{name}.parquet").equals(cli), name
    assert res.backtest is not None
    assert res.backtest.returns.equals(pl.read_parquet(runs["cli_run"] / "returns.parquet"))
    cli_metrics = json.loads((runs["cli_run"] / "metrics.json").read_text())
    assert res.metrics["overall"] == cli_metrics["overall"]
    assert res.metrics["by_year"] == cli_metrics["by_year"]
    assert (runs["api"] / "report.html").is_file()


def test_load_run_reads_a_cli_run_and_its_plots(runs):
    res = seqalpha.load_run(runs["cli_run"])
    ic_fig = seqalpha.plot_cumulative_ic(res)
    np.testing.assert_allclose(
        ic_fig.data[0].y, np.cumsum(np.nan_to_num(res.ic["ic"].to_numpy())), rtol=1e-12
    )
    excess = seqalpha.plot_cumulative_excess(res)
    assert [t.name for t in excess.data] == ["excess (with cost)", "excess (no cost)", "benchmark"]
    assert len(excess.data[0].x) == res.backtest.returns.height
    quant = seqalpha.plot_quantile_returns(res)
    assert [t.name for t in quant.data] == ["q1", "q2", "q3", "q4", "q5", "q5 - q1"]
    qlib = res.to_qlib()
    assert list(qlib.index.names) == ["datetime", "instrument"] and list(qlib.columns) == ["score"]
    assert len(qlib) == res.predictions.n


def test_a_train_only_run_has_no_excess_return_plot(runs):
    res = api.load_run(runs["cli_train"])
    with pytest.raises(DataError, match="no backtest"):
        api.plot_cumulative_excess(res)


def test_load_run_of_a_directory_without_results_is_one_line(tmp_path):
    with pytest.raises(DataError, match=r"no metrics\.json"):
        api.load_run(tmp_path)


def test_load_config_from_a_file_a_dict_or_a_config_with_overrides(config_file):
    from_file = api.load_config(config_file, ["portfolio.topk=7"])
    from_dict = api.load_config(yaml.safe_load(config_file.read_text()), ["portfolio.topk=7"])
    again = api.load_config(from_dict)
    assert from_file == from_dict == again and from_file.portfolio.topk == 7
    with pytest.raises(ConfigError, match=r"^<dict>: model\.name: unknown model 'nope'"):
        api.load_config(yaml.safe_load(config_file.read_text()), ["model.name=nope"])
    with pytest.raises(ConfigError, match="expected a YAML path, a dict or a PipelineConfig"):
        api.load_config(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="stop_after"):
        api.run(config_file, config_file.parent / "never", stop_after="backtest")


def test_a_baseline_override_is_checked_when_the_config_is_loaded(config_file):
    raw = yaml.safe_load(config_file.read_text())
    raw["baselines"] = [{"name": "bad", "set": {"model.name": "nope"}}]
    with pytest.raises(ConfigError, match=r"^baselines\.bad: <dict>: model\.name"):
        api.load_config(raw)


def test_features_equal_what_seqalpha_features_writes(synth_market, tmp_path):
    exprs = {"ret1": "$close/Ref($close,1)-1", "ma5": "Mean($close,5)/$close"}
    df = seqalpha.load_features(synth_market, exprs, "market", "2020-03-02", "2020-04-30")
    out = tmp_path / "f.parquet"
    args = ["features", str(synth_market), "--universe", "market", "--out", str(out)]
    args += ["--start", "2020-03-02", "--end", "2020-04-30"]
    args += [a for k, v in exprs.items() for a in ("--expr", f"{k}={v}")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert df.equals(pl.read_parquet(out))
    pdf = df.to_pandas().set_index(["datetime", "instrument"])
    assert list(pdf.columns) == ["ret1", "ma5"] and len(pdf) == df.height


def test_features_of_a_list_of_expressions_and_of_listed_codes(synth_market):
    lines = (synth_market / "instruments" / "market.txt").read_text().splitlines()
    codes = sorted({ln.split()[0] for ln in lines if ln.strip()})[:3]
    df = api.features(synth_market, ["$close", "Ref($close,1)"], codes, "2020-03-02", "2020-03-31")
    assert df.columns == ["datetime", "instrument", "$close", "Ref($close,1)"]
    assert set(df["instrument"].unique()) <= set(codes)
    one = df.filter(pl.col("instrument") == df["instrument"][0])
    np.testing.assert_allclose(one["Ref($close,1)"][1:], one["$close"][:-1])
    kmid = api.features(
        synth_market,
        {"KMID": "$close/$open"},
        codes,
        "2020-03-02",
        "2020-03-31",
        library="alpha158",
        replace=True,
    )
    assert kmid.columns[2] == "KMID" and kmid.width == 2 + 158
    with pytest.raises(ConfigError, match="already features of alpha158"):
        api.features(synth_market, {"KMID": "$close/$open"}, codes, library="alpha158")
    with pytest.raises(ConfigError, match="listed twice"):
        api.features(synth_market, ["$close", "$close"], "market")
    with pytest.raises(DataError, match=r"^universe: no data for \['NOPE1'\]"):
        api.features(synth_market, ["$close"], ["NOPE1"])


def test_verbose_and_log_file_write_the_progress_lines(config_file, tmp_path, capsys):
    log = tmp_path / "api.log"
    api.run(config_file, tmp_path / "run", stop_after="train", verbose=True, log_file=log)
    text = log.read_text()
    assert "stage walk-forward: start" in text and "window 1 of 1 done" in text
    assert "window 1 of 1 done" in capsys.readouterr().err


def test_import_seqalpha_is_cheap_and_the_api_is_lazy():
    code = (
        "import sys, seqalpha\n"
        "before = {m: m in sys.modules for m in ('seqalpha.api', 'polars', 'plotly')}\n"
        "run = seqalpha.run\n"
        "print(before, 'seqalpha.api' in sys.modules, run.__module__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before = "{'seqalpha.api': False, 'polars': False, 'plotly': False}"
    assert done.stdout.strip() == f"{before} True seqalpha.api"
    assert seqalpha.load_features is api.features
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        seqalpha.nope  # noqa: B018


def test_package_root_re_exports_every_api_name():
    # the root lists the API's names by hand to stay lazy: keep the two lists in step
    import seqalpha
    import seqalpha.api as api

    assert set(seqalpha._API) == set(api.__all__) - {"features"}
    assert seqalpha.load_features is api.features
