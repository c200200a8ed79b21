"""Qlib round trip: Qlib predictions -> a seqalpha run directory; run predictions -> Qlib's shape.

Qlib's `SignalRecord` saves `pred.pkl`: a pandas DataFrame indexed by (datetime, instrument)
with one column `score` (and `label.pkl` the same way with the label). Imports read Parquet or
CSV (`datetime, instrument, score[, label]`, or such a frame with the MultiIndex kept by pandas);
a pickle is read only when explicitly allowed, because unpickling can execute arbitrary code.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from seqalpha.data.panel import Panel
from seqalpha.errors import ConfigError, DataError
from seqalpha.evaluate import signal_metrics
from seqalpha.jsonio import write_atomic, write_json_atomic, write_parquet_atomic
from seqalpha.report.rundir import read_frame

PICKLE_SUFFIXES = (".pkl", ".pickle")
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv",)
PICKLE_WARNING = (
    "reading a pickle can execute arbitrary code: --allow-pickle trusts {path} completely"
)
# Files a previous run may have left that would contradict the imported predictions.
RUN_ARTIFACTS = (
    "config.yaml",
    "run.json",
    "predictions.parquet",
    "ic.parquet",
    "quantiles.parquet",
    "returns.parquet",
    "positions.parquet",
    "trades.parquet",
    "metrics.json",
    "provenance.json",
    "report.html",
)

Warn = Callable[[str], None]


def _warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=3)


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def _from_pandas(obj: Any, path: Path) -> pl.DataFrame:
    """A pandas Series/DataFrame (Qlib's pred.pkl shape, or flat columns) -> a polars frame."""
    if isinstance(obj, pd.Series):
        obj = obj.to_frame("score" if obj.name is None else str(obj.name))
    if not isinstance(obj, pd.DataFrame):
        raise DataError(f"{path}: expected a pandas DataFrame or Series, got {type(obj).__name__}")
    if isinstance(obj.columns, pd.MultiIndex):
        raise DataError(f"{path}: multi-level columns {list(obj.columns)[:3]}; expected 'score'")
    names = [n for n in obj.index.names if n is not None]
    if names:
        clash = [n for n in names if n in obj.columns]
        if clash:
            raise DataError(f"{path}: {clash} is both an index level and a column")
        obj = obj.reset_index()
    obj.columns = [str(c) for c in obj.columns]
    try:
        return pl.from_pandas(obj)
    except Exception as exc:  # pyarrow raises several kinds on mixed object columns
        raise DataError(f"{path}: cannot convert the frame's columns: {exc}") from exc


def read_prediction_file(
    path: Path | str, allow_pickle: bool = False, warn: Warn | None = None
) -> pl.DataFrame:
    """Read a predictions file (Parquet, CSV, or with `allow_pickle` a pandas pickle) as is."""
    path = Path(path)
    suffix = _suffix(path)
    if suffix not in (*PICKLE_SUFFIXES, *PARQUET_SUFFIXES, *CSV_SUFFIXES):
        raise ConfigError(
            f"{path}: unknown predictions format {suffix or '(no suffix)'!r}; use .parquet, "
            f".csv, or a Qlib .pkl with --allow-pickle"
        )
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise ConfigError(
                f"{path}: a pickle can execute arbitrary code when read; convert it to parquet "
                f"(df.to_parquet) or pass --allow-pickle if you trust the file"
            )
        (warn or _warn)(PICKLE_WARNING.format(path=path))
        try:
            obj = pd.read_pickle(path)
        except Exception as exc:  # unpickling raises anything the pickle chooses
            raise DataError(f"{path}: cannot unpickle: {type(exc).__name__}: {exc}") from exc
        return _from_pandas(obj, path)
    try:
        if suffix in PARQUET_SUFFIXES:
            return pl.read_parquet(path)
        # codes such as 000001 must stay text (leading zeros)
        return pl.read_csv(
            path, infer_schema_length=10000, schema_overrides={"instrument": pl.Utf8}
        )
    except Exception as exc:  # polars/pyarrow raise many kinds on a bad file
        raise DataError(f"{path}: cannot read {suffix[1:]}: {exc}") from exc


def _date_column(col: pl.Series, path: Path) -> pl.Series:
    """datetime as pl.Date: from Date, midnight Datetime, or ISO strings."""
    try:
        if col.dtype == pl.Utf8:
            col = col.str.strip_chars().str.to_datetime(strict=True)
        if isinstance(col.dtype, pl.Datetime):
            if col.dtype.time_zone is not None:
                raise DataError(
                    f"{path}: column 'datetime' is time-zone aware ({col.dtype.time_zone}); "
                    f"expected naive trading dates"
                )
            intraday = col.is_not_null() & (col.dt.truncate("1d") != col)
            if intraday.any():
                bad = col.filter(intraday)[0]
                raise DataError(
                    f"{path}: column 'datetime' has times of day (e.g. {bad}); expected daily dates"
                )
            col = col.dt.date()
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{path}: column 'datetime' does not parse as dates: {exc}") from exc
    if col.dtype != pl.Date:
        raise DataError(f"{path}: column 'datetime' has type {col.dtype}, expected dates")
    if col.null_count():
        raise DataError(f"{path}: column 'datetime' has {col.null_count()} missing values")
    return col.alias("datetime")


def _numeric_column(frame: pl.DataFrame, name: str, path: Path, allow_nan: bool) -> pl.Series:
    col = frame[name]
    if not col.dtype.is_numeric() or col.dtype == pl.Boolean:
        raise DataError(f"{path}: column {name!r} has type {col.dtype}, expected numbers")
    col = col.cast(pl.Float64)
    inf = col.is_infinite().fill_null(False)
    if inf.any():
        row = frame.filter(inf).row(0, named=True)
        raise DataError(
            f"{path}: column {name!r} has {int(inf.sum())} infinite values, e.g. on "
            f"{row['datetime']} {row['instrument']}"
        )
    missing = col.is_null() | col.is_nan()
    if not allow_nan and missing.any():
        row = frame.filter(missing).row(0, named=True)
        raise DataError(
            f"{path}: column {name!r} has {int(missing.sum())} missing/NaN values, e.g. on "
            f"{row['datetime']} {row['instrument']}"
        )
    return col.fill_null(float("nan"))


def _checked_keys(frame: pl.DataFrame, path: Path, values: tuple[str, ...]) -> pl.DataFrame:
    """Columns present, rows non-empty, `instrument` codes, `datetime` dates, unique pairs."""
    missing = [c for c in ("datetime", "instrument", *values) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {missing}; has {frame.columns} (expected datetime, "
            f"instrument, {', '.join(values)})"
        )
    if frame.height == 0:
        raise DataError(f"{path}: no rows")
    inst = frame["instrument"]
    if inst.dtype in (pl.Categorical, pl.Enum):
        inst = inst.cast(pl.Utf8)
    if inst.dtype != pl.Utf8:
        raise DataError(f"{path}: column 'instrument' has type {inst.dtype}, expected strings")
    empty = inst.is_null() | (inst.str.strip_chars() == "")
    if empty.any():
        raise DataError(f"{path}: column 'instrument' has {int(empty.sum())} empty/missing codes")
    frame = frame.with_columns(_date_column(frame["datetime"], path), inst.alias("instrument"))
    dup = frame.select("datetime", "instrument").is_duplicated()
    if dup.any():
        row = frame.filter(dup).row(0, named=True)
        raise DataError(
            f"{path}: {int(dup.sum())} rows share a (datetime, instrument) pair, e.g. "
            f"{row['datetime']} {row['instrument']}"
        )
    return frame


def validate_predictions(frame: pl.DataFrame, path: Path | str) -> pl.DataFrame:
    """Check and normalize imported predictions -> datetime (Date), instrument, score, label.

    score must be finite everywhere; label (optional, NaN when absent) may be NaN (no forward
    return yet) but not infinite; (datetime, instrument) pairs must be unique.
    """
    path = Path(path)
    frame = _checked_keys(frame, path, ("score",))
    score = _numeric_column(frame, "score", path, allow_nan=False)
    if "label" in frame.columns:
        label = _numeric_column(frame, "label", path, allow_nan=True)
    else:
        label = pl.Series("label", np.full(frame.height, np.nan))
    out = pl.DataFrame(
        {
            "datetime": frame["datetime"],
            "instrument": frame["instrument"],
            "score": score,
            "label": label,
        }
    )
    return out.sort("datetime", "instrument")


def validate_labels(frame: pl.DataFrame, path: Path | str) -> pl.DataFrame:
    """A label file (Qlib's label.pkl shape: one value column such as LABEL0, or `label`) ->
    datetime, instrument, label (NaN allowed, infinities not)."""
    path = Path(path)
    values = [c for c in frame.columns if c not in ("datetime", "instrument")]
    column = "label" if "label" in values else (values[0] if len(values) == 1 else None)
    if column is None:
        raise DataError(
            f"{path}: expected one label column (e.g. Qlib's LABEL0) or 'label'; has {values}"
        )
    frame = frame.rename({column: "label"}) if column != "label" else frame
    frame = _checked_keys(frame.select("datetime", "instrument", "label"), path, ("label",))
    return frame.with_columns(_numeric_column(frame, "label", path, allow_nan=True))


def signal_summary(preds: pl.DataFrame) -> dict[str, Any]:
    """IC family overall and by year (str keys) of long predictions with a label column."""
    grid = Panel.from_long(preds, ["score", "label"])
    out = signal_metrics(grid["score"], grid["label"], grid.universe, grid.dates)
    out["by_year"] = {str(k): v for k, v in out["by_year"].items()}
    return out


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Create `out`; refuse a non-empty directory unless overwriting (then drop run artifacts)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"--out {out}: directory is not empty; pass --overwrite to replace")
        for name in RUN_ARTIFACTS:
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def import_qlib_pred(
    src: Path | str,
    out: Path | str,
    allow_pickle: bool = False,
    overwrite: bool = False,
    warn: Warn | None = None,
    label: Path | str | None = None,
) -> dict[str, Any]:
    """Qlib predictions -> a NEW run directory (predictions.parquet, metrics.json); returns metrics.

    `label`: a separate label file (Qlib's label.pkl, or parquet/CSV) joined on (datetime,
    instrument); predictions without a label there get NaN.

    Signal metrics come from `seqalpha.evaluate.signal_metrics` on the float32 [T, N] grid, as
    `seqalpha train` computes them; without a label only counts and the test span are recorded.
    """
    src, out = Path(src), Path(out)
    raw = read_prediction_file(src, allow_pickle, warn)
    preds = validate_predictions(raw, src)
    if label is not None:
        label = Path(label)
        if "label" in raw.columns:
            raise ConfigError(f"{src}: has a 'label' column already; drop it or --label {label}")
        labels = validate_labels(read_prediction_file(label, allow_pickle, warn), label)
        preds = preds.drop("label").join(labels, on=["datetime", "instrument"], how="left")
        preds = preds.with_columns(pl.col("label").fill_null(float("nan"))).sort(
            "datetime", "instrument"
        )
    _prepare_out(out, overwrite)
    has_label = bool(preds["label"].is_not_nan().any())
    metrics: dict[str, Any] = signal_summary(preds) if has_label else {}
    metrics.update(
        {
            "model": "imported",
            "imported_from": str(src.resolve()),
            "label_from": str(label.resolve()) if label is not None else None,
            "has_label": has_label,
            "n_predictions": preds.height,
            "n_instruments": preds["instrument"].n_unique(),
            "test_start": str(preds["datetime"].min()),
            "test_end": str(preds["datetime"].max()),
        }
    )
    write_parquet_atomic(preds, out / "predictions.parquet")
    write_json_atomic(out / "metrics.json", metrics)
    return metrics


def to_qlib_frame(preds: pl.DataFrame, column: str = "score", name: str = "score") -> pd.DataFrame:
    """Long predictions -> Qlib's shape: MultiIndex (datetime Timestamp, instrument), one column."""
    frame = preds.select("datetime", "instrument", column).sort("datetime", "instrument")
    index = pd.MultiIndex.from_arrays(
        [
            pd.DatetimeIndex(frame["datetime"].to_numpy().astype("datetime64[ns]")),
            pd.Index(frame["instrument"].to_list(), dtype=object),
        ],
        names=["datetime", "instrument"],
    )
    return pd.DataFrame({name: frame[column].to_numpy().astype(np.float64)}, index=index)


def _write_pandas(frame: pd.DataFrame, out: Path) -> Path:
    suffix = _suffix(out)
    if suffix not in (*PICKLE_SUFFIXES, *PARQUET_SUFFIXES):
        raise ConfigError(f"--out {out}: use a .pkl (Qlib's pred.pkl) or .parquet file name")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: directory {out.parent} does not exist")
    if suffix in PICKLE_SUFFIXES:
        return write_atomic(out, frame.to_pickle)
    return write_atomic(out, frame.to_parquet)


def export_qlib_pred(
    run_dir: Path | str, out: Path | str, label_out: Path | str | None = None
) -> pd.DataFrame:
    """Write RUN_DIR/predictions.parquet as Qlib's pred.pkl shape (`score`) to `out` (.pkl or
    .parquet), and the label as Qlib's label.pkl shape (`LABEL0`) to `label_out`; return pred."""
    path = Path(run_dir) / "predictions.parquet"
    if not path.is_file():
        raise DataError(f"{path}: no predictions in this run directory")
    cols = ("datetime", "instrument", "score") + (("label",) if label_out else ())
    preds = read_frame(path, cols)
    dup = preds.select("datetime", "instrument").is_duplicated()
    if dup.any():
        raise DataError(f"{path}: {int(dup.sum())} rows share a (datetime, instrument) pair")
    pred = to_qlib_frame(preds)
    _write_pandas(pred, Path(out))
    if label_out is not None:
        _write_pandas(to_qlib_frame(preds, "label", "LABEL0"), Path(label_out))
    return pred
