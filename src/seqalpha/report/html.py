"""A self-contained HTML report of one run directory (plotly.js inlined once; no network).

Each chart sits in `<div class="seqalpha-chart" id="chart-<name>" data-chart="<name>">`; a chart
whose inputs are missing becomes `<div class="seqalpha-missing" data-chart="<name>">` saying why.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
import yaml
from plotly.offline import get_plotlyjs

import seqalpha
from seqalpha import evaluate
from seqalpha.errors import DataError
from seqalpha.jsonio import write_text_atomic
from seqalpha.report import active as active_report
from seqalpha.report import execution as executed
from seqalpha.report import explain as attributions
from seqalpha.report import members as member_runs
from seqalpha.report import sections as extra
from seqalpha.report import signal as sig
from seqalpha.report.figures import style_figure
from seqalpha.report.rundir import RunFiles, date_array, load_run, quantile_columns

CHARTS = (
    "cum_excess",
    "cum_return",
    "drawdown",
    "ic",
    "ic_monthly",
    "quantiles",
    "turnover",
    *extra.BUILDERS,
)
PREFERRED_YEAR_METRICS = (
    "AlphaRtn",
    "AlphaRtnNC",
    "AlphaSharpe",
    "AlphaSharpeNC",
    "AlphaDrawdown",
    "AlphaDrawdownNC",
    "TOV",
    "IR",
    "MaxDD",
)
SIGNAL_METRICS = ("ic", "rank_ic", "icir", "rank_icir", "ic_t", "rank_ic_t")
_PCT_HINTS = ("rtn", "return", "drawdown", "maxdd", "tov", "turnover", "cost")
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}

PAGE_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1f2933;
background:#f5f7fa}
header{background:#243b53;color:#fff;padding:18px 32px}
header h1{margin:0 0 4px 0;font-size:22px} header p{margin:0;font-size:13px;opacity:.85}
nav{padding:8px 32px;background:#e4e7eb;font-size:13px} nav a{margin-right:14px;color:#243b53}
main{padding:8px 32px 40px 32px;max-width:1300px}
section{background:#fff;border-radius:6px;padding:12px 18px;margin:16px 0;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:17px;margin:6px 0 10px 0}
.seqalpha-chart{min-height:360px}
.seqalpha-missing{padding:14px;background:#fffbea;border:1px solid #f0b429;border-radius:4px;
color:#8d2b0b;font-size:14px;margin:8px 0}
table.metrics{border-collapse:collapse;font-size:13px;margin:6px 0}
table.metrics th,table.metrics td{border-bottom:1px solid #d9e2ec;padding:4px 10px;
text-align:right}
table.metrics th:first-child,table.metrics td:first-child{text-align:left}
table.metrics thead th{background:#f0f4f8} table.metrics tr.overall td{font-weight:600;
border-top:2px solid #829ab1}
td.neg{color:#c81e1e} td.pos{color:#0e7c3a}
pre.config{background:#f0f4f8;padding:12px;font-size:12px;overflow:auto;max-height:600px}
.note{font-size:12px;color:#52606d}
.table-wrap{overflow-x:auto}
"""


def iso_dates(dates: np.ndarray) -> list[str]:
    """datetime64[D] [T] -> ISO strings for plotly axes."""
    return list(np.datetime_as_string(dates.astype("datetime64[D]"), unit="D"))


def _layout(fig: go.Figure, title: str, ytitle: str, pct: bool = True) -> go.Figure:
    return style_figure(fig, title, ytitle, pct)


def _col(run: RunFiles, name: str) -> np.ndarray:
    if run.returns is None:
        raise DataError(f"{run.run_dir}: returns.parquet is missing")
    return run.returns[name].to_numpy().astype(np.float64)


def _chart_cum_excess(run: RunFiles, ctx: dict[str, Any]) -> go.Figure | str:
    if run.returns is None:
        return "No returns.parquet in this run (signal-only run): no backtest performance."
    x = iso_dates(date_array(run.returns))
    fig = go.Figure()
    for name, label in (("excess", "excess (with cost)"), ("excess_nc", "excess (no cost)")):
        fig.add_trace(
            go.Scatter(x=x, y=np.cumsum(np.nan_to_num(_col(run, name))), name=label, mode="lines")
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=np.cumsum(np.nan_to_num(_col(run, "benchmark"))),
            name="benchmark",
            mode="lines",
            line={"dash": "dot", "color": "#888"},
        )
    )
    return _layout(
        fig, "Cumulative excess return vs benchmark (sum of daily returns)", "cumulative return"
    )


