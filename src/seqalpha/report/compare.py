"""Comparing run directories: one by-year table, paired daily IC differences, overlaid curves.

Signal figures come from each run's daily IC series (ic.parquet, else recomputed from
predictions.parquet with `seqalpha.xsection`), portfolio figures from returns.parquet (via the
backtest's `performance_table`), and from metrics.json only when those files are absent, so that
every run is measured the same way. Paired IC differences use the test days the runs share.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl

from seqalpha import xsection
from seqalpha.backtest import performance_table
from seqalpha.errors import ConfigError, DataError
from seqalpha.evaluate import summarize_ic
from seqalpha.jsonio import write_text_atomic
from seqalpha.report.figures import style_figure
from seqalpha.report.html import chart_html, format_metric, html_page, iso_dates
from seqalpha.report.rundir import RunFiles, date_array, load_run
from seqalpha.report.signal import predictions_to_grid

SIGNAL_COLUMNS = ("IC", "RankIC", "ICIR", "RankICIR", "IC_days")
PORTFOLIO_COLUMNS = ("AlphaRtn", "AlphaRtnNC", "AlphaSharpe", "AlphaDrawdown", "TOV")
TABLE_COLUMNS = ("run", "period", *SIGNAL_COLUMNS, *PORTFOLIO_COLUMNS)
PAIR_COLUMNS = (
    *("run_a", "run_b", "metric", "period"),
    *("n_days", "mean_a", "mean_b", "diff", "se", "t"),
)
# metrics.json keys (merged pipeline layout, then `seqalpha train` layout) per table column
_METRIC_KEYS = {
    "IC": ("IC", "ic"),
    "RankIC": ("RankIC", "rank_ic"),
    "ICIR": ("ICIR", "icir"),
    "RankICIR": ("RankICIR", "rank_icir"),
    "IC_days": ("n_days",),
}


@dataclass
class DailyIC:
    """A run's daily IC and Rank IC on its test days, and the file they come from."""

    dates: np.ndarray  # datetime64[D] [T], unique
    ic: np.ndarray  # [T]
    rank_ic: np.ndarray  # [T]
    source: str  # "ic.parquet" or "predictions.parquet"


@dataclass
class RunSeries:
    """What a comparison needs of one run: its daily IC and daily returns, when it has them."""

    name: str
    run_dir: Path
    daily: DailyIC | None
    returns: pl.DataFrame | None  # returns.parquet (datetime, excess, excess_nc, turnover, ...)
    metrics: dict[str, Any] | None


