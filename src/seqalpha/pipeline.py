"""`seqalpha run`: the whole pipeline from one validated config, into one run directory.

data -> features -> labels -> walk-forward (resumable) -> evaluation -> portfolio/backtest ->
report -> MLflow, with provenance. RUN_DIR ends up holding:

  config.yaml, predictions.parquet, windows/          (walk-forward, `seqalpha train`)
  ic.parquet, quantiles.parquet                       (signal evaluation)
  returns.parquet, positions.parquet, trades.parquet  (backtest)
  metrics.json     signal metrics + `by_year` and `overall` portfolio tables (written last);
                   `active` (per-year TE, IR, exposures) for a benchmark-relative strategy
  report.html, provenance.json, mlruns/ (unless tracking goes to a server)
  baselines/<name>/  the same for each baseline of the config (e.g. lgbm against the GRU)

Every file is written atomically, once: the stages hand each other typed objects in memory
(Inputs, Predictions, BacktestResult), not files. `metrics.json` is written after the backtest
and before the report, and a run is complete when `report.html` exists. `seqalpha train` is the
same run stopped after training (`stop_after="train"`: predictions.parquet, metrics.json).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from seqalpha.backtest import (
    BacktestConfig,
    BacktestResult,
    backtest_topk,
    backtest_weights,
    load_market,
)
from seqalpha.backtest.executed import executed_from_config
from seqalpha.combine import combine, read_member_run, write_combination
from seqalpha.config import PipelineConfig, config_hash, config_yaml, dump_config, resolve_path
from seqalpha.errors import ConfigError, DataError
from seqalpha.evaluate import daily_ic, daily_rank_ic, quantile_returns, signal_metrics
from seqalpha.jsonio import to_jsonable, write_json_atomic, write_parquet_atomic
from seqalpha.logs import fmt_seconds, get_logger
from seqalpha.portfolio import TopkDropout, get_strategy
from seqalpha.registries import load_checked_config, member_config
from seqalpha.report.html import write_report
from seqalpha.report.provenance import write_provenance
from seqalpha.report.rundir import run_in_memory
from seqalpha.report.tracking import default_artifacts, log_run
from seqalpha.train.inputs import Inputs, build_inputs
from seqalpha.train.predictions import Predictions
from seqalpha.train.rundir import prepare_run_dir
from seqalpha.train.runkey import input_files
from seqalpha.train.runlock import holds_run_dir
from seqalpha.train.walkforward import RunState, run_walkforward

Log = Callable[[str], None]
logger = get_logger("pipeline")


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Log `stage <name>: start` and `stage <name>: done in <elapsed>` (or `failed after`)."""
    logger.info("stage %s: start", name)
    t0 = time.perf_counter()
    try:
        yield
    except BaseException:
        logger.info("stage %s: failed after %s", name, fmt_seconds(time.perf_counter() - t0))
        raise
    logger.info("stage %s: done in %s", name, fmt_seconds(time.perf_counter() - t0))


# Where a run may stop: after training (`seqalpha train`) or after the report (`seqalpha run`).
Stage = Literal["train", "report"]
STAGES = ("train", "report")


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


def signal_summary(preds: Predictions) -> dict:
    """IC / Rank IC / ICIR / Rank ICIR (and SE, by year) of the predictions against their labels.

    The headline figures score `label` (the first label column); with several label columns
    (multi-horizon), `by_label` holds the same figures for each of them."""
    out = signal_metrics(preds.score, preds.label, preds.mask, preds.dates)
    out["by_year"] = {str(k): v for k, v in out.get("by_year", {}).items()}
    if preds.labels:
        out["by_label"] = {}
        for name, label in preds.labels.items():
            m = signal_metrics(preds.score, label, preds.mask, preds.dates)
            m.pop("by_year", None)
            out["by_label"][name] = m
    return out