def _chart_cum_return(run: RunFiles, ctx: dict[str, Any]) -> go.Figure | str:
    if run.returns is None:
        return "No returns.parquet in this run: no portfolio returns."
    x = iso_dates(date_array(run.returns))
    fig = go.Figure()
    for name, label, style in (
        ("return", "portfolio (with cost)", {}),
        ("return_nc", "portfolio (no cost)", {}),
        ("benchmark", "benchmark", {"dash": "dot", "color": "#888"}),
    ):
        growth = np.cumprod(1.0 + np.nan_to_num(_col(run, name))) - 1.0
        fig.add_trace(go.Scatter(x=x, y=growth, name=label, mode="lines", line=style))
    return _layout(
        fig, "Portfolio and benchmark cumulative return (compounded)", "cumulative return"
    )


def _chart_drawdown(run: RunFiles, ctx: dict[str, Any]) -> go.Figure | str:
    if run.returns is None:
        return "No returns.parquet in this run: no drawdown."
    x = iso_dates(date_array(run.returns))
    fig = go.Figure()
    for name, label in (("excess", "with cost"), ("excess_nc", "no cost")):
        dd = sig.drawdown(np.cumsum(np.nan_to_num(_col(run, name))))
        fig.add_trace(go.Scatter(x=x, y=dd, name=label, mode="lines", fill="tozeroy"))
    return _layout(fig, "Drawdown of cumulative excess return", "drawdown")


