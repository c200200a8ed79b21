"""Model combination: members' predictions -> one `Predictions` (after walk-forward, before
evaluation), with registered methods (`equal`, `rolling_ic`, `cluster`, `lasso`, `pca`,
`gauss_rank`) that read only labels realized by each date."""

from seqalpha.combine.core import (
    NORMALIZERS,
    Combination,
    align,
    combine,
    normalise,
    read_member_run,
    weighted_mean,
    write_combination,
)
from seqalpha.combine.methods import (
    METHODS,
    Members,
    Method,
    check_method,
    cluster_weights,
    realized_span,
    register_method,
)

__all__ = [
    "METHODS",
    "NORMALIZERS",
    "Combination",
    "Members",
    "Method",
    "align",
    "check_method",
    "cluster_weights",
    "combine",
    "normalise",
    "read_member_run",
    "realized_span",
    "register_method",
    "weighted_mean",
    "write_combination",
]
