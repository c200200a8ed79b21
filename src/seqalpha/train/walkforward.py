"""Walk-forward training: windows on the trading calendar separated by an embargo, processors
re-fitted per window, one model per (window, seed), per-window predictions written atomically
so that a re-run of the same config resumes.

Embargo rule: the label at t reads prices up to t + offset + max(horizon) (its `reach`), so
the last date of a range whose labels are used must satisfy `last + reach < next range start`,
i.e. at least `reach` trading days lie strictly between train and valid, and valid and test.

Resume: `RUN_DIR/run.json` stores a hash of the prediction-relevant config sections; a
re-run with the same hash skips windows whose `windows/<k>.parquet` exists; a different hash
is a ConfigError (use another RUN_DIR, or `fresh=True` to discard the old windows).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqalpha.errors import ConfigError, DataError, LeakageError

Range = tuple[int, int]  # [lo, hi) positions on the calendar


@dataclass(frozen=True)
class Window:
    """One walk-forward window: half-open calendar positions of train, valid (or None), test."""

    index: int
    train: Range
    valid: Range | None
    test: Range

    def describe(self, calendar: np.ndarray) -> dict[str, Any]:
        """ISO first/last dates of each range (for messages and run.json)."""

        def span(r):
            return None if r is None else [str(calendar[r[0]]), str(calendar[r[1] - 1])]

        return {
            "index": self.index,
            "train": span(self.train),
            "valid": span(self.valid),
            "test": span(self.test),
        }


def _pos(calendar: np.ndarray, date, side: str = "left") -> int:
    return int(np.searchsorted(calendar, np.datetime64(date, "D"), side=side))


def _range(calendar: np.ndarray, start, end, what: str) -> Range:
    lo, hi = _pos(calendar, start), _pos(calendar, end, "right")
    if hi <= lo:
        raise ConfigError(
            f"walkforward.{what}: no trading days in {start}..{end} "
            f"(calendar {calendar[0]}..{calendar[-1]})"
        )
    return lo, hi


def make_windows(calendar: np.ndarray, wf, embargo: int, lookback: int = 1) -> list[Window]:
    """Windows of a WalkForwardConfig on `calendar` (datetime64[D] [T]) with `embargo` days.

    fixed: one window; with `wf.purge` the last `embargo` days of train (and valid) are dropped
    when the given ranges are closer than the embargo. rolling/expanding: test blocks of
    `wf.step` days; each block trains on the `train_days` days ending `embargo` days before it.
    """
    cal = np.asarray(calendar, dtype="datetime64[D]")
    if wf.schedule == "fixed":
        tr = _range(cal, wf.train.start, wf.train.end, "train")
        va = _range(cal, wf.valid.start, wf.valid.end, "valid") if wf.valid else None
        te = _range(cal, wf.test.start, wf.test.end, "test")
        ranges = [("train", tr)] + ([("valid", va)] if va else []) + [("test", te)]
        for (na, a), (nb, b) in itertools.pairwise(ranges):
            if a[1] > b[0]:
                raise LeakageError(
                    f"window 0: {na} {cal[a[0]]}..{cal[a[1] - 1]} overlaps {nb} "
                    f"{cal[b[0]]}..{cal[b[1] - 1]}"
                )
        if wf.purge:
            if va is not None:
                va = (va[0], min(va[1], te[0] - embargo))
                tr = (tr[0], min(tr[1], va[0] - embargo))
            else:
                tr = (tr[0], min(tr[1], te[0] - embargo))
            for name, r in (("train", tr), ("valid", va)):
                if r is not None and r[1] <= r[0]:
                    raise ConfigError(
                        f"walkforward.{name}: nothing left after purging the {embargo}-day embargo"
                    )
        windows = [Window(0, tr, va, te)]
    else:
        windows = _moving_windows(cal, wf, embargo, lookback)
    check_windows(windows, cal, embargo)
    return windows


def _moving_windows(cal: np.ndarray, wf, embargo: int, lookback: int) -> list[Window]:
    T = len(cal)
    vd = wf.valid_days
    fit_days = wf.train_days - vd - (embargo if vd else 0)
    if fit_days < 1:
        raise ConfigError(
            f"walkforward.train_days: {wf.train_days} days leave no training days "
            f"after {vd} validation days and a {embargo}-day embargo"
        )
    span_lo0 = _pos(cal, wf.train_start) if wf.train_start is not None else 0
    first = span_lo0 + (lookback - 1) + wf.train_days + embargo
    end = _pos(cal, wf.test_end, "right") if wf.test_end is not None else T
    if wf.test_start is not None:
        s0 = _pos(cal, wf.test_start)
        if s0 < first:
            need = cal[min(first, T - 1)]
            raise ConfigError(
                f"walkforward.test_start: window 0 tests from {cal[min(s0, T - 1)]} but needs "
                f"{wf.train_days} training days + {embargo}-day embargo"
                f"{f' + {lookback - 1} look-back days' if lookback > 1 else ''} before it; "
                f"the earliest test start on this calendar is {need}"
            )
    else:
        s0 = first
    if s0 >= end:
        raise ConfigError(
            f"walkforward: no test days: the first possible test date is beyond "
            f"{cal[-1] if wf.test_end is None else wf.test_end}"
        )
    windows = []
    for k, s in enumerate(range(s0, end, wf.step)):
        te = (s, min(s + wf.step, end))
        span_hi = s - embargo
        span_lo = span_lo0 if wf.schedule == "expanding" else span_hi - wf.train_days
        if vd:
            va = (span_hi - vd, span_hi)
            tr = (span_lo, va[0] - embargo)
        else:
            va, tr = None, (span_lo, span_hi)
        windows.append(Window(k, tr, va, te))
    return windows


def check_windows(windows: Sequence[Window], calendar: np.ndarray, embargo: int) -> None:
    """LeakageError when a window's ranges are out of order or closer than `embargo` days."""
    cal = np.asarray(calendar, dtype="datetime64[D]")
    for w in windows:
        ranges = (
            [("train", w.train)] + ([("valid", w.valid)] if w.valid else []) + [("test", w.test)]
        )
        for name, (lo, hi) in ranges:
            if not 0 <= lo < hi <= len(cal):
                raise ConfigError(
                    f"window {w.index}: {name} range [{lo}, {hi}) is empty or "
                    f"outside the calendar of {len(cal)} days"
                )
        for (na, a), (nb, b) in itertools.pairwise(ranges):
            gap = b[0] - a[1]
            if gap < embargo:
                raise LeakageError(
                    f"window {w.index}: {na} ends {cal[a[1] - 1]} and {nb} starts {cal[b[0]]}: "
                    f"{max(gap, 0)} trading days apart, the embargo needs {embargo} "
                    f"(labels read {embargo} days ahead)"
                )


