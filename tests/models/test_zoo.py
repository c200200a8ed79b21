"""Every registered model fits a tiny planted signal through the one interface.

Threshold: test IC > 0.3. The toy labels are a standardised signal plus N(0, 0.5^2) noise, so the
oracle IC is about 0.9, while a chance model's mean IC over 16 test days of ~36 stocks has a
standard deviation of about 1 / sqrt(36 * 16) = 0.04: 0.3 is more than 7 sigma above chance.
"""

import numpy as np
import pytest

from seqalpha.dataset.toy import toy_sample_set
from seqalpha.errors import ConfigError
from seqalpha.models import MODELS, create_model, load_model
from seqalpha.models.losses import daily_ic

TRAIN, VALID, TEST = (0, 44), (44, 54), (54, 70)
FAST = {"threads": 1, "progress": False, "epochs": 8, "lr": 3e-3, "patience": 4}
SEQ = {**FAST, "seq_len": 6}

PARAMS = {
    "linear": {},
    "lgbm": {"n_estimators": 60, "num_leaves": 8, "num_threads": 1, "min_child_samples": 10},
    "extra_trees": {"n_estimators": 20, "n_jobs": 1, "min_samples_leaf": 10},
    "ridge_et_regime": {"n_estimators": 20, "n_jobs": 1, "min_samples_leaf": 10},
    "mlp": {**FAST, "hidden_sizes": [32]},
    "gru": {**SEQ, "hidden_size": 16, "num_layers": 1},
    "lstm": {**SEQ, "hidden_size": 16, "num_layers": 1},
    "alstm": {**SEQ, "hidden_size": 16, "num_layers": 1},
    "gru_self_attention": {**SEQ, "hidden_size": 16, "num_heads": 2},
    "transformer": {**SEQ, "d_model": 16, "num_heads": 2, "num_layers": 1, "dim_feedforward": 32},
    "tcn": {**SEQ, "channels": [16, 16], "kernel_size": 3},
    "localformer": {**SEQ, "d_model": 16, "num_heads": 2, "num_layers": 1, "dim_feedforward": 32},
    "krnn": {**SEQ, "cnn_dim": 8, "hidden_size": 16, "num_layers": 1, "rnn_dups": 2},
    "tra": {**SEQ, "hidden_size": 16, "num_layers": 1, "num_states": 2, "hist_len": 4},
}


@pytest.fixture(scope="module")
def linear_set():
    return toy_sample_set(T=70, N=40, signal="linear", seed=1)


@pytest.fixture(scope="module")
def seq_set():
    return toy_sample_set(T=70, N=40, signal="sequential", seed=2)


def test_the_whole_zoo_is_registered():
    assert set(PARAMS) <= set(MODELS)


def _test_ic(model, data) -> tuple[float, np.ndarray]:
    test = data.with_rows(*TEST)
    scores = model.predict(test)
    y = np.where(test.mask[TEST[0] : TEST[1]], test.labels[TEST[0] : TEST[1], :, 0], np.nan)
    return float(np.nanmean(daily_ic(scores, y))), scores


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_model_learns_planted_signal_and_round_trips(name, linear_set, seq_set, tmp_path):
    model = create_model(name, **PARAMS[name])
    data = linear_set if model.input_kind == "tabular" else seq_set
    model.fit(data.with_rows(*TRAIN), data.with_rows(*VALID))
    ic, scores = _test_ic(model, data)
    assert ic > 0.3, f"{name}: test IC {ic:.3f}"
    # alignment: [t1 - t0, N], NaN exactly outside the mask
    test_mask = data.mask[TEST[0] : TEST[1]]
    assert scores.shape == test_mask.shape and scores.dtype == np.float32
    assert np.isnan(scores[~test_mask]).all() and np.isfinite(scores[test_mask]).all()
    # save / load round trip gives identical predictions
    model.save(tmp_path / name)
    again = load_model(tmp_path / name)
    np.testing.assert_array_equal(again.predict(data.with_rows(*TEST)), scores)


def test_sequence_model_beats_tabular_on_a_sequential_signal(seq_set):
    # the label depends on 5 days of history: a GRU over 6 days must beat today's-features OLS
    gru = create_model("gru", **PARAMS["gru"])
    gru.fit(seq_set.with_rows(*TRAIN), seq_set.with_rows(*VALID))
    lin = create_model("linear")
    lin.fit(seq_set.with_rows(*TRAIN))
    assert _test_ic(gru, seq_set)[0] > _test_ic(lin, seq_set)[0] + 0.15


def test_intraday_gru_reads_bars():
    data = toy_sample_set(T=70, N=40, signal="intraday", bars=4, bar_fields=2, seed=3)
    model = create_model(
        "gru",
        **{**SEQ, "seq_len": 2, "input_kind": "intraday_seq", "hidden_size": 16, "num_layers": 1},
    )
    model.fit(data.with_rows(*TRAIN), data.with_rows(*VALID))
    assert model.step_shape == (8, 2)  # 2 days x 4 bars, 2 fields per bar
    assert _test_ic(model, data)[0] > 0.3


