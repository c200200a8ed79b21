"""`seqalpha run`: the whole pipeline from one validated config, into one run directory.

data -> features -> labels -> walk-forward (resumable) -> evaluation -> portfolio/backtest ->
report -> MLflow, with provenance. RUN_DIR ends up holding:

  config.yaml, predictions.parquet, windows/          (walk-forward, `seqalpha train`)
  ic.parquet, quantiles.parquet                       (signal evaluation)
  returns.parquet, positions.parquet, trades.parquet  (backtest)
  metrics.json     signal metrics + `by_year` and `overall` portfolio tables (written last)
  report.html, provenance.json, mlruns/ (unless tracking goes to a server)
  baselines/<name>/  the same for each baseline of the config (e.g. lgbm against the GRU)

Every file is written atomically; `metrics.json` is written after the backtest and before the
report, and a run is complete when `report.html` exists.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from seqalpha.errors import ConfigError, DataError
from seqalpha.jsonio import to_jsonable, write_json_atomic, write_parquet_atomic

Log = Callable[[str], None]

# The two kinds of data files a run reads (hashed into provenance.json).
_DATA_SUFFIXES = (".bin", ".txt", ".parquet", ".json", ".csv")


def ensure_market(cfg, log: Log) -> None:
    """Generate the config's synthetic market into `data.dir` if asked for and absent."""
    syn = getattr(cfg.data, "synthetic", None)
    data_dir = Path(cfg.data.dir)
    if syn is None:
        if not data_dir.is_dir():
            raise ConfigError(
                f"data.dir: {data_dir} does not exist (pass --data-dir or set "
                f"data.synthetic to generate a synthetic market there)"
            )
        return
    if (data_dir / "meta.json").is_file():
        return
    from seqalpha.data.synthetic import SynthConfig, generate_market

    log(
        f"generating the synthetic market into {data_dir} ({syn.n_stocks} stocks x "
        f"{syn.n_days} days, {syn.bar_minutes}-minute bars, seed {syn.seed})"
    )
    generate_market(
        data_dir,
        SynthConfig(
            n_stocks=syn.n_stocks, n_days=syn.n_days, bar_minutes=syn.bar_minutes, seed=syn.seed
        ),
    )


def evaluate_predictions(preds: pl.DataFrame, n_groups: int = 5) -> dict[str, pl.DataFrame]:
    """Daily IC / Rank IC and quantile-group mean labels of a predictions table."""
    from seqalpha.data.panel import Panel
    from seqalpha.evaluate import daily_ic, daily_rank_ic, quantile_returns

    grid = Panel.from_long(
        preds.select("datetime", "instrument", "score", "label"), ["score", "label"]
    )
    score, label, mask = grid["score"], grid["label"], grid.universe
    ic = pl.DataFrame(
        {
            "datetime": grid.dates,
            "ic": daily_ic(score, label, mask),
            "rank_ic": daily_rank_ic(score, label, mask),
        }
    )
    q = quantile_returns(score, label, mask, n_groups)
    quant = pl.DataFrame(
        {"datetime": grid.dates, **{f"q{k + 1}": q[:, k] for k in range(n_groups)}}
    )
    cast = pl.col("datetime").cast(pl.Date)
    return {"ic": ic.with_columns(cast), "quantiles": quant.with_columns(cast)}


