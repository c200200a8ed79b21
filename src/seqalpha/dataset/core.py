"""SampleSet: the one input every model receives (daily features, intraday bars, labels, mask).

Train/valid/test sets of one walk-forward window are views of the same arrays that differ
only in `rows`; rows before `rows[0]` may be read as history by sequence windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from seqalpha.errors import DataError


@dataclass
class SampleSet:
    """Model inputs on a date x instrument grid.

    dates: datetime64[D] [T]; instruments: str [N].
    features: float32 [T, N, F] daily features, or None.
    bars: float32 [T, N, B, Fb] intraday per-bar features per day, or None.
    labels: float32 [T, N, H] label columns, or None at inference.
    mask: bool [T, N] universe membership (a sample exists only where True).
    rows: (t0, t1): the dates whose samples belong to this set; earlier rows are history only.
    lookback: days of history a sequence sample reads (1 for tabular).
    label_reach: the label at date t is realized at the close of t + label_reach (offset +
        horizon); 0 when unknown. A test set may carry labels, and a model that reads them
        (TRA's loss memory) may only use the label of t - label_reach or earlier at date t.
    weights: float32 [T, N] training weight of each sample (>= 0), or None (all 1); set by
        training-sample selection (`train.selection`), read by models that accept weights.
    """

    dates: np.ndarray
    instruments: np.ndarray
    features: np.ndarray | None
    bars: np.ndarray | None
    labels: np.ndarray | None
    mask: np.ndarray
    rows: tuple[int, int]
    feature_names: list[str] = field(default_factory=list)
    label_names: list[str] = field(default_factory=list)
    lookback: int = 1
    label_reach: int = 0
    weights: np.ndarray | None = None

    def known_features(self) -> np.ndarray:
        """`features` [T, N, F]; a one-line DataError when the set has none."""
        if self.features is None:
            raise DataError("SampleSet.features: the model needs daily features, the set has none")
        return self.features

    def known_bars(self) -> np.ndarray:
        """`bars` [T, N, B, Fb]; a one-line DataError when the set has none."""
        if self.bars is None:
            raise DataError("SampleSet.bars: the model needs intraday bars, the set has none")
        return self.bars

    def known_labels(self) -> np.ndarray:
        """`labels` [T, N, H]; a one-line DataError when the set has none (training needs them)."""
        if self.labels is None:
            raise DataError("SampleSet.labels: training needs labels, the set has none")
        return self.labels

    def __post_init__(self) -> None:
        self.dates = np.asarray(self.dates, dtype="datetime64[D]")
        self.instruments = np.asarray(self.instruments).astype(str)
        T, N = len(self.dates), len(self.instruments)
        if self.mask is None or np.shape(self.mask) != (T, N):
            raise DataError(f"SampleSet.mask: shape {np.shape(self.mask)} != {(T, N)}")
        self.mask = np.asarray(self.mask, dtype=bool)
        if self.features is not None:
            if self.features.ndim != 3 or self.features.shape[:2] != (T, N):
                raise DataError(
                    f"SampleSet.features: shape {self.features.shape} is not [T={T}, N={N}, F]"
                )
            if self.feature_names and len(self.feature_names) != self.features.shape[2]:
                raise DataError(
                    f"SampleSet.feature_names: {len(self.feature_names)} names for "
                    f"{self.features.shape[2]} feature columns"
                )
        if self.bars is not None and (self.bars.ndim != 4 or self.bars.shape[:2] != (T, N)):
            raise DataError(f"SampleSet.bars: shape {self.bars.shape} is not [T={T}, N={N}, B, Fb]")
        if self.labels is not None:
            if self.labels.ndim != 3 or self.labels.shape[:2] != (T, N):
                raise DataError(
                    f"SampleSet.labels: shape {self.labels.shape} is not [T={T}, N={N}, H]"
                )
            if self.label_names and len(self.label_names) != self.labels.shape[2]:
                raise DataError(
                    f"SampleSet.label_names: {len(self.label_names)} names for "
                    f"{self.labels.shape[2]} label columns"
                )
        t0, t1 = (int(r) for r in self.rows)
        if not 0 <= t0 <= t1 <= T:
            raise DataError(f"SampleSet.rows: {self.rows} outside [0, {T}]")
        self.rows = (t0, t1)
        if int(self.lookback) < 1:
            raise DataError(f"SampleSet.lookback: {self.lookback} < 1")
        self.lookback = int(self.lookback)
        if int(self.label_reach) < 0:
            raise DataError(f"SampleSet.label_reach: {self.label_reach} < 0")
        self.label_reach = int(self.label_reach)
        if self.weights is not None and np.shape(self.weights) != (T, N):
            raise DataError(f"SampleSet.weights: shape {np.shape(self.weights)} != {(T, N)}")

    @property
    def n_days(self) -> int:
        """Number of dates in `rows`."""
        return self.rows[1] - self.rows[0]

    @property
    def row_dates(self) -> np.ndarray:
        """dates[t0:t1]: the dates predictions are aligned to."""
        return self.dates[self.rows[0] : self.rows[1]]

    def available(self) -> np.ndarray:
        """bool [t1 - t0, N]: mask and some input that day (any finite feature, or any finite bar
        value when the set has bars but no features). Models predict NaN elsewhere."""
        t0, t1 = self.rows
        ok = self.mask[t0:t1].copy()
        if self.features is not None:
            finite_any = getattr(self.features, "finite_any", None)  # an on-disk FeatureStore
            if finite_any is not None:
                ok &= finite_any(t0, t1)
            else:
                ok &= np.isfinite(self.features[t0:t1]).any(axis=2)
        elif self.bars is not None:
            ok &= np.isfinite(self.bars[t0:t1]).any(axis=(2, 3))
        return ok

    def with_rows(self, t0: int, t1: int) -> SampleSet:
        """The same arrays (no copies) with another `rows` range."""
        return replace(self, rows=(int(t0), int(t1)))

    def between(self, start=None, end=None) -> SampleSet:
        """The view whose rows are the dates in [start, end] (inclusive; None = open)."""
        t0 = 0 if start is None else int(np.searchsorted(self.dates, np.datetime64(start, "D")))
        t1 = (
            len(self.dates)
            if end is None
            else int(np.searchsorted(self.dates, np.datetime64(end, "D"), side="right"))
        )
        return self.with_rows(t0, max(t0, t1))

    @classmethod
    def from_panel(
        cls,
        panel,
        feature_names: list[str] | None = None,
        labels: np.ndarray | dict[str, np.ndarray] | None = None,
        label_names: list[str] | None = None,
        bars: np.ndarray | None = None,
        rows: tuple[int, int] | None = None,
        lookback: int = 1,
    ) -> SampleSet:
        """A SampleSet from a feature Panel (fields -> [T, N] stacked to [T, N, F]); labels as
        [T, N, H] or name -> [T, N]; mask = the panel's universe; rows default to all dates."""
        names = list(feature_names) if feature_names is not None else panel.field_names
        feats = panel.stack(names) if names else None
        if isinstance(labels, dict):
            label_names = list(labels)
            labels = np.stack([np.asarray(labels[k], np.float32) for k in label_names], axis=-1)
        elif labels is not None:
            labels = np.asarray(labels, np.float32)
            if labels.ndim == 2:
                labels = labels[:, :, None]
            label_names = (
                list(label_names) if label_names else [f"label{h}" for h in range(labels.shape[2])]
            )
        T = len(panel.dates)
        return cls(
            panel.dates,
            panel.instruments,
            feats,
            bars,
            labels,
            panel.universe,
            rows if rows is not None else (0, T),
            names,
            list(label_names or []),
            lookback,
        )

    def without_labels(self) -> SampleSet:
        """The same set with labels dropped (inference)."""
        return replace(self, labels=None)
