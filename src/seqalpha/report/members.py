"""Members vs ensemble: when a run combines models, each member's signal beside the combination.

A combining run directory holds `members/<name>/predictions.parquet` (each member's test
predictions, the run's long layout) and `combine_weights.parquet` (`date, member, weight`:
the combination's weight of each member over time); the run's own `predictions.parquet` is
the combination. Every row of the table is measured on the combination's test days.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl

from seqalpha import evaluate
from seqalpha.errors import DataError
from seqalpha.report.figures import style_figure
from seqalpha.report.rundir import PREDICTION_COLUMNS, check_frame, read_frame
from seqalpha.report.signal import predictions_to_grid

MEMBERS_DIR = "members"
WEIGHTS_FILE = "combine_weights.parquet"
COMBINATION = "combination"
TABLE_COLUMNS = ("IC", "ICIR", "Rank IC", "Rank ICIR", "turnover", "days")
# the portfolio columns, from metrics.json (the pipeline backtests each member; see
# `pipeline.backtest_members`): excess return with cost and its IR, overall
PORTFOLIO_COLUMNS = ("AlphaRtn", "AlphaSharpe")


def member_paths(run_dir: Path | str) -> dict[str, Path]:
    """Member name -> its predictions file, for every `members/<name>/predictions.parquet`."""
    root = Path(run_dir) / MEMBERS_DIR
    if not root.is_dir():
        return {}
    return {
        p.name: p / "predictions.parquet"
        for p in sorted(root.iterdir())
        if (p / "predictions.parquet").is_file()
    }


def signal_row(preds: pl.DataFrame, source: Path | str) -> dict[str, float]:
    """IC, ICIR, Rank IC, Rank ICIR, mean daily top-quintile turnover and day count of one
    prediction table (`datetime, instrument, score, label`)."""
    _, score, label = predictions_to_grid(preds, source)
    m = evaluate.signal_metrics(score, label)
    tov = evaluate.top_group_turnover(score, np.isfinite(score))
    return {
        "IC": m["ic"],
        "ICIR": m["icir"],
        "Rank IC": m["rank_ic"],
        "Rank ICIR": m["rank_icir"],
        "turnover": float(np.nanmean(tov)) if np.isfinite(tov).any() else float("nan"),
        "days": float(m["n_days"]),
    }


def portfolio_rows(metrics: dict | None) -> dict[str, dict[str, float]]:
    """name -> {AlphaRtn, AlphaSharpe} of each member and of the combination, from a run's
    metrics.json (`ensemble.members.<name>` and `overall`); empty when it has none."""
    if not metrics or not isinstance(metrics.get("ensemble"), dict):
        return {}
    out: dict[str, dict[str, float]] = {}
    sources = {**metrics["ensemble"].get("members", {}), COMBINATION: metrics.get("overall", {})}
    for name, row in sources.items():
        if isinstance(row, dict) and row.get("AlphaRtn") is not None:
            sharpe = row.get("AlphaSharpe")
            out[name] = {
                "AlphaRtn": float(row["AlphaRtn"]),
                "AlphaSharpe": float("nan") if sharpe is None else float(sharpe),
            }
    return out


def member_table(
    run_dir: Path | str, combined: pl.DataFrame, metrics: dict | None = None
) -> pl.DataFrame:
    """One row per member and a last `combination` row: columns `name` + TABLE_COLUMNS, each
    member restricted to the days of the combination's predictions; plus PORTFOLIO_COLUMNS
    when the run's `metrics` carry the member backtests."""
    run_dir = Path(run_dir)
    days = combined.select(pl.col("datetime").unique())
    rows = []
    for name, path in member_paths(run_dir).items():
        preds = read_frame(path, PREDICTION_COLUMNS).join(days, on="datetime", how="semi")
        if preds.height == 0:
            raise DataError(f"{path}: no prediction on the combination's test days")
        rows.append({"name": name, **signal_row(preds, path)})
    rows.append({"name": COMBINATION, **signal_row(combined, run_dir / "predictions.parquet")})
    columns: tuple[str, ...] = TABLE_COLUMNS
    portfolio = portfolio_rows(metrics)
    if portfolio:
        columns = (*TABLE_COLUMNS[:-1], *PORTFOLIO_COLUMNS, TABLE_COLUMNS[-1])
        nan = dict.fromkeys(PORTFOLIO_COLUMNS, float("nan"))
        rows = [{**r, **nan, **portfolio.get(str(r["name"]), {})} for r in rows]
    schema = {"name": pl.Utf8, **dict.fromkeys(columns, pl.Float64)}
    return pl.DataFrame([{c: r[c] for c in schema} for r in rows], schema=schema)


def read_weights(run_dir: Path | str) -> pl.DataFrame | None:
    """`combine_weights.parquet` as `datetime, member, weight` (sorted), or None when absent."""
    path = Path(run_dir) / WEIGHTS_FILE
    if not path.is_file():
        return None
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # pyarrow/polars raise many kinds on a corrupt file
        raise DataError(f"{path}: cannot read parquet: {exc}") from exc
    if "date" in frame.columns and "datetime" not in frame.columns:
        frame = frame.rename({"date": "datetime"})
    missing = [c for c in ("datetime", "member", "weight") if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; has {frame.columns}")
    # the member name rides in the `instrument` slot: dates parsed, weight checked numeric
    frame = frame.select("datetime", pl.col("member").cast(pl.Utf8).alias("instrument"), "weight")
    checked = check_frame(frame, ("datetime",), path).rename({"instrument": "member"})
    return checked.sort("datetime", "member")


def weights_figure(weights: pl.DataFrame) -> go.Figure:
    """Each member's combination weight over time (one line per member)."""
    fig = go.Figure()
    for name in weights["member"].unique(maintain_order=True).to_list():
        part = weights.filter(pl.col("member") == name)
        x = np.datetime_as_string(part["datetime"].to_numpy().astype("datetime64[D]"), unit="D")
        fig.add_trace(go.Scatter(x=list(x), y=part["weight"], name=name, mode="lines"))
    return style_figure(fig, "Combination weight of each member", "weight", False)