# ---------------------------------------------------------------------------- one window

# Processors whose statistics and outputs are per feature column (safe to run on column blocks).
COLUMNWISE_PROCESSORS = frozenset(
    {
        "fillna",
        "mad_winsorize",
        "cs_zscore",
        "cs_rankgauss",
        "zscore",
        "robust_zscore",
        "neutralize",
        "drop_missing_label",
    }
)
FEATURE_CHUNK = 32


@dataclass(frozen=True)
class TrainSpec:
    """What a window job needs besides the arrays (picklable, no pydantic)."""

    model: str
    params: dict
    feature_processors: list = field(default_factory=list)  # [{"name": .., **params}]
    label_processors: list = field(default_factory=list)
    lookback: int = 1
    label_reach: int = 0  # the label at t is realized at the close of t + label_reach


@dataclass(frozen=True)
class Job:
    """One model fit: a window and a seed (`model_seed` derived from both)."""

    window: Window
    seed: int
    model_seed: int
    spec: TrainSpec


def model_seed(seed: int, window: int) -> int:
    """The seed given to the model of window `window` for ensemble member `seed`."""
    return int((seed * 1_000_003 + window * 7919) % (2**31 - 1))


def window_arrays(inputs, job: Job) -> dict[str, Any]:
    """Processed arrays of one window (history rows included), processors fitted on its train
    rows only; labels outside train and valid are NaN so no model can read them.

    `known_labels` are the labels of every row of the window (test rows included) through the
    label processors fitted on train: the test set carries them with `label_reach`, so that a
    model with a memory of realized labels (TRA) reads at date t only labels realized by t."""
    from seqalpha.features.processors import ProcessorChain

    w, spec = job.window, job.spec
    lo = max(0, w.train[0] - (spec.lookback - 1))
    hi = w.test[1]
    T_w = hi - lo
    mask = np.asarray(inputs.mask[lo:hi], dtype=bool)
    train_rows = np.zeros(T_w, dtype=bool)
    train_rows[w.train[0] - lo : w.train[1] - lo] = True
    fit_cells = mask & train_rows[:, None]
    labels = np.array(inputs.labels[lo:hi], dtype=np.float32, copy=True)
    labelled = train_rows.copy()
    if w.valid is not None:
        labelled[w.valid[0] - lo : w.valid[1] - lo] = True
    labels[~labelled] = np.nan

    def run_chain(items, x, extra):
        if x is None or not items:
            return x, ProcessorChain([])
        F = x.shape[2]
        columnwise = {it["name"] for it in items} <= COLUMNWISE_PROCESSORS
        step_f = FEATURE_CHUNK if columnwise and F > FEATURE_CHUNK else F
        out = None if step_f == F else np.empty(x.shape, dtype=np.float32)
        for f0 in range(0, F, step_f):
            # column-wise processors run on blocks of features: peak memory stays near one
            # processed copy instead of one per processor step
            chain = ProcessorChain.from_config(items, **extra)
            cur = x if step_f == F else x[:, :, f0 : f0 + step_f]
            for step in chain.steps:
                cur = step.fit(cur, fit_cells).transform(cur, mask)
            if out is None:
                return cur, chain
            out[:, :, f0 : f0 + step_f] = cur
        return out, chain

    feats, fchain = run_chain(
        spec.feature_processors,
        None if inputs.features is None else inputs.features[lo:hi],
        {"label": labels},
    )
    bars = None
    if inputs.bars is not None:
        b = np.asarray(inputs.bars[lo:hi])
        flat, _ = run_chain(
            spec.feature_processors, b.reshape(T_w, b.shape[1], -1), {"label": labels}
        )
        bars = np.asarray(flat, dtype=np.float32).reshape(b.shape)
    labels_p, lchain = run_chain(spec.label_processors, labels, {"label": labels})
    known = np.array(inputs.labels[lo:hi], dtype=np.float32, copy=True)
    for step in lchain.steps:
        known = step.transform(known, mask)
    train_mask = lchain.keep_mask(fchain.keep_mask(mask.copy()))
    return {
        "lo": lo,
        "hi": hi,
        "features": None if feats is None else np.asarray(feats, dtype=np.float32),
        "bars": bars,
        "labels": np.asarray(labels_p, dtype=np.float32),
        "mask": mask,
        "train_mask": train_mask,
        "known_labels": np.asarray(known, dtype=np.float32),
    }


