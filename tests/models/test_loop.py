"""The one training loop: determinism, early stopping with best-checkpoint restore, checkpoints,
losses and per-day metrics on hand-made inputs."""

import numpy as np
import pytest
import torch

from seqalpha.dataset.toy import toy_sample_set
from seqalpha.errors import ConfigError, DataError
from seqalpha.models import create_model, load_model, losses
from seqalpha.models.checkpoint import load_checkpoint, save_checkpoint
from seqalpha.models.loop import LoopConfig

FAST = {
    "threads": 1,
    "progress": False,
    "epochs": 4,
    "seq_len": 5,
    "hidden_size": 8,
    "num_layers": 1,
}


@pytest.fixture(scope="module")
def data():
    return toy_sample_set(T=50, N=30, signal="sequential", seed=7)


def _fit(data, **kw):
    model = create_model("gru", **{**FAST, **kw})
    model.fit(data.with_rows(0, 30), data.with_rows(30, 40))
    return model


def test_same_seed_gives_bit_identical_predictions(data):
    a = _fit(data, seed=11, dropout=0.2, max_stocks=20).predict(data.with_rows(40, 50))
    b = _fit(data, seed=11, dropout=0.2, max_stocks=20).predict(data.with_rows(40, 50))
    c = _fit(data, seed=12, dropout=0.2, max_stocks=20).predict(data.with_rows(40, 50))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c, equal_nan=True)


def test_early_stopping_restores_the_best_epoch(data):
    model = _fit(data, epochs=6, patience=10, early_stop_metric="ic", lr=0.05)
    hist = [h["valid_ic"] for h in model.result.history]
    assert model.result.best_epoch == int(np.argmax(hist))
    # the restored weights reproduce the best epoch's valid IC, not the last epoch's
    valid = data.with_rows(30, 40)
    again = losses.signal_metric("ic", model.predict(valid), model.metric_labels(valid))
    assert again == pytest.approx(max(hist), abs=1e-6)


def test_patience_stops_when_the_metric_stops_improving(data):
    model = _fit(data, epochs=30, patience=2, lr=1e-12)  # weights (hence the metric) never move
    assert len(model.result.history) == 3 and model.result.best_epoch == 0


@pytest.mark.parametrize("metric", ["rank_ic", "icir", "loss"])
def test_other_early_stop_metrics(data, metric):
    model = _fit(data, epochs=2, early_stop_metric=metric)
    assert f"valid_{metric}" in model.result.history[0]


def test_ic_and_weighted_losses_train(data):
    for kw in ({"loss": "ic"}, {"loss": "wmse", "label_weights": [1.0, 0.2]}):
        model = _fit(data, epochs=2, **kw)
        assert np.isfinite(model.result.history[-1]["train_loss"])


def test_bad_loop_settings_are_config_errors():
    with pytest.raises(ConfigError, match="early_stop_metric"):
        LoopConfig(early_stop_metric="sharpe")
    with pytest.raises(ConfigError, match="threads"):
        LoopConfig(threads=0)


def test_fit_without_labels_is_a_data_error(data):
    with pytest.raises(DataError, match="labelled"):
        create_model("gru", **FAST).fit(data.without_labels().with_rows(0, 30))


def test_checkpoint_round_trip_is_tensor_only(tmp_path):
    state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    save_checkpoint(tmp_path, state, {"name": "gru", "params": {"hidden_size": np.int64(8)}})
    got, cfg = load_checkpoint(tmp_path)
    assert torch.equal(got["w"], state["w"]) and cfg["params"]["hidden_size"] == 8
    with pytest.raises(DataError, match=r"weights\.pt"):
        load_checkpoint(tmp_path / "nowhere")


def test_a_checkpoint_without_a_model_name_is_refused(tmp_path):
    save_checkpoint(tmp_path, {"w": torch.zeros(2)}, {"epoch": 3})
    with pytest.raises(DataError, match="does not name a registered model"):
        load_checkpoint(tmp_path)


# ------------------------------------------------------------------ losses and metrics


def test_daily_ic_is_exactly_plus_minus_one_on_hand_made_days():
    s = np.array([[1.0, 2.0, 3.0, np.nan], [1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0]])
    y = np.array([[2.0, 4.0, 6.0, 9.0], [4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    ic = losses.daily_ic(s, y)
    np.testing.assert_allclose(ic[:2], [1.0, -1.0])
    assert np.isnan(ic[2])  # constant scores: undefined, not 0
    np.testing.assert_allclose(
        losses.daily_rank_ic(np.array([[1.0, 5.0, 9.0]]), np.array([[1.0, 2.0, 100.0]])), [1.0]
    )


def test_icir_and_signal_metric():
    ic = np.array([0.1, 0.3, np.nan, 0.2])
    assert losses.icir(ic) == pytest.approx(0.2 / np.std([0.1, 0.3, 0.2], ddof=1))
    with pytest.raises(ConfigError, match="sharpe"):
        losses.signal_metric("sharpe", np.zeros((2, 2)), np.zeros((2, 2)))


def test_ic_loss_is_minus_mean_daily_pearson():
    rng = np.random.default_rng(0)
    p, y = rng.standard_normal(20), rng.standard_normal(20)
    day = np.repeat([0, 1], 10)
    want = -np.mean([np.corrcoef(p[day == d], y[day == d])[0, 1] for d in (0, 1)])
    got = losses.ic_loss(torch.tensor(p, dtype=torch.float64), torch.tensor(y), torch.tensor(day))
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_mse_ignores_missing_labels_and_weights_scale_columns():
    pred = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    y = torch.tensor([[0.0, float("nan")], [0.0, 2.0]])
    assert float(losses.mse(pred, y)) == pytest.approx((1 + 4 + 4) / 3)
    w = torch.tensor([1.0, 3.0])
    assert float(losses.weighted_mse(pred, y, w)) == pytest.approx((1 + 4 + 3 * 4) / 5)


def test_best_epoch_checkpoint_is_a_model_checkpoint(data, tmp_path):
    model = _fit(data, epochs=3, checkpoint_dir=str(tmp_path / "best"))
    state, meta = load_checkpoint(tmp_path / "best")
    assert meta["name"] == "gru" and meta["training"]["epoch"] == model.result.best_epoch
    for k, v in model.net.state_dict().items():
        assert torch.equal(state[k], v), k
    # the same reader as a final model: the best epoch predicts like the fitted model
    test = data.with_rows(40, 50)
    best = load_model(tmp_path / "best")
    np.testing.assert_array_equal(best.predict(test), model.predict(test))
    model.save(tmp_path / "final")
    final_state, final_meta = load_checkpoint(tmp_path / "final")
    assert set(final_state) == set(state) and final_meta["extra"] == meta["extra"]
