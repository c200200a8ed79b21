"""Evaluate parsed expressions on a Panel, all instruments at once, sharing sub-expressions.

Values follow Qlib's per-instrument pandas semantics: element-wise arithmetic on float32
fields stays float32 as in Qlib, rolling operators compute in float64 (stored as float32),
comparisons give 0/1, and each instrument's series starts at its first row with any data
(rows before are NaN, as Qlib has no rows there). Rows after its last data are not blanked
(Qlib has none either, so parity is unaffected): whether an instrument ever trades again is
future information, so a row in a suspension looks the same whether or not the instrument
later resumes. Outputs are float32 `[T, N]`.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl

from seqalpha.data.panel import Panel
from seqalpha.errors import ConfigError, DataError, LeakageError
from seqalpha.features import ops
from seqalpha.features.expr import MAX_DEPTH, Call, Const, Field, Node, parse, show_expr

__all__ = [
    "MAX_WINDOW",
    "OPERATORS",
    "check_no_lookahead",
    "evaluate",
    "evaluate_long",
    "forward_reach",
    "required_lookback",
    "required_window",
    "series_span",
    "validate",
]

Value = np.ndarray | float | int


@dataclass(frozen=True)
class OpSpec:
    """Arity and argument kinds of an operator: 'e' expression, 'n' number, '*' more exprs."""

    args: str
    kind: str  # elem | ref | roll | pair | cs


OPERATORS: dict[str, OpSpec] = {
    **{k: OpSpec("e", "elem") for k in ("Abs", "Sign", "Log", "Neg", "Not")},
    **{
        k: OpSpec("ee", "elem")
        for k in (
            "Add",
            "Sub",
            "Mul",
            "Div",
            "Power",
            "Greater",
            "Less",
            "Gt",
            "Ge",
            "Lt",
            "Le",
            "Eq",
            "Ne",
            "And",
            "Or",
        )
    },
    "If": OpSpec("eee", "elem"),
    "Ref": OpSpec("en", "ref"),
    "Delta": OpSpec("en", "ref"),
    **{
        k: OpSpec("en", "roll")
        for k in (
            "Mean",
            "Sum",
            "Std",
            "Var",
            "Skew",
            "Kurt",
            "Max",
            "Min",
            "Med",
            "Mad",
            "Rank",
            "IdxMax",
            "IdxMin",
            "Count",
            "Slope",
            "Rsquare",
            "Resi",
            "WMA",
            "EMA",
        )
    },
    "Quantile": OpSpec("enn", "roll"),
    "Corr": OpSpec("een", "pair"),
    "Cov": OpSpec("een", "pair"),
    "CSRank": OpSpec("e", "cs"),
    "CSZScore": OpSpec("e", "cs"),
    "CSDemean": OpSpec("e", "cs"),
    "CSNeutralize": OpSpec("ee", "cs"),
    "CSResidual": OpSpec("ee*", "cs"),
}

_CMP = {
    "Gt": np.greater,
    "Ge": np.greater_equal,
    "Lt": np.less,
    "Le": np.less_equal,
    "Eq": np.equal,
    "Ne": np.not_equal,
}
_ARITH = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Div": np.divide,
    "Power": np.power,
    "Greater": np.maximum,
    "Less": np.minimum,
}


# ----------------------------------------------------------------------------- validation

MAX_WINDOW = 10_000  # rows; a longer window or shift is a typo, not a research choice
MAX_EXPOSURES = 32  # CSResidual's regressors: each one is a [T, N] float64 array in memory


def _num(a: Node) -> float | int:
    """The number of a numeric argument (validated by `validate`)."""
    if not isinstance(a, Const):
        raise ConfigError(f"argument {a} must be a number")
    return a.value


def _fields_of(node: Node, out: set[str]) -> set[str]:
    if isinstance(node, Field):
        out.add(node.name)
    elif isinstance(node, Call):
        for a in node.args:
            _fields_of(a, out)
    return out


def validate(node: Node, expr: str = "", fields: Iterable[str] | None = None) -> None:
    """Check depth, operators, arities and numeric arguments (ConfigError), field names (DataError).

    Windows are integers in [0, MAX_WINDOW] (0: expanding; EMA also takes an alpha in (0, 1)),
    shifts of Ref/Delta integers in [-MAX_WINDOW, MAX_WINDOW].
    """
    known = sorted(fields) if fields is not None else None
    where = f" in expression {show_expr(expr or node)}"
    if node.depth > MAX_DEPTH:
        raise ConfigError(f"operators nested deeper than {MAX_DEPTH} levels{where}")

    def walk(n: Node) -> None:
        if isinstance(n, Field):
            if known is not None and n.name not in known:
                raise DataError(
                    f"unknown field ${n.name}{where}; known fields: "
                    f"{', '.join('$' + k for k in known)}"
                )
            return
        if isinstance(n, Const):
            return
        if not isinstance(n, Call):
            raise ConfigError(f"not an expression node: {type(n).__name__}{where}")
        spec = OPERATORS.get(n.op)
        if spec is None:
            raise ConfigError(
                f"unknown operator {n.op!r}{where}; known operators: "
                f"{', '.join(sorted(k for k in OPERATORS if k != 'Neg'))}"
            )
        pattern = spec.args
        if pattern.endswith("*"):
            if len(n.args) < len(pattern) - 1:
                raise ConfigError(
                    f"{n.op} takes at least {len(pattern) - 1} arguments, got {len(n.args)}{where}"
                )
            if len(n.args) - 1 > MAX_EXPOSURES:
                raise ConfigError(
                    f"{n.op} takes at most {MAX_EXPOSURES} exposures, got {len(n.args) - 1}{where}"
                )
            pattern = pattern[:-1] + "e" * (len(n.args) - len(pattern) + 1)
        if len(n.args) != len(pattern):
            raise ConfigError(f"{n.op} takes {len(pattern)} arguments, got {len(n.args)}{where}")
        for a, k in zip(n.args, pattern, strict=True):
            if k == "n" and not isinstance(a, Const):
                raise ConfigError(f"{n.op}: argument {a} must be a number{where}")
        if spec.kind in ("roll", "pair"):
            win = _num(n.args[2 if spec.kind == "pair" else 1])
            ok = (isinstance(win, int) and 0 <= win <= MAX_WINDOW) or (
                n.op == "EMA" and isinstance(win, float) and 0 < win < 1
            )
            if ok and isinstance(win, float) and _roll_extent(win) > MAX_WINDOW:
                raise ConfigError(
                    f"EMA: alpha {win!r} is too small (its weights span more than "
                    f"{MAX_WINDOW} rows){where}"
                )
            if not ok:
                alpha = " (or an alpha in (0, 1))" if n.op == "EMA" else ""
                raise ConfigError(
                    f"{n.op}: window {win!r} must be an integer in [0, {MAX_WINDOW}]{alpha}{where}"
                )
            if (n.op == "Skew" and 0 < win < 3) or (n.op == "Kurt" and 0 < win < 4):
                raise ConfigError(f"{n.op}: window {win} is too short{where}")
        if spec.kind == "ref":
            shift_by = _num(n.args[1])
            if not isinstance(shift_by, int) or abs(shift_by) > MAX_WINDOW:
                raise ConfigError(
                    f"{n.op}: shift {shift_by!r} must be an integer in "
                    f"[-{MAX_WINDOW}, {MAX_WINDOW}]{where}"
                )
        if n.op == "Quantile" and not 0 <= _num(n.args[2]) <= 1:
            raise ConfigError(f"Quantile: q={_num(n.args[2])} must be in [0, 1]{where}")
        for a in n.args:
            walk(a)

    walk(node)


def required_window(expr: str | Node) -> tuple[int, int]:
    """(rows of history, rows of future) an expression reads around each output date.

    Offsets composed through nesting as the evaluator reads them: `Ref(Ref($close,2),-5)` reads
    only t+3, so (0, 3); `Mean(Ref($close,-3),5)` reads values t-1..t+3 and whether t-4 is in
    the instrument's series (a forward shift is blanked before it), so (4, 3). EMA with an alpha
    reads until the weight (1 - alpha)^k falls below 1e-6; expanding windows (N = 0) report only
    their argument's need. The listing mask counts at its own row (whether the series has
    started by then: all earlier rows, not counted as history); nothing reads whether an
    instrument trades again later.
    """
    node = _as_node(expr)
    validate(node, expr if isinstance(expr, str) else "")
    lo, hi = _span(node) or (0, 0)
    return max(-lo, 0), max(hi, 0)


def forward_reach(expr: str | Node) -> int:
    """Rows after its date an expression reads (0: none; `Ref($close,-2)` reads 2)."""
    return required_window(expr)[1]


def _as_node(expr: str | Node) -> Node:
    if isinstance(expr, str):
        return parse(expr)
    if not isinstance(expr, Node):
        raise ConfigError(f"expected an expression string or Node, got {type(expr).__name__}")
    return expr


def _roll_extent(w: int | float) -> int:
    """Extra rows of history a rolling window of `w` adds (EMA alpha: weights down to 1e-6)."""
    if isinstance(w, float):
        step = math.log1p(-w)  # 0 for an alpha too small to register (a subnormal): endless
        w = int(min(math.log(1e-6) / step, 2.0**62)) if step < 0 else 2**62
    return max(w - 1, 0)


# operators whose output is blanked before each instrument's series starts (`_Evaluator.mask`):
# they read whether the series has started at the output row itself; IdxMax/IdxMin/WMA start
# their window at the series start, so they read that over the whole window
_MASKED = frozenset({"Not", "Power", "Gt", "Ge", "Lt", "Le", "Eq", "Ne", "And", "Or", "If"})
_MASKED_ROLL = frozenset({"Count", "EMA"})
_FROM_START = frozenset({"IdxMax", "IdxMin", "WMA"})
_EXPR_ARGS = {"ref": 1, "roll": 1, "pair": 2}  # leading expression arguments; the rest numbers


def _union(spans: Iterable[tuple[int, int]]) -> tuple[int, int]:
    spans = list(spans)
    return min(s[0] for s in spans), max(s[1] for s in spans)


def _span(n: Node) -> tuple[int, int] | None:
    """Offsets [lo, hi] of the rows read at output row t (t+lo..t+hi), as the evaluator reads them.

    None for a constant read as a number; a constant the evaluator turns into a full (masked)
    array, like every masked result, reads the series' presence at t, so (0, 0) joins the span.
    """
    if isinstance(n, Field):
        return 0, 0
    if not isinstance(n, Call):
        return None
    spec = OPERATORS[n.op]
    if spec.kind == "elem":  # numbers broadcast; all-constant arguments become a full array
        lo, hi = _union([s for s in map(_span, n.args) if s is not None] or [(0, 0)])
        return (min(lo, 0), max(hi, 0)) if n.op in _MASKED else (lo, hi)
    args = n.args[: _EXPR_ARGS.get(spec.kind, len(n.args))]
    lo, hi = _union(_span(a) or (0, 0) for a in args)
    if spec.kind == "ref":  # Ref reads x at t-k; Delta reads x at t and at t-k
        k = int(_num(n.args[1]))  # validated: an integer
        span = (lo - k, hi - k) if n.op == "Ref" else (min(lo, lo - k), max(hi, hi - k))
        return _union([span, (0, 0)]) if k < 0 else span  # a forward shift is masked
    if spec.kind in ("roll", "pair"):
        w = _num(n.args[2 if spec.kind == "pair" else 1])
        span = (lo - _roll_extent(w), hi)
        if n.op in _MASKED_ROLL:
            return _union([span, (0, 0)])
        if n.op in _FROM_START:
            return _union([span, (-_roll_extent(w), 0)])
        return span
    return lo, hi


def required_lookback(expr: str | Node) -> int:
    """Days of history an expression needs before the first output date (0 = none).

    Expanding windows (N = 0) and EMA read all history; they report only their argument's need.
    """
    return required_window(expr)[0]


def check_no_lookahead(name: str, expr: str | Node, text: str = "") -> None:
    """LeakageError if feature `name` reads data after its date (only labels may look forward).

    `text`: the expression as written, for the message (default: `expr` itself).
    """
    ahead = forward_reach(expr)
    if ahead > 0:
        raise LeakageError(
            f"feature {name!r} = {show_expr(text or expr)} reads {ahead} day(s) after its date "
            f"(a negative Ref/Delta shift); only labels may look forward"
        )


# ----------------------------------------------------------------------------- evaluation


def series_span(panel: Panel, fields: Iterable[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """First and last row (int64 [N]) with any value in the given fields, per instrument."""
    T, N = panel.shape
    have = np.zeros((T, N), dtype=bool)
    for f in fields if fields is not None else panel.field_names:
        if f in panel:
            have |= ~np.isnan(panel[f])
    anyv = have.any(axis=0)
    first = np.where(anyv, have.argmax(axis=0), T).astype(np.int64)
    last = np.where(anyv, T - 1 - have[::-1].argmax(axis=0), -1).astype(np.int64)
    return first, last


class _Evaluator:
    """Evaluates nodes on `[T, N]` arrays; order-statistic kernels get the `[N, T]` transpose."""

    def __init__(self, panel: Panel, missing: str):
        self.panel = panel
        self.missing = missing
        T, N = panel.shape
        self.shape = (T, N)
        self.start, _ = series_span(panel)
        # before the first data only: the last data row would tell whether trading resumes
        self.outside = np.arange(T)[:, None] < self.start[None, :]
        self.any_outside = bool(self.outside.any())
        self.memo: dict[str, Value] = {}
        self.refs: Counter = Counter()

    # reference counts let shared sub-expressions be computed once and freed after last use
    def count_refs(self, roots: Iterable[Node]) -> None:
        seen: set[str] = set()
        self.sorted_groups: dict[tuple[str, str], list[Call]] = {}
        stack = list(roots)
        for r in roots:
            self.refs[str(r)] += 1
        while stack:
            n = stack.pop()
            key = str(n)
            if key in seen:
                continue
            seen.add(key)
            if isinstance(n, Call) and n.op in _SORTED_OPS:
                self.sorted_groups.setdefault(_sorted_key(n), []).append(n)
            for a in _children(n):
                self.refs[str(a)] += 1
                stack.append(a)

    def get(self, n: Node) -> Value:
        key = str(n)
        if key in self.memo:
            val = self.memo[key]
        else:
            val = self.compute(n)
            self.memo[key] = val
        self.refs[key] -= 1
        if self.refs[key] <= 0:
            self.memo.pop(key, None)
        return val

    def mask(self, arr: np.ndarray) -> np.ndarray:
        if self.any_outside:
            np.putmask(arr, self.outside, np.nan)
        return arr

    def full(self, value: float) -> np.ndarray:
        return self.mask(np.full(self.shape, value, dtype=np.float32))

    def compute(self, n: Node) -> Value:
        if isinstance(n, Const):
            return n.value
        if isinstance(n, Field):
            if n.name in self.panel:
                return self.panel[n.name]  # read-only use: results are always new arrays
            if self.missing == "nan":
                return np.full(self.shape, np.nan, dtype=np.float32)
            raise DataError(
                f"unknown field ${n.name}; the panel has "
                f"{', '.join('$' + f for f in self.panel.field_names)}"
            )
        assert isinstance(n, Call)
        spec = OPERATORS[n.op]
        with np.errstate(all="ignore"):
            if spec.kind == "elem":
                return self.elem(n)
            if spec.kind == "ref":
                return self.ref(n)
            if spec.kind == "roll":
                return self.roll(n)
            if spec.kind == "pair":
                return self.pair(n)
            return self.cross(n)

    def arr(self, n: Node, dtype=None) -> np.ndarray:
        v = self.get(n)
        if not isinstance(v, np.ndarray):
            v = self.full(float(v))
        return v if dtype is None else v.astype(dtype, copy=False)

    def elem(self, n: Call) -> Value:
        op = n.op
        args = [self.get(a) for a in n.args]
        if all(not isinstance(a, np.ndarray) for a in args):
            args[0] = self.full(float(args[0]))  # a constant expression becomes a full array
        if op == "Neg":
            return np.negative(args[0])
        if op == "Abs":
            return np.abs(args[0])
        if op == "Sign":
            return np.sign(np.asarray(args[0], dtype=np.float32))
        if op == "Log":
            return np.log(args[0])
        if op == "Not":
            return self.mask((np.asarray(args[0]) == 0).astype(np.float32))
        if op in _ARITH:
            res = _ARITH[op](args[0], args[1])
            return self.mask(res) if op == "Power" else res
        if op in _CMP:
            return self.mask(_CMP[op](args[0], args[1]).astype(np.float32))
        if op in ("And", "Or"):
            a, b = (np.asarray(x) != 0 for x in args)  # NaN counts as true, as in numpy
            res = (a & b) if op == "And" else (a | b)
            return self.mask(res.astype(np.float32))
        if op == "If":
            cond = np.asarray(args[0]) != 0
            res = np.where(cond, args[1], args[2])
            if res.dtype not in (np.float32, np.float64):
                res = res.astype(np.float64)
            return self.mask(res)
        raise DataError(f"operator {op} is not implemented")

    def ref(self, n: Call) -> np.ndarray:
        x = self.arr(n.args[0])
        k = int(_num(n.args[1]))
        out = shift(x, k)
        if k < 0:  # the future must not leak into rows before an instrument's series starts
            out = self.mask(out)
        if n.op == "Delta":
            return x - out
        return out

    def near_zero_std(self, n: Call, arg: Node, w) -> np.ndarray:
        """Qlib's guard for Corr and Rsquare: rolling std within 2e-5 of zero (NaN is not)."""
        return np.abs(self.arr(_std_node(arg, w))) <= 2e-5

    def roll(self, n: Call) -> np.ndarray:
        op = n.op
        x = self.arr(n.args[0])  # float32 or float64; kernels compute in float64
        w = _num(n.args[1])
        T = x.shape[0]
        if op == "EMA":
            alpha = w if isinstance(w, float) else 2.0 / (1.0 + (w if w > 0 else T))
            return self.mask(ops.ewm_mean(x, alpha))
        w = int(w) if w > 0 else max(T, 1)  # N = 0: expanding window
        if op in ("Mean", "Sum"):
            return ops.roll_sum(x, w, op == "Mean")
        if op in ("Std", "Var"):
            v = ops.roll_var(x, w, 1)
            return np.sqrt(v) if op == "Std" else v
        if op in ("Skew", "Kurt"):
            return _tr(ops.roll_moments(_tr(x), w, op == "Kurt"))
        if op in ("Max", "Min", "IdxMax", "IdxMin"):
            return ops.roll_extreme(x, w, self.start, op in ("Max", "IdxMax"), op.startswith("Idx"))
        if op in _SORTED_OPS:
            return self.sorted_stats(n, _tr(x), w)
        if op == "Mad":
            return _tr(ops.roll_mad(_tr(x), w))
        if op == "Count":
            return self.mask(ops.roll_count(x, w))
        if op == "WMA":
            return _tr(ops.roll_wma(_tr(x), w, self.start))
        if op in ("Slope", "Rsquare", "Resi"):
            res = ops.roll_regression(x, w, ("Slope", "Rsquare", "Resi").index(op))
            if op == "Rsquare":  # Qlib blanks R^2 where the window is (nearly) constant
                res[self.near_zero_std(n, n.args[0], n.args[1])] = np.nan
            return res
        raise DataError(f"operator {op} is not implemented")

    def sorted_stats(self, n: Call, x: np.ndarray, w: int) -> np.ndarray:
        """Quantile/Med/Rank from one sorted-window pass shared by all such nodes on (x, window)."""
        group = [
            m
            for m in self.sorted_groups.get(_sorted_key(n), [n])
            if str(m) == str(n) or (self.refs[str(m)] > 0 and str(m) not in self.memo)
        ]
        qs = np.array(
            [0.5 if m.op == "Med" else float(_num(m.args[2])) for m in group if m.op != "Rank"],
            dtype=np.float64,
        )
        rank = any(m.op == "Rank" for m in group)
        res = ops.roll_sorted(x, w, qs, rank)
        own = None
        qi = 0
        for m in group:
            if m.op == "Rank":
                arr = _tr(res[len(qs)])
            else:
                arr, qi = _tr(res[qi]), qi + 1
            if str(m) == str(n):
                own = arr
            else:
                self.memo[str(m)] = arr  # a sibling: consumed (and freed) by its own `get`
        if own is None:
            raise ConfigError(f"{n}: missing from its own sorted group")
        return own

    def pair(self, n: Call) -> np.ndarray:
        x = self.arr(n.args[0])
        y = self.arr(n.args[1])
        w = int(_num(n.args[2])) or max(x.shape[0], 1)
        res = ops.roll_cov_corr(x, y, w, n.op == "Corr")
        if n.op == "Corr":  # Qlib blanks Corr where either side is (nearly) constant
            res[
                self.near_zero_std(n, n.args[0], n.args[2])
                | self.near_zero_std(n, n.args[1], n.args[2])
            ] = np.nan
        return res

    def cross(self, n: Call) -> np.ndarray:
        x = self.arr(n.args[0], np.float64)
        member = self.panel.universe & ~np.isnan(x)
        if n.op == "CSRank":
            res = ops.cs_rank(x, member)
        elif n.op in ("CSZScore", "CSDemean"):
            xm = np.where(member, x, np.nan)
            cnt = member.sum(axis=1, keepdims=True)
            mean = np.nansum(xm, axis=1, keepdims=True) / np.maximum(cnt, 1)
            res = xm - mean
            if n.op == "CSZScore":
                res = res / np.sqrt(np.nansum(res * res, axis=1, keepdims=True) / (cnt - 1))
        elif n.op == "CSNeutralize":
            g = self.arr(n.args[1], np.float64)
            vals, inv = np.unique(np.where(np.isnan(g), np.inf, g), return_inverse=True)
            codes = inv.reshape(g.shape).astype(np.int64)
            codes[np.isnan(g)] = -1
            res = ops.cs_group_demean(x, member, codes, len(vals))
        elif n.op == "CSResidual":
            exps = [self.arr(a, np.float64) for a in n.args[1:]]
            res = _cs_residual(x, exps, member)
        else:
            raise DataError(f"operator {n.op} is not implemented")
        return res


