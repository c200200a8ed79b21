"""Shift canaries: perturbing every field after t0 changes no Alpha158/Alpha360 feature at <= t0."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from seqalpha.data.panel import Panel
from seqalpha.errors import LeakageError
from seqalpha.features import alpha158_expressions, alpha360_expressions, evaluate
from seqalpha.features.alpha158 import ALPHA158_LABEL


def _market(seed: int = 3, T: int = 90, N: int = 6) -> Panel:
    rng = np.random.default_rng(seed)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.01, (T, N)))
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    volume = rng.integers(0, 100, (T, N)).astype(float) * 100
    fields = {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "vwap": (open_ + close) / 2,
    }
    fields = {k: v.astype(np.float32) for k, v in fields.items()}
    for v in fields.values():
        v[:15, 4] = np.nan  # listed late
        v[40:44, 2] = np.nan  # suspended
    return Panel(
        np.arange("2021-01-01", T, dtype="datetime64[D]")[:T],
        np.array([f"S{i}" for i in range(N)]),
        fields,
    )


def _perturb(p: Panel, t0: int, how: str, seed: int = 11) -> Panel:
    rng = np.random.default_rng(seed)
    fields = {}
    for k, v in p.fields.items():
        v = v.copy()
        if how == "scale":
            v[t0 + 1 :] *= rng.uniform(0.5, 2.0, v[t0 + 1 :].shape).astype(np.float32)
        else:
            v[t0 + 1 :] = np.nan
        fields[k] = v
    return Panel(p.dates, p.instruments, fields, p.universe)


@pytest.mark.parametrize("how", ["scale", "nan"])
@pytest.mark.parametrize("t0", [30, 70])
def test_no_feature_reads_after_t(how: str, t0: int) -> None:
    base = _market()
    exprs = {**alpha158_expressions(), **alpha360_expressions(), **ALPHA158_LABEL}
    a = evaluate(base, exprs, allow_forward=True)  # the label is the canary below
    b = evaluate(_perturb(base, t0, how), exprs, allow_forward=True)
    leaked = [
        n
        for n in exprs
        if n != "LABEL0" and not np.array_equal(a[n][: t0 + 1], b[n][: t0 + 1], equal_nan=True)
    ]
    assert not leaked, f"features changed at dates <= t0 by data after t0: {leaked}"
    # the canary is alive: the label reads t+1, t+2 and must change
    assert not np.array_equal(a["LABEL0"][: t0 + 1], b["LABEL0"][: t0 + 1], equal_nan=True)


def test_canary_catches_a_leaky_expression() -> None:
    base = _market()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        leak = {"leak": "Mean(Ref($close, -1), 5)"}
        a = evaluate(base, leak, allow_forward=True)
        b = evaluate(_perturb(base, 30, "scale"), leak, allow_forward=True)
    assert not np.array_equal(a["leak"][:31], b["leak"][:31], equal_nan=True)


def test_leaky_expression_is_refused_as_a_feature() -> None:
    with pytest.raises(LeakageError, match=r"'leak' = 'Mean\(Ref\(\$close, -1\), 5\)' reads 1 day"):
        evaluate(_market(), {"leak": "Mean(Ref($close, -1), 5)"})