def test_classification_head_scores_expected_class_value(seq_set, tmp_path):
    model = create_model(
        "gru", **{**PARAMS["gru"], "head": "classification", "bins": [-1.0, -0.3, 0.3, 1.0]}
    )
    model.fit(seq_set.with_rows(*TRAIN), seq_set.with_rows(*VALID))
    ic, scores = _test_ic(model, seq_set)
    assert ic > 0.3
    ok = np.isfinite(scores)
    assert scores[ok].min() >= -2 and scores[ok].max() <= 2  # within the class values -2..2
    model.save(tmp_path / "cls")
    np.testing.assert_array_equal(
        load_model(tmp_path / "cls").predict(seq_set.with_rows(*TEST)), scores
    )


def test_multi_horizon_head_has_one_output_per_label(seq_set):
    model = create_model("mlp", **{**FAST, "hidden_sizes": [8], "epochs": 1})
    model.fit(seq_set.with_rows(*TRAIN), None)
    assert model.net.head.out_features == seq_set.labels.shape[2]
    one = create_model("mlp", **{**FAST, "hidden_sizes": [8], "epochs": 1, "multi_label": False})
    one.fit(seq_set.with_rows(*TRAIN), None)
    assert one.net.head.out_features == 1


@pytest.mark.parametrize("pos", ["sinusoidal", "learnable"])
def test_transformer_positional_encodings(pos, seq_set):
    model = create_model("transformer", **{**PARAMS["transformer"], "pos_encoding": pos})
    model.fit(seq_set.with_rows(*TRAIN), seq_set.with_rows(*VALID))
    names = dict(model.net.named_parameters())
    assert ("encoder.pos" in names) == (pos == "learnable")
    assert _test_ic(model, seq_set)[0] > 0.3


def test_alpha360_column_layout_feeds_steps():
    # 4 fields x 5 lags stored field-major like Alpha360; the label reads field 0 at lag 0
    data = toy_sample_set(T=70, N=40, F=20, signal="linear", seed=4)
    model = create_model(
        "gru", **{**SEQ, "seq_layout": "columns", "n_fields": 4, "hidden_size": 16, "num_layers": 1}
    )
    model.fit(data.with_rows(*TRAIN), data.with_rows(*VALID))
    assert model.step_shape == (5, 4)
    assert _test_ic(model, data)[0] > 0.3


def test_unknown_or_invalid_params_are_config_errors_naming_them():
    with pytest.raises(ConfigError, match="hiden_size"):
        create_model("gru", hiden_size=8)
    with pytest.raises(ConfigError, match="num_leaves"):
        create_model("lgbm", num_leaves="many")
    with pytest.raises(ConfigError, match="pos_encoding"):
        create_model("transformer", pos_encoding="rotary")
    with pytest.raises(ConfigError, match="device"):
        create_model("gru", device="cuda")
    with pytest.raises(ConfigError, match="unknown model"):
        create_model("gpt5")


def test_regime_blend_weights_trees_more_in_turbulent_days():
    data = toy_sample_set(T=70, N=40, signal="linear", seed=5)
    # turbulent second half: a common market move of growing size added to every label
    shock = np.where(np.arange(70) >= 35, 3.0, 0.05) * np.random.default_rng(0).standard_normal(70)
    data.labels[:, :, 0] += shock[:, None].astype(np.float32)
    model = create_model("ridge_et_regime", **PARAMS["ridge_et_regime"])
    model.fit(data.with_rows(0, 70))
    w = model.tree_weight(data.with_rows(0, 70))
    assert w[45:].mean() > 0.6 and w[10:30].mean() < 0.4
    # the weight at t only uses labels up to t - label_delay: changing later labels changes nothing
    before = model.tree_weight(data.with_rows(20, 30))
    data.labels[29:, :, 0] = 100.0
    np.testing.assert_array_equal(model.tree_weight(data.with_rows(20, 30)), before)


def test_missing_inputs_give_nan_scores(linear_set):
    data = toy_sample_set(T=70, N=40, signal="linear", seed=1)
    data.features[60, 3, :] = np.nan
    data.mask[60, 3] = True
    for name in ("linear", "mlp"):
        model = create_model(name, **PARAMS[name])
        model.fit(data.with_rows(*TRAIN), data.with_rows(*VALID))
        scores = model.predict(data.with_rows(*TEST))
        assert np.isnan(scores[60 - TEST[0], 3]), name


def test_sinkhorn_plan_has_uniform_predictor_marginals():
    import torch

    from seqalpha.models.torch_models import sinkhorn

    cost = torch.rand(60, 3, generator=torch.Generator().manual_seed(0))
    cost[:, 0] -= 0.5  # predictor 0 is best for everybody: OT must still spread the samples
    plan = sinkhorn(cost, epsilon=0.1, iters=50)
    torch.testing.assert_close(plan.sum(dim=1), torch.ones(60))
    torch.testing.assert_close(plan.sum(dim=0), torch.full((3,), 20.0), rtol=0.02, atol=0.2)


