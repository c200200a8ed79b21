"""AdaRNN: periods found by TDC, distribution distances, boosted importance weights, step blocks
drawn one per period, and a small fit that learns, is deterministic and round-trips."""

import numpy as np
import pytest
import torch

from seqalpha.dataset.toy import toy_sample_set
from seqalpha.errors import ConfigError, DataError
from seqalpha.models import create_model, load_model
from seqalpha.models.adarnn import boost, distances, split_periods
from seqalpha.xsection import daily_ic

TRAIN, VALID, TEST = (0, 44), (44, 54), (54, 70)
FAST = {
    "threads": 1,
    "progress": False,
    "epochs": 5,
    "patience": 5,
    "lr": 3e-3,
    "seq_len": 6,
    "hidden_size": 16,
    "num_layers": 2,
    "batch_size": 200,
    "pre_epoch": 1,
}


@pytest.fixture(scope="module")
def data():
    return toy_sample_set(T=70, N=40, signal="sequential", seed=2).with_rows(*TRAIN)


def test_learns_boosts_its_weights_and_round_trips(data, tmp_path):
    model = create_model("adarnn", **FAST)
    model.fit(data, data.with_rows(*VALID))
    scores = model.predict(data.with_rows(*TEST))
    assert scores.shape == (TEST[1] - TEST[0], 40) and scores.dtype == np.float32
    y = np.where(data.mask[TEST[0] : TEST[1]], data.labels[TEST[0] : TEST[1], :, 0], np.nan)
    assert np.nanmean(daily_ic(scores, y)) > 0.3
    alpha = model.net.alpha
    torch.testing.assert_close(alpha.sum(dim=1), torch.ones(2))
    assert not torch.allclose(alpha, torch.full_like(alpha, 1 / 6))  # boosted after pre_epoch
    model.save(tmp_path / "ckpt")
    loaded = load_model(tmp_path / "ckpt")
    assert loaded.cuts == model.cuts
    np.testing.assert_array_equal(loaded.predict(data.with_rows(*TEST)), scores)


def test_gate_weighs_the_steps_while_pretraining_and_trains_with_the_network(data, tmp_path):
    model = create_model("adarnn", **{**FAST, "pre_alpha": "gate", "pre_epoch": 2, "epochs": 3})
    initial = {}
    build = model.build_net

    def build_and_remember(*args):
        net = build(*args)
        initial.update({k: v.clone() for k, v in net.gates.state_dict().items()})
        return net

    model.build_net = build_and_remember
    model.fit(data, data.with_rows(*VALID))
    net = model.net
    # the gate trained during pretraining: its linear map moved from its initial weights
    assert not torch.allclose(initial["0.0.weight"], net.gates[0][0].weight)
    # it gives a distribution over the 6 steps for two paired blocks of states, not a uniform one
    net.train()
    a, b = torch.randn(50, 6, 16), torch.randn(50, 6, 16) + 1.0
    w = net.gate_weights(0, a, b)
    assert w.shape == (6,)
    torch.testing.assert_close(w.sum(), torch.tensor(1.0))
    assert not torch.allclose(w, torch.full((6,), 1 / 6))
    # the gate is saved with the network: a reloaded model predicts the same
    scores = model.predict(data.with_rows(*TEST))
    model.save(tmp_path / "ckpt")
    reloaded = load_model(tmp_path / "ckpt")
    np.testing.assert_array_equal(reloaded.predict(data.with_rows(*TEST)), scores)
    y = np.where(data.mask[TEST[0] : TEST[1]], data.labels[TEST[0] : TEST[1], :, 0], np.nan)
    assert np.nanmean(daily_ic(scores, y)) > 0.3


def test_one_seed_gives_identical_predictions(data):
    runs = []
    for _ in range(2):
        model = create_model("adarnn", **{**FAST, "epochs": 2})
        model.fit(data)
        runs.append(model.predict(data.with_rows(*TEST)))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_tdc_cuts_where_the_inputs_change():
    rng = np.random.default_rng(0)
    stats = rng.normal(0.0, 0.1, (100, 3))
    stats[70:] += 1.0  # a regime change on day 70
    assert split_periods(stats, 2, "tdc") == [70]
    assert 70 in split_periods(stats, 3, "tdc")
    assert split_periods(stats, 2, "equal") == [50]
    with pytest.raises(DataError, match="cannot be cut into 4 periods"):
        split_periods(stats[:6], 4)


def test_distances_see_shifts_of_mean_and_of_spread():
    a = torch.randn(500, 4, 8)
    for kind in ("mmd", "coral", "cosine"):
        torch.testing.assert_close(distances(a, a, kind), torch.zeros(4), atol=1e-6, rtol=0)
    # every one of the 8 state dimensions moves by 1: squared distance of the means 8 per step
    torch.testing.assert_close(distances(a, a + 1.0, "mmd"), torch.full((4,), 8.0))
    torch.testing.assert_close(distances(a, a + 1.0, "coral"), torch.zeros(4), atol=1e-6, rtol=0)
    assert (distances(a, 3.0 * a, "coral") > 0).all()  # same mean, wider spread


def test_boosting_raises_the_weights_whose_distance_grew():
    alpha = torch.full((2, 4), 0.25)
    old = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    new = torch.tensor([[2.0, 1.0, 0.5, 1.0], [1.0, 1.0, 1.0, 1.0]])
    out = boost(alpha, old, new)
    torch.testing.assert_close(out.sum(dim=1), torch.ones(2))
    assert out[0, 0] > out[0, 1] == out[0, 2] == out[0, 3]
    torch.testing.assert_close(out[1], alpha[1])  # nothing grew: unchanged


def test_every_step_draws_one_block_from_each_period(data):
    model = create_model("adarnn", **{**FAST, "n_splits": 3, "batch_size": 90})
    model.cuts = [15, 30]
    batches = model.batches(data, True, np.random.default_rng(0))
    assert len(batches) >= 1
    for t, i in batches:
        assert len(t) == len(i) == 90
        assert (t[:30] < 15).all() and ((t[30:60] >= 15) & (t[30:60] < 30)).all()
        assert (t[60:] >= 30).all() and (t < TRAIN[1]).all()


def test_bad_params_are_one_line_errors():
    with pytest.raises(ConfigError, match="'batch' must be 'rows'"):
        create_model("adarnn", batch="day")
    with pytest.raises(ConfigError, match="'n_splits' must be an integer >= 2"):
        create_model("adarnn", n_splits=1)
    with pytest.raises(ConfigError, match="'distance'"):
        create_model("adarnn", distance="kl")
    with pytest.raises(ConfigError, match="'pre_alpha'"):
        create_model("adarnn", pre_alpha="learned")
