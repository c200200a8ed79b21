"""Minute bars: sessions, ingest from CSV/Parquet, resampling, and the `[D, B, N]` array form.

On disk, minute bars are Parquet (zstd) partitioned by date: `DIR/date=YYYY-MM-DD/part-0.parquet`
with columns `datetime` (bar END time), `instrument`, open high low close (float32), volume amount
(float64), plus `DIR/_minute.json` holding the bar length and the session.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from seqalpha.data.dates import parse_datetimes
from seqalpha.data.quality import Problem, validate_fields
from seqalpha.data.quality import report as report_problems
from seqalpha.data.safety import check_float32_range, check_names, check_output_dir, staged_dir
from seqalpha.data.validate import collapse_duplicates
from seqalpha.errors import ConfigError, DataError

MINUTE_FIELDS = ("open", "high", "low", "close", "volume", "amount")
PRICE_FIELDS = ("open", "high", "low", "close")
META_FILE = "_minute.json"
PathLike = str | Path
OnBad = Literal["raise", "drop"]


def _clock(text: str) -> int:
    """`HH:MM` -> minutes since midnight (ConfigError on a malformed time)."""
    try:
        h, m = text.strip().split(":")
        value = int(h) * 60 + int(m)
    except ValueError:
        raise ConfigError(f"session time {text!r}: expected HH:MM") from None
    if not 0 <= value <= 24 * 60:
        raise ConfigError(f"session time {text!r} is outside 00:00..24:00")
    return value


def _fmt_clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True)
class Session:
    """Trading sessions of a day as (start, end) clock times `HH:MM`; A-shares by default.

    A bar of length k minutes is labelled by its END time (09:30-10:00 -> 10:00).
    """

    intervals: tuple[tuple[str, str], ...] = (("09:30", "11:30"), ("13:00", "15:00"))

    def __post_init__(self) -> None:
        if not self.intervals:
            raise ConfigError("session: no intervals")
        prev_end = -1
        for a, b in self.intervals:
            ma, mb = _clock(a), _clock(b)
            if mb <= ma or ma < prev_end:
                raise ConfigError(
                    f"session interval {a}-{b}: intervals must be increasing and non-overlapping"
                )
            prev_end = mb

    @classmethod
    def parse(cls, text: str) -> Session:
        """`'09:30-11:30,13:00-15:00'` -> Session."""
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            return cls(tuple(tuple(p.split("-")) for p in parts))  # type: ignore[misc]  # arity checked by Session
        except (TypeError, ValueError):
            raise ConfigError(
                f"session {text!r}: expected 'HH:MM-HH:MM[,HH:MM-HH:MM...]'"
            ) from None

    def bounds(self) -> list[tuple[int, int]]:
        """Intervals as (start, end) minutes since midnight."""
        return [(_clock(a), _clock(b)) for a, b in self.intervals]

    def minutes(self) -> int:
        return sum(b - a for a, b in self.bounds())

    def bar_end_minutes(self, bar_minutes: int) -> np.ndarray:
        """End minute-of-day of each bar of length `bar_minutes` [B]; bars never span a break."""
        if bar_minutes < 1:
            raise ConfigError(f"bar_minutes={bar_minutes}: must be >= 1")
        ends: list[int] = []
        for a, b in self.bounds():
            if (b - a) % bar_minutes:
                raise ConfigError(
                    f"bar_minutes={bar_minutes} does not divide the session interval "
                    f"{_fmt_clock(a)}-{_fmt_clock(b)} ({b - a} minutes)"
                )
            ends.extend(range(a + bar_minutes, b + 1, bar_minutes))
        return np.asarray(ends, dtype=np.int64)

    def bar_ends(self, bar_minutes: int) -> np.ndarray:
        """Bar end labels `HH:MM` [B], e.g. 10:00 .. 11:30, 13:30 .. 15:00 for 30-minute bars."""
        return np.array([_fmt_clock(int(m)) for m in self.bar_end_minutes(bar_minutes)])

    def in_session(self, end_minutes: np.ndarray) -> np.ndarray:
        """bool [n]: a bar ending at this minute-of-day lies inside a session interval."""
        m = np.asarray(end_minutes)
        ok = np.zeros(m.shape, dtype=bool)
        for a, b in self.bounds():
            ok |= (m > a) & (m <= b)
        return ok

    def offsets(self, end_minutes: np.ndarray) -> np.ndarray:
        """Minutes from the start of the enclosing interval to each bar end (0 outside) [n]."""
        m = np.asarray(end_minutes)
        off = np.zeros(m.shape, dtype=np.int64)
        for a, b in self.bounds():
            inside = (m > a) & (m <= b)
            off[inside] = m[inside] - a
        return off

    def infer_bar_minutes(self, end_minutes: np.ndarray) -> int:
        """The bar length of a set of in-session bar end minutes: gcd of their interval offsets."""
        off = np.unique(self.offsets(end_minutes))
        off = off[off > 0]
        if not len(off):
            raise DataError("no bar end time lies inside the session; cannot infer the bar length")
        k = reduce(math.gcd, off.tolist())
        for a, b in self.bounds():  # coarsen to a divisor of every interval length
            k = math.gcd(k, b - a)
        return int(k)

    def to_json(self) -> list[list[str]]:
        return [list(iv) for iv in self.intervals]


A_SHARE = Session()


def _clock_array(labels: Iterable[str]) -> np.ndarray:
    return np.array([_clock(str(s)) for s in labels], dtype=np.int64)


@dataclass
class MinuteBars:
    """Intraday bars of D days x B bars x N instruments.

    dates: datetime64[D] [D]; bar_ends: clock times of bar ends, e.g. ['10:00', ..., '15:00'] [B];
    instruments: str [N]; fields: name -> float32 [D, B, N] (open high low close volume amount,
    NaN where the instrument has no bar). Prices are as ingested (raw for real data).
    """

    dates: np.ndarray
    bar_ends: np.ndarray
    instruments: np.ndarray
    fields: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.dates), len(self.bar_ends), len(self.instruments))

    def __getitem__(self, name: str) -> np.ndarray:
        return self.fields[name]

    def vwap(self) -> np.ndarray:
        """Volume-weighted price per bar (amount / volume; NaN at zero volume)."""
        vol = self.fields["volume"]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(vol > 0, self.fields["amount"] / vol, np.nan).astype(np.float32)

    def bar_end_minutes(self) -> np.ndarray:
        """Bar end times as minutes since midnight [B]."""
        return _clock_array(self.bar_ends)

    def bar_minutes(self, session: Session = A_SHARE) -> int:
        """The bar length in minutes; a DataError when the bars do not tile `session` exactly."""
        ends = self.bar_end_minutes()
        k = session.infer_bar_minutes(ends)
        if not np.array_equal(session.bar_end_minutes(k), ends):
            raise DataError(
                f"bar ends {list(self.bar_ends)[:6]}... do not tile the session "
                f"{session.intervals} with {k}-minute bars"
            )
        return k


# ----------------------------------------------------------------------------------------------
# aggregation


def _first_valid(x: np.ndarray, axis: int) -> np.ndarray:
    """First non-NaN value along `axis` (NaN when all are NaN)."""
    valid = ~np.isnan(x)
    idx = np.expand_dims(valid.argmax(axis=axis), axis)
    out = np.take_along_axis(x, idx, axis=axis).squeeze(axis)
    return out


def _last_valid(x: np.ndarray, axis: int) -> np.ndarray:
    """Last non-NaN value along `axis` (NaN when all are NaN)."""
    return _first_valid(np.flip(x, axis=axis), axis)


def _nansum_keep(x: np.ndarray, axis: int) -> np.ndarray:
    """Sum over non-NaN values in float64 (NaN when all are NaN), as float32."""
    s = np.asarray(np.nansum(x, axis=axis, dtype=np.float64))
    s[np.isnan(x).all(axis=axis)] = np.nan
    return s.astype(np.float32)


AGGREGATORS = {
    "first": lambda x, a: _first_valid(x, a),
    "last": lambda x, a: _last_valid(x, a),
    "max": lambda x, a: np.fmax.reduce(x, axis=a),
    "min": lambda x, a: np.fmin.reduce(x, axis=a),
    "sum": _nansum_keep,
}
DEFAULT_HOW = {
    "open": "first",
    "high": "max",
    "low": "min",
    "close": "last",
    "volume": "sum",
    "amount": "sum",
}


def _aggregate(
    fields: dict[str, np.ndarray], how: dict[str, str] | None, axis: int
) -> dict[str, np.ndarray]:
    """Reduce every field along `axis` by its rule (OHLC / sums); vwap is recomputed from sums."""
    rules = dict(DEFAULT_HOW)
    rules.update(how or {})
    out = {}
    for name, arr in fields.items():
        if name == "vwap":
            continue
        rule = rules.get(name)
        if rule is None:
            raise DataError(
                f"resample: no aggregation rule for field {name!r}; pass how={{{name!r}: "
                f"one of {sorted(AGGREGATORS)}}}"
            )
        if rule not in AGGREGATORS:
            raise ConfigError(
                f"resample: how[{name!r}]={rule!r}; expected one of {sorted(AGGREGATORS)}"
            )
        out[name] = AGGREGATORS[rule](arr, axis).astype(np.float32, copy=False)
    if "amount" in out and "volume" in out:
        with np.errstate(invalid="ignore", divide="ignore"):
            vol = out["volume"]
            out["vwap"] = np.where(vol > 0, out["amount"] / vol, np.nan).astype(np.float32)
    return out


def resample(
    bars: MinuteBars, minutes: int, session: Session = A_SHARE, how: dict[str, str] | None = None
) -> MinuteBars:
    """Coarser bars `[D, B_out, N]` from `[D, B_in, N]` (open first, high max, low min, close last).

    Bars are aligned to session starts, labelled by end time, and never span a break; the input
    bar length must divide `minutes`. `how` adds rules (first/last/max/min/sum) for extra fields.
    """
    k_in = bars.bar_minutes(session)
    if minutes % k_in:
        raise ConfigError(
            f"resample: {minutes}-minute bars cannot be built from {k_in}-minute bars"
        )
    out_ends = session.bar_end_minutes(minutes)
    r = minutes // k_in
    D, _, N = bars.shape
    grouped = {k: v.reshape(D, len(out_ends), r, N) for k, v in bars.fields.items()}
    agg = _aggregate(grouped, how, axis=2)
    return MinuteBars(bars.dates, session.bar_ends(minutes), bars.instruments, agg)


def minute_to_daily(bars: MinuteBars, how: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Daily aggregate of each day's bars: name -> float32 [D, N] (OHLC, volume, amount, vwap)."""
    return _aggregate(bars.fields, how, axis=1)


