"""Parsing Qlib-syntax expressions: precedence, canonical form, errors, look-back windows."""

from __future__ import annotations

import pytest

from seqalpha.errors import ConfigError
from seqalpha.features import (
    Call,
    Const,
    Field,
    alpha158_expressions,
    alpha360_expressions,
    parse,
    required_lookback,
    required_window,
)


def test_parse_builds_canonical_tree() -> None:
    node = parse("Mean($close, 5) / $close")
    assert node == Call("Div", (Call("Mean", (Field("close"), Const(5))), Field("close")))
    assert str(node) == "Div(Mean($close,5),$close)"
    # spacing does not change the canonical form (the cache key)
    assert str(parse("Mean( $close ,5)/$close")) == str(node)


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("$a+$b*$c", "Add($a,Mul($b,$c))"),
        ("($a+$b)*$c", "Mul(Add($a,$b),$c)"),
        ("$a-$b-$c", "Sub(Sub($a,$b),$c)"),
        ("-$a*2", "Mul(Neg($a),2)"),
        ("Ref($close, -2)", "Ref($close,-2)"),
        ("$a>$b&$c", "Gt($a,And($b,$c))"),  # Python precedence: & binds tighter than >
        ("($a>$b)&($c<1)", "And(Gt($a,$b),Lt($c,1))"),
        ("$a|$b&$c", "Or($a,And($b,$c))"),
        ("$x+1e-12", "Add($x,1e-12)"),
        ("Quantile($close, 20, 0.8)", "Quantile($close,20,0.8)"),
        ("$a != 2.5", "Ne($a,2.5)"),
    ],
)
def test_operator_precedence_follows_python(text: str, canonical: str) -> None:
    assert str(parse(text)) == canonical


@pytest.mark.parametrize(
    "text, pos",
    [
        ("Mean($close, 5", 14),
        ("$close + * 2", 9),
        ("Mean $close", 5),
        ("$close # 2", 7),
        ("$a > $b > $c", 8),
        ("", 0),
    ],
)
def test_parse_errors_name_expression_and_position(text: str, pos: int) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text)
    msg = str(info.value)
    assert repr(text) in msg and f"position {pos}" in msg and "\n" not in msg


@pytest.mark.parametrize(
    "expr, window",
    [
        ("$close", (0, 0)),
        ("Mean($close, 5)/$close", (4, 0)),
        ("Ref(Mean($close, 5), 3)", (7, 0)),
        ("Mean($close>Ref($close, 1), 20)", (20, 0)),
        ("Corr($close/Ref($close,1), Log($volume/Ref($volume, 1)+1), 60)", (60, 0)),
        ("Ref($close, -2)/Ref($close, -1) - 1", (0, 2)),
        ("EMA($close, 0.5)", (18, 0)),
        # offsets compose through nesting (Qlib's extended window would say (2, 5) and (4, 3))
        ("Ref(Ref($close, 2), -5)", (0, 3)),
        ("Ref(Mean($close, 5), -3)", (1, 3)),
        ("Delta($close, -2)", (0, 2)),
        ("Mean(Ref($close, -3), 5)", (4, 3)),
    ],
)
def test_required_window_composes_offsets(expr: str, window: tuple) -> None:
    assert required_window(expr) == window
    assert required_lookback(expr) == window[0]


def test_libraries_have_qlib_names_in_order() -> None:
    a158, a360 = alpha158_expressions(), alpha360_expressions()
    assert len(a158) == 158 and len(a360) == 360
    assert list(a158)[:10] == [
        "KMID",
        "KLEN",
        "KMID2",
        "KUP",
        "KUP2",
        "KLOW",
        "KLOW2",
        "KSFT",
        "KSFT2",
        "OPEN0",
    ]
    assert list(a158)[-1] == "VSUMD60" and a158["RSV5"].startswith("($close-Min($low, 5))")
    assert list(a360)[:2] == ["CLOSE59", "CLOSE58"] and list(a360)[-1] == "VOLUME0"
    assert max(required_lookback(e) for e in a158.values()) == 60
    assert max(required_lookback(e) for e in a360.values()) == 59
    for e in list(a158.values()) + list(a360.values()):
        parse(e)
