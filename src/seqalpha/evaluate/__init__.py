"""Signal evaluation on `[T, N]` arrays: IC family, quantile groups, decay, Numerai-style scores.

Pure numpy/scipy. A day with fewer than 2 valid names (mask True, score and label finite) or a
constant score/label gives NaN and is left out of every mean.
"""

from seqalpha.evaluate._groups import (
    cumulative_returns,
    feature_neutral_corr,
    forward_return,
    gaussianize,
    ic_decay,
    long_short,
    neutralize,
    numerai_corr,
    quantile_groups,
    quantile_returns,
    random_signal_test,
    tie_kept_rank,
    top_group_turnover,
)
from seqalpha.evaluate._signal import (
    cs_rank,
    daily_ic,
    daily_rank_ic,
    row_pearson,
    signal_metrics,
    summarize_ic,
)

__all__ = [
    "cs_rank",
    "cumulative_returns",
    "daily_ic",
    "daily_rank_ic",
    "feature_neutral_corr",
    "forward_return",
    "gaussianize",
    "ic_decay",
    "long_short",
    "neutralize",
    "numerai_corr",
    "quantile_groups",
    "quantile_returns",
    "random_signal_test",
    "row_pearson",
    "signal_metrics",
    "summarize_ic",
    "tie_kept_rank",
    "top_group_turnover",
]