def run_backtest(cfg, preds: pl.DataFrame):
    """Backtest the predictions with the config's portfolio and exchange rules."""
    from seqalpha.backtest import BacktestConfig, backtest_topk, backtest_weights, load_market
    from seqalpha.portfolio import TopkDropout, score_weighted

    bt, pf = cfg.backtest, cfg.portfolio
    d = preds["datetime"].cast(pl.Date)
    market = load_market(
        cfg.data.dir,
        start=d.min(),
        end=d.max(),
        benchmark=cfg.data.benchmark,
        deal_price=bt.deal_price,
        limit_threshold=bt.limit_threshold,
    )
    bcfg = BacktestConfig(
        account=bt.account,
        buy_cost=bt.buy_cost,
        sell_cost=bt.sell_cost,
        min_cost=bt.min_cost,
        trade_unit=bt.lot_size,
    )
    if pf.strategy == "topk_dropout":
        return backtest_topk(preds, market, TopkDropout(topk=pf.topk, n_drop=pf.n_drop), bcfg)
    from seqalpha.backtest import scores_to_grid

    grid = scores_to_grid(preds, market)
    if pf.strategy == "score_weighted":
        weights = score_weighted(grid, **pf.params)
    elif pf.strategy == "optimizer":
        from seqalpha.portfolio.optimizer import OptimizerParams, optimize_with_factor_model

        try:
            params = OptimizerParams(**pf.params)
        except TypeError as exc:
            raise ConfigError(f"portfolio.params: {exc}") from None
        weights = optimize_with_factor_model(
            grid,
            cfg.data.dir,
            market.dates,
            market.instruments,
            params,
            can_buy=market.can_buy,
            can_sell=market.can_sell,
        )
    elif pf.strategy == "long_short":
        raise ConfigError(
            "portfolio.strategy: 'long_short' needs short selling, which the A-share "
            "cash backtest does not allow; evaluate it with quantile returns"
        )
    else:
        raise ConfigError(
            f"portfolio.strategy: unknown strategy {pf.strategy!r}; allowed: "
            f"topk_dropout, score_weighted, optimizer"
        )
    return backtest_weights(weights, market, bcfg)


def merge_metrics(signal: dict, perf: dict) -> dict:
    """metrics.json: signal metrics at top level; per-year and overall tables carry both the
    portfolio metrics (AlphaRtn, ...) and the signal ones (IC, RankIC, ICIR) of that year."""
    out = {k: v for k, v in signal.items() if k != "by_year"}
    by_year: dict[str, dict] = {}
    for year, row in perf.get("by_year", {}).items():
        by_year[str(year)] = dict(row)
    for year, row in signal.get("by_year", {}).items():
        tgt = by_year.setdefault(str(year), {})
        tgt.update(
            {
                "IC": row.get("ic"),
                "RankIC": row.get("rank_ic"),
                "ICIR": row.get("icir"),
                "RankICIR": row.get("rank_icir"),
            }
        )
    overall = dict(perf.get("overall", {}))
    overall.update(
        {
            "IC": signal.get("ic"),
            "RankIC": signal.get("rank_ic"),
            "ICIR": signal.get("icir"),
            "RankICIR": signal.get("rank_icir"),
        }
    )
    out["by_year"] = dict(sorted(by_year.items()))
    out["overall"] = overall
    return out


def data_files(cfg) -> list[Path]:
    """The files of the data directory a run reads (for the provenance hash)."""
    root = Path(cfg.data.dir)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in _DATA_SUFFIXES)


def _run_one(
    config: str | Path,
    out: Path,
    data_dir,
    sets: Sequence[str],
    fresh: bool,
    log: Log,
    track: bool = True,
) -> dict:
    from seqalpha.registries import load_checked_config
    from seqalpha.train.commands import train_command

    cfg = load_checked_config(config, sets, data_dir)
    ensure_market(cfg, log)
    t0 = time.perf_counter()
    signal = train_command(config, out, data_dir, sets, fresh, log=log)
    preds = pl.read_parquet(out / "predictions.parquet")
    if preds.height == 0:
        raise DataError(f"{out / 'predictions.parquet'}: the walk-forward produced no predictions")
    for name, frame in evaluate_predictions(preds).items():
        write_parquet_atomic(frame, out / f"{name}.parquet")
    log(
        "backtest: " + f"{cfg.portfolio.strategy} (topk {cfg.portfolio.topk}, n_drop "
        f"{cfg.portfolio.n_drop}), costs {cfg.backtest.buy_cost:.2%}/{cfg.backtest.sell_cost:.2%}"
    )
    result = run_backtest(cfg, preds)
    result.write(out)
    metrics = merge_metrics(signal, result.metrics())
    metrics["seconds_pipeline"] = round(time.perf_counter() - t0, 3)
    write_json_atomic(out / "metrics.json", metrics)

    from seqalpha.report.provenance import write_provenance

    write_provenance(
        out, data_files(cfg), list(cfg.seeds), extra={"config": str(config), "sets": list(sets)}
    )
    from seqalpha.report.html import write_report

    report = write_report(out)
    if track and cfg.tracking.enabled:
        from seqalpha.report.tracking import log_run

        artifacts = [
            out / n
            for n in (
                "report.html",
                "metrics.json",
                "config.yaml",
                "predictions.parquet",
                "returns.parquet",
                "provenance.json",
            )
        ]
        run_id = log_run(
            out,
            cfg.model_dump(mode="json"),
            to_jsonable(metrics),
            [a for a in artifacts if a.exists()],
            cfg.tracking.tracking_uri,
            cfg.tracking.experiment,
        )
        log(f"MLflow run {run_id}")
    log(f"report: {report}")
    return metrics


