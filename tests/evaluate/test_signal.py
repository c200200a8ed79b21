"""Signal metrics on tiny hand-made panels where the answer is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from seqalpha import xsection as xs
from seqalpha.errors import DataError
from seqalpha.evaluate import (
    cumulative_returns,
    daily_ic,
    daily_rank_ic,
    feature_neutral_corr,
    forward_return,
    ic_decay,
    long_short,
    numerai_corr,
    quantile_groups,
    quantile_returns,
    random_signal_test,
    signal_metrics,
    top_group_turnover,
)


@pytest.fixture
def perfect():
    """3 days x 4 names: day 0 label = score (IC +1), day 1 reversed (IC -1), day 2 one name."""
    score = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [1.0, np.nan, np.nan, np.nan]])
    label = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1], [0.5, 0.1, 0.2, 0.3]])
    return score, label


def test_ic_is_plus_minus_one_and_short_days_are_skipped(perfect):
    score, label = perfect
    ic = daily_ic(score, label)
    assert ic[0] == pytest.approx(1.0)
    assert ic[1] == pytest.approx(-1.0)
    assert np.isnan(ic[2])  # fewer than 2 valid names
    m = signal_metrics(score, label)
    assert m["n_days"] == 2
    assert m["ic"] == pytest.approx(0.0)


def test_rank_ic_ignores_monotone_transform():
    score = np.array([[1.0, 2.0, 3.0, 10.0, 100.0]])
    label = np.exp(score / 50.0)
    assert daily_ic(score, label)[0] < 0.999
    assert daily_rank_ic(score, label)[0] == pytest.approx(1.0)


def test_mask_excludes_names():
    score = np.array([[1.0, 2.0, 3.0, 4.0]])
    label = np.array([[1.0, 2.0, 3.0, -100.0]])
    mask = np.array([[True, True, True, False]])
    assert daily_ic(score, label, mask)[0] == pytest.approx(1.0)
    assert daily_ic(score, label)[0] < 0


def test_matches_scipy_on_random_panel_with_nans():
    rng = np.random.default_rng(3)
    s = rng.standard_normal((20, 30))
    y = 0.3 * s + rng.standard_normal((20, 30))
    s[rng.random(s.shape) < 0.2] = np.nan
    y[rng.random(y.shape) < 0.1] = np.nan
    ic, ric = daily_ic(s, y), daily_rank_ic(s, y)
    for t in range(20):
        ok = np.isfinite(s[t]) & np.isfinite(y[t])
        assert ic[t] == pytest.approx(pearsonr(s[t, ok], y[t, ok])[0], abs=1e-10)
        assert ric[t] == pytest.approx(spearmanr(s[t, ok], y[t, ok])[0], abs=1e-10)


def test_signal_metrics_statistics_and_by_year():
    rng = np.random.default_rng(0)
    dates = np.array(
        ["2020-12-30", "2020-12-31", "2021-01-04", "2021-01-05", "2021-01-06"],
        dtype="datetime64[D]",
    )
    s = rng.standard_normal((5, 50))
    y = s + rng.standard_normal((5, 50))
    m = signal_metrics(s, y, dates=dates)
    ic = daily_ic(s, y)
    assert m["icir"] == pytest.approx(ic.mean() / ic.std(ddof=1))
    assert m["ic_t"] == pytest.approx(m["icir"] * np.sqrt(5))
    assert m["ic_se"] == pytest.approx(ic.std(ddof=1) / np.sqrt(5))
    assert set(m["by_year"]) == {2020, 2021}
    assert m["by_year"][2020]["n_days"] == 2
    assert m["by_year"][2021]["ic"] == pytest.approx(ic[2:].mean())


def test_shape_errors_name_the_argument():
    with pytest.raises(DataError, match="label"):
        daily_ic(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(DataError, match="dates"):
        signal_metrics(
            np.zeros((2, 3)), np.zeros((2, 3)), dates=np.array(["2020-01-01"], "datetime64[D]")
        )


def test_quantile_returns_long_short_and_cumulative():
    score = np.tile(np.arange(10.0), (3, 1))
    fwd = np.tile(np.arange(10.0) / 100, (3, 1))
    g = quantile_groups(score, n_groups=5)
    assert g[0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    q = quantile_returns(score, fwd, n_groups=5)
    assert q[0].tolist() == pytest.approx([0.005, 0.025, 0.045, 0.065, 0.085])
    ls = long_short(q)
    assert ls == pytest.approx([0.08, 0.08, 0.08])
    assert cumulative_returns(ls)[-1] == pytest.approx(1.08**3 - 1)
    assert cumulative_returns(ls, compound=False)[-1] == pytest.approx(0.24)


def test_top_group_turnover_counts_new_names():
    score = np.array([[1, 2, 3, 4.0], [4, 3, 2, 1.0], [4, 3, 2, 1.0]])
    # top half: day0 {2,3}, day1 {0,1} (all new), day2 same as day1
    tov = top_group_turnover(score, n_groups=2)
    assert np.isnan(tov[0])
    assert tov[1:].tolist() == [1.0, 0.0]


def test_forward_return_and_ic_decay():
    close = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 1.0], [4.0, 1.0], [4.0, 2.0]])
    fr = forward_return(close, 1, lag=1)
    assert fr[0].tolist() == [1.0, 0.0]  # close[2]/close[1]-1
    assert np.isnan(fr[-2:]).all()
    rng = np.random.default_rng(1)
    T, N = 60, 40
    rets = rng.standard_normal((T, N)) * 0.01
    c = np.cumprod(1 + rets, axis=0)
    score = np.full((T, N), np.nan)
    score[:-2] = rets[2:]  # the score knows tomorrow+1's return exactly
    dec = ic_decay(score, c, horizons=[1, 5, 10])
    assert dec["rank_ic"][0] == pytest.approx(1.0)
    assert dec["ic"][0] > dec["ic"][1] > 0


def test_numerai_corr_and_fnc():
    x = np.arange(1.0, 11.0)[None, :]
    u = xs.rank_mid(np.array([[3.0, 1.0, 2.0, 2.0]]))  # Numerai's tie-kept rank
    assert u[0].tolist() == pytest.approx([0.875, 0.125, 0.5, 0.5])
    assert numerai_corr(x, x)[0] > 0.95
    assert numerai_corr(x, -x)[0] < -0.95
    rng = np.random.default_rng(2)
    f = rng.standard_normal((4, 200, 1))
    target = f[..., 0] + 0.01 * rng.standard_normal((4, 200))
    pred = f[..., 0].copy()  # all of the signal is the feature itself
    assert np.all(numerai_corr(pred, target) > 0.9)
    assert np.all(np.abs(feature_neutral_corr(pred, target, f)) < 0.3)


def test_random_signal_test_separates_real_and_random():
    rng = np.random.default_rng(5)
    y = rng.standard_normal((30, 50))
    real = signal_metrics(y + rng.standard_normal((30, 50)), y)["ic"]
    res = random_signal_test(y, real, n_trials=50, seed=1)
    assert res["p_value"] == pytest.approx(1 / 51)
    assert abs(res["null_mean"]) < 0.02
    res0 = random_signal_test(y, res["null_mean"], n_trials=50, seed=1)
    assert res0["p_value"] > 0.5


def test_inputs_are_not_modified_and_nan_days_stay_nan():
    rng = np.random.default_rng(9)
    s = rng.standard_normal((6, 8)).astype(np.float32)
    y = rng.standard_normal((6, 8))
    s[2] = np.nan
    s0, y0 = s.copy(), y.copy()
    signal_metrics(s, y)
    quantile_returns(s, y, n_groups=2)
    numerai_corr(s, y)
    assert np.array_equal(s, s0, equal_nan=True) and np.array_equal(y, y0)
    assert np.isnan(daily_ic(s, y)[2]) and np.isfinite(daily_ic(s, y)[[0, 1, 3, 4, 5]]).all()
    assert np.isnan(quantile_returns(s, y, n_groups=2)[2]).all()
