"""Training-sample selection: market state, periods, similarity, traits, the window hook and its
leakage guard (nothing at or after a window's test start changes what its model trains on)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from seqalpha.config import config_from_dict
from seqalpha.config.schema import SelectionConfig
from seqalpha.errors import ConfigError
from seqalpha.registries import check_components
from seqalpha.train.selection import (
    daily_market_state,
    describe_periods,
    select_rows,
    selection_spec,
    similar_periods,
    train_periods,
    trait_weights,
)
from seqalpha.train.window import Job, TrainSpec, run_job, window_arrays

from .toy import regime_inputs, windows


def test_daily_market_state_by_hand():
    close = np.array([[10.0, 20.0, 5.0], [11.0, 19.0, 5.0], [11.0, 19.0, np.nan]])
    volume = np.ones((3, 3))
    member = np.array([[1, 1, 1], [1, 1, 0], [1, 1, 1]], dtype=bool)
    s = daily_market_state(close, volume, member)
    assert np.isnan(s[0]).all()  # no return on the first day
    r = np.array([0.1, -0.05])  # the third stock is not a member on day 1
    np.testing.assert_allclose(s[1, :3], [r.mean(), r.std(), 0.5], rtol=1e-6)
    np.testing.assert_allclose(s[2, :3], [0.0, 0.0, 0.0], atol=1e-7)


def _state_reference(close, volume, member):
    """Per-day numpy reference of `daily_market_state` (obviously correct, slow)."""
    T, N = close.shape
    out = np.full((T, 4), np.nan)
    for t in range(1, T):
        r = close[t] / close[t - 1] - 1
        r = r[member[t] & np.isfinite(r)]
        if len(r) >= 2:
            out[t, :3] = [r.mean(), r.std(), (r > 0).mean()]
    for t in range(T):
        turns = []
        for i in range(N):
            past = np.log(volume[max(0, t - 20) : t, i][volume[max(0, t - 20) : t, i] > 0])
            if member[t, i] and volume[t, i] > 0 and len(past) >= 5:
                turns.append(np.log(volume[t, i]) - past.mean())
        if turns:
            out[t, 3] = np.mean(turns)
    return out


@pytest.mark.parametrize("block", [1, 3, 256])
def test_daily_market_state_equals_a_per_day_reference(block):
    rng = np.random.default_rng(4)
    close = 10 * np.exp(np.cumsum(0.02 * rng.standard_normal((40, 7)), axis=0))
    close[rng.random(close.shape) < 0.05] = np.nan
    volume = np.exp(rng.normal(8, 1, (40, 7)))
    volume[rng.random(volume.shape) < 0.1] = 0.0
    member = rng.random((40, 7)) < 0.8
    got = daily_market_state(close, volume, member, block=block)
    np.testing.assert_allclose(got, _state_reference(close, volume, member), rtol=2e-5, atol=1e-7)


def test_periods_tile_the_training_range_backwards():
    assert train_periods((0, 50), 20) == [(0, 10), (10, 30), (30, 50)]
    assert train_periods((3, 50), 20) == [(3, 30), (30, 50)]  # 7 days < half: merged
    assert train_periods((0, 15), 20) == [(0, 15)]


def test_similar_periods_picks_the_nearest_and_the_recent():
    z = np.array([[0.0], [5.0], [1.0], [9.0], [4.0]])
    keep = similar_periods(z, np.array([0.5]), k=2)
    assert keep.tolist() == [True, False, True, False, False]
    keep = similar_periods(z, np.array([0.5]), k=2, recent=1)
    assert keep.tolist() == [True, False, True, False, True]


def test_trait_weights_keep_a_quantile_band():
    v = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [5.0, 4.0, 3.0, np.nan, 1.0]])
    mask = np.ones_like(v, dtype=bool)
    w = trait_weights(v, mask, 0.0, 0.5, 0.0)
    assert w.tolist() == [[1, 1, 1, 0, 0], [0, 0, 1, 0, 1]]  # NaN is outside
    w = trait_weights(v, mask, 0.5, 1.0, 0.25)
    assert w[0].tolist() == [0.25, 0.25, 1, 1, 1]


def test_similar_selection_trains_on_the_same_regime():
    inputs = regime_inputs()
    regime = np.where((np.arange(len(inputs.dates)) // 30) % 2 == 0, 1, -1)
    # the last window whose 10 days before the test range lie in one regime
    w = [w for w in windows(inputs) if len(set(regime[w.test[0] - 10 : w.test[0]])) == 1][-1]
    spec = selection_spec(SelectionConfig(method="similar", period=10, k=3, state=["dispersion"]))
    lo = w.train[0]
    mask = np.ones((w.test[1] - lo, len(inputs.instruments)), dtype=bool)
    kept, weights = select_rows(inputs, w, spec, lo, mask, None, inputs.labels[lo:])
    assert weights is None
    days = np.nonzero(kept[: w.train[1] - lo].all(axis=1))[0] + lo
    current = regime[w.test[0] - 1]
    assert len(days) == 30 and (regime[days] == current).mean() > 0.8


def _job(inputs, w, **selection) -> Job:
    spec = TrainSpec(
        "linear", {"alpha": 0.01}, selection=selection_spec(SelectionConfig(**selection))
    )
    return Job(w, 0, 0, spec)


@pytest.mark.parametrize(
    "selection",
    [
        {"method": "similar", "period": 10, "k": 3},
        {"method": "ddgda", "period": 10, "ddgda": {"steps": 20, "tasks": 4}},
        {"traits": [{"feature": "x1", "low": 0.0, "high": 0.5}]},
    ],
)
def test_no_lookahead_from_the_test_range_on(selection):
    """Perturbing market state, labels and features from a window's test start on changes
    neither the selected rows nor the weights nor the scores of days before the change."""
    inputs = regime_inputs(T=200)
    w = windows(inputs)[2]
    job = _job(inputs, w, **selection)
    base = window_arrays(inputs, job)
    cut = w.test[0]
    rng = np.random.default_rng(5)
    market = inputs.market.copy()
    market[cut:] = rng.standard_normal(market[cut:].shape)
    labels = inputs.labels.copy()
    labels[w.train[1] :] = rng.standard_normal(labels[w.train[1] :].shape)  # not yet realized
    feats = inputs.features.copy()
    feats[cut + 1 :] = rng.standard_normal(feats[cut + 1 :].shape)
    other = replace(inputs, market=market, labels=labels, features=feats)
    moved = window_arrays(other, job)
    np.testing.assert_array_equal(base["train_mask"], moved["train_mask"])
    if base["weights"] is not None:
        np.testing.assert_array_equal(base["weights"], moved["weights"])
    a, b = run_job(inputs, job), run_job(other, job)
    np.testing.assert_array_equal(a[0], b[0])  # the first test day's features are unchanged


def test_ddgda_weights_favour_the_current_regime():
    inputs = regime_inputs(seed=1)
    regime = np.where((np.arange(len(inputs.dates)) // 30) % 2 == 0, 1, -1)
    w = [w for w in windows(inputs) if len(set(regime[w.test[0] - 10 : w.test[0]])) == 1][-1]
    job = _job(inputs, w, method="ddgda", period=10, ddgda={"steps": 80, "tasks": 8})
    a = window_arrays(inputs, job)
    assert a["weights"] is not None
    lo = a["lo"]
    day_w = a["weights"][: w.train[1] - lo, 0]
    days = regime[lo : w.train[1]]
    current = regime[w.test[0] - 1]
    assert day_w[days == current].mean() > 1.5 * day_w[days != current].mean()


def test_describe_periods_standardises_across_periods():
    daily = np.random.default_rng(0).standard_normal((60, 4)).astype(np.float32)
    z, zc = describe_periods(daily, train_periods((0, 50), 10), (50, 60), ["vol", "breadth"])
    assert z.shape == (5, 2) and zc.shape == (2,)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-9)


def test_weights_need_a_model_that_takes_them():
    cfg = config_from_dict(
        {
            "model": {"name": "mlp"},
            "walkforward": {"schedule": "rolling"},
            "selection": {"method": "ddgda"},
        }
    )
    with pytest.raises(ConfigError, match="does not accept"):
        check_components(cfg)
    ok = cfg.model_copy(update={"selection": SelectionConfig(method="similar")})
    check_components(ok)  # dropping rows works with any model


def test_a_trait_must_name_a_feature_of_the_run():
    raw = {
        "features": {"library": "alpha158"},
        "model": {"name": "linear"},
        "walkforward": {"schedule": "rolling"},
        "selection": {"traits": [{"feature": "NOPE"}]},
    }
    with pytest.raises(ConfigError, match=r"selection\.traits\.0\.feature: 'NOPE'"):
        check_components(config_from_dict(raw))
    raw["selection"] = {"traits": [{"feature": "STD20", "high": 0.5}]}  # an Alpha158 feature
    check_components(config_from_dict(raw))
