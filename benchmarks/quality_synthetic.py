"""Quality bars of the model zoo on synthetic markets.

Test IC / oracle IC per model x planted signal.

For each planted signal a market is generated with only that signal switched on (the others at
strength 0), so the oracle (the true conditional expectation of the label, `oracle.parquet`) is
the ceiling. Each (signal, model) cell runs the product's walk-forward runner on the fixed
train/valid/test split of the market's meta.json (embargo = label reach) and scores the test
predictions against the realized label and against the oracle on the same (date, stock) cells.

    .venv/bin/python benchmarks/quality_synthetic.py                 # full grid, resumable
    .venv/bin/python benchmarks/quality_synthetic.py --cells reversal__linear --fresh

Results: benchmarks/out/quality/<signal>__<model>.json (atomic, one per cell; skipped when
present unless --fresh); markets are cached under benchmarks/out/quality/markets/.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqalpha.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "quality"

# Daily features of the tabular models on the reversal market: the last 10 daily returns and
# cumulative returns over 5, 10 and 20 days (all computed from $close up to date t).
DAILY_RETURNS = {f"R{k}": f"Ref($close,{k})/Ref($close,{k + 1})-1" for k in range(10)}
DAILY_RETURNS.update({f"MOM{n}": f"$close/Ref($close,{n})-1" for n in (5, 10, 20)})
# One daily return per step for the daily sequence models (windowed over seq_len days).
DAILY_RET1 = {"RET": "$close/Ref($close,1)-1"}

CS_FILL = [{"name": "cs_zscore"}, {"name": "fillna"}]
LABEL_PROCS = [{"name": "drop_missing_label"}, {"name": "cs_zscore"}]
LGBM = {
    "num_leaves": 31,
    "learning_rate": 0.05,
    "n_estimators": 400,
    "early_stopping_rounds": 40,
    "min_child_samples": 200,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "lambda_l2": 10.0,
    "num_threads": 2,
}
# threads 1: the grid runs as two processes (intraday, regime) = 2 threads on this 2-core box.
TORCH = {
    "threads": 1,
    "lr": 1e-3,
    "epochs": 4,
    "patience": 2,
    "progress": False,
    "early_stop_metric": "ic",
}
# 5 days x 8 bars = 40 steps: the planted intraday signal reads the flow events of the last 5
# days; 20 days (160 steps) measured 1.6 s per day batch for a 32-unit GRU here (~12 min/epoch).
INTRADAY_SEQ = {"input_kind": "intraday_seq", "seq_len": 5}


@dataclass(frozen=True)
class Cell:
    """One (signal, model) measurement: the model's inputs and params."""

    signal: str
    model: str
    inputs: str  # "daily_returns", "intraday_agg", "intraday_bars", "daily_ret_seq"
    params: dict = field(default_factory=dict, hash=False, compare=False)
    label: str = ""  # row label in the table (model name + input description)
    rolling: dict | None = field(default=None, hash=False, compare=False)  # else the fixed split
    size: tuple[int, int] | None = None  # (n_stocks, n_days) of this cell's market, else --n-*

    @property
    def key(self) -> str:
        return f"{self.signal}__{self.model}"


# The intraday cells again on a market of 2000 stocks (same generator, seed and signal): the
# intraday signal is a nonlinear function of the bars (a late volume surge AND the direction of
# the late move, over 5 days); with 300 stocks the nets overfit after 1-2 epochs.
BIG = (2000, 750)
INTRADAY_NET = {**TORCH, **INTRADAY_SEQ, "epochs": 10, "patience": 3}
# Regime cells: 12 epochs at lr 2e-3 on 8-day batches for both the GRU and the TRAs.
REGIME = {
    **TORCH,
    "input_kind": "daily_seq",
    "seq_len": 20,
    "hidden_size": 32,
    "num_layers": 1,
    "epochs": 12,
    "patience": 12,
    "lr": 2e-3,
    "days_per_batch": 8,
}

