"""The on-disk feature store: its format and block I/O, features written into it by the engine,
and a walk-forward from the store giving the same predictions as in memory."""

from __future__ import annotations

import dataclasses
import pickle
import warnings

import numpy as np
import polars as pl
import pytest

from seqalpha.config import config_from_dict
from seqalpha.errors import DataError
from seqalpha.features.store import FeatureStore
from seqalpha.train.executors import LocalExecutor, ProcessExecutor
from seqalpha.train.inputs import Inputs, build_inputs, use_store
from seqalpha.train.splits import make_windows
from seqalpha.train.walkforward import walk_forward
from seqalpha.train.window import train_spec


def small_store(tmp_path, T=9, N=7, F=3):
    dates = np.arange("2024-01-01", T, dtype="datetime64[D]")
    inst = np.array([f"S{i}" for i in range(N)])
    x = np.random.default_rng(0).normal(size=(T, N, F)).astype(np.float32)
    x[2, 3, 1] = np.nan
    store = FeatureStore.create(tmp_path / "s", dates, inst, ["a", "b", "c"])
    return store, x


def test_blocks_written_by_time_and_by_instrument_read_back_as_an_array(tmp_path):
    store, x = small_store(tmp_path)
    store.write(0, x[:, :, 0])  # whole plane
    store.write(1, x[:4, :, 1], t0=0)  # time blocks
    store.write(1, x[4:, :, 1], t0=4)
    store.write(2, x[:, :3, 2], n0=0)  # instrument blocks
    store.write(2, x[:, 3:, 2], n0=3)
    assert store.shape == x.shape and store.ndim == 3
    np.testing.assert_array_equal(store.to_array(), x)
    np.testing.assert_array_equal(store[2:5], x[2:5])
    np.testing.assert_array_equal(store[3], x[3])
    np.testing.assert_array_equal(store[3, 2], x[3, 2])
    t, i = np.array([8, 0, 3, 3]), np.array([1, 6, 0, 2])
    np.testing.assert_array_equal(store[t, i], x[t, i])
    np.testing.assert_array_equal(store.gather(t, i, block_days=2), x[t, i])
    np.testing.assert_array_equal(store.finite_any(1, 6), np.isfinite(x[1:6]).any(axis=2))
    view = store.window(2, 7)  # rows 2..7, the same files
    assert view.shape == (5, *x.shape[1:])
    np.testing.assert_array_equal(view.to_array(), x[2:7])
    np.testing.assert_array_equal(view[1:3], x[3:5])
    np.testing.assert_array_equal(view.finite_any(0, 5), np.isfinite(x[2:7]).any(axis=2))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(view)).to_array(), x[2:7])
    with pytest.raises(DataError, match="read-only"):
        view.write(0, x[:1, :, 0])
    # each feature is a plain .npy [T, N] that numpy memory-maps
    plane = np.load(store.path / store.files[1], mmap_mode="r")
    np.testing.assert_array_equal(plane, x[:, :, 1])


def test_reopen_pickle_drop_and_errors(tmp_path):
    store, x = small_store(tmp_path)
    for k in range(3):
        store.write(k, x[:, :, k])
    again = pickle.loads(pickle.dumps(store))  # workers re-open the same files
    np.testing.assert_array_equal(again.to_array(), x)
    store.drop(["b"])
    reopened = FeatureStore(store.path)
    assert reopened.names == ["a", "c"]
    np.testing.assert_array_equal(reopened.to_array(), x[:, :, [0, 2]])
    with pytest.raises(DataError, match="block"):
        store.write(0, np.zeros((3, 3)), t0=8)
    with pytest.raises(DataError, match="not an empty directory"):
        FeatureStore.create(store.path, store.dates, store.instruments, ["z"])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text('{"format": "other"}')
    with pytest.raises(DataError, match=r"manifest\.json: format 'other'"):
        FeatureStore(tmp_path / "bad")


def test_scratch_store_is_removed_with_the_object(tmp_path):
    store = FeatureStore.scratch(np.arange("2024-01-01", 3, dtype="datetime64[D]"), ["A"], ["f"])
    path = store.path
    assert path.is_dir()
    del store
    assert not path.exists()


