"""Model inputs of a config: daily features [T, N, F], intraday bars [T, N, B, Fb], raw labels
[T, N, H] and the universe mask [T, N], on the daily panel's grid (before any processor)."""

from __future__ import annotations

import ctypes
import json
import mmap
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqalpha.config import DataConfig, FeaturesConfig, LabelsConfig
from seqalpha.errors import ConfigError, DataError

_ARRAYS = ("dates", "instruments", "features", "bars", "labels", "mask", "market")


@dataclass
class Inputs:
    """Unprocessed arrays of a whole run, shared read-only by every window job (saved as .npy
    for worker processes). A window job fits processors on its train rows and hands the model
    a `dataset.SampleSet`: processed arrays of that window with train/valid/test `rows`.

    dates datetime64[D] [T]; instruments str [N]; features float32 [T, N, F], a
    `features.store.FeatureStore` of that shape (out-of-core), or None;
    bars float32 [T, N, B, Fb] or None; labels float32 [T, N, H] (raw); mask bool [T, N].
    market: float32 [T, 4] daily market state (`train.selection.daily_market_state`) or None.
    """

    dates: np.ndarray
    instruments: np.ndarray
    features: Any  # np.ndarray | FeatureStore | None
    bars: np.ndarray | None
    labels: np.ndarray
    mask: np.ndarray
    feature_names: list[str] = field(default_factory=list)
    label_names: list[str] = field(default_factory=list)
    lookback: int = 1
    market: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.dates = np.asarray(self.dates, dtype="datetime64[D]")
        self.instruments = np.asarray(self.instruments).astype(str)
        T, N = len(self.dates), len(self.instruments)
        for name in ("features", "bars", "labels", "mask"):
            arr = getattr(self, name)
            if arr is not None and tuple(arr.shape[:2]) != (T, N):
                raise DataError(f"Inputs.{name}: shape {arr.shape} does not start with {(T, N)}")
        if self.features is None and self.bars is None:
            raise DataError("Inputs: neither daily features nor intraday bars were built")
        if self.market is not None and len(self.market) != T:
            raise DataError(f"Inputs.market: {len(self.market)} rows for {T} dates")

    def to_dir(self, path: str | Path) -> None:
        """Save as .npy files + meta.json (read back memory-mapped by `from_dir`)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        store = None if isinstance(self.features, np.ndarray) else self.features
        for name in _ARRAYS:
            arr = getattr(self, name)
            if arr is not None and not (name == "features" and store is not None):
                np.save(path / f"{name}.npy", arr if name != "instruments" else arr.astype("U"))
        meta = {
            "feature_names": list(self.feature_names),
            "label_names": list(self.label_names),
            "lookback": int(self.lookback),
            "features_store": None if store is None else str(store.path),
        }
        (path / "meta.json").write_text(json.dumps(meta))

    @classmethod
    def from_dir(cls, path: str | Path, mmap: bool = True) -> Inputs:
        """Inputs saved by `to_dir`; large arrays memory-mapped read-only when `mmap`."""
        path = Path(path)
        meta = json.loads((path / "meta.json").read_text())
        store = meta.pop("features_store", None)
        arrays: dict[str, Any] = {}
        for name in _ARRAYS:
            f = path / f"{name}.npy"
            arrays[name] = np.load(f, mmap_mode="r" if mmap else None) if f.exists() else None
        if store is not None:
            from seqalpha.features.store import FeatureStore

            arrays["features"] = FeatureStore(store)
        return cls(**arrays, **meta)


def align_to(
    x: np.ndarray,
    src_dates: np.ndarray,
    src_inst: np.ndarray,
    dates: np.ndarray,
    instruments: np.ndarray,
) -> np.ndarray:
    """Re-grid x [D, M, ...] (src_dates x src_inst) onto dates x instruments [T, N, ...] (NaN
    where the source has no row or column)."""
    src_dates = np.asarray(src_dates, dtype="datetime64[D]")
    dates = np.asarray(dates, dtype="datetime64[D]")
    ti = np.searchsorted(src_dates, dates)
    ti_c = np.minimum(ti, len(src_dates) - 1)
    t_ok = (ti < len(src_dates)) & (src_dates[ti_c] == dates)
    src_inst = np.asarray(src_inst).astype(str)
    order = np.argsort(src_inst)
    ins = np.asarray(instruments).astype(str)
    pos = np.searchsorted(src_inst[order], ins)
    pos_c = np.minimum(pos, len(src_inst) - 1)
    ni = order[pos_c]
    n_ok = (pos < len(src_inst)) & (src_inst[ni] == ins)
    out = np.full((len(dates), len(ins), *x.shape[2:]), np.nan, dtype=np.float32)
    sub = x[ti_c[t_ok]][:, ni[n_ok]]
    out[np.ix_(np.nonzero(t_ok)[0], np.nonzero(n_ok)[0])] = sub
    return out


def _stack_panel(panel) -> tuple[list[str], np.ndarray]:
    """Fields of a (temporary) panel as [T, N, F], consumed: filled block of dates by block of
    dates (a column write would touch every page of the result at once), each field's copied
    rows handed back to the OS, so that peak memory stays near one copy of the features."""
    names = panel.field_names
    T, N = panel.shape
    out = np.empty((T, N, len(names)), dtype=np.float32)
    fields = [panel.fields.pop(name) for name in names]
    step = 256
    for t0 in range(0, T, step):
        t1 = min(t0 + step, T)
        for k in range(len(fields)):
            out[t0:t1, :, k] = fields[k][t0:t1]
            if sys.getrefcount(fields[k]) == 2:  # only this list holds it: nobody reads it again
                _release_rows(fields[k], t0, t1)
    del fields
    _trim_heap()
    return names, out


_MADV_DONTNEED = 4
_LIBC = None
if sys.platform.startswith("linux"):
    try:
        _LIBC = ctypes.CDLL(None)
        _LIBC.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    except (OSError, AttributeError):
        _LIBC = None


def _release_rows(arr: np.ndarray, t0: int, t1: int) -> None:
    """Return the whole memory pages inside rows t0..t1 of a C-contiguous array to the OS (Linux;
    elsewhere a no-op). The rows read as zeros afterwards: only for arrays about to be freed."""
    if _LIBC is None or not arr.flags.c_contiguous or not arr.flags.owndata:
        return
    page = mmap.PAGESIZE
    row = arr.strides[0]
    lo = arr.ctypes.data + t0 * row
    hi = arr.ctypes.data + t1 * row
    lo = (lo + page - 1) // page * page
    hi = hi // page * page
    if hi > lo:
        _LIBC.madvise(ctypes.c_void_p(lo), ctypes.c_size_t(hi - lo), _MADV_DONTNEED)


def _trim_heap() -> None:
    """Give memory freed to the C heap back to the OS (glibc's malloc_trim; else a no-op)."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


def build_inputs(data: DataConfig, features: FeaturesConfig, labels: LabelsConfig) -> Inputs:
    """Load the data of the config's `data`, `features` and `labels` sections and build raw
    features, bars, labels and the universe mask (the first stage of a run)."""
    from seqalpha.data import load_panel
    from seqalpha.features import LIBRARIES, check_feature_specs
    from seqalpha.labels import LabelSpec, make_labels

    d, f = data, features
    # extra names, syntax and no look-ahead in any feature: checked before any data is read
    replace = f.replace  # an extra expression may redefine a library feature of the same name
    check_feature_specs(f.library, dict(f.extra), replace=replace)
    panel = load_panel(
        d.dir, None, d.universe if isinstance(d.universe, str) else list(d.universe), d.start, d.end
    )
    if use_store(f, panel.shape):
        return _build_store_inputs(d, f, labels, panel)
    names: list[str] = []
    blocks: list[np.ndarray] = []
    if f.library in LIBRARIES:  # the daily expression libraries (features.engine)
        from seqalpha.features import compute_library

        n, x = _stack_panel(compute_library(panel, f.library, set(f.extra) if replace else ()))
        names += n
        blocks.append(x)
    if f.extra:
        from seqalpha.features import evaluate

        n, x = _stack_panel(evaluate(panel, dict(f.extra)))
        names += n
        blocks.append(x)
    for lib in f.extra_libraries:  # daily libraries beside `library` (e.g. beta_quantile)
        from seqalpha.features.beta_quantile import library_block

        n, x = library_block(panel, lib, d.dir, f.beta)
        names += n
        blocks.append(x)
    bars_arr = None
    minute = None
    if f.library == "intraday" or f.bars:
        minute = _load_bars(d.minute_dir, d.bar_minutes, panel)
    if minute is not None and f.library == "intraday":
        from seqalpha.features.intraday import intraday_daily_features

        n, x = intraday_daily_features(minute, window=f.intraday_window)
        names += list(n)
        blocks.append(align_to(x, minute.dates, minute.instruments, panel.dates, panel.instruments))
    if minute is not None and f.bars:
        from seqalpha.features.intraday import intraday_sequences

        _, xb = intraday_sequences(minute)
        bars_arr = align_to(xb, minute.dates, minute.instruments, panel.dates, panel.instruments)
    feats = None
    if blocks:
        feats = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=2)
        feats = np.ascontiguousarray(feats, dtype=np.float32)
        feats, names = drop_empty_features(feats, names, panel.universe, in_place=True)
    lab = labels
    spec = LabelSpec(
        horizons=tuple(lab.horizons),
        kind=lab.kind,
        offset=lab.offset,
        benchmark=lab.benchmark,
        price_field=lab.price_field,
    )
    label_names, y = make_labels(panel, spec, bars=minute)
    from seqalpha.train.selection import market_state

    return Inputs(
        panel.dates,
        panel.instruments,
        feats,
        bars_arr,
        y.astype(np.float32),
        panel.universe.copy(),
        names,
        list(label_names),
        f.lookback,
        market=market_state(panel),
    )


