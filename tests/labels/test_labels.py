"""Labels: forward returns, excess, normalized, rank, risk-adjusted, classes, multi-horizon sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqalpha.data.minute import MinuteBars
from seqalpha.data.panel import Panel
from seqalpha.errors import ConfigError, DataError
from seqalpha.labels import (
    LabelSpec,
    classify,
    excess,
    forward_bar_volatility,
    forward_return,
    make_labels,
    risk_adjusted,
)


@pytest.fixture
def close() -> np.ndarray:
    """5 days x 3 stocks; stock 2 is missing on day 2."""
    return np.array(
        [
            [10.0, 20.0, 5.0],
            [11.0, 20.0, 5.5],
            [12.1, 22.0, np.nan],
            [12.1, 24.2, 6.0],
            [13.31, 24.2, 6.6],
        ],
        dtype=np.float32,
    )


def test_forward_return_default_offset_is_close_t1_to_close_t1_plus_h(close):
    r = forward_return(close, 1)
    np.testing.assert_allclose(r[0], [12.1 / 11 - 1, 22 / 20 - 1, np.nan], rtol=1e-6)
    np.testing.assert_allclose(r[2], [13.31 / 12.1 - 1, 0.0, 0.1], rtol=1e-5, atol=1e-7)
    assert np.isnan(r[3:]).all()  # the last offset + horizon rows have no label
    assert np.isnan(r[1, 2])  # base price missing


def test_forward_return_offset_zero_and_multi_horizon(close):
    r0 = forward_return(close, 1, offset=0)
    np.testing.assert_allclose(r0[0], [0.1, 0.0, 0.1], rtol=1e-6, atol=1e-7)
    r3 = forward_return(close, 3, offset=0)
    np.testing.assert_allclose(r3[0], [12.1 / 10 - 1, 24.2 / 20 - 1, 6.0 / 5 - 1], rtol=1e-6)
    assert np.isnan(r3[2:]).all()


@pytest.mark.parametrize("h,off", [(0, 1), (1, -1), (1.5, 1)])
def test_forward_return_rejects_bad_horizon(close, h, off):
    with pytest.raises(ConfigError, match=r"horizon|offset"):
        forward_return(close, h, off)


def test_excess_over_universe_mean_and_benchmark():
    ret = np.array([[0.01, 0.03, 0.05], [0.0, -0.02, 0.02]], dtype=np.float32)
    uni = np.array([[True, True, False], [True, True, True]])
    ex = excess(ret, universe=uni)
    np.testing.assert_allclose(ex[0], [-0.01, 0.01, np.nan], atol=1e-7)
    np.testing.assert_allclose(ex[1], [0.0, -0.02, 0.02], atol=1e-7)
    exb = excess(ret, np.array([0.01, -0.01]))
    np.testing.assert_allclose(exb[1], [0.01, -0.01, 0.03], atol=1e-7)
    with pytest.raises(DataError, match="benchmark"):
        excess(ret, np.zeros(3))


def test_zscore_and_rank_labels_over_universe():
    close = np.array([[10.0, 10.0, 10.0, 10.0], [10.0, 10.0, 10.0, 10.0], [11.0, 12.0, 13.0, 5.0]])
    uni = np.array([[True, True, True, False]] * 3)
    z = make_labels(_panel(close, uni), LabelSpec(kind="zscore"))[1][0, :, 0]
    np.testing.assert_allclose(z[:3], [-1.0, 0.0, 1.0], atol=1e-6)  # returns 10% 20% 30%, std 1
    assert np.isnan(z[3])  # outside the universe
    rk = make_labels(_panel(close, uni), LabelSpec(kind="rank"))[1][0, :, 0]
    np.testing.assert_allclose(rk[:3], [1 / 3 - 0.5, 2 / 3 - 0.5, 0.5], atol=1e-7)  # pct - 0.5
    assert np.isnan(rk[3])


def test_classify_presets_and_representatives():
    r = np.array([-0.05, -0.03, -0.029, 0.0, 0.03, 0.0301, np.nan])
    cls, reps = classify(r, "class3")
    np.testing.assert_array_equal(cls[:6], [-1, 0, 0, 0, 0, 1])
    assert np.isnan(cls[6])
    assert reps == pytest.approx({-1: -0.06, 0: 0.0, 1: 0.06})
    cls5, reps5 = classify(np.array([-0.04, -0.02, -0.01, 0.01, 0.02, 0.04]), "class5")
    np.testing.assert_array_equal(cls5, [-2, -1, 0, 0, 1, 2])
    assert reps5 == pytest.approx({-2: -0.045, -1: -0.025, 0: 0.0, 1: 0.025, 2: 0.045})
    with pytest.raises(ConfigError, match="class7"):
        classify(r, "class7")
    with pytest.raises(ConfigError, match="increasing"):
        classify(r, [0.02, -0.02])


def test_forward_bar_volatility_covers_days_after_the_base_close():
    s = np.array([1.0, 4.0, 9.0, 16.0, 25.0])[:, None]  # per-day sum of squared bar returns
    v = forward_bar_volatility(s, horizon=2, offset=1)
    # day 0: base close of day 1, return over days 2 and 3 -> sqrt(9 + 16)
    np.testing.assert_allclose(v[:2, 0], [5.0, np.sqrt(16 + 25)], rtol=1e-6)
    assert np.isnan(v[2:]).all()
    s[3] = np.nan
    assert np.isnan(forward_bar_volatility(s, 2, 1)[0, 0])
    np.testing.assert_allclose(risk_adjusted(np.array([[0.1]]), np.array([[0.05]])), [[2.0]])
    assert np.isnan(risk_adjusted(np.array([[0.1]]), np.array([[0.0]])))[0, 0]


def _panel(close: np.ndarray, universe=None) -> Panel:
    T, N = close.shape
    dates = np.datetime64("2024-01-01") + np.arange(T)
    return Panel(dates, [f"S{i}" for i in range(N)], {"close": close.astype(np.float32)}, universe)


def test_make_labels_multi_horizon_names_and_universe():
    rng = np.random.default_rng(1)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (30, 6)), axis=0))
    uni = np.ones((30, 6), bool)
    uni[:, 5] = False
    names, y = make_labels(_panel(close, uni), LabelSpec(horizons=[1, 5], kind="zscore"))
    assert names == ["zscore_1d", "zscore_5d"]
    assert y.shape == (30, 6, 2) and y.dtype == np.float32
    assert np.isnan(y[:, 5]).all()
    raw5 = forward_return(close, 5)
    ref = (raw5[:, :5] - raw5[:, :5].mean(1, keepdims=True)) / raw5[:, :5].std(
        1, ddof=1, keepdims=True
    )
    np.testing.assert_allclose(y[:24, :5, 1], ref[:24], rtol=1e-4, atol=1e-5)
    assert np.isnan(y[24:, :, 1]).all()


def test_make_labels_excess_over_benchmark_instrument_and_classes():
    close = np.array([[10, 10, 100], [10, 10, 100], [10.5, 9.0, 101], [10.5, 9.0, 101]], float)
    p = _panel(close)
    _names, y = make_labels(p, LabelSpec(horizons=[1], kind="excess", benchmark="S2"))
    np.testing.assert_allclose(y[0, :, 0], [0.04, -0.11, 0.0], atol=1e-6)
    _, yc = make_labels(p, LabelSpec(horizons=[1], kind="class3", benchmark="S2"))
    np.testing.assert_array_equal(yc[0, :, 0], [1, -1, 0])
    with pytest.raises(ConfigError, match="SH000300"):
        make_labels(p, LabelSpec(kind="excess", benchmark="SH000300"))


def test_label_spec_validation_names_the_key():
    with pytest.raises(ConfigError, match="kind"):
        LabelSpec(kind="sharpe")
    with pytest.raises(ConfigError, match="horizons"):
        LabelSpec(horizons=[])
    with pytest.raises(ConfigError, match="offset"):
        LabelSpec(offset=-1)
    assert LabelSpec(horizons=[1, 10], offset=2).max_lookahead == 12


def test_risk_adjusted_labels_from_bars():
    rng = np.random.default_rng(2)
    T, B, N = 12, 4, 3
    bar_r = rng.normal(0, 0.01, (T, B, N))
    open_ = 10 * np.exp(rng.normal(0, 0.05, (T, 1, N))) * np.ones((T, B, N))
    close = open_[:, :1] * np.exp(np.cumsum(bar_r, axis=1))
    op = np.concatenate([open_[:, :1], close[:, :-1]], axis=1)
    f = {
        "open": op,
        "high": np.maximum(op, close),
        "low": np.minimum(op, close),
        "close": close,
        "volume": np.ones((T, B, N)),
        "amount": close,
    }
    dates = np.datetime64("2024-01-01") + np.arange(T)
    bars = MinuteBars(
        dates,
        np.array(["a", "b", "c", "d"]),
        np.array(["S0", "S1", "S2"]),
        {k: v.astype(np.float32) for k, v in f.items()},
    )
    panel = Panel(dates, ["S0", "S1", "S2"], {"close": close[:, -1].astype(np.float32)})
    with pytest.raises(ConfigError, match="bars"):
        make_labels(panel, LabelSpec(kind="risk_adjusted"))
    _, y = make_labels(panel, LabelSpec(horizons=[2], kind="risk_adjusted"), bars)
    ret = close[3, -1, 1] / close[1, -1, 1] - 1
    vol = np.sqrt(np.sum(bar_r[2:4, :, 1] ** 2))
    assert y[0, 1, 0] == pytest.approx(ret / vol, rel=1e-3)


def test_h1_label_matches_qlib_label0(csi300_dir, reference_dir):
    from seqalpha.data.qlib_bin import load_panel

    ref = pd.read_parquet(reference_dir / "qlib_alpha158_sample.parquet", columns=["LABEL0"])
    codes = sorted(ref.index.get_level_values("instrument").unique())
    panel = load_panel(csi300_dir, ["close"], universe=codes, start="2020-12-01", end="2022-12-30")
    _names, y = make_labels(panel, LabelSpec(horizons=[1], kind="raw"))
    ours = pd.Series(
        y[:, :, 0].ravel(),
        index=pd.MultiIndex.from_product(
            [pd.DatetimeIndex(panel.dates), panel.instruments], names=["datetime", "instrument"]
        ),
    )
    want = ref["LABEL0"]
    got = ours.reindex(want.index).to_numpy(np.float64)
    w = want.to_numpy(np.float64)
    both_nan = np.isnan(got) & np.isnan(w)
    close_ = np.isclose(got, w, rtol=1e-5, atol=0.0)
    frac = np.mean(close_ | both_nan)
    assert len(w) > 10_000
    assert frac >= 0.999, f"only {frac:.5f} of {len(w)} cells match Qlib's LABEL0"
