"""SampleSet, tabular rows, sequence windows (views) and day batches on tiny hand-made panels."""

import numpy as np
import pytest

from seqalpha.dataset import (
    InputSpec,
    SampleSet,
    columns_to_steps,
    day_batches,
    gather_inputs,
    row_batches,
    scatter_scores,
    tabular,
    window_view,
)
from seqalpha.dataset.toy import toy_sample_set
from seqalpha.errors import ConfigError, DataError


@pytest.fixture
def grid() -> SampleSet:
    """T=6 days x N=3 stocks x F=2; feature value = 100 t + 10 i + f, so every cell is traceable."""
    T, N, F = 6, 3, 2
    t, i, f = np.meshgrid(np.arange(T), np.arange(N), np.arange(F), indexing="ij")
    feats = (100 * t + 10 * i + f).astype(np.float32)
    labels = (t * 10 + i)[:, :, :1].astype(np.float32).repeat(2, axis=2)
    labels[2, 1, 0] = np.nan
    mask = np.ones((T, N), bool)
    mask[3, 2] = False
    return SampleSet(
        np.arange(T).astype("datetime64[D]"),
        ["A", "B", "C"],
        feats,
        None,
        labels,
        mask,
        (0, T),
        ["f0", "f1"],
        ["y1", "y5"],
    )


def test_sample_set_rejects_bad_shapes_naming_the_field(grid):
    with pytest.raises(DataError, match="labels"):
        SampleSet(
            grid.dates, grid.instruments, grid.features, None, grid.labels[:, :2], grid.mask, (0, 6)
        )
    with pytest.raises(DataError, match="rows"):
        grid.with_rows(2, 9)
    with pytest.raises(DataError, match="feature_names"):
        SampleSet(
            grid.dates, grid.instruments, grid.features, None, None, grid.mask, (0, 6), ["only_one"]
        )


def test_views_share_arrays_and_between_selects_dates(grid):
    v = grid.between("1970-01-03", "1970-01-04")
    assert v.rows == (2, 4) and v.features is grid.features
    assert list(v.row_dates.astype(str)) == ["1970-01-03", "1970-01-04"]


def test_tabular_training_rows_need_mask_and_finite_label(grid):
    s = grid.with_rows(2, 5)
    X, y, (t, i) = tabular(s, train=True, label_col=0)
    # 3 days x 3 stocks minus (t=2, i=1) NaN label minus (t=3, i=2) outside the mask
    assert len(X) == 7
    assert (2, 1) not in set(zip(t.tolist(), i.tolist(), strict=False))
    assert (3, 2) not in set(zip(t.tolist(), i.tolist(), strict=False))
    np.testing.assert_array_equal(X[:, 0], 100 * t + 10 * i)
    np.testing.assert_array_equal(y[:, 0], 10 * t + i)
    Xp, _, _ = tabular(s, train=False)
    assert len(Xp) == 8  # every masked row, labelled or not


def test_scatter_scores_puts_nan_outside_mask(grid):
    s = grid.with_rows(2, 5)
    _, _, idx = tabular(s, train=False)
    out = scatter_scores(s, idx, np.ones(len(idx[0])))
    assert out.shape == (3, 3)
    assert np.isnan(out[1, 2]) and np.isfinite(out).sum() == 8


def test_window_view_is_a_view_with_the_right_days(grid):
    w = window_view(grid.features, 3)
    assert w.shape == (4, 3, 3, 2)
    assert np.shares_memory(w, grid.features)
    np.testing.assert_array_equal(w[2, 1, :, 0], [210, 310, 410])  # days 2..4 of stock 1


def test_gather_windows_oldest_first_and_zero_padded_before_the_first_date(grid):
    spec = InputSpec("daily_seq", "window", seq_len=3)
    x = gather_inputs(grid, spec, np.array([4, 1]), np.array([2, 0]))
    assert x.shape == (2, 3, 2)
    np.testing.assert_array_equal(x[0, :, 0], [220, 320, 420])
    np.testing.assert_array_equal(x[1, :, 0], [0, 0, 100])  # t=1: only days 0, 1 exist


def test_alpha360_columns_reshape_to_oldest_first_steps():
    # Qlib's Alpha360 columns: CLOSE59..CLOSE0, OPEN59..OPEN0, ... (6 fields x 60 lags)
    fields, lags = 6, 60
    cols = np.array(
        [100 * f + lag for f in range(fields) for lag in range(lags - 1, -1, -1)], dtype=np.float32
    )
    steps = columns_to_steps(cols[None, :], fields)[0]  # [60, 6]
    assert steps.shape == (60, 6)
    np.testing.assert_array_equal(steps[0], [100 * f + 59 for f in range(6)])  # oldest step
    np.testing.assert_array_equal(steps[-1], [100 * f for f in range(6)])  # lag 0 last
    assert np.shares_memory(steps, cols)


