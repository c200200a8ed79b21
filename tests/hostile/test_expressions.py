"""Hostile expressions: nesting, length, numbers and window arguments give one-line ConfigErrors
naming the expression, never a RecursionError, a hang or another exception."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.data.panel import Panel
from seqalpha.errors import ConfigError, DataError
from seqalpha.features import (
    MAX_DEPTH,
    MAX_EXPR_CHARS,
    OPERATORS,
    Call,
    Field,
    Node,
    evaluate,
    parse,
    required_window,
)


def one_line_config_error(expr) -> str:
    """The message of the ConfigError that parsing and checking `expr` raises (one line)."""
    with pytest.raises(ConfigError) as info:
        required_window(expr)
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 400, msg
    return msg


# ----------------------------------------------------------------------------- nesting and size


def test_5000_nested_parentheses() -> None:
    msg = one_line_config_error("(" * 5000 + "$close" + ")" * 5000)
    assert "longer than the 10000 characters" in msg  # 10006 characters


def test_4000_nested_parentheses_within_the_length_limit() -> None:
    msg = one_line_config_error("(" * 4000 + "$close" + ")" * 4000)
    assert f"nested deeper than {MAX_DEPTH} levels" in msg and "'((((" in msg


def test_nested_calls() -> None:
    msg = one_line_config_error("Abs(" * 1500 + "$close" + ")" * 1500)
    assert f"nested deeper than {MAX_DEPTH} levels" in msg and "'Abs(Abs(" in msg


def test_nesting_limit_is_exact() -> None:
    at = "Abs(" * MAX_DEPTH + "$close" + ")" * MAX_DEPTH
    assert parse(at).depth == MAX_DEPTH and required_window(at) == (0, 0)
    one_line_config_error("Abs(" + at + ")")
    assert parse("(" * MAX_DEPTH + "$close" + ")" * MAX_DEPTH) == Field("close")
    one_line_config_error("(" * (MAX_DEPTH + 1) + "$close" + ")" * (MAX_DEPTH + 1))


def test_long_unary_chain() -> None:
    assert "nested deeper" in one_line_config_error("-" * 5000 + "$close")


def test_long_infix_chain_nests_the_tree() -> None:
    # a left-deep Add chain: each term is one more level for the evaluator
    msg = one_line_config_error("+".join(["$close"] * 1000))
    assert f"operators nested deeper than {MAX_DEPTH} levels" in msg
    assert parse("+".join(["$close"] * MAX_DEPTH)).depth == MAX_DEPTH - 1


def test_too_long_expression_is_named_but_shortened() -> None:
    expr = "$close+" * 1500 + "1"
    msg = one_line_config_error(expr)
    assert f"is longer than the {MAX_EXPR_CHARS} characters allowed" in msg
    assert "'$close+$close+" in msg and f"({len(expr)} characters)" in msg


def test_length_limit_is_inclusive() -> None:
    assert parse("$close" + " " * (MAX_EXPR_CHARS - 6)) == Field("close")


def test_a_deep_tree_built_in_code_is_refused() -> None:
    node: Node = Field("close")
    for _ in range(3000):
        node = Call("Abs", (node,))
    assert node.depth == 3000  # computed at construction, without recursion
    assert "operators nested deeper" in one_line_config_error(node)
    assert str(node).startswith("Abs(Abs(") and str(node).endswith("$close" + ")" * 3000)


def test_evaluate_refuses_a_deep_expression_before_computing() -> None:
    p = Panel(
        np.arange("2022-01-03", 5, dtype="datetime64[D]")[:5],
        np.array(["S0"]),
        {"close": np.ones((5, 1), np.float32)},
    )
    with pytest.raises(ConfigError, match="nested deeper"):
        evaluate(p, {"x": "Abs(" * 100 + "$close" + ")" * 100})


# ----------------------------------------------------------------------------- numbers and windows


@pytest.mark.parametrize(
    "expr, message",
    [
        ("Ref($close, 1.5)", "Ref: shift 1.5 must be an integer in [-10000, 10000]"),
        ("Ref($close, 20000)", "Ref: shift 20000 must be an integer"),
        ("Ref($close, -20000)", "Ref: shift -20000 must be an integer"),
        ("Delta($close, 0.5)", "Delta: shift 0.5 must be an integer"),
        ("Ref($close, $open)", "Ref: argument $open must be a number"),
        ("Mean($close, 2.5)", "Mean: window 2.5 must be an integer in [0, 10000]"),
        ("Mean($close, -5)", "Mean: window -5 must be an integer"),
        ("Std($close, 100000)", "Std: window 100000 must be an integer"),
        ("Corr($close, $volume, -3)", "Corr: window -3 must be an integer"),
        ("Quantile($close, 5, 1.5)", "Quantile: q=1.5 must be in [0, 1]"),
        ("Skew($close, 2)", "Skew: window 2 is too short"),
        ("EMA($close, 1.5)", "EMA: window 1.5 must be an integer in [0, 10000] (or an alpha"),
        ("EMA($close, 1e-9)", "EMA: alpha 1e-09 is too small"),
        ("EMA($close, 2.225073858507e-311)", "EMA: alpha 2.225073858507e-311 is too small"),
        ("Mean($close, 1e999)", "number 1e999 is not finite"),
        ("Ref($close, " + "9" * 60 + ")", "has more than 40 characters"),
        ("Mean($close)", "Mean takes 2 arguments, got 1"),
        ("CSResidual($close)", "CSResidual takes at least 2 arguments, got 1"),
        ("Foo($close)", "unknown operator 'Foo'"),
    ],
)
def test_bad_arguments_are_one_line_errors_naming_the_expression(expr: str, message: str) -> None:
    msg = one_line_config_error(expr)
    assert message in msg and repr(expr)[:60].rstrip("'") in msg


def test_meaningful_extremes_are_accepted() -> None:
    assert required_window("Ref($close, 10000)") == (10000, 0)
    assert required_window("Mean($close, 0)") == (0, 0)  # expanding
    assert required_window("EMA($close, 0.01)") == (1373, 0)  # 0.99^1374 < 1e-6


@pytest.mark.parametrize("value", [None, 5, b"$close", ["$close"]])
def test_non_string_expression(value) -> None:
    with pytest.raises(ConfigError, match="expression must be a string"):
        parse(value)


def test_features_command_exits_2_on_a_hostile_expression(tmp_path: Path) -> None:
    out = tmp_path / "f.parquet"
    expr = "X=" + "Abs(" * 1000 + "$close" + ")" * 1000
    res = CliRunner().invoke(app, ["features", str(tmp_path), "--expr", expr, "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "nested deeper than 64 levels" in " ".join(res.output.split())
    assert not out.exists()


# ----------------------------------------------------------------------------- properties

_TOKENS = [
    "$close",
    "$volume",
    "Mean",
    "Ref",
    "Abs",
    "CSRank",
    "Quantile",
    "EMA",
    "(",
    ")",
    ",",
    "+",
    "-",
    "*",
    "/",
    ">",
    ">=",
    "==",
    "&",
    "|",
    " ",
    "5",
    "-3",
    "0.5",
    "1e9",
    "1e999",
    "$",
    "#",
    ".",
]


def _parsed_or_config_error(text: str) -> None:
    """Parse and check `text`: a result, or a one-line ConfigError; anything else fails."""
    try:
        node = parse(text)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(node, Node)
    try:
        back, ahead = required_window(node)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert 0 <= back and 0 <= ahead


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_random_strings_parse_or_fail_cleanly(text: str) -> None:
    _parsed_or_config_error(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=80).map("".join))
def test_random_token_soup_parses_or_fails_cleanly(text: str) -> None:
    _parsed_or_config_error(text)


_NUMBERS = st.one_of(
    st.integers(-30000, 30000).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
_OPS = st.sampled_from(["Mean", "Ref", "Delta", "EMA", "Quantile", "Corr", "Abs", "Add", "Skew"])


def _nest(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    args = st.lists(st.one_of(children, _NUMBERS), min_size=0, max_size=3).map(", ".join)
    return st.one_of(
        st.builds(lambda op, a: f"{op}({a})", _OPS, args),
        st.builds(lambda x: f"({x})", children),
        st.builds(lambda x: f"-{x}", children),
        st.builds(lambda x, o, y: f"{x}{o}{y}", children, st.sampled_from("+-*/<>&|"), children),
    )


@settings(max_examples=400, deadline=None)
@given(st.recursive(st.sampled_from(["$close", "$open", "2"]), _nest, max_leaves=80))
def test_random_nested_expressions_parse_or_fail_cleanly(text: str) -> None:
    _parsed_or_config_error(text)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 3000), st.sampled_from(["(", "Abs(", "-", "Mean(", "CSRank("]))
def test_deep_prefixes_never_raise_recursion_error(depth: int, opener: str) -> None:
    closer = {"(": ")", "-": ""}.get(opener, ")")
    if opener == "Mean(":
        closer = ", 5)"
    _parsed_or_config_error(opener * depth + "$close" + closer * depth)


# evaluation end to end: any operator, any arguments, on a small panel with gaps
_ANY_OP = st.sampled_from(sorted(OPERATORS))
_ARG_NUMBERS = st.one_of(
    st.integers(-12, 12).map(str), st.sampled_from(["0", "0.5", "0.001", "1.5", "-0.5", "1e30"])
)


def _calls(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    args = st.lists(st.one_of(children, _ARG_NUMBERS), min_size=1, max_size=4).map(", ".join)
    return st.builds(lambda op, a: f"{op}({a})", _ANY_OP, args)


@pytest.fixture(scope="module")
def gappy() -> Panel:
    rng = np.random.default_rng(2)
    T, N = 14, 3
    fields = {k: rng.normal(0, 1, (T, N)).astype(np.float32) for k in ("a", "b")}
    fields["a"][:4, 0] = np.nan  # listed late
    fields["b"][6:9, 1] = np.nan  # a gap in one field
    fields["a"][:, 2] = fields["b"][:, 2] = np.nan  # never trades
    dates = np.arange("2022-01-03", T, dtype="datetime64[D]")[:T]
    return Panel(dates, np.array(["S0", "S1", "S2"]), fields)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(expr=st.recursive(st.sampled_from(["$a", "$b", "1", "$c"]), _calls, max_leaves=6))
def test_random_operator_trees_evaluate_or_fail_cleanly(gappy: Panel, expr: str) -> None:
    try:
        out = evaluate(gappy, {"x": expr}, allow_forward=True)
    except (ConfigError, DataError) as exc:
        assert "\n" not in str(exc)
        return
    assert out["x"].shape == gappy.shape and out["x"].dtype == np.float32
