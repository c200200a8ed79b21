"""Reference data aligned to a panel: point-in-time industry and daily market capitalization.

Real data: `cn_meta/industry_sw_pit.csv` (Shenwan industry changes) and
`cn_meta/total_mv_quarterly.csv` (quarter-end total market cap in 10,000 CNY).
Synthetic stores carry daily fields `industry` (float code) and `mktcap` instead.

Consistent taxonomy (`taxonomy="sw2021"`, level-1 only): SW2014 level-1 names are mapped onto
SW2021 names. 22 names are identical; five were renamed (化工->基础化工, 商业贸易->商贸零售,
休闲服务->社会服务, 纺织服装->纺织服饰, 电气设备->电力设备); the rest is decided by the SW2014
level-2 code, never by a stock's later classification (that would look ahead):
  采掘 2101 石油开采 and 2104 采掘服务 -> 石油石化, 2102 煤炭开采 -> 煤炭,
  2103 其他采掘 -> 钢铁 (mostly iron ore; some went to 有色金属/基础化工 in 2021);
  化工 2201 石油化工 -> 石油石化; 公用事业 4102/4104 环保 -> 环保;
  采掘 on a pre-2014 backfilled code (no SW2014 level-2) -> 煤炭.
美容护理 has no SW2014 source (its members were 化工/轻工制造/医药生物 before 2021-07-30).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from seqalpha.data.panel import Panel, as_dates
from seqalpha.data.qlib_bin import QlibStore
from seqalpha.errors import ConfigError, DataError

INDUSTRY_FILE = "industry_sw_pit.csv"
MKTCAP_FILE = "total_mv_quarterly.csv"

SW2014_TO_SW2021_RENAMED = {
    "化工": "基础化工",
    "商业贸易": "商贸零售",
    "休闲服务": "社会服务",
    "纺织服装": "纺织服饰",
    "电气设备": "电力设备",
}
# SW2014 level-2 code (first 4 digits) -> SW2021 level-1 name, where the level-1 was split.
SW2014_L2_TO_SW2021 = {
    "2101": "石油石化",
    "2102": "煤炭",
    "2103": "钢铁",
    "2104": "石油石化",
    "2201": "石油石化",
    "4102": "环保",
    "4104": "环保",
}
MINING_FALLBACK = "煤炭"

Level = Literal["l1", "l2", "l3"]
Taxonomy = Literal["asis", "sw2021"]


def _day_numbers(dates: np.ndarray) -> np.ndarray:
    return as_dates(dates).astype(np.int64)


def _read_industry(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: industry file not found")
    df = pl.read_csv(path, schema_overrides={"sw_code": pl.Utf8, "start": pl.Utf8})
    need = {"instrument", "start", "sw_code", "sw_l1", "vintage"}
    if not need <= set(df.columns):
        raise DataError(f"{path}: expected columns {sorted(need)}, got {df.columns}")
    start = pl.col("start").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    df = df.with_columns(start.alias("start_date"), pl.col("instrument").str.to_uppercase())
    bad = df.filter(pl.col("start_date").is_null())
    if bad.height:
        raise DataError(
            f"{path}: {bad.height} rows with a bad start date, e.g. "
            f"{bad.select('instrument', 'start').head(3).rows()}"
        )
    return df


def _industry_labels(df: pl.DataFrame, level: Level, taxonomy: Taxonomy) -> pl.Series:
    """The label of each industry row: level-1 name, or level-2/level-3 code."""
    if taxonomy not in ("asis", "sw2021"):
        raise ConfigError(f"taxonomy={taxonomy!r}: expected 'asis' or 'sw2021'")
    if level == "l3":
        labels = df["sw_code"]
    elif level == "l2":
        labels = df["sw_code"].str.slice(0, 4)
    elif level == "l1":
        labels = df["sw_l1"]
    else:
        raise ConfigError(f"level={level!r}: expected 'l1', 'l2' or 'l3'")
    if taxonomy == "sw2021":
        if level != "l1":
            raise ConfigError(
                f"taxonomy='sw2021' maps level-1 names only (got level={level!r}); "
                f"SW2014 and SW2021 level-2/3 codes are not comparable"
            )
        l2 = df["sw_code"].str.slice(0, 4)
        by_l2 = l2.replace_strict(SW2014_L2_TO_SW2021, default=None, return_dtype=pl.Utf8)
        is14 = df["vintage"] == "SW2014"
        split = df.select(
            pl.when(is14 & by_l2.is_not_null())
            .then(by_l2)
            .when(pl.Series(labels) == "采掘")
            .then(pl.lit(MINING_FALLBACK))
            .otherwise(pl.Series(labels).replace(SW2014_TO_SW2021_RENAMED))
        ).to_series()
        labels = split
    return labels


def industry_names(
    meta_dir: str | Path, level: Level = "l1", taxonomy: Taxonomy = "asis"
) -> list[str]:
    """All industry labels of the file, sorted: the code of a label is its position here."""
    df = _read_industry(Path(meta_dir) / INDUSTRY_FILE)
    return sorted(_industry_labels(df, level, taxonomy).drop_nulls().unique().to_list())


def load_industry(
    meta_dir: str | Path,
    dates: np.ndarray,
    instruments: np.ndarray,
    level: Level = "l1",
    taxonomy: Taxonomy = "asis",
) -> tuple[np.ndarray, list[str]]:
    """Point-in-time industry codes int32 [T, N] (-1 where unknown) and the label list.

    On date t a stock has the classification of its latest row with `start <= t`. Codes index
    into the sorted labels of the whole file, so they do not depend on the universe.
    """
    path = Path(meta_dir) / INDUSTRY_FILE
    df = _read_industry(path)
    labels = _industry_labels(df, level, taxonomy)
    names = sorted(labels.drop_nulls().unique().to_list())
    dates = as_dates(dates)
    inst = np.asarray(instruments).astype(str)
    T, N = len(dates), len(inst)
    codes = np.full((T, N), -1, dtype=np.int32)
    if T == 0 or N == 0:
        return codes, names
    lab_id = np.searchsorted(np.array(names), labels.fill_null("").to_numpy().astype(str))
    lab_id = np.where(labels.is_null().to_numpy(), -1, lab_id).astype(np.int32)
    order = np.argsort(inst)
    row_inst = df["instrument"].to_numpy().astype(str)
    pos = np.searchsorted(inst[order], row_inst)
    pos = np.minimum(pos, N - 1)
    keep = inst[order][pos] == row_inst
    if not keep.any():
        return codes, names
    col = order[pos[keep]].astype(np.int64)
    start = df["start_date"].to_numpy().astype("datetime64[D]").astype(np.int64)[keep]
    lab_id = lab_id[keep]
    # One sorted key per row (instrument column, start day); each query (t, n) finds the last
    # row of instrument n whose start is on or before t.
    day0 = min(int(start.min()), int(_day_numbers(dates).min())) - 1
    span = np.int64(1 << 32)
    key = col * span + (start - day0)
    srt = np.argsort(key, kind="stable")
    key, col, lab_id = key[srt], col[srt], lab_id[srt]
    q = np.arange(N, dtype=np.int64)[None, :] * span + (_day_numbers(dates) - day0)[:, None]
    hit = np.searchsorted(key, q, side="right") - 1
    ok = hit >= 0
    hit_c = np.maximum(hit, 0)
    ok &= col[hit_c] == np.arange(N)[None, :]
    codes[ok] = lab_id[hit_c[ok]]
    return codes, names


def _ffill_rows(arr: np.ndarray) -> np.ndarray:
    """Carry the last non-NaN value of each column forward along axis 0 ([T, N] -> [T, N])."""
    T = arr.shape[0]
    idx = np.where(~np.isnan(arr), np.arange(T)[:, None], -1)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = arr[np.maximum(idx, 0), np.arange(arr.shape[1])[None, :]]
    out[idx < 0] = np.nan
    return out


def _raw_close(
    source: Panel | str | Path | QlibStore, dates: np.ndarray | None, instruments: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(history dates [H], instruments [N], raw close float64 [H, N]) for the cap computation."""
    if isinstance(source, Panel):
        for f in ("close", "factor"):
            if f not in source:
                raise DataError(
                    f"load_market_cap: the panel lacks the field {f!r} "
                    f"(raw close = close / factor); it has {source.field_names}"
                )
        close, factor = source["close"], source["factor"]
        return source.dates, source.instruments, close.astype(np.float64) / factor
    store = source if isinstance(source, QlibStore) else QlibStore(source)
    if instruments is None:
        raise ConfigError("load_market_cap: pass instruments when reading from a store")
    inst = np.asarray(instruments).astype(str)
    end = None if dates is None else as_dates(dates).max()
    p = store.load(["close", "factor"], universe=list(inst), end=end, warn_missing=False)
    raw = np.full((len(p.dates), len(inst)), np.nan)
    j = {c: i for i, c in enumerate(p.instruments.tolist())}
    have = np.array([c in j for c in inst.tolist()])
    if have.any():
        idx = np.array([j[c] for c in inst[have].tolist()])
        raw[:, have] = p["close"][:, idx].astype(np.float64) / p["factor"][:, idx]
    return p.dates, inst, raw


