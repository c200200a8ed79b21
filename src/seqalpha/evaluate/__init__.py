"""Signal evaluation on `[T, N]` arrays: IC family, quantile groups, decay, Numerai-style scores.

Pure numpy; ranks and daily ICs are those of `seqalpha.xsection`. A day with fewer than 2
valid names (mask True, score and label finite) or a constant score/label gives NaN and is
left out of every mean.
"""

from seqalpha.evaluate.groups import (
    cumulative_returns,
    feature_neutral_corr,
    forward_return,
    ic_decay,
    long_short,
    neutralize,
    numerai_corr,
    quantile_groups,
    quantile_returns,
    random_signal_test,
    top_group_turnover,
)
from seqalpha.evaluate.signal import (
    daily_ic,
    daily_rank_ic,
    signal_metrics,
    summarize_ic,
)

__all__ = [
    "cumulative_returns",
    "daily_ic",
    "daily_rank_ic",
    "feature_neutral_corr",
    "forward_return",
    "ic_decay",
    "long_short",
    "neutralize",
    "numerai_corr",
    "quantile_groups",
    "quantile_returns",
    "random_signal_test",
    "signal_metrics",
    "summarize_ic",
    "top_group_turnover",
]