def fit_window(inputs, job: Job):
    """Fit the job's model on its window: (fitted model, test SampleSet, window arrays)."""
    from seqalpha.dataset.core import SampleSet
    from seqalpha.models.registry import create_model

    a = window_arrays(inputs, job)
    w, lo = job.window, a["lo"]
    common = {
        "dates": inputs.dates[lo : a["hi"]],
        "instruments": inputs.instruments,
        "features": a["features"],
        "bars": a["bars"],
        "feature_names": list(inputs.feature_names),
        "lookback": job.spec.lookback,
        "label_names": list(inputs.label_names),
        "label_reach": job.spec.label_reach,
    }
    train = SampleSet(
        labels=a["labels"], mask=a["train_mask"], rows=(w.train[0] - lo, w.train[1] - lo), **common
    )
    valid = None if w.valid is None else train.with_rows(w.valid[0] - lo, w.valid[1] - lo)
    # realized labels ride along for models with a label memory (TRA), which read the label
    # of t - label_reach at the earliest; no model's prediction at t reads the label at t
    test = SampleSet(
        labels=a["known_labels"], mask=a["mask"], rows=(w.test[0] - lo, w.test[1] - lo), **common
    )
    model = create_model(job.spec.model, **job.spec.params, seed=job.model_seed)
    model.fit(train, valid)
    return model, test, a


