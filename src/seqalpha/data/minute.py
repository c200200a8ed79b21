"""Minute bars: sessions, ingest from CSV/Parquet, resampling, and the `[D, B, N]` array form."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MINUTE_FIELDS = ("open", "high", "low", "close", "volume", "amount")


@dataclass(frozen=True)
class Session:
    """Trading sessions of a day as (start, end) clock times `HH:MM`; A-shares by default.

    A bar of length k minutes is labelled by its END time (09:30-10:00 -> 10:00).
    """

    intervals: tuple[tuple[str, str], ...] = (("09:30", "11:30"), ("13:00", "15:00"))

    def minutes(self) -> int:
        total = 0
        for a, b in self.intervals:
            ha, ma = map(int, a.split(":"))
            hb, mb = map(int, b.split(":"))
            total += (hb * 60 + mb) - (ha * 60 + ma)
        return total


A_SHARE = Session()


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
