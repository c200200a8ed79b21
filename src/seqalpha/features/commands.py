"""Body of `seqalpha features`: a factor library and/or own expressions to a long Parquet table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from seqalpha.config.loading import parse_cli_date
from seqalpha.errors import ConfigError, DataError
from seqalpha.features.specs import FEATURE_NAME, check_feature_specs
from seqalpha.jsonio import write_parquet_atomic

__all__ = ["features_command", "parse_expr_options"]


def parse_expr_options(items: Sequence[str]) -> dict[str, str]:
    """`NAME=EXPR` strings as an ordered dict; a malformed or duplicated item is a ConfigError."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, expr = item.partition("=")
        name, expr = name.strip(), expr.strip()
        if not sep or not name or not expr:
            raise ConfigError(
                f"--expr {item!r}: expected NAME=EXPR, e.g. MA5='Mean($close, 5)/$close'"
            )
        if not FEATURE_NAME.fullmatch(name):
            raise ConfigError(
                f"--expr {item!r}: the name {name!r} must match {FEATURE_NAME.pattern} "
                f"(a letter or _, then letters, digits or _)"
            )
        if name in out:
            raise ConfigError(f"--expr {item!r}: the name {name!r} is given twice")
        out[name] = expr
    return out


def _read_instruments(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"--instruments {path}: file not found")
    codes = [ln.split()[0].strip().upper() for ln in path.read_text().splitlines() if ln.strip()]
    if not codes:
        raise DataError(f"--instruments {path}: no instrument codes in the file")
    return codes