def _tr(x: np.ndarray) -> np.ndarray:
    """Contiguous transpose: [T, N] <-> [N, T] for the per-series (order-statistic) kernels."""
    return np.ascontiguousarray(x.T)


_SORTED_OPS = frozenset({"Quantile", "Med", "Rank"})


def _sorted_key(n: Call) -> tuple[str, str]:
    return str(n.args[0]), str(n.args[1])


def _std_node(arg: Node, w) -> Call:
    return Call("Std", (arg, w if isinstance(w, Const) else Const(w)))


def _children(n: Node) -> list[Node]:
    """Arguments of a node plus the hidden nodes its evaluation reads (Qlib's std guards)."""
    if not isinstance(n, Call):
        return []
    kids = list(n.args)
    if n.op == "Rsquare":
        kids.append(_std_node(n.args[0], n.args[1]))
    elif n.op == "Corr":
        kids += [_std_node(n.args[0], n.args[2]), _std_node(n.args[1], n.args[2])]
    return kids


def shift(x: np.ndarray, k: int) -> np.ndarray:
    """[T, N] x shifted later by k rows (k < 0 reads the future), NaN-filled, same dtype."""
    if k == 0:
        return x
    out = np.empty_like(x)
    if k > 0:
        out[:k] = np.nan
        out[k:] = x[:-k]
    else:
        out[k:] = np.nan
        out[:k] = x[-k:]
    return out