# ----------------------------------------------------------------------------------------------
# on-disk layout


def _partition_dir(out_dir: Path, day: np.datetime64) -> Path:
    return out_dir / f"date={day}"


def read_minute_meta(data_dir: PathLike) -> dict | None:
    """`_minute.json` of a minute-bar directory (bar_minutes, session), or None when absent."""
    path = Path(data_dir) / META_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None


def write_minute_meta(out_dir: Path, bar_minutes: int, session: Session) -> None:
    """Record the bar length and session in `_minute.json` (error if it holds other bars)."""
    old = read_minute_meta(out_dir)
    if old is not None and (
        old.get("bar_minutes") != bar_minutes or old.get("session") != session.to_json()
    ):
        raise DataError(
            f"{out_dir / META_FILE}: the directory holds {old.get('bar_minutes')}-minute "
            f"bars of session {old.get('session')}; refusing to add {bar_minutes}-minute "
            f"bars of session {session.to_json()}"
        )
    tmp = out_dir / (META_FILE + f".{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps({"bar_minutes": int(bar_minutes), "session": session.to_json()}))
    os.replace(tmp, out_dir / META_FILE)


def _empty_frame_schema() -> dict:
    return {
        "datetime": pl.Datetime("us"),
        "instrument": pl.Utf8,
        **{c: pl.Float32 for c in PRICE_FIELDS},
        "volume": pl.Float64,
        "amount": pl.Float64,
    }


def write_minute_day(out_dir: PathLike, day: np.datetime64, frame: pl.DataFrame) -> Path:
    """Write one date partition atomically (temp folder, then rename over any previous one)."""
    out_dir = Path(out_dir)
    target = _partition_dir(out_dir, np.datetime64(day, "D"))  # type: ignore[call-overload]  # stub lacks datetime64(datetime64, unit)
    tmp = out_dir / f".tmp-{target.name}-{uuid.uuid4().hex}"
    tmp.mkdir(parents=True)
    frame.write_parquet(
        tmp / "part-0.parquet", compression="zstd", compression_level=1, statistics=False
    )
    if target.exists():
        trash = out_dir / f".old-{target.name}-{uuid.uuid4().hex}"
        os.replace(target, trash)
        os.replace(tmp, target)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, target)
    return target