def _write_parquet(df: pl.DataFrame, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(df, out)


def features_command(
    data_dir: Path,
    library: str | None,
    universe: str,
    start: str | None,
    end: str | None,
    instruments: Path | None,
    exprs: Sequence[str],
    out: Path,
    progress: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
    replace: bool = False,
    to_store: bool = False,
) -> pl.DataFrame:
    """Compute features for universe members in start..end and write them to `out` (Parquet).

    Rows are member-days (or, with --instruments, every day those codes have data); extra history
    before `start` is loaded per the expressions' look-back. `replace`: an --expr may redefine a
    library feature of the same name (in its place). Expressions are checked (syntax, names,
    no look-ahead) before any data is read. Returns the written table.

    `to_store`: write an on-disk FeatureStore directory at `out` instead (every date x instrument
    of start..end, block by block, memory bounded by the panel); returns its features and files.
    """
    day0, day1 = parse_cli_date(start, "--start"), parse_cli_date(end, "--end")
    own = parse_expr_options(exprs)
    lib = library.lower() if library else None
    check_feature_specs(lib, own, replace=replace, where="--expr", replace_key="--replace")
    if lib == "intraday":
        if own:
            raise ConfigError("--expr cannot be combined with --library intraday (minute bars)")
        return _intraday(data_dir, day0, day1, instruments, out)
    from seqalpha.data.qlib_bin import QlibStore
    from seqalpha.features.engine import (
        _fields_of,
        evaluate_long,
        library_expressions,
        required_window,
    )
    from seqalpha.features.expr import parse

    table: dict[str, str] = {}
    if lib not in (None, "none"):
        table.update(library_expressions(lib))
    table.update(own)  # with replace, a redefined library feature keeps its place
    if not table:
        raise ConfigError(
            "nothing to compute: give --library alpha158|alpha360 and/or --expr NAME=EXPR"
        )
    store = QlibStore(data_dir)
    cal = store.calendar
    lookback = max(required_window(e)[0] for e in table.values())
    lookahead = max(required_window(e)[1] for e in table.values())
    lo = 0 if day0 is None else int(np.searchsorted(cal, np.datetime64(day0, "D")))
    hi = len(cal) if day1 is None else int(np.searchsorted(cal, np.datetime64(day1, "D"), "right"))
    if hi <= lo:
        raise DataError(
            f"--start {day0} --end {day1}: no trading days in {data_dir} "
            f"(calendar {cal[0]}..{cal[-1]})"
        )
    load_lo, load_hi = max(0, lo - lookback), min(len(cal), hi + lookahead)
    fields = sorted({f for e in table.values() for f in _fields_of(parse(e), set())})
    codes = _read_instruments(instruments) if instruments is not None else None
    have = None
    if codes is not None:
        from seqalpha.data.qlib_bin import list_feature_codes

        have = set(list_feature_codes(data_dir))
        missing = [c for c in codes if c not in have]
        if missing:
            raise DataError(
                f"--instruments {instruments}: no data for {missing[:10]} in {data_dir}"
            )
    store_fields = _store_fields(store, codes, universe)
    present = [f for f in fields if f in store_fields]
    absent = sorted(set(fields) - set(present))
    own_absent = sorted(
        {f for e in own.values() for f in _fields_of(parse(e), set())} & set(absent)
    )
    if own_absent:
        raise DataError(
            f"--expr uses unknown field(s) {['$' + f for f in own_absent]}; "
            f"{data_dir} has {['$' + f for f in store_fields]}"
        )
    if absent and log is not None:
        log(f"note: {data_dir} has no {['$' + f for f in absent]}; features using them are NaN")
    import warnings

    with warnings.catch_warnings():
        # members without data files are skipped, as in Qlib; data-quality warnings still show
        warnings.filterwarnings("ignore", message=r".*have no data files")
        panel = store.load(
            present or None,
            codes if codes is not None else universe,
            cal[load_lo],
            cal[load_hi - 1],
        )
    if codes is not None:  # every day with data for the listed codes, as Qlib's instrument lists
        from seqalpha.features.engine import series_span

        first, last = series_span(panel)
        t = np.arange(len(panel.dates))[:, None]
        panel.universe = (t >= first[None, :]) & (t <= last[None, :])
    if to_store:
        from seqalpha.features.store import FeatureStore, write_expressions

        a, b = (int(np.searchsorted(panel.dates, cal[k])) for k in (lo, hi - 1))
        fs = FeatureStore.create(out, panel.dates[a : b + 1], panel.instruments, list(table))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            write_expressions(fs, panel, table, "nan", t0=a)
        return pl.DataFrame({"feature": fs.names, "file": fs.files})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # absent fields were reported above
        df = evaluate_long(panel, table, cal[lo], cal[hi - 1], missing="nan", progress=progress)
    _write_parquet(df, out)
    return df


def _store_fields(store, codes, universe) -> list[str]:
    """Fields stored for any instrument of the universe (absent ones evaluate to NaN)."""
    probe_codes, _ = store.resolve_universe(codes if codes is not None else universe)
    have = store.fields_of_all(probe_codes)
    if have:
        return have
    raise DataError(f"no instrument of {universe!r} has data files in {store.root}")


def _intraday(data_dir: Path, start, end, instruments: Path | None, out: Path) -> pl.DataFrame:
    """`--library intraday`: daily intraday features from minute bars, when that module exists."""
    try:
        from seqalpha.data.minute import load_minute
        from seqalpha.features.intraday import intraday_daily_features
    except ImportError as exc:
        raise ConfigError(f"--library intraday is not available yet ({exc})") from None
    codes = _read_instruments(instruments) if instruments is not None else None
    bars = load_minute(data_dir, start, end, instruments=codes)
    names, x = intraday_daily_features(bars)  # [D, N, F]
    have = ~np.all(np.isnan(x), axis=2)
    di, ni = np.nonzero(have)
    cols = {"datetime": np.asarray(bars.dates)[di], "instrument": np.asarray(bars.instruments)[ni]}
    for k, name in enumerate(names):
        cols[name] = x[di, ni, k]
    df = pl.DataFrame(cols).with_columns(pl.col("datetime").cast(pl.Date))
    _write_parquet(df, out)
    return df
