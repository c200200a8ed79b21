"""Signals -> target weights: top-k dropout (a step used inside the backtest), quantile
long-short, score-weighted long-only, and tradability filtering."""

from seqalpha.portfolio._topk import TopkDropout, topk_dropout_step
from seqalpha.portfolio._weights import apply_tradability, quantile_long_short, score_weighted

__all__ = [
    "TopkDropout",
    "apply_tradability",
    "quantile_long_short",
    "score_weighted",
    "topk_dropout_step",
]
