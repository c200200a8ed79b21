"""seqalpha.features: Qlib-syntax expressions on panels, and the Alpha158/Alpha360 libraries."""

from __future__ import annotations

from seqalpha.features.alpha158 import alpha158_expressions
from seqalpha.features.alpha360 import alpha360_expressions
from seqalpha.features.engine import (
    LIBRARIES,
    OPERATORS,
    compute_library,
    evaluate,
    evaluate_long,
    library_expressions,
    required_lookback,
    required_window,
)
from seqalpha.features.expr import Call, Const, Field, Node, parse

__all__ = [
    "LIBRARIES",
    "OPERATORS",
    "Call",
    "Const",
    "Field",
    "Node",
    "alpha158_expressions",
    "alpha360_expressions",
    "compute_library",
    "evaluate",
    "evaluate_long",
    "library_expressions",
    "parse",
    "required_lookback",
    "required_window",
]
