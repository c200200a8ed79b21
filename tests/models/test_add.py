"""ADD: learns a sequential toy signal with all its parts on (adversarial heads, reconstruction,
self-distillation, market-swap augmentation), is deterministic, round-trips, and refuses
cross-sectionally normalised labels (it needs the day mean for the market label)."""

import dataclasses

import numpy as np
import pytest
import torch

from seqalpha.dataset.toy import toy_sample_set
from seqalpha.errors import ConfigError
from seqalpha.models import create_model, load_model
from seqalpha.models.add import ADDModel, ADDNet, StatesEncoder, reverse_grad
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
    "days_per_batch": 2,
}


@pytest.fixture(scope="module")
def data():
    return toy_sample_set(T=70, N=40, signal="sequential", seed=2).with_rows(*TRAIN)


def test_learns_with_every_part_on_and_round_trips(data, tmp_path):
    model = create_model("add", **FAST)
    model.fit(data, data.with_rows(*VALID))
    scores = model.predict(data.with_rows(*TEST))
    assert scores.shape == (TEST[1] - TEST[0], 40)
    y = np.where(data.mask[TEST[0] : TEST[1]], data.labels[TEST[0] : TEST[1], :, 0], np.nan)
    assert np.nanmean(daily_ic(scores, y)) > 0.3
    assert len(model.result.history) == 4 and model.teacher is None  # teacher freed after fit
    model.save(tmp_path / "ckpt")
    loaded = load_model(tmp_path / "ckpt")
    np.testing.assert_array_equal(loaded.predict(data.with_rows(*TEST)), scores)


def test_bf16_encoders_and_decoder_learn_and_reconstruct_in_float32(data):
    model = create_model("add", **FAST, precision="bf16")
    model.fit(data, data.with_rows(*VALID))
    scores = model.predict(data.with_rows(*TEST))
    y = np.where(data.mask[TEST[0] : TEST[1]], data.labels[TEST[0] : TEST[1], :, 0], np.nan)
    assert np.nanmean(daily_ic(scores, y)) > 0.3 and scores.dtype == np.float32
    f = data.features.shape[2]
    e, m = model.net.encode(torch.randn(5, 6, f))
    rec = model.net.decode(e, m)
    assert e.dtype == m.dtype == rec.dtype == torch.float32 and rec.shape == (5, 6, f)


def test_one_seed_gives_identical_predictions(data):
    runs = []
    for _ in range(2):
        model = create_model("add", **{**FAST, "epochs": 2})
        model.fit(data.with_rows(0, 20))
        runs.append(model.predict(data.with_rows(*TEST)))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.ones(3, requires_grad=True)
    y = reverse_grad(x, 0.25)
    assert torch.equal(y, x)
    (2 * y).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((3,), -0.5))


def test_augmentation_pairs_every_sample_with_another_day():
    model = create_model("add")
    model._rng = np.random.default_rng(0)
    t = np.array([3, 3, 3, 5, 5, 8])
    groups = [np.array([0, 1, 2]), np.array([3, 4]), np.array([5])]
    src, j = (v.numpy() for v in model._other_day(groups))
    np.testing.assert_array_equal(src, np.arange(6))
    assert (t[j] != t[src]).all()


def test_augmentation_of_a_share_draws_that_many_distinct_samples_each_with_another_day():
    model = create_model("add")
    model._rng = np.random.default_rng(1)
    t = np.repeat(np.arange(4), 50)
    groups = [np.flatnonzero(t == k) for k in range(4)]
    src, j = (v.numpy() for v in model._other_day(groups, 0.25))
    assert len(src) == 50 and len(np.unique(src)) == 50
    assert (t[j] != t[src]).all()
    assert len(np.unique(t[src])) > 1  # the share is drawn over the batch, not from one day


def test_normalised_labels_and_bad_params_are_one_line_errors(data):
    y = data.labels.copy()
    y -= np.nanmean(np.where(data.mask[:, :, None], y, np.nan), axis=1, keepdims=True)
    demeaned = dataclasses.replace(data, labels=y)
    with pytest.raises(ConfigError, match="needs raw labels"):
        create_model("add", **FAST).fit(demeaned)
    with pytest.raises(ConfigError, match="days_per_batch"):
        create_model("add", days_per_batch=1)
    with pytest.raises(ConfigError, match="distill"):
        create_model("add", distill=1.5)
    with pytest.raises(ConfigError, match="augment_share"):
        create_model("add", augment_share=2.0)
    assert isinstance(create_model("add", days_per_batch=1, augment=0.0), ADDModel)


def test_rows_batches_standardise_the_excess_target_over_the_whole_day(data):
    model = create_model("add", **{**FAST, "epochs": 1, "batch": "rows", "batch_size": 256})
    model.fit(data.with_rows(0, 30))
    y = np.where(data.mask, data.labels[:, :, 0], np.nan)[5]
    assert model.day_mean[5] == pytest.approx(np.nanmean(y), rel=1e-5)
    ok = np.isfinite(y)
    z = (y[ok] - np.nanmean(y)) / np.nanstd(y, ddof=1)
    np.testing.assert_allclose(model.excess[5, ok], z, rtol=1e-4)
    assert np.isfinite(
        model.predict(data.with_rows(*TEST))[data.with_rows(*TEST).available()]
    ).all()


def test_rank_target_learns_from_each_days_rank_norm_of_the_raw_label(data):
    model = create_model("add", **FAST, target="rank")
    model.fit(data, data.with_rows(*VALID))
    raw = np.where(data.mask, data.labels[:, :, 0], np.nan)[7]
    ok = np.isfinite(raw)
    pct = (np.argsort(np.argsort(raw[ok])) + 1) / ok.sum()  # no ties in a float label
    np.testing.assert_allclose(model.excess[7, ok], (pct - 0.5) * 3.46, rtol=1e-6)
    assert np.isnan(model.excess[7, ~ok]).all()
    scores = model.predict(data.with_rows(*TEST))
    y = np.where(data.mask[TEST[0] : TEST[1]], data.labels[TEST[0] : TEST[1], :, 0], np.nan)
    assert np.nanmean(daily_ic(scores, y)) > 0.3
    with pytest.raises(ConfigError, match="target"):
        create_model("add", target="minmax")


def test_representation_is_the_final_state_of_every_gru_layer():
    torch.manual_seed(0)
    enc = StatesEncoder(f=3, hidden=4, layers=2, dropout=0.0)
    x = torch.randn(5, 7, 3)
    rep = enc(x)
    out, h_n = enc.rnn(x)
    assert rep.shape == (5, 8)
    torch.testing.assert_close(rep[:, :4], h_n[0])  # first layer's final state
    torch.testing.assert_close(rep[:, 4:], out[:, -1])  # last layer's = the output's last step


def test_a_one_row_training_batch_passes_the_batch_norm_heads():
    torch.manual_seed(0)
    net = ADDNet(f=3, steps=7, hidden=4, layers=1, dropout=0.0, precision="fp32").train()
    e, _ = net.encode(torch.randn(1, 7, 3))
    assert torch.isfinite(net.pred_excess(e)).all()
