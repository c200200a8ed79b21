"""An on-disk feature store: features [T, N, F] kept feature-major on disk, one `.npy` file per
feature, read and written in blocks so that memory does not grow with features x stocks x days.

Format (version 1), a directory:

- `manifest.json`: `{"format": "seqalpha-feature-store", "version": 1, "layout":
  "feature-major", "dtype": "float32", "shape": [T, N], "features": [names], "files": [paths]}`
- `dates.npy` datetime64[D] [T]; `instruments.npy` str [N];
- `planes/<k>.npy`: float32 [T, N] of feature k (C order: one day's N values are contiguous),
  a plain `.npy` any tool can memory-map (`np.load(path, mmap_mode="r")`).

Reads and writes go through positioned file I/O (no long-lived memory map), so the resident
memory of a process is the blocks it holds, not the pages of the files it touched. A
`FeatureStore` quacks like a read-only float32 array [T, N, F] for day-leading indexing
(`store[t0:t1]`, `store[t]`, `store[t_idx, i_idx]`), which is what models and processors read.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqalpha.data.panel import Panel
from seqalpha.errors import DataError

FORMAT = "seqalpha-feature-store"
VERSION = 1
_DTYPE = np.dtype("<f4")


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """The header bytes of a float32 C-order `.npy` file of `shape` (format 1.0)."""
    import io

    buf = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(_DTYPE), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def _reopen(path: str, t0: int, t1: int) -> FeatureStore:
    """A FeatureStore re-opened by another process (rows t0..t1 of its files)."""
    store = FeatureStore(path)
    return store if (t0, t1) == (0, len(store.dates)) else store.window(t0, t1)


class FeatureStore:
    """Features [T, N, F] on disk (see the module docstring for the format)."""

    ndim = 3
    dtype = _DTYPE

    def __init__(self, path: str | Path, _temporary: bool = False):
        self.path = Path(path)
        man_path = self.path / "manifest.json"
        try:
            man = json.loads(man_path.read_text())
        except FileNotFoundError:
            raise DataError(f"{man_path}: not a feature store (no manifest.json)") from None
        except (OSError, ValueError) as exc:
            raise DataError(f"{man_path}: unreadable manifest ({exc})") from None
        if man.get("format") != FORMAT or man.get("version") != VERSION:
            raise DataError(
                f"{man_path}: format {man.get('format')!r} version {man.get('version')!r}, "
                f"expected {FORMAT!r} version {VERSION}"
            )
        self.manifest = man
        self.dates = np.load(self.path / "dates.npy").astype("datetime64[D]")
        self.instruments = np.load(self.path / "instruments.npy").astype(str)
        self.names: list[str] = list(man["features"])
        self.files: list[str] = list(man["files"])
        T, N = (int(v) for v in man["shape"])
        if (len(self.dates), len(self.instruments)) != (T, N):
            raise DataError(f"{man_path}: shape {man['shape']} != dates x instruments")
        self._offset = len(_npy_header((T, N)))
        self._t0 = 0  # first row of the files this object reads (a `window` view: lo)
        self._base: FeatureStore | None = None  # the store a view reads (kept alive)
        self._cache: dict[str, np.ndarray] = {}  # shared with views: the finite map
        self._temporary = _temporary
        if _temporary:  # a scratch store: its directory goes with the object
            weakref.finalize(self, shutil.rmtree, str(self.path), True)

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        path: str | Path,
        dates: np.ndarray,
        instruments: np.ndarray,
        names: Sequence[str],
        temporary: bool = False,
    ) -> FeatureStore:
        """An empty store (planes allocated as sparse files, read as 0 until written) in the
        new or empty directory `path`; `temporary` removes it when the object is freed."""
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise DataError(f"feature store {path}: exists and is not an empty directory")
        if len(set(names)) != len(names):
            raise DataError(f"feature store {path}: duplicate feature names")
        (path / "planes").mkdir(parents=True, exist_ok=True)
        dates = np.asarray(dates, dtype="datetime64[D]")
        instruments = np.asarray(instruments).astype(str)
        T, N = len(dates), len(instruments)
        np.save(path / "dates.npy", dates)
        np.save(path / "instruments.npy", instruments)
        header = _npy_header((T, N))
        files = [f"planes/{k:05d}.npy" for k in range(len(names))]
        for f in files:
            with open(path / f, "wb") as fh:
                fh.write(header)
                fh.truncate(len(header) + T * N * _DTYPE.itemsize)
        man = {
            "format": FORMAT,
            "version": VERSION,
            "layout": "feature-major",
            "dtype": "float32",
            "shape": [T, N],
            "features": list(names),
            "files": files,
        }
        (path / "manifest.json").write_text(json.dumps(man, indent=1))
        return cls(path, _temporary=temporary)

    @classmethod
    def scratch(
        cls,
        dates: np.ndarray,
        instruments: np.ndarray,
        names: Sequence[str],
        dir: str | None = None,
    ) -> FeatureStore:
        """A temporary store (removed with the object) under `dir` or $SEQALPHA_SCRATCH or the
        system's temporary directory."""
        root = dir or os.environ.get("SEQALPHA_SCRATCH") or None
        path = tempfile.mkdtemp(prefix="seqalpha-store-", dir=root)
        return cls.create(path, dates, instruments, names, temporary=True)

    def window(self, lo: int, hi: int) -> FeatureStore:
        """A read-only view of days lo..hi (no copy; the same files)."""
        T = self.shape[0]
        if not 0 <= lo <= hi <= T:
            raise DataError(f"feature store {self.path}: window {(lo, hi)} outside [0, {T}]")
        view = copy.copy(self)
        view.dates = self.dates[lo:hi]
        view._t0 = self._t0 + lo
        view._base = self._base or self
        return view

    def __reduce__(self) -> tuple[Callable[..., FeatureStore], tuple]:
        # another process (a worker, a Ray node of this machine) re-opens the same files
        return (_reopen, (str(self.path), self._t0, self._t0 + len(self.dates)))

    # ------------------------------------------------------------------ shape
    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.dates), len(self.instruments), len(self.names))

    @property
    def nbytes(self) -> int:
        T, N, F = self.shape
        return T * N * F * _DTYPE.itemsize

    def __len__(self) -> int:
        return len(self.dates)

    def _file(self, k: int) -> Path:
        return self.path / self.files[k]

    # ------------------------------------------------------------------ writes
    def write(self, k: int, values: np.ndarray, t0: int = 0, n0: int = 0) -> None:
        """Write values [t, n] into plane k at rows t0.., columns n0.. (float32)."""
        if self._base is not None:
            raise DataError(f"feature store {self.path}: a window view is read-only")
        self._cache.clear()
        T, N, _ = self.shape
        v = np.ascontiguousarray(values, dtype=_DTYPE)
        t, n = v.shape
        if t0 < 0 or n0 < 0 or t0 + t > T or n0 + n > N:
            raise DataError(
                f"feature store {self.path}: block {v.shape} at {(t0, n0)} out of range"
            )
        row = N * _DTYPE.itemsize
        fd = os.open(self._file(k), os.O_WRONLY)
        try:
            if n == N:  # whole rows: one contiguous write
                os.pwrite(fd, v.tobytes(), self._offset + t0 * row)
            else:
                for i in range(t):
                    os.pwrite(fd, v[i].tobytes(), self._offset + (t0 + i) * row + n0 * 4)
        finally:
            os.close(fd)

    def drop(self, names: Iterable[str]) -> None:
        """Remove features (their planes are deleted; the manifest is rewritten)."""
        if self._base is not None:
            raise DataError(f"feature store {self.path}: a window view is read-only")
        gone = set(names)
        keep = [k for k, n in enumerate(self.names) if n not in gone]
        for k, n in enumerate(self.names):
            if n in gone:
                self._file(k).unlink(missing_ok=True)
        self.names = [self.names[k] for k in keep]
        self.files = [self.files[k] for k in keep]
        self.manifest.update(features=self.names, files=self.files)
        tmp = self.path / "manifest.json.tmp"
        tmp.write_text(json.dumps(self.manifest, indent=1))
        os.replace(tmp, self.path / "manifest.json")

    # ------------------------------------------------------------------ reads
    def read_plane(self, k: int, t0: int = 0, t1: int | None = None) -> np.ndarray:
        """Rows t0..t1 of feature k: float32 [t1 - t0, N] (a new array)."""
        t1 = self.shape[0] if t1 is None else t1
        return self._read_rows(k, self._t0 + t0, self._t0 + t1)

    def _read_rows(self, k: int, a: int, b: int) -> np.ndarray:
        """Rows a..b of the file of feature k (absolute rows, whatever the view)."""
        N = self.shape[1]
        out = np.empty((b - a, N), dtype=_DTYPE)
        buf = memoryview(out.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
        done = 0
        with open(self._file(k), "rb", buffering=0) as fh:
            fh.seek(self._offset + a * N * 4)
            while done < len(buf):  # a read may return less than asked (e.g. above 2 GB)
                got = fh.readinto(buf[done:])
                if not got:
                    raise DataError(f"{self._file(k)}: truncated feature plane")
                done += got
        return out

    def read(self, t0: int, t1: int, cols: Sequence[int] | None = None) -> np.ndarray:
        """Days t0..t1 of the features `cols` (default all): float32 [t1 - t0, N, len(cols)]."""
        cols = range(self.shape[2]) if cols is None else cols
        out = np.empty((t1 - t0, self.shape[1], len(cols)), dtype=_DTYPE)
        for j, k in enumerate(cols):
            out[:, :, j] = self.read_plane(k, t0, t1)
        return out

    def __getitem__(self, idx: Any) -> np.ndarray:
        """Day-leading indexing as on an array [T, N, F]: a day or a slice of days (and any
        further index), or (day indices, instrument indices) gathered day block by day block."""
        rest: tuple = ()
        if isinstance(idx, tuple):
            idx, rest = idx[0], idx[1:]
        T = self.shape[0]
        if isinstance(idx, (int, np.integer)):
            t = int(idx) + (T if idx < 0 else 0)
            if not 0 <= t < T:
                raise IndexError(f"day {idx} out of range for {T} days")
            return self.read(t, t + 1)[0][rest]
        if isinstance(idx, slice):
            t0, t1, step = idx.indices(T)
            block = self.read(t0, max(t0, t1))
            return block[::step][(slice(None), *rest)] if step != 1 else block[(slice(None), *rest)]
        t_idx = np.asarray(idx)
        if t_idx.dtype.kind in "iu" and len(rest) == 1:
            return self.gather(t_idx, np.asarray(rest[0]))
        raise TypeError(f"FeatureStore: unsupported index {idx!r}")

    def gather(self, t: np.ndarray, i: np.ndarray, block_days: int = 32) -> np.ndarray:
        """Rows (t[k], i[k]) of the features: float32 [*t.shape, F], read by blocks of days."""
        shape = np.broadcast_shapes(np.shape(t), np.shape(i))
        if len(shape) != 1:  # e.g. [n, L] windows: gather flat, then shape
            flat = self.gather(
                np.broadcast_to(t, shape).ravel(), np.broadcast_to(i, shape).ravel(), block_days
            )
            return flat.reshape(*shape, self.shape[2])
        t = np.asarray(t, dtype=np.int64)
        i = np.asarray(i, dtype=np.int64)
        out = np.empty((len(t), self.shape[2]), dtype=_DTYPE)
        if len(t) == 0:
            return out
        order = np.argsort(t, kind="stable")
        ts = t[order]
        lo = int(ts[0])
        while lo <= ts[-1]:
            hi = min(lo + block_days, int(ts[-1]) + 1)
            a, b = np.searchsorted(ts, [lo, hi])
            if b > a:
                sel = order[a:b]
                out[sel] = self.read(lo, hi)[t[sel] - lo, i[sel]]
            lo = hi if b >= len(ts) else max(hi, int(ts[b]))
        return out

    def finite_any(self, t0: int, t1: int, block_days: int = 64) -> np.ndarray:
        """bool [t1 - t0, N]: some feature is finite at (t, n). The map of the whole files is
        computed once (one pass over every plane) and shared with window views."""
        if "finite" not in self._cache:
            T = int(self.manifest["shape"][0])  # rows of the files (a view reads a part)
            ok = np.zeros((T, self.shape[1]), dtype=bool)
            for k in range(self.shape[2]):
                for a in range(0, T, block_days):
                    b = min(T, a + block_days)
                    ok[a:b] |= np.isfinite(self._read_rows(k, a, b))
            self._cache["finite"] = ok
        return self._cache["finite"][self._t0 + t0 : self._t0 + t1].copy()

    def to_array(self) -> np.ndarray:
        """The whole store in memory: float32 [T, N, F] (small stores and tests only)."""
        return self.read(0, self.shape[0])


def write_expressions(
    store: FeatureStore,
    panel: Panel,
    exprs: dict[str, str],
    missing: str = "error",
    block_instruments: int = 1000,
    t0: int = 0,
) -> np.ndarray:
    """Evaluate `name -> expression` on `panel` into the store's features of those names, by
    blocks of instruments (every expression is a time series of one instrument) or, when an
    expression is cross-sectional, on the whole panel one feature at a time; each result is
    written as soon as it is computed. `t0`: the store's first date is the panel's date t0 (earlier
    panel rows are history only). Returns bool [len(exprs)]: the feature has a finite value in
    the panel's universe (from t0)."""
    from seqalpha.features.engine import evaluate_into, uses_cross_section

    col = {name: store.names.index(name) for name in exprs}
    finite = dict.fromkeys(exprs, False)
    N = len(panel.instruments)
    step = N if any(uses_cross_section(e) for e in exprs.values()) else block_instruments
    for n0 in range(0, N, step):
        n1 = min(N, n0 + step)
        sub = (
            panel
            if (n0, n1) == (0, N)
            else panel.select_instruments(panel.instruments[n0:n1].tolist())
        )
        member = sub.universe

        def sink(name: str, arr: np.ndarray, n0: int = n0, member: np.ndarray = member) -> None:
            store.write(col[name], arr[t0:], 0, n0)
            if not finite[name]:
                finite[name] = bool(np.isfinite(arr[t0:][member[t0:]]).any())

        evaluate_into(sub, exprs, sink, missing=missing)
    return np.array([finite[name] for name in exprs], dtype=bool)


def intraday_into_store(
    minute_dir: str | Path,
    path: str | Path | None = None,
    window: int = 20,
    chunk_days: int = 10,
    bar_minutes: int | None = None,
    instruments: Sequence[str] | None = None,
    min_periods: int | None = None,
) -> FeatureStore:
    """`intraday_daily_features` of every day of a minute-bar directory into a FeatureStore
    (`path`, or a temporary one), reading `chunk_days` days of bars at a time: the same values
    as in memory, with memory bounded by one chunk of bars plus daily arrays [D, N, F].

    The trailing mean day amount at t reads only days <= t, so it is computed chunk by chunk on
    the days read so far; the rolling statistics run on the daily aggregates at the end.
    `instruments` default: every instrument of any partition."""
    import polars as pl

    from seqalpha.data.minute import load_minute, minute_dates
    from seqalpha.features.intraday import (
        DAILY_BASE,
        _check_params,
        _chunk,
        _daily_block,
        _day_amounts,
        _trailing_mean,
        rolling_mean_std_t,
    )

    _check_params(window, chunk_days)
    root = Path(minute_dir)
    days = minute_dates(root)
    if len(days) == 0:
        raise DataError(f"{root}: no minute-bar partitions")
    if instruments is None:
        codes = pl.scan_parquet(str(root / "date=*" / "*.parquet")).select("instrument").unique()
        instruments = sorted(codes.collect()["instrument"].to_list())
    inst = np.asarray(instruments).astype(str)
    D, N, nb = len(days), len(inst), len(DAILY_BASE)
    day_amt = np.full((D, N), np.nan)
    base = np.empty((D, N, nb))
    for c0 in range(0, D, chunk_days):
        c1 = min(D, c0 + chunk_days)
        bars = load_minute(
            root, days[c0], days[c1 - 1], instruments=list(inst), bar_minutes=bar_minutes
        )
        if not np.array_equal(bars.dates, days[c0:c1]):
            raise DataError(f"{root}: days {days[c0]}..{days[c1 - 1]} read back incompletely")
        step = _chunk(chunk_days, bars.shape[1], N)
        day_amt[c0:c1] = _day_amounts(bars, step)
        mean_day = _trailing_mean(day_amt[:c1], window)[c0:c1]
        for lo in range(0, c1 - c0, step):
            sl = slice(lo, min(c1 - c0, lo + step))
            base[c0 + sl.start : c0 + sl.stop] = _daily_block(bars, sl, mean_day)
        del bars
    names = list(DAILY_BASE)
    for tag in (f"mean{window}", f"std{window}", f"t{window}"):
        names += [f"{n}_{tag}" for n in DAILY_BASE]
    if path is None:
        store = FeatureStore.scratch(days, inst, names)
    else:
        store = FeatureStore.create(path, days, inst, names)
    for j in range(nb):
        store.write(j, base[:, :, j])
    for g, stat in enumerate(rolling_mean_std_t(base, window, min_periods), start=1):
        for j in range(nb):
            store.write(g * nb + j, stat[:, :, j])
    return store


__all__ = ["FORMAT", "VERSION", "FeatureStore", "intraday_into_store", "write_expressions"]
