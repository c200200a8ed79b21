"""deep_factor: an MLP on factor exposures trained by the one loop; LRP relevance from captum
conserves the score (epsilon rule, no biases) and puts the planted factors first."""

import numpy as np
import pytest

from seqalpha.dataset.toy import toy_sample_set
from seqalpha.errors import ConfigError
from seqalpha.models import create_model, load_model
from seqalpha.models.losses import daily_ic

TRAIN, VALID, TEST = (0, 44), (44, 54), (54, 70)
FAST = {
    "threads": 1,
    "progress": False,
    "epochs": 8,
    "lr": 3e-3,
    "hidden_sizes": [32, 16],
    "batch_size": 256,
}


@pytest.fixture(scope="module")
def data():
    # label = 0.6 x0 - 0.4 x1 + noise; x2..x7 are noise
    return toy_sample_set(T=70, N=40, F=8, signal="linear", seed=1)


@pytest.fixture(scope="module")
def fitted(data):
    model = create_model("deep_factor", **FAST, seed=5)
    model.fit(data.with_rows(*TRAIN), data.with_rows(*VALID))
    return model


def _ic(model, data) -> float:
    test = data.with_rows(*TEST)
    y = np.where(test.mask[TEST[0] : TEST[1]], test.labels[TEST[0] : TEST[1], :, 0], np.nan)
    return float(np.nanmean(daily_ic(model.predict(test), y)))


def test_small_fit_learns_and_is_reproducible(fitted, data):
    assert _ic(fitted, data) > 0.5  # chance: about +-0.04
    again = create_model("deep_factor", **FAST, seed=5)
    again.fit(data.with_rows(*TRAIN), data.with_rows(*VALID))
    test = data.with_rows(*TEST)
    np.testing.assert_array_equal(again.predict(test), fitted.predict(test))


def test_save_load_round_trip(fitted, data, tmp_path):
    fitted.save(tmp_path / "df")
    loaded = load_model(tmp_path / "df")
    test = data.with_rows(*TEST)
    np.testing.assert_array_equal(loaded.predict(test), fitted.predict(test))
    rel_a, _, _ = fitted.relevance(test)
    rel_b, _, _ = loaded.relevance(test)
    np.testing.assert_array_equal(rel_a, rel_b)


def test_lrp_relevance_conserves_the_score_without_biases(fitted, data):
    test = data.with_rows(*TEST)
    rel, score, (t, i) = fitted.relevance(test)
    assert rel.shape == (len(t), 8)
    # the scores explained are the model's predictions, cell by cell
    np.testing.assert_array_equal(score, fitted.predict(test)[t - TEST[0], i])
    np.testing.assert_allclose(rel.sum(axis=1), score, rtol=1e-4, atol=1e-5)
    # the planted factors carry the relevance
    order = np.argsort(-np.abs(rel).mean(axis=0))
    assert set(order[:2]) == {0, 1}


def test_with_biases_the_remainder_is_what_the_biases_absorb(data):
    model = create_model("deep_factor", **{**FAST, "epochs": 2, "bias": True}, seed=0)
    model.fit(data.with_rows(*TRAIN), data.with_rows(*VALID))
    rel, score, _ = model.relevance(data.with_rows(*TEST))
    # zeroing the biases of the fitted net restores conservation exactly
    import torch

    with torch.no_grad():
        for layer in model.net:
            if isinstance(layer, torch.nn.Linear):
                layer.bias.zero_()
    rel0, score0, _ = model.relevance(data.with_rows(*TEST))
    np.testing.assert_allclose(rel0.sum(axis=1), score0, rtol=1e-4, atol=1e-5)
    assert np.abs(rel.sum(axis=1) - score).max() > 1e-3  # the biases did absorb some


def test_params_are_checked():
    with pytest.raises(ConfigError, match="head"):
        create_model("deep_factor", head="classification")
    with pytest.raises(ConfigError, match="input_kind"):
        create_model("deep_factor", input_kind="daily_seq")
    with pytest.raises(ConfigError, match="hidden_sizes"):
        create_model("deep_factor", hidden_sizes=[])
