"""Sequence inputs as views into the panel, and day batches.

Three input kinds:
- "tabular": one day's features [F];
- "daily_seq": layout "window" = the last L days of features [L, F] (a view of [T, N, F]),
  or layout "columns" = one day's F columns reshaped to [F / n_fields, n_fields] steps
  (Alpha360: columns CLOSE59..CLOSE0, OPEN59..OPEN0, ... -> [6, 60] -> transposed [60, 6],
  oldest step first, as Qlib's GRU reads them);
- "intraday_seq": the last L days of bars [L, B, Fb] flattened to [L * B, Fb] steps.
Batches gather only their own rows; NaN inputs are filled with 0 for torch models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from seqalpha.dataset.core import SampleSet
from seqalpha.errors import ConfigError, DataError

INPUT_KINDS = ("tabular", "daily_seq", "intraday_seq")
LAYOUTS = ("window", "columns")


def window_view(arr: np.ndarray, length: int) -> np.ndarray:
    """View [T - L + 1, N, L, ...] of an array [T, N, ...].

    out[s] holds arr[s : s + L] per stock.
    """
    if length < 1 or length > arr.shape[0]:
        raise DataError(f"window length {length} outside [1, T={arr.shape[0]}]")
    return np.moveaxis(sliding_window_view(arr, length, axis=0), -1, 2)


def columns_to_steps(x: np.ndarray, n_fields: int) -> np.ndarray:
    """[..., F] field-major columns -> view [..., F / n_fields, n_fields].

    Field-major: field f at steps oldest..newest.
    """
    F = x.shape[-1]
    if n_fields < 1 or F % n_fields:
        raise DataError(f"cannot reshape {F} feature columns into {n_fields} fields per step")
    return x.reshape(*x.shape[:-1], n_fields, F // n_fields).swapaxes(-1, -2)


@dataclass(frozen=True)
class InputSpec:
    """How a model reads a SampleSet: kind, layout, sequence length L (days) and fields per step."""

    kind: str = "daily_seq"
    layout: str = "window"
    seq_len: int = 20
    n_fields: int = 6

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ConfigError(f"input_kind: {self.kind!r} not in {INPUT_KINDS}")
        if self.layout not in LAYOUTS:
            raise ConfigError(f"seq_layout: {self.layout!r} not in {LAYOUTS}")
        if self.seq_len < 1:
            raise ConfigError(f"seq_len: {self.seq_len} < 1")

    def step_shape(self, data: SampleSet) -> tuple[int, ...]:
        """Shape of one sample: (F,) tabular, (steps, features per step) for sequences."""
        if self.kind == "intraday_seq":
            if data.bars is None:
                raise DataError(
                    "SampleSet.bars: an intraday_seq model needs bars, the set has none"
                )
            return (self.seq_len * data.bars.shape[2], data.bars.shape[3])
        if data.features is None:
            raise DataError(
                f"SampleSet.features: a {self.kind} model needs features, the set has none"
            )
        F = data.features.shape[2]
        if self.kind == "tabular":
            return (F,)
        if self.layout == "columns":
            if F % self.n_fields:
                raise DataError(
                    f"SampleSet.features: {F} columns not divisible by n_fields={self.n_fields}"
                )
            return (F // self.n_fields, self.n_fields)
        return (self.seq_len, F)


def _gather_windows(arr: np.ndarray, t: np.ndarray, i: np.ndarray, length: int) -> np.ndarray:
    """arr [T, N, ...] -> [n, L, ...] windows ending at (t, i); zeros before the first date."""
    if not isinstance(arr, np.ndarray) and len(t):  # an on-disk FeatureStore: read the days
        lo = max(0, int(t.min()) - length + 1)
        return _gather_windows(arr[lo : int(t.max()) + 1], t - lo, i, length)
    start = t - length + 1
    full = start >= 0
    out = np.zeros((len(t), length, *arr.shape[2:]), dtype=np.float32)
    if full.any():
        view = window_view(arr, length)
        out[full] = view[start[full], i[full]]
    if not full.all():
        tt = start[~full, None] + np.arange(length)[None, :]  # [m, L] absolute dates
        part = arr[np.maximum(tt, 0), i[~full, None]]
        part[tt < 0] = 0.0
        out[~full] = part
    return out


def gather_inputs(data: SampleSet, spec: InputSpec, t: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Model inputs of the samples (t, i) as float32: [n, F] tabular or [n, steps, f] sequences.

    NaN (missing inputs, history before the first date) is filled with 0.
    """
    spec.step_shape(data)  # validates the needed arrays exist
    if spec.kind == "tabular":
        x = data.known_features()[t, i].astype(np.float32, copy=True)
    elif spec.kind == "daily_seq" and spec.layout == "columns":
        x = np.ascontiguousarray(
            columns_to_steps(data.known_features()[t, i], spec.n_fields), dtype=np.float32
        )
    elif spec.kind == "daily_seq":
        x = _gather_windows(data.known_features(), t, i, spec.seq_len)
    else:
        w = _gather_windows(data.known_bars(), t, i, spec.seq_len)  # [n, L, B, Fb]
        x = w.reshape(len(t), -1, w.shape[-1])
    np.nan_to_num(x, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return x


def day_batches(
    data: SampleSet,
    train: bool,
    rng: np.random.Generator | None = None,
    days_per_batch: int = 1,
    max_stocks: int | None = None,
    label_col: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Batches of (t, i) int64 index arrays: all universe stocks of `days_per_batch` days each.

    Training keeps samples with a finite label (column `label_col`, or all columns when None),
    shuffles the day order with `rng` and optionally sub-samples `max_stocks` stocks per day.
    Prediction keeps every available sample (mask and some finite input), days in order.
    """
    t0, t1 = data.rows
    ok = data.available()
    if train:
        if data.labels is None:
            raise DataError("SampleSet.labels: training needs labels, the set has none")
        lab = data.labels[t0:t1]
        ok &= (
            np.isfinite(lab).all(axis=2) if label_col is None else np.isfinite(lab[:, :, label_col])
        )
    days = np.nonzero(ok.any(axis=1))[0]
    if train and rng is not None:
        days = rng.permutation(days)
    batches = []
    for k in range(0, len(days), max(1, days_per_batch)):
        ts, is_ = [], []
        for d in days[k : k + days_per_batch]:
            idx = np.nonzero(ok[d])[0]
            if train and max_stocks is not None and len(idx) > max_stocks:
                gen = rng if rng is not None else np.random.default_rng(0)
                idx = np.sort(gen.choice(idx, size=max_stocks, replace=False))
            ts.append(np.full(len(idx), d + t0, dtype=np.int64))
            is_.append(idx.astype(np.int64))
        batches.append((np.concatenate(ts), np.concatenate(is_)))
    return batches


def row_batches(
    data: SampleSet, rng: np.random.Generator, batch_size: int, label_col: int | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Training batches of `batch_size` (t, i) samples drawn across all days, shuffled with `rng`
    (Qlib's batching for its non-day models); same sample filter as `day_batches(train=True)`."""
    if batch_size < 1:
        raise DataError(f"row_batches: batch_size must be >= 1, got {batch_size}")
    if data.labels is None:
        raise DataError("SampleSet.labels: training needs labels, the set has none")
    t0, t1 = data.rows
    ok = data.available()
    lab = data.labels[t0:t1]
    ok &= np.isfinite(lab).all(axis=2) if label_col is None else np.isfinite(lab[:, :, label_col])
    t, i = np.nonzero(ok)
    order = rng.permutation(len(t))
    t, i = (t[order] + t0).astype(np.int64), i[order].astype(np.int64)
    return [(t[k : k + batch_size], i[k : k + batch_size]) for k in range(0, len(t), batch_size)]