def evaluate_predictions(preds: Predictions, n_groups: int = 5) -> dict[str, pl.DataFrame]:
    """Daily IC / Rank IC and quantile-group mean labels of the predictions (ic, quantiles)."""
    score, label, mask = preds.score, preds.label, preds.mask
    ic = pl.DataFrame(
        {
            "datetime": preds.dates,
            "ic": daily_ic(score, label, mask),
            "rank_ic": daily_rank_ic(score, label, mask),
        }
    )
    q = quantile_returns(score, label, mask, n_groups)
    quant = pl.DataFrame(
        {"datetime": preds.dates, **{f"q{k + 1}": q[:, k] for k in range(n_groups)}}
    )
    cast = pl.col("datetime").cast(pl.Date)
    return {"ic": ic.with_columns(cast), "quantiles": quant.with_columns(cast)}


def run_backtest(cfg: PipelineConfig, preds: Predictions) -> BacktestResult:
    """Backtest the predictions with the config's registered strategy and exchange rules."""
    return backtest_with_active(cfg, preds)[0]


def backtest_with_active(
    cfg: PipelineConfig, preds: Predictions
) -> tuple[BacktestResult, dict | None]:
    """`run_backtest`, plus a benchmark-relative strategy's per-year active report (TE forecast
    and realized, active return, IR, exposures; `Strategy.decide`), None for other strategies."""
    bt, pf = cfg.backtest, cfg.portfolio
    strategy = get_strategy(pf.strategy, pf.params)
    market = load_market(
        cfg.data.dir,
        start=preds.dates.min(),
        end=preds.dates.max(),
        benchmark=cfg.data.benchmark,
        deal_price="close" if bt.deal_price == "execution" else bt.deal_price,
        limit_threshold=bt.limit_threshold,
    )
    costs = BacktestConfig(
        account=bt.account,
        buy_cost=bt.buy_cost,
        sell_cost=bt.sell_cost,
        min_cost=bt.min_cost,
        trade_unit=bt.lot_size,
        risk_degree=(
            BacktestConfig.risk_degree if strategy.risk_degree is None else strategy.risk_degree
        ),
    )
    grid = preds.on_grid(market.dates, market.instruments)
    decision = None
    if strategy.engine == "topk":
        topk = TopkDropout(topk=pf.topk, n_drop=pf.n_drop)
        run = partial(backtest_topk, grid, strategy=topk, config=costs)
    elif strategy.weights is None:
        raise ConfigError(f"portfolio.strategy: {pf.strategy!r} has no weights function")
    elif strategy.decide is not None:
        decision = strategy.decide(grid, market, dict(pf.params), cfg.data.dir)
        run = partial(backtest_weights, decision.weights, config=costs)
    else:
        weights = strategy.weights(grid, market, dict(pf.params), cfg.data.dir)
        run = partial(backtest_weights, weights, config=costs)
    if bt.deal_price == "execution":  # each day's trades through that day's intraday bars
        result = executed_from_config(run, market, str(cfg.data.minute_dir), bt.execution)
    else:
        result = run(market)
    if decision is None:
        return result, None
    index = market.benchmark if cfg.data.benchmark else None
    return result, decision.active(result.returns["return"].to_numpy(), index)


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