def config(market, store: str, **features):
    return config_from_dict(
        {
            "data": {"dir": str(market), "universe": "market", "benchmark": "SYN_INDEX"},
            "features": {
                "library": "alpha158",
                "extra": {"cs": "CSRank($close/Ref($close,5))"},
                "store": store,
                **features,
            },
            "labels": {"horizons": [1], "offset": 1},
            "processors": {
                "features": [{"name": "robust_zscore"}, {"name": "fillna"}],
                "labels": [{"name": "drop_missing_label"}, {"name": "cs_zscore"}],
            },
            "model": {
                "name": "lgbm",
                "params": {"num_threads": 1, "n_estimators": 15, "num_leaves": 8},
            },
            "walkforward": {
                "schedule": "expanding",
                "train_days": 100,
                "valid_days": 10,
                "step": 20,
            },
        }
    )


@pytest.fixture(scope="module")
def both_inputs(synth_market):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # VWAP0 et al. dropped in both paths
        mem = build_inputs(*_sections(config(synth_market, "memory")))
        disk = build_inputs(*_sections(config(synth_market, "disk")))
    return mem, disk


def _sections(cfg):
    return cfg.data, cfg.features, cfg.labels


def test_features_in_the_store_equal_the_in_memory_features(both_inputs):
    mem, disk = both_inputs
    assert isinstance(disk.features, FeatureStore) and isinstance(mem.features, np.ndarray)
    assert disk.feature_names == mem.feature_names and "cs" in disk.feature_names
    np.testing.assert_array_equal(disk.features.to_array(), mem.features)
    np.testing.assert_array_equal(disk.labels, mem.labels)


def test_auto_switches_on_the_size_threshold(synth_market):
    cfg = config(synth_market, "auto", store_threshold_gb=0.001)
    assert use_store(cfg.features, (160, 61))
    cfg = config(synth_market, "auto")
    assert not use_store(cfg.features, (160, 61))


@pytest.fixture(scope="module")
def plan(synth_market, both_inputs):
    """The walk-forward of the disk config and its in-memory predictions (the reference)."""
    mem, _ = both_inputs
    cfg = config(synth_market, "disk")
    spec = train_spec(cfg)
    windows = make_windows(mem.dates, cfg.walkforward, cfg.embargo, spec.lookback)
    assert len(windows) >= 2
    return spec, windows, walk_forward(mem, windows, spec, LocalExecutor())


def check_same(got, ref):
    np.testing.assert_array_equal(got.mask, ref.mask)
    np.testing.assert_array_equal(got.score, ref.score)
    assert np.isfinite(got.score[got.mask]).all()


def test_walk_forward_from_the_store_predicts_as_in_memory(both_inputs, plan):
    spec, windows, ref = plan
    check_same(walk_forward(both_inputs[1], windows, spec, LocalExecutor()), ref)


def test_without_feature_processors_windows_read_the_store_in_place(both_inputs, plan):
    mem, disk = both_inputs
    spec, windows, _ = plan
    spec = dataclasses.replace(spec, feature_processors=[])
    ref = walk_forward(mem, windows[:2], spec, LocalExecutor())
    check_same(walk_forward(disk, windows[:2], spec, LocalExecutor()), ref)


@pytest.mark.slow
def test_worker_processes_read_the_store_and_predict_the_same(both_inputs, plan):
    spec, windows, ref = plan
    with ProcessExecutor(workers=1) as ex:
        check_same(walk_forward(both_inputs[1], windows, spec, ex), ref)


def test_inputs_to_dir_keeps_the_store_by_reference(both_inputs, tmp_path):
    _, disk = both_inputs
    disk.to_dir(tmp_path / "inp")
    assert not (tmp_path / "inp" / "features.npy").exists()
    back = Inputs.from_dir(tmp_path / "inp")
    assert isinstance(back.features, FeatureStore) and back.features.path == disk.features.path


def test_intraday_features_by_chunks_of_days_equal_the_in_memory_ones(tmp_path):
    from seqalpha.data.minute import load_minute
    from seqalpha.data.synthetic import SynthConfig, generate_market
    from seqalpha.features.intraday import intraday_daily_features
    from seqalpha.features.store import intraday_into_store

    cfg = SynthConfig(n_stocks=20, n_days=30, bar_minutes=30, frac_late_listing=0.3, seed=2)
    market = generate_market(tmp_path / "m", cfg)
    bars = load_minute(market / "minute")
    names, x = intraday_daily_features(bars, window=5)
    store = intraday_into_store(market / "minute", tmp_path / "s", window=5, chunk_days=4)
    assert store.names == names
    order = np.argsort(bars.instruments)
    np.testing.assert_array_equal(store.instruments, bars.instruments[order])
    np.testing.assert_array_equal(store.to_array(), x[:, order])
    assert np.isfinite(x).any()


