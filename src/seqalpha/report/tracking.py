"""Experiment tracking: one MLflow run per seqalpha run (params, metrics, artifacts).

Default store: a SQLite database under the run directory (`sqlite:///RUN_DIR/mlruns/mlflow.db`,
artifacts in `RUN_DIR/mlruns/artifacts`); MLflow 3 refuses its plain file store.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from seqalpha.errors import ConfigError, DataError

MAX_PARAM_VALUE = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
PARAM_BATCH = 100
METRIC_BATCH = 1000


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict -> {"a.b.c": leaf}; lists stay leaves."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def config_params(config: dict[str, Any]) -> dict[str, str]:
    """Flattened config as MLflow params: strings, lists as JSON, long values truncated."""
    params = {}
    for key, value in flatten(config).items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > MAX_PARAM_VALUE:
            text = text[: MAX_PARAM_VALUE - 3] + "..."
        params[key] = text
    return params


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def metric_values(metrics: dict[str, Any]) -> dict[str, float]:
    """Flat finite numeric metrics: top-level ones by name, nested ones as `a.b.c` (by_year too)."""
    out = {}
    for key, value in flatten(metrics).items():
        num = _number(value)
        if num is not None:
            out[key] = num
    return out


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def default_tracking_uri(run_dir: Path | str) -> str:
    """The local store of a run: `sqlite:///<abs RUN_DIR>/mlruns/mlflow.db`."""
    store = Path(run_dir).resolve() / "mlruns"
    store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


def log_run(
    run_dir: Path | str,
    config: dict[str, Any],
    metrics: dict[str, Any],
    artifacts: list[Path],
    tracking_uri: str | None = None,
    experiment: str = "seqalpha",
) -> str:
    """Log a run's flattened config, numeric metrics and artifact files to MLflow; return run id."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    run_dir = Path(run_dir).resolve()
    if not run_dir.is_dir():
        raise DataError(f"run directory {run_dir} does not exist")
    if not isinstance(config, dict) or not isinstance(metrics, dict):
        raise ConfigError("log_run: config and metrics must be dicts")
    files = [Path(a) if Path(a).is_absolute() else run_dir / a for a in artifacts]
    absent = [str(f) for f in files if not f.exists()]
    if absent:
        raise DataError(f"log_run: artifact(s) not found: {absent}")
    local = tracking_uri is None
    uri = default_tracking_uri(run_dir) if local else tracking_uri
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is not None:
        exp_id = exp.experiment_id
    elif local:  # keep artifacts beside the database, not in the caller's working directory
        exp_id = client.create_experiment(
            experiment, artifact_location=(run_dir / "mlruns" / "artifacts").as_uri()
        )
    else:
        exp_id = client.create_experiment(experiment)
    tags = {"seqalpha.run_dir": str(run_dir), "mlflow.runName": run_dir.name}
    run = client.create_run(exp_id, tags=tags, run_name=run_dir.name)
    run_id = run.info.run_id
    try:
        params = [Param(k, v) for k, v in config_params(config).items()]
        for batch in _chunks(params, PARAM_BATCH):
            client.log_batch(run_id, params=batch)
        ts = int(run.info.start_time)
        values = [Metric(k, v, ts, 0) for k, v in metric_values(metrics).items()]
        for batch in _chunks(values, METRIC_BATCH):
            client.log_batch(run_id, metrics=batch)
        client.log_batch(run_id, tags=[RunTag("seqalpha.n_artifacts", str(len(files)))])
        for path in files:
            if path.is_dir():
                client.log_artifacts(run_id, str(path), artifact_path=path.name)
            else:
                client.log_artifact(run_id, str(path))
    except Exception:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    return run_id


def default_artifacts(run_dir: Path | str) -> list[Path]:
    """The standard run files that exist: report.html, metrics.json, config.yaml, predictions..."""
    names = (
        "report.html",
        "metrics.json",
        "config.yaml",
        "predictions.parquet",
        "returns.parquet",
        "provenance.json",
    )
    return [Path(run_dir) / n for n in names if (Path(run_dir) / n).is_file()]