def _cs_residual(y: np.ndarray, exps: list[np.ndarray], member: np.ndarray) -> np.ndarray:
    """Per-row OLS of y on [1, exposures] over members with all values; residuals elsewhere NaN."""
    ok = member.copy()
    for e in exps:
        ok &= ~np.isnan(e)
    X = np.stack([np.ones_like(y), *exps], axis=-1)  # [T, N, K]
    X = np.where(ok[..., None], X, 0.0)
    yy = np.where(ok, y, 0.0)
    xtx = np.einsum("tnk,tnl->tkl", X, X)
    xty = np.einsum("tnk,tn->tk", X, yy)
    beta = np.einsum("tkl,tl->tk", np.linalg.pinv(xtx), xty)
    res = yy - np.einsum("tnk,tk->tn", X, beta)
    return np.where(ok, res, np.nan)


def _prepare(
    panel: Panel, exprs: dict[str, str], missing: str, allow_forward: bool
) -> dict[str, Node]:
    if not isinstance(exprs, dict) or not exprs:
        raise ConfigError("exprs must be a non-empty dict of name -> expression")
    if missing not in ("error", "nan"):
        raise ConfigError(f"missing={missing!r}: expected 'error' or 'nan'")
    nodes = {}
    for name, text in exprs.items():
        node = parse(text)
        validate(node, text, None if missing == "nan" else panel.field_names)
        if not allow_forward:
            check_no_lookahead(name, node, text)
        nodes[name] = node
    if missing == "nan":
        absent = sorted(
            {f for nd in nodes.values() for f in _fields_of(nd, set())} - set(panel.field_names)
        )
        if absent:
            warnings.warn(
                f"fields {['$' + a for a in absent]} are not in the panel; "
                f"features using them are NaN",
                stacklevel=3,
            )
    return nodes


