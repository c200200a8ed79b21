"""Rolling 60-day IR and volatility of excess returns against a direct computation."""

from __future__ import annotations

import numpy as np
import pytest

from seqalpha.errors import DataError
from seqalpha.report.rolling import rolling_excess_stats


def test_matches_mean_over_std_of_each_trailing_window() -> None:
    x = np.random.default_rng(0).normal(0.0005, 0.01, 200)
    ir, vol = rolling_excess_stats(x, window=60)
    assert np.isnan(ir[:59]).all() and np.isnan(vol[:59]).all()
    for t in (59, 120, 199):
        w = x[t - 59 : t + 1]
        assert vol[t] == pytest.approx(w.std(ddof=1) * np.sqrt(252))
        assert ir[t] == pytest.approx(w.mean() / w.std(ddof=1) * np.sqrt(252))


def test_nan_days_are_skipped_and_a_window_needs_full_data() -> None:
    x = np.tile([0.01, -0.01, 0.02], 10)  # 30 days
    x[5] = np.nan
    ir, vol = rolling_excess_stats(x, window=5)
    assert np.isnan(vol[5:10]).all()  # windows holding the NaN day have only 4 values
    assert vol[10] == pytest.approx(np.std(x[6:11], ddof=1) * np.sqrt(252))
    assert np.isfinite(ir[4]) and np.isfinite(ir[10])


def test_a_constant_series_has_zero_vol_and_no_ir() -> None:
    ir, vol = rolling_excess_stats(np.full(10, 0.001), window=3)
    assert vol[2:] == pytest.approx(np.zeros(8), abs=1e-12)
    assert np.isnan(ir).all()


def test_bad_window_is_refused() -> None:
    with pytest.raises(DataError, match="rolling window must be >= 2"):
        rolling_excess_stats(np.zeros(5), window=1)
