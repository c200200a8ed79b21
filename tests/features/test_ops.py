"""Operators against a slow, obviously-correct reference: Qlib's definitions run per instrument
with pandas on each instrument's own series (from its first row with data), plus hand-computed
cross-sectional cases and the shared-sub-expression cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqalpha.data.panel import Panel
from seqalpha.errors import ConfigError, DataError
from seqalpha.features import evaluate, evaluate_long
from seqalpha.features import ops as ops_mod


@pytest.fixture(scope="module")
def panel() -> Panel:
    """60 days x 5 instruments: random walks, NaN gaps, a late listing, zero volume, ties."""
    rng = np.random.default_rng(7)
    T, N = 60, 5
    close = (10 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))).astype(np.float32)
    close[:, 3] = np.round(close[:, 3], 1)  # many ties
    close[20:24, 1] = np.nan  # a suspension with missing prices
    close[:12, 2] = np.nan  # listed on day 12
    volume = rng.integers(0, 5, (T, N)).astype(np.float32) * 1000
    volume[:12, 2] = np.nan
    high = close * 1.01
    low = close * 0.99
    return Panel(
        np.arange("2020-01-01", T, dtype="datetime64[D]")[:T],
        np.array([f"S{i}" for i in range(N)]),
        {"close": close, "volume": volume, "high": high, "low": low},
    )


def _series(panel: Panel, field: str, j: int) -> pd.Series:
    """An instrument's own series as Qlib loads it: from its first to its last row with data."""
    have = np.zeros(panel.shape[0], dtype=bool)
    for f in panel.field_names:
        have |= ~np.isnan(panel[f][:, j])
    rows = np.nonzero(have)[0]
    return pd.Series(panel[field][rows[0] : rows[-1] + 1, j], index=rows)


def _mad(x):
    x1 = x[~np.isnan(x)]
    return np.mean(np.abs(x1 - x1.mean()))


def _wma(x):
    w = np.arange(len(x)) + 1
    w = w / w.sum()
    return np.nanmean(w * x)


def _slope(y, w):
    """Qlib's rolling slope on positions 1..w of the window's slots (NaN skipped)."""
    out = np.full(len(y), np.nan)
    yy = np.concatenate([np.full(w - 1, np.nan), y])
    for t in range(len(y)):
        win = yy[t : t + w]
        p = np.arange(1, w + 1)[~np.isnan(win)]
        v = win[~np.isnan(win)]
        if len(v) >= 2:
            out[t] = np.polyfit(p, v, 1)[0]
    return out


REFERENCE = {
    "Mean($close, 5)": lambda s: s.rolling(5, min_periods=1).mean(),
    "Sum($volume, 4)": lambda s: s.rolling(4, min_periods=1).sum(),
    "Std($close, 5)": lambda s: s.rolling(5, min_periods=1).std(),
    "Var($close, 6)": lambda s: s.rolling(6, min_periods=1).var(),
    "Skew($close, 7)": lambda s: s.rolling(7, min_periods=1).skew(),
    "Kurt($close, 8)": lambda s: s.rolling(8, min_periods=1).kurt(),
    "Max($close, 5)": lambda s: s.rolling(5, min_periods=1).max(),
    "Min($close, 5)": lambda s: s.rolling(5, min_periods=1).min(),
    "Med($close, 6)": lambda s: s.rolling(6, min_periods=1).median(),
    "Quantile($close, 7, 0.8)": lambda s: s.rolling(7, min_periods=1).quantile(0.8),
    "Rank($close, 6)": lambda s: s.rolling(6, min_periods=1).rank(pct=True),
    "Count($close, 5)": lambda s: s.rolling(5, min_periods=1).count(),
    "Mad($close, 5)": lambda s: s.rolling(5, min_periods=1).apply(_mad, raw=True),
    "WMA($close, 5)": lambda s: s.rolling(5, min_periods=1).apply(_wma, raw=True),
    "IdxMax($close, 6)": lambda s: s.rolling(6, min_periods=1).apply(
        lambda x: x.argmax() + 1, raw=True
    ),
    "IdxMin($close, 6)": lambda s: s.rolling(6, min_periods=1).apply(
        lambda x: x.argmin() + 1, raw=True
    ),
    "EMA($close, 5)": lambda s: s.ewm(span=5, min_periods=1).mean(),
    "EMA($close, 0.3)": lambda s: s.ewm(alpha=0.3, min_periods=1).mean(),
    "Ref($close, 2)": lambda s: s.shift(2),
    "Ref($close, -2)": lambda s: s.shift(-2),
    "Delta($close, 3)": lambda s: s - s.shift(3),
    "Slope($close, 6)": lambda s: pd.Series(_slope(s.values.astype(float), 6), index=s.index),
    "Mean($volume/Ref($volume, 1), 4)": lambda s: None,  # inf from zero volume: see below
}