CELLS: list[Cell] = [
    Cell("reversal", "linear", "daily_returns", {"alpha": 0.0}, "linear / 13 daily return feats"),
    Cell("reversal", "lgbm", "daily_returns", dict(LGBM), "lgbm / 13 daily return feats"),
    Cell("intraday", "lgbm_agg", "intraday_agg", dict(LGBM), "lgbm / intraday daily aggregates"),
    Cell(
        "intraday",
        "gru",
        "intraday_bars",
        {**TORCH, **INTRADAY_SEQ, "hidden_size": 32, "num_layers": 1},
        "gru / 5d x 8 bars",
    ),
    Cell(
        "intraday",
        "alstm",
        "intraday_bars",
        {**TORCH, **INTRADAY_SEQ, "hidden_size": 32, "num_layers": 1},
        "alstm / 5d x 8 bars",
    ),
    Cell(
        "intraday",
        "transformer",
        "intraday_bars",
        {
            **TORCH,
            **INTRADAY_SEQ,
            "d_model": 32,
            "num_heads": 4,
            "num_layers": 1,
            "dim_feedforward": 64,
        },
        "transformer / 5d x 8 bars",
    ),
    Cell(
        "intraday",
        "lgbm_agg_2k",
        "intraday_agg",
        dict(LGBM),
        "lgbm / intraday daily aggregates, 2000 st.",
        size=BIG,
    ),
    Cell(
        "intraday",
        "gru_2k",
        "intraday_bars",
        {**INTRADAY_NET, "hidden_size": 64, "num_layers": 1},
        "gru / 5d x 8 bars, 2000 st.",
        size=BIG,
    ),
    Cell(
        "intraday",
        "alstm_2k",
        "intraday_bars",
        {**INTRADAY_NET, "hidden_size": 64, "num_layers": 1},
        "alstm / 5d x 8 bars, 2000 st.",
        size=BIG,
    ),
    Cell(
        "intraday",
        "transformer_2k",
        "intraday_bars",
        {**INTRADAY_NET, "d_model": 64, "num_heads": 4, "num_layers": 2, "dim_feedforward": 128},
        "transformer / 5d x 8 bars, 2000 st.",
        size=BIG,
    ),
    Cell("regime", "gru", "daily_ret_seq", {**REGIME}, "gru / 20d daily returns"),
    # TRA as in the paper: each stock's own loss history, Gumbel routing
    Cell(
        "regime",
        "tra",
        "daily_ret_seq",
        {**REGIME, "num_states": 2, "hist_len": 20},
        "tra / 20d returns, sample memory",
    ),
    # TRA with the market-level memory: whole days assigned by Sinkhorn, the router reads each
    # predictor's recent cross-sectional loss (realized labels only), hard routing at test
    Cell(
        "regime",
        "tra_market",
        "daily_ret_seq",
        {
            **REGIME,
            "num_states": 2,
            "hist_len": 20,
            "memory": "market",
            "assigned_fit": 1.0,
            "gumbel": False,
            "inference": "argmax",
        },
        "tra / 20d returns, market memory",
    ),
]
MODEL_OF = {
    "lgbm_agg": "lgbm",
    "lgbm_agg_2k": "lgbm",
    "gru_2k": "gru",
    "alstm_2k": "alstm",
    "transformer_2k": "transformer",
    "tra_market": "tra",
}  # cell key -> registered name


# ----------------------------------------------------------------------------- markets


def market_config(signal: str, n_stocks: int, n_days: int, seed: int, strength: float):
    """SynthConfig with only `signal` switched on, 30-minute bars."""
    from seqalpha.data.synthetic import SIGNALS, SynthConfig

    if signal not in SIGNALS:
        raise ConfigError(f"signal {signal!r}: not a planted signal of the generator {SIGNALS}")
    strengths = dict.fromkeys(SIGNALS, 0.0)
    strengths[signal] = strength
    return SynthConfig(
        n_stocks=n_stocks, n_days=n_days, seed=seed, bar_minutes=30, strengths=strengths
    )