def run_ensemble(
    cfg: PipelineConfig, out: Path, inputs: Inputs, fresh: bool, say: Log
) -> tuple[RunState, dict, dict[str, Predictions]]:
    """The `ensemble` stage: train each spec member (walk-forward into `members/<name>/`,
    resumable; inputs shared by members with the run's features and labels), read each run
    member, and combine them (`seqalpha.combine`) into the run's predictions, scored against
    the run's own label. Writes members/<name>/predictions.parquet and combine_weights.parquet.

    Returns the RunState of the combination, {"method", "params", "members": metrics}, and each
    member's scores on the combination's grid, label and mask."""
    ens = cfg.ensemble
    if ens is None:
        raise ConfigError("ensemble: the config has no ensemble section")
    t0 = time.perf_counter()
    members: dict[str, Predictions] = {}
    windows, trained, skipped = [], [], []
    for m in ens.members:
        if m.run is not None:
            members[m.name] = read_member_run(resolve_path(m.run))
            say(f"member {m.name}: read {m.run}")
            continue
        mcfg = member_config(cfg, m)
        own = mcfg.features == cfg.features and mcfg.labels == cfg.labels
        minputs = inputs if own else build_inputs(mcfg.data, mcfg.features, mcfg.labels)
        with stage(f"member {m.name}"):
            st = run_walkforward(mcfg, out / "members" / m.name, inputs=minputs, fresh=fresh)
        del minputs
        members[m.name] = st.predictions
        windows += st.windows
        trained += st.trained
        skipped += st.skipped
    lab = inputs.labels[:, :, 0]
    ref = Predictions(inputs.dates, inputs.instruments, lab, lab, np.isfinite(lab))
    comb = combine(members, ens.method, ens.params, cfg.labels.reach, ens.normalize, ref)
    write_combination(out, comb, members)
    info: dict = {"method": ens.method, "params": comb.params, "members": {}}
    aligned: dict[str, Predictions] = {}
    for name, preds in members.items():
        aligned[name] = on_label = Predictions(
            comb.predictions.dates,
            comb.predictions.instruments,
            preds.on_grid(comb.predictions.dates, comb.predictions.instruments).astype(np.float32),
            comb.predictions.label,
            comb.predictions.mask,
        )
        sig = signal_summary(on_label)
        info["members"][name] = {k: sig.get(k) for k in ("ic", "rank_ic", "icir", "rank_icir")}
        say(
            f"member {name}: test IC {sig['ic']:.4f}  Rank IC {sig['rank_ic']:.4f}  ICIR "
            f"{sig['icir']:.3f}"
        )
    state = RunState(
        out,
        windows,
        trained,
        skipped,
        time.perf_counter() - t0,
        config_hash(cfg),
        comb.predictions,
    )
    return state, info, aligned


def backtest_members(cfg: PipelineConfig, aligned: dict[str, Predictions], info: dict) -> None:
    """Each member of an ensemble run (its scores on the combination's grid, `run_ensemble`)
    through the run's portfolio and backtest, so that the report can show members and
    combination side by side: adds `AlphaRtn` and `AlphaSharpe` (excess return with cost and
    its IR, overall) to each member's entry of `info["members"]`."""
    for name, row in info["members"].items():
        result, _ = backtest_with_active(cfg, aligned[name])
        overall = result.metrics().get("overall", {})
        row["AlphaRtn"] = overall.get("AlphaRtn")
        row["AlphaSharpe"] = overall.get("AlphaSharpe")


def data_files(cfg, exclude: str | Path | None = None) -> list[Path]:
    """The data files a run reads (for the provenance hash; the resume key hashes the same)."""
    return input_files(cfg, exclude)


def train_predictions(
    cfg: PipelineConfig, out: Path, fresh: bool, say: Log
) -> tuple[Predictions, pl.DataFrame, dict, dict[str, Predictions]]:
    """Inputs and walk-forward (or ensemble) of a run into `out`: its predictions, their long
    table (written as predictions.parquet), the signal metrics (with the ensemble's info under
    `ensemble`) and an ensemble's members on its grid (`run_ensemble`; empty without one)."""
    prepare_run_dir(out, config_hash(cfg), fresh, input_files(cfg, exclude=out), say)
    dump_config(cfg, out / "config.yaml")
    say(
        f"building inputs from {cfg.data.dir} ({cfg.features.library}"
        f"{' + bars' if cfg.features.bars else ''})"
    )
    t_in = time.perf_counter()
    with stage("inputs"):
        inputs = build_inputs(cfg.data, cfg.features, cfg.labels)
    inputs_s = time.perf_counter() - t_in
    feats = "none" if inputs.features is None else "x".join(map(str, inputs.features.shape))
    say(
        f"inputs: {len(inputs.dates)} days x {len(inputs.instruments)} instruments, "
        f"features {feats}, {inputs_s:.1f}s"
    )
    ensemble: dict | None = None
    members: dict[str, Predictions] = {}
    if cfg.ensemble is not None:
        with stage("ensemble"):
            state, ensemble, members = run_ensemble(cfg, out, inputs, fresh, say)
    else:
        with stage("walk-forward"):
            state = run_walkforward(cfg, out, inputs=inputs, fresh=fresh)
    del inputs
    say(
        f"{len(state.windows)} windows: {len(state.trained)} trained, "
        f"{len(state.skipped)} resumed, {state.seconds:.1f}s"
    )
    preds = state.predictions
    if preds.n == 0:
        raise DataError(f"{out}: the walk-forward produced no predictions")
    frame = preds.to_frame()
    write_parquet_atomic(frame, out / "predictions.parquet")
    signal = signal_summary(preds)
    signal.update(
        {
            "model": cfg.model.name,
            "seeds": list(cfg.seeds),
            "config_hash": state.config_hash,
            "n_windows": len(state.windows),
            "windows_trained": len(state.trained),
            "windows_resumed": len(state.skipped),
            "n_predictions": preds.n,
            "test_start": str(preds.dates.min()),
            "test_end": str(preds.dates.max()),
            "seconds_inputs": round(inputs_s, 3),
            "seconds_walkforward": round(state.seconds, 3),
        }
    )
    if ensemble is not None:
        signal["ensemble"] = ensemble
        signal["model"] = f"ensemble:{ensemble['method']}"  # the members are in `ensemble`
    return preds, frame, signal, members