def _run(
    panel: Panel,
    nodes: dict[str, Node],
    missing: str,
    sink: Callable[[str, np.ndarray], None],
    progress: Callable[[int, int], None] | None,
) -> None:
    ev = _Evaluator(panel, missing)
    ev.count_refs(nodes.values())
    for i, (name, node) in enumerate(nodes.items()):
        # [T, N] float32 or float64; rows outside each series are already NaN (the sources of
        # non-NaN values there are masked)
        sink(name, ev.arr(node))
        if progress is not None:
            progress(i + 1, len(nodes))


def evaluate(
    panel: Panel,
    exprs: dict[str, str],
    missing: str = "error",
    progress: Callable[[int, int], None] | None = None,
    allow_forward: bool = False,
) -> Panel:
    """Evaluate `name -> expression` on a panel: one float32 [T, N] field per name.

    Same dates, instruments and universe as `panel`. missing='nan' turns absent fields into NaN.
    An expression reading rows after its date is a LeakageError unless allow_forward (labels).
    """
    nodes = _prepare(panel, exprs, missing, allow_forward)
    out: dict[str, np.ndarray] = {}

    def sink(name: str, arr: np.ndarray) -> None:
        out[name] = np.array(arr, dtype=np.float32)  # always a new array

    _run(panel, nodes, missing, sink, progress)
    return Panel(panel.dates, panel.instruments, out, panel.universe.copy())