def bars_frame(
    day: np.datetime64,
    bar_end_minutes: np.ndarray,
    instruments: np.ndarray,
    fields: dict[str, np.ndarray],
    keep: np.ndarray | None = None,
) -> pl.DataFrame:
    """Long frame of one day's bars from arrays [B, N] (rows where `keep` [B, N] is True)."""
    B, N = len(bar_end_minutes), len(instruments)
    base = np.datetime64(day, "D").astype("datetime64[us]")  # type: ignore[call-overload]  # as above
    stamps = base + (np.asarray(bar_end_minutes) * 60_000_000).astype("timedelta64[us]")
    keep_flat = np.ones(B * N, dtype=bool) if keep is None else np.asarray(keep).reshape(-1)
    codes = pl.Series("instrument", np.asarray(instruments, dtype=str).tolist(), dtype=pl.Utf8)
    cols = [
        pl.Series("datetime", np.repeat(stamps, N)[keep_flat]),
        codes.gather(np.tile(np.arange(N, dtype=np.uint32), B)[keep_flat]),
    ]
    for name in MINUTE_FIELDS:
        dtype = np.float32 if name in PRICE_FIELDS else np.float64
        cols.append(pl.Series(name, np.asarray(fields[name]).reshape(-1)[keep_flat].astype(dtype)))
    return pl.DataFrame(cols)


