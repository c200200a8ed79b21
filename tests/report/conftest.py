"""Fixtures: a small synthetic run directory in the run-directory contract layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from seqalpha.data.panel import Panel
from seqalpha.data.qlib_bin import write_store


def write_industry_store(
    out: Path, dates: np.ndarray, insts: np.ndarray, rng: np.random.Generator
) -> Path:
    """A tiny Qlib store: close, daily `industry` code (4 industries, one name switching
    halfway) and `mktcap`; market `csi300` = every name every day."""
    T, N = len(dates), len(insts)
    industry = np.tile(np.arange(N) % 4, (T, 1)).astype(np.float32)
    industry[T // 2 :, 0] = 3
    fields = {
        "close": np.full((T, N), 10.0, dtype=np.float32),
        "industry": industry,
        "mktcap": np.tile(rng.uniform(1e9, 1e10, N), (T, 1)).astype(np.float32),
    }
    panel = Panel(dates, insts, fields)
    write_store(out, panel, markets={"csi300": np.ones((T, N), dtype=bool)})
    return out


def write_run_dir(
    run_dir: Path,
    n_days: int = 300,
    n_inst: int = 40,
    seed: int = 0,
    with_returns: bool = True,
    with_ic_files: bool = False,
) -> Path:
    """Write config.yaml, predictions, returns, positions, metrics.json for a fake run."""
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    dates = np.arange(np.datetime64("2021-01-04"), np.datetime64("2021-01-04") + n_days * 7 // 5)
    dates = dates[np.is_busday(dates)][:n_days]
    insts = np.array([f"SH6{i:05d}" for i in range(n_inst)])
    signal = rng.standard_normal((n_days, n_inst))
    label = 0.02 * signal + 0.1 * rng.standard_normal((n_days, n_inst))
    label[rng.random((n_days, n_inst)) < 0.05] = np.nan  # suspended names
    score = signal + 0.5 * rng.standard_normal((n_days, n_inst))
    pl.DataFrame(
        {
            "datetime": np.repeat(dates, n_inst),
            "instrument": np.tile(insts, n_days),
            "score": score.ravel(),
            "label": label.ravel(),
        }
    ).write_parquet(run_dir / "predictions.parquet")
    config = {
        "name": "synthetic",
        "data": {"market": "csi300", "fields": ["close", "volume"]},
        "model": {"name": "lstm", "hidden": 64, "lr": 1e-3},
        "walk_forward": {"train_days": 120, "step": 10},
        "seed": [1, 2],
    }
    if with_returns:  # a store with point-in-time industries and caps for the exposure charts
        store = write_industry_store(run_dir.parent / f"{run_dir.name}-data", dates, insts, rng)
        config["data"].update({"dir": str(store), "universe": "csi300"})
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    metrics = {"ic": 0.051, "rank_ic": 0.048, "icir": 0.42, "rank_icir": 0.40, "ic_t": 7.3}
    if with_returns:
        bench = 0.0003 + 0.012 * rng.standard_normal(n_days)
        ret_nc = bench + 0.0008 + 0.004 * rng.standard_normal(n_days)
        turnover = np.clip(0.15 + 0.05 * rng.standard_normal(n_days), 0, 1)
        cost = turnover * 0.0015
        ret = ret_nc - cost
        pl.DataFrame(
            {
                "datetime": dates,
                "return": ret,
                "return_nc": ret_nc,
                "benchmark": bench,
                "excess": ret - bench,
                "excess_nc": ret_nc - bench,
                "turnover": turnover,
                "cost": cost,
                "value": 1e8 * np.cumprod(1 + ret),
            }
        ).write_parquet(run_dir / "returns.parquet")
        pl.DataFrame(
            {
                "datetime": np.repeat(dates, 5),
                "instrument": np.tile(insts[:5], n_days),
                "shares": np.full(5 * n_days, 100.0),
                "weight": np.full(5 * n_days, 0.2),
                "price": np.full(5 * n_days, 10.0),
            }
        ).write_parquet(run_dir / "positions.parquet")
        years = sorted({str(d)[:4] for d in dates})
        metrics["by_year"] = {
            y: {
                "AlphaRtn": 0.12 + 0.01 * k,
                "AlphaRtnNC": 0.2,
                "AlphaSharpe": 1.5,
                "AlphaSharpeNC": 2.4,
                "AlphaDrawdown": -0.081,
                "AlphaDrawdownNC": -0.05,
                "TOV": 0.151,
                "IR": 1.5,
                "MaxDD": -0.2,
            }
            for k, y in enumerate(years)
        }
        metrics["overall"] = {
            "AlphaRtn": 0.125,
            "AlphaRtnNC": 0.2,
            "AlphaSharpe": 1.55,
            "AlphaSharpeNC": 2.4,
            "AlphaDrawdown": -0.09,
            "AlphaDrawdownNC": -0.05,
            "TOV": 0.15,
            "IR": 1.55,
            "MaxDD": -0.21,
        }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if with_ic_files:
        pl.DataFrame(
            {"datetime": dates, "ic": np.full(n_days, 0.05), "rank_ic": np.full(n_days, 0.04)}
        ).write_parquet(run_dir / "ic.parquet")
        pl.DataFrame(
            {"datetime": dates, **{f"q{k}": np.full(n_days, 0.001 * k) for k in range(1, 4)}}
        ).write_parquet(run_dir / "quantiles.parquet")
    return run_dir


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A complete synthetic backtest run (300 days x 40 names)."""
    return write_run_dir(tmp_path / "run")


@pytest.fixture
def signal_only_run_dir(tmp_path: Path) -> Path:
    """A run with predictions, config and signal metrics but no backtest files."""
    return write_run_dir(tmp_path / "signal_run", with_returns=False)


@pytest.fixture
def make_run():
    """The run-directory writer itself, for tests that need other sizes or optional files."""
    return write_run_dir
