"""seqalpha.labels: forward-return labels (multi-horizon, excess, normalized, rank,
risk-adjusted, classes). A label at date t reads prices from t+offset onwards only."""

from seqalpha.labels.classes import CLASS_PRESETS, class_edges, classify
from seqalpha.labels.returns import (
    excess,
    forward_bar_volatility,
    forward_return,
    risk_adjusted,
)
from seqalpha.labels.spec import LABEL_KINDS, LabelSpec, day_sumsq_on_panel, make_labels

__all__ = [
    "CLASS_PRESETS",
    "LABEL_KINDS",
    "LabelSpec",
    "class_edges",
    "classify",
    "day_sumsq_on_panel",
    "excess",
    "forward_bar_volatility",
    "forward_return",
    "make_labels",
    "risk_adjusted",
]