def predict_window(model, test, a, job: Job) -> np.ndarray:
    """Test-range scores float32 [test days, N] of a fitted model (NaN outside the universe)."""
    w, lo = job.window, a["lo"]
    scores = np.asarray(model.predict(test), dtype=np.float32)
    want = (w.test[1] - w.test[0], len(test.instruments))
    if scores.shape != want:
        raise DataError(
            f"model {job.spec.model!r} predicted shape {scores.shape}, expected "
            f"{want} (test days x instruments) in window {w.index}"
        )
    scores = scores.copy()
    scores[~a["mask"][w.test[0] - lo : w.test[1] - lo]] = np.nan
    return scores


def run_job(inputs, job: Job) -> np.ndarray:
    """Fit the job's model on its window and predict the test range: float32 [test days, N]."""
    model, test, a = fit_window(inputs, job)
    return predict_window(model, test, a, job)


# ---------------------------------------------------------------------------- the run


def effective_lookback(cfg) -> int:
    """Days of history a sample reads: features.lookback, or the model's sequence window
    (`spec.seq_len` of sequence models with the window layout) when longer."""
    from seqalpha.models.registry import create_model

    model = create_model(cfg.model.name, **cfg.model.params, seed=cfg.seeds[0])
    spec = getattr(model, "spec", None)
    seq = 1
    if (
        spec is not None
        and getattr(spec, "kind", "tabular") != "tabular"
        and getattr(spec, "layout", "") == "window"
    ):
        seq = int(getattr(spec, "seq_len", 1))
    return max(int(cfg.features.lookback), seq)


def train_spec(cfg, lookback: int | None = None) -> TrainSpec:
    """The TrainSpec of a PipelineConfig."""

    def items(specs):
        return [{"name": s.name, **s.params} for s in specs]

    return TrainSpec(
        cfg.model.name,
        dict(cfg.model.params),
        items(cfg.processors.features),
        items(cfg.processors.labels),
        effective_lookback(cfg) if lookback is None else lookback,
        label_reach=int(cfg.labels.reach),
    )


def _atomic_parquet(df: pl.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    df.write_parquet(tmp)
    os.replace(tmp, path)


def _atomic_text(text: str, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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


@dataclass
class RunState:
    """What `run_walkforward` did: windows, which were trained now vs. resumed, timings."""

    run_dir: Path
    windows: list[Window]
    trained: list[int]
    skipped: list[int]
    seconds: float
    config_hash: str


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
    from seqalpha.config import config_hash, config_to_dict
    from seqalpha.train.executors import make_executor

    t_start = time.perf_counter()
    run_dir = Path(run_dir)
    h = config_hash(cfg)
    prepare_run_dir(run_dir, h, fresh)
    if inputs is None:
        from seqalpha.train.inputs import build_inputs

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
    _check_resumable(run_dir, meta["windows"], done)
    _atomic_text(json.dumps(meta, indent=1, default=str), run_dir / "run.json")
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
                _atomic_parquet(
                    window_frame(inputs, by_index[k], pending.pop(k)), window_path(run_dir, k)
                )
                trained.append(k)
                if on_window is not None:
                    on_window(k)
    finally:
        if own:
            ex.close()
    return RunState(
        run_dir, windows, sorted(trained), sorted(done), time.perf_counter() - t_start, h
    )


def _check_resumable(run_dir: Path, windows: list[dict], done: set[int]) -> None:
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
