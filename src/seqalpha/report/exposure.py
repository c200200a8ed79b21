"""Industry exposure of the portfolio against its benchmark over time.

Industries are point in time (`seqalpha.data.reference.industry_and_size`, as `risk/` reads
them): the store's daily `industry` field (synthetic market) or Shenwan level-1 industries
from `cn_meta` (real CSI300; SW2014 names mapped onto SW2021). Benchmark weights are not in
the data: they are approximated by the market cap of the universe's point-in-time members
(`data.universe` of the run's config), which is what the charts say.

Weights here are shares of the invested book (the portfolio's weights divided by their sum
each day), so industry shares of portfolio and benchmark both sum to 1 and active = p - b.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl

from seqalpha.data.panel import Panel, as_dates
from seqalpha.data.qlib_bin import QlibStore, list_feature_codes, universe_mask
from seqalpha.data.reference import INDUSTRY_FILE, industry_and_size, industry_names
from seqalpha.errors import DataError
from seqalpha.report.figures import style_figure
from seqalpha.report.signal import monthly_mean

UNKNOWN = "unknown"


@dataclass
class IndustryData:
    """Industries and approximate benchmark weights on a (date x instrument) grid.

    codes: int [T, N] (-1 unknown) indexing `names`; bench_weights: float [T, N] (rows sum to 1
    over members with a known cap, NaN rows when none); note: where the numbers come from.
    """

    dates: np.ndarray
    instruments: np.ndarray
    codes: np.ndarray
    names: list[str]
    bench_weights: np.ndarray
    note: str


def weights_grid(positions: pl.DataFrame, dates: np.ndarray, instruments: np.ndarray) -> np.ndarray:
    """Long positions (`datetime, instrument, weight`) -> weights float [T, N] (0 where absent)."""
    dates, inst = as_dates(dates), np.asarray(instruments).astype(str)
    out = np.zeros((len(dates), len(inst)))
    if positions.height == 0:
        return out
    d = positions["datetime"].to_numpy().astype("datetime64[D]")
    codes = positions["instrument"].to_numpy().astype(str)
    ti = np.searchsorted(dates, d)
    order = np.argsort(inst)
    ji = order[np.minimum(np.searchsorted(inst[order], codes), len(inst) - 1)]
    ok = (ti < len(dates)) & (dates[np.minimum(ti, len(dates) - 1)] == d) & (inst[ji] == codes)
    if not ok.all():
        raise DataError(
            f"positions: {int((~ok).sum())} rows outside the grid, e.g. "
            f"{codes[~ok][:1].tolist()} on {d[~ok][:1].tolist()}"
        )
    np.add.at(out, (ti, ji), positions["weight"].to_numpy().astype(np.float64))
    return out


def cap_weights(cap: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Market-cap weights of the members [T, N]: cap / sum of members' caps per day (0 off the
    membership or without a positive cap; a day without any is NaN)."""
    c = np.where(members & np.isfinite(cap) & (cap > 0), cap, 0.0).astype(np.float64)
    tot = c.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, c / tot, np.nan)


def industry_weights(weights: np.ndarray, codes: np.ndarray, n_industries: int) -> np.ndarray:
    """Sum of weights by industry per day: [T, N] x codes int [T, N] -> [T, K + 1], the last
    column holding names of unknown industry (code < 0). NaN weights count as 0."""
    w = np.nan_to_num(np.asarray(weights, dtype=np.float64))
    c = np.asarray(codes)
    if w.shape != c.shape:
        raise DataError(f"industry codes: shape {c.shape} != weights shape {w.shape}")
    if c.size and c.max() >= n_industries:
        raise DataError(f"industry codes: code {int(c.max())} >= {n_industries} industries")
    col = np.where(c >= 0, c, n_industries)
    out = np.zeros((w.shape[0], n_industries + 1))
    np.add.at(out, (np.repeat(np.arange(w.shape[0]), w.shape[1]), col.ravel()), w.ravel())
    return out


def book_shares(weights: np.ndarray) -> np.ndarray:
    """Weights [T, N] as shares of each day's invested book (sum |w|); NaN rows when empty."""
    w = np.nan_to_num(np.asarray(weights, dtype=np.float64))
    tot = np.abs(w).sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, w / tot, np.nan)


def _data_section(config: dict[str, Any] | None) -> tuple[Path, str]:
    data = (config or {}).get("data")
    if not isinstance(data, dict) or not data.get("dir"):
        raise DataError("config.yaml: no data.dir, so industries cannot be looked up")
    return Path(str(data["dir"])), str(data.get("universe") or "all")


