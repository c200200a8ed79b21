"""Hostile run directories, through the CLI on the small synthetic market: changed data needs
--fresh (never a silent reuse), a second live run is refused and a dead one's lock taken over,
half-written windows / temp files / MLflow stores are rebuilt, finished outputs are never
deleted before their replacement, and an unusable --out fails before any work."""

from __future__ import annotations

import fcntl
import io
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.report.tracking import store_problem
from seqalpha.train.runkey import INPUTS_NAME
from seqalpha.train.runlock import LOCK_NAME

pytestmark = pytest.mark.timeout(300)


def write_config(path: Path, market: Path, tracking: bool = False) -> Path:
    """A rolling linear walk-forward (5 windows) on `market`: fast and deterministic."""
    raw = {
        "data": {"dir": str(market), "universe": "market", "benchmark": "SYN_INDEX"},
        "features": {
            "library": "none",
            "extra": {"rev5": "-($close/Ref($close,5)-1)", "ret1": "$close/Ref($close,1)-1"},
        },
        "labels": {"horizons": [1], "offset": 1},
        "processors": {"features": [{"name": "cs_zscore"}, {"name": "fillna"}]},
        "model": {"name": "linear"},
        "walkforward": {"schedule": "rolling", "step": 20, "train_days": 60, "valid_days": 5},
        "portfolio": {"strategy": "topk_dropout", "topk": 10, "n_drop": 2},
        "tracking": {"enabled": tracking},
    }
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def cli(command: str, config: Path, out: Path, *extra: str):
    return CliRunner().invoke(app, [command, str(config), "--out", str(out), *extra])


def text(result) -> str:
    return " ".join(result.output.split())


