"""Resume: `seqalpha train` killed after its first window file, then re-run, gives exactly the
predictions of an uninterrupted run, and a killed run never looks complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml

from seqalpha.config import config_hash, load_config
from seqalpha.pipeline import train_command
from seqalpha.train.rundir import prepare_run_dir

SEQALPHA = Path(sys.executable).parent / "seqalpha"
pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


@pytest.fixture(scope="module")
def config_file(tmp_path_factory, synth_market) -> Path:
    """A rolling lgbm config on the session's small synthetic market with ~20 windows."""
    root = tmp_path_factory.mktemp("resume")
    market = synth_market
    raw = {
        "data": {"dir": str(market), "universe": "market"},
        "features": {
            "library": "none",
            "extra": {
                "r1": "$close/Ref($close,1)-1",
                "r5": "$close/Ref($close,5)-1",
                "v5": "Std($close/Ref($close,1)-1, 5)",
            },
        },
        "processors": {
            "features": [{"name": "robust_zscore"}, {"name": "fillna"}],
            "labels": [{"name": "cs_zscore"}],
        },
        # enough trees that a window takes a noticeable moment, so the kill lands mid-run
        "model": {
            "name": "lgbm",
            "params": {
                "n_estimators": 150,
                "num_leaves": 15,
                "early_stopping_rounds": 150,
                "num_threads": 1,
            },
        },
        "walkforward": {"schedule": "rolling", "step": 5, "train_days": 40, "valid_days": 3},
    }
    path = root / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def kill_after_first_window(config: Path, run: Path, timeout: float = 180.0) -> int:
    """Start `seqalpha train` in its own process group, SIGKILL it once windows/0.parquet
    exists; returns how many window files it had finished."""
    proc = subprocess.Popen(
        [str(SEQALPHA), "train", str(config), "--out", str(run)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    first = run / "windows" / "0.parquet"
    deadline = time.monotonic() + timeout
    try:
        while not first.exists():
            if proc.poll() is not None:
                raise AssertionError(
                    f"seqalpha train ended early ({proc.returncode}): "
                    f"{proc.stderr.read().decode()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError("no window finished in time")
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    return len(list((run / "windows").glob("*.parquet")))


def test_killed_run_resumes_to_identical_predictions(config_file: Path, tmp_path: Path):
    full = train_command(config_file, tmp_path / "full")
    n = full["n_windows"]
    assert n >= 10

    run = tmp_path / "killed"
    done = kill_after_first_window(config_file, run)
    assert 1 <= done < n, f"the kill should land mid-run ({done} of {n} windows)"
    assert not (run / "predictions.parquet").exists() and not (run / "metrics.json").exists()

    resumed = train_command(config_file, run)
    assert (
        resumed["windows_resumed"] >= done
        and resumed["windows_trained"] == n - resumed["windows_resumed"]
    )
    a = pl.read_parquet(tmp_path / "full" / "predictions.parquet")
    b = pl.read_parquet(run / "predictions.parquet")
    assert a.equals(b)
    assert resumed["ic"] == full["ic"] and resumed["rank_icir"] == full["rank_icir"]


def test_preparing_a_complete_run_keeps_its_outputs_until_replaced(
    config_file: Path, tmp_path: Path
):
    run = tmp_path / "r"
    run.mkdir()
    cfg = load_config(config_file)
    prepare_run_dir(run, config_hash(cfg))
    (run / "run.json").write_text(json.dumps({"config_hash": config_hash(cfg)}))
    (run / "metrics.json").write_text("{}")
    (run / "predictions.parquet").write_bytes(b"old")
    prepare_run_dir(run, config_hash(cfg))  # e.g. a re-run of a finished run: resumed
    assert (run / "metrics.json").read_text() == "{}"
    assert (run / "predictions.parquet").read_bytes() == b"old"
