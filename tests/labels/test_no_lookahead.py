"""Shift canaries: labels read only the future, intraday features only the past.

Precisely, with offset k and horizon h, the label at date t reads prices (and, for
risk-adjusted labels, bars) of dates t+k .. t+k+h only. So it must be unchanged when every
date <= t+k-1 is perturbed (for the default k=1: all data at dates <= t), and must change
when the close of t+k+h changes. Intraday features at day t must be unchanged when bars of
days > t are perturbed, and must change when bars of day t change.
"""

from __future__ import annotations

import numpy as np
import pytest

from seqalpha.data.minute import MinuteBars
from seqalpha.data.panel import Panel
from seqalpha.features.intraday import intraday_daily_features, intraday_sequences
from seqalpha.labels import LABEL_KINDS, LabelSpec, make_labels

T, B, N = 40, 4, 12


def _bars(seed: int = 0) -> MinuteBars:
    rng = np.random.default_rng(seed)
    ret = rng.normal(0, 0.01, (T, B, N))
    day_open = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, 1, N)), axis=0))
    close = day_open * np.exp(np.cumsum(ret, axis=1))
    op = np.concatenate([day_open, close[:, :-1]], axis=1)
    vol = rng.uniform(1e3, 1e4, (T, B, N))
    f = {
        "open": op,
        "high": np.maximum(op, close) * 1.002,
        "low": np.minimum(op, close) * 0.998,
        "close": close,
        "volume": vol,
        "amount": vol * close,
    }
    return MinuteBars(
        np.datetime64("2023-01-02") + np.arange(T),
        np.array(["a", "b", "c", "d"]),
        np.array([f"S{i}" for i in range(N)]),
        {k: v.astype(np.float32) for k, v in f.items()},
    )


def _perturb_bars(bars: MinuteBars, days: slice, seed: int = 9) -> MinuteBars:
    rng = np.random.default_rng(seed)
    out = {k: v.copy() for k, v in bars.fields.items()}
    shape = out["close"][days].shape
    scale = np.exp(rng.normal(0, 0.05, shape)).astype(np.float32)
    for k in ("open", "high", "low", "close"):
        out[k][days] *= scale
    out["volume"][days] *= rng.uniform(0.5, 2.0, shape).astype(np.float32)
    out["amount"][days] = out["volume"][days] * out["close"][days]
    return MinuteBars(bars.dates, bars.bar_ends, bars.instruments, out)


def _panel_from(bars: MinuteBars) -> Panel:
    close = bars["close"][:, -1]
    uni = np.ones(close.shape, bool)
    uni[::7, 3] = False
    return Panel(bars.dates, bars.instruments, {"close": close.copy()}, uni)


@pytest.mark.parametrize("kind", LABEL_KINDS)
@pytest.mark.parametrize("offset", [0, 1, 2])
def test_label_at_t_reads_only_dates_from_t_plus_offset(kind, offset):
    bars = _bars()
    spec = LabelSpec(horizons=[1, 3], kind=kind, offset=offset)
    _, y = make_labels(_panel_from(bars), spec, bars)
    t = 20
    # perturb every date <= t + offset - 1 (for offset 1: all of dates <= t)
    cut = t + offset
    pb = _perturb_bars(bars, slice(0, cut))
    _, y_past = make_labels(_panel_from(pb), spec, pb)
    # the cross-sectional label at t is built from dates >= t + offset only
    np.testing.assert_array_equal(y_past[t:], y[t:])
    # and a change at the end of the horizon must reach the label at t
    for j, h in enumerate(spec.horizons):
        pf = _perturb_bars(bars, slice(t + offset + h, t + offset + h + 1), seed=3)
        _, y_fut = make_labels(_panel_from(pf), spec, pf)
        changed = ~np.isclose(y_fut[t, :, j], y[t, :, j], equal_nan=True)
        assert changed.sum() >= N // 3, f"{kind} h={h}: label at t ignores the close of t+offset+h"


def test_intraday_features_at_t_read_no_later_bars():
    bars = _bars(1)
    names, x = intraday_daily_features(bars, window=5)
    _snames, s = intraday_sequences(bars, window=5)
    t = 25
    later = _perturb_bars(bars, slice(t + 1, T))
    _, x2 = intraday_daily_features(later, window=5)
    _, s2 = intraday_sequences(later, window=5)
    np.testing.assert_array_equal(x2[: t + 1], x[: t + 1])
    np.testing.assert_array_equal(s2[: t + 1], s[: t + 1])
    assert not np.allclose(x2[t + 1 :], x[t + 1 :], equal_nan=True)
    # a change on day t itself reaches the features of day t (sanity of the canary)
    today = _perturb_bars(bars, slice(t, t + 1))
    _, x3 = intraday_daily_features(today, window=5)
    assert not np.allclose(x3[t], x[t], equal_nan=True)
    # through the rolling window it reaches day t + 4; the relative-amount feature's trailing
    # mean (5 days) inside a 5-day rolling mean reaches t + 8, and nothing reaches t + 9
    rolled = [i for i, n in enumerate(names) if n.endswith("_mean5")]
    assert not np.allclose(x3[t + 4][:, rolled], x[t + 4][:, rolled], equal_nan=True)
    np.testing.assert_allclose(x3[t + 9 :], x[t + 9 :], rtol=1e-4, atol=1e-6)
