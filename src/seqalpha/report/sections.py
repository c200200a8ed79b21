"""The report's portfolio charts beyond performance: holdings and concentration, rolling risk of
excess returns, industry exposure against the benchmark, and the members' combination weights.

Each builder takes the loaded run and a per-report cache and returns a figure, or a sentence
saying why the chart cannot be drawn (the report shows it in the chart's place).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go

from seqalpha.errors import SeqAlphaError
from seqalpha.report import exposure, holdings, members, rolling
from seqalpha.report.rundir import RunFiles, date_array

Builder = Callable[[RunFiles, dict[str, Any]], go.Figure | str]
TOP = 10


def _stats(run: RunFiles, ctx: dict[str, Any]):
    if "holdings" not in ctx:
        days = date_array(run.returns) if run.returns is not None else None
        ctx["holdings"] = holdings.holdings_stats(run.positions, TOP, days)  # type: ignore[arg-type]
    return ctx["holdings"]


def chart_holdings(run: RunFiles, ctx: dict[str, Any]) -> go.Figure | str:
    if run.positions is None:
        return "No positions.parquet in this run: no holdings."
    return holdings.holdings_figure(_stats(run, ctx))


def chart_concentration(run: RunFiles, ctx: dict[str, Any]) -> go.Figure | str:
    if run.positions is None:
        return "No positions.parquet in this run: no concentration."
    return holdings.concentration_figure(_stats(run, ctx), TOP)


def _rolling(run: RunFiles, ctx: dict[str, Any]) -> tuple[go.Figure, go.Figure] | str:
    if run.returns is None:
        return "No returns.parquet in this run: no rolling risk of excess returns."
    if "rolling" not in ctx:
        r = run.returns
        if r.height < rolling.WINDOW:
            return (
                f"The backtest has {r.height} days, fewer than the {rolling.WINDOW}-day window "
                "of the rolling IR and volatility."
            )
        ctx["rolling"] = rolling.rolling_figures(
            date_array(r), r["excess"].to_numpy(), r["excess_nc"].to_numpy()
        )
    return ctx["rolling"]


def chart_rolling_ir(run: RunFiles, ctx: dict[str, Any]) -> go.Figure | str:
    built = _rolling(run, ctx)
    return built if isinstance(built, str) else built[0]


def chart_rolling_vol(run: RunFiles, ctx: dict[str, Any]) -> go.Figure | str:
    built = _rolling(run, ctx)
    return built if isinstance(built, str) else built[1]


def _exposure(run: RunFiles, ctx: dict[str, Any]) -> tuple | str:
    if "exposure" not in ctx:
        if run.positions is None:
            ctx["exposure"] = "No positions.parquet in this run: no industry exposure."
        else:
            dates = (
                date_array(run.returns)
                if run.returns is not None
                else np.unique(date_array(run.positions))
            )
            held = run.positions["instrument"].unique().to_list()
            try:
                data = exposure.load_industry_data(run.config, dates, held)
                port, bench, names = exposure.exposure_tables(run.positions, data)
                if np.isnan(port).all():
                    ctx["exposure"] = "No industry exposure: the portfolio holds nothing."
                else:
                    ctx["exposure"] = (dates, port, bench, names, data.note)
            except (SeqAlphaError, OSError) as exc:
                ctx["exposure"] = f"No industry exposure: {exc}"
    return ctx["exposure"]


def chart_industry_mean(run: RunFiles, ctx: dict[str, Any]) -> go.Figure | str:
    built = _exposure(run, ctx)
    if isinstance(built, str):
        return built
    _, port, bench, names, note = built
    return exposure.mean_exposure_figure(port, bench, names, note)


def chart_industry_active(run: RunFiles, ctx: dict[str, Any]) -> go.Figure | str:
    built = _exposure(run, ctx)
    if isinstance(built, str):
        return built
    dates, port, bench, names, _ = built
    return exposure.active_exposure_figure(dates, port, bench, names)


def chart_member_weights(run: RunFiles, ctx: dict[str, Any]) -> go.Figure | str:
    try:
        weights = members.read_weights(run.run_dir)
    except SeqAlphaError as exc:
        return str(exc)
    if weights is None:
        return f"No {members.WEIGHTS_FILE} in this run: no weight history."
    return members.weights_figure(weights)


BUILDERS: dict[str, Builder] = {
    "holdings": chart_holdings,
    "concentration": chart_concentration,
    "rolling_ir": chart_rolling_ir,
    "rolling_vol": chart_rolling_vol,
    "industry_mean": chart_industry_mean,
    "industry_active": chart_industry_active,
}