def _labels(lab: LabelsConfig, panel, minute) -> tuple[list[str], np.ndarray]:
    """The config's labels on the panel: names and float32 [T, N, H]."""
    from seqalpha.labels import LabelSpec, make_labels

    spec = LabelSpec(
        horizons=tuple(lab.horizons),
        kind=lab.kind,
        offset=lab.offset,
        benchmark=lab.benchmark,
        price_field=lab.price_field,
    )
    label_names, y = make_labels(panel, spec, bars=minute)
    return list(label_names), y.astype(np.float32)


def feature_count(f: FeaturesConfig) -> int:
    """Daily features the config computes (library + extra; intraday counted as 0)."""
    from seqalpha.features import LIBRARIES, library_expressions

    n = 0
    if f.library in LIBRARIES:
        lib = library_expressions(f.library)
        n += len(lib) - (len(set(f.extra) & set(lib)) if f.replace else 0)
    return n + len(f.extra)


def use_store(f: FeaturesConfig, shape: tuple[int, int]) -> bool:
    """Whether the features go to an on-disk FeatureStore: `features.store` disk, or auto and
    T x N x F float32 above `features.store_threshold_gb`."""
    if f.store == "disk":
        return True
    if f.store == "memory":
        return False
    return shape[0] * shape[1] * max(1, feature_count(f)) * 4 > f.store_threshold_gb * 1e9