def market_size(cell: Cell, args) -> tuple[int, int]:
    """(n_stocks, n_days) of the cell's market: its own size, else the command line's."""
    return cell.size if cell.size is not None else (args.n_stocks, args.n_days)


def market_path(cell: Cell, args) -> Path:
    n, t = market_size(cell, args)
    name = cell.signal if cell.size is None else f"{cell.signal}_{n}x{t}"
    return Path(args.out) / "markets" / name


def ensure_market(cell: Cell, args) -> Path:
    """The cached market of the cell (generated when absent or generated with another config)."""
    from seqalpha.data.synthetic import generate_market

    signal = cell.signal
    n_stocks, n_days = market_size(cell, args)
    cfg = market_config(signal, n_stocks, n_days, args.seed, args.strength)
    path = market_path(cell, args)
    meta = path / "meta.json"
    if meta.is_file():
        old = json.loads(meta.read_text()).get("config")
        if old == json.loads(json.dumps(cfg.to_dict())):
            return path
        print(f"[market] {path}: config changed, regenerating", flush=True)
    t0 = time.perf_counter()
    generate_market(path, cfg)
    print(
        f"[market] {signal}: {n_stocks} stocks x {n_days} days in "
        f"{time.perf_counter() - t0:.1f}s -> {path}",
        flush=True,
    )
    return path


# ----------------------------------------------------------------------------- configs


def pipeline_dict(cell: Cell, market: Path) -> dict:
    """The PipelineConfig (plain data) of one cell on its market, fixed split from meta.json."""
    split = json.loads((market / "meta.json").read_text())["split"]
    data: dict[str, Any] = {"dir": str(market), "universe": "market", "benchmark": "SYN_INDEX"}
    features: dict[str, Any]
    if cell.inputs == "daily_returns":
        features = {"library": "none", "extra": dict(DAILY_RETURNS)}
    elif cell.inputs == "daily_ret_seq":
        features = {"library": "none", "extra": dict(DAILY_RET1)}
    elif cell.inputs == "intraday_agg":
        data.update(minute_dir="minute", bar_minutes=30)
        features = {"library": "intraday", "intraday_window": 20}
    elif cell.inputs == "intraday_bars":
        data.update(minute_dir="minute", bar_minutes=30)
        features = {"library": "none", "bars": True}
    else:
        raise ConfigError(f"cell {cell.key}: unknown inputs {cell.inputs!r}")
    return {
        "data": data,
        "features": features,
        "labels": {"horizons": [1], "offset": 1, "kind": "raw"},
        "processors": {"features": CS_FILL, "labels": LABEL_PROCS},
        "model": {"name": MODEL_OF.get(cell.model, cell.model), "params": dict(cell.params)},
        "walkforward": {
            "schedule": "fixed",
            "train": split["train"],
            "valid": split["valid"],
            "test": split["test"],
        }
        if cell.rolling is None
        else {
            "schedule": "rolling",
            **cell.rolling,
            "test_start": split["test"][0],
            "test_end": split["test"][1],
        },
        "executor": {"kind": "local"},
        "seeds": [0],
        "tracking": {"enabled": False},
    }


# ----------------------------------------------------------------------------- scoring


