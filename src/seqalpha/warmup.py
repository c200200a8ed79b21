"""Compile every numba kernel once on tiny inputs, so that a first real run loads them from cache.

`python -m seqalpha.warmup` (run by `make setup`): the feature kernels (every rolling and
cross-sectional operator, through Alpha158, Alpha360 and the expression engine), the top-k and
weight backtests, the tradability path, and the cross-sectional and processor kernels, each on
the dtypes a run passes them. The kernels
are `cache=True`, so the machine code lands in `__pycache__` (or `$NUMBA_CACHE_DIR`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# Every operator that reaches a numba kernel, with float32 inputs (fields) and float64 inputs
# (a cross-sectional result), and the per-series (transposed) kernels.
_EXPRESSIONS = {
    "mean": "Mean($close, 5)",
    "sum": "Sum($volume, 5)",
    "std": "Std($close, 5)",
    "var": "Var($close, 5)",
    "skew": "Skew($close, 5)",
    "kurt": "Kurt($close, 5)",
    "max": "Max($high, 5)",
    "min": "Min($low, 5)",
    "idxmax": "IdxMax($high, 5)",
    "idxmin": "IdxMin($low, 5)",
    "quantile": "Quantile($close, 5, 0.8)",
    "med": "Med($close, 5)",
    "rank": "Rank($close, 5)",
    "mad": "Mad($close, 5)",
    "count": "Count($close, 5)",
    "wma": "WMA($close, 5)",
    "ema": "EMA($close, 5)",
    "ema_alpha": "EMA($close, 0.3)",
    "slope": "Slope($close, 5)",
    "rsquare": "Rsquare($close, 5)",
    "resi": "Resi($close, 5)",
    "corr": "Corr($close, Log($volume + 1), 5)",
    "cov": "Cov($close, $volume, 5)",
    "cs_rank": "CSRank($close)",
    "cs_neutralize": "CSNeutralize($close, $group)",
    "mean_f64": "Mean(CSRank($close), 5)",
    "std_f64": "Std(CSRank($close), 5)",
    "corr_f64": "Corr(CSRank($close), CSRank($volume), 5)",
    "slope_f64": "Slope(CSRank($close), 5)",
    "rank_f64": "Rank(CSRank($close), 5)",
    "skew_f64": "Skew(CSRank($close), 5)",
    "mad_f64": "Mad(CSRank($close), 5)",
    "wma_f64": "WMA(CSRank($close), 5)",
    "max_f64": "Max(CSRank($close), 5)",
    "ema_f64": "EMA(CSRank($close), 5)",
    "count_f64": "Count(CSRank($close), 5)",
}


def tiny_panel(n_days: int = 90, n_stocks: int = 12, seed: int = 0):
    """A random daily Panel (OHLCV, vwap, factor, change in percent, a group field, a benchmark)."""
    from seqalpha.data.panel import Panel

    rng = np.random.default_rng(seed)
    dates = np.datetime64("2020-01-01") + np.arange(n_days).astype("timedelta64[D]")
    codes = [f"SH6{i:05d}" for i in range(n_stocks - 1)] + ["SH000300"]
    ret = rng.normal(0.0, 0.02, size=(n_days, n_stocks))
    close = 10.0 * np.exp(np.cumsum(ret, axis=0))
    spread = np.abs(rng.normal(0.0, 0.01, size=close.shape))
    fields = {
        "close": close,
        "open": close * (1 + rng.normal(0.0, 0.005, size=close.shape)),
        "high": close * (1 + spread),
        "low": close * (1 - spread),
        "vwap": close * (1 + rng.normal(0.0, 0.002, size=close.shape)),
        "volume": rng.uniform(1e5, 1e6, size=close.shape),
        "factor": np.ones_like(close),
        "group": (np.arange(n_stocks)[None, :] % 3 + np.zeros((n_days, 1))),
    }
    fields["close"][5, 0] = np.nan  # a missing value, as real data has
    fields["volume"][6, 1] = 0.0  # a suspended day
    fields["change"] = np.vstack([np.full((1, n_stocks), np.nan), 100 * np.expm1(ret[1:])])
    fields = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in fields.items()}
    return Panel(dates, np.array(codes), fields)


def warm_features(panel) -> int:
    """Alpha158, Alpha360 and every kernel-backed operator; returns the number of features."""
    from seqalpha.features import compute_library, evaluate, evaluate_long

    n = 0
    for lib in ("alpha158", "alpha360"):
        n += len(compute_library(panel, lib).field_names)
    n += len(evaluate(panel, _EXPRESSIONS).field_names)
    evaluate_long(panel, {"mean": _EXPRESSIONS["mean"]})
    return n


def warm_backtest(panel) -> None:
    """The top-k dropout and weight backtests and the tradability path on the panel's market."""
    from seqalpha.backtest import BacktestConfig, Market, backtest_topk, backtest_weights
    from seqalpha.portfolio import TopkDropout, apply_tradability, score_weighted

    market = Market.from_panel(panel, benchmark="SH000300", limit_threshold=0.095)
    market = market.rows(1)  # as load_market returns it: a view from the second day
    rng = np.random.default_rng(1)
    scores = rng.normal(size=market.shape)
    cfg = BacktestConfig(account=1e8, buy_cost=0.0005, sell_cost=0.0015, min_cost=5.0)
    backtest_topk(scores, market, TopkDropout(topk=4, n_drop=1), cfg)
    weights = score_weighted(scores)
    backtest_weights(weights, market, cfg)
    apply_tradability(weights, market.can_buy, market.can_sell)
    TopkDropout(topk=4, n_drop=1).step(scores[0], np.zeros(market.shape[1], dtype=bool))