def _build_store_inputs(d: DataConfig, f: FeaturesConfig, labels: LabelsConfig, panel) -> Inputs:
    """`build_inputs` with the features written to a FeatureStore (block by block; memory does
    not grow with the number of features): same names, order and values as in memory."""
    from seqalpha.features import LIBRARIES, library_expressions
    from seqalpha.features.store import FeatureStore, write_expressions

    parts: list[tuple[dict[str, str], str]] = []
    if f.library in LIBRARIES:
        skip = set(f.extra) if f.replace else set()
        lib = {k: v for k, v in library_expressions(f.library).items() if k not in skip}
        parts.append((lib, "nan"))
    if f.extra:
        parts.append((dict(f.extra), "error"))
    minute = None
    if f.library == "intraday" or f.bars:
        minute = _load_bars(d.minute_dir, d.bar_minutes, panel)
    intraday_names: list[str] = []
    intraday = None
    if minute is not None and f.library == "intraday":
        from seqalpha.features.intraday import intraday_daily_features

        n, x = intraday_daily_features(minute, window=f.intraday_window)
        intraday_names = list(n)
        intraday = align_to(x, minute.dates, minute.instruments, panel.dates, panel.instruments)
    bars_arr = None
    if minute is not None and f.bars:
        from seqalpha.features.intraday import intraday_sequences

        _, xb = intraday_sequences(minute)
        bars_arr = align_to(xb, minute.dates, minute.instruments, panel.dates, panel.instruments)
    names = [k for exprs, _ in parts for k in exprs] + intraday_names
    from seqalpha.features.beta_quantile import library_block

    extra_blocks = [library_block(panel, lib, d.dir, f.beta) for lib in f.extra_libraries]
    names += [n for ns, _ in extra_blocks for n in ns]
    if f.store_dir is None:
        store = FeatureStore.scratch(panel.dates, panel.instruments, names)
    else:
        store = FeatureStore.create(f.store_dir, panel.dates, panel.instruments, names)
    finite = [write_expressions(store, panel, exprs, missing=m) for exprs, m in parts]
    if intraday is not None:
        ok = []
        for j, name in enumerate(intraday_names):
            store.write(names.index(name), intraday[:, :, j])
            ok.append(bool(np.isfinite(intraday[:, :, j][panel.universe]).any()))
        finite.append(np.array(ok, dtype=bool))
        del intraday
    for ns, x in extra_blocks:  # extra libraries, in `names` order after the intraday ones
        for j, name in enumerate(ns):
            store.write(names.index(name), x[:, :, j])
        finite.append(np.isfinite(x[panel.universe]).any(axis=0))
    del extra_blocks
    found = np.concatenate(finite) if finite else np.zeros(0, dtype=bool)
    empty = [n for n, ok in zip(names, found, strict=True) if not ok]
    if empty and len(empty) == len(names):
        raise DataError(f"features: every feature is empty (no finite value), e.g. {empty[:5]}")
    if empty:
        warnings.warn(
            f"features {empty} have no finite value in the universe and are dropped", stacklevel=2
        )
        store.drop(empty)
    label_names, y = _labels(labels, panel, minute)
    from seqalpha.train.selection import market_state

    return Inputs(
        panel.dates,
        panel.instruments,
        store,
        bars_arr,
        y,
        panel.universe.copy(),
        list(store.names),
        label_names,
        f.lookback,
        market=market_state(panel),
    )