def daily_ic_from_predictions(
    preds: pl.DataFrame, source: Path | str = "predictions.parquet"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Long predictions -> (dates datetime64[D] [T], IC [T], Rank IC [T]) over the rows present
    (absent cells of the grid are NaN, so they drop out of the ICs)."""
    dates, score, label = predictions_to_grid(preds, source)
    return dates, xsection.daily_ic(score, label), xsection.daily_rank_ic(score, label)


def run_series(run: RunFiles, name: str) -> RunSeries:
    """The daily IC (ic.parquet, else recomputed from predictions) and returns of a loaded run."""
    daily = None
    if run.ic is not None:
        dates = date_array(run.ic)
        if len(np.unique(dates)) != len(dates):
            raise DataError(f"{run.run_dir / 'ic.parquet'}: duplicate dates in 'datetime'")
        ic, ric = run.ic["ic"].to_numpy(), run.ic["rank_ic"].to_numpy()
        daily = DailyIC(dates, ic, ric, "ic.parquet")
    elif run.predictions is not None:
        path = run.run_dir / "predictions.parquet"
        daily = DailyIC(*daily_ic_from_predictions(run.predictions, path), "predictions.parquet")
    return RunSeries(name, run.run_dir, daily, run.returns, run.metrics)


def run_names(run_dirs: Sequence[Path | str]) -> list[str]:
    """Short unique labels: the directory names, or the paths as given when names collide."""
    paths = [Path(p) for p in run_dirs]
    names = [p.resolve().name for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(p) for p in paths]


def load_runs(run_dirs: Sequence[Path | str]) -> list[RunSeries]:
    """Load two or more distinct run directories for comparison."""
    if len(run_dirs) < 2:
        raise ConfigError(f"compare needs at least two run directories, got {len(run_dirs)}")
    resolved = [Path(p).resolve() for p in run_dirs]
    dup = sorted({str(p) for p in resolved if resolved.count(p) > 1})
    if dup:
        raise ConfigError(f"compare: run directory {dup[0]} is given more than once")
    return [run_series(load_run(p), n) for p, n in zip(run_dirs, run_names(run_dirs), strict=True)]


def _years(dates: np.ndarray) -> np.ndarray:
    return dates.astype("datetime64[Y]").astype(np.int64) + 1970


def _signal_row(ic: np.ndarray, ric: np.ndarray) -> dict[str, float]:
    a, b = summarize_ic(ic), summarize_ic(ric)
    return {
        "IC": a["mean"],
        "RankIC": b["mean"],
        "ICIR": a["ir"],
        "RankICIR": b["ir"],
        "IC_days": a["n_days"],
    }


def _from_metrics(block: dict[str, Any] | None, columns: Sequence[str]) -> dict[str, float]:
    """Columns looked up in a metrics.json block (None/missing -> NaN)."""
    out: dict[str, float] = {}
    for col in columns:
        value = None
        for key in _METRIC_KEYS.get(col, (col,)):
            if block and isinstance(block.get(key), (int, float)):
                value = block[key]
                break
        out[col] = float("nan") if value is None else float(value)
    return out


def _period_blocks(series: RunSeries) -> dict[str, dict[str, float]]:
    """{year or 'overall': {column: value}} for one run."""
    blocks: dict[str, dict[str, float]] = {}
    metrics = series.metrics or {}
    by_year_json = metrics.get("by_year") or {}
    daily = series.daily
    if daily is not None:
        years = _years(daily.dates)
        for y in np.unique(years):
            sel = years == y
            blocks[str(y)] = _signal_row(daily.ic[sel], daily.rank_ic[sel])
        blocks["overall"] = _signal_row(daily.ic, daily.rank_ic)
    else:
        for y, row in by_year_json.items():
            blocks[str(y)] = _from_metrics(row, SIGNAL_COLUMNS)
        overall = dict(metrics)
        overall.update(metrics.get("overall") or {})
        blocks["overall"] = _from_metrics(overall, SIGNAL_COLUMNS)
    if series.returns is not None:
        perf = performance_table(series.returns)
        perf_blocks = {str(y): row for y, row in perf["by_year"].items()}
        perf_blocks["overall"] = perf["overall"]
    else:
        perf_blocks = {str(y): row for y, row in by_year_json.items()}
        perf_blocks["overall"] = metrics.get("overall") or {}
    for period, row in perf_blocks.items():
        values = _from_metrics(row, PORTFOLIO_COLUMNS)
        blocks.setdefault(period, _from_metrics(None, SIGNAL_COLUMNS)).update(values)
    return blocks


def comparison_table(runs: Sequence[RunSeries]) -> pl.DataFrame:
    """One row per (run, year) and per (run, 'overall'): IC family and portfolio metrics."""
    rows = []
    for series in runs:
        blocks = _period_blocks(series)
        periods = [*sorted(p for p in blocks if p != "overall"), "overall"]
        for period in periods:
            row = {c: float("nan") for c in (*SIGNAL_COLUMNS, *PORTFOLIO_COLUMNS)}
            row.update(blocks.get(period, {}))
            rows.append({"run": series.name, "period": period, **row})
    schema = {"run": pl.Utf8, "period": pl.Utf8} | {
        c: pl.Float64 for c in (*SIGNAL_COLUMNS, *PORTFOLIO_COLUMNS)
    }
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(
        pl.col("IC_days").cast(pl.Int64, strict=False)
    )


def paired_difference(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean of a - b on days where both are finite; SE = std(diff, ddof=1)/sqrt(n); t = diff/SE."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    nan = float("nan")
    if n == 0:
        return {"n_days": 0, "mean_a": nan, "mean_b": nan, "diff": nan, "se": nan, "t": nan}
    d = a[ok] - b[ok]
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else nan
    diff = float(d.mean())
    t = diff / se if n > 1 and se > 0 else nan
    return {
        "n_days": n,
        "mean_a": float(a[ok].mean()),
        "mean_b": float(b[ok].mean()),
        "diff": diff,
        "se": se,
        "t": t,
    }


def paired_ic_table(runs: Sequence[RunSeries]) -> pl.DataFrame:
    """Every pair of runs (a before b): daily IC and Rank IC differences a - b on shared days,
    by year of the shared days and overall."""
    rows = []
    with_ic = [(r.name, r.daily) for r in runs if r.daily is not None]
    for i, (name_a, ra) in enumerate(with_ic):
        for name_b, rb in with_ic[i + 1 :]:
            common, ia, ib = np.intersect1d(ra.dates, rb.dates, return_indices=True)
            years = _years(common)
            periods = [(str(y), years == y) for y in np.unique(years)]
            periods.append(("overall", np.ones(len(common), dtype=bool)))
            for metric, xa, xb in (
                ("IC", ra.ic[ia], rb.ic[ib]),
                ("RankIC", ra.rank_ic[ia], rb.rank_ic[ib]),
            ):
                for period, sel in periods:
                    stats = paired_difference(xa[sel], xb[sel])
                    rows.append(
                        {"run_a": name_a, "run_b": name_b, "metric": metric, "period": period}
                        | stats
                    )
    schema = {c: pl.Utf8 for c in PAIR_COLUMNS[:4]} | {c: pl.Float64 for c in PAIR_COLUMNS[4:]}
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(
        pl.col("n_days").cast(pl.Int64)
    )


# ------------------------------------------------------------------------------- HTML page

# the report's page style, with the run and period columns left-aligned and a wider page
_EXTRA_CSS = (
    "main{max-width:1400px}"
    "table.metrics th:nth-child(-n+2),table.metrics td:nth-child(-n+2){text-align:left}"
)


def _figure(title: str, ytitle: str, pct: bool) -> go.Figure:
    return style_figure(go.Figure(), title, ytitle, pct, height=400)


def cum_excess_figure(runs: Sequence[RunSeries]) -> go.Figure | str:
    """Overlaid cumulative excess return (with cost, sum of daily returns) of the runs."""
    with_returns = [(r.name, r.returns) for r in runs if r.returns is not None]
    if not with_returns:
        return "No run has returns.parquet (signal-only runs): no excess curves."
    fig = _figure("Cumulative excess return, with cost (sum of daily returns)", "excess", True)
    for name, returns in with_returns:
        excess = np.nan_to_num(returns["excess"].to_numpy().astype(np.float64))
        fig.add_trace(
            go.Scatter(
                x=iso_dates(date_array(returns)), y=np.cumsum(excess), name=name, mode="lines"
            )
        )
    return fig


def cum_ic_figure(runs: Sequence[RunSeries]) -> go.Figure | str:
    """Overlaid cumulative daily IC of the runs (slope = mean IC)."""
    with_ic = [(r.name, r.daily) for r in runs if r.daily is not None]
    if not with_ic:
        return "No run has ic.parquet or predictions.parquet: no IC curves."
    fig = _figure("Cumulative daily IC (sum)", "cumulative IC", False)
    for name, daily in with_ic:
        cum = np.cumsum(np.nan_to_num(daily.ic))
        fig.add_trace(go.Scatter(x=iso_dates(daily.dates), y=cum, name=name, mode="lines"))
    return fig


def _cell(column: str, value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and value < 0:
        return f'<td class="neg">{format_metric(column, value)}</td>'
    if value is None:
        return "<td>—</td>"
    return f"<td>{format_metric(column, value)}</td>"


def table_html(frame: pl.DataFrame, table_id: str) -> str:
    """A polars frame as an HTML table with formatted metric cells ('overall' rows in bold)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.iter_rows(named=True):
        cls = ' class="overall"' if row.get("period") == "overall" else ""
        cells = "".join(
            f"<td>{html.escape(v)}</td>" if isinstance(v, str) else _cell(c, v)
            for c, v in row.items()
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table class="metrics" id="{table_id}"><thead><tr>{head}'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def render_compare(runs: Sequence[RunSeries]) -> str:
    """The self-contained HTML comparison page (plotly.js inlined once)."""
    table = comparison_table(runs)
    pairs = paired_ic_table(runs)
    sources = "".join(
        f"<li>{html.escape(r.name)}: {html.escape(str(r.run_dir.resolve()))} "
        f"(IC from {html.escape(r.daily.source if r.daily else 'metrics.json')})</li>"
        for r in runs
    )
    pair_note = (
        '<p class="note">diff = mean of daily (a - b) over the test days both runs score; '
        "SE = std(diff, ddof=1) / sqrt(n days); t = diff / SE.</p>"
    )
    pair_body = (
        table_html(pairs, "table-pairs")
        if pairs.height
        else '<div class="seqalpha-missing">Fewer than two runs have a daily IC series.</div>'
    )
    sections = [
        ("runs", "Runs", f"<ul>{sources}</ul>"),
        ("table", "Metrics by year and overall", table_html(table, "table-compare")),
        ("pairs", "Paired daily IC differences", pair_note + pair_body),
        ("curves", "Cumulative excess", chart_html("cum_excess", cum_excess_figure(runs))),
        ("ic", "Cumulative IC", chart_html("cum_ic", cum_ic_figure(runs))),
    ]
    names = html.escape(" vs ".join(r.name for r in runs))
    generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = f"<p>generated {generated}</p>"
    return html_page(f"seqalpha compare · {names}", header, sections, nav=False, css=_EXTRA_CSS)


def write_compare(run_dirs: Sequence[Path | str], out: Path | str) -> tuple[Path, list[RunSeries]]:
    """Load the runs and write the comparison page to `out` atomically; return it and the runs."""
    runs = load_runs(run_dirs)
    out = Path(out)
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: directory {out.parent} does not exist")
    write_text_atomic(out, render_compare(runs))
    return out, runs
