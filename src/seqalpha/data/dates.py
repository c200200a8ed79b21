"""Parsing of date and datetime columns at ingest: one explicit policy, no silent guessing.

- Strings must be ISO (`YYYY-MM-DD`, optionally `[ T]HH:MM[:SS[.fff]]`) unless a format is
  given; anything else (e.g. `01/02/2025`, which is m/d/Y or d/m/Y) is refused, naming the
  file and column, because a guess can put bars on the wrong date.
- Naive timestamps are taken as exchange-local time.
- Timezone-aware timestamps (a Parquet timezone, or a `Z`/`+08:00` suffix) are converted to
  the exchange's timezone (`EXCHANGE_TZ`, Asia/Shanghai) before the date is taken, so a UTC
  midnight-of-Shanghai stamp (16:00 UTC the day before) lands on the right day.
- Integer columns (e.g. 20250102) are refused unless a format such as `%Y%m%d` is given.
"""

from __future__ import annotations

import polars as pl

from seqalpha.errors import DataError

EXCHANGE_TZ = "Asia/Shanghai"
_ISO = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
_TZ = r"(Z|[+-]\d{2}:?\d{2})$"


def _refuse(path: object, column: str, values: pl.Series, why: str) -> DataError:
    examples = values.head(3).to_list()
    return DataError(
        f"{path}: column {column!r}: {values.len()} value(s) {why} (e.g. {examples}); "
        "dates must be ISO YYYY-MM-DD[ HH:MM[:SS]] or the format given explicitly "
        "(--date-format / date_format, e.g. '%m/%d/%Y %H:%M')"
    )


def parse_datetimes(
    s: pl.Series, path: object, column: str, fmt: str | None = None, tz: str = EXCHANGE_TZ
) -> pl.Series:
    """A date/datetime column as naive exchange-local `Datetime("us")` (policy: module doc)."""
    dtype = s.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            s = s.dt.convert_time_zone(tz).dt.replace_time_zone(None)
        return s.cast(pl.Datetime("us"))
    if dtype == pl.Date:
        return s.cast(pl.Datetime("us"))
    if dtype.is_integer() and fmt is not None:
        s = s.cast(pl.Utf8)
    elif dtype != pl.Utf8:
        why = "are integers, not dates" if dtype.is_integer() else f"have type {dtype}"
        raise _refuse(path, column, s.drop_nulls(), why)
    text = s.str.strip_chars()
    if fmt is not None:
        parsed = text.str.to_datetime(fmt, time_unit="us", strict=False)
        bad = text.filter(parsed.is_null() & text.is_not_null())
        if bad.len():
            raise _refuse(path, column, bad, f"do not match the format {fmt!r}")
    else:
        iso = text.str.contains(_ISO + r"$")
        iso_tz = text.str.contains(_ISO + r"\s?" + _TZ)
        bad = text.filter(~(iso | iso_tz) & text.is_not_null())
        if bad.len():
            raise _refuse(path, column, bad, "are not ISO dates (ambiguous or unknown format)")
        if iso_tz.any() and not iso_tz.fill_null(True).all():
            raise _refuse(
                path, column, text.filter(~iso_tz), "lack the timezone other values carry"
            )
        norm = text.str.replace("T", " ")
        if iso_tz.any():
            norm = norm.str.replace(r"\s?Z$", "+0000").str.replace(
                r"\s?([+-]\d{2}):?(\d{2})$", "$1$2"
            )
            parsed = norm.str.to_datetime("%Y-%m-%d %H:%M%#z", time_unit="us", strict=False)
            parsed = parsed.fill_null(
                norm.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%#z", time_unit="us", strict=False)
            )
        else:
            parsed = norm.str.to_datetime("%Y-%m-%d", time_unit="us", strict=False)
            for f in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S%.f"):
                parsed = parsed.fill_null(norm.str.to_datetime(f, time_unit="us", strict=False))
        bad = text.filter(parsed.is_null() & text.is_not_null())
        if bad.len():
            raise _refuse(path, column, bad, "are not valid dates")
    if isinstance(parsed.dtype, pl.Datetime) and parsed.dtype.time_zone is not None:
        parsed = parsed.dt.convert_time_zone(tz).dt.replace_time_zone(None)
    return parsed.cast(pl.Datetime("us")).alias(s.name)