def evaluate_into(
    panel: Panel,
    exprs: dict[str, str],
    sink: Callable[[str, np.ndarray], None],
    missing: str = "error",
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Evaluate `name -> expression` and hand each [T, N] result (float32 or float64, read-only)
    to `sink(name, arr)` as soon as it is computed (out-of-core writers: nothing is kept)."""
    _run(panel, _prepare(panel, exprs, missing, False), missing, sink, progress)


def uses_cross_section(expr: str | Node) -> bool:
    """Whether an expression has a cross-sectional operator (CSRank...): it reads other
    instruments, so it cannot be computed on a block of instruments."""

    def walk(n: Node) -> bool:
        if isinstance(n, Call):
            return OPERATORS[n.op].kind == "cs" or any(walk(c) for c in _children(n))
        return False

    return walk(_as_node(expr))


def evaluate_long(
    panel: Panel,
    exprs: dict[str, str],
    start=None,
    end=None,
    missing: str = "error",
    progress: Callable[[int, int], None] | None = None,
    allow_forward: bool = False,
) -> pl.DataFrame:
    """Evaluate and keep only universe rows with start <= date <= end, as a long table.

    Columns `datetime, instrument, <names>` (float32), rows ordered by date then instrument;
    memory stays at the output plus one [T, N] array per live sub-expression. allow_forward
    as in `evaluate`.
    """
    nodes = _prepare(panel, exprs, missing, allow_forward)
    reserved = sorted({"datetime", "instrument"} & set(nodes))
    if reserved:
        raise ConfigError(f"feature names {reserved} are the key columns of the long table")
    lo = 0 if start is None else int(np.searchsorted(panel.dates, np.datetime64(start, "D")))
    hi = (
        len(panel.dates)
        if end is None
        else int(np.searchsorted(panel.dates, np.datetime64(end, "D"), side="right"))
    )
    keep = np.zeros(panel.shape, dtype=bool)
    keep[lo:hi] = panel.universe[lo:hi]
    ti, ni = np.nonzero(keep)
    flat = ti.astype(np.int64) * panel.shape[1] + ni  # positions in [T, N]: gathers read in order
    cols: dict[str, np.ndarray | pl.Series] = {
        "datetime": pl.Series("datetime", panel.dates[ti]).cast(pl.Date),
        "instrument": pl.Series("instrument", panel.instruments).gather(ni),
    }

    def sink(name: str, arr: np.ndarray) -> None:
        cols[name] = np.take(arr.reshape(-1), flat).astype(np.float32, copy=False)

    _run(panel, nodes, missing, sink, progress)
    return pl.DataFrame(cols)


# ----------------------------------------------------------------------------- libraries


def _libraries() -> dict[str, Callable[[], dict[str, str]]]:
    from seqalpha.features.alpha158 import alpha158_expressions
    from seqalpha.features.alpha360 import alpha360_expressions

    return {"alpha158": alpha158_expressions, "alpha360": alpha360_expressions}


LIBRARIES = ("alpha158", "alpha360")


def library_expressions(name: str) -> dict[str, str]:
    """`name -> expression` of a factor library ('alpha158' or 'alpha360')."""
    libs = _libraries()
    if name not in libs:
        raise ConfigError(f"unknown feature library {name!r}; known: {sorted(libs)}")
    return libs[name]()


def compute_library(panel: Panel, name: str, exclude: Iterable[str] = ()) -> Panel:
    """A factor library on a panel (float32 [T, N] per feature); absent fields ($vwap) give NaN.

    `exclude`: feature names left out (those an extra expression replaces).
    """
    skip = set(exclude)
    exprs = {k: v for k, v in library_expressions(name).items() if k not in skip}
    return evaluate(panel, exprs, missing="nan")
