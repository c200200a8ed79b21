"""DoubleEnsemble: a small fit that learns, reproducible fits, save/load, the SR weights on a
hand-made loss curve, the fast loss curve against LightGBM's tree-by-tree predictions, and FS
dropping the bins of pure-noise features."""

from dataclasses import replace

import numpy as np
import pytest

from seqalpha.dataset.toy import toy_sample_set
from seqalpha.errors import ConfigError
from seqalpha.models import create_model, load_model
from seqalpha.models.double_ensemble import (
    cumulative_predictions,
    curve_ends,
    equal_width_bins,
    fs_select,
    loss_curve_ends,
    shuffle_delta,
    sr_weights,
    tree_arrays,
)
from seqalpha.models.losses import daily_ic

TRAIN, VALID, TEST = (0, 44), (44, 54), (54, 70)
SMALL = {
    "num_models": 3,
    "epochs": 15,
    "num_leaves": 8,
    "min_child_samples": 10,
    "num_threads": 1,
    "learning_rate": 0.1,
    "sample_ratios": [0.8, 0.7, 0.6, 0.5, 0.4],
}


@pytest.fixture(scope="module")
def data():
    # label = 0.6 x0 - 0.4 x1 + noise; x2..x7 are pure noise
    return toy_sample_set(T=70, N=40, F=8, signal="linear", seed=11)


@pytest.fixture(scope="module")
def fitted(data):
    model = create_model("double_ensemble", **SMALL, seed=3)
    model.fit(data.with_rows(*TRAIN), data.with_rows(*VALID))
    return model


def test_small_fit_learns_the_planted_signal(fitted, data):
    test = data.with_rows(*TEST)
    scores = fitted.predict(test)
    y = np.where(test.mask[TEST[0] : TEST[1]], test.labels[TEST[0] : TEST[1], :, 0], np.nan)
    assert float(np.nanmean(daily_ic(scores, y))) > 0.5  # chance: about +-0.04
    m = data.mask[TEST[0] : TEST[1]]
    assert scores.shape == m.shape and np.isnan(scores[~m]).all()
    assert len(fitted.boosters) == 3
    # feature selection ran: every later sub-model still sees both signal features
    for names in fitted.selected_features()[1:]:
        assert {"x0", "x1"} <= set(names)


def test_same_seed_gives_identical_predictions_and_save_load_round_trips(fitted, data, tmp_path):
    again = create_model("double_ensemble", **SMALL, seed=3)
    again.fit(data.with_rows(*TRAIN), data.with_rows(*VALID))
    test = data.with_rows(*TEST)
    np.testing.assert_array_equal(again.predict(test), fitted.predict(test))
    assert [f.tolist() for f in again.features] == [f.tolist() for f in fitted.features]
    fitted.save(tmp_path / "de")
    loaded = load_model(tmp_path / "de")
    np.testing.assert_array_equal(loaded.predict(test), fitted.predict(test))
    assert loaded.selected_features() == fitted.selected_features()


def test_sr_weights_on_a_toy_loss_curve():
    # 4 samples, 10 iterations. Sample 0: hard (large loss, stays large relative to others);
    # sample 3: easy (its loss falls to the smallest). Ranks per iteration are exact here.
    curve = np.array(
        [
            [4.0] * 10,  # always the largest loss
            [3.0] * 10,
            [1.0] * 5 + [2.0] * 5,  # relatively worse by the end: ratio l_end / l_start > 1
            [2.0] * 5 + [1.0] * 5,  # relatively better by the end
        ]
    )
    l_start, l_end = curve_ends(curve)  # part = 1 iteration at each end
    np.testing.assert_allclose(l_start, [1.0, 0.75, 0.25, 0.5])
    np.testing.assert_allclose(l_end, [1.0, 0.75, 0.5, 0.25])
    loss = np.array([4.0, 3.0, 2.0, 1.0])  # the ensemble's loss per sample
    w = sr_weights(l_start, l_end, loss, k=1, alpha1=1.0, alpha2=1.0, bins=2, decay=0.5)
    # h1 = rank(-loss) = [.25, .5, .75, 1]; h2 = rank(l_end / l_start) = [.625, .625, 1, .25]
    h = np.array([0.875, 1.125, 1.75, 1.25])
    # two equal-width bins over [0.875, 1.75]: {0.875, 1.125, 1.25} and {1.75}
    low = h[[0, 1, 3]].mean()
    expected = 1.0 / (0.5 * np.array([low, low, 1.75, low]) + 0.1)
    np.testing.assert_allclose(w, expected)
    # the noisy sample (loss fell least, relatively) weighs least; decay raises later weights
    assert w.argmin() == 2
    assert (sr_weights(l_start, l_end, loss, 3, bins=2, decay=0.5) > w).all()


def test_equal_width_bins_are_closed_on_the_right():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(equal_width_bins(x, 4), [0, 0, 1, 2, 3])
    np.testing.assert_array_equal(equal_width_bins(np.ones(3), 5), [0, 0, 0])


