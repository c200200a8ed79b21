"""Daily information coefficients and their summary statistics, on `[T, N]` arrays.

Conventions shared by every function here: `score` and `label` are float arrays `[T, N]`
(date x instrument), `mask` an optional bool `[T, N]` (e.g. the universe). A name counts on a
day when mask is True and both score and label are finite. Days with fewer than 2 such names,
or with a constant score or label, give NaN and are skipped by the summaries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seqalpha import xsection as xs
from seqalpha.errors import DataError

MIN_NAMES = xs.MIN_NAMES


def _check(
    score: np.ndarray,
    label: np.ndarray,
    mask: np.ndarray | None,
    names: tuple[str, str] = ("score", "label"),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    score = np.asarray(score, dtype=np.float64)
    label = np.asarray(label, dtype=np.float64)
    if score.ndim != 2:
        raise DataError(f"{names[0]}: expected a [T, N] array, got shape {score.shape}")
    if label.shape != score.shape:
        raise DataError(f"{names[1]}: shape {label.shape} differs from {names[0]} {score.shape}")
    valid = np.isfinite(score) & np.isfinite(label)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != score.shape:
            raise DataError(f"mask: shape {mask.shape} differs from {names[0]} {score.shape}")
        valid &= mask
    return score, label, valid


def daily_ic(
    score: np.ndarray, label: np.ndarray, mask: np.ndarray | None = None, method: str = "pearson"
) -> np.ndarray:
    """Daily IC `[T]`: correlation across names of score and label each day (pearson or spearman,
    `xsection.daily_ic` / `xsection.daily_rank_ic`)."""
    # xsection validates the shapes and builds the valid set itself (once)
    m = None if mask is None else np.asarray(mask, dtype=bool)
    if method == "pearson":
        return xs.daily_ic(score, label, m)
    if method == "spearman":
        return xs.daily_rank_ic(score, label, m)
    raise DataError(f"daily_ic: unknown method {method!r}; use 'pearson' or 'spearman'")


def daily_rank_ic(
    score: np.ndarray, label: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Daily Rank IC `[T]` (Spearman: Pearson of cross-sectional average ranks)."""
    return daily_ic(score, label, mask, method="spearman")


def summarize_ic(ic: np.ndarray) -> dict[str, float]:
    """mean, std (ddof=1), IR = mean/std, t = IR*sqrt(days), SE = std/sqrt(days) of IC `[T]`."""
    v = np.asarray(ic, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    mean = float(v.mean()) if n else float("nan")
    std = float(v.std(ddof=1)) if n > 1 else float("nan")
    ir = mean / std if n > 1 and std > 0 else float("nan")
    return {
        "mean": mean,
        "std": std,
        "ir": ir,
        "t": ir * np.sqrt(n) if n > 1 else float("nan"),
        "se": std / np.sqrt(n) if n > 1 else float("nan"),
        "n_days": n,
    }


def _metrics_of(ic: np.ndarray, ric: np.ndarray) -> dict:
    a, b = summarize_ic(ic), summarize_ic(ric)
    return {
        "ic": a["mean"],
        "rank_ic": b["mean"],
        "icir": a["ir"],
        "rank_icir": b["ir"],
        "ic_t": a["t"],
        "rank_ic_t": b["t"],
        "n_days": a["n_days"],
        "ic_se": a["se"],
        "rank_ic_se": b["se"],
    }


def signal_metrics(
    score: np.ndarray,
    label: np.ndarray,
    mask: np.ndarray | None = None,
    dates: Sequence | np.ndarray | None = None,
) -> dict:
    """IC, Rank IC, ICIR, Rank ICIR, t-stats, SE and day count, overall and `by_year`.

    score, label, mask: `[T, N]`; dates: `[T]` (needed for `by_year`, else it is empty).
    """
    ic = daily_ic(score, label, mask)
    ric = daily_rank_ic(score, label, mask)
    out = _metrics_of(ic, ric)
    out["by_year"] = {}
    if dates is not None:
        d = np.asarray(dates, dtype="datetime64[D]")
        if d.shape != (ic.shape[0],):
            raise DataError(f"dates: {d.shape[0] if d.ndim else 0} dates for {ic.shape[0]} rows")
        years = d.astype("datetime64[Y]").astype(int) + 1970
        for y in np.unique(years):
            sel = years == y
            out["by_year"][int(y)] = _metrics_of(ic[sel], ric[sel])
    return out