def test_intraday_steps_are_days_then_bars():
    s = toy_sample_set(T=5, N=2, F=2, bars=3, bar_fields=2, nan_rate=0.0)
    s.bars[:] = np.arange(5)[:, None, None, None] * 10 + np.arange(3)[None, None, :, None]
    x = gather_inputs(s, InputSpec("intraday_seq", seq_len=2), np.array([3]), np.array([1]))
    assert x.shape == (1, 6, 2)
    np.testing.assert_array_equal(x[0, :, 0], [20, 21, 22, 30, 31, 32])


def test_nan_inputs_are_filled_with_zero(grid):
    grid.features[4, 0, 1] = np.nan
    x = gather_inputs(grid, InputSpec("tabular"), np.array([4]), np.array([0]))
    np.testing.assert_array_equal(x[0], [400, 0])


def test_day_batches_one_day_each_shuffled_by_seed(grid):
    b1 = day_batches(grid, True, np.random.default_rng(3), label_col=0)
    b2 = day_batches(grid, True, np.random.default_rng(3), label_col=0)
    assert len(b1) == 6
    assert all(len(np.unique(t)) == 1 for t, _ in b1)
    assert [int(t[0]) for t, _ in b1] == [int(t[0]) for t, _ in b2]
    assert sum(len(t) for t, _ in b1) == 18 - 2
    sub = day_batches(grid, True, np.random.default_rng(0), max_stocks=2, label_col=0)
    assert max(len(t) for t, _ in sub) == 2
    two = day_batches(grid, False, None, days_per_batch=4)
    assert [len(np.unique(t)) for t, _ in two] == [4, 2]


def test_row_batches_mix_days_cover_every_labelled_sample_once(grid):
    b = row_batches(grid, np.random.default_rng(3), batch_size=5, label_col=0)
    assert [len(t) for t, _ in b] == [5, 5, 5, 1]
    cells = sorted(
        zip(
            np.concatenate([t for t, _ in b]).tolist(),
            np.concatenate([i for _, i in b]).tolist(),
            strict=True,
        )
    )
    want = sorted(
        (int(t), int(i))
        for t, ii in day_batches(grid, True, None, label_col=0)
        for t, i in zip(t, ii, strict=False)
    )
    assert cells == want and len(set(cells)) == 16
    assert len(np.unique(b[0][0])) > 1  # samples of several days in one batch
    again = row_batches(grid, np.random.default_rng(3), batch_size=5, label_col=0)
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(b, again, strict=False))
    with pytest.raises(DataError, match="batch_size"):
        row_batches(grid, np.random.default_rng(0), batch_size=0)


def test_input_spec_rejects_unknown_kind_and_missing_bars(grid):
    with pytest.raises(ConfigError, match="input_kind"):
        InputSpec("weekly")
    with pytest.raises(DataError, match="bars"):
        InputSpec("intraday_seq").step_shape(grid)


def test_rows_without_any_input_are_not_samples(grid):
    grid.features[4, 1, :] = np.nan  # e.g. a suspended stock: no feature that day
    assert not grid.available()[4, 1] and grid.available()[4, 0]
    _, _, (t, i) = tabular(grid, train=False)
    assert (4, 1) not in set(zip(t.tolist(), i.tolist(), strict=False))
    assert all(
        (4, 1) not in set(zip(tb.tolist(), ib.tolist(), strict=False))
        for tb, ib in day_batches(grid, False, None)
    )


def test_from_panel_stacks_fields_and_named_labels():
    from seqalpha.data.panel import Panel

    dates = np.arange(4).astype("datetime64[D]")
    a = np.arange(8, dtype=np.float32).reshape(4, 2)
    universe = np.array([[True, False]] * 4)
    panel = Panel(dates, ["A", "B"], {"a": a, "b": -a}, universe)
    s = SampleSet.from_panel(panel, labels={"y1": a * 2, "y5": a * 3}, rows=(1, 4), lookback=2)
    assert s.features.shape == (4, 2, 2) and s.feature_names == ["a", "b"]
    assert s.label_names == ["y1", "y5"] and s.labels[3, 1, 1] == 21
    assert s.rows == (1, 4) and s.lookback == 2 and not s.mask[0, 1]