def test_loss_curve_from_leaves_matches_tree_by_tree_predictions(fitted, data):
    from seqalpha.dataset.tabular import tabular

    X, y, _ = tabular(data.with_rows(*TRAIN), train=True, label_col=0)
    booster, Xk = fitted.boosters[0], X[:, fitted.features[0]]
    y = y[:, 0].astype(np.float64)
    T = booster.num_trees()
    explicit = np.zeros((len(y), T))
    pred = np.zeros(len(y))
    for t in range(T):
        pred += booster.predict(Xk, start_iteration=t, num_iteration=1)
        explicit[:, t] = (y - pred) ** 2
    fast = [c.copy() for c in cumulative_predictions(booster, Xk, T)]
    np.testing.assert_allclose(fast[-1], booster.predict(Xk), rtol=1e-9, atol=1e-9)
    for a, b in zip(loss_curve_ends(booster, Xk, y, T), curve_ends(explicit), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_shuffled_predictions_walk_the_trees_as_lightgbm_does(fitted, data):
    # the FS kernel's change of a sub-model's prediction when a column is permuted equals
    # LightGBM's own predictions on a permuted copy (NaN inputs included: toy features have 1%)
    from seqalpha.dataset.tabular import tabular

    X, _, _ = tabular(data.with_rows(*TRAIN), train=True, label_col=0)
    X[::7, 1] = 0.0  # zeros and NaN both present
    assert np.isnan(X).any()
    for s in (0, 2):
        booster, cols = fitted.boosters[s], fitted.features[s]
        arrs = tree_arrays(booster, cols, X)
        base = booster.predict(X[:, cols])
        for f in (0, 1, 5):
            perm = np.random.default_rng(f).permutation(len(X))
            Xp = X.copy()
            Xp[:, f] = X[perm, f]
            want = booster.predict(Xp[:, cols]) - base
            np.testing.assert_allclose(shuffle_delta(arrs, X, f, perm), want, atol=1e-9)


def test_fs_drops_the_bins_of_pure_noise_features(data):
    # a ratio of 0 for the lowest bins: the features whose shuffling costs nothing are dropped
    model = create_model(
        "double_ensemble",
        **{**SMALL, "num_models": 2, "bins_fs": 3, "sample_ratios": [1.0, 1.0, 0.0]},
        seed=0,
    )
    model.fit(data.with_rows(*TRAIN))
    first = model.selected_features()
    assert len(first[0]) == 8
    assert {"x0", "x1"} <= set(first[1])
    assert len(first[1]) < 8  # noise features x2..x7 fell into the dropped bin
    # fs_select alone: noise g-values near 0, signal ones far above
    g = np.array([5.0, 3.0, 0.02, -0.01, 0.0, 0.01])
    kept = fs_select(g, 3, [1.0, 1.0, 0.0], np.random.default_rng(0))
    np.testing.assert_array_equal(kept, [0, 1])


def test_sample_weights_of_the_set_scale_every_sub_models_weights(data):
    # half of the training days get pure-noise labels and weight 0: the weighted fit ignores them
    noisy = toy_sample_set(T=70, N=40, F=8, signal="linear", seed=11)
    bad = np.zeros(70, dtype=bool)
    bad[0:44:2] = True
    noisy.labels[bad] = np.random.default_rng(0).standard_normal(noisy.labels[bad].shape)
    weights = np.where(bad[:, None], 0.0, 1.0).astype(np.float32) * np.ones((1, 40), np.float32)
    params = {**SMALL, "num_models": 2}
    plain = create_model("double_ensemble", **params, seed=1)
    plain.fit(noisy.with_rows(*TRAIN))
    weighted = create_model("double_ensemble", **params, seed=1)
    weighted.fit(replace(noisy, weights=weights).with_rows(*TRAIN))
    from seqalpha.dataset.tabular import sample_index

    t, i = sample_index(noisy.with_rows(*TRAIN), require_label=True, label_col=0)
    np.testing.assert_array_equal(weighted.sample_weights[0], weights[t, i])
    assert (weighted.sample_weights[1][weighted.sample_weights[0] == 0] == 0).all()
    test = data.with_rows(*TEST)
    y = np.where(test.mask[TEST[0] : TEST[1]], test.labels[TEST[0] : TEST[1], :, 0], np.nan)
    ic_w = np.nanmean(daily_ic(weighted.predict(test), y))
    ic_p = np.nanmean(daily_ic(plain.predict(test), y))
    assert ic_w > ic_p


def test_params_are_checked_with_one_line_errors():
    with pytest.raises(ConfigError, match="sample_ratios"):
        create_model("double_ensemble", bins_fs=3)
    with pytest.raises(ConfigError, match="sub_weights"):
        create_model("double_ensemble", num_models=2, sub_weights=[1.0])
    with pytest.raises(ConfigError, match="decay"):
        create_model("double_ensemble", decay=0.0)
