"""Experiment tracking: one MLflow run per seqalpha run (params, metrics, artifacts).

Default store: a SQLite database under the run directory (`sqlite:///RUN_DIR/mlruns/mlflow.db`,
artifacts in `RUN_DIR/mlruns/artifacts`); MLflow 3 refuses its plain file store. A local store
that cannot be opened (a run killed while MLflow created its database) is moved aside to
`RUN_DIR/mlruns.broken-<UTC time>` and created again, with a message.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import sqlite3
from collections.abc import Callable, Iterator
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


def store_problem(run_dir: Path | str) -> str | None:
    """Why the local store `RUN_DIR/mlruns/mlflow.db` cannot be used (None when absent or fine):
    not a database, damaged, or a schema whose creation never finished."""
    db = Path(run_dir) / "mlruns" / "mlflow.db"
    if not db.exists():
        return None
    if db.stat().st_size == 0:
        return "empty database file (its creation was interrupted)"
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            check = con.execute("PRAGMA quick_check").fetchone()
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
            version = (
                con.execute("SELECT version_num FROM alembic_version").fetchone()
                if "alembic_version" in tables
                else None
            )
        finally:
            con.close()
    except sqlite3.Error as exc:
        return f"not a readable SQLite database ({exc})"
    if not check or check[0] != "ok":
        return f"damaged database ({check[0] if check else 'no integrity result'})"
    if version is None or "experiments" not in tables:
        return "incomplete MLflow schema (its creation was interrupted)"
    return None


def move_store_aside(run_dir: Path | str, reason: str, log: Callable[[str], None]) -> Path:
    """Rename RUN_DIR/mlruns to `mlruns.broken-<UTC time>` (kept for inspection); say so."""
    store = Path(run_dir) / "mlruns"
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    aside = store.with_name(f"mlruns.broken-{stamp}")
    store.rename(aside)
    log(f"{store}: MLflow store unusable ({reason}); moved to {aside.name}, creating a new one")
    return aside


def _open_experiment(client: Any, experiment: str, run_dir: Path, local: bool) -> str:
    exp = client.get_experiment_by_name(experiment)
    if exp is not None:
        return exp.experiment_id
    if local:  # keep artifacts beside the database, not in the caller's working directory
        return client.create_experiment(
            experiment, artifact_location=(run_dir / "mlruns" / "artifacts").as_uri()
        )
    return client.create_experiment(experiment)


def log_run(
    run_dir: Path | str,
    config: dict[str, Any],
    metrics: dict[str, Any],
    artifacts: list[Path],
    tracking_uri: str | None = None,
    experiment: str = "seqalpha",
    log: Callable[[str], None] | None = None,
) -> str:
    """Log a run's flattened config, numeric metrics and artifact files to MLflow; return run id.

    A broken local store is moved aside and recreated (see `store_problem`)."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    say = log or (lambda msg: None)
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
    if local and (problem := store_problem(run_dir)) is not None:
        move_store_aside(run_dir, problem, say)
    uri = default_tracking_uri(run_dir) if local else tracking_uri
    try:
        client = MlflowClient(tracking_uri=uri)
        exp_id = _open_experiment(client, experiment, run_dir, local)
    except Exception as exc:  # MLflow/SQLAlchemy raise many kinds for a store it cannot open
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        if not local:
            raise DataError(f"tracking.tracking_uri {uri}: cannot open ({reason})") from None
        move_store_aside(run_dir, reason, say)
        try:
            client = MlflowClient(tracking_uri=default_tracking_uri(run_dir))
            exp_id = _open_experiment(client, experiment, run_dir, local)
        except Exception as exc2:
            reason = " ".join(str(exc2).split())[:200] or type(exc2).__name__
            raise DataError(
                f"{run_dir / 'mlruns'}: cannot create an MLflow store ({reason})"
            ) from None
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
