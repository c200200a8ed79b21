"""Daily backtest with A-share rules (price limits, suspensions, 100-share lots, T+1, costs)
and Qlib-style performance metrics."""

from seqalpha.backtest.market import Market
from seqalpha.backtest.metrics import performance_table, risk_analysis
from seqalpha.backtest.run import (
    BacktestConfig,
    BacktestResult,
    backtest_topk,
    backtest_weights,
    load_market,
    scores_to_grid,
    weights_returns,
)

__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "Market",
    "backtest_topk",
    "backtest_weights",
    "load_market",
    "performance_table",
    "risk_analysis",
    "scores_to_grid",
    "weights_returns",
]