def _signal_ic(run: RunFiles, ctx: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dates [T], ic [T], rank_ic [T]) from ic.parquet, else computed from predictions."""
    if "ic" not in ctx:
        if run.ic is not None:
            ctx["ic"] = (date_array(run.ic), run.ic["ic"].to_numpy(), run.ic["rank_ic"].to_numpy())
            ctx["ic_source"] = "ic.parquet"
        elif run.predictions is not None:
            dates, score, label = _grid(run, ctx)
            ic, ric = evaluate.daily_ic(score, label), evaluate.daily_rank_ic(score, label)
            ctx["ic"] = (dates, ic, ric)
            ctx["ic_source"] = "computed from predictions.parquet"
        else:
            ctx["ic"] = None
    return ctx["ic"]


def _grid(run: RunFiles, ctx: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if "grid" not in ctx:
        if run.predictions is None:
            raise DataError(f"{run.run_dir}: predictions.parquet is missing")
        ctx["grid"] = sig.predictions_to_grid(run.predictions, run.run_dir / "predictions.parquet")
    return ctx["grid"]


def _chart_ic(run: RunFiles, ctx: dict[str, Any]) -> go.Figure | str:
    data = _signal_ic(run, ctx)
    if data is None:
        return "No ic.parquet and no predictions.parquet: no IC series."
    dates, ic, ric = data
    x = iso_dates(dates)
    fig = go.Figure()
    fig.add_trace(go.Bar(x=x, y=ic, name="IC (daily)", marker_color="rgba(31,119,180,0.35)"))
    fig.add_trace(
        go.Scatter(
            x=x,
            y=sig.rolling_mean(ic, 20),
            name="IC 20-day mean",
            mode="lines",
            line={"color": "#1f77b4", "width": 2},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=sig.rolling_mean(ric, 20),
            name="Rank IC 20-day mean",
            mode="lines",
            line={"color": "#d62728", "width": 2},
        )
    )
    return _layout(fig, f"Information coefficient ({ctx['ic_source']})", "IC", pct=False)


def _chart_ic_monthly(run: RunFiles, ctx: dict[str, Any]) -> go.Figure | str:
    data = _signal_ic(run, ctx)
    if data is None:
        return "No ic.parquet and no predictions.parquet: no monthly IC."
    dates, ic, _ = data
    years, grid = sig.monthly_mean(dates, ic)
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    text = [["" if not np.isfinite(v) else f"{v:.3f}" for v in row] for row in grid]
    lim = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            x=months,
            y=[str(y) for y in years],
            text=text,
            texttemplate="%{text}",
            colorscale="RdBu",
            zmid=0.0,
            zmin=-lim,
            zmax=lim,
            colorbar={"title": "IC"},
        )
    )
    fig = _layout(fig, "Monthly mean IC", "year", pct=False)
    fig.update_layout(height=max(260, 60 + 32 * len(years)), hovermode="closest")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def _chart_quantiles(run: RunFiles, ctx: dict[str, Any]) -> go.Figure | str:
    if run.quantiles is not None:
        cols = quantile_columns(run.quantiles)
        dates = date_array(run.quantiles)
        q = np.column_stack([run.quantiles[c].to_numpy() for c in cols])
        source = "quantiles.parquet"
    elif run.predictions is not None:
        dates, score, label = _grid(run, ctx)
        q = sig.quantile_means(score, label, k=5)
        source = "computed from predictions.parquet"
    else:
        return "No quantiles.parquet and no predictions.parquet: no quantile returns."
    x = iso_dates(dates)
    k = q.shape[1]
    fig = go.Figure()
    colors = ["#d73027", "#fc8d59", "#91bfdb", "#4575b4", "#313695"]
    for j in range(k):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.cumsum(np.nan_to_num(q[:, j])),
                name=f"q{j + 1}",
                mode="lines",
                line={"color": colors[j * len(colors) // k]},
            )
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=np.cumsum(np.nan_to_num(q[:, -1] - q[:, 0])),
            name=f"q{k} - q1",
            mode="lines",
            line={"dash": "dash", "color": "#000"},
        )
    )
    return _layout(
        fig,
        f"Cumulative mean label by score quantile, q1 = lowest ({source})",
        "cumulative label (sum)",
    )


def _chart_turnover(run: RunFiles, ctx: dict[str, Any]) -> go.Figure | str:
    if run.returns is None:
        return "No returns.parquet in this run: no turnover."
    x = iso_dates(date_array(run.returns))
    tov = _col(run, "turnover")
    fig = go.Figure()
    fig.add_trace(go.Bar(x=x, y=tov, name="daily turnover", marker_color="rgba(44,160,44,0.4)"))
    fig.add_trace(
        go.Scatter(
            x=x,
            y=sig.rolling_mean(tov, 20),
            name="20-day mean",
            mode="lines",
            line={"color": "#2ca02c", "width": 2},
        )
    )
    return _layout(fig, "Turnover", "turnover")


_BUILDERS: dict[str, Callable[[RunFiles, dict[str, Any]], go.Figure | str]] = {
    "cum_excess": _chart_cum_excess,
    "cum_return": _chart_cum_return,
    "drawdown": _chart_drawdown,
    "ic": _chart_ic,
    "ic_monthly": _chart_ic_monthly,
    "quantiles": _chart_quantiles,
    "turnover": _chart_turnover,
    **extra.BUILDERS,
}


def chart_html(name: str, built: go.Figure | str) -> str:
    """One chart as a div (plotly.js not included), or the reason it is missing."""
    if isinstance(built, str):
        return (
            f'<div class="seqalpha-missing" data-chart="{name}" id="missing-{name}">'
            f"{html.escape(built)}</div>"
        )
    inner = built.to_html(
        full_html=False, include_plotlyjs=False, div_id=f"plot-{name}", config=_PLOT_CONFIG
    )
    return f'<div class="seqalpha-chart" id="chart-{name}" data-chart="{name}">{inner}</div>'


def is_percent_metric(name: str) -> bool:
    """Whether a metric name denotes a return/drawdown/turnover fraction shown as a percentage."""
    low = name.lower()
    return "sharpe" not in low and any(h in low for h in _PCT_HINTS)


def format_metric(name: str, value: Any) -> str:
    """Format one metric value: percentages for returns/drawdowns/turnover, else 2-4 decimals."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return html.escape(str(value))
    if not math.isfinite(value):
        return "—"
    if is_percent_metric(name):
        return f"{value * 100:.2f}%"
    if isinstance(value, int):
        return str(value)
    low = name.lower()
    if "sharpe" in low or "ratio" in low or low.endswith(("ir", "_t")):
        return f"{value:.2f}"
    return f"{value:.4f}"


def _cell(name: str, value: Any) -> str:
    cls = ""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        cls = ' class="neg"' if value < 0 else ""
    return f"<td{cls}>{format_metric(name, value)}</td>"


