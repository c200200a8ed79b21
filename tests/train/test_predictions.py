"""Predictions, the walk-forward's output: [T, N] grids, the long file shape and back, joins of
windows, and re-gridding onto a market."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from seqalpha.errors import DataError
from seqalpha.train.predictions import Predictions

NAN = np.nan


@pytest.fixture
def preds() -> Predictions:
    """Two days x three instruments; C is outside the universe on day 1, B's score is missing."""
    mask = np.array([[True, True, False], [True, True, True]])
    return Predictions(
        dates=np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]"),
        instruments=np.array(["A", "B", "C"]),
        score=np.array([[0.5, NAN, 9.0], [0.1, 0.2, 0.3]], dtype=np.float32),
        label=np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32),
        mask=mask,
        labels={
            "1d": np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32),
            "5d": np.array([[7.0, 8.0, 9.0], [1.0, 2.0, 3.0]], dtype=np.float32),
        },
    )


def test_long_frame_has_one_row_per_prediction_in_qlib_order(preds):
    df = preds.to_frame()
    assert df.columns == ["datetime", "instrument", "score", "label", "label_1d", "label_5d"]
    assert df.height == 5 and df["instrument"].to_list() == ["A", "B", "A", "B", "C"]
    assert df.schema["datetime"] == pl.Date and df.schema["score"] == pl.Float32
    want = np.array([0.5, NAN, 0.1, 0.2, 0.3], dtype=np.float32)
    np.testing.assert_array_equal(df["score"].to_numpy(), want)


def test_frame_round_trip_keeps_every_grid(preds):
    back = Predictions.from_frame(preds.to_frame())
    np.testing.assert_array_equal(back.mask, preds.mask)
    np.testing.assert_array_equal(back.score[preds.mask], preds.score[preds.mask])
    np.testing.assert_array_equal(back.labels["5d"][preds.mask], preds.labels["5d"][preds.mask])
    assert back.to_frame().equals(preds.to_frame())


def test_concat_of_windows_unions_instruments_and_orders_days(preds):
    later = Predictions(
        np.array(["2024-01-04"], dtype="datetime64[D]"),
        np.array(["B", "D"]),
        np.array([[1.0, 2.0]], dtype=np.float32),
        np.array([[3.0, 4.0]], dtype=np.float32),
        np.array([[True, True]]),
        {"1d": np.zeros((1, 2), np.float32), "5d": np.ones((1, 2), np.float32)},
    )
    both = Predictions.concat([later, preds])
    assert both.instruments.tolist() == ["A", "B", "C", "D"]
    assert [str(d) for d in both.dates] == ["2024-01-02", "2024-01-03", "2024-01-04"]
    np.testing.assert_array_equal(both.mask[2], [False, True, False, True])
    np.testing.assert_array_equal(both.score[2, [1, 3]], [1.0, 2.0])
    assert both.n == preds.n + later.n


def test_compact_drops_days_and_names_without_predictions(preds):
    preds.mask[:, 2] = False
    small = preds.compact()
    assert small.instruments.tolist() == ["A", "B"] and small.score.shape == (2, 2)
    assert small.to_frame().equals(preds.to_frame())


def test_on_grid_places_scores_on_a_market_grid(preds):
    dates = np.array(["2024-01-01", "2024-01-02", "2024-01-03"], dtype="datetime64[D]")
    grid = preds.on_grid(dates, np.array(["C", "A", "Z"]))
    assert grid.dtype == np.float64 and grid.shape == (3, 3)
    assert np.isnan(grid[0]).all() and np.isnan(grid[:, 2]).all()  # unknown day / name
    assert np.isnan(grid[1, 0])  # C was outside the universe on day 1
    np.testing.assert_allclose(grid[1:, 1], [0.5, 0.1])
    np.testing.assert_allclose(grid[2, 0], 0.3, rtol=1e-6)


def test_bad_shapes_and_duplicate_rows_are_data_errors(preds):
    with pytest.raises(DataError, match=r"Predictions\.score: shape \(1, 3\)"):
        Predictions(preds.dates, preds.instruments, preds.score[:1], preds.label, preds.mask)
    df = preds.to_frame()
    with pytest.raises(DataError, match="duplicate"):
        Predictions.from_frame(pl.concat([df, df]), source="windows/0.parquet")
    with pytest.raises(DataError, match=r"windows/0\.parquet: lacks the column 'label'"):
        Predictions.from_frame(df.drop("label"), source="windows/0.parquet")