# metrics.json keys of the run that produced shared predictions, carried over to its sharers
_SHARED_KEYS = ("model", "seeds", "config_hash", "n_windows", "windows_trained", "windows_resumed")


def shared_predictions(
    cfg: PipelineConfig, out: Path, source: Path, say: Log
) -> tuple[Predictions, pl.DataFrame, dict]:
    """The predictions of the finished run `source` (same config hash as `cfg`) as this run's:
    copied to `out/predictions.parquet`; metrics.json's `predictions_from` names the source."""
    src_metrics = json.loads((source / "metrics.json").read_text())
    if src_metrics.get("config_hash") != config_hash(cfg):
        raise ConfigError(
            f"{out}: predictions_from {source}: its predictions come from another config "
            f"(hash {src_metrics.get('config_hash')} vs {config_hash(cfg)})"
        )
    out.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, out / "config.yaml")
    frame = pl.read_parquet(source / "predictions.parquet")
    preds = Predictions.from_frame(frame, str(source / "predictions.parquet"))
    write_parquet_atomic(frame, out / "predictions.parquet")
    say(f"predictions of {source} (same model, data and walk-forward): no training")
    signal = signal_summary(preds)
    signal.update({k: src_metrics[k] for k in _SHARED_KEYS if k in src_metrics})
    signal.update(
        {
            "predictions_from": str(source),
            "n_predictions": preds.n,
            "test_start": str(preds.dates.min()),
            "test_end": str(preds.dates.max()),
        }
    )
    return preds, frame, signal


