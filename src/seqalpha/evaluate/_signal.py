"""Daily information coefficients and their summary statistics, on `[T, N]` arrays.

Conventions shared by every function here: `score` and `label` are float arrays `[T, N]`
(date x instrument), `mask` an optional bool `[T, N]` (e.g. the universe). A name counts on a
day when mask is True and both score and label are finite. Days with fewer than 2 such names,
or with a constant score or label, give NaN and are skipped by the summaries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from seqalpha.errors import DataError

MIN_NAMES = 2


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


def row_pearson(x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of x and y over the `valid` entries: [T, N] -> [T]."""
    n = valid.sum(axis=1)
    xv = np.where(valid, x, 0.0)
    yv = np.where(valid, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = xv.sum(axis=1) / n
        ym = yv.sum(axis=1) / n
        xc = np.where(valid, x - xm[:, None], 0.0)
        yc = np.where(valid, y - ym[:, None], 0.0)
        cov = (xc * yc).sum(axis=1)
        sx = np.sqrt((xc * xc).sum(axis=1))
        sy = np.sqrt((yc * yc).sum(axis=1))
        r = cov / (sx * sy)
    # a constant row has zero spread: its correlation is undefined
    tiny = 1e-12 * np.maximum(1.0, np.sqrt(n))
    r[(n < MIN_NAMES) | (sx <= tiny) | (sy <= tiny)] = np.nan
    return r


def cs_rank(x: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Cross-sectional average ranks 1..n of each row (ties share their mean rank); NaN outside valid. [T, N]."""
    x = np.asarray(x, dtype=np.float64)
    if valid is None:
        valid = np.isfinite(x)
    xm = np.where(valid, x, np.nan)
    return rankdata(xm, axis=1, nan_policy="omit")


def daily_ic(
    score: np.ndarray, label: np.ndarray, mask: np.ndarray | None = None, method: str = "pearson"
) -> np.ndarray:
    """Daily IC `[T]`: correlation across names of score and label each day (pearson or spearman)."""
    score, label, valid = _check(score, label, mask)
    if method == "pearson":
        return row_pearson(score, label, valid)
    if method == "spearman":
        return row_pearson(cs_rank(score, valid), cs_rank(label, valid), valid)
    raise DataError(f"daily_ic: unknown method {method!r}; use 'pearson' or 'spearman'")


def daily_rank_ic(
    score: np.ndarray, label: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Daily Rank IC `[T]` (Spearman: Pearson of cross-sectional average ranks)."""
    return daily_ic(score, label, mask, method="spearman")


def summarize_ic(ic: np.ndarray) -> dict[str, float]:
    """mean, std (ddof=1), IR = mean/std, t = mean/std*sqrt(days), SE = std/sqrt(days) of a `[T]` IC series."""
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