def score_against_oracle(preds: pl.DataFrame, oracle: pl.DataFrame, signal: str) -> dict:
    """Daily Pearson IC of score and of the oracle column `signal` with the realized label, on the
    same (date, stock) cells; the paired daily difference gives the leakage SE."""
    from seqalpha.data.panel import Panel
    from seqalpha.evaluate import daily_ic, summarize_ic

    if signal not in oracle.columns:
        raise DataError(f"oracle.parquet: no column {signal!r}; has {oracle.columns}")
    df = preds.select("datetime", "instrument", "score", "label").join(
        oracle.select("datetime", "instrument", pl.col(signal).alias("oracle")),
        on=["datetime", "instrument"],
        how="left",
    )
    panel = Panel.from_long(df, ["score", "label", "oracle"])
    s, y, o = panel["score"], panel["label"], panel["oracle"]
    valid = panel.universe & np.isfinite(s) & np.isfinite(y) & np.isfinite(o)
    ic = daily_ic(s, y, valid)
    oic = daily_ic(o, y, valid)
    so = daily_ic(s, o, valid)  # how much of the planted signal the model reproduces, per day
    both = np.isfinite(ic) & np.isfinite(oic)
    m, orc = summarize_ic(ic[both]), summarize_ic(oic[both])
    d = summarize_ic(ic[both] - oic[both])
    ratio = m["mean"] / orc["mean"] if orc["mean"] > 0 else float("nan")
    return {
        "ic": m["mean"],
        "ic_se": m["se"],
        "oracle_ic": orc["mean"],
        "oracle_se": orc["se"],
        "ratio": ratio,
        "diff_se": d["se"],
        "n_days": int(both.sum()),
        "n_cells": int(valid.sum()),
        "leak_ok": bool(m["mean"] <= orc["mean"] + 2 * d["se"]),
        "corr_oracle": float(np.nanmean(so[both])),
        "abs_corr_oracle": float(np.nanmean(np.abs(so[both]))),
        "dates": [str(x) for x in panel.dates[both]],
        "daily_ic": [float(x) for x in ic[both]],
        "daily_oracle_ic": [float(x) for x in oic[both]],
    }


def _atomic_json(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- running

_HISTORY: dict[int, Any] = {}  # window index -> the torch loop's per-epoch history (last run)


class HistoryExecutor:
    """A local executor running the runner's own job (`fit_window` + `predict_window`, i.e.
    `walkforward.run_job`) that also keeps each window's per-epoch validation history."""

    def map_unordered(self, fn, shared, jobs):
        from seqalpha.train.walkforward import fit_window, predict_window

        for job in jobs:
            model, test, a = fit_window(shared, job)
            result = getattr(model, "result", None)
            if result is not None:
                _HISTORY[job.window.index] = {
                    "best_epoch": result.best_epoch,
                    "best_score": result.best_score,
                    "history": result.history,
                }
            yield job, predict_window(model, test, a, job)

    def close(self) -> None:
        pass


_INPUTS_CACHE: dict[tuple[str, str], Any] = {}  # (market path, inputs) -> Inputs


def run_cell(cell: Cell, args) -> dict:
    """Walk-forward one cell through the product's runner, then score it against the oracle."""
    from seqalpha.config import config_from_dict
    from seqalpha.train.inputs import build_inputs
    from seqalpha.train.walkforward import collect_predictions, run_walkforward

    market = ensure_market(cell, args)
    cfg = config_from_dict(pipeline_dict(cell, market), source=f"cell {cell.key}")
    t0 = time.perf_counter()
    key = (str(market), cell.inputs)
    if key not in _INPUTS_CACHE:
        _INPUTS_CACHE.clear()  # keep one market's inputs in memory at a time
        _INPUTS_CACHE[key] = build_inputs(cfg.data, cfg.features, cfg.labels)
    inputs = _INPUTS_CACHE[key]
    t_in = time.perf_counter() - t0
    run_dir = Path(args.out) / "runs" / cell.key
    executor = HistoryExecutor()
    _HISTORY.clear()
    # a cell has one window, and its JSON is the resume point: a run directory left by an
    # interrupted or re-configured run is discarded
    state = run_walkforward(cfg, run_dir, inputs=inputs, fresh=True, executor=executor)
    preds = collect_predictions(run_dir, state.windows)
    oracle = pl.read_parquet(market / "oracle.parquet")
    res = score_against_oracle(preds, oracle, cell.signal)
    res.update(
        {
            "signal": cell.signal,
            "model": cell.model,
            "label": cell.label,
            "registered_model": cfg.model.name,
            "inputs": cell.inputs,
            "n_features": None if inputs.features is None else int(inputs.features.shape[2]),
            "bars_shape": None if inputs.bars is None else list(inputs.bars.shape[2:]),
            "params": cell.params,
            "windows": [w.describe(inputs.dates) for w in state.windows],
            "market": {
                "n_stocks": market_size(cell, args)[0],
                "n_days": market_size(cell, args)[1],
                "seed": args.seed,
                "strength": args.strength,
                "bar_minutes": 30,
            },
            "train_history": dict(_HISTORY) or None,
            "seconds_inputs": round(t_in, 2),
            "seconds_walkforward": round(state.seconds, 2),
            "seconds": round(time.perf_counter() - t0, 2),
        }
    )
    return res


def rescore(res: dict, args) -> dict:
    """Metrics of a saved cell recomputed from its run directory's predictions (no training)."""
    run = Path(args.out) / "runs" / f"{res['signal']}__{res['model']}" / "windows"
    files = sorted(run.glob("*.parquet"))
    if not files:
        raise DataError(f"{run}: no window predictions to rescore")
    preds = pl.concat([pl.read_parquet(f) for f in files]).sort(["datetime", "instrument"])
    cell = {c.key: c for c in CELLS}[f"{res['signal']}__{res['model']}"]
    oracle = pl.read_parquet(market_path(cell, args) / "oracle.parquet")
    return {**res, **score_against_oracle(preds, oracle, res["signal"])}


def paired(a: dict, b: dict) -> tuple[float, float]:
    """Mean and SE of the daily IC difference a - b over their common test days."""
    da = dict(zip(a["dates"], a["daily_ic"], strict=False))
    db = dict(zip(b["dates"], b["daily_ic"], strict=False))
    common = sorted(set(da) & set(db))
    d = np.array([da[k] - db[k] for k in common])
    if len(d) < 2:
        return float("nan"), float("nan")
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))


