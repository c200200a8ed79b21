"""Ingest daily bars in long format (CSV or Parquet) into a Qlib binary store.

Input rows: `date, instrument, open, high, low, close, volume` and optionally `amount, vwap,
factor` (a `datetime` column is accepted for `date`; column names are case-insensitive).
The store's calendar is the union of the input dates, `instruments/all.txt` spans each
instrument's first to last date, and every field becomes `features/<code>/<field>.day.bin`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from seqalpha.data.dates import parse_datetimes
from seqalpha.data.panel import Panel
from seqalpha.data.qlib_bin import write_store
from seqalpha.data.safety import check_fields, check_float32_range, check_names, check_output_dir
from seqalpha.data.validate import (
    OPTIONAL_COLUMNS,
    PRICE_COLUMNS,
    SOURCE_COLUMN,
    OnBad,
    check_on_bad,
    clean_daily_bars,
)
from seqalpha.errors import ConfigError, DataError

PathLike = str | Path


@dataclass
class IngestReport:
    """What `ingest_daily` read, dropped and wrote."""

    out_dir: Path
    sources: list[str]
    rows_read: int
    rows_written: int
    dropped: dict[str, int] = field(default_factory=dict)
    identical_duplicates: int = 0
    n_dates: int = 0
    n_instruments: int = 0
    fields: list[str] = field(default_factory=list)
    start: str = ""
    end: str = ""

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def summary(self) -> str:
        """One paragraph for the command line."""
        drops = ", ".join(f"{k}={v}" for k, v in self.dropped.items() if v) or "none"
        return (
            f"ingested {self.rows_written:,} of {self.rows_read:,} rows from "
            f"{len(self.sources)} file(s) into {self.out_dir}: {self.n_instruments} "
            f"instruments x {self.n_dates} dates ({self.start}..{self.end}), fields "
            f"{self.fields}; dropped rows: {drops}; identical duplicates collapsed: "
            f"{self.identical_duplicates}"
        )


def _read_one(
    path: Path, extra: Sequence[str] = (), date_format: str | None = None
) -> pl.DataFrame:
    """One source file as a frame with lower-case columns, `date` as Date, `instrument` upper.

    Dates follow `seqalpha.data.dates` (ISO or an explicit format; timezone-aware stamps are
    converted to exchange-local dates); codes follow `seqalpha.data.safety`; values that would
    overflow float32 are refused.
    """
    if not path.is_file():
        raise DataError(f"{path}: input file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pl.read_parquet(path)
        elif suffix in (".csv", ".txt") or path.name.lower().endswith(".csv.gz"):
            df = pl.read_csv(path, infer_schema_length=10000, try_parse_dates=False)
        else:
            raise DataError(f"{path}: unsupported file type {suffix!r} (expected .csv or .parquet)")
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from None
    df = df.rename({c: c.strip().lower() for c in df.columns})
    if "date" not in df.columns and "datetime" in df.columns:
        df = df.rename({"datetime": "date"})
    for col in ("date", "instrument"):
        if col not in df.columns:
            raise DataError(f"{path}: no {col!r} column; it has {df.columns}")
    if df.height == 0:
        raise DataError(f"{path}: no rows")
    dates = parse_datetimes(df["date"], path, "date", date_format).dt.date()
    df = df.with_columns(dates.alias("date"))
    numeric = [c for c in (*PRICE_COLUMNS, "volume", *OPTIONAL_COLUMNS, *extra) if c in df.columns]
    try:
        df = df.with_columns([pl.col(c).cast(pl.Float64) for c in numeric])
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{path}: a value column is not numeric ({exc})") from None
    for c in numeric:
        check_float32_range(df[c].drop_nulls().to_numpy(), f"{path}: column {c!r}", True)
    keep = ["date", "instrument", *numeric]
    df = df.select(keep).with_columns(
        pl.col("instrument").cast(pl.Utf8).str.strip_chars().str.to_uppercase(),
        pl.lit(str(path)).alias(SOURCE_COLUMN),
    )
    check_names(
        df["instrument"].drop_nulls().unique(maintain_order=True).to_list(),
        "instrument code",
        str(path),
    )
    return df


def read_daily_sources(
    src: PathLike | Sequence[PathLike], extra: Sequence[str] = (), date_format: str | None = None
) -> pl.DataFrame:
    """All source files as one long frame (columns aligned; missing optional ones are null)."""
    paths = [Path(src)] if isinstance(src, (str, Path)) else [Path(p) for p in src]
    if not paths:
        raise DataError("ingest: no input files given")
    frames = [_read_one(p, extra, date_format) for p in paths]
    df = pl.concat(frames, how="diagonal_relaxed")
    codes = df["instrument"].drop_nulls().unique(maintain_order=True).to_list()
    check_names(codes, "instrument code", ", ".join(str(p) for p in paths[:3]))
    return df


def ingest_daily(
    src: PathLike | Sequence[PathLike],
    out_dir: PathLike,
    on_bad: OnBad = "raise",
    overwrite: bool = False,
    max_loss: float | None = None,
    extra: Sequence[str] = (),
    date_format: str | None = None,
) -> IngestReport:
    """Validate long daily bars and write them as a Qlib store under `out_dir`.

    on_bad: "raise" (first bad row is a DataError) or "drop" (bad rows removed and counted).
    max_loss: with "drop", the largest tolerated fraction of dropped rows (None: no limit).
    extra: further numeric columns (e.g. `change`) stored as fields unchecked; NaN allowed.
    date_format: strptime format of string dates that are not ISO (e.g. `%m/%d/%Y`).
    The store is built in a temporary sibling of `out_dir` and renamed into place, so an
    existing store (replaced only with `overwrite`) survives any failure.
    """
    extra = [c.strip().lower() for c in extra]
    clash = [
        c for c in extra if c in (*PRICE_COLUMNS, "volume", *OPTIONAL_COLUMNS, "date", "instrument")
    ]
    if clash:
        raise ConfigError(f"extra={clash}: these columns are ingested anyway")
    check_on_bad(on_bad)
    check_fields(extra, "extra")
    out = Path(out_dir)
    check_output_dir(out, overwrite, "store directory")
    df = read_daily_sources(src, extra, date_format)
    sources = df[SOURCE_COLUMN].unique(maintain_order=True).to_list()
    absent = [c for c in extra if c not in df.columns]
    if absent:
        raise DataError(f"extra columns {absent} are in none of {sources}")
    clean, rep = clean_daily_bars(df, on_bad)
    if max_loss is not None and rep.rows_in and rep.total_dropped / rep.rows_in > max_loss:
        raise DataError(
            f"ingest: {rep.total_dropped} of {rep.rows_in} rows dropped "
            f"({rep.total_dropped / rep.rows_in:.1%}) exceeds max_loss={max_loss:.1%}: "
            f"{ {k: v for k, v in rep.dropped.items() if v} }"
        )
    if clean.height == 0:
        raise DataError(f"ingest: no valid rows left in {sources}")
    value_cols = [
        c for c in (*PRICE_COLUMNS, "volume", *OPTIONAL_COLUMNS, *extra) if c in clean.columns
    ]
    # Optional columns absent from every file were null-filled by the diagonal concat: skip them.
    value_cols = [c for c in value_cols if clean[c].null_count() < clean.height]
    long = clean.rename({"date": "datetime"}).select(["datetime", "instrument", *value_cols])
    panel = Panel.from_long(long, value_cols)
    # Rows present with a value of NaN (allowed only in optional columns) stay NaN; rows absent
    # are NaN as well. The store keeps each instrument's first..last date as its span.
    write_store(out, panel, overwrite=overwrite)
    dates = panel.dates
    return IngestReport(
        out_dir=out,
        sources=[str(s) for s in sources],
        rows_read=rep.rows_in,
        rows_written=rep.rows_out,
        dropped=dict(rep.dropped),
        identical_duplicates=rep.identical_duplicates,
        n_dates=len(dates),
        n_instruments=len(panel.instruments),
        fields=value_cols,
        start=str(dates[0]),
        end=str(np.max(dates)),
    )