# ----------------------------------------------------------------------------------------------
# ingest

REASONS = (
    "missing_key",  # null datetime or instrument
    "bad_price",  # open/high/low/close null, NaN, inf or <= 0
    "high_below_low",  # high < low
    "ohlc_outside",  # open or close outside [low, high]
    "bad_volume",  # volume/amount null, NaN, inf or negative
    "outside_session",  # bar end time not inside a session interval, or not on the bar grid
    "duplicate",  # the same (datetime, instrument) twice
)


@dataclass
class MinuteIngestReport:
    """What `ingest_minute` read, dropped and wrote."""

    out_dir: Path
    sources: list[str]
    rows_read: int = 0
    rows_written: int = 0
    empty_bars: int = 0
    identical_duplicates: int = 0
    replaced: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {r: 0 for r in REASONS})
    bar_minutes: int = 0
    dates: int = 0
    instruments: int = 0

    def summary(self) -> str:
        drops = ", ".join(f"{k}={v}" for k, v in self.dropped.items() if v) or "none"
        return (
            f"{self.rows_read:,} rows read from {len(self.sources)} file(s); "
            f"{self.rows_written:,} written ({self.dates} dates, {self.instruments} instruments, "
            f"{self.bar_minutes}-minute bars) to {self.out_dir}; empty no-trade bars skipped: "
            f"{self.empty_bars:,}; identical duplicates collapsed: {self.identical_duplicates:,}; "
            f"stored bars replaced: {self.replaced:,}; dropped: {drops}"
        )


def _read_source(path: Path, datetime_format: str | None = None) -> pl.DataFrame:
    """One source file as typed rows; dates follow `seqalpha.data.dates`, codes are checked."""
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a file of bars")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            df = pl.read_parquet(path)
        elif suffix in (".csv", ".txt") or path.name.lower().endswith(".csv.gz"):
            df = pl.read_csv(path, try_parse_dates=False, infer_schema_length=10000)
        else:
            raise DataError(f"{path}: unknown file type (expected .csv or .parquet)")
    except pl.exceptions.NoDataError:
        raise DataError(f"{path}: empty file (no header, no rows)") from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read ({first})") from None
    df = df.rename({c: c.strip().lower() for c in df.columns})
    needed = ("datetime", "instrument", *PRICE_FIELDS, "volume")
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; it has {df.columns}")
    if df.height == 0:
        raise DataError(f"{path}: no rows")
    df = df.with_columns(parse_datetimes(df["datetime"], path, "datetime", datetime_format))
    if "amount" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.Float64).alias("amount"))
    try:
        df = df.select(
            pl.col("datetime"),
            pl.col("instrument").cast(pl.Utf8).str.strip_chars().str.to_uppercase(),
            *[pl.col(c).cast(pl.Float64) for c in (*PRICE_FIELDS, "volume", "amount")],
        )
    except pl.exceptions.PolarsError:
        raise DataError(f"{path}: a price, volume or amount column is not numeric") from None
    for c in (*PRICE_FIELDS, "volume", "amount"):
        check_float32_range(df[c].drop_nulls().to_numpy(), f"{path}: column {c!r}", True)
    codes = df["instrument"].drop_nulls().unique(maintain_order=True).to_list()
    check_names(codes, "instrument code", str(path))
    return df


