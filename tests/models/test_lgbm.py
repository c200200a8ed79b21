"""LightGBM model: parameters handed to LightGBM, Datasets built from float32 rows, reproducible
fits (with and without LightGBM's `deterministic` flag)."""

import numpy as np
import pytest

from seqalpha.dataset.tabular import sample_index
from seqalpha.dataset.toy import toy_sample_set
from seqalpha.errors import ConfigError
from seqalpha.models import create_model

TRAIN, VALID, TEST = (0, 44), (44, 54), (54, 70)
SMALL = {"n_estimators": 40, "num_leaves": 8, "num_threads": 2, "min_child_samples": 10}


@pytest.fixture(scope="module")
def data():
    return toy_sample_set(T=70, N=40, signal="linear", seed=3)


def test_bagging_follows_subsample_unless_bagging_freq_is_given():
    assert create_model("lgbm", subsample=0.8).lgb_params()["bagging_freq"] == 1
    assert create_model("lgbm", subsample=1.0).lgb_params()["bagging_freq"] == 0
    # Qlib's LGBModel passes subsample without bagging_freq: LightGBM then never bags
    qlib_like = create_model("lgbm", subsample=0.8789, bagging_freq=0).lgb_params()
    assert qlib_like["bagging_freq"] == 0 and qlib_like["bagging_fraction"] == 0.8789
    assert create_model("lgbm", deterministic=False).lgb_params()["deterministic"] is False
    with pytest.raises(ConfigError, match="bagging_freq"):
        create_model("lgbm", bagging_freq=-1)


def test_dataset_is_float32_rows_released_after_binning(data):
    model = create_model("lgbm", **SMALL, seed=0)
    ds = model._dataset(data.with_rows(*TRAIN), model.lgb_params())
    n_rows = len(sample_index(data.with_rows(*TRAIN), require_label=True, label_col=0)[0])
    assert ds.num_data() == n_rows and ds.num_feature() == data.features.shape[2]
    assert ds.data is None  # free_raw_data: LightGBM keeps only its bins


@pytest.mark.parametrize("deterministic", [True, False])
def test_two_fits_give_identical_trees_and_scores(data, deterministic):
    def fit():
        m = create_model("lgbm", **SMALL, deterministic=deterministic, seed=7)
        m.fit(data.with_rows(*TRAIN), data.with_rows(*VALID))
        return m

    a, b = fit(), fit()
    assert a.booster.model_to_string() == b.booster.model_to_string()
    test = data.with_rows(*TEST)
    np.testing.assert_array_equal(a.predict(test), b.predict(test))
