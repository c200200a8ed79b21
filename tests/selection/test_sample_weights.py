"""Sample weights on a SampleSet: weighted linear and LightGBM fits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from seqalpha.dataset.toy import toy_sample_set
from seqalpha.errors import DataError
from seqalpha.models import create_model


def test_zero_one_weights_equal_a_fit_on_the_kept_rows():
    data = toy_sample_set(T=40, N=30, seed=1)
    keep = np.zeros(data.mask.shape, dtype=np.float32)
    keep[:20] = 1.0
    weighted = create_model("linear", alpha=0.1)
    weighted.fit(replace(data, weights=keep))  # the same arrays, with weights
    subset = create_model("linear", alpha=0.1)
    subset.fit(data.with_rows(0, 20))
    np.testing.assert_allclose(weighted.coef, subset.coef, rtol=1e-6, atol=1e-9)
    assert weighted.intercept == pytest.approx(subset.intercept, abs=1e-9)


def test_integer_weights_equal_repeated_rows():
    data = toy_sample_set(T=20, N=25, seed=2, nan_rate=0.0)
    w = np.ones(data.mask.shape, dtype=np.float32)
    w[:10] = 2.0  # the first ten days count twice
    weighted = create_model("linear", alpha=0.0)
    weighted.fit(replace(data, weights=w))
    twice = np.concatenate([np.arange(10), np.arange(20)])
    doubled = replace(
        data,
        dates=np.datetime64("2000-01-01") + np.arange(30).astype("timedelta64[D]"),
        features=data.features[twice],
        labels=data.labels[twice],
        mask=data.mask[twice],
        rows=(0, 30),
    )
    plain = create_model("linear", alpha=0.0)
    plain.fit(doubled)
    np.testing.assert_allclose(weighted.coef, plain.coef, rtol=1e-6, atol=1e-9)


def test_lgbm_reads_weights():
    data = toy_sample_set(T=30, N=30, seed=3)
    w = np.zeros(data.mask.shape, dtype=np.float32)
    w[:, :15] = 1.0
    params = {"n_estimators": 5, "num_threads": 1, "min_child_samples": 5}
    a = create_model("lgbm", **params)
    a.fit(replace(data, weights=w))
    b = create_model("lgbm", **params)
    b.fit(data)
    assert not np.allclose(a.predict(data), b.predict(data), equal_nan=True)


def test_weights_of_the_wrong_shape_are_refused():
    data = toy_sample_set(T=10, N=5)
    with pytest.raises(DataError, match=r"SampleSet\.weights"):
        replace(data, weights=np.ones((10, 4), np.float32))
