"""Second-order learning: per-span linear models + an LSTM/attention meta-model of their
parameters (`models/second_order.py`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from seqalpha.dataset.core import SampleSet
from seqalpha.errors import ConfigError
from seqalpha.models import create_model, load_model

PARAMS = {"span": 10, "history": 4, "epochs": 60, "hidden": 8, "alpha": 0.1}


def drifting_set(T: int = 200, N: int = 40, seed: int = 0) -> SampleSet:
    """label = b_t x0 + noise with a coefficient b_t drifting linearly from -1 to 1."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, 2)).astype(np.float32)
    b = np.linspace(-1, 1, T)
    y = b[:, None] * x[:, :, 0] + 0.5 * rng.standard_normal((T, N))
    dates = np.datetime64("2020-01-01") + np.arange(T).astype("timedelta64[D]")
    return SampleSet(
        dates,
        np.array([f"S{i}" for i in range(N)]),
        x,
        None,
        y[:, :, None].astype(np.float32),
        np.ones((T, N), dtype=bool),
        (0, T),
        ["x0", "x1"],
        ["y"],
    )


def test_follows_a_drifting_coefficient_beyond_the_training_mean():
    data = drifting_set()
    model = create_model("second_order", **PARAMS)
    model.fit(data.with_rows(0, 160))
    # the last spans' coefficients are near 0.5..0.6; the whole-range mean is near -0.2
    assert model.theta_now[0] > 0.3
    ic = np.corrcoef(
        model.predict(data.with_rows(170, 200)).ravel(), data.labels[170:, :, 0].ravel()
    )
    assert ic[0, 1] > 0.5


def test_no_lookahead_and_checkpoint_round_trip(tmp_path):
    """Labels of the test rows, and features after day t, change nothing at or before t."""
    data = drifting_set(seed=1)
    test = data.with_rows(160, 200)
    model = create_model("second_order", **PARAMS)
    model.fit(data.with_rows(0, 150))
    base = model.predict(test)
    labels = data.labels.copy()
    labels[150:] = 0.0
    feats = data.features.copy()
    feats[181:] += 5.0
    again = create_model("second_order", **PARAMS)
    again.fit(replace(data, labels=labels, features=feats).with_rows(0, 150))
    moved = again.predict(replace(test, labels=labels, features=feats))
    np.testing.assert_array_equal(base[:21], moved[:21])
    model.save(tmp_path / "m")
    np.testing.assert_array_equal(load_model(tmp_path / "m").predict(test), base)


def test_bad_params_are_config_errors():
    with pytest.raises(ConfigError, match="span"):
        create_model("second_order", span=1)