def load_market_cap(
    meta_dir: str | Path,
    source: Panel | str | Path | QlibStore,
    dates: np.ndarray | None = None,
    instruments: np.ndarray | None = None,
    ffill_close: bool = True,
) -> np.ndarray:
    """Daily total market cap in CNY, float32 [T, N], point in time.

    shares = cap_q * 1e4 / raw close on the last trading day <= quarter end q, used from q on
    (a missing quarter keeps the previous shares; a quarter ending before the history uses the
    history's first close); cap_t = shares * raw close_t
    (raw close = close / factor). source: a Panel with `close` and `factor` (its own dates are
    the history), or a store path (full history read; then `instruments` is required).
    With `ffill_close`, a suspended day (NaN close) uses the last close. Output rows: `dates`
    (default: the history's dates), columns: `instruments` (default: the panel's).
    """
    path = Path(meta_dir) / MKTCAP_FILE
    if not path.is_file():
        raise DataError(f"{path}: market cap file not found")
    hist_dates, inst, raw = _raw_close(source, dates, instruments)
    if instruments is not None:
        inst_req = np.asarray(instruments).astype(str)
        if isinstance(source, Panel) and not np.array_equal(inst_req, inst):
            raise DataError(
                "load_market_cap: instruments differ from the panel's; "
                "select them on the panel first"
            )
    if ffill_close:
        raw = _ffill_rows(raw)
    H, N = raw.shape
    mv = pl.read_csv(path, schema_overrides={"date": pl.Utf8})
    need = {"date", "instrument", "total_mv_10k_cny"}
    if not need <= set(mv.columns):
        raise DataError(f"{path}: expected columns {sorted(need)}, got {mv.columns}")
    qdate = pl.col("date").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    mv = mv.with_columns(qdate.alias("qdate"), pl.col("instrument").str.to_uppercase())
    if mv["qdate"].null_count():
        bad = mv.filter(pl.col("qdate").is_null()).head(3).rows()
        raise DataError(f"{path}: unparseable quarter dates, e.g. {bad}")
    mv = mv.filter(pl.col("instrument").is_in(inst.tolist()))
    out_dates = hist_dates if dates is None else as_dates(dates)
    if mv.height == 0 or H == 0:
        return np.full((len(out_dates), N), np.nan, dtype=np.float32)

    order = np.argsort(inst)
    col = order[np.searchsorted(inst[order], mv["instrument"].to_numpy().astype(str))]
    qd = mv["qdate"].to_numpy().astype("datetime64[D]")
    cap = mv["total_mv_10k_cny"].to_numpy().astype(np.float64) * 1e4
    # Raw close on the last trading day on or before each quarter end; a quarter that ends
    # before the history starts uses the first close of the history (known from that day on,
    # which is also the first day its shares are used).
    tq = np.maximum(np.searchsorted(hist_dates, qd, side="right") - 1, 0)
    ok = np.ones(len(tq), dtype=bool)
    shares_row = np.full(len(cap), np.nan)
    shares_row[ok] = cap[ok] / raw[tq[ok], col[ok]]
    shares_row[~np.isfinite(shares_row) | (shares_row <= 0)] = np.nan
    quarters = np.unique(qd)
    qi = np.searchsorted(quarters, qd)
    shares_q = np.full((len(quarters), N), np.nan)
    shares_q[qi, col] = shares_row
    shares_q = _ffill_rows(shares_q)
    # A quarter's shares apply from its quarter-end date on (never before).
    k = np.searchsorted(quarters, hist_dates, side="right") - 1
    shares_t = np.where((k >= 0)[:, None], shares_q[np.maximum(k, 0)], np.nan)
    mcap = (shares_t * raw).astype(np.float32)
    if dates is None:
        return mcap
    ti = np.searchsorted(hist_dates, out_dates)
    bad = (ti >= H) | (hist_dates[np.minimum(ti, H - 1)] != out_dates)
    if bad.any():
        raise DataError(
            f"load_market_cap: dates not in the price history, e.g. {out_dates[bad][:3]}"
        )
    return mcap[ti]


