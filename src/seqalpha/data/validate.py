"""Checks of daily bars in long format before they enter a store.

Each check either raises a DataError naming the source file, instrument, date and column, or,
with `on_bad="drop"`, removes the offending rows and counts them per reason (like alphalens'
`get_clean_factor`, which reports what every cleaning step drops).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from seqalpha.errors import ConfigError, DataError

OnBad = Literal["raise", "drop"]

PRICE_COLUMNS = ("open", "high", "low", "close")
REQUIRED_COLUMNS = ("date", "instrument", *PRICE_COLUMNS, "volume")
OPTIONAL_COLUMNS = ("amount", "vwap", "factor")
SOURCE_COLUMN = "__source"

# Reasons in the order they are checked; a dropped row is counted under its first reason.
REASONS = (
    "missing_key",  # null date or instrument
    "bad_price",  # open/high/low/close null, NaN, inf, or <= 0
    "high_below_low",  # high < low
    "bad_volume",  # volume null, NaN, inf or negative
    "bad_optional",  # amount < 0, vwap <= 0, factor <= 0, or inf in any optional column
    "duplicate",  # a (date, instrument) key that occurs more than once with different values
)


@dataclass
class CleanReport:
    """Rows seen, rows kept, and dropped-row counts per reason (see `REASONS`)."""

    rows_in: int = 0
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {r: 0 for r in REASONS})
    identical_duplicates: int = 0

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())


def check_on_bad(on_bad: str) -> None:
    """`on_bad` must be `raise` or `drop` (a ConfigError naming the value otherwise)."""
    if on_bad not in ("raise", "drop"):
        raise ConfigError(f"on_bad={on_bad!r}: expected 'raise' or 'drop'")


def _bad_number(col: str, allow_null: bool, lower: float | None, strict: bool) -> pl.Expr:
    """Expression true where column `col` is not an acceptable number."""
    c = pl.col(col).cast(pl.Float64)
    bad = c.is_infinite().fill_null(False)
    bad = bad | (c.is_nan().fill_null(False) if not allow_null else pl.lit(False))
    if not allow_null:
        bad = bad | c.is_null()
    if lower is not None:
        below = (c <= lower) if strict else (c < lower)
        bad = bad | below.fill_null(False)
    return bad


def _rule_exprs(columns: Sequence[str]) -> dict[str, pl.Expr]:
    """Reason -> boolean expression marking bad rows (duplicates are handled separately)."""
    rules = {
        "missing_key": pl.col("date").is_null() | pl.col("instrument").is_null(),
        "bad_price": pl.any_horizontal([_bad_number(c, False, 0.0, True) for c in PRICE_COLUMNS]),
        "high_below_low": (pl.col("high") < pl.col("low")).fill_null(False),
        "bad_volume": _bad_number("volume", False, 0.0, False),
    }
    opt = []
    for col, strict in (("amount", False), ("vwap", True), ("factor", True)):
        if col in columns:
            opt.append(_bad_number(col, True, 0.0, strict))
    rules["bad_optional"] = pl.any_horizontal(opt) if opt else pl.lit(False)
    return rules


def _examples(df: pl.DataFrame, columns: Sequence[str], k: int = 3) -> str:
    cols = [c for c in (SOURCE_COLUMN, "instrument", "date", *columns) if c in df.columns]
    rows = df.select(cols).head(k).rows(named=True)
    label = {SOURCE_COLUMN: "file"}
    return "; ".join(", ".join(f"{label.get(c, c)}={r[c]}" for c in cols) for r in rows)


_RULE_COLUMNS = {
    "missing_key": ("date", "instrument"),
    "bad_price": PRICE_COLUMNS,
    "high_below_low": ("high", "low"),
    "bad_volume": ("volume",),
    "bad_optional": OPTIONAL_COLUMNS,
}


def clean_daily_bars(df: pl.DataFrame, on_bad: OnBad = "raise") -> tuple[pl.DataFrame, CleanReport]:
    """Validate long daily bars (`date, instrument, open, high, low, close, volume[, ...]`).

    on_bad="raise": the first failing check raises a DataError naming file, instrument, date.
    on_bad="drop": bad rows are removed and counted per reason; exact duplicate rows are
    collapsed to one (counted in `identical_duplicates`), conflicting duplicates all dropped.
    """
    check_on_bad(on_bad)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        src = df[SOURCE_COLUMN].unique().to_list()[:3] if SOURCE_COLUMN in df.columns else "input"
        raise DataError(
            f"{src}: daily bars lack the required columns {missing}; "
            f"they have {[c for c in df.columns if c != SOURCE_COLUMN]}"
        )
    rep = CleanReport(rows_in=df.height)
    rules = _rule_exprs(df.columns)
    flags = df.select([e.alias(r) for r, e in rules.items()])
    already = pl.Series([False] * df.height, dtype=pl.Boolean)
    for reason in rules:
        hit = flags[reason] & ~already
        n = int(hit.sum())
        if n and on_bad == "raise":
            cols = [c for c in _RULE_COLUMNS[reason] if c in df.columns]
            raise DataError(
                f"{n} rows of daily bars fail the check {reason!r} "
                f"(e.g. {_examples(df.filter(hit), cols)}); "
                f"fix the input or pass on_bad='drop'"
            )
        rep.dropped[reason] = n
        already = already | hit
    df = df.filter(~already)

    value_cols = [c for c in df.columns if c not in ("date", "instrument", SOURCE_COLUMN)]
    key = pl.struct("date", "instrument")
    dup_mask = df.select(key.is_duplicated()).to_series()
    if dup_mask.any():
        dups = df.filter(dup_mask)
        if on_bad == "raise":
            first = dups.sort("instrument", "date").head(1)
            inst, date = first["instrument"][0], first["date"][0]
            where = dups.filter((pl.col("instrument") == inst) & (pl.col("date") == date))
            srcs = (
                where[SOURCE_COLUMN].unique().to_list()
                if SOURCE_COLUMN in df.columns
                else ["input"]
            )
            n_keys = dups.select(key.n_unique()).item()
            raise DataError(
                f"duplicate (date, instrument) rows: {n_keys} keys, e.g. {inst} on "
                f"{date} ({where.height} rows, in {srcs}); "
                f"fix the input or pass on_bad='drop'"
            )
        df, rep.identical_duplicates, rep.dropped["duplicate"] = collapse_duplicates(
            df, ["date", "instrument"], value_cols
        )
    rep.rows_out = df.height
    return df, rep


def collapse_duplicates(
    df: pl.DataFrame, keys: Sequence[str], value_cols: Sequence[str]
) -> tuple[pl.DataFrame, int, int]:
    """The duplicate policy of daily and minute ingest alike (`on_bad="drop"`).

    Exact copies of a row (e.g. overlapping files) collapse to one; keys that still occur more
    than once (conflicting values) are all dropped. Returns (frame, n_identical, n_conflicting).
    """
    n_before = df.height
    df = df.unique(subset=[*keys, *value_cols], keep="first", maintain_order=True)
    identical = n_before - df.height
    conflict = df.select(pl.struct(*keys).is_duplicated()).to_series()
    return df.filter(~conflict), identical, int(conflict.sum())
