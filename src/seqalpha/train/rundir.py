"""The run directory of a walk-forward: `run.json` (config hash, window dates), one
`windows/<k>.parquet` per finished window (written atomically), and resume checks.

Resume: `RUN_DIR/inputs.json` holds the resume key (config hash + data fingerprint, see
`runkey`); a re-run under the same key skips windows whose file exists and reads; a different
key is a one-line ConfigError (use another RUN_DIR, or `fresh=True` to discard the old
windows). Half-written files of a killed run are removed first; the lock is `runlock`'s.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from seqalpha.errors import ConfigError, DataError
from seqalpha.jsonio import write_parquet_atomic
from seqalpha.train.predictions import Predictions
from seqalpha.train.runkey import check_resume_key, write_inputs
from seqalpha.train.runlock import is_held
from seqalpha.train.splits import Window

Log = Callable[[str], None]
# columns every window file has (a file without them is damaged and recomputed)
WINDOW_COLUMNS = ("datetime", "instrument", "score", "label")
_TMP_PID = re.compile(r"^\..+\.(\d+)\.tmp$")  # jsonio's `.<name>.<pid>.tmp`


def window_predictions(inputs, window: Window, scores: dict[int, np.ndarray]) -> Predictions:
    """Predictions of one window's test range: the seed mean as `score`, the raw first label
    column as `label`, every label column when there are several (multi-horizon), and each
    seed's scores when there are several; the universe as the mask."""
    lo, hi = window.test
    seeds = sorted(scores)
    stack = np.stack([scores[s] for s in seeds])
    with np.errstate(invalid="ignore"):
        mean = stack.mean(axis=0) if len(seeds) > 1 else stack[0]
    labels = np.asarray(inputs.labels[lo:hi], dtype=np.float32)
    per_label = {}
    if labels.shape[2] > 1:
        per_label = {name: labels[:, :, h] for h, name in enumerate(inputs.label_names)}
    return Predictions(
        inputs.dates[lo:hi],
        inputs.instruments,
        mean.astype(np.float32, copy=False),
        labels[:, :, 0],
        np.asarray(inputs.mask[lo:hi], dtype=bool),
        per_label,
        dict(zip(seeds, stack, strict=True)) if len(seeds) > 1 else {},
    )


def window_frame(inputs, window: Window, scores: dict[int, np.ndarray]) -> pl.DataFrame:
    """Long table of one window (`window_predictions` as rows: the file of a finished window)."""
    return window_predictions(inputs, window, scores).to_frame()


def write_window(run_dir: str | Path, k: int, preds: Predictions) -> Path:
    """RUN_DIR/windows/<k>.parquet, atomically: a resumed run skips this window."""
    return write_parquet_atomic(preds.to_frame(), window_path(run_dir, k))


def read_window(run_dir: str | Path, k: int) -> Predictions:
    """The predictions of a finished window, read back for a resumed run."""
    path = window_path(run_dir, k)
    return Predictions.from_frame(pl.read_parquet(path), source=str(path))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_partial_files(run_dir: str | Path, log: Log | None = None) -> list[str]:
    """Delete what a killed run left half-written: temp files of dead writers (all of them
    when this process holds the directory's lock) and window files that cannot be read
    (truncated: that window is recomputed). Returns the names removed."""
    say = log or (lambda msg: None)
    run_dir = Path(run_dir)
    held = is_held(run_dir)
    removed = []
    for tmp in [*run_dir.glob("*.tmp"), *run_dir.glob("windows/*.tmp")]:
        m = _TMP_PID.match(tmp.name)
        if held or (m is not None and not _pid_alive(int(m.group(1)))):
            tmp.unlink(missing_ok=True)
            removed.append(tmp.name)
    if removed:
        say(f"{run_dir}: removed {len(removed)} half-written temp file(s) of an interrupted run")
    for path in sorted((run_dir / "windows").glob("*.parquet")):
        try:
            cols = pl.read_parquet(path).columns
        except Exception as exc:  # polars/arrow raise several kinds for a damaged file
            problem = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        else:
            missing = [c for c in WINDOW_COLUMNS if c not in cols]
            if not missing:
                continue
            problem = f"missing columns {missing}"
        path.unlink(missing_ok=True)
        removed.append(f"windows/{path.name}")
        say(f"{path}: unreadable window file ({problem}); recomputing that window")
    run_json = run_dir / "run.json"
    if run_json.exists():
        try:
            ok = isinstance(json.loads(run_json.read_text(encoding="utf-8")), dict)
        except (OSError, ValueError):
            ok = False
        if not ok:
            run_json.unlink(missing_ok=True)
            removed.append("run.json")
            say(f"{run_json}: unreadable (half-written); it is written again")
    return removed


def prepare_run_dir(
    run_dir: str | Path,
    cfg_hash: str,
    fresh: bool = False,
    data_files: Sequence[str | Path] | None = None,
    log: Log | None = None,
) -> None:
    """Make RUN_DIR ready for (a resume of) this run, before any work.

    Half-written files are removed (`remove_partial_files`). With `data_files`, the resume key
    (config hash + data fingerprint, `runkey`) must match the one the finished windows were
    computed under, else a one-line ConfigError asks for `--fresh`, which discards them.
    Without, only the config hash in run.json is compared. Finished outputs (predictions,
    metrics, report) stay until the new ones replace them.
    """
    say = log or (lambda msg: None)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "windows").mkdir(exist_ok=True)
    remove_partial_files(run_dir, say)
    finished = sorted((run_dir / "windows").glob("*.parquet"))
    if data_files is not None:
        key, discard = check_resume_key(run_dir, cfg_hash, data_files, len(finished), fresh, say)
        if discard:
            for p in finished:
                p.unlink()
            (run_dir / "run.json").unlink(missing_ok=True)
        write_inputs(run_dir, key)
        return
    meta_path = run_dir / "run.json"
    if meta_path.exists():
        old = json.loads(meta_path.read_text()).get("config_hash")
        if old != cfg_hash and finished:
            if not fresh:
                raise ConfigError(
                    f"{run_dir}: this run directory holds a run of a different config "
                    f"(hash {old} vs {cfg_hash}); use another --out or --fresh to discard it"
                )
            say(f"--fresh: the config changed; discarding {len(finished)} finished windows")
            for p in finished:
                p.unlink()


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


def window_path(run_dir: str | Path, k: int) -> Path:
    """RUN_DIR/windows/<k>.parquet."""
    return Path(run_dir) / "windows" / f"{k}.parquet"


def collect_predictions(run_dir: str | Path, windows: Sequence[Window]) -> pl.DataFrame:
    """All window predictions in date order (datetime, instrument, score, label, ...)."""
    missing = [w.index for w in windows if not window_path(run_dir, w.index).exists()]
    if missing:
        raise DataError(f"{run_dir}: windows {missing[:10]} have no predictions yet")
    frames = [pl.read_parquet(window_path(run_dir, w.index)) for w in windows]
    return pl.concat(frames, how="vertical").sort(["datetime", "instrument"])