def year_table_html(metrics: dict[str, Any]) -> str:
    """Per-year metrics (rows: years, then overall) as an HTML table with formatted values."""
    by_year: dict[str, dict[str, Any]] = metrics.get("by_year") or {}
    overall: dict[str, Any] = metrics.get("overall") or {}
    if not by_year and not overall:
        return (
            '<div class="seqalpha-missing" data-table="by_year">metrics.json has no '
            "by_year / overall backtest metrics (signal-only run?).</div>"
        )
    names: list[str] = []
    for row in [*by_year.values(), overall]:
        for key in row:
            if key not in names:
                names.append(key)
    cols = [n for n in PREFERRED_YEAR_METRICS if n in names]
    cols += sorted(n for n in names if n not in cols)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    rows = []
    for year in sorted(by_year, key=str):
        cells = "".join(_cell(c, by_year[year].get(c, float("nan"))) for c in cols)
        rows.append(f"<tr><td>{html.escape(str(year))}</td>{cells}</tr>")
    if overall:
        cells = "".join(_cell(c, overall.get(c, float("nan"))) for c in cols)
        rows.append(f'<tr class="overall"><td>overall</td>{cells}</tr>')
    return (
        f'<div class="table-wrap"><table class="metrics" id="table-by-year"><thead><tr>'
        f"<th>year</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def signal_table_html(metrics: dict[str, Any]) -> str:
    """Top-level numeric metrics (IC, Rank IC, ICIR, ...) as a two-column HTML table."""
    flat = {
        k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    if not flat:
        return (
            '<div class="seqalpha-missing" data-table="signal">metrics.json has no '
            "top-level signal metrics.</div>"
        )
    order = [k for k in SIGNAL_METRICS if k in flat] + sorted(
        k for k in flat if k not in SIGNAL_METRICS
    )
    rows = "".join(f"<tr><td>{html.escape(k)}</td>{_cell(k, flat[k])}</tr>" for k in order)
    return (
        f'<table class="metrics" id="table-signal"><thead><tr><th>metric</th><th>value</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _config_html(run: RunFiles) -> str:
    if run.config_text is None:
        return (
            '<div class="seqalpha-missing" data-section="config">No config.yaml in this run.</div>'
        )
    if run.config is not None:
        text = yaml.safe_dump(
            run.config, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
        )
        note = ""
    else:
        text = run.config_text
        note = (
            f'<div class="seqalpha-missing" data-section="config">config.yaml is not a valid '
            f"YAML mapping ({html.escape(run.config_error or '')}); shown verbatim.</div>"
        )
    return f'{note}<pre class="config" id="config-yaml">{html.escape(text)}</pre>'


def _members_table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = []
    for r in frame.with_columns(pl.col("days").cast(pl.Int64)).iter_rows(named=True):
        cls = ' class="overall"' if r["name"] == member_runs.COMBINATION else ""
        cells = "".join(_cell(c, r[c]) for c in frame.columns[1:])
        rows.append(f"<tr{cls}><td>{html.escape(r['name'])}</td>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table class="metrics" id="table-members"><thead><tr>{head}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _members_section(run: RunFiles, ctx: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The members-vs-combination section, when the run directory holds member predictions."""
    if not member_runs.member_paths(run.run_dir):
        return []
    note = (
        '<p class="note">Every row on the combination\'s test days; turnover = mean daily share '
        "of the top score quintile not in the previous day's top quintile.</p>"
    )
    if run.predictions is None:
        table = '<div class="seqalpha-missing">No predictions.parquet (the combination).</div>'
    else:
        try:
            table = _members_table(
                member_runs.member_table(run.run_dir, run.predictions, run.metrics)
            )
        except DataError as exc:
            table = f'<div class="seqalpha-missing">{html.escape(str(exc))}</div>'
    weights = chart_html("member_weights", extra.chart_member_weights(run, ctx))
    return [("members", "Members vs combination", note + table + weights)]


def _attribution_section(run: RunFiles) -> list[tuple[str, str, str]]:
    """LRP feature relevance charts, when the run directory holds attributions.parquet."""
    charts = attributions.attribution_charts(run.run_dir)
    if not charts:
        return []
    body = "".join(chart_html(name, built) for name, built in charts)
    return [("attributions", "Feature relevance (LRP)", body)]


def _execution_section(run: RunFiles) -> list[tuple[str, str, str]]:
    """Execution cost per year, when the backtest executed its trades over intraday bars."""
    table = executed.execution_table(run.run_dir)
    if table is None:
        return []
    chart = chart_html("execution_cost", executed.execution_cost_figure(table))
    return [("execution", "Execution cost", executed.execution_cost_html(table) + chart)]


def _provenance_line(run_dir: Path) -> str:
    path = run_dir / "provenance.json"
    if not path.is_file():
        return ""
    try:
        prov = json.loads(path.read_text(encoding="utf-8"))
        git = prov.get("git") or {}
        commit = (git.get("commit") or "no git")[:12]
        dirty = " (dirty)" if git.get("dirty") else ""
        data = (prov.get("data") or {}).get("sha256", "")[:12]
        return (
            f" · code {html.escape(commit)}{dirty} · data sha256 {html.escape(data)}"
            f" · seeds {html.escape(str(prov.get('seeds')))}"
        )
    except (ValueError, AttributeError):
        return " · provenance.json unreadable"


def render_report(run: RunFiles) -> str:
    """The full HTML document of a loaded run (one inlined plotly.js, one div per chart)."""
    ctx: dict[str, Any] = {}
    charts = {name: chart_html(name, _BUILDERS[name](run, ctx)) for name in CHARTS}
    metrics = run.metrics
    if metrics is None:
        signal_tbl = year_tbl = (
            '<div class="seqalpha-missing" data-table="metrics">No metrics.json in this run.</div>'
        )
    else:
        signal_tbl, year_tbl = signal_table_html(metrics), year_table_html(metrics)
    present = ", ".join(f"{k} {'✓' if v else '✗'}" for k, v in run.present.items())
    generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = html.escape(run.run_dir.resolve().name)
    sections = [
        ("summary", "Signal metrics", signal_tbl),
        (
            "performance",
            "Backtest performance",
            charts["cum_excess"] + charts["cum_return"] + charts["drawdown"],
        ),
        ("years", "Metrics by year", year_tbl),
        *active_report.active_section(metrics),
        ("signal", "Signal quality", charts["ic"] + charts["ic_monthly"] + charts["quantiles"]),
        ("trading", "Trading", charts["turnover"]),
        *_execution_section(run),
        ("holdings", "Holdings and concentration", charts["holdings"] + charts["concentration"]),
        ("exposure", "Industry exposure", charts["industry_mean"] + charts["industry_active"]),
        ("rolling", "Rolling risk of excess return", charts["rolling_ir"] + charts["rolling_vol"]),
        *_members_section(run, ctx),
        *_attribution_section(run),
        ("config", "Configuration", _config_html(run)),
    ]
    header = (
        f"<p>generated {generated} · seqalpha "
        f"{html.escape(seqalpha.__version__)}{_provenance_line(run.run_dir)}</p>"
        f'<p class="files">files: {html.escape(present)}</p>'
    )
    return html_page(f"seqalpha report · {title}", header, sections, nav=True)


def html_page(
    title: str, header: str, sections: list[tuple[str, str, str]], nav: bool, css: str = ""
) -> str:
    """A self-contained page: `title` (escaped by the caller), header lines, and one
    `<section id="sec-ID">` per (id, heading, html) with an optional link bar; plotly.js once."""
    links = "".join(f'<a href="#sec-{sid}">{html.escape(t)}</a>' for sid, t, _ in sections)
    body = "".join(
        f'<section id="sec-{sid}"><h2>{html.escape(t)}</h2>{content}</section>'
        for sid, t, content in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{PAGE_CSS}{css}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<header><h1>{title}</h1>{header}</header>"
        + (f"<nav>{links}</nav>" if nav else "")
        + f"<main>{body}</main></body></html>\n"
    )


def write_report(
    run_dir: Path | str, output: Path | str | None = None, run: RunFiles | None = None
) -> Path:
    """Write the self-contained `RUN_DIR/report.html` (or `output`) atomically; return its path.

    `run`: the run's tables already in memory (`report.rundir.run_in_memory`); else read."""
    run = load_run(run_dir) if run is None else run
    out = Path(output) if output is not None else run.run_dir / "report.html"
    doc = render_report(run)
    return write_text_atomic(out, doc)