def run_pipeline(
    config: str | Path,
    out: str | Path,
    data_dir: str | Path | None = None,
    sets: Sequence[str] = (),
    fresh: bool = False,
    log: Log | None = None,
) -> dict:
    """Run a config end to end into `out` (resuming finished windows); also its baselines.

    Returns {"main": metrics, "<baseline name>": metrics, ...}.
    """
    from seqalpha.registries import load_checked_config

    say = log or (lambda msg: None)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_checked_config(config, sets, data_dir)
    results = {"main": _run_one(config, out, data_dir, sets, fresh, say)}
    for base in getattr(cfg, "baselines", []) or []:
        extra = [f"{k}={json.dumps(v)}" for k, v in base.set.items()]
        say(f"baseline {base.name}: {' '.join(extra)}")
        results[base.name] = _run_one(
            config,
            out / "baselines" / base.name,
            data_dir,
            [*sets, *extra, "baselines=[]"],
            fresh,
            say,
        )
    return results


SUMMARY_KEYS = (
    "IC",
    "RankIC",
    "ICIR",
    "RankICIR",
    "AlphaRtn",
    "AlphaRtnNC",
    "AlphaSharpe",
    "AlphaDrawdown",
    "TOV",
)
YEAR_KEYS = (
    "IC",
    "RankIC",
    "AlphaRtn",
    "AlphaRtnNC",
    "AlphaSharpe",
    "AlphaSharpeNC",
    "AlphaDrawdown",
    "AlphaDrawdownNC",
    "TOV",
)


def format_metric(key: str, value) -> str:
    """Returns and turnover as percentages, ratios with 3 decimals, ICs with 4."""
    if value is None or not np.isfinite(value):
        return "-"
    if key == "TOV" or (key.startswith("Alpha") and "Sharpe" not in key):
        return f"{value:.2%}"
    return f"{value:.3f}" if ("IR" in key or "Sharpe" in key) else f"{value:.4f}"


def _table(title: str, first: str, keys: Sequence[str], rows: dict[str, dict]):
    from rich.table import Table

    table = Table(title=title)
    table.add_column(first)
    for k in keys:
        table.add_column(k, justify="right")
    for name, row in rows.items():
        table.add_row(str(name), *(format_metric(k, row.get(k)) for k in keys))
    return table


def summary_table(results: dict[str, dict], title: str = "seqalpha run"):
    """A rich table: one row per run (main and baselines) with the overall metrics."""
    return _table(
        title, "run", SUMMARY_KEYS, {name: m.get("overall", {}) for name, m in results.items()}
    )


def year_table(metrics: dict, title: str):
    """A rich table of the per-year metrics of one run, then the overall row."""
    rows = dict(metrics.get("by_year", {}))
    rows["overall"] = metrics.get("overall", {})
    return _table(title, "year", YEAR_KEYS, rows)


def demo_config_path() -> Path:
    """`examples/demo_synthetic.yaml` of the checkout (or the packaged copy)."""
    here = Path(__file__).resolve()
    for cand in (
        here.parents[2] / "examples" / "demo_synthetic.yaml",
        here.parent / "_examples" / "demo_synthetic.yaml",
    ):
        if cand.is_file():
            return cand
    raise ConfigError("examples/demo_synthetic.yaml not found next to the package")


def run_demo(out: str | Path = "runs/demo", log: Log | None = None) -> dict:
    """The demo: synthetic market with minute bars, intraday GRU against an lgbm baseline."""
    out = Path(out)
    sets = [f"data.dir={json.dumps(str(out / 'market'))}"]
    print(f"seqalpha demo: writing to {out} (python {sys.version.split()[0]})", file=sys.stderr)
    return run_pipeline(demo_config_path(), out / "run", sets=sets, log=log)