@holds_run_dir("out")
def run_config(
    cfg: PipelineConfig,
    out: str | Path,
    stop_after: Stage = "report",
    fresh: bool = False,
    log: Log | None = None,
    provenance: dict | None = None,
    predictions_from: str | Path | None = None,
) -> dict:
    """One checked config through the stages into `out`, stopping after `stop_after`.

    inputs -> walk-forward (resumable) -> Predictions -> signal metrics; then, for "report",
    evaluation files -> backtest -> provenance -> report -> MLflow. Returns metrics.json's dict.
    `predictions_from`: a finished run of the same prediction sections (same config hash) whose
    `predictions.parquet` stands in for inputs and walk-forward (a baseline that changes only
    the portfolio or the backtest).
    """
    if stop_after not in STAGES:
        raise ConfigError(f"stop_after: {stop_after!r} is not one of {STAGES}")
    say = log or (lambda msg: None)
    out = Path(out)
    t0 = time.perf_counter()
    ensure_market(cfg, say)
    members: dict[str, Predictions] = {}
    if predictions_from is not None:
        preds, frame, signal = shared_predictions(cfg, out, Path(predictions_from), say)
    else:
        preds, frame, signal, members = train_predictions(cfg, out, fresh, say)
    signal["seconds_total"] = round(time.perf_counter() - t0, 3)
    say(
        f"test IC {signal['ic']:.4f}  Rank IC {signal['rank_ic']:.4f}  "
        f"ICIR {signal['icir']:.3f}  Rank ICIR {signal['rank_icir']:.3f}"
    )
    if stop_after == "train":
        write_json_atomic(out / "metrics.json", signal)
        return signal

    with stage("evaluation"):
        tables = evaluate_predictions(preds)
        for name, table in tables.items():
            write_parquet_atomic(table, out / f"{name}.parquet")
    say(
        "backtest: " + f"{cfg.portfolio.strategy} (topk {cfg.portfolio.topk}, n_drop "
        f"{cfg.portfolio.n_drop}), costs {cfg.backtest.buy_cost:.2%}/{cfg.backtest.sell_cost:.2%}"
    )
    with stage("backtest"):
        result, active = backtest_with_active(cfg, preds)
        result.write(out)
    metrics = merge_metrics(signal, result.metrics())
    if members:
        with stage("member backtests"):  # metrics["ensemble"] is signal's: the rows gain them
            backtest_members(cfg, members, metrics["ensemble"])
    if active is not None:
        metrics["active"] = active  # benchmark-relative strategy: per-year TE, IR, exposures
        o = active.get("overall", {})
        say(
            f"active (overall): TE forecast {o.get('te_forecast', np.nan):.2%}, realized "
            f"{o.get('te_realized', np.nan):.2%} (backtest {o.get('te_backtest', np.nan):.2%}), "
            f"IR {o.get('ir', np.nan):.2f} (backtest, costs: {o.get('ir_backtest', np.nan):.2f})"
        )
    metrics["seconds_pipeline"] = round(time.perf_counter() - t0, 3)
    write_json_atomic(out / "metrics.json", metrics)
    write_provenance(out, data_files(cfg, out), list(cfg.seeds), extra=provenance or {})
    run = run_in_memory(
        out,
        config_yaml(cfg),
        to_jsonable(metrics),
        predictions=frame,
        returns=result.returns,
        positions=result.positions,
        **tables,
    )
    with stage("report"):
        report = write_report(out, run=run)
    if cfg.tracking.enabled:
        with stage("tracking"):
            run_id = log_run(
                out,
                cfg.model_dump(mode="json"),
                to_jsonable(metrics),
                default_artifacts(out),
                cfg.tracking.tracking_uri,
                cfg.tracking.experiment,
                log=say,
            )
        say(f"MLflow run {run_id}")
    say(f"report: {report}")
    return metrics


@holds_run_dir("out")
def run_pipeline(
    config: str | Path,
    out: str | Path,
    data_dir: str | Path | None = None,
    sets: Sequence[str] = (),
    fresh: bool = False,
    log: Log | None = None,
    stop_after: Stage = "report",
) -> dict:
    """Load and check a config once, run it into `out` (resuming finished windows), then each
    of its baselines into `out/baselines/<name>` (not when stopping after training).

    Returns {"main": metrics, "<baseline name>": metrics, ...}.
    """
    say = log or (lambda msg: None)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_checked_config(config, sets, data_dir)
    prov = {"config": str(config), "sets": list(sets)}
    results = {"main": run_config(cfg, out, stop_after, fresh, say, prov)}
    if stop_after != "report":
        return results
    for base in cfg.baselines:
        extra = [*sets, *(f"{k}={json.dumps(v)}" for k, v in base.set.items()), "baselines=[]"]
        say(f"baseline {base.name}: {' '.join(extra[len(sets) : -1])}")
        bcfg = load_checked_config(config, extra, data_dir)
        prov = {"config": str(config), "sets": extra}
        # a baseline of another portfolio or backtest only: the main run's predictions
        same = cfg.ensemble is None and config_hash(bcfg) == config_hash(cfg)
        results[base.name] = run_config(
            bcfg,
            out / "baselines" / base.name,
            stop_after,
            fresh,
            say,
            prov,
            predictions_from=out if same else None,
        )
    return results


def train_command(
    config: str | Path,
    out: str | Path,
    data_dir: str | Path | None = None,
    sets: Sequence[str] = (),
    fresh: bool = False,
    log: Log | None = None,
) -> dict:
    """`seqalpha train`: the run stopped after training (predictions.parquet, metrics.json)."""
    return run_pipeline(config, out, data_dir, sets, fresh, log, stop_after="train")["main"]


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
