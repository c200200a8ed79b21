"""Walk-forward training: windows on the trading calendar (`splits`), one model per (window,
seed) fitted and predicted by the window job (`window`), per-window predictions written
atomically into the run directory (`rundir`) so that a re-run of the same config resumes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqalpha.config import config_hash, config_to_dict
from seqalpha.jsonio import write_parquet_atomic, write_text_atomic
from seqalpha.train.executors import make_executor
from seqalpha.train.inputs import build_inputs
from seqalpha.train.rundir import (
    check_resumable,
    collect_predictions,
    prepare_run_dir,
    window_frame,
    window_path,
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


@dataclass
class RunState:
    """What `run_walkforward` did: windows, which were trained now vs. resumed, timings."""

    run_dir: Path
    windows: list[Window]
    trained: list[int]
    skipped: list[int]
    seconds: float
    config_hash: str


def run_walkforward(
    cfg,
    run_dir: str | Path,
    inputs=None,
    executor=None,
    fresh: bool = False,
    on_window: Callable[[int], None] | None = None,
) -> RunState:
    """Train and predict every window of `cfg` (PipelineConfig) into RUN_DIR/windows/<k>.parquet.

    Finished windows are skipped (resume). `inputs` defaults to `build_inputs(cfg)`;
    `executor` to the one `cfg.executor` describes.
    """
    t_start = time.perf_counter()
    run_dir = Path(run_dir)
    h = config_hash(cfg)
    prepare_run_dir(run_dir, h, fresh)
    if inputs is None:
        inputs = build_inputs(cfg)
    spec = train_spec(cfg)
    windows = make_windows(inputs.dates, cfg.walkforward, cfg.embargo, spec.lookback)
    meta = {
        "config_hash": h,
        "embargo": cfg.embargo,
        "seeds": list(cfg.seeds),
        "windows": [w.describe(inputs.dates) for w in windows],
        "config": config_to_dict(cfg),
    }
    done = {w.index for w in windows if window_path(run_dir, w.index).exists()}
    check_resumable(run_dir, meta["windows"], done)
    write_text_atomic(run_dir / "run.json", json.dumps(meta, indent=1, default=str))
    jobs = [
        Job(w, s, model_seed(s, w.index), spec)
        for w in windows
        if w.index not in done
        for s in cfg.seeds
    ]
    pending: dict[int, dict[int, np.ndarray]] = {}
    by_index = {w.index: w for w in windows}
    trained = []
    own = executor is None
    ex = make_executor(cfg.executor) if own else executor
    try:
        for job, scores in ex.map_unordered(run_job, inputs, jobs):
            k = job.window.index
            pending.setdefault(k, {})[job.seed] = scores
            if len(pending[k]) == len(cfg.seeds):
                frame = window_frame(inputs, by_index[k], pending.pop(k))
                write_parquet_atomic(frame, window_path(run_dir, k))
                trained.append(k)
                if on_window is not None:
                    on_window(k)
    finally:
        if own:
            ex.close()
    return RunState(
        run_dir, windows, sorted(trained), sorted(done), time.perf_counter() - t_start, h
    )


__all__ = [
    "Job",
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
    "window_arrays",
    "window_frame",
    "window_path",
]