def _bad_num(col: str, lower: float, strict: bool, allow_null: bool = False) -> pl.Expr:
    c = pl.col(col)
    bad = c.is_nan().fill_null(False) | c.is_infinite().fill_null(False)
    bad = bad | ((c <= lower) if strict else (c < lower)).fill_null(False)
    if not allow_null:
        bad = bad | c.is_null()
    return bad


def _reason_expr(session: Session, bar_minutes: int | None) -> pl.Expr:
    """A string column: the first reason a row is bad, or null."""
    minute = pl.col("datetime").dt.hour().cast(pl.Int64) * 60 + pl.col("datetime").dt.minute()
    in_sess = pl.lit(False)
    grid = pl.lit(True)
    for a, b in session.bounds():
        inside = (minute > a) & (minute <= b)
        in_sess = in_sess | inside
        if bar_minutes:
            grid = grid & (~inside | ((minute - a) % bar_minutes == 0))
    on_grid = (
        in_sess
        & grid
        & (pl.col("datetime").dt.second() == 0)
        & (pl.col("datetime").dt.microsecond() == 0)
    )
    rules = [
        ("missing_key", pl.col("datetime").is_null() | pl.col("instrument").is_null()),
        ("bad_price", pl.any_horizontal([_bad_num(c, 0.0, True) for c in PRICE_FIELDS])),
        ("high_below_low", pl.col("high") < pl.col("low")),
        (
            "ohlc_outside",
            (pl.max_horizontal("open", "close") > pl.col("high"))
            | (pl.min_horizontal("open", "close") < pl.col("low")),
        ),
        ("bad_volume", _bad_num("volume", 0.0, False) | _bad_num("amount", 0.0, False, True)),
        ("outside_session", ~on_grid.fill_null(False)),
    ]
    expr = pl.lit(None, dtype=pl.Utf8)
    for name, cond in reversed(rules):
        expr = pl.when(cond.fill_null(False)).then(pl.lit(name)).otherwise(expr)
    return expr