@pytest.mark.parametrize(
    "expr", [k for k, v in REFERENCE.items() if v(pd.Series([1.0])) is not None]
)
def test_rolling_operator_matches_qlib_definition(panel: Panel, expr: str) -> None:
    field = "volume" if "$volume" in expr else "close"
    got = evaluate(panel, {"x": expr}, allow_forward=True)["x"]  # Ref(x, -2) reads the future
    assert got.dtype == np.float32 and got.shape == panel.shape
    for j in range(panel.shape[1]):
        s = _series(panel, field, j)
        want = REFERENCE[expr](s.astype(np.float64))
        np.testing.assert_allclose(
            got[s.index, j],
            want.values,
            rtol=2e-5,
            atol=2e-6,
            equal_nan=True,
            err_msg=f"{expr} instrument {j}",
        )
        assert np.isnan(got[: s.index[0], j]).all()  # nothing before the series starts


def test_inf_is_skipped_like_pandas_rolling(panel: Panel) -> None:
    """Zero volume makes the ratio inf; pandas' rolling mean and max treat inf as missing."""
    got = evaluate(
        panel, {"m": "Mean($volume/Ref($volume, 1), 4)", "c": "Count($volume/Ref($volume, 1), 4)"}
    )
    for j in range(panel.shape[1]):
        s = _series(panel, "volume", j).astype(np.float64)
        with np.errstate(all="ignore"):
            r = s / s.shift(1)
        np.testing.assert_allclose(
            got["m"][s.index, j], r.rolling(4, min_periods=1).mean(), rtol=1e-5, equal_nan=True
        )
        np.testing.assert_allclose(
            got["c"][s.index, j], r.rolling(4, min_periods=1).count(), equal_nan=True
        )


def test_pair_rolling_and_guards(panel: Panel) -> None:
    got = evaluate(
        panel, {"corr": "Corr($close, Log($volume+1), 6)", "cov": "Cov($close, $high, 5)"}
    )
    for j in range(panel.shape[1]):
        c = _series(panel, "close", j).astype(np.float64)
        v = np.log(_series(panel, "volume", j).astype(np.float64) + 1)
        want = c.rolling(6, min_periods=1).corr(v)
        flat = np.isclose(c.rolling(6, min_periods=1).std(), 0, atol=2e-5) | np.isclose(
            v.rolling(6, min_periods=1).std(), 0, atol=2e-5
        )
        want[flat] = np.nan
        np.testing.assert_allclose(
            got["corr"][c.index, j], want, rtol=1e-5, atol=1e-6, equal_nan=True
        )
        h = _series(panel, "high", j).astype(np.float64)
        np.testing.assert_allclose(
            got["cov"][c.index, j],
            c.rolling(5, min_periods=1).cov(h),
            rtol=1e-4,
            atol=1e-7,
            equal_nan=True,
        )


