"""Classification labels: bin returns by edges into classes centred on 0 (noisy middle = 0)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seqalpha.errors import ConfigError

CLASS_PRESETS: dict[str, tuple[float, ...]] = {
    "class3": (-0.03, 0.03),
    "class5": (-0.035, -0.015, 0.015, 0.035),
}


def class_edges(name_or_edges: str | Sequence[float]) -> np.ndarray:
    """Edges of a preset (`class3`, `class5`) or given edges, checked strictly increasing."""
    if isinstance(name_or_edges, str):
        try:
            edges: Sequence[float] = CLASS_PRESETS[name_or_edges]
        except KeyError:
            raise ConfigError(
                f"unknown class preset {name_or_edges!r}; known: {sorted(CLASS_PRESETS)}"
            ) from None
    else:
        edges = name_or_edges
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or len(e) < 1 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
        raise ConfigError(
            f"class edges must be a non-empty strictly increasing list, got {list(edges)}"
        )
    return e


def classify(ret: np.ndarray, edges: str | Sequence[float]) -> tuple[np.ndarray, dict[int, float]]:
    """Bin ret [...] into classes -k..k (k = len(edges)//2); returns (float32 classes, NaN where
    ret is NaN; map class -> representative return).

    A return equal to a negative edge stays in the inner class, and so does one equal to a
    non-negative edge (the middle bin is closed). Representatives: bin mid-points; the outer
    bins extend past their edge by half the width of their neighbouring bin (class3: +/-6%).
    """
    e = class_edges(edges)
    r = np.asarray(ret, dtype=np.float64)
    # number of edges the return lies beyond, towards +inf: edges e<0 count when r >= e,
    # edges e>=0 count when r > e
    idx = np.zeros(r.shape, dtype=np.int64)
    for edge in e:
        idx += (r >= edge) if edge < 0 else (r > edge)
    shift = len(e) // 2
    cls = (idx - shift).astype(np.float32)
    cls[~np.isfinite(r)] = np.nan
    reps: dict[int, float] = {}
    nb = len(e) + 1
    for b in range(nb):
        if 0 < b < nb - 1:
            v = 0.5 * (e[b - 1] + e[b])
        elif nb == 2:
            v = e[0] + (-1 if b == 0 else 1) * max(abs(e[0]), 0.01)
        elif b == 0:
            v = e[0] - 0.5 * (e[1] - e[0])
        else:
            v = e[-1] + 0.5 * (e[-1] - e[-2])
        reps[b - shift] = float(v)
    return cls, reps
