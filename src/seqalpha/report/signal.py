"""Signal statistics the report needs when ic/quantiles files are absent (via seqalpha.evaluate).

Predictions (long: datetime, instrument, score, label) are scattered to [T, N] arrays;
every statistic is a reduction along axis 1 (over instruments) for all days at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from seqalpha import evaluate
from seqalpha.data.panel import Panel
from seqalpha.errors import DataError


def predictions_to_grid(
    frame: pl.DataFrame, source: Path | str = "predictions.parquet"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Long predictions -> (dates datetime64[D] [T], score float64 [T, N], label float64 [T, N])."""
    try:
        grid = Panel.from_long(
            frame.select("datetime", "instrument", "score", "label"),
            ["score", "label"],
            dtype=np.float64,
        )
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from None
    return grid.dates, grid["score"], grid["label"]


def quantile_means(score: np.ndarray, label: np.ndarray, k: int = 5) -> np.ndarray:
    """Mean label of each score quantile per day [T, N] -> [T, K] (q1 = lowest score)."""
    return evaluate.quantile_returns(score, label, n_groups=k)


def rolling_mean(x: np.ndarray, window: int, min_periods: int | None = None) -> np.ndarray:
    """NaN-aware trailing rolling mean of a [T] series; NaN where fewer than min_periods values."""
    min_periods = max(1, window // 2) if min_periods is None else min_periods
    valid = np.isfinite(x)
    csum = np.concatenate([[0.0], np.cumsum(np.where(valid, x, 0.0))])
    ccnt = np.concatenate([[0], np.cumsum(valid)])
    idx = np.arange(1, len(x) + 1)
    lo = np.maximum(idx - window, 0)
    tot = csum[idx] - csum[lo]
    cnt = ccnt[idx] - ccnt[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt >= min_periods, tot / cnt, np.nan)


def monthly_mean(dates: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of a daily [T] series by calendar month -> (years int [Y], grid float [Y, 12]).

    Months without a finite value are NaN.
    """
    months = dates.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    year = months // 12 + 1970
    month = months % 12
    years = np.unique(year)
    row = np.searchsorted(years, year)
    valid = np.isfinite(x)
    tot = np.zeros((len(years), 12))
    cnt = np.zeros((len(years), 12))
    np.add.at(tot, (row[valid], month[valid]), x[valid])
    np.add.at(cnt, (row[valid], month[valid]), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return years, np.where(cnt > 0, tot / cnt, np.nan)


def drawdown(cum: np.ndarray) -> np.ndarray:
    """Drawdown of an additive cumulative series [T]: cum - running max (<= 0), starting from 0."""
    peak = np.maximum.accumulate(np.concatenate([[0.0], np.nan_to_num(cum, nan=-np.inf)]))[1:]
    peak = np.maximum(peak, 0.0)
    return cum - peak
