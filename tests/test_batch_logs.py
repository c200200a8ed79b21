"""Logs of a batch job: with stderr not a terminal, `seqalpha train/run --log-file` writes plain
stage, window and epoch lines (k/n, train loss, valid metric, elapsed, ETA)."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.logs import PROGRESS, configure_logging, eta, fmt_seconds, get_logger

EPOCHS = 3


def write_config(path: Path, market: Path) -> Path:
    """A tiny MLP that always runs every epoch (patience > epochs), over rolling windows."""
    raw = {
        "data": {"dir": str(market), "universe": "market", "benchmark": "SYN_INDEX"},
        "features": {
            "library": "none",
            "extra": {"ret1": "$close/Ref($close,1)-1", "ret5": "$close/Ref($close,5)-1"},
        },
        "labels": {"horizons": [1], "offset": 1},
        "processors": {
            "features": [{"name": "cs_zscore"}, {"name": "fillna"}],
            "labels": [{"name": "drop_missing_label"}, {"name": "cs_zscore"}],
        },
        "model": {
            "name": "mlp",
            "params": {"epochs": EPOCHS, "patience": EPOCHS + 1, "threads": 1},
        },
        "walkforward": {"schedule": "rolling", "step": 40, "train_days": 60, "valid_days": 5},
    }
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def train_log(synth_market: Path, tmp_path_factory) -> tuple[Path, Path, str]:
    tmp = tmp_path_factory.mktemp("logs")
    cfg = write_config(tmp / "mlp.yaml", synth_market)
    run, log_file = tmp / "run", tmp / "logs" / "train.log"
    res = CliRunner().invoke(
        app, ["train", str(cfg), "--out", str(run), "--log-file", str(log_file)]
    )
    assert res.exit_code == 0, res.output
    return run, log_file, res.output


def test_the_log_file_has_one_epoch_line_per_epoch_of_every_window(train_log):
    run, log_file, _ = train_log
    n_windows = len(json.loads((run / "run.json").read_text())["windows"])
    lines = log_file.read_text().splitlines()
    epochs = [ln for ln in lines if re.search(r"epoch \d+/\d+", ln)]
    assert n_windows >= 2
    assert len(epochs) == EPOCHS * n_windows
    for k in range(1, EPOCHS + 1):
        assert sum(f"epoch {k}/{EPOCHS} " in ln for ln in epochs) == n_windows
    pattern = r"epoch \d/3  train loss -?\d+\.\d{4}  valid_icir -?\d+\.\d{4}  elapsed \S+  ETA \S+$"
    assert all(re.search(pattern, ln) for ln in epochs), epochs[:3]
    assert all(" INFO seqalpha.train: " in ln for ln in epochs)


def test_the_log_file_counts_windows_and_times_the_stages(train_log):
    run, log_file, _ = train_log
    n_windows = len(json.loads((run / "run.json").read_text())["windows"])
    text = log_file.read_text()
    windows = re.findall(r"window (\d+) of (\d+) done \(window (\d+)\)  elapsed \S+  ETA \S+", text)
    assert [int(w[0]) for w in windows] == list(range(1, n_windows + 1))
    assert {int(w[1]) for w in windows} == {n_windows}
    assert sorted(int(w[2]) for w in windows) == list(range(n_windows))
    assert f"walk-forward: {n_windows} windows x 1 seeds: 0 resumed, {n_windows} to train" in text
    for name in ("inputs", "walk-forward"):
        assert f"stage {name}: start" in text
        assert re.search(rf"stage {name}: done in \d+\.\d+s", text)
    assert "test IC " in text  # the orchestrator's own messages go to the file too


def test_stderr_of_a_batch_job_shows_the_same_lines_with_timestamps(train_log):
    _, log_file, output = train_log
    epochs = [ln for ln in output.splitlines() if re.search(r"epoch \d+/\d+", ln)]
    n_file = sum(bool(re.search(r"epoch \d+/\d+", ln)) for ln in log_file.open())
    assert len(epochs) == n_file
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d epoch", ln) for ln in epochs)


def test_a_resumed_run_appends_and_says_what_it_resumed(synth_market, train_log):
    run, log_file, _ = train_log
    cfg = run.parent / "mlp.yaml"
    before = log_file.read_text()
    res = CliRunner().invoke(
        app, ["train", str(cfg), "--out", str(run), "--log-file", str(log_file)]
    )
    assert res.exit_code == 0, res.output
    added = log_file.read_text()[len(before) :]
    n_windows = len(json.loads((run / "run.json").read_text())["windows"])
    assert f"{n_windows} resumed, 0 to train" in added
    assert "epoch 1/" not in added


def test_a_terminal_drops_lines_a_progress_bar_shows():
    shown: list[str] = []
    with configure_logging(terminal=True, echo=shown.append):
        get_logger("train").info("epoch 1/2 (bar shows it)", extra=PROGRESS)
        get_logger("train").info("epoch 2/2 (no bar)")
        get_logger("pipeline").info("stage report: start")
    assert shown == ["epoch 2/2 (no bar)", "stage report: start"]
    assert not logging.getLogger("seqalpha").handlers  # removed on exit


def test_a_batch_stream_gets_timestamped_lines_and_a_bad_log_file_is_one_line(tmp_path):
    stream = io.StringIO()
    with configure_logging(stream=stream):
        get_logger("train").info("epoch 1/2", extra=PROGRESS)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d epoch 1/2\n", stream.getvalue())
    blocker = tmp_path / "file"
    blocker.write_text("")
    from seqalpha.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--log-file .*file/x\.log: cannot write"):
        with configure_logging(blocker / "x.log", stream=io.StringIO()):
            pass


def test_eta_and_durations():
    assert eta(10.0, 2, 5) == pytest.approx(15.0)
    assert eta(10.0, 0, 5) == 0.0 and eta(10.0, 5, 5) == 0.0
    assert [fmt_seconds(s) for s in (3.21, 65, 3725)] == ["3.2s", "1m05s", "1h02m"]


def test_the_cli_turns_an_unwritable_log_file_into_an_error_line(synth_market, tmp_path):
    cfg = write_config(tmp_path / "mlp.yaml", synth_market)
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = CliRunner().invoke(
        app,
        ["train", str(cfg), "--out", str(tmp_path / "run"), "--log-file", str(blocker / "a.log")],
    )
    assert res.exit_code == 2
    assert "error: --log-file" in res.output and "cannot write" in res.output


def test_on_a_terminal_the_epoch_bar_runs_and_its_lines_are_marked_progress(monkeypatch, caplog):
    import sys

    from seqalpha.dataset.toy import toy_sample_set
    from seqalpha.models import create_model

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # the loop shows its rich bar
    data = toy_sample_set(T=40, N=20, signal="linear", seed=5)
    model = create_model("mlp", epochs=3, patience=5, threads=1, progress=True)
    with caplog.at_level(logging.INFO, logger="seqalpha"):
        model.fit(data.with_rows(0, 30), data.with_rows(30, 40))
    epochs = [r for r in caplog.records if r.name == "seqalpha.train"]
    assert [r.getMessage().split()[1] for r in epochs] == ["1/3", "2/3", "3/3"]
    assert all(getattr(r, "progress", False) for r in epochs)


def test_a_real_batch_process_prints_timestamped_epoch_lines(synth_market, tmp_path):
    import subprocess
    import sys

    cfg = write_config(tmp_path / "mlp.yaml", synth_market)
    done = subprocess.run(
        [sys.executable, "-m", "seqalpha.cli", "train", str(cfg), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    n_windows = len(json.loads((tmp_path / "run" / "run.json").read_text())["windows"])
    epochs = re.findall(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d epoch (\d)/3 ", done.stderr, re.M)
    assert epochs == ["1", "2", "3"] * n_windows
    assert "\x1b[" not in done.stderr  # no terminal control codes in a batch log
