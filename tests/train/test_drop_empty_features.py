"""drop_empty_features: empty columns found over the universe, dropped with a warning, in place
(no second copy of the feature array) or into a new array."""

import numpy as np
import pytest

from seqalpha.errors import DataError
from seqalpha.train.inputs import drop_empty_features


@pytest.fixture
def panel():
    """x [T=130, N=7, F=5]: column 1 empty everywhere, column 3 finite only outside the mask."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((130, 7, 5)).astype(np.float32)
    mask = rng.random((130, 7)) < 0.8
    mask[:, 6] = False
    x[:, :, 1] = np.nan
    x[:, :, 3] = np.nan
    x[:, 6, 3] = 1.0  # finite, but never in the universe
    x[rng.random(x.shape) < 0.1] = np.nan
    return x, mask


def test_new_array_and_in_place_give_the_same_columns(panel):
    x, mask = panel
    want = x[:, :, [0, 2, 4]].copy()
    with pytest.warns(UserWarning, match=r"\['b', 'd'\]"):
        y, names = drop_empty_features(x, list("abcde"), mask)
    assert names == ["a", "c", "e"]
    np.testing.assert_array_equal(y, want)
    with pytest.warns(UserWarning):
        z, names2 = drop_empty_features(x, list("abcde"), mask, in_place=True)
    assert names2 == names and np.shares_memory(z, x)  # x's own buffer: no copy
    assert z.flags.c_contiguous
    np.testing.assert_array_equal(z, want)


def test_nothing_to_drop_returns_x_itself(panel):
    x, mask = panel
    full = np.nan_to_num(x)
    y, names = drop_empty_features(full, list("abcde"), mask, in_place=True)
    assert y is full and names == list("abcde")


def test_all_empty_or_a_view_in_place_are_errors(panel):
    x, mask = panel
    with pytest.raises(DataError, match="every feature is empty"):
        drop_empty_features(x[:, :, [1, 3]], ["b", "d"], mask)
    with pytest.raises(DataError, match="in_place"), pytest.warns(UserWarning):
        drop_empty_features(x[:, :, :4], list("abcd"), mask, in_place=True)


def test_stack_panel_copies_every_field_and_spares_arrays_held_elsewhere():
    from seqalpha.data.panel import Panel
    from seqalpha.train.inputs import _stack_panel

    rng = np.random.default_rng(5)
    T, N = 700, 300  # several blocks of dates, rows spanning whole memory pages
    fields = {f"f{k}": rng.standard_normal((T, N)).astype(np.float32) for k in range(4)}
    want = np.stack(list(fields.values()), axis=2)
    held = fields["f2"]  # a caller still holds this one: it must keep its values
    held_copy = held.copy()
    panel = Panel(np.datetime64("2020-01-01") + np.arange(T), [f"S{i}" for i in range(N)], fields)
    names, x = _stack_panel(panel)
    assert names == ["f0", "f1", "f2", "f3"] and not panel.fields  # the panel is consumed
    np.testing.assert_array_equal(x, want)
    np.testing.assert_array_equal(held, held_copy)
