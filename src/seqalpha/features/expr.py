"""Qlib-syntax expressions parsed to a small AST, with bounded size and nesting.

Grammar (Python precedence, as Qlib evaluates its expressions with Python operators), lowest
binding first: comparisons (> < >= <= == !=, not chained), '|', '&', '+ -', '* /', unary '- +';
atoms are NUMBER, `$name`, `Name(expr, ...)` and `(expr)`. Limits: at most `MAX_EXPR_CHARS`
characters and `MAX_DEPTH` levels of nesting (parentheses, calls, unary signs, and chains of
infix operators, each of which nests the tree one level), so that no expression can exhaust the
stack; violations are one-line `ConfigError`s naming the expression.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import NoReturn

from seqalpha.errors import ConfigError

__all__ = [
    "BINARY_SYMBOLS",
    "MAX_DEPTH",
    "MAX_EXPR_CHARS",
    "Call",
    "Const",
    "Field",
    "Node",
    "parse",
    "show_expr",
]

MAX_EXPR_CHARS = 10_000
MAX_DEPTH = 64


class Node:
    """Base class of AST nodes; `str(node)` is the canonical form used as a cache key.

    `depth` is the number of operator levels below and including the node (0 for leaves).
    """

    __slots__ = ()
    depth = 0


@dataclass(frozen=True)
class Field(Node):
    """A raw panel field, written `$name`."""

    name: str

    def __str__(self) -> str:
        return f"${self.name}"


@dataclass(frozen=True)
class Const(Node):
    """A numeric literal (kept as int when written without a decimal point)."""

    value: float | int

    def __str__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True)
class Call(Node):
    """An operator applied to arguments, e.g. `Mean($close,5)` or `Add($a,$b)`."""

    op: str
    args: tuple[Node, ...]
    depth: int = field(init=False, compare=False, repr=False)
    _text: str | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # computed from the children at construction: no recursion, whatever the tree's size
        object.__setattr__(self, "depth", 1 + max((a.depth for a in self.args), default=0))

    def __str__(self) -> str:
        # an explicit stack rather than recursion (any tree prints, however deep); the text is
        # kept, as the evaluator uses it as the key of every sub-expression
        if self._text is None:
            parts: list[str] = []
            stack: list[Node | str] = [self]
            while stack:
                item = stack.pop()
                if isinstance(item, Call) and item._text is None:
                    stack.append(")")
                    for i, a in enumerate(reversed(item.args)):
                        stack += [a, ","] if i < len(item.args) - 1 else [a]
                    stack.append(f"{item.op}(")
                else:
                    parts.append(item if isinstance(item, str) else str(item))
            text = "".join(parts)
            object.__setattr__(self, "_text", text)
            return text
        return self._text


# infix symbol -> operator name (Qlib's class names)
BINARY_SYMBOLS = {
    "+": "Add",
    "-": "Sub",
    "*": "Mul",
    "/": "Div",
    ">": "Gt",
    "<": "Lt",
    ">=": "Ge",
    "<=": "Le",
    "==": "Eq",
    "!=": "Ne",
    "&": "And",
    "|": "Or",
}

_CMP_PREC = 1
_UNARY_PREC = 6
_PREC = {
    **dict.fromkeys((">", "<", ">=", "<=", "==", "!="), _CMP_PREC),
    "|": 2,
    "&": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
}
_MAX_DIGITS = 40

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<field>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>>=|<=|==|!=|[-+*/()<>,&|])
""",
    re.VERBOSE | re.ASCII,
)


def show_expr(text: object, limit: int = 120) -> str:
    """`repr` of an expression for a one-line message, shortened past `limit` characters."""
    s = str(text)
    return repr(s) if len(s) <= limit else repr(s[: limit - 20]) + f"... ({len(s)} characters)"