def bars(results: dict[str, dict]) -> list[tuple[str, str, str]]:
    """The quality bars of the issue: (bar, evidence, PASS/FAIL/n/a)."""
    out = []

    def r(k):
        return results.get(k)

    for m in ("linear", "lgbm"):
        c = r(f"reversal__{m}")
        out.append(
            (
                f"{m} >= 70% of oracle IC (reversal)",
                f"ratio {c['ratio']:.2f}" if c else "not run",
                ("PASS" if c["ratio"] >= 0.7 else "FAIL") if c else "n/a",
            )
        )
    for suffix, where in (("", "intraday, 300 st."), ("_2k", "intraday, 2000 st.")):
        base = r(f"intraday__lgbm_agg{suffix}")
        for m in ("gru", "alstm", "transformer"):
            c = r(f"intraday__{m}{suffix}")
            out.append(
                (
                    f"{m} >= 50% of oracle IC ({where})",
                    f"ratio {c['ratio']:.2f}" if c else "not run",
                    ("PASS" if c["ratio"] >= 0.5 else "FAIL") if c else "n/a",
                )
            )
            if c and base:
                dm, se = paired(c, base)
                out.append(
                    (
                        f"{m} clearly > lgbm on daily aggregates ({where})",
                        f"IC diff {dm:+.4f} (SE {se:.4f})",
                        "PASS" if dm > 2 * se else "FAIL",
                    )
                )
    for k, what in (
        ("tra", "tra (sample memory) beats gru (regime)"),
        ("tra_market", "tra (market memory) beats gru (regime)"),
    ):
        tra, gru = r(f"regime__{k}"), r("regime__gru")
        if tra and gru:
            dm, se = paired(tra, gru)
            verdict = "PASS" if dm > 2 * se else ("weak" if dm > 0 else "FAIL")
            out.append((what, f"IC diff {dm:+.4f} (SE {se:.4f})", verdict))
    leaks = [k for k, c in results.items() if not c["leak_ok"]]
    out.append(
        (
            "no model above oracle + 2 SE (leakage)",
            f"{len(results)} cells checked" + (f"; above: {leaks}" if leaks else ""),
            "PASS" if not leaks and results else ("FAIL" if leaks else "n/a"),
        )
    )
    return out