def one_line_error(result, *needles: str) -> str:
    """Exit code 2 and exactly one `error: ...` line holding every needle."""
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert result.output.rstrip().endswith(errors[0]), "the error is the last line, no traceback"
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file under `root` (outside `skip`)."""
    out = {}
    for p in root.rglob("*"):
        if p.is_file() and (skip is None or not p.is_relative_to(skip)):
            st = p.stat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def assert_clean(run: Path) -> None:
    """Nothing half-written remains and the lock is released."""
    leftovers = [p.name for p in run.rglob("*.tmp")] + [p.name for p in run.rglob("*.tmp.*")]
    assert leftovers == []
    assert not (run / LOCK_NAME).exists()


def bytes_of(run: Path, *names: str) -> dict[str, bytes]:
    return {n: (run / n).read_bytes() for n in names}


@pytest.fixture(scope="module")
def trained(synth_market: Path, tmp_path_factory) -> tuple[Path, Path]:
    """A finished `seqalpha train` run directory (5 windows) and its config."""
    root = tmp_path_factory.mktemp("trained")
    cfg = write_config(root / "cfg.yaml", synth_market)
    run = root / "run"
    result = cli("train", cfg, run)
    assert result.exit_code == 0, result.output
    assert len(list((run / "windows").glob("*.parquet"))) == 5
    assert_clean(run)
    return cfg, run


@pytest.fixture
def run_copy(trained, tmp_path: Path) -> tuple[Path, Path]:
    cfg, run = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return cfg, copy


# ------------------------------------------------------------------ runs keyed on inputs


def test_changed_data_is_refused_then_fresh_restarts_cleanly(synth_market, tmp_path):
    market = tmp_path / "market"
    shutil.copytree(synth_market, market)
    cfg = write_config(tmp_path / "cfg.yaml", market)
    run = tmp_path / "run"
    assert cli("train", cfg, run).exit_code == 0
    finished = bytes_of(run, "predictions.parquet", "metrics.json")
    old_key = json.loads((run / INPUTS_NAME).read_text())

    close = sorted((market / "features").rglob("close.day.bin"))[3]
    raw = bytearray(close.read_bytes())
    raw[-2] ^= 0x01  # one float of one instrument changes
    close.write_bytes(bytes(raw))
    before = snapshot(tmp_path, skip=run)

    result = cli("train", cfg, run)
    one_line_error(result, "the data changed", "--fresh", "5 finished windows")
    assert bytes_of(run, "predictions.parquet", "metrics.json") == finished  # nothing deleted
    assert snapshot(tmp_path, skip=run) == before
    assert_clean(run)

    result = cli("train", cfg, run, "--fresh")
    assert result.exit_code == 0, result.output
    assert "--fresh: the data changed since" in text(result) and "5 trained, 0 resumed" in text(
        result
    )
    new_key = json.loads((run / INPUTS_NAME).read_text())
    assert new_key["data"]["sha256"] != old_key["data"]["sha256"]
    assert new_key["config_hash"] == old_key["config_hash"]
    assert_clean(run)


def test_resume_key_is_the_provenance_data_hash(synth_market, tmp_path):
    cfg = write_config(tmp_path / "cfg.yaml", synth_market)
    run = tmp_path / "run"
    result = cli("run", cfg, run)
    assert result.exit_code == 0, result.output
    key = json.loads((run / INPUTS_NAME).read_text())
    prov = json.loads((run / "provenance.json").read_text())
    assert key["data"]["sha256"] == prov["data"]["sha256"]
    assert key["data"]["n_files"] == prov["data"]["n_files"] > 0
    assert_clean(run)


def test_changed_config_is_refused_without_fresh(run_copy):
    cfg, run = run_copy
    result = cli("train", cfg, run, "--set", "model.params.alpha=0.5")
    one_line_error(result, "different config", "--fresh")
    assert len(list((run / "windows").glob("*.parquet"))) == 5


def test_unreadable_resume_record_needs_fresh(run_copy):
    cfg, run = run_copy
    (run / INPUTS_NAME).write_text('{"config_hash": "ab')  # cut mid-write
    one_line_error(cli("train", cfg, run), "inputs.json is unreadable", "--fresh")
    result = cli("train", cfg, run, "--fresh")
    assert result.exit_code == 0, result.output
    assert "5 trained" in text(result)


# ------------------------------------------------------------------------ partial files


def test_truncated_window_is_recomputed_and_nothing_finished_is_lost(run_copy):
    cfg, run = run_copy
    before = pl.read_parquet(run / "predictions.parquet")
    window = run / "windows" / "2.parquet"
    window.write_bytes(window.read_bytes()[:100])  # killed mid-write (without the atomic rename)
    (run / ".metrics.json.999999999.tmp").write_text('{"ic": 0.')
    (run / "windows" / ".3.parquet.999999999.tmp").write_bytes(b"PAR1")
    result = cli("train", cfg, run)
    assert result.exit_code == 0, result.output
    out = text(result)
    assert "unreadable window file" in out and "recomputing that window" in out
    assert "1 trained, 4 resumed" in out
    assert pl.read_parquet(run / "predictions.parquet").equals(before)
    assert_clean(run)


def test_truncated_window_with_changed_config_keeps_the_finished_outputs(run_copy):
    cfg, run = run_copy
    finished = bytes_of(run, "predictions.parquet", "metrics.json")
    window = run / "windows" / "0.parquet"
    window.write_bytes(window.read_bytes()[:50])
    result = cli("train", cfg, run, "--set", "model.params.alpha=0.5")
    one_line_error(result, "4 finished windows cannot be reused")
    assert bytes_of(run, "predictions.parquet", "metrics.json") == finished


def garbage_db(run: Path) -> None:
    (run / "mlruns").mkdir(parents=True, exist_ok=True)
    (run / "mlruns" / "mlflow.db").write_bytes(b"SQLite format 3\x00" + os.urandom(300))


def half_created_db(run: Path) -> None:
    """What a kill during MLflow's table creation leaves: some tables, no schema version."""
    (run / "mlruns").mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(run / "mlruns" / "mlflow.db")
    con.execute("CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name TEXT)")
    con.commit()
    con.close()


@pytest.mark.parametrize("damage", [garbage_db, half_created_db])
def test_broken_mlflow_store_is_moved_aside_and_recreated(synth_market, tmp_path, damage):
    cfg = write_config(tmp_path / "cfg.yaml", synth_market, tracking=True)
    run = tmp_path / "run"
    damage(run)
    broken = (run / "mlruns" / "mlflow.db").read_bytes()
    result = cli("run", cfg, run)
    assert result.exit_code == 0, result.output
    assert "MLflow store unusable" in text(result) and "mlruns.broken-" in text(result)
    aside = list(run.glob("mlruns.broken-*"))
    assert len(aside) == 1 and (aside[0] / "mlflow.db").read_bytes() == broken
    assert store_problem(run) is None
    assert "MLflow run" in text(result)
    assert_clean(run)


# ------------------------------------------------------------------------------- the lock


def hold_lock(run: Path, pid: int | None = None) -> object:
    """Take RUN_DIR/.lock as another seqalpha process would: flock + identity."""
    fh = open(run / LOCK_NAME, "a+", encoding="utf-8")
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    fh.truncate(0)
    fh.write(json.dumps(identity(pid or os.getpid())))
    fh.flush()
    return fh


def identity(pid: int) -> dict:
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 1))
    return {"pid": pid, "host": socket.gethostname(), "started_utc": now, "command": "seqalpha"}


