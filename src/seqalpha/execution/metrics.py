"""Execution quality: price advantage (bps) against the arrival price and against TWAP, fill
rate, gain-loss ratio, and the backtest's execution cost per year."""

from __future__ import annotations

import numpy as np
import polars as pl

from seqalpha.execution.simulator import Fills


def advantage_bps(fills: Fills, reference: np.ndarray) -> np.ndarray:
    """side x (reference - average fill price) / reference in bps [M]: > 0 means bought cheaper
    (sold dearer) than the reference; NaN where nothing filled."""
    ref = np.asarray(reference, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return fills.orders.side * (ref - fills.avg_price) / ref * 1e4


def vs_arrival_bps(fills: Fills) -> np.ndarray:
    """Price advantage against the arrival price (the open of the start bar) [M]."""
    return advantage_bps(fills, fills.arrival)


def vs_benchmark_bps(fills: Fills, benchmark: Fills) -> np.ndarray:
    """Price advantage against another strategy's average fill price on the same orders [M]."""
    return advantage_bps(fills, benchmark.avg_price)


def gain_loss_ratio(pa: np.ndarray) -> float:
    """Mean gain over mean loss of a price-advantage sample: E[pa | pa > 0] / E[-pa | pa < 0]."""
    pa = pa[np.isfinite(pa)]
    gain, loss = pa[pa > 0], -pa[pa < 0]
    if not len(loss):
        return float("inf") if len(gain) else float("nan")
    return float(gain.mean() / loss.mean()) if len(gain) else 0.0


def summarize(name: str, fills: Fills, twap: Fills) -> dict[str, float | str]:
    """One table row: mean (and t-stat) of the advantage vs TWAP, vs arrival, fill rate, GLR."""
    pa = vs_benchmark_bps(fills, twap)
    ok = pa[np.isfinite(pa)]
    sd = float(ok.std(ddof=1)) if len(ok) > 1 else float("nan")
    mean = float(ok.mean()) if len(ok) else float("nan")
    return {
        "strategy": name,
        "orders": len(ok),
        "pa_vs_twap_bps": mean,
        "se": sd / np.sqrt(len(ok)) if len(ok) > 1 else float("nan"),
        "t": mean / (sd / np.sqrt(len(ok))) if len(ok) > 1 and sd > 0 else float("nan"),
        "pa_vs_arrival_bps": float(np.nanmean(vs_arrival_bps(fills))),
        "fill_rate": float(fills.fill_rate.mean()),
        "glr": gain_loss_ratio(pa),
    }


def cost_by_year(executions: pl.DataFrame) -> pl.DataFrame:
    """Execution cost per year from a backtest's execution table (one row per parent order with
    `datetime`, `value`, `filled`, `quantity`, `cost_vs_arrival_bps`, `cost_vs_close_bps`):
    value-weighted costs in bps (> 0 = paid), traded value and fill rate."""
    if executions.height == 0:
        return pl.DataFrame(
            schema={
                "year": pl.Int32,
                "orders": pl.UInt32,
                "value": pl.Float64,
                "cost_vs_arrival_bps": pl.Float64,
                "cost_vs_close_bps": pl.Float64,
                "fill_rate": pl.Float64,
            }
        )
    w = pl.col("value")
    return (
        executions.group_by(pl.col("datetime").dt.year().alias("year"))
        .agg(
            pl.len().alias("orders"),
            w.sum().alias("value"),
            ((pl.col("cost_vs_arrival_bps") * w).sum() / w.sum()).alias("cost_vs_arrival_bps"),
            ((pl.col("cost_vs_close_bps") * w).sum() / w.sum()).alias("cost_vs_close_bps"),
            (pl.col("filled").sum() / pl.col("quantity").sum()).alias("fill_rate"),
        )
        .sort("year")
    )