def industry_and_size(
    data_dir: str | Path,
    panel: Panel,
    meta_dir: str | Path | None = None,
    level: Level = "l1",
    taxonomy: Taxonomy = "asis",
) -> tuple[np.ndarray, np.ndarray]:
    """(industry codes int32 [T, N], -1 unknown; market cap float32 [T, N]) for a panel.

    A store with daily `industry` and `mktcap` fields (the synthetic market) is read directly;
    otherwise the point-in-time files in `meta_dir` (default `<data_dir>/../cn_meta`) are used.
    """
    store = QlibStore(data_dir)
    inst = panel.instruments
    have = set(store_codes(store))
    codes_with = [c for c in inst.tolist() if c in have]
    if codes_with and {"industry", "mktcap"} <= set(store.fields_of(codes_with[0])):
        return _synthetic_industry_and_size(store, panel)
    meta = Path(meta_dir) if meta_dir is not None else Path(data_dir).resolve().parent / "cn_meta"
    if not meta.is_dir():
        raise DataError(
            f"{meta}: no reference data folder (pass meta_dir), and {data_dir} has "
            f"no daily 'industry'/'mktcap' fields"
        )
    ind, _ = load_industry(meta, panel.dates, inst, level, taxonomy)
    if "close" in panel and "factor" in panel and _starts_at_calendar(store, panel):
        cap = load_market_cap(meta, panel)
    else:
        cap = load_market_cap(meta, store, dates=panel.dates, instruments=inst)
    return ind, cap


