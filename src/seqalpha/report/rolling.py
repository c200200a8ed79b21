"""Rolling risk of daily excess returns: trailing-window information ratio and volatility.

Both are annualized with `periods` trading days a year (252): vol = std * sqrt(periods),
IR = mean / std * sqrt(periods), std with ddof=1. A value needs `window` finite days (NaN
before, and while a window holds fewer); NaN days (e.g. no trading) are skipped, not zeros.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import polars as pl

from seqalpha.errors import DataError
from seqalpha.report.figures import style_figure

WINDOW = 60
PERIODS = 252


def rolling_excess_stats(
    excess: np.ndarray, window: int = WINDOW, periods: int = PERIODS
) -> tuple[np.ndarray, np.ndarray]:
    """Daily excess returns [T] -> (rolling annualized IR [T], rolling annualized vol [T])."""
    if window < 2:
        raise DataError(f"rolling window must be >= 2 days, got {window}")
    x = np.asarray(excess, dtype=np.float64)
    if x.ndim != 1:
        raise DataError(f"excess returns: expected a 1-D daily series, got shape {x.shape}")
    s = pl.Series("x", x).fill_nan(None)
    mean = s.rolling_mean(window, min_samples=window).to_numpy()
    std = s.rolling_std(window, min_samples=window, ddof=1).to_numpy()
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ir = np.where(std > 0, mean / std * np.sqrt(periods), np.nan)
    return ir, std * np.sqrt(periods)


def rolling_figures(
    dates: np.ndarray,
    excess: np.ndarray,
    excess_nc: np.ndarray | None = None,
    window: int = WINDOW,
) -> tuple[go.Figure, go.Figure]:
    """(rolling IR figure, rolling volatility figure) of excess returns with (and without) cost."""
    x = list(np.datetime_as_string(np.asarray(dates, dtype="datetime64[D]"), unit="D"))
    series = (
        {"with cost": excess} if excess_nc is None else {"with cost": excess, "no cost": excess_nc}
    )
    ir_fig, vol_fig = go.Figure(), go.Figure()
    for label, arr in series.items():
        if len(arr) != len(x):
            raise DataError(f"excess ({label}): {len(arr)} values for {len(x)} dates")
        ir, vol = rolling_excess_stats(arr, window)
        ir_fig.add_trace(go.Scatter(x=x, y=ir, name=f"IR ({label})", mode="lines"))
        vol_fig.add_trace(go.Scatter(x=x, y=vol, name=f"volatility ({label})", mode="lines"))
    ir_fig.add_hline(y=0.0, line={"color": "#888", "width": 1})
    style_figure(
        ir_fig,
        f"Rolling {window}-day information ratio of excess return (annualized)",
        "IR",
        False,
    )
    style_figure(
        vol_fig,
        f"Rolling {window}-day volatility of excess return (annualized)",
        "volatility",
        True,
    )
    return ir_fig, vol_fig