def test_lgbm_from_the_store_samples_the_same_bin_rows_above_lightgbms_sample_count(tmp_path):
    """More rows than LightGBM's bin_construct_sample_cnt (200,000): the bins come from a
    sample of rows, which must be the same rows from the store as from an array."""
    from seqalpha.dataset.core import SampleSet
    from seqalpha.models.registry import create_model

    T, N, F = 70, 3000, 3
    rng = np.random.default_rng(1)
    x = rng.normal(size=(T, N, F)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan
    y = (np.nan_to_num(x[:, :, :1]) * 0.2 + rng.normal(size=(T, N, 1))).astype(np.float32)
    dates = np.arange("2021-01-01", T, dtype="datetime64[D]")
    inst = np.array([f"S{i}" for i in range(N)])
    store = FeatureStore.create(tmp_path / "s", dates, inst, ["a", "b", "c"])
    for k in range(F):
        store.write(k, x[:, :, k])
    scores = []
    for feats in (x, store):
        data = SampleSet(dates, inst, feats, None, y, np.ones((T, N), bool), (0, T))
        model = create_model("lgbm", n_estimators=5, num_leaves=15, num_threads=1, seed=3)
        model.fit(data)
        scores.append(model.predict(data.with_rows(60, 70)))
    np.testing.assert_array_equal(scores[1], scores[0])


@pytest.mark.parametrize(
    "name, params",
    [
        ("mlp", {"hidden_sizes": [8]}),
        ("gru", {"hidden_size": 8, "num_layers": 1, "seq_len": 5}),
    ],
)
def test_torch_models_gather_their_batches_from_the_store(tmp_path, name, params):
    """A tabular and a sequence (window layout) torch model: batches gathered from the store
    give the same model and predictions as from the array."""
    from seqalpha.dataset.core import SampleSet
    from seqalpha.models.registry import create_model

    T, N, F = 30, 20, 3
    rng = np.random.default_rng(4)
    x = rng.normal(size=(T, N, F)).astype(np.float32)
    y = (x[:, :, :1] * 0.3 + rng.normal(size=(T, N, 1))).astype(np.float32)
    dates = np.arange("2021-01-01", T, dtype="datetime64[D]")
    inst = np.array([f"S{i}" for i in range(N)])
    store = FeatureStore.create(tmp_path / "s", dates, inst, ["a", "b", "c"])
    for k in range(F):
        store.write(k, x[:, :, k])
    scores = []
    for feats in (x, store):
        data = SampleSet(dates, inst, feats, None, y, np.ones((T, N), bool), (5, 22), lookback=5)
        model = create_model(name, **params, epochs=2, threads=1, seed=0)
        model.fit(data, data.with_rows(22, 25))
        scores.append(model.predict(data.with_rows(25, 30)))
    np.testing.assert_array_equal(scores[1], scores[0])
    assert np.isfinite(scores[0]).all()


def test_features_command_writes_a_store_with_the_long_tables_values(synth_market, tmp_path):
    from typer.testing import CliRunner

    from seqalpha.cli import app

    args = ["features", str(synth_market), "--universe", "market", "--start", "2020-03-02"]
    args += ["--expr", "ma5=Mean($close, 5)/$close", "--expr", "r1=$close/Ref($close,1)-1"]
    res = CliRunner().invoke(app, [*args, "--store", "--out", str(tmp_path / "store")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "long.parquet")])
    assert res.exit_code == 0, res.output
    store = FeatureStore(tmp_path / "store")
    long = pl.read_parquet(tmp_path / "long.parquet")
    assert store.names == ["ma5", "r1"] and str(store.dates[0]) == "2020-03-02"
    t = np.searchsorted(store.dates, long["datetime"].to_numpy().astype("datetime64[D]"))
    i = np.searchsorted(store.instruments, long["instrument"].to_numpy())
    np.testing.assert_array_equal(store[t, i], long.select("ma5", "r1").to_numpy())