def store_codes(store: QlibStore) -> list[str]:
    """Upper-case codes with a features folder."""
    root = store.root / "features"
    return [p.name.upper() for p in root.iterdir() if p.is_dir()] if root.is_dir() else []


def _starts_at_calendar(store: QlibStore, panel: Panel) -> bool:
    """True when the panel's history starts with the store's calendar (no earlier quarter lost)."""
    return len(panel.dates) > 0 and panel.dates[0] <= store.calendar[0]


def _synthetic_industry_and_size(store: QlibStore, panel: Panel) -> tuple[np.ndarray, np.ndarray]:
    p = store.load(["industry", "mktcap"], universe=list(panel.instruments), warn_missing=False)
    ti = np.searchsorted(p.dates, panel.dates)
    T = len(p.dates)
    bad = (ti >= T) | (p.dates[np.minimum(ti, T - 1)] != panel.dates)
    if bad.any():
        raise DataError(
            f"{store.root}: panel dates not in the store calendar, e.g. {panel.dates[bad][:3]}"
        )
    j = {c: i for i, c in enumerate(p.instruments.tolist())}
    ind = np.full(panel.shape, -1, dtype=np.int32)
    cap = np.full(panel.shape, np.nan, dtype=np.float32)
    have = np.array([c in j for c in panel.instruments.tolist()])
    if have.any():
        idx = np.array([j[c] for c in panel.instruments[have].tolist()])
        raw_ind = p["industry"][ti][:, idx]
        ind[:, have] = np.where(np.isfinite(raw_ind), raw_ind, -1).astype(np.int32)
        cap[:, have] = p["mktcap"][ti][:, idx]
    return ind, cap
