"""`seqalpha train CONFIG --out RUN_DIR`: walk-forward training into a resumable run directory.

RUN_DIR/config.yaml     the resolved config (written first)
RUN_DIR/run.json        config hash and window boundaries (resume check)
RUN_DIR/windows/<k>.parquet   per-window test predictions, written atomically as windows finish
RUN_DIR/predictions.parquet   datetime, instrument, score (seed mean), label  } written last,
RUN_DIR/metrics.json          IC, Rank IC, ICIR, Rank ICIR over the test ranges } atomically
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

from seqalpha.jsonio import write_json_atomic, write_parquet_atomic


def signal_summary(preds: pl.DataFrame) -> dict:
    """IC / Rank IC / ICIR / Rank ICIR (and SE, by year) of a predictions table with labels.

    The headline figures score `label` (the first label column); with several label columns
    (`label_<name>`, multi-horizon), `by_label` holds the same figures for each of them."""
    from seqalpha.data.panel import Panel
    from seqalpha.evaluate import signal_metrics

    extra = [c for c in preds.columns if c.startswith("label_")]
    panel = Panel.from_long(
        preds.select("datetime", "instrument", "score", "label", *extra), ["score", "label", *extra]
    )
    out = signal_metrics(panel["score"], panel["label"], panel.universe, panel.dates)
    out["by_year"] = {str(k): v for k, v in out.get("by_year", {}).items()}
    if extra:
        out["by_label"] = {}
        for c in extra:
            m = signal_metrics(panel["score"], panel[c], panel.universe, panel.dates)
            m.pop("by_year", None)
            out["by_label"][c[len("label_") :]] = m
    return out


def train_command(
    config: str | Path,
    out: str | Path,
    data_dir: str | Path | None = None,
    sets: Sequence[str] = (),
    fresh: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Run (or resume) the walk-forward of a config into `out`; returns the metrics dict."""
    from seqalpha.config import config_hash, dump_config
    from seqalpha.registries import load_checked_config
    from seqalpha.train.inputs import build_inputs
    from seqalpha.train.walkforward import collect_predictions, prepare_run_dir, run_walkforward

    say = log or (lambda msg: None)
    t0 = time.perf_counter()
    cfg = load_checked_config(config, sets, data_dir)
    run_dir = Path(out)
    prepare_run_dir(run_dir, config_hash(cfg), fresh)
    dump_config(cfg, run_dir / "config.yaml")
    say(
        f"building inputs from {cfg.data.dir} ({cfg.features.library}"
        f"{' + bars' if cfg.features.bars else ''})"
    )
    t_in = time.perf_counter()
    inputs = build_inputs(cfg)
    inputs_s = time.perf_counter() - t_in
    feats = "none" if inputs.features is None else "x".join(map(str, inputs.features.shape))
    say(
        f"inputs: {len(inputs.dates)} days x {len(inputs.instruments)} instruments, "
        f"features {feats}, {inputs_s:.1f}s"
    )
    state = run_walkforward(
        cfg, run_dir, inputs=inputs, fresh=fresh, on_window=lambda k: say(f"window {k} done")
    )
    say(
        f"{len(state.windows)} windows: {len(state.trained)} trained, "
        f"{len(state.skipped)} resumed, {state.seconds:.1f}s"
    )
    preds = collect_predictions(run_dir, state.windows)
    metrics = signal_summary(preds)
    metrics.update(
        {
            "model": cfg.model.name,
            "seeds": list(cfg.seeds),
            "config_hash": state.config_hash,
            "n_windows": len(state.windows),
            "windows_trained": len(state.trained),
            "windows_resumed": len(state.skipped),
            "n_predictions": preds.height,
            "test_start": str(preds["datetime"].min()),
            "test_end": str(preds["datetime"].max()),
            "seconds_inputs": round(inputs_s, 3),
            "seconds_walkforward": round(state.seconds, 3),
            "seconds_total": round(time.perf_counter() - t0, 3),
        }
    )
    write_parquet_atomic(preds, run_dir / "predictions.parquet")
    write_json_atomic(run_dir / "metrics.json", metrics)
    say(
        f"test IC {metrics['ic']:.4f}  Rank IC {metrics['rank_ic']:.4f}  "
        f"ICIR {metrics['icir']:.3f}  Rank ICIR {metrics['rank_icir']:.3f}"
    )
    return metrics
