"""Intraday factor library: hand-computed bars, slow references, split invariance, real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqalpha.data.minute import MinuteBars
from seqalpha.errors import ConfigError, DataError
from seqalpha.features.intraday import (
    BAR_FEATURES,
    DAILY_BASE,
    bar_log_returns,
    intraday_daily_features,
    intraday_sequences,
    intraday_windows,
    rolling_mean_std_t,
)


def make_bars(D: int = 30, B: int = 8, N: int = 10, seed: int = 0) -> MinuteBars:
    """Random-walk bars [D, B, N] with overnight gaps, float32."""
    rng = np.random.default_rng(seed)
    day_open = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, (D, 1, N)), axis=0))
    close = day_open * np.exp(np.cumsum(rng.normal(0, 0.004, (D, B, N)), axis=1))
    op = np.concatenate([day_open, close[:, :-1]], axis=1) * np.exp(rng.normal(0, 0.001, (D, B, N)))
    hi = np.maximum(op, close) * np.exp(np.abs(rng.normal(0, 0.002, (D, B, N))))
    lo = np.minimum(op, close) * np.exp(-np.abs(rng.normal(0, 0.002, (D, B, N))))
    vol = rng.lognormal(10, 0.5, (D, B, N))
    amt = vol * (op + close + hi + lo) / 4
    f = {"open": op, "high": hi, "low": lo, "close": close, "volume": vol, "amount": amt}
    return MinuteBars(
        np.datetime64("2024-01-02") + np.arange(D),
        np.array([f"b{i}" for i in range(B)]),
        np.array([f"S{i:02d}" for i in range(N)]),
        {k: v.astype(np.float32) for k, v in f.items()},
    )


def one_day() -> MinuteBars:
    """1 day, 4 bars, 1 stock with round numbers."""
    f = {
        "open": [10.0, 11.0, 11.0, 12.1],
        "close": [11.0, 11.0, 12.1, 11.0],
        "high": [11.0, 11.5, 12.1, 12.1],
        "low": [10.0, 10.5, 11.0, 11.0],
        "volume": [100.0, 100.0, 200.0, 600.0],
    }
    f["amount"] = [1050.0, 1100.0, 2300.0, 6900.0]
    return MinuteBars(
        np.array(["2024-01-02"], "datetime64[D]"),
        np.array(["a", "b", "c", "d"]),
        np.array(["S0"]),
        {k: np.array(v, np.float32).reshape(1, 4, 1) for k, v in f.items()},
    )


def test_hand_computed_day():
    bars = one_day()
    names, x = intraday_daily_features(bars, window=2)
    d = dict(zip(names, x[0, 0], strict=True))
    r = np.log([1.1, 1.0, 1.1, 11.0 / 12.1])
    assert d["id_ret"] == pytest.approx(np.log(1.1), rel=1e-5)
    assert d["rv"] == pytest.approx(np.sqrt(np.sum(r**2)), rel=1e-5)
    # up bars: 1 and 3 (amount 1050 + 2300), down: bar 4 (6900), flat bar 2 excluded
    assert d["updown_imb"] == pytest.approx((3350 - 6900) / (3350 + 6900), rel=1e-5)
    dev = r - r.mean()
    assert d["autocorr1"] == pytest.approx(np.sum(dev[1:] * dev[:-1]) / np.sum(dev**2), rel=1e-4)
    assert d["hl_range"] == pytest.approx(np.log(12.1 / 10.0), rel=1e-5)
    assert d["vwap_dev"] == pytest.approx(np.log(11.0 / (11350 / 1000)), rel=1e-4)
    assert d["late_early"] == pytest.approx(np.log(6900 / 1050), rel=1e-5)  # B // 4 = 1 bar
    share = np.array([1050, 1100, 2300, 6900]) / 11350
    assert d["amount_hhi"] == pytest.approx(np.sum(share**2), rel=1e-5)
    assert d["log_rel_amount"] == pytest.approx(0.0, abs=1e-6)  # the only day is its own mean
    assert np.isnan(d["id_ret_mean2"])  # one day < min_periods
    snames, s = intraday_sequences(bars, window=2)
    seq = dict(zip(snames, s[0, 0].T, strict=True))
    np.testing.assert_allclose(seq["ret"], r, rtol=1e-5)
    np.testing.assert_allclose(seq["cum_ret"], np.log([1.1, 1.1, 1.21, 1.1]), rtol=1e-5)
    np.testing.assert_allclose(seq["amount_share"], share, rtol=1e-5)
    np.testing.assert_allclose(seq["signed_share"], share * [1, 0, 1, -1], rtol=1e-5)
    np.testing.assert_allclose(seq["close_pos"], [0.5, 0.0, 0.5, -0.5], atol=1e-6)
    run_vwap = np.cumsum([1050, 1100, 2300, 6900]) / np.cumsum([100, 100, 200, 600])
    np.testing.assert_allclose(
        seq["vwap_dev"], np.log(np.array([11, 11, 12.1, 11]) / run_vwap), rtol=1e-4
    )
    np.testing.assert_allclose(
        seq["log1p_rel_amount"],
        np.log1p(np.array([1050, 1100, 2300, 6900]) / (11350 / 4)),
        rtol=1e-5,
    )


def _slow_daily(bars: MinuteBars) -> dict[str, np.ndarray]:
    """Loop over days and stocks, one pandas frame per stock-day (obviously correct, slow)."""
    D, _B, N = bars.shape
    out = {
        k: np.full((D, N), np.nan)
        for k in ("id_ret", "rv", "autocorr1", "updown_imb", "amount_hhi")
    }
    for t in range(D):
        for n in range(N):
            f = pd.DataFrame({k: bars[k][t, :, n].astype(np.float64) for k in bars.fields})
            prev = f["close"].shift(1)
            prev.iloc[0] = f["open"].iloc[0]
            r = np.log(f["close"] / prev)
            out["id_ret"][t, n] = np.log(f["close"].iloc[-1] / f["open"].iloc[0])
            out["rv"][t, n] = np.sqrt((r**2).sum())
            dev = r - r.mean()
            out["autocorr1"][t, n] = (dev * dev.shift(1)).sum() / (dev**2).sum()
            up, dn = f["amount"][r > 0].sum(), f["amount"][r < 0].sum()
            out["updown_imb"][t, n] = (up - dn) / (up + dn)
            out["amount_hhi"][t, n] = ((f["amount"] / f["amount"].sum()) ** 2).sum()
    return out


def test_daily_aggregates_match_slow_reference():
    bars = make_bars(D=6, N=5, seed=4)
    names, x = intraday_daily_features(bars, window=3)
    ref = _slow_daily(bars)
    for k, v in ref.items():
        np.testing.assert_allclose(x[:, :, names.index(k)], v, rtol=2e-4, atol=1e-6, err_msg=k)


def test_rolling_stats_match_pandas():
    rng = np.random.default_rng(5)
    a = rng.normal(3.0, 1.0, (40, 4))
    a[rng.random(a.shape) < 0.15] = np.nan
    mean, std, t = rolling_mean_std_t(a, 10, min_periods=5)
    df = pd.DataFrame(a)
    roll = df.rolling(10, min_periods=5)
    np.testing.assert_allclose(mean, roll.mean(), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(std, roll.std(), rtol=1e-7, equal_nan=True)
    want_t = roll.mean() / roll.std() * np.sqrt(roll.count())
    np.testing.assert_allclose(t, want_t, rtol=1e-7, equal_nan=True)


def test_split_between_days_does_not_change_intraday_features():
    bars = make_bars(D=30, N=6, seed=1)
    _names, x = intraday_daily_features(bars)
    _snames, s = intraday_sequences(bars)
    split = {k: v.copy() for k, v in bars.fields.items()}
    # a 2-for-1 split of stock 2 from day 15 on: prices halve, share volume doubles, amount same
    for k in ("open", "high", "low", "close"):
        split[k][15:, :, 2] *= np.float32(0.5)
    split["volume"][15:, :, 2] *= np.float32(2.0)
    sb = MinuteBars(bars.dates, bars.bar_ends, bars.instruments, split)
    _, x2 = intraday_daily_features(sb)
    _, s2 = intraday_sequences(sb)
    np.testing.assert_allclose(x2, x, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(s2, s, rtol=1e-4, atol=1e-5)
    # whereas a naive close-to-close daily return would jump by log(0.5)
    naive = np.log(sb["close"][15, -1, 2] / sb["close"][14, -1, 2])
    assert naive < np.log(0.6)


def test_windows_are_views_of_the_last_L_days():
    bars = make_bars(D=25, B=8, N=4)
    names, s = intraday_sequences(bars)
    assert names == list(BAR_FEATURES) and s.shape == (25, 4, 8, len(BAR_FEATURES))
    w = intraday_windows(s, L=20)
    assert w.shape == (6, 4, 160, len(BAR_FEATURES))
    assert np.shares_memory(w, s) and not w.flags.writeable
    i, n = 3, 2
    manual = np.concatenate([s[d, n] for d in range(i, i + 20)], axis=0)  # days 3..22
    np.testing.assert_array_equal(w[i, n], manual)
    with pytest.raises(DataError, match="day stride"):
        intraday_windows(np.ascontiguousarray(s), L=20)
    with pytest.raises(ConfigError, match="L must"):
        intraday_windows(s, L=26)


def test_missing_days_and_bars_give_nan_not_errors():
    bars = make_bars(D=25, N=5, seed=2)
    for k in bars.fields:
        bars.fields[k][10, :, 1] = np.nan  # stock 1 suspended on day 10
        bars.fields[k][12, 3, 0] = np.nan  # stock 0 misses one bar on day 12
    names, x = intraday_daily_features(bars)
    assert np.isnan(x[10, 1, : len(DAILY_BASE)]).all()
    assert np.isfinite(x[10, 0, : len(DAILY_BASE)]).all()
    assert np.isfinite(x[12, 0, names.index("rv")])
    # rolling stats skip the missing day instead of propagating NaN
    assert np.isfinite(x[15, 1, names.index("rv_mean20")])
    r = bar_log_returns(bars)
    expect = np.log(bars["close"][12, 4, 0] / bars["open"][12, 4, 0])
    assert r[12, 4, 0] == pytest.approx(expect, rel=1e-5)  # restart from the bar's own open


def test_input_validation_names_the_problem():
    bars = make_bars(D=5, N=3)
    bad = MinuteBars(
        bars.dates,
        bars.bar_ends,
        bars.instruments,
        {k: v for k, v in bars.fields.items() if k != "high"},
    )
    with pytest.raises(DataError, match="high"):
        intraday_daily_features(bad)
    with pytest.raises(ConfigError, match="window"):
        intraday_daily_features(bars, window=1)


def test_real_15min_bars_resampled_to_30min(intraday15_path):
    import polars as pl

    from seqalpha.data.minute import resample

    lf = pl.scan_parquet(intraday15_path)
    codes = lf.select("instrument").unique().sort("instrument").head(60).collect()["instrument"]
    df = (
        lf.filter(pl.col("instrument").is_in(codes.to_list()))
        .filter(pl.col("datetime") < pl.datetime(2025, 3, 1))
        .collect()
    )
    days = np.unique(df["datetime"].dt.date().to_numpy().astype("datetime64[D]"))
    ends = np.unique(df["datetime"].dt.strftime("%H:%M").to_numpy().astype(str))
    inst = np.array(codes.to_list(), dtype=str)
    di = np.searchsorted(days, df["datetime"].dt.date().to_numpy().astype("datetime64[D]"))
    bi = np.searchsorted(ends, df["datetime"].dt.strftime("%H:%M").to_numpy().astype(str))
    ni = np.searchsorted(inst, df["instrument"].to_numpy().astype(str))
    fields = {}
    for k in ("open", "high", "low", "close", "volume", "amount"):
        a = np.full((len(days), len(ends), len(inst)), np.nan, np.float32)
        a[di, bi, ni] = df[k].cast(pl.Float32).to_numpy()
        fields[k] = a
    bars = resample(MinuteBars(days, ends, inst, fields), 30)
    assert bars.shape[1] == 8
    names, x = intraday_daily_features(bars)
    _snames, s = intraday_sequences(bars)
    D, N = len(days), len(inst)
    assert x.shape == (D, N, 4 * len(DAILY_BASE)) and s.shape == (D, N, 8, len(BAR_FEATURES))
    base = x[:, :, : len(DAILY_BASE)]
    assert np.mean(np.isfinite(base)) > 0.97
    ac = base[:, :, DAILY_BASE.index("autocorr1")]
    assert np.nanmin(ac) >= -1 and np.nanmax(ac) <= 1
    share = s[:, :, :, BAR_FEATURES.index("amount_share")]
    np.testing.assert_allclose(
        np.nansum(share, axis=2)[np.isfinite(share).all(axis=2)], 1.0, rtol=1e-4
    )
    rv = base[:, :, DAILY_BASE.index("rv")]
    assert 0.003 < np.nanmedian(rv) < 0.1  # daily intraday volatility of A-shares, in log units
    assert np.isfinite(x[19:, :, names.index("rv_t20")]).mean() > 0.95


def test_chunking_over_days_does_not_change_results():
    bars = make_bars(D=23, N=4, seed=6)
    _names, x = intraday_daily_features(bars, chunk_days=64)
    _, x1 = intraday_daily_features(bars, chunk_days=5)
    _, s = intraday_sequences(bars, chunk_days=64)
    _, s1 = intraday_sequences(bars, chunk_days=1)
    np.testing.assert_array_equal(x1, x)
    np.testing.assert_array_equal(s1, s)