def test_elementwise_semantics_follow_numpy() -> None:
    p = Panel(
        np.array(["2020-01-01", "2020-01-02"]),
        np.array(["A", "B", "C"]),
        {
            "a": np.array([[1, 0, -1], [2, np.nan, 4]], np.float32),
            "b": np.array([[0, 0, 2], [2, 1, np.nan]], np.float32),
        },
    )
    r = evaluate(
        p,
        {
            "div": "$a/$b",
            "log": "Log($a)",
            "gt": "$a>$b",
            "if": "If($a>1, $a, -$b)",
            "pow": "Power($a, 2)",
            "gr": "Greater($a, $b)",
            "neg": "-$a+2*3",
            "and": "($a>0)&($b>0)",
            "sign": "Sign($a)",
            "abs": "Abs(0-$a)",
        },
    )
    np.testing.assert_array_equal(r["div"][0], [np.inf, np.nan, -0.5])
    np.testing.assert_array_equal(r["log"][0], [0, -np.inf, np.nan])
    np.testing.assert_array_equal(r["gt"], [[1, 0, 0], [0, 0, 0]])  # NaN compares False
    np.testing.assert_array_equal(r["if"], [[-0.0, -0.0, -2], [2, -1, 4]])
    np.testing.assert_array_equal(r["pow"][1], [4, np.nan, 16])
    np.testing.assert_array_equal(r["gr"][1], [2, np.nan, np.nan])
    np.testing.assert_array_equal(r["neg"][0], [5, 6, 7])
    np.testing.assert_array_equal(r["and"], [[0, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(r["sign"][0], [1, 0, -1])
    np.testing.assert_array_equal(r["abs"][0], [1, 0, 1])


def test_cross_sectional_operators_use_universe() -> None:
    x = np.array([[3, 1, 2, 2, 9], [1, np.nan, 3, 5, 7]], np.float32)
    g = np.array([[1, 1, 2, 2, 2], [1, 1, 1, 2, 2]], np.float32)
    e = np.array([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]], np.float32)
    uni = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], bool)
    p = Panel(
        np.array(["2020-01-01", "2020-01-02"]),
        np.array(list("ABCDE")),
        {"x": x, "g": g, "e": e},
        uni,
    )
    r = evaluate(
        p,
        {
            "rank": "CSRank($x)",
            "z": "CSZScore($x)",
            "dm": "CSDemean($x)",
            "nt": "CSNeutralize($x, $g)",
            "res": "CSResidual($x, $e)",
        },
    )
    np.testing.assert_allclose(r["rank"][0], [1.0, 0.25, 0.625, 0.625, np.nan])  # ties averaged
    np.testing.assert_allclose(r["dm"][0], [1, -1, 0, 0, np.nan])
    np.testing.assert_allclose(
        r["z"][0], np.array([1, -1, 0, 0, np.nan]) / np.sqrt(2 / 3), rtol=1e-6
    )
    np.testing.assert_allclose(r["nt"][0], [1, -1, 0, 0, np.nan])
    np.testing.assert_allclose(r["nt"][1], [-1, np.nan, 1, -1, 1])
    # day 2: members A, C, D, E with e = 1, 3, 4, 5; x = 1, 3, 5, 7 -> OLS residuals
    ee, xx = np.array([1, 3, 4, 5.0]), np.array([1, 3, 5, 7.0])
    beta = np.polyfit(ee, xx, 1)
    np.testing.assert_allclose(r["res"][1][[0, 2, 3, 4]], xx - np.polyval(beta, ee), atol=1e-5)
    assert np.isnan(r["res"][1, 1]) and np.isnan(r["res"][0, 4])


def test_shared_subexpressions_are_computed_once(panel: Panel, monkeypatch) -> None:
    calls = []
    real = ops_mod.roll_sum

    def counting(x, w, mean):
        calls.append(w)
        return real(x, w, mean)

    monkeypatch.setattr(ops_mod, "roll_sum", counting)
    evaluate(
        panel, {"a": "Mean($close, 5)/$close", "b": "Mean($close,5) - 1", "c": "Mean($close, 10)"}
    )
    assert sorted(calls) == [5, 10]


def test_inputs_not_modified_and_long_output(panel: Panel) -> None:
    before = {k: v.copy() for k, v in panel.fields.items()}
    uni = panel.universe.copy()
    uni[:30, 0] = False
    p = Panel(panel.dates, panel.instruments, panel.fields, uni)
    df = evaluate_long(
        p,
        {"m": "Mean($close, 3)", "r": "Ref($close, 1)/$close"},
        start=p.dates[10],
        end=p.dates[40],
    )
    for k, v in before.items():
        np.testing.assert_array_equal(panel[k], v)
    assert df.columns == ["datetime", "instrument", "m", "r"]
    assert df.height == int(uni[10:41].sum())
    full = evaluate(p, {"m": "Mean($close, 3)"})["m"]
    row = df.filter(df["instrument"] == "S1").row(0, named=True)
    assert row["m"] == pytest.approx(float(full[10, 1]))


def test_unknown_field_is_a_data_error_bad_arguments_config_errors(panel: Panel) -> None:
    with pytest.raises(DataError, match=r"unknown field \$vwap.*\$close"):
        evaluate(panel, {"x": "$vwap/$close"})
    with pytest.raises(ConfigError, match="window"):
        evaluate(panel, {"x": "Mean($close, 2.5)"})
    with pytest.raises(ConfigError, match="must be a number"):
        evaluate(panel, {"x": "Mean($close, $volume)"})
    with pytest.raises(ConfigError, match="takes 2 arguments"):
        evaluate(panel, {"x": "Std($close)"})
    with pytest.warns(UserWarning, match="vwap"):
        r = evaluate(panel, {"x": "$vwap/$close"}, missing="nan")
    assert np.isnan(r["x"]).all()