def _xsection_transforms() -> tuple[Callable[..., np.ndarray], ...]:
    """Every cross-sectional transform of `seqalpha.xsection` (x, mask) -> array."""
    from seqalpha import xsection as xs

    return (
        xs.rank_avg,
        xs.rank_pct,
        xs.rank_mid,
        xs.rank_centred,
        xs.rank_norm,
        xs.rank_gauss,
        xs.zscore,
        xs.demean,
        xs.robust_zscore,
        xs.winsorize_mad,
        xs.fill_median,
    )


def warm_xsection() -> None:
    """The cross-sectional kernels (`seqalpha.xsection`) and the processors' kernels, on float32
    and float64 panels, whole or as column blocks (the layouts processors and metrics pass)."""
    from seqalpha import xsection as xs
    from seqalpha.features.processors import ProcessorChain

    rng = np.random.default_rng(2)
    x64 = rng.normal(size=(20, 12, 3))
    x64[0, 0, 0] = np.nan
    mask = rng.random((20, 12)) < 0.9
    x32 = x64.astype(np.float32)
    fns = _xsection_transforms()
    for x in (x32, x32[:, :, 1:], x64, x64[:, :, 0]):
        for fn in fns:
            fn(x, mask)
    for name in ("robust_zscore", "zscore", "fillna", "cs_zscore", "cs_rank", "cs_rankgauss"):
        out = np.empty(x32.shape, dtype=np.float32)
        chain = ProcessorChain.from_config([{"name": name}])
        chain.fit_transform(x32[:, :, 1:], mask, mask, out=out[:, :, 1:])
        chain.fit_transform(x32, mask, mask, out=out)
    xs.daily_ic(x64[:, :, 1], x64[:, :, 2], mask)
    xs.daily_rank_ic(x64[:, :, 1], x64[:, :, 2], mask)


def warm_memory_orders() -> None:
    """The cross-sectional kernels and daily ICs on C- and Fortran-ordered [T, N] grids: grids
    built from long tables arrive in Fortran order, and numba compiles per array layout."""
    from seqalpha import xsection as xs

    rng = np.random.default_rng(3)
    fns = _xsection_transforms()
    for order in ("C", "F"):
        mask = np.asarray(rng.random((20, 12)) < 0.9, order=order)
        for dtype in (np.float32, np.float64):
            x = np.asarray(rng.normal(size=(20, 12)), dtype=dtype, order=order)
            y = np.asarray(rng.normal(size=(20, 12)), dtype=dtype, order=order)
            for fn in fns:
                fn(x, mask)
            xs.daily_ic(x, y, mask)
            xs.daily_rank_ic(x, y, mask)


def cached_kernels() -> dict[str, Any]:
    """Every `@njit(cache=True)` dispatcher of the package's kernel modules, by qualified name."""
    from seqalpha import xsection
    from seqalpha.backtest import engine as backtest_engine
    from seqalpha.features import ops, processors
    from seqalpha.portfolio import topk, weights

    out = {}
    for mod in (ops, backtest_engine, topk, weights, xsection, processors):
        for name, obj in vars(mod).items():
            stats = getattr(obj, "stats", None)
            if getattr(stats, "cache_path", None) is not None:
                out[f"{mod.__name__}.{name}"] = obj
    return out


def warmup() -> dict[str, float]:
    """Compile (or load from cache) every kernel; returns seconds per stage."""
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    panel = tiny_panel()
    warm_features(panel)
    times["features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm_backtest(panel)
    times["backtest"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm_xsection()
    warm_memory_orders()
    times["cross-section"] = time.perf_counter() - t0
    return times


def main() -> None:
    """Entry point of `python -m seqalpha.warmup`."""
    t0 = time.perf_counter()
    times = warmup()
    kernels = cached_kernels().values()
    compiled = sum(sum(k.stats.cache_misses.values()) for k in kernels)
    loaded = sum(sum(k.stats.cache_hits.values()) for k in kernels)
    parts = ", ".join(f"{k} {v:.1f}s" for k, v in times.items())
    print(
        f"seqalpha warmup: {compiled} kernel signatures compiled, {loaded} loaded from the cache, "
        f"{time.perf_counter() - t0:.1f}s ({parts})",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