class _Parser:
    """Precedence climbing: one `expression` frame per nesting level, depth counted."""

    def __init__(self, text: str):
        self.text = text
        self.toks: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.lastgroup is None:  # every token pattern is a named group
                self.fail(f"unexpected character {text[pos]!r}", pos)
            kind = m.lastgroup
            if kind != "ws":
                self.toks.append((kind, m.group(), pos))
            pos = m.end()
        self.toks.append(("end", "", len(text)))
        self.i = 0
        self.nesting = -1  # the top-level expression is level 0

    def fail(self, msg: str, pos: int) -> NoReturn:
        raise ConfigError(
            f"cannot parse expression {show_expr(self.text)}: {msg} at position {pos}"
        )

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        kind, val, pos = self.take()
        if val != value or kind != "op":
            self.fail(f"expected {value!r} but found {val or 'end of expression'!r}", pos)

    def node(self, op: str, args: tuple[Node, ...], pos: int) -> Call:
        call = Call(op, args)
        if call.depth > MAX_DEPTH:
            self.fail(f"operators nested deeper than {MAX_DEPTH} levels", pos)
        return call

    def parse(self) -> Node:
        node = self.expression(0)
        kind, val, pos = self.peek()
        if kind != "end":
            self.fail(f"unexpected {val!r}", pos)
        return node

    def expression(self, min_prec: int) -> Node:
        """Operands joined by infix operators binding tighter than `min_prec` (left-assoc)."""
        pos = self.peek()[2]
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            self.fail(f"nested deeper than {MAX_DEPTH} levels", pos)
        left = self.prefix()
        while True:
            kind, val, pos = self.peek()
            prec = _PREC.get(val) if kind == "op" else None
            if prec is None or prec <= min_prec:
                break
            self.take()
            right = self.expression(prec)
            left = self.node(BINARY_SYMBOLS[val], (left, right), pos)
            if prec == _CMP_PREC:
                kind, val, pos = self.peek()
                if kind == "op" and _PREC.get(val) == _CMP_PREC:
                    self.fail("chained comparisons are not supported; add parentheses", pos)
        self.nesting -= 1
        return left

    def prefix(self) -> Node:
        kind, val, pos = self.take()
        if kind == "op" and val in ("-", "+"):
            inner = self.expression(_UNARY_PREC)
            if val == "+":
                return inner
            if isinstance(inner, Const):
                return Const(-inner.value)
            return self.node("Neg", (inner,), pos)
        if kind == "num":
            return self.number(val, pos)
        if kind == "field":
            return Field(val[1:])
        if kind == "name":
            _, nv, npos = self.peek()
            if nv != "(":
                self.fail(f"operator {val!r} must be followed by '('", npos)
            self.take()
            args = [self.expression(0)]
            while self.peek()[1] == ",":
                self.take()
                args.append(self.expression(0))
            self.expect(")")
            return self.node(val, tuple(args), pos)
        if val == "(":
            node = self.expression(0)
            self.expect(")")
            return node
        self.fail(f"unexpected {val or 'end of expression'!r}", pos)
        raise AssertionError  # unreachable

    def number(self, val: str, pos: int) -> Const:
        if len(val) > _MAX_DIGITS:
            self.fail(f"number {val[:20]}... has more than {_MAX_DIGITS} characters", pos)
        if re.fullmatch(r"\d+", val):
            return Const(int(val))
        num = float(val)
        if not math.isfinite(num):
            self.fail(f"number {val} is not finite", pos)
        return Const(num)


def parse(expr: str) -> Node:
    """Parse a Qlib-syntax expression (e.g. `Mean($close, 5)/$close`) into an AST.

    Bad syntax, more than MAX_EXPR_CHARS characters or MAX_DEPTH levels: a one-line ConfigError.
    """
    if not isinstance(expr, str):
        raise ConfigError(f"expression must be a string, got {type(expr).__name__} {expr!r:.80}")
    if not expr.strip():
        raise ConfigError(f"cannot parse expression {expr!r}: empty expression at position 0")
    if len(expr) > MAX_EXPR_CHARS:
        raise ConfigError(
            f"expression {show_expr(expr)} is longer than the {MAX_EXPR_CHARS} characters allowed"
        )
    return _Parser(expr).parse()
