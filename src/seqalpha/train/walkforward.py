"""Walk-forward training: windows on the trading calendar (`splits`), one model per (window,
seed) fitted and predicted by the window job (`window`), per-window predictions written
atomically into the run directory (`rundir`) so that a re-run of the same config resumes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqalpha.config import PipelineConfig, config_hash, config_to_dict
from seqalpha.jsonio import write_text_atomic
from seqalpha.logs import eta, fmt_seconds, get_logger
from seqalpha.train.executors import Executor, make_executor
from seqalpha.train.inputs import Inputs, build_inputs
from seqalpha.train.predictions import Predictions
from seqalpha.train.rundir import (
    check_resumable,
    collect_predictions,
    prepare_run_dir,
    read_window,
    window_frame,
    window_path,
    window_predictions,
    write_window,
)
from seqalpha.train.splits import Window, check_windows, make_windows
from seqalpha.train.window import (
    Job,
    TrainSpec,
    fit_window,
    model_seed,
    predict_window,
    run_job,
    train_spec,
    window_arrays,
)

log = get_logger("walkforward")


@dataclass
class RunState:
    """What `run_walkforward` did: its predictions, the windows, which were trained now vs.
    resumed from their files, timings."""

    run_dir: Path
    windows: list[Window]
    trained: list[int]
    skipped: list[int]
    seconds: float
    config_hash: str
    predictions: Predictions


def walk_forward(
    inputs: Inputs,
    windows: Sequence[Window],
    spec: TrainSpec,
    executor: Executor,
    seeds: Sequence[int] = (0,),
    run_dir: str | Path | None = None,
    on_window: Callable[[int], None] | None = None,
) -> Predictions:
    """Fit one model per (window, seed) on `inputs` and predict each test range.

    With `run_dir`, a window whose `windows/<k>.parquet` exists is read back instead of
    trained (resume), and each newly finished window is written there atomically.
    """
    by_index = {w.index: w for w in windows}
    done = set() if run_dir is None else {k for k in by_index if window_path(run_dir, k).exists()}
    parts = {k: read_window(run_dir, k) for k in sorted(done)} if run_dir is not None else {}
    jobs = [
        Job(w, s, model_seed(s, w.index), spec)
        for w in windows
        if w.index not in done
        for s in seeds
    ]
    pending: dict[int, dict[int, np.ndarray]] = {}
    n_todo, n_done, t0 = len(windows) - len(done), 0, time.perf_counter()
    log.info(
        "walk-forward: %d windows x %d seeds: %d resumed, %d to train",
        len(windows),
        len(seeds),
        len(done),
        n_todo,
    )
    for job, scores in executor.map_unordered(run_job, inputs, jobs):
        k = job.window.index
        pending.setdefault(k, {})[job.seed] = scores
        if len(pending[k]) == len(seeds):
            parts[k] = window_predictions(inputs, by_index[k], pending.pop(k))
            if run_dir is not None:
                write_window(run_dir, k, parts[k])
            n_done += 1
            elapsed = time.perf_counter() - t0
            log.info(
                "window %d of %d done (window %d)  elapsed %s  ETA %s",
                n_done,
                n_todo,
                k,
                fmt_seconds(elapsed),
                fmt_seconds(eta(elapsed, n_done, n_todo)),
            )
            if on_window is not None:
                on_window(k)
    return Predictions.concat([parts[w.index] for w in windows]).compact()


def run_walkforward(
    cfg: PipelineConfig,
    run_dir: str | Path,
    inputs: Inputs | None = None,
    executor: Executor | None = None,
    fresh: bool = False,
    on_window: Callable[[int], None] | None = None,
) -> RunState:
    """The walk-forward of a config into RUN_DIR: run.json, windows/<k>.parquet, predictions.

    Finished windows are resumed from their files. `inputs` defaults to the config's;
    `executor` to the one `cfg.executor` describes.
    """
    t_start = time.perf_counter()
    run_dir = Path(run_dir)
    h = config_hash(cfg)
    prepare_run_dir(run_dir, h, fresh)
    if inputs is None:
        inputs = build_inputs(cfg.data, cfg.features, cfg.labels)
    spec = train_spec(cfg)
    windows = make_windows(inputs.dates, cfg.walkforward, cfg.embargo, spec.lookback)
    meta: dict[str, Any] = {
        "config_hash": h,
        "embargo": cfg.embargo,
        "seeds": list(cfg.seeds),
        "windows": [w.describe(inputs.dates) for w in windows],
        "config": config_to_dict(cfg),
    }
    done = [w.index for w in windows if window_path(run_dir, w.index).exists()]
    check_resumable(run_dir, meta["windows"], set(done))
    write_text_atomic(run_dir / "run.json", json.dumps(meta, indent=1, default=str))
    own = executor is None
    ex = make_executor(cfg.executor) if executor is None else executor
    try:
        preds = walk_forward(inputs, windows, spec, ex, cfg.seeds, run_dir, on_window)
    finally:
        if own:
            ex.close()
    trained = sorted(w.index for w in windows if w.index not in set(done))
    return RunState(
        run_dir, windows, trained, sorted(done), time.perf_counter() - t_start, h, preds
    )


__all__ = [
    "Job",
    "Predictions",
    "RunState",
    "TrainSpec",
    "Window",
    "check_windows",
    "collect_predictions",
    "fit_window",
    "make_windows",
    "model_seed",
    "predict_window",
    "run_job",
    "run_walkforward",
    "train_spec",
    "walk_forward",
    "window_arrays",
    "window_frame",
    "window_path",
    "window_predictions",
]
