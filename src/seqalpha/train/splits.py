"""Walk-forward windows on the trading calendar, separated by an embargo.

Embargo rule: the label at t reads prices up to t + offset + max(horizon) (its `reach`), so
the last date of a range whose labels are used must satisfy `last + reach < next range start`,
i.e. at least `reach` trading days lie strictly between train and valid, and valid and test.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from seqalpha.errors import ConfigError, LeakageError

Range = tuple[int, int]  # [lo, hi) positions on the calendar


@dataclass(frozen=True)
class Window:
    """One walk-forward window: half-open calendar positions of train, valid (or None), test."""

    index: int
    train: Range
    valid: Range | None
    test: Range

    def describe(self, calendar: np.ndarray) -> dict[str, Any]:
        """ISO first/last dates of each range (for messages and run.json)."""

        def span(r):
            return None if r is None else [str(calendar[r[0]]), str(calendar[r[1] - 1])]

        return {
            "index": self.index,
            "train": span(self.train),
            "valid": span(self.valid),
            "test": span(self.test),
        }


def _pos(calendar: np.ndarray, date, side: Literal["left", "right"] = "left") -> int:
    return int(np.searchsorted(calendar, np.datetime64(date, "D"), side=side))


def _range(calendar: np.ndarray, start, end, what: str) -> Range:
    lo, hi = _pos(calendar, start), _pos(calendar, end, "right")
    if hi <= lo:
        raise ConfigError(
            f"walkforward.{what}: no trading days in {start}..{end} "
            f"(calendar {calendar[0]}..{calendar[-1]})"
        )
    return lo, hi


def make_windows(calendar: np.ndarray, wf, embargo: int, lookback: int = 1) -> list[Window]:
    """Windows of a WalkForwardConfig on `calendar` (datetime64[D] [T]) with `embargo` days.

    fixed: one window; with `wf.purge` the last `embargo` days of train (and valid) are dropped
    when the given ranges are closer than the embargo. rolling/expanding: test blocks of
    `wf.step` days; each block trains on the `train_days` days ending `embargo` days before it.
    """
    cal = np.asarray(calendar, dtype="datetime64[D]")
    if wf.schedule == "fixed":
        tr = _range(cal, wf.train.start, wf.train.end, "train")
        va = _range(cal, wf.valid.start, wf.valid.end, "valid") if wf.valid else None
        te = _range(cal, wf.test.start, wf.test.end, "test")
        ranges = [("train", tr)] + ([("valid", va)] if va else []) + [("test", te)]
        for (na, a), (nb, b) in itertools.pairwise(ranges):
            if a[1] > b[0]:
                raise LeakageError(
                    f"window 0: {na} {cal[a[0]]}..{cal[a[1] - 1]} overlaps {nb} "
                    f"{cal[b[0]]}..{cal[b[1] - 1]}"
                )
        if wf.purge:
            if va is not None:
                va = (va[0], min(va[1], te[0] - embargo))
                tr = (tr[0], min(tr[1], va[0] - embargo))
            else:
                tr = (tr[0], min(tr[1], te[0] - embargo))
            for name, r in (("train", tr), ("valid", va)):
                if r is not None and r[1] <= r[0]:
                    raise ConfigError(
                        f"walkforward.{name}: nothing left after purging the {embargo}-day embargo"
                    )
        windows = [Window(0, tr, va, te)]
    else:
        windows = _moving_windows(cal, wf, embargo, lookback)
    check_windows(windows, cal, embargo)
    return windows


def _moving_windows(cal: np.ndarray, wf, embargo: int, lookback: int) -> list[Window]:
    T = len(cal)
    vd = wf.valid_days
    fit_days = wf.train_days - vd - (embargo if vd else 0)
    if fit_days < 1:
        raise ConfigError(
            f"walkforward.train_days: {wf.train_days} days leave no training days "
            f"after {vd} validation days and a {embargo}-day embargo"
        )
    span_lo0 = _pos(cal, wf.train_start) if wf.train_start is not None else 0
    first = span_lo0 + (lookback - 1) + wf.train_days + embargo
    end = _pos(cal, wf.test_end, "right") if wf.test_end is not None else T
    if wf.test_start is not None:
        s0 = _pos(cal, wf.test_start)
        if s0 < first:
            need = cal[min(first, T - 1)]
            raise ConfigError(
                f"walkforward.test_start: window 0 tests from {cal[min(s0, T - 1)]} but needs "
                f"{wf.train_days} training days + {embargo}-day embargo"
                f"{f' + {lookback - 1} look-back days' if lookback > 1 else ''} before it; "
                f"the earliest test start on this calendar is {need}"
            )
    else:
        s0 = first
    if s0 >= end:
        raise ConfigError(
            f"walkforward: no test days: the first possible test date is beyond "
            f"{cal[-1] if wf.test_end is None else wf.test_end}"
        )
    windows = []
    for k, s in enumerate(range(s0, end, wf.step)):
        te = (s, min(s + wf.step, end))
        span_hi = s - embargo
        span_lo = span_lo0 if wf.schedule == "expanding" else span_hi - wf.train_days
        if vd:
            va = (span_hi - vd, span_hi)
            tr = (span_lo, va[0] - embargo)
        else:
            va, tr = None, (span_lo, span_hi)
        windows.append(Window(k, tr, va, te))
    return windows


def check_windows(windows: Sequence[Window], calendar: np.ndarray, embargo: int) -> None:
    """LeakageError when a window's ranges are out of order or closer than `embargo` days."""
    cal = np.asarray(calendar, dtype="datetime64[D]")
    for w in windows:
        ranges = (
            [("train", w.train)] + ([("valid", w.valid)] if w.valid else []) + [("test", w.test)]
        )
        for name, (lo, hi) in ranges:
            if not 0 <= lo < hi <= len(cal):
                raise ConfigError(
                    f"window {w.index}: {name} range [{lo}, {hi}) is empty or "
                    f"outside the calendar of {len(cal)} days"
                )
        for (na, a), (nb, b) in itertools.pairwise(ranges):
            gap = b[0] - a[1]
            if gap < embargo:
                raise LeakageError(
                    f"window {w.index}: {na} ends {cal[a[1] - 1]} and {nb} starts {cal[b[0]]}: "
                    f"{max(gap, 0)} trading days apart, the embargo needs {embargo} "
                    f"(labels read {embargo} days ahead)"
                )