def print_table(results: dict[str, dict]) -> None:
    print(
        f"\n{'cell':26s} {'inputs':38s} {'IC':>8s} {'oracle':>8s} {'ratio':>6s} "
        f"{'SE(d)':>7s} {'leak':>5s} {'c(s,o)':>7s} {'|c|':>5s} {'days':>5s} {'sec':>7s}"
    )
    for k, c in results.items():
        print(
            f"{k:26s} {c['label']:38s} {c['ic']:8.4f} {c['oracle_ic']:8.4f} {c['ratio']:6.2f} "
            f"{c['diff_se']:7.4f} {'ok' if c['leak_ok'] else 'LEAK':>5s} "
            f"{c.get('corr_oracle', float('nan')):7.3f} "
            f"{c.get('abs_corr_oracle', float('nan')):5.2f} {c['n_days']:5d} "
            f"{c['seconds']:7.1f}"
        )
    print("\nbars:")
    for name, ev, verdict in bars(results):
        print(f"  {verdict:5s} {name:52s} {ev}")


def dump_configs(directory: Path, args) -> None:
    """One YAML per cell runnable by `seqalpha train` (market path relative to the repo root)."""
    import yaml

    from seqalpha.config import config_from_dict

    directory.mkdir(parents=True, exist_ok=True)
    for cell in CELLS:
        market = market_path(cell, args)
        if not (market / "meta.json").is_file():
            raise DataError(f"{market}: no market yet; run the cell once to generate it")
        raw = pipeline_dict(cell, market)
        config_from_dict(raw, source=f"cell {cell.key}")  # validated before writing
        try:
            raw["data"]["dir"] = str(market.resolve().relative_to(ROOT))
        except ValueError:
            pass
        text = (
            f"# {cell.key}: {cell.label}; generated by benchmarks/quality_synthetic.py\n"
            f"#   seqalpha train {directory / (cell.key + '.yaml')} --out runs/{cell.key}\n"
        )
        (directory / f"{cell.key}.yaml").write_text(text + yaml.safe_dump(raw, sort_keys=False))
        print(f"wrote {directory / (cell.key + '.yaml')}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--n-stocks", type=int, default=300)
    ap.add_argument("--n-days", type=int, default=750)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--strength",
        type=float,
        default=0.06,
        help="strength of the one planted signal (the generator's default 0.06)",
    )
    ap.add_argument(
        "--cells",
        nargs="*",
        default=None,
        help=f"subset of cells (default all): {[c.key for c in CELLS]}",
    )
    ap.add_argument("--fresh", action="store_true", help="recompute cells whose JSON exists")
    ap.add_argument(
        "--rescore",
        action="store_true",
        help="with --fresh: recompute the metrics of saved cells from their run "
        "directories without training",
    )
    ap.add_argument("--table-only", action="store_true", help="print the table of saved cells")
    ap.add_argument(
        "--dump-configs",
        default=None,
        metavar="DIR",
        help="write each cell's pipeline config as YAML into DIR (for `seqalpha "
        "train`; markets must exist) and exit",
    )
    args = ap.parse_args(argv)
    known = {c.key: c for c in CELLS}
    if args.dump_configs:
        dump_configs(Path(args.dump_configs), args)
        return 0
    want = args.cells or list(known)
    bad = [k for k in want if k not in known]
    if bad:
        raise ConfigError(f"--cells: unknown {bad}; known: {list(known)}")
    results: dict[str, dict] = {}
    for k in want:
        path = Path(args.out) / f"{k}.json"
        if path.exists() and (not args.fresh or args.table_only):
            results[k] = json.loads(path.read_text())
            continue
        if args.table_only:
            continue
        if args.rescore and path.exists():
            results[k] = rescore(json.loads(path.read_text()), args)
            _atomic_json(results[k], path)
            continue
        print(f"[cell] {k} ...", flush=True)
        res = run_cell(known[k], args)
        _atomic_json(res, path)
        results[k] = res
        print(
            f"[cell] {k}: IC {res['ic']:.4f} oracle {res['oracle_ic']:.4f} ratio "
            f"{res['ratio']:.2f} ({res['seconds']:.0f}s)",
            flush=True,
        )
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