def test_second_live_run_is_refused_naming_the_holder(run_copy):
    cfg, run = run_copy
    before = snapshot(run)
    fh = hold_lock(run)
    try:
        result = cli("train", cfg, run)
        one_line_error(result, "in use by", f"pid {os.getpid()}", socket.gethostname())
        assert snapshot(run, skip=run / LOCK_NAME) == {
            k: v for k, v in before.items() if k != LOCK_NAME
        }
    finally:
        fh.close()


def test_live_pid_in_the_lock_file_is_refused_even_without_flock(run_copy):
    cfg, run = run_copy
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        (run / LOCK_NAME).write_text(json.dumps(identity(sleeper.pid)))
        one_line_error(cli("train", cfg, run), "in use by", f"pid {sleeper.pid}")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert (run / LOCK_NAME).exists()  # the refused run leaves the holder's lock alone


def test_stale_lock_of_a_dead_pid_is_taken_over(run_copy):
    cfg, run = run_copy
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run / LOCK_NAME).write_text(json.dumps(identity(dead.pid)))
    result = cli("train", cfg, run)
    assert result.exit_code == 0, result.output
    assert f"taking over the stale lock of pid {dead.pid}" in text(result)
    assert "0 trained, 5 resumed" in text(result)
    assert_clean(run)


# ----------------------------------------------------------------------- unusable --out


def test_out_that_is_a_file_fails_before_any_work(trained, tmp_path):
    cfg, _ = trained
    out = tmp_path / "out.txt"
    out.write_text("keep me")
    before = snapshot(tmp_path)
    one_line_error(cli("run", cfg, out), "--out", "is a file")
    assert out.read_text() == "keep me" and snapshot(tmp_path) == before


def test_out_under_a_file_fails_before_any_work(trained, tmp_path):
    cfg, _ = trained
    (tmp_path / "f").write_text("x")
    before = snapshot(tmp_path)
    one_line_error(cli("train", cfg, tmp_path / "f" / "run"), "--out")
    assert snapshot(tmp_path) == before


def test_unwritable_out_fails_before_any_work(trained, tmp_path):
    cfg, _ = trained
    if os.geteuid() == 0:  # root writes through permission bits: use a read-only file system
        out = Path("/sys")
        if not out.is_dir():
            pytest.skip("no read-only directory to test with")
    else:
        out = tmp_path / "ro"
        out.mkdir()
        out.chmod(0o500)
    try:
        one_line_error(cli("run", cfg, out), "--out", "not writable")
    finally:
        if out != Path("/sys"):
            out.chmod(0o700)


def test_truncated_outputs_are_rebuilt_by_a_rerun(run_copy):
    cfg, run = run_copy
    good = bytes_of(run, "predictions.parquet", "metrics.json")
    for name in good:
        (run / name).write_bytes(good[name][:40])  # e.g. copied or synced half-way
    result = cli("train", cfg, run)
    assert result.exit_code == 0, result.output
    assert "0 trained, 5 resumed" in text(result)
    before = pl.read_parquet(io.BytesIO(good["predictions.parquet"]))
    assert pl.read_parquet(run / "predictions.parquet").equals(before)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["ic"] == json.loads(good["metrics.json"])["ic"]
    assert_clean(run)


def test_two_real_runs_into_one_directory(synth_market, tmp_path):
    """A second `seqalpha train` started while the first is training is refused at once."""
    raw = yaml.safe_load(write_config(tmp_path / "cfg.yaml", synth_market).read_text())
    raw["model"] = {
        "name": "lgbm",
        "params": {"n_estimators": 200, "early_stopping_rounds": 200, "num_threads": 1},
    }
    raw["walkforward"] = {"schedule": "rolling", "step": 5, "train_days": 40, "valid_days": 3}
    cfg = tmp_path / "slow.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    seqalpha = Path(sys.executable).parent / "seqalpha"
    first = subprocess.Popen(
        [str(seqalpha), "train", str(cfg), "--out", str(run)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / "windows").is_dir() and first.poll() is None:
            assert time.monotonic() < deadline, "the first run did not start"
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before the second started"
        result = cli("train", cfg, run)
        one_line_error(result, "in use by", f"pid {first.pid}")
    finally:
        if first.poll() is None:
            os.killpg(first.pid, 9)
        first.wait(timeout=30)


@pytest.mark.parametrize("content", ['{"config_hash": "ab', "[1, 2]"])
def test_damaged_run_record_is_rewritten(run_copy, content):
    cfg, run = run_copy
    (run / "run.json").write_text(content)
    result = cli("train", cfg, run)
    assert result.exit_code == 0, result.output
    assert "run.json: unreadable" in text(result) and "0 trained, 5 resumed" in text(result)
    assert len(json.loads((run / "run.json").read_text())["windows"]) == 5
    assert_clean(run)
