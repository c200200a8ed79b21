"""Holdings count and concentration of a backtest's positions over time.

positions: long table `datetime, instrument, weight` (end-of-day weights, fractions of account
value; absent rows hold nothing). Concentration is measured on each day's *shares of the
invested book*, s_i = |w_i| / sum |w|, so that cash does not count as diversification:
HHI = sum s_i^2 (1/n for n equal names), effective number of names = 1 / HHI, top-k weight =
sum of the k largest s_i.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import polars as pl

from seqalpha.errors import DataError
from seqalpha.report.figures import style_figure

STAT_COLUMNS = ("n_holdings", "gross", "top_weight", "hhi", "effective_n")


def holdings_stats(
    positions: pl.DataFrame, top: int = 10, dates: np.ndarray | None = None
) -> pl.DataFrame:
    """Per day: `n_holdings` (names with weight != 0), `gross` (sum |w|), `top_weight` (share of
    the `top` largest names in the invested book), `hhi`, `effective_n` (= 1 / hhi).

    `dates` (datetime64[D] [T], e.g. the returns' days) adds days without positions as
    n_holdings 0, gross 0 and NaN concentration; otherwise only days with positions appear.
    """
    if top < 1:
        raise DataError(f"holdings_stats: top must be >= 1, got {top}")
    missing = [c for c in ("datetime", "instrument", "weight") if c not in positions.columns]
    if missing:
        raise DataError(f"positions: missing column(s) {missing}; has {positions.columns}")
    held = positions.select("datetime", pl.col("weight").cast(pl.Float64).abs().alias("w")).filter(
        pl.col("w").is_finite() & (pl.col("w") > 0)
    )
    share = pl.col("w") / pl.col("w").sum()
    stats = (
        held.group_by("datetime")
        .agg(
            pl.len().cast(pl.Float64).alias("n_holdings"),
            pl.col("w").sum().alias("gross"),
            share.top_k(top).sum().alias("top_weight"),
            (share**2).sum().alias("hhi"),
        )
        .with_columns((1.0 / pl.col("hhi")).alias("effective_n"))
        .sort("datetime")
    )
    if dates is None:
        return stats
    days = pl.DataFrame({"datetime": np.asarray(dates, dtype="datetime64[D]")}).with_columns(
        pl.col("datetime").cast(stats.schema["datetime"])
    )
    return days.join(stats, on="datetime", how="left").with_columns(
        pl.col("n_holdings").fill_null(0.0),
        pl.col("gross").fill_null(0.0),
        *(pl.col(c).fill_null(float("nan")) for c in ("top_weight", "hhi", "effective_n")),
    )


def _x(stats: pl.DataFrame) -> list[str]:
    dates = stats["datetime"].to_numpy().astype("datetime64[D]")
    return list(np.datetime_as_string(dates, unit="D"))


def holdings_figure(stats: pl.DataFrame) -> go.Figure:
    """Names held per day (bars) and the effective number of names 1 / HHI (line)."""
    x = _x(stats)
    fig = go.Figure()
    fig.add_trace(
        go.Bar(x=x, y=stats["n_holdings"], name="names held", marker_color="rgba(31,119,180,.35)")
    )
    fig.add_trace(
        go.Scatter(x=x, y=stats["effective_n"], name="effective names (1/HHI)", mode="lines")
    )
    return style_figure(fig, "Holdings: names held and effective number of names", "names", False)


def concentration_figure(stats: pl.DataFrame, top: int = 10) -> go.Figure:
    """Share of the invested book in the `top` largest names, the HHI, and gross exposure."""
    x = _x(stats)
    fig = go.Figure()
    for col, label in (
        ("top_weight", f"top-{top} share of book"),
        ("hhi", "HHI (sum of squared shares)"),
        ("gross", "gross exposure (sum |w| / account)"),
    ):
        fig.add_trace(go.Scatter(x=x, y=stats[col], name=label, mode="lines"))
    return style_figure(fig, "Concentration of the invested book", "share", True)
