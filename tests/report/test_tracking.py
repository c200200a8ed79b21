"""MLflow tracking: a local SQLite store under the run directory, and a real `mlflow server`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from seqalpha.errors import DataError
from seqalpha.report.html import write_report
from seqalpha.report.tracking import config_params, default_artifacts, log_run, metric_values

MLFLOW = Path(sys.executable).parent / "mlflow"


def _read(run_dir: Path) -> tuple[dict, dict]:
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return config, metrics


def test_flatten_config_and_metrics() -> None:
    params = config_params(
        {"model": {"name": "gru", "hidden": 64}, "seeds": [1, 2], "note": "x" * 7000}
    )
    assert params["model.name"] == "gru" and params["model.hidden"] == "64"
    assert params["seeds"] == "[1, 2]" and len(params["note"]) == 6000
    values = metric_values(
        {
            "ic": 0.05,
            "flag": True,
            "name": "x",
            "bad": float("nan"),
            "by_year": {"2021": {"AlphaRtn": 0.1, "TOV": 0.2}},
        }
    )
    assert values == {"ic": 0.05, "by_year.2021.AlphaRtn": 0.1, "by_year.2021.TOV": 0.2}


def test_log_run_to_local_store_under_run_dir(run_dir: Path) -> None:
    from mlflow.tracking import MlflowClient

    write_report(run_dir)
    config, metrics = _read(run_dir)
    run_id = log_run(run_dir, config, metrics, default_artifacts(run_dir))
    db = run_dir / "mlruns" / "mlflow.db"
    assert db.is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.name"] == "lstm"
    assert run.data.metrics["by_year.2022.AlphaRtn"] == pytest.approx(0.13)
    names = {f.path for f in client.list_artifacts(run_id)}
    assert {"report.html", "metrics.json", "config.yaml", "predictions.parquet"} <= names
    assert (run_dir / "mlruns" / "artifacts").is_dir()  # not ./mlruns of the cwd
    with pytest.raises(DataError, match="not found"):
        log_run(run_dir, config, metrics, [run_dir / "nope.html"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path: Path):
    """A real `mlflow server` on loopback with a SQLite backend; terminated in teardown."""
    if not MLFLOW.is_file():
        pytest.skip(f"{MLFLOW} not found")
    port = _free_port()
    with open(tmp_path / "server.log", "w") as log:
        proc = subprocess.Popen(
            [
                str(MLFLOW),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                f"sqlite:///{tmp_path / 'mlflow.db'}",
                "--artifacts-destination",
                str(tmp_path / "artifacts"),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={
                **os.environ,
                "MLFLOW_TRACKING_URI": "",
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            },
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        "mlflow server did not answer /health:\n"
                        + (tmp_path / "server.log").read_text()[-2000:]
                    )
                time.sleep(0.5)
            yield url
        finally:
            # the CLI starts uvicorn as a child: stop the whole process group this fixture started
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_log_run_against_a_real_mlflow_server(mlflow_server: str, tmp_path: Path, make_run) -> None:
    from mlflow.tracking import MlflowClient

    run_dir = make_run(tmp_path / "small", n_days=60, n_inst=12)
    write_report(run_dir)
    config, metrics = _read(run_dir)
    run_id = log_run(
        run_dir,
        config,
        metrics,
        default_artifacts(run_dir),
        tracking_uri=mlflow_server,
        experiment="seqalpha-test",
    )
    client = MlflowClient(tracking_uri=mlflow_server)
    exp = client.get_experiment_by_name("seqalpha-test")
    assert exp is not None
    run = client.get_run(run_id)
    assert run.info.experiment_id == exp.experiment_id and run.info.status == "FINISHED"
    assert run.data.metrics["ic"] == pytest.approx(metrics["ic"])
    assert run.data.metrics["overall.AlphaSharpe"] == pytest.approx(1.55)
    assert run.data.params["walk_forward.train_days"] == "120"
    history = client.get_metric_history(run_id, "by_year.2021.AlphaRtn")
    assert [m.value for m in history] == [pytest.approx(0.12)]
    arts = {f.path: f.file_size for f in client.list_artifacts(run_id)}
    assert arts["report.html"] == (run_dir / "report.html").stat().st_size
    assert not (run_dir / "mlruns").exists()  # nothing written to the local store
