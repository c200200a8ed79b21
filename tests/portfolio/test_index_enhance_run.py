"""`seqalpha run` with `portfolio.strategy: index_enhance` on the synthetic market: metrics.json
gets an `active` section (per year: TE forecast and realized, active return, IR, exposures) equal
to `active_report` called directly, the report shows it, a top-k run has none; trades go through
the intraday simulator (`deal_price: execution`) and the report shows the execution cost."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from seqalpha.backtest import BacktestResult, load_market
from seqalpha.pipeline import run_pipeline
from seqalpha.portfolio.index_enhance import (
    BenchmarkSetup,
    IndexEnhanceParams,
    active_report,
    backtest_tracking,
    benchmark_setup,
    grid_returns,
    index_enhance_weights,
    with_alpha_factor,
)
from seqalpha.report.active import active_section, active_table_html
from seqalpha.report.execution import execution_table
from seqalpha.train.predictions import Predictions

PARAMS = {"universe": "market", "history_days": 60, "tracking_error": 0.04, "rebalance_every": 3}


def _config(market: Path) -> dict:
    split = json.loads((market / "meta.json").read_text())["split"]
    return {
        "data": {
            "dir": str(market),
            "universe": "market",
            "benchmark": "SYN_INDEX",
            "minute_dir": str(market / "minute"),
        },
        "features": {
            "library": "none",
            "extra": {"rev5": "-($close/Ref($close,5)-1)", "ret1": "$close/Ref($close,1)-1"},
        },
        "processors": {"features": [{"name": "cs_zscore"}, {"name": "fillna"}]},
        "model": {"name": "linear"},
        "walkforward": {"schedule": "fixed", **split},
        "portfolio": {"strategy": "index_enhance", "params": PARAMS},
        "backtest": {"deal_price": "execution", "execution": {"strategy": "twap"}},
        "baselines": [
            {
                "name": "topk",
                "set": {"portfolio.strategy": "topk_dropout", "portfolio.params": {}},
            }
        ],
        "tracking": {"enabled": False},
    }


@pytest.fixture(scope="module")
def run(synth_market: Path, tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("ie_run")
    (tmp / "run.yaml").write_text(yaml.safe_dump(_config(synth_market), sort_keys=False))
    return tmp / "run", run_pipeline(tmp / "run.yaml", tmp / "run")["main"]


def test_an_index_enhance_run_writes_the_active_section_and_a_topk_run_does_not(run):
    out, _ = run
    on_disk = json.loads((out / "metrics.json").read_text())
    active = on_disk["active"]
    years = sorted(k for k in active if k != "overall")
    assert years and "overall" in active
    for key in ("te_forecast", "te_realized", "te_backtest", "te_backtest_index", "ir_backtest"):
        assert np.isfinite(active["overall"][key]), key
    assert {"style_size", "industry_active", "active_return"} <= set(active["overall"])
    baseline = json.loads((out / "baselines" / "topk" / "metrics.json").read_text())
    assert "active" not in baseline and "by_year" in baseline


def test_the_active_numbers_equal_active_report_called_directly(run, synth_market):
    out, metrics = run
    preds = Predictions.from_frame(pl.read_parquet(out / "predictions.parquet"))
    market = load_market(synth_market, preds.dates.min(), preds.dates.max(), "SYN_INDEX")
    grid = preds.on_grid(market.dates, market.instruments)
    p = IndexEnhanceParams(**PARAMS)
    r = grid_returns(market.close)
    setup = with_alpha_factor(
        benchmark_setup(str(synth_market), market.dates, market.instruments, p), grid, r
    )
    w = index_enhance_weights(grid, setup, p, market.can_buy, market.can_sell)
    expected = active_report(w, r, setup, market.dates)
    for year, row in expected.items():
        for key, value in row.items():
            assert metrics["active"][year][key] == pytest.approx(value, rel=1e-9, nan_ok=True)
    # the backtest's TE: its daily returns against b(t-1) . r(t), from the first held day
    port = pl.read_parquet(out / "returns.parquet")["return"].to_numpy()
    bench = np.r_[0.0, np.sum(setup.benchmark[:-1] * np.nan_to_num(r[1:]), axis=1)]
    first = int(np.flatnonzero(np.isfinite(w).all(axis=1))[0]) + 2
    te = np.std((port - bench)[first:], ddof=1) * np.sqrt(252)
    assert metrics["active"]["overall"]["te_backtest"] == pytest.approx(te, rel=1e-9)


def test_the_index_enhance_backtest_is_fully_invested(run):
    out, _ = run
    pos = pl.read_parquet(out / "positions.parquet")
    invested = pos.group_by("datetime").agg(pl.col("weight").sum())["weight"].to_numpy()
    assert np.median(invested) > 0.97  # targets of the weights engine: risk_degree 1.0, not 0.95


def test_the_report_shows_the_active_table_and_the_execution_cost(run):
    out, _ = run
    page = (out / "report.html").read_text()
    assert 'data-table="active"' in page and "TE realized (backtest)" in page
    assert 'data-table="execution"' in page  # deal_price: execution -> cost per year
    assert (out / "execution.parquet").is_file()
    base = (out / "baselines" / "topk" / "report.html").read_text()
    assert 'data-table="active"' not in base


class _NoRisk:
    def ready(self, t):
        return False


def test_backtest_tracking_against_the_benchmark_and_the_index():
    T, N = 6, 2
    b = np.tile([0.25, 0.75], (T, 1))
    setup = BenchmarkSetup(_NoRisk(), b, np.ones((T, N), bool), np.zeros((T, N, 0)), [], b * 0)
    r = np.array([[0, 0], [0.01, 0.03], [0.02, -0.02], [0.0, 0.04], [-0.01, 0.01], [0.02, 0.0]])
    w = np.full((T, N), np.nan)
    w[1] = [0.5, 0.5]  # decided day 1, held from day 3
    bench = np.r_[0.0, r[1:] @ [0.25, 0.75]]
    dates = np.arange("2021-12-29", T, dtype="datetime64[D]")  # days 3.. fall in 2022
    rep = backtest_tracking(bench, w, setup, r, dates, index=bench + 0.001 * np.arange(T))
    assert rep["overall"]["te_backtest"] == 0.0 and rep["overall"]["active_return_backtest"] == 0
    assert rep["overall"]["te_backtest_index"] == pytest.approx(0.001 * np.sqrt(252))
    assert rep["overall"]["benchmark_vs_index"] == pytest.approx(-0.004 * 252)  # days 3..5
    assert rep["overall"]["benchmark_te_index"] == pytest.approx(0.001 * np.sqrt(252))
    assert set(rep) == {"2022", "overall"}  # 2021 has no held day
    assert active_section({"active": rep})[0][0] == "active"
    assert active_section({"by_year": {}}) == []


def test_a_rerun_without_execution_drops_the_old_execution_table(run, tmp_path):
    out, _ = run
    old = tmp_path / "execution.parquet"
    old.write_bytes((out / "execution.parquet").read_bytes())  # a run with deal_price: execution
    frames = {n: pl.read_parquet(out / f"{n}.parquet") for n in ("returns", "positions", "trades")}
    BacktestResult(**frames).write(tmp_path)  # re-run in the same directory at the close
    assert not old.exists() and execution_table(tmp_path) is None


def test_the_active_table_has_a_row_per_year_then_overall():
    page = active_table_html(
        {
            "overall": {"te_forecast": 0.035, "ir": 0.28, "style_size": -0.17},
            "2021": {"te_forecast": 0.0348, "ir": None, "style_size": -0.0033},
        }
    )
    assert page.index("<td>2021</td>") < page.index("<td>overall</td>")
    assert "<td>3.48%</td><td>—</td>" in page and '<td class="neg">-0.003</td>' in page


def test_a_portfolio_only_baseline_reuses_the_predictions_and_backtests_as_a_full_run(
    run, synth_market, tmp_path
):
    out, _ = run
    base_dir = out / "baselines" / "topk"
    base = json.loads((base_dir / "metrics.json").read_text())
    assert base["predictions_from"] == str(out)  # no second training of the same model
    assert not (base_dir / "windows").exists()
    main_preds = pl.read_parquet(out / "predictions.parquet")
    assert pl.read_parquet(base_dir / "predictions.parquet").equals(main_preds)
    # the same baseline run on its own (inputs, training, backtest) gives the same numbers
    cfg = _config(synth_market)
    cfg.update(portfolio={"strategy": "topk_dropout"}, baselines=[])
    (tmp_path / "topk.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    alone = run_pipeline(tmp_path / "topk.yaml", tmp_path / "topk")["main"]
    assert pl.read_parquet(tmp_path / "topk" / "predictions.parquet").equals(main_preds)
    assert alone["windows_trained"] == 1 and "predictions_from" not in alone
    for key in ("ic", "rank_ic", "icir", "config_hash", "n_predictions"):
        assert base[key] == alone[key], key
    for key in ("AlphaRtn", "AlphaSharpe", "TOV", "AlphaDrawdown"):
        assert base["overall"][key] == pytest.approx(alone["overall"][key], rel=1e-12), key
    assert pl.read_parquet(base_dir / "returns.parquet").equals(
        pl.read_parquet(tmp_path / "topk" / "returns.parquet")
    )
