"""The report's execution section: cost per year of a backtest whose trades went through the
intraday simulator (`backtest.deal_price: execution`, RUN_DIR/execution.parquet)."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import polars as pl

from seqalpha.execution.metrics import cost_by_year
from seqalpha.report.figures import style_figure

EXECUTION = "execution.parquet"


def execution_table(run_dir: str | Path) -> pl.DataFrame | None:
    """`cost_by_year` of the run's executed orders; None when the run has none."""
    path = Path(run_dir) / EXECUTION
    return cost_by_year(pl.read_parquet(path)) if path.is_file() else None


def execution_cost_html(table: pl.DataFrame) -> str:
    """The per-year table: orders, traded value, costs in bps (> 0 = paid), fill rate."""
    head = "".join(
        f"<th>{h}</th>"
        for h in ("year", "orders", "value", "vs arrival (bps)", "vs close (bps)", "fill rate")
    )
    rows = "".join(
        f"<tr><td>{r['year']}</td><td>{r['orders']}</td><td>{r['value']:,.0f}</td>"
        f"<td>{r['cost_vs_arrival_bps']:.2f}</td><td>{r['cost_vs_close_bps']:.2f}</td>"
        f"<td>{r['fill_rate']:.2%}</td></tr>"
        for r in table.iter_rows(named=True)
    )
    note = (
        '<p class="note">Value-weighted cost of the executed parent orders against the arrival '
        "price (the open of the first bar) and against the day's close; a partly filled order is "
        "booked whole at its average price.</p>"
    )
    return f'{note}<table class="metrics" data-table="execution"><tr>{head}</tr>{rows}</table>'


def execution_cost_figure(table: pl.DataFrame) -> go.Figure:
    """Bars of the execution cost per year (bps) against arrival and against the close."""
    years = [str(y) for y in table["year"].to_list()]
    fig = go.Figure(
        [
            go.Bar(x=years, y=table["cost_vs_arrival_bps"].to_list(), name="vs arrival"),
            go.Bar(x=years, y=table["cost_vs_close_bps"].to_list(), name="vs close"),
        ]
    )
    return style_figure(fig, "Execution cost by year", "bps (> 0 = paid)", pct=False)