@pytest.mark.parametrize("memory", ["sample", "market"])
def test_tra_router_reads_only_labels_already_known(seq_set, memory):
    model = create_model(
        "tra",
        **{**PARAMS["tra"], "epochs": 2, "history_delay": 2, "memory": memory, "days_per_batch": 4},
    )
    model.fit(seq_set.with_rows(*TRAIN), seq_set.with_rows(*VALID))
    before = model.predict(seq_set.with_rows(*TEST))
    changed = toy_sample_set(T=70, N=40, signal="sequential", seed=2)
    k = TEST[0] + 5
    changed.labels[k:] = -changed.labels[k:]  # rewrite labels from date k on
    after = model.predict(changed.with_rows(*TEST))
    # scores up to date k + delay - 1 may only use labels of dates <= k - 1: unchanged
    np.testing.assert_array_equal(after[: k + 2 - TEST[0]], before[: k + 2 - TEST[0]])
    assert not np.array_equal(after, before, equal_nan=True)  # the router does read the history


def test_tra_history_delay_follows_the_label_reach_and_refuses_a_shorter_one(seq_set):
    from dataclasses import replace

    reach5 = replace(seq_set, label_reach=5)
    model = create_model("tra", **{**PARAMS["tra"], "epochs": 1})
    model.fit(reach5.with_rows(*TRAIN), reach5.with_rows(*VALID))
    assert model.delay == 5
    model.predict(reach5.with_rows(*TEST))
    assert model.delay == 5
    short = create_model("tra", **{**PARAMS["tra"], "epochs": 1, "history_delay": 2})
    with pytest.raises(ConfigError, match=r"history_delay.*label reach"):
        short.fit(reach5.with_rows(*TRAIN), reach5.with_rows(*VALID))


def test_row_batches_train_a_gru_and_refuse_the_per_day_ic_loss(seq_set):
    model = create_model("gru", **{**PARAMS["gru"], "batch": "rows", "batch_size": 128})
    model.fit(seq_set.with_rows(*TRAIN), seq_set.with_rows(*VALID))
    ic, _ = _test_ic(model, seq_set)
    assert ic > 0.3
    with pytest.raises(ConfigError, match="batch='day'"):
        create_model("gru", **{**PARAMS["gru"], "batch": "rows", "loss": "ic"})


@pytest.mark.parametrize("name", ["gru", "tra"])
def test_bf16_encoder_learns_is_deterministic_and_round_trips(name, seq_set, tmp_path):
    params = {**PARAMS[name], "precision": "bf16"}
    model = create_model(name, **params)
    model.fit(seq_set.with_rows(*TRAIN), seq_set.with_rows(*VALID))
    ic, scores = _test_ic(model, seq_set)
    assert ic > 0.3 and scores.dtype == np.float32
    again = create_model(name, **params)
    again.fit(seq_set.with_rows(*TRAIN), seq_set.with_rows(*VALID))
    np.testing.assert_array_equal(_test_ic(again, seq_set)[1], scores)
    model.save(tmp_path / "m")
    np.testing.assert_array_equal(_test_ic(load_model(tmp_path / "m"), seq_set)[1], scores)
    fp32 = create_model(name, **PARAMS[name])
    fp32.fit(seq_set.with_rows(*TRAIN), seq_set.with_rows(*VALID))
    assert not np.array_equal(_test_ic(fp32, seq_set)[1], scores)  # bf16 really ran


def test_tra_market_memory_needs_several_days_per_batch():
    with pytest.raises(ConfigError, match="days_per_batch"):
        create_model("tra", **{**PARAMS["tra"], "memory": "market"})
    create_model("tra", **{**PARAMS["tra"], "memory": "market", "batch": "rows"})


@pytest.mark.parametrize("name", ["localformer", "krnn"])
def test_one_seed_gives_identical_predictions(name, seq_set):
    runs = []
    for _ in range(2):
        model = create_model(name, **{**PARAMS[name], "epochs": 2})
        model.fit(seq_set.with_rows(*TRAIN), seq_set.with_rows(*VALID))
        runs.append(_test_ic(model, seq_set)[1])
    np.testing.assert_array_equal(runs[0], runs[1])


def test_krnn_averages_its_gru_copies_over_one_convolution():
    import torch

    from seqalpha.models.nets import KRNNEncoder

    torch.manual_seed(0)
    enc = KRNNEncoder(f=3, cnn_dim=4, kernel=3, hidden=5, layers=1, dups=3, dropout=0.0)
    x = torch.randn(7, 6, 3)
    c = enc.conv(x.transpose(1, 2)).transpose(1, 2)
    assert c.shape == (7, 6, 4)  # same length
    each = [rnn(c)[0][:, -1] for rnn in enc.rnns]
    torch.testing.assert_close(enc(x), (each[0] + each[1] + each[2]) / 3)
    assert not torch.allclose(each[0], each[1])  # independent copies


def test_localformer_and_krnn_refuse_impossible_shapes():
    with pytest.raises(ConfigError, match="d_model"):
        create_model("localformer", d_model=10, num_heads=4)
    with pytest.raises(ConfigError, match="cnn_kernel_size"):
        create_model("krnn", cnn_kernel_size=4)
