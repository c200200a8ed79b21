"""Plotly figures of a run's series for notebooks: cumulative IC, cumulative excess return and
cumulative quantile returns (the report draws its own charts; these take plain arrays).

Inputs are on the test days: dates datetime64[D] [T]; daily series float [T]; quantile mean
labels float [T, K] (q1 = lowest score). NaN days add nothing to a cumulative sum.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from seqalpha.errors import DataError


def _x(dates: np.ndarray) -> list[str]:
    return list(np.datetime_as_string(np.asarray(dates, dtype="datetime64[D]"), unit="D"))


def _cum(x: np.ndarray) -> np.ndarray:
    return np.cumsum(np.nan_to_num(np.asarray(x, dtype=np.float64)))


def _check(dates: np.ndarray, **series: np.ndarray) -> None:
    for name, arr in series.items():
        if len(arr) != len(dates):
            raise DataError(f"{name}: {len(arr)} values for {len(dates)} dates")


def style_figure(
    fig: go.Figure, title: str, ytitle: str, pct: bool = True, height: int = 380
) -> go.Figure:
    """The house style of every seqalpha chart (report, compare page, API): title, axis, legend."""
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
        yaxis_title=ytitle,
        hovermode="x unified",
    )
    if pct:
        fig.update_yaxes(tickformat=".1%")
    return fig


def _figure(title: str, ytitle: str, pct: bool) -> go.Figure:
    return style_figure(go.Figure(), title, ytitle, pct)


def cumulative_ic_figure(
    dates: np.ndarray, ic: np.ndarray, rank_ic: np.ndarray | None = None, title: str = ""
) -> go.Figure:
    """Cumulative sum of the daily IC (and Rank IC): a straight rising line is a steady signal."""
    series = {"ic": ic} if rank_ic is None else {"ic": ic, "rank_ic": rank_ic}
    _check(dates, **series)
    fig = _figure(title or "Cumulative IC (sum of daily IC)", "cumulative IC", pct=False)
    for name, label in (("ic", "IC"), ("rank_ic", "Rank IC")):
        if name in series:
            fig.add_trace(go.Scatter(x=_x(dates), y=_cum(series[name]), name=label, mode="lines"))
    return fig


def cumulative_excess_figure(
    dates: np.ndarray,
    excess: np.ndarray,
    excess_nc: np.ndarray | None = None,
    benchmark: np.ndarray | None = None,
    title: str = "",
) -> go.Figure:
    """Cumulative (summed) daily excess return over the benchmark, with and without costs."""
    given = {"excess": excess, "excess_nc": excess_nc, "benchmark": benchmark}
    series = {k: v for k, v in given.items() if v is not None}
    _check(dates, **series)
    fig = _figure(title or "Cumulative excess return (sum of daily)", "cumulative return", True)
    styles = {
        "excess": ("excess (with cost)", {}),
        "excess_nc": ("excess (no cost)", {}),
        "benchmark": ("benchmark", {"dash": "dot", "color": "#888"}),
    }
    for name, arr in series.items():
        label, line = styles[name]
        fig.add_trace(go.Scatter(x=_x(dates), y=_cum(arr), name=label, mode="lines", line=line))
    return fig


def quantile_returns_figure(dates: np.ndarray, q: np.ndarray, title: str = "") -> go.Figure:
    """Cumulative mean label of each score quantile [T, K] and of the top-minus-bottom spread."""
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] < 2:
        raise DataError(f"quantile returns: expected [T, K>=2], got shape {q.shape}")
    _check(dates, quantiles=q)
    fig = _figure(title or "Cumulative mean label by score quantile", "cumulative label", False)
    for j in range(q.shape[1]):
        fig.add_trace(go.Scatter(x=_x(dates), y=_cum(q[:, j]), name=f"q{j + 1}", mode="lines"))
    k = q.shape[1]
    fig.add_trace(
        go.Scatter(
            x=_x(dates),
            y=_cum(q[:, -1] - q[:, 0]),
            name=f"q{k} - q1",
            mode="lines",
            line={"dash": "dash", "color": "#000"},
        )
    )
    return fig


__all__ = ["cumulative_excess_figure", "cumulative_ic_figure", "quantile_returns_figure"]
