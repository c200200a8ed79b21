"""seqalpha.features: Qlib-syntax expressions on panels, and the Alpha158/Alpha360 libraries."""

from __future__ import annotations

from seqalpha.features.alpha158 import alpha158_expressions
from seqalpha.features.alpha360 import alpha360_expressions
from seqalpha.features.engine import (
    LIBRARIES,
    MAX_WINDOW,
    OPERATORS,
    check_no_lookahead,
    compute_library,
    evaluate,
    evaluate_long,
    forward_reach,
    library_expressions,
    required_lookback,
    required_window,
)
from seqalpha.features.expr import MAX_DEPTH, MAX_EXPR_CHARS, Call, Const, Field, Node, parse
from seqalpha.features.specs import FEATURE_NAME, check_feature_specs, library_feature_names

__all__ = [
    "FEATURE_NAME",
    "LIBRARIES",
    "MAX_DEPTH",
    "MAX_EXPR_CHARS",
    "MAX_WINDOW",
    "OPERATORS",
    "Call",
    "Const",
    "Field",
    "Node",
    "alpha158_expressions",
    "alpha360_expressions",
    "check_feature_specs",
    "check_no_lookahead",
    "compute_library",
    "evaluate",
    "evaluate_long",
    "forward_reach",
    "library_expressions",
    "library_feature_names",
    "parse",
    "required_lookback",
    "required_window",
]