def ingest_minute(
    src: PathLike | Sequence[PathLike],
    out_dir: PathLike,
    session: Session = A_SHARE,
    on_bad: OnBad = "raise",
    bar_minutes: int | None = None,
    overwrite: bool = False,
    merge: bool = False,
    datetime_format: str | None = None,
) -> MinuteIngestReport:
    """Validate minute bars (CSV/Parquet rows `datetime` = bar end, instrument, OHLCV[, amount])
    and write them as date-partitioned zstd Parquet under `out_dir`.

    Rows whose prices and volume are all zero (a no-trade placeholder) are skipped as missing
    bars and counted in `empty_bars`. Other bad rows raise a DataError naming the file,
    instrument and datetime, or with `on_bad="drop"` are dropped and counted per reason;
    duplicates follow `validate.collapse_duplicates` as in daily ingest. Without `bar_minutes`
    the bar length is inferred and the bar end times must tile the session at that length.
    A non-empty `out_dir` needs `merge` (new bars replace stored bars of the same key, one date
    partition at a time) or `overwrite` (the whole directory replaced once the new one is
    complete); a new directory is built in a temporary sibling and renamed into place.
    """
    if on_bad not in ("raise", "drop"):
        raise ConfigError(f"on_bad={on_bad!r}: expected 'raise' or 'drop'")
    if overwrite and merge:
        raise ConfigError("ingest_minute: overwrite and merge exclude each other")
    paths = [Path(src)] if isinstance(src, (str, Path)) else [Path(p) for p in src]
    if not paths:
        raise DataError("ingest_minute: no source files given")
    out = Path(out_dir)
    check_output_dir(out, overwrite or merge, "minute-bar directory")
    report = MinuteIngestReport(out_dir=out, sources=[str(p) for p in paths])
    frames = []
    for k, path in enumerate(paths):
        df = _read_source(path, datetime_format)
        report.rows_read += df.height
        empty = pl.all_horizontal([pl.col(c) == 0 for c in (*PRICE_FIELDS, "volume")]).fill_null(
            False
        )
        n_empty = int(df.select(empty.sum()).item())
        if n_empty:
            df = df.filter(~empty)
            report.empty_bars += n_empty
        df = df.with_columns(
            _reason_expr(session, bar_minutes).alias("__reason"),
            pl.lit(k, dtype=pl.Int32).alias("__file"),
        )
        bad = df.filter(pl.col("__reason").is_not_null())
        if bad.height:
            if on_bad == "raise":
                row = bad.row(0, named=True)
                raise DataError(
                    f"{path}: {row['__reason']} at instrument {row['instrument']} datetime "
                    f"{row['datetime']} ({bad.height} bad row(s) in this file; "
                    "on_bad='drop' drops them)"
                )
            for reason, n in bad.group_by("__reason").len().iter_rows():
                report.dropped[reason] += int(n)
            df = df.filter(pl.col("__reason").is_null())
        frames.append(df.drop("__reason"))
    df = pl.concat(frames, how="vertical")
    dup = df.select(pl.struct("datetime", "instrument").is_duplicated()).to_series()
    if dup.any():
        if on_bad == "raise":
            row = df.filter(dup).sort("datetime", "instrument").row(0, named=True)
            files = sorted(
                {
                    paths[i].name
                    for i in df.filter(
                        (pl.col("datetime") == row["datetime"])
                        & (pl.col("instrument") == row["instrument"])
                    )["__file"].to_list()
                }
            )
            raise DataError(
                f"{paths[row['__file']]}: duplicate bar for instrument {row['instrument']} "
                f"datetime {row['datetime']} (in {files}; {int(dup.sum())} duplicated rows; "
                "on_bad='drop' collapses exact copies and drops conflicting ones)"
            )
        df, report.identical_duplicates, n_conflict = collapse_duplicates(
            df, ["datetime", "instrument"], [*PRICE_FIELDS, "volume", "amount"]
        )
        report.dropped["duplicate"] += n_conflict
    df = df.drop("__file")
    if df.height == 0:
        raise DataError(f"ingest_minute: no valid rows in {report.sources}")
    minutes_of_day = (
        (df["datetime"].dt.hour().cast(pl.Int64) * 60 + df["datetime"].dt.minute())
        .unique()
        .to_numpy()
    )
    k = bar_minutes or _inferred_bar_minutes(session, minutes_of_day, report.sources)
    session.bar_end_minutes(k)  # validates that k tiles the session
    df = df.with_columns(pl.col(c).cast(pl.Float32) for c in PRICE_FIELDS).sort(
        "datetime", "instrument"
    )
    if merge and out.is_dir() and any(out.iterdir()):
        try:
            _write_partitions(out, df, k, session, report)
        except OSError as exc:
            raise DataError(f"{out}: writing failed ({exc.strerror})") from None
    else:
        with staged_dir(out, overwrite, "minute-bar directory") as tmp:
            _write_partitions(tmp, df, k, session, report)
    report.rows_written = df.height
    report.instruments = df["instrument"].n_unique()
    report.bar_minutes = k
    return report


def _inferred_bar_minutes(session: Session, minutes_of_day: np.ndarray, sources) -> int:
    """The bar length of the data: the gcd of bar-end offsets, which must also be the most
    common spacing of consecutive bar ends (a stray 09:47 bar among 15-minute bars is not)."""
    k = session.infer_bar_minutes(minutes_of_day)
    ends = np.unique(np.asarray(minutes_of_day))
    spacings = []
    for a, b in session.bounds():
        inside = ends[(ends > a) & (ends <= b)]
        if len(inside):
            spacings.append(np.diff(np.concatenate([[a], inside])))
    values, counts = np.unique(np.concatenate(spacings), return_counts=True)
    common = int(values[np.argmax(counts)])
    if common != k:
        raise DataError(
            f"{sources[0]}: bar end times are off-grid: most are {common} minutes apart but "
            f"some imply {k}-minute bars; pass the bar length (--bar-minutes) to refuse or "
            "drop the off-grid bars"
        )
    return k


