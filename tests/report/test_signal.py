"""Report-side signal helpers: long predictions -> grid, IC, quantiles, rolling/monthly means."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from seqalpha.errors import DataError
from seqalpha.report import signal as sig


def test_predictions_to_grid_scatters_long_rows() -> None:
    frame = pl.DataFrame(
        {
            "datetime": np.array(["2021-01-05", "2021-01-04", "2021-01-04"], dtype="datetime64[D]"),
            "instrument": ["B", "A", "B"],
            "score": [3.0, 1.0, 2.0],
            "label": [0.3, 0.1, 0.2],
        }
    )
    dates, score, label = sig.predictions_to_grid(frame)
    assert list(dates.astype(str)) == ["2021-01-04", "2021-01-05"]
    np.testing.assert_array_equal(score, [[1.0, 2.0], [np.nan, 3.0]])
    np.testing.assert_array_equal(label, [[0.1, 0.2], [np.nan, 0.3]])
    with pytest.raises(DataError, match="duplicate"):
        sig.predictions_to_grid(pl.concat([frame, frame]))


def test_quantile_means_orders_groups() -> None:
    score = np.tile(np.arange(10.0), (3, 1))
    label = score * 0.01
    q = sig.quantile_means(score, label, k=5)
    np.testing.assert_allclose(q[0], [0.005, 0.025, 0.045, 0.065, 0.085])


def test_rolling_mean_ignores_nan_and_needs_min_periods() -> None:
    x = np.array([1.0, np.nan, 3.0, 5.0, 7.0])
    out = sig.rolling_mean(x, window=2, min_periods=1)
    np.testing.assert_allclose(out, [1.0, 1.0, 3.0, 4.0, 6.0])
    out = sig.rolling_mean(x, window=3, min_periods=2)
    assert np.isnan(out[0]) and np.isnan(out[1])
    np.testing.assert_allclose(out[2:], [2.0, 4.0, 5.0])


def test_monthly_mean_grid() -> None:
    dates = np.array(
        ["2021-01-04", "2021-01-05", "2021-03-01", "2022-12-30"], dtype="datetime64[D]"
    )
    years, grid = sig.monthly_mean(dates, np.array([0.1, 0.3, np.nan, -0.2]))
    assert list(years) == [2021, 2022]
    assert grid[0, 0] == pytest.approx(0.2) and np.isnan(grid[0, 2]) and grid[1, 11] == -0.2
    assert np.isfinite(grid).sum() == 2


def test_drawdown_from_running_peak() -> None:
    cum = np.array([-0.1, 0.2, 0.1, 0.3, 0.0])
    np.testing.assert_allclose(sig.drawdown(cum), [-0.1, 0.0, -0.1, 0.0, -0.3])
