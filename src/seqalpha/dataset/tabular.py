"""Tabular rows (date, stock) of a SampleSet for linear and tree models."""

from __future__ import annotations

import numpy as np

from seqalpha.dataset.core import SampleSet
from seqalpha.errors import DataError


def sample_index(
    data: SampleSet, require_label: bool, label_col: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(t, i) int64 [n] of the samples in `data.rows`: available (mask and some finite input,
    see SampleSet.available) and, when asked, a finite label.

    `label_col` None requires every label column finite; an int requires only that column.
    """
    t0, t1 = data.rows
    ok = data.available()
    if require_label:
        if data.labels is None:
            raise DataError("SampleSet.labels: training needs labels, the set has none")
        lab = data.labels[t0:t1]
        fin = (
            np.isfinite(lab).all(axis=2) if label_col is None else np.isfinite(lab[:, :, label_col])
        )
        ok &= fin
    t, i = np.nonzero(ok)
    return t.astype(np.int64) + t0, i.astype(np.int64)


def tabular(
    data: SampleSet, train: bool = True, label_col: int | None = None
) -> tuple[np.ndarray, np.ndarray | None, tuple[np.ndarray, np.ndarray]]:
    """Rows of `data`: X float32 [n, F], y float32 [n, H] (None without labels), (t, i) index.

    Training (`train=True`) keeps available rows with finite label(s); predict keeps all available
    rows (mask and some finite feature).
    Features may contain NaN (tree models handle it; linear models fill it).
    """
    if data.features is None:
        raise DataError("SampleSet.features: tabular models need daily features, the set has none")
    t, i = sample_index(data, require_label=train, label_col=label_col)
    X = data.features[t, i]
    y = data.labels[t, i] if data.labels is not None else None
    return X, y, (t, i)


def row_weights(data: SampleSet, index: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
    """Training weights float64 [n] of the rows `index` (None when the set has no weights)."""
    if data.weights is None:
        return None
    t, i = index
    return np.asarray(data.weights[t, i], dtype=np.float64)


def scatter_scores(
    data: SampleSet, index: tuple[np.ndarray, np.ndarray], scores: np.ndarray
) -> np.ndarray:
    """Place per-row scores [n] onto float32 [t1 - t0, N] (NaN elsewhere)."""
    t0, t1 = data.rows
    out = np.full((t1 - t0, len(data.instruments)), np.nan, dtype=np.float32)
    t, i = index
    out[t - t0, i] = np.asarray(scores, dtype=np.float32).reshape(-1)
    return out
