"""The Panel: dense `[T, N]` float32 arrays per field on a (date x instrument) grid.

Everything cross-sectional is a reduction along axis 1, everything time-series along axis 0.
Long tables (polars) are for I/O only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from seqalpha.errors import DataError


def as_dates(values: Iterable) -> np.ndarray:
    """Any sequence of dates (str, date, datetime64) as `datetime64[D]`."""
    return np.asarray(values, dtype="datetime64[D]")


@dataclass
class Panel:
    """Fields on a date x instrument grid.

    dates: `datetime64[D]` [T], strictly increasing.
    instruments: `str` [N] (upper-case codes such as `SH600000`).
    fields: name -> float32 [T, N]; NaN where missing.
    universe: bool [T, N], point-in-time membership (all True when not given).
    """

    dates: np.ndarray
    instruments: np.ndarray
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    # None (all True) is accepted at construction; __post_init__ always stores an array
    universe: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.dates = as_dates(self.dates)
        raw = np.asarray(self.instruments)
        if raw.dtype == object and any(isinstance(c, str) and "\x00" in c for c in raw.tolist()):
            # numpy's str arrays drop trailing NULs: refuse rather than silently rename a code.
            raise DataError("Panel: an instrument code contains a NUL character")
        self.instruments = raw.astype(str)
        if self.dates.ndim != 1 or self.instruments.ndim != 1:
            raise DataError("Panel: dates and instruments must be 1-D")
        if len(self.dates) > 1 and not np.all(self.dates[1:] > self.dates[:-1]):
            raise DataError("Panel: dates must be strictly increasing")
        if len(set(self.instruments.tolist())) != len(self.instruments):
            raise DataError("Panel: duplicate instruments")
        for name, arr in self.fields.items():
            self._check(name, arr)
        if self.universe is None:
            self.universe = np.ones(self.shape, dtype=bool)
        elif self.universe.shape != self.shape:
            raise DataError(f"Panel: universe shape {self.universe.shape} != {self.shape}")

    def _check(self, name: str, arr: np.ndarray) -> None:
        if arr.shape[:2] != self.shape:
            raise DataError(
                f"Panel field {name!r}: shape {arr.shape} does not start with {self.shape}"
            )

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.dates), len(self.instruments))

    @property
    def field_names(self) -> list[str]:
        return list(self.fields)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.fields[name]
        except KeyError:
            raise DataError(
                f"unknown field {name!r}; the panel has {sorted(self.fields)}"
            ) from None

    def __contains__(self, name: str) -> bool:
        return name in self.fields

    def __setitem__(self, name: str, arr: np.ndarray) -> None:
        self._check(name, arr)
        self.fields[name] = arr

    def stack(self, names: Sequence[str] | None = None) -> np.ndarray:
        """Fields as one float32 array `[T, N, F]`."""
        names = list(names) if names is not None else self.field_names
        return np.stack([self[n] for n in names], axis=-1).astype(np.float32, copy=False)

    def date_index(self, date) -> int:
        """Position of `date` in `dates` (an error when it is not a trading day here)."""
        d = np.datetime64(date, "D")
        i = int(np.searchsorted(self.dates, d))
        if i >= len(self.dates) or self.dates[i] != d:
            raise DataError(f"date {d} is not in the panel's calendar")
        return i

    def slice_dates(self, start=None, end=None) -> Panel:
        """The sub-panel with `start <= date <= end` (views, no copies)."""
        lo = 0 if start is None else int(np.searchsorted(self.dates, np.datetime64(start, "D")))
        hi = (
            len(self.dates)
            if end is None
            else int(np.searchsorted(self.dates, np.datetime64(end, "D"), side="right"))
        )
        return Panel(
            self.dates[lo:hi],
            self.instruments,
            {k: v[lo:hi] for k, v in self.fields.items()},
            self.universe[lo:hi],
        )

    def select_instruments(self, codes: Sequence[str]) -> Panel:
        """The sub-panel with these instruments, in this order (copies)."""
        pos = {c: i for i, c in enumerate(self.instruments.tolist())}
        missing = [c for c in codes if c not in pos]
        if missing:
            raise DataError(f"instruments not in the panel: {missing[:10]}")
        idx = np.array([pos[c] for c in codes], dtype=np.int64)
        return Panel(
            self.dates,
            self.instruments[idx],
            {k: v[:, idx] for k, v in self.fields.items()},
            self.universe[:, idx],
        )

    def to_long(
        self, names: Sequence[str] | None = None, universe_only: bool = True
    ) -> pl.DataFrame:
        """Long table `datetime, instrument, <fields>`; rows outside the universe dropped."""
        names = list(names) if names is not None else self.field_names
        T, N = self.shape
        keep = self.universe.reshape(-1) if universe_only else np.ones(T * N, dtype=bool)
        cols = {
            "datetime": np.repeat(self.dates, N)[keep],
            "instrument": np.tile(self.instruments, T)[keep],
        }
        for n in names:
            cols[n] = self[n].reshape(T * N, *self[n].shape[2:])[keep]
        return pl.DataFrame(cols).with_columns(pl.col("datetime").cast(pl.Date))

    @classmethod
    def from_long(
        cls,
        df: pl.DataFrame,
        names: Sequence[str] | None = None,
        dates: np.ndarray | None = None,
        instruments: np.ndarray | None = None,
        dtype=np.float32,
    ) -> Panel:
        """Pivot a long table (`datetime`, `instrument`, value columns) onto a dense grid.

        Rows present become the universe. Duplicate (datetime, instrument) rows are an error.
        Values are float32 (the Panel convention) unless `dtype` says otherwise (e.g. float64
        for statistics that compare exactly against the stored values).
        """
        for col in ("datetime", "instrument"):
            if col not in df.columns:
                raise DataError(f"long table lacks the column {col!r}; it has {df.columns}")
        names = (
            list(names)
            if names is not None
            else [c for c in df.columns if c not in ("datetime", "instrument")]
        )
        d = df["datetime"].cast(pl.Date).to_numpy().astype("datetime64[D]")
        inst = df["instrument"].cast(pl.Utf8).to_numpy().astype(str)
        dates = np.unique(d) if dates is None else as_dates(dates)
        instruments = np.unique(inst) if instruments is None else np.asarray(instruments, str)
        ti = np.searchsorted(dates, d)
        order = np.argsort(instruments)
        ni = order[np.searchsorted(instruments[order], inst)]
        ok = (ti < len(dates)) & (dates[np.minimum(ti, len(dates) - 1)] == d)
        ok &= instruments[np.minimum(ni, len(instruments) - 1)] == inst
        ti, ni = ti[ok], ni[ok]
        flat = ti.astype(np.int64) * len(instruments) + ni
        if len(np.unique(flat)) != len(flat):
            dup = df.filter(pl.struct("datetime", "instrument").is_duplicated()).head(3)
            raise DataError(f"duplicate (datetime, instrument) rows, e.g. {dup.rows()}")
        T, N = len(dates), len(instruments)
        universe = np.zeros((T, N), dtype=bool)
        universe[ti, ni] = True
        fields = {}
        for n in names:
            arr = np.full((T, N), np.nan, dtype=dtype)
            arr[ti, ni] = df[n].to_numpy().astype(dtype, copy=False)[ok]
            fields[n] = arr
        return cls(dates, instruments, fields, universe)
