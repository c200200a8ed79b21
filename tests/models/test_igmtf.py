"""IGMTF: learns a sequential toy signal, is deterministic, round-trips with its memory, and its
memory holds the training rows only (later days cannot change a fit or an earlier prediction)."""

import dataclasses

import numpy as np
import pytest
import torch

from seqalpha.dataset.toy import toy_sample_set
from seqalpha.errors import ConfigError, DataError
from seqalpha.models import create_model, load_model
from seqalpha.xsection import daily_ic

TRAIN, VALID, TEST = (0, 44), (44, 54), (54, 70)
FAST = {
    "threads": 1,
    "progress": False,
    "epochs": 4,
    "patience": 4,
    "lr": 3e-3,
    "seq_len": 6,
    "hidden_size": 16,
    "num_layers": 1,
    "k_day": 3,
    "n_neighbor": 5,
}


@pytest.fixture(scope="module")
def data():
    return toy_sample_set(T=70, N=40, signal="sequential", seed=2).with_rows(*TRAIN)


@pytest.fixture(scope="module")
def fitted(data):
    model = create_model("igmtf", **FAST)
    model.fit(data, data.with_rows(*VALID))
    return model


def test_learns_the_signal_and_round_trips_with_its_memory(fitted, data, tmp_path):
    scores = fitted.predict(data.with_rows(*TEST))
    assert scores.shape == (TEST[1] - TEST[0], 40)
    y = np.where(data.mask[TEST[0] : TEST[1]], data.labels[TEST[0] : TEST[1], :, 0], np.nan)
    assert np.nanmean(daily_ic(scores, y)) > 0.3
    assert np.isnan(scores[~data.with_rows(*TEST).available()]).all()
    # the memory: one mean state per training day with samples, all before the test range
    days = fitted.memory.day.numpy().astype("datetime64[D]")
    assert days.max() <= data.dates[TRAIN[1] - 1] and len(days) == TRAIN[1] - TRAIN[0]
    fitted.save(tmp_path / "ckpt")
    loaded = load_model(tmp_path / "ckpt")
    np.testing.assert_array_equal(loaded.predict(data.with_rows(*TEST)), scores)


def test_one_seed_gives_identical_predictions(data):
    runs = []
    for _ in range(2):
        model = create_model("igmtf", **{**FAST, "epochs": 1})
        model.fit(data.with_rows(0, 20))
        runs.append(model.predict(data.with_rows(*TEST)))
    np.testing.assert_array_equal(runs[0], runs[1])


def perturbed_after(data, t: int, seed: int = 9):
    """The same set with every feature and label of the days from t on replaced by noise."""
    rng = np.random.default_rng(seed)
    x, y = data.features.copy(), data.labels.copy()
    x[t:] = rng.standard_normal(x[t:].shape) * 5
    y[t:] = rng.standard_normal(y[t:].shape) * 5
    return dataclasses.replace(data, features=x, labels=y)


def test_later_days_change_neither_the_fit_nor_an_earlier_prediction(data):
    """Leakage: the memory is built from the training rows only."""
    fits = []
    for d in (data, perturbed_after(data, TRAIN[1])):
        model = create_model("igmtf", **{**FAST, "epochs": 2})
        model.fit(d)  # no valid set: nothing after the training rows is read
        fits.append(model)
    a, b = fits
    for k, v in a.memory.tensors().items():
        torch.testing.assert_close(v, b.memory.tensors()[k], rtol=0, atol=0)
    for k, v in a.net.state_dict().items():
        torch.testing.assert_close(v, b.net.state_dict()[k], rtol=0, atol=0)
    # the prediction of the first test day ignores every later day
    first = TEST[0]
    p = a.predict(data.with_rows(first, first + 1))
    q = a.predict(perturbed_after(data, first + 1).with_rows(first, first + 1))
    np.testing.assert_array_equal(p, q)


def test_params_and_missing_memory_are_one_line_errors(data):
    with pytest.raises(ConfigError, match="'batch' must be 'day'"):
        create_model("igmtf", batch="rows")
    with pytest.raises(ConfigError, match="k_day"):
        create_model("igmtf", k_day=0)
    model = create_model("igmtf", **FAST)
    with pytest.raises(DataError, match="before fit"):
        model.predict(data.with_rows(*TEST))
