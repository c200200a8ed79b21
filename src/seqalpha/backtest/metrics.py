"""Performance metrics of daily excess returns, per year and overall, the way Qlib reports them.

Qlib's conventions (kept so that figures compare): annualized return = 238 x mean daily return
(summed, not compounded); information ratio = mean / std (ddof=1) x sqrt(238); max drawdown =
min of (cumulative sum - its running max), a negative number.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from seqalpha.errors import DataError

ANN = 238
REQUIRED = ("datetime", "excess", "excess_nc", "turnover")


def risk_analysis(r: np.ndarray, ann: int = ANN) -> dict[str, float]:
    """mean, std, annualized_return, information_ratio, max_drawdown of a daily series `[T]`.

    NaN are dropped.
    """
    r = np.asarray(r, dtype=np.float64)
    r = r[np.isfinite(r)]
    if len(r) == 0:
        nan = float("nan")
        return {
            "mean": nan,
            "std": nan,
            "annualized_return": nan,
            "information_ratio": nan,
            "max_drawdown": nan,
        }
    mean = float(r.mean())
    std = float(r.std(ddof=1)) if len(r) > 1 else float("nan")
    cum = np.cumsum(r)
    mdd = float(np.min(cum - np.maximum.accumulate(cum)))
    return {
        "mean": mean,
        "std": std,
        "annualized_return": mean * ann,
        "information_ratio": mean / std * np.sqrt(ann)
        if std and np.isfinite(std) and std > 0
        else float("nan"),
        "max_drawdown": mdd,
    }


def _block(
    ex: np.ndarray, ex_nc: np.ndarray, tov: np.ndarray, bench: np.ndarray | None, ann: int
) -> dict[str, float]:
    a, b = risk_analysis(ex, ann), risk_analysis(ex_nc, ann)
    out = {
        "AlphaRtn": a["annualized_return"],
        "AlphaRtnNC": b["annualized_return"],
        "AlphaSharpe": a["information_ratio"],
        "AlphaSharpeNC": b["information_ratio"],
        "AlphaDrawdown": -a["max_drawdown"],
        "AlphaDrawdownNC": -b["max_drawdown"],
        "TOV": float(np.nanmean(tov)) if len(tov) else float("nan"),
        "annualized_return": a["annualized_return"],
        "information_ratio": a["information_ratio"],
        "max_drawdown": a["max_drawdown"],
        "annualized_return_nc": b["annualized_return"],
        "information_ratio_nc": b["information_ratio"],
        "max_drawdown_nc": b["max_drawdown"],
        "days": len(ex),
    }
    if bench is not None:
        out["BenchRtn"] = risk_analysis(bench, ann)["annualized_return"]
    return out


def performance_table(returns: pl.DataFrame, ann: int = ANN) -> dict:
    """`{"by_year": {year: metrics}, "overall": metrics}` from a returns frame with columns
    datetime, excess, excess_nc, turnover (and benchmark).

    Metrics: AlphaRtn/NC (annualized excess, with/without cost), AlphaSharpe/NC (IR),
    AlphaDrawdown/NC (max drawdown of cumulative excess, as a positive magnitude), TOV (mean daily
    turnover), plus Qlib's names annualized_return, information_ratio, max_drawdown (negative).
    """
    missing = [c for c in REQUIRED if c not in returns.columns]
    if missing:
        raise DataError(
            f"performance_table: returns lack columns {missing}; it has {returns.columns}"
        )
    d = returns["datetime"].cast(pl.Date).to_numpy().astype("datetime64[D]")
    years = d.astype("datetime64[Y]").astype(int) + 1970
    ex = returns["excess"].to_numpy().astype(np.float64)
    ex_nc = returns["excess_nc"].to_numpy().astype(np.float64)
    tov = returns["turnover"].to_numpy().astype(np.float64)
    bench = (
        returns["benchmark"].to_numpy().astype(np.float64)
        if "benchmark" in returns.columns
        else None
    )
    by_year = {}
    for y in np.unique(years):
        s = years == y
        by_year[int(y)] = _block(ex[s], ex_nc[s], tov[s], None if bench is None else bench[s], ann)
    return {"by_year": by_year, "overall": _block(ex, ex_nc, tov, bench, ann)}
