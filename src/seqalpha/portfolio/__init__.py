"""Signals -> target weights: top-k dropout (a step used inside the backtest), quantile
long-short, score-weighted long-only, the optimizer, tradability filtering, and the registry
of strategies a config chooses by name (`STRATEGIES`)."""

from seqalpha.portfolio.registry import STRATEGIES, Strategy, get_strategy, register_strategy
from seqalpha.portfolio.topk import TopkDropout, topk_dropout_step
from seqalpha.portfolio.weights import apply_tradability, quantile_long_short, score_weighted

__all__ = [
    "STRATEGIES",
    "Strategy",
    "TopkDropout",
    "apply_tradability",
    "get_strategy",
    "quantile_long_short",
    "register_strategy",
    "score_weighted",
    "topk_dropout_step",
]