def _write_partitions(
    out: Path, df: pl.DataFrame, k: int, session: Session, report: MinuteIngestReport
) -> None:
    """Write the meta file and one partition per date, merging with stored partitions."""
    out.mkdir(parents=True, exist_ok=True)
    write_minute_meta(out, k, session)
    df = df.with_columns(pl.col("datetime").dt.date().alias("__date"))
    for (day,), part in df.partition_by("__date", as_dict=True, maintain_order=True).items():
        day = np.datetime64(day, "D")
        part = part.drop("__date")
        old_files = sorted(_partition_dir(out, day).glob("*.parquet"))
        if old_files:  # upsert: keep stored bars of other (datetime, instrument) keys
            old = pl.read_parquet(old_files).select(part.columns).cast(part.schema)
            kept = old.join(
                part.select("datetime", "instrument"), on=["datetime", "instrument"], how="anti"
            )
            report.replaced += old.height - kept.height
            part = pl.concat([kept, part]).sort("datetime", "instrument")
        write_minute_day(out, day, part)
        report.dates += 1


# ----------------------------------------------------------------------------------------------
# load


def minute_dates(data_dir: PathLike) -> np.ndarray:
    """Dates that have a partition under `data_dir`, sorted, datetime64[D] [D]."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"minute-bar directory {root} does not exist")
    days = []
    for p in root.glob("date=*"):
        if p.is_dir():
            try:
                days.append(np.datetime64(p.name[5:], "D"))
            except ValueError:
                raise DataError(f"{p}: partition name is not date=YYYY-MM-DD") from None
    return np.array(sorted(days), dtype="datetime64[D]")


def _minute_of_day(col: str = "datetime") -> pl.Expr:
    return pl.col(col).dt.hour().cast(pl.Int64) * 60 + pl.col(col).dt.minute().cast(pl.Int64)


def load_minute(
    data_dir: PathLike,
    start=None,
    end=None,
    instruments: Sequence[str] | None = None,
    bar_minutes: int | None = None,
    session: Session | None = None,
    chunk_days: int = 5,
    strict: bool = False,
) -> MinuteBars:
    """Dense bars `[D, B, N]` (float32, NaN where missing) from a date-partitioned directory.

    Reads only the partitions in `start..end`, `chunk_days` at a time; `instruments` fixes the
    columns and their order; `bar_minutes` coarser than the stored bars resamples each chunk on
    load, so the finer bars are never all in memory. Impossible values (see
    `seqalpha.data.quality`) become NaN before resampling, with one counted DataQualityWarning
    (a DataError with `strict`).
    """
    root = Path(data_dir)
    meta = read_minute_meta(root)
    if session is None:
        session = Session(tuple(tuple(iv) for iv in meta["session"])) if meta else A_SHARE
    days = minute_dates(root)
    if start is not None:
        days = days[days >= np.datetime64(start, "D")]
    if end is not None:
        days = days[days <= np.datetime64(end, "D")]
    if not len(days):
        raise DataError(f"{root}: no minute-bar partitions in {start}..{end}")
    files = {d: sorted(_partition_dir(root, d).glob("*.parquet")) for d in days}
    all_files = [f for fs in files.values() for f in fs]
    want = None if instruments is None else [str(c).upper() for c in instruments]
    if meta is not None:
        k_native = int(meta["bar_minutes"])
    elif all_files:
        mins = _collect(
            pl.scan_parquet(all_files).select(_minute_of_day().unique()), root, all_files
        ).to_series()
        k_native = session.infer_bar_minutes(mins.to_numpy())
    else:
        raise DataError(f"{root}: no bars and no {META_FILE}; cannot tell the bar length")
    if want is not None:
        inst = np.array(want, dtype=str)
    elif all_files:
        codes = _collect(
            pl.scan_parquet(all_files).select(pl.col("instrument").unique()), root, all_files
        )
        inst = np.array(sorted(codes.to_series().to_list()), dtype=str)
    else:
        inst = np.array([], dtype=str)
    if len(set(inst.tolist())) != len(inst):
        raise DataError("load_minute: duplicate codes in `instruments`")
    ends = session.bar_end_minutes(k_native)
    k_out = k_native if bar_minutes is None else int(bar_minutes)
    if k_out % k_native:
        raise ConfigError(
            f"load_minute: {k_out}-minute bars cannot be built from the stored "
            f"{k_native}-minute bars in {root}"
        )
    out_ends = session.bar_end_minutes(k_out)
    D, N = len(days), len(inst)
    fields = {
        name: np.full((D, len(out_ends), N), np.nan, dtype=np.float32) for name in MINUTE_FIELDS
    }
    if chunk_days < 1:
        raise ConfigError(f"load_minute: chunk_days={chunk_days} must be >= 1")
    found: dict[tuple[str, str], Problem] = {}
    for c0 in range(0, D, chunk_days):
        sub_days = days[c0 : c0 + chunk_days]
        chunk = _dense_chunk(
            root,
            [f for d in sub_days for f in files[d]],
            sub_days,
            ends,
            inst,
            want,
            session,
            k_native,
        )
        for prob in validate_fields(chunk.fields):
            key = (prob.kind, prob.field)
            if key in found:
                found[key].counts += prob.counts
            else:
                found[key] = prob
        if k_out != k_native:
            chunk = resample(chunk, k_out, session)
        for name in MINUTE_FIELDS:
            fields[name][c0 : c0 + len(sub_days)] = chunk[name]
    report_problems(list(found.values()), inst, str(root), strict)
    bars = MinuteBars(days, session.bar_ends(k_out), inst, fields)
    if k_out != k_native:
        bars.fields["vwap"] = bars.vwap()
    return bars


def _collect(lazy: pl.LazyFrame, root: Path, files: list[Path]) -> pl.DataFrame:
    """Collect a scan of partition files; unreadable files become a DataError naming them."""
    try:
        return lazy.collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(
            f"{root}: cannot read the partitions {files[0].parent.name} .. "
            f"{files[-1].parent.name} ({exc})"
        ) from None


def _dense_chunk(
    root: Path,
    files: list[Path],
    days: np.ndarray,
    ends: np.ndarray,
    inst: np.ndarray,
    want: list[str] | None,
    session: Session,
    k_native: int,
) -> MinuteBars:
    """The bars of some days as dense arrays [d, B, N] (NaN where a bar is absent)."""
    D, B, N = len(days), len(ends), len(inst)
    fields = {name: np.full((D, B, N), np.nan, dtype=np.float32) for name in MINUTE_FIELDS}
    if files:
        lazy = pl.scan_parquet(files, hive_partitioning=False)
        if want is not None:
            lazy = lazy.filter(pl.col("instrument").is_in(want))
        df = _collect(lazy, root, files)
    else:
        df = pl.DataFrame(schema=_empty_frame_schema())
    if df.height:
        lookup = np.full(24 * 60 + 1, -1, dtype=np.int64)
        lookup[ends] = np.arange(B)
        b_idx = lookup[df.select(_minute_of_day()).to_series().to_numpy()]
        day_num = df["datetime"].dt.date().cast(pl.Int32).to_numpy()
        day_int = days.astype(np.int64)
        d_idx = np.minimum(np.searchsorted(day_int, day_num), D - 1)
        bad = (b_idx < 0) | (day_int[d_idx] != day_num)
        if bad.any():
            i = int(np.nonzero(bad)[0][0])
            raise DataError(
                f"{root}: bar at {df['datetime'][i]} ({df['instrument'][i]}) is not on the "
                f"{k_native}-minute grid of session {session.intervals} or lies in "
                "another date's partition"
            )
        code_map = pl.DataFrame({"instrument": inst.tolist(), "__j": np.arange(N, dtype=np.int64)})
        n_idx = (
            df.select("instrument")
            .join(code_map, on="instrument", how="left", maintain_order="left")["__j"]
            .to_numpy()
        )
        for name in MINUTE_FIELDS:
            fields[name][d_idx, b_idx, n_idx] = df[name].cast(pl.Float32).to_numpy()
    return MinuteBars(days, session.bar_ends(k_native), inst, fields)
