"""Qlib-syntax expressions parsed to a small AST.

Grammar (Python precedence, as Qlib evaluates its expressions with Python operators):
    expr    := or_expr (CMP or_expr)?          CMP in > < >= <= == !=
    or_expr := and_expr ('|' and_expr)*
    and_expr:= sum ('&' sum)*
    sum     := term (('+'|'-') term)*
    term    := unary (('*'|'/') unary)*
    unary   := '-' unary | '+' unary | atom
    atom    := NUMBER | '$'NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from seqalpha.errors import DataError

__all__ = ["BINARY_SYMBOLS", "Call", "Const", "Field", "Node", "parse"]


class Node:
    """Base class of AST nodes; `str(node)` is the canonical form used as a cache key."""

    __slots__ = ()


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

    def __str__(self) -> str:
        return f"{self.op}({','.join(str(a) for a in self.args)})"


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

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<field>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>>=|<=|==|!=|[-+*/()<>,&|])
""",
    re.VERBOSE,
)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                self.fail(f"unexpected character {text[pos]!r}", pos)
            kind = m.lastgroup
            if kind != "ws":
                self.toks.append((kind, m.group(), pos))
            pos = m.end()
        self.toks.append(("end", "", len(text)))
        self.i = 0

    def fail(self, msg: str, pos: int) -> None:
        raise DataError(
            f"cannot parse expression {self.text!r}: {msg} at position {pos}\n"
            f"  {self.text}\n  {' ' * pos}^"
        )

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        kind, val, pos = self.take()
        if val != value or kind not in ("op",):
            self.fail(f"expected {value!r} but found {val or 'end of expression'!r}", pos)

    def parse(self) -> Node:
        node = self.expr()
        kind, val, pos = self.peek()
        if kind != "end":
            self.fail(f"unexpected {val!r}", pos)
        return node

    def expr(self) -> Node:
        left = self.or_expr()
        kind, val, _ = self.peek()
        if kind == "op" and val in (">", "<", ">=", "<=", "==", "!="):
            self.take()
            right = self.or_expr()
            left = Call(BINARY_SYMBOLS[val], (left, right))
            kind, val, pos = self.peek()
            if kind == "op" and val in (">", "<", ">=", "<=", "==", "!="):
                self.fail("chained comparisons are not supported; add parentheses", pos)
        return left

    def _binary(self, sub, symbols: tuple[str, ...]) -> Node:
        left = sub()
        while True:
            kind, val, _ = self.peek()
            if kind == "op" and val in symbols:
                self.take()
                left = Call(BINARY_SYMBOLS[val], (left, sub()))
            else:
                return left

    def or_expr(self) -> Node:
        return self._binary(self.and_expr, ("|",))

    def and_expr(self) -> Node:
        return self._binary(self.sum, ("&",))

    def sum(self) -> Node:
        return self._binary(self.term, ("+", "-"))

    def term(self) -> Node:
        return self._binary(self.unary, ("*", "/"))

    def unary(self) -> Node:
        kind, val, _ = self.peek()
        if kind == "op" and val in ("-", "+"):
            self.take()
            inner = self.unary()
            if val == "+":
                return inner
            if isinstance(inner, Const):
                return Const(-inner.value)
            return Call("Neg", (inner,))
        return self.atom()

    def atom(self) -> Node:
        kind, val, pos = self.take()
        if kind == "num":
            is_int = re.fullmatch(r"\d+", val) is not None
            return Const(int(val) if is_int else float(val))
        if kind == "field":
            return Field(val[1:])
        if kind == "name":
            _, nv, npos = self.peek()
            if nv != "(":
                self.fail(f"operator {val!r} must be followed by '('", npos)
            self.take()
            args = [self.expr()]
            while self.peek()[1] == ",":
                self.take()
                args.append(self.expr())
            self.expect(")")
            return Call(val, tuple(args))
        if val == "(":
            node = self.expr()
            self.expect(")")
            return node
        self.fail(f"unexpected {val or 'end of expression'!r}", pos)
        raise AssertionError  # unreachable


def parse(expr: str) -> Node:
    """Parse a Qlib-syntax expression (e.g. `Mean($close, 5)/$close`) into an AST."""
    if not isinstance(expr, str) or not expr.strip():
        raise DataError(f"cannot parse expression {expr!r}: empty expression at position 0")
    return _Parser(expr).parse()
