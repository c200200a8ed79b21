"""The run directory of a walk-forward: `run.json` (config hash, window dates), one
`windows/<k>.parquet` per finished window (written atomically), and resume checks.

Resume: `RUN_DIR/run.json` stores a hash of the prediction-relevant config sections; a
re-run with the same hash skips windows whose `windows/<k>.parquet` exists; a different hash
is a ConfigError (use another RUN_DIR, or `fresh=True` to discard the old windows).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqalpha.errors import ConfigError, DataError
from seqalpha.train.splits import Window


def window_frame(inputs, window: Window, scores: dict[int, np.ndarray]) -> pl.DataFrame:
    """Long table of one window: datetime, instrument, score (seed mean), label (raw, first
    label column), `label_<name>` per label column when there are several (multi-horizon), and
    score_seed<s> per seed when there are several; universe rows only."""
    lo, hi = window.test
    mask = np.asarray(inputs.mask[lo:hi], dtype=bool)
    t, i = np.nonzero(mask)
    seeds = sorted(scores)
    stack = np.stack([scores[s] for s in seeds])
    with np.errstate(invalid="ignore"):
        mean = stack.mean(axis=0) if len(seeds) > 1 else stack[0]
    cols: dict[str, Any] = {
        "datetime": inputs.dates[lo:hi][t],
        "instrument": inputs.instruments[i],
        "score": mean[t, i].astype(np.float32),
        "label": np.asarray(inputs.labels[lo:hi, :, 0])[t, i].astype(np.float32),
    }
    if inputs.labels.shape[2] > 1:
        for h, name in enumerate(inputs.label_names):
            cols[f"label_{name}"] = np.asarray(inputs.labels[lo:hi, :, h])[t, i].astype(np.float32)
    if len(seeds) > 1:
        for s, arr in zip(seeds, stack, strict=False):
            cols[f"score_seed{s}"] = arr[t, i].astype(np.float32)
    return pl.DataFrame(cols).with_columns(pl.col("datetime").cast(pl.Date))


def prepare_run_dir(run_dir: Path, cfg_hash: str, fresh: bool = False) -> None:
    """Create RUN_DIR (or check it belongs to this config); `fresh` discards old windows."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "windows").mkdir(exist_ok=True)
    meta_path = run_dir / "run.json"
    if meta_path.exists():
        old = json.loads(meta_path.read_text()).get("config_hash")
        if old != cfg_hash:
            if not fresh:
                raise ConfigError(
                    f"{run_dir}: this run directory holds a run of a different config "
                    f"(hash {old} vs {cfg_hash}); use another --out or --fresh to discard it"
                )
            for p in (run_dir / "windows").glob("*.parquet"):
                p.unlink()
    for name in ("predictions.parquet", "metrics.json"):
        # a resumed or re-run directory is not complete until these are written again
        if (run_dir / name).exists():
            (run_dir / name).unlink()


def check_resumable(run_dir: Path, windows: list[dict], done: set[int]) -> None:
    """Finished windows must have the same dates as now (the data may have grown or changed)."""
    path = run_dir / "run.json"
    if not done or not path.exists():
        return
    old = {w["index"]: w for w in json.loads(path.read_text()).get("windows", [])}
    for w in windows:
        if w["index"] in done and old.get(w["index"]) != w:
            raise ConfigError(
                f"{run_dir}: window {w['index']} was trained with ranges {old.get(w['index'])} "
                f"but the data now gives {w}; use another --out or --fresh"
            )


def window_path(run_dir: Path, k: int) -> Path:
    """RUN_DIR/windows/<k>.parquet."""
    return Path(run_dir) / "windows" / f"{k}.parquet"


def collect_predictions(run_dir: str | Path, windows: Sequence[Window]) -> pl.DataFrame:
    """All window predictions in date order (datetime, instrument, score, label, ...)."""
    missing = [w.index for w in windows if not window_path(run_dir, w.index).exists()]
    if missing:
        raise DataError(f"{run_dir}: windows {missing[:10]} have no predictions yet")
    frames = [pl.read_parquet(window_path(run_dir, w.index)) for w in windows]
    return pl.concat(frames, how="vertical").sort(["datetime", "instrument"])
