"""Reading a run directory (the contract between train/backtest and the report).

Layout: config.yaml, predictions.parquet, returns.parquet, positions.parquet, metrics.json,
optionally ic.parquet and quantiles.parquet. Every piece is optional here; the report says
what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from seqalpha.errors import DataError

PREDICTION_COLUMNS = ("datetime", "instrument", "score", "label")
RETURN_COLUMNS = (
    "datetime",
    "return",
    "return_nc",
    "benchmark",
    "excess",
    "excess_nc",
    "turnover",
    "cost",
    "value",
)
POSITION_COLUMNS = ("datetime", "instrument", "shares", "weight", "price")
IC_COLUMNS = ("datetime", "ic", "rank_ic")


@dataclass
class RunFiles:
    """What a run directory holds; a field is None when its file is absent."""

    run_dir: Path
    config_text: str | None = None
    config: dict[str, Any] | None = None
    config_error: str | None = None
    predictions: pl.DataFrame | None = None
    returns: pl.DataFrame | None = None
    positions: pl.DataFrame | None = None
    metrics: dict[str, Any] | None = None
    ic: pl.DataFrame | None = None
    quantiles: pl.DataFrame | None = None
    present: dict[str, bool] = field(default_factory=dict)


def _dates(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Cast the `datetime` column to pl.Date (accepts Date, Datetime or ISO strings)."""
    col = frame["datetime"]
    try:
        if col.dtype == pl.Utf8:
            col = col.str.to_date(strict=True)
        elif isinstance(col.dtype, pl.Datetime):
            col = col.dt.date()
        elif col.dtype != pl.Date:
            raise DataError(f"{path}: column 'datetime' has type {col.dtype}, expected a date")
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{path}: column 'datetime' does not parse as dates: {exc}") from exc
    if col.null_count():
        raise DataError(f"{path}: column 'datetime' has {col.null_count()} missing values")
    return frame.with_columns(col.alias("datetime"))


def read_frame(path: Path, required: tuple[str, ...]) -> pl.DataFrame:
    """Read a run parquet file, check its columns, cast `datetime` to dates and sort by it."""
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # pyarrow/polars raise many kinds on a corrupt file
        raise DataError(f"{path}: cannot read parquet: {exc}") from exc
    return check_frame(frame, required, path)


def check_frame(frame: pl.DataFrame, required: tuple[str, ...], path: Path) -> pl.DataFrame:
    """A run table as the report reads it: columns checked, `datetime` as dates, numbers as
    float64, sorted by date (`path` names it in errors)."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; has {frame.columns}")
    frame = _dates(frame, path)
    numeric = [c for c in frame.columns if c not in ("datetime", "instrument")]
    bad = [c for c in numeric if not frame[c].dtype.is_numeric()]
    if bad:
        raise DataError(f"{path}: column(s) {bad} are not numeric")
    if numeric:
        frame = frame.with_columns([pl.col(c).cast(pl.Float64) for c in numeric])
    return frame.sort("datetime", maintain_order=True)


def read_metrics(path: Path) -> dict[str, Any]:
    """Parse metrics.json; it must be a JSON object (by_year/overall are objects when given)."""
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(metrics, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(metrics).__name__}")
    for key in ("by_year", "overall"):
        if key in metrics and not isinstance(metrics[key], dict):
            raise DataError(f"{path}: key '{key}' must be an object")
    for year, row in metrics.get("by_year", {}).items():
        if not isinstance(row, dict):
            raise DataError(f"{path}: by_year['{year}'] must be an object")
    return metrics


# The files whose presence the report lists, in its order.
PRESENT_ORDER = (
    "config.yaml",
    "predictions.parquet",
    "returns.parquet",
    "positions.parquet",
    "metrics.json",
    "ic.parquet",
    "quantiles.parquet",
)

# Run tables the report reads: attribute -> (file name, required columns).
TABLES = {
    "predictions": ("predictions.parquet", PREDICTION_COLUMNS),
    "returns": ("returns.parquet", RETURN_COLUMNS),
    "positions": ("positions.parquet", POSITION_COLUMNS),
    "ic": ("ic.parquet", IC_COLUMNS),
    "quantiles": ("quantiles.parquet", ("datetime",)),
}


def run_in_memory(
    run_dir: Path | str,
    config_text: str,
    metrics: dict[str, Any],
    **tables: pl.DataFrame,
) -> RunFiles:
    """The RunFiles of a run that is still in memory (the pipeline's objects, nothing read back):
    the same checks and casts as `load_run` applies to the files."""
    run_dir = Path(run_dir)
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise DataError(f"run tables {unknown} are not report inputs; known: {sorted(TABLES)}")
    run = RunFiles(run_dir=run_dir, config_text=config_text, metrics=metrics)
    loaded = yaml.safe_load(config_text)
    run.config = loaded if isinstance(loaded, dict) else None
    for attr, frame in tables.items():
        name, cols = TABLES[attr]
        setattr(run, attr, check_frame(frame, cols, run_dir / name))
    given = {"config.yaml", "metrics.json", *(TABLES[a][0] for a in tables)}
    run.present = {name: name in given for name in PRESENT_ORDER}
    return run


def load_run(run_dir: Path | str) -> RunFiles:
    """Load every known artifact of a run directory that exists."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run directory {run_dir} does not exist")
    run = RunFiles(run_dir=run_dir)
    cfg = run_dir / "config.yaml"
    if cfg.is_file():
        run.config_text = cfg.read_text(encoding="utf-8")
        try:
            loaded = yaml.safe_load(run.config_text)
            run.config = loaded if isinstance(loaded, dict) else None
            if run.config is None:
                run.config_error = f"top level is {type(loaded).__name__}, not a mapping"
        except yaml.YAMLError as exc:
            run.config_error = str(exc)
    for attr, (name, cols) in TABLES.items():
        path = run_dir / name
        if path.is_file():
            setattr(run, attr, read_frame(path, cols))
    if run.quantiles is not None:
        qcols = quantile_columns(run.quantiles)
        if not qcols:
            raise DataError(f"{run_dir / 'quantiles.parquet'}: no q1..qK columns")
    mpath = run_dir / "metrics.json"
    if mpath.is_file():
        run.metrics = read_metrics(mpath)
    run.present = {name: (run_dir / name).is_file() for name in PRESENT_ORDER}
    return run


def quantile_columns(frame: pl.DataFrame) -> list[str]:
    """The q1..qK columns of a quantiles frame, in numeric order."""
    cols = [c for c in frame.columns if len(c) > 1 and c[0] == "q" and c[1:].isdigit()]
    return sorted(cols, key=lambda c: int(c[1:]))


def date_array(frame: pl.DataFrame) -> np.ndarray:
    """The `datetime` column as datetime64[D] [T]."""
    return frame["datetime"].to_numpy().astype("datetime64[D]")