def drop_empty_features(
    x: np.ndarray, names: list[str], mask: np.ndarray, in_place: bool = False
) -> tuple[np.ndarray, list[str]]:
    """Drop feature columns of x [T, N, F] with no finite value in the universe (e.g. Alpha158's
    VWAP0 on a store without $vwap), with one warning naming them.

    `in_place` compacts the kept columns inside x's own buffer (x C-contiguous; the caller gives
    x up): the result is a view of that buffer, so no second copy of the features exists."""
    finite = _finite_columns(x, np.asarray(mask, dtype=bool))
    if finite.all():
        return x, names
    empty = [n for n, ok in zip(names, finite, strict=False) if not ok]
    if not finite.any():
        raise DataError(f"features: every feature is empty (no finite value), e.g. {empty[:5]}")
    warnings.warn(
        f"features {empty} have no finite value in the universe and are dropped", stacklevel=2
    )
    keep = np.nonzero(finite)[0]
    kept = [names[k] for k in keep]
    if not in_place:
        return np.ascontiguousarray(x[:, :, keep]), kept
    if not x.flags.c_contiguous or not x.flags.writeable:
        raise DataError("drop_empty_features: in_place needs a writeable C-contiguous array")
    T, N, F = x.shape
    rows, flat = x.reshape(T * N, F), x.reshape(-1)
    k = len(keep)
    step = 1 << 16
    for r0 in range(0, T * N, step):  # forward: row r lands at r*k <= r*F, never ahead of a read
        r1 = min(r0 + step, T * N)
        flat[r0 * k : r1 * k] = rows[r0:r1, keep].ravel()
    return flat[: T * N * k].reshape(T, N, k), kept


def _finite_columns(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """bool [F]: column f of x [T, N, F] has a finite value in a cell of mask [T, N]."""
    F = x.shape[2]
    found = np.zeros(F, dtype=bool)
    for t0 in range(0, x.shape[0], 64):  # blocks of dates; stop once every column is found
        todo = np.nonzero(~found)[0]
        if len(todo) == 0:
            break
        block = x[t0 : t0 + 64][mask[t0 : t0 + 64]]  # member cells [n, F]
        found[todo] |= np.isfinite(block[:, todo]).any(axis=0)
    return found


def _load_bars(minute_dir: str | None, bar_minutes: int, panel):
    """Minute bars of the panel's dates and instruments at `bar_minutes` (MinuteBars [D, B, N])."""
    from seqalpha.data.minute import load_minute

    if minute_dir is None:
        raise ConfigError("data.minute_dir: not set; intraday features and bars need minute bars")
    if not Path(minute_dir).is_dir():
        raise DataError(f"data.minute_dir: {minute_dir} is not a directory")
    return load_minute(
        minute_dir,
        panel.dates[0],
        panel.dates[-1],
        instruments=list(panel.instruments),
        bar_minutes=bar_minutes,
    )