def load_industry_data(
    config: dict[str, Any] | None, dates: np.ndarray, held: Sequence[str]
) -> IndustryData:
    """Industries and cap-weighted benchmark of the run's universe on `dates`, for the universe's
    names plus the `held` ones (from `config`'s `data.dir` and `data.universe`)."""
    data_dir, universe = _data_section(config)
    store = QlibStore(data_dir)
    codes, spells = store.resolve_universe(universe)
    have = set(list_feature_codes(data_dir))
    inst = np.array(sorted((set(codes) | {str(c).upper() for c in held}) & have))
    if inst.size == 0:
        raise DataError(f"{data_dir}: no instrument of universe {universe!r} has data")
    dates = as_dates(dates)
    members = universe_mask(spells, dates, inst)
    panel = Panel(dates, inst, universe=members)
    ind, cap = industry_and_size(data_dir, panel, taxonomy="sw2021")
    meta = data_dir.resolve().parent / "cn_meta"
    if (
        "industry" not in store.fields_of_all(inst[:5].tolist())
        and (meta / INDUSTRY_FILE).is_file()
    ):
        names = industry_names(meta, "l1", "sw2021")
        source = f"Shenwan level-1 (SW2021 names) from {meta.name}/{INDUSTRY_FILE}"
    else:
        known = ind[ind >= 0]
        names = [f"industry {k}" for k in range(int(known.max()) + 1 if known.size else 0)]
        source = "the store's daily 'industry' field"
    note = (
        f"Industries: {source}, point in time. Benchmark weights approximated by the market cap "
        f"of the '{universe}' members on each day (total, not free-float, cap: not the index's "
        "published weights; names with large non-float holdings, e.g. banks, weigh more)."
    )
    return IndustryData(dates, inst, ind, names, cap_weights(cap, members), note)


def exposure_tables(
    positions: pl.DataFrame, data: IndustryData
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(portfolio industry shares [T, K'], benchmark industry weights [T, K'], names [K']) on the
    data's days; the `unknown` column is kept only when it holds weight."""
    w = book_shares(weights_grid(positions, data.dates, data.instruments))
    k = len(data.names)
    port = industry_weights(w, data.codes, k)
    port[np.isnan(w).all(axis=1)] = np.nan
    bench = industry_weights(data.bench_weights, data.codes, k)
    bench[np.isnan(data.bench_weights).all(axis=1)] = np.nan
    names = [*data.names, UNKNOWN]
    used = (np.nan_to_num(np.abs(port)).sum(axis=0) + np.nan_to_num(bench).sum(axis=0)) > 0
    keep = np.flatnonzero(used)
    return port[:, keep], bench[:, keep], [names[i] for i in keep]


def mean_exposure_figure(
    port: np.ndarray, bench: np.ndarray, names: list[str], note: str
) -> go.Figure:
    """Mean industry share of the portfolio beside the benchmark's, over the days held."""
    held = ~np.isnan(port).all(axis=1) & ~np.isnan(bench).all(axis=1)
    p, b = port[held].mean(axis=0), bench[held].mean(axis=0)
    order = np.argsort(-b)
    fig = go.Figure()
    fig.add_trace(go.Bar(x=[names[i] for i in order], y=p[order], name="portfolio"))
    fig.add_trace(
        go.Bar(x=[names[i] for i in order], y=b[order], name="benchmark (cap-weighted approx.)")
    )
    style_figure(fig, "Mean industry weight: portfolio vs benchmark", "share of book", True)
    fig.update_layout(barmode="group", hovermode="closest")
    lines = textwrap.wrap(note, 150)
    fig.add_annotation(
        text="<br>".join(lines),
        xref="paper",
        yref="paper",
        x=0,
        y=0,
        yshift=-60,
        yanchor="top",
        xanchor="left",
        showarrow=False,
        font={"size": 10},
        align="left",
    )
    fig.update_layout(margin={"b": 80 + 14 * len(lines)}, height=380 + 14 * len(lines))
    return fig


def active_exposure_figure(
    dates: np.ndarray, port: np.ndarray, bench: np.ndarray, names: list[str]
) -> go.Figure:
    """Monthly mean active industry weight (portfolio - benchmark) as an industry x month map."""
    active = port - bench
    months, rows = [], []
    for j in range(active.shape[1]):
        years, grid = monthly_mean(as_dates(dates), active[:, j])
        ym = [(y, m) for y in years for m in range(12)]
        flat = grid.ravel()
        keep = np.isfinite(flat)
        months = [f"{y}-{m + 1:02d}" for (y, m), k in zip(ym, keep, strict=True) if k]
        rows.append(flat[keep])
    z = np.array(rows) if rows else np.zeros((0, 0))
    lim = float(np.nanmax(np.abs(z))) if z.size and np.isfinite(z).any() else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=months,
            y=names,
            colorscale="RdBu",
            zmid=0.0,
            zmin=-lim,
            zmax=lim,
            colorbar={"title": "active", "tickformat": ".0%"},
            hovertemplate="%{y} %{x}: %{z:.2%}<extra></extra>",
        )
    )
    fig = style_figure(
        fig, "Active industry weight by month (portfolio - cap-weighted benchmark)", "", False
    )
    fig.update_layout(height=max(320, 80 + 22 * len(names)), hovermode="closest")
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_xaxes(type="category")
    return fig
