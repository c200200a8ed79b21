"""The report's benchmark-relative section: metrics.json's `active` table (per year and overall)
of an `index_enhance` run: forecast vs realized tracking error, active return, IR, industry and
style active exposures."""

from __future__ import annotations

import html
import math
from typing import Any

# (key, header, format: "%" or decimals) in the table's column order; style_* columns follow
COLUMNS = [
    ("te_forecast", "TE forecast", "%"),
    ("te_realized", "TE realized (targets)", "%"),
    ("te_backtest", "TE realized (backtest)", "%"),
    ("te_backtest_index", "TE vs index (backtest)", "%"),
    ("active_return", "active return (targets)", "%"),
    ("active_return_backtest", "active return (backtest)", "%"),
    ("ir", "IR (targets)", ".2f"),
    ("ir_backtest", "IR (backtest)", ".2f"),
    ("industry_active", "industry active weight", "%"),
    ("benchmark_vs_index", "tracked benchmark vs index (return)", "%"),
    ("benchmark_te_index", "tracked benchmark vs index (TE)", "%"),
]
NOTE = (
    '<p class="note">Against the benchmark the strategy tracks (point-in-time market-cap weights '
    "of the index members). <b>targets</b>: the decided weights held without friction from the "
    "day after they are traded; <b>backtest</b>: the backtest's daily returns after lots, "
    "limits and costs; <b>TE vs index</b>: the backtest against the data's benchmark index; "
    "<b>tracked benchmark vs index</b>: how far the cap-weighted proxy itself is from that index. "
    "TE forecast: mean over decision days of sqrt(252 a'Va). TE, active return and IR are "
    "annualized with 252 days (the by-year table uses 238). Industry active weight: one-sided "
    "sum of |industry weight - benchmark's|; style columns: active exposure in z-score units "
    "(means over decision days).</p>"
)


def _cell(value: Any, fmt: str) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "<td>—</td>"
    text = f"{value * 100:.2f}%" if fmt == "%" else f"{value:{fmt}}"
    neg = ' class="neg"' if text.startswith("-") else ""
    return f"<td{neg}>{text}</td>"


def active_table_html(active: dict[str, dict[str, Any]]) -> str:
    """The per-year table (rows: years, then overall) of metrics.json's `active` section."""
    keys = {k for row in active.values() for k in row}
    cols = [(k, h, fmt) for k, h, fmt in COLUMNS if k in keys]
    cols += [(k, f"style {k[6:]}", ".3f") for k in sorted(keys) if k.startswith("style_")]
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in cols)
    order = sorted((y for y in active if y != "overall"), key=str)
    rows = []
    for year in [*order, *(["overall"] if "overall" in active else [])]:
        cells = "".join(_cell(active[year].get(k), fmt) for k, _, fmt in cols)
        cls = ' class="overall"' if year == "overall" else ""
        rows.append(f"<tr{cls}><td>{html.escape(str(year))}</td>{cells}</tr>")
    return (
        f'{NOTE}<div class="table-wrap"><table class="metrics" data-table="active">'
        f"<thead><tr><th>year</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def active_section(metrics: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """[(id, heading, html)] of the section when metrics.json has an `active` table, else []."""
    active = (metrics or {}).get("active")
    if not isinstance(active, dict) or not active:
        return []
    return [("active", "Tracking error and active exposures", active_table_html(active))]
