"""Executors: the same window function gives identical predictions serially and in spawned
worker processes (inputs shared as memory-mapped files)."""

from __future__ import annotations

import os

import numpy as np
import polars as pl
import pytest

from seqalpha.config import ExecutorConfig, config_from_dict
from seqalpha.train.executors import LocalExecutor, ProcessExecutor, RayExecutor, make_executor
from seqalpha.train.inputs import Inputs
from seqalpha.train.walkforward import run_walkforward, window_path


def square_plus_shared(shared, job):
    """Module-level job function (spawned workers import it by name)."""
    return job * job + int(np.asarray(shared.features).sum()), os.getpid()


def toy_inputs(T: int = 60, N: int = 15, F: int = 4, seed: int = 3) -> Inputs:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(T, N, F)).astype(np.float32)
    y = (x[:, :, :1] * 0.3 + rng.normal(size=(T, N, 1))).astype(np.float32)
    mask = rng.random((T, N)) > 0.05
    dates = np.busday_offset(np.datetime64("2023-01-02"), np.arange(T), roll="forward")
    return Inputs(
        dates,
        [f"S{i:02d}" for i in range(N)],
        x,
        None,
        y,
        mask,
        [f"f{k}" for k in range(F)],
        ["LABEL0"],
        1,
    )


@pytest.fixture(scope="module")
def proc_ex():
    """One pool of 2 spawned workers for the module (spawning imports torch: slow)."""
    ex = ProcessExecutor(workers=2)
    yield ex
    ex.close()


def test_process_executor_shares_inputs_memory_mapped(tmp_path, proc_ex):
    inp = toy_inputs()
    inp.features[:] = 1.0
    total = int(inp.features.size)
    proc_ex.scratch_dir = str(tmp_path)
    out = dict(proc_ex.map_unordered(square_plus_shared, inp, [1, 2, 3, 4]))
    proc_ex.scratch_dir = None
    assert {k: v[0] for k, v in out.items()} == {k: k * k + total for k in (1, 2, 3, 4)}
    assert all(pid != os.getpid() for _, pid in out.values())
    assert list(tmp_path.iterdir()) == []  # the shared copy is removed afterwards
    local = dict(LocalExecutor().map_unordered(square_plus_shared, inp, [1, 2]))
    assert local[2][0] == 4 + total and local[2][1] == os.getpid()


def test_inputs_roundtrip_through_directory(tmp_path):
    inp = toy_inputs()
    inp.to_dir(tmp_path / "x")
    back = Inputs.from_dir(tmp_path / "x", mmap=True)
    assert isinstance(back.features, np.memmap)
    np.testing.assert_array_equal(back.features, inp.features)
    np.testing.assert_array_equal(back.dates, inp.dates)
    assert back.instruments.tolist() == inp.instruments.tolist()
    assert back.bars is None and back.label_names == ["LABEL0"]


def test_make_executor_kinds():
    assert isinstance(make_executor(ExecutorConfig(kind="local")), LocalExecutor)
    ex = make_executor(ExecutorConfig(kind="process", workers=3))
    assert isinstance(ex, ProcessExecutor) and ex.workers == 3
    ray_ex = make_executor(ExecutorConfig(kind="ray", address="127.0.0.1:1"))
    assert isinstance(ray_ex, RayExecutor) and ray_ex.address == "127.0.0.1:1"


def walkforward_cfg(tmp_path, model: dict):
    raw = {
        "data": {"dir": str(tmp_path)},
        "model": model,
        "features": {"library": "none", "extra": {"f": "$close"}},
        "processors": {
            "features": [{"name": "zscore"}, {"name": "fillna"}],
            "labels": [{"name": "cs_zscore"}],
        },
        "walkforward": {"schedule": "rolling", "step": 10, "train_days": 25, "valid_days": 3},
    }
    return config_from_dict(raw)


@pytest.mark.slow
def test_process_predictions_identical_to_serial(tmp_path, proc_ex):
    inp = toy_inputs()
    cfg = walkforward_cfg(
        tmp_path,
        {"name": "lgbm", "params": {"n_estimators": 20, "num_leaves": 7, "num_threads": 1}},
    )  # 1 thread per worker
    cfg.seeds = [0, 5]
    serial = run_walkforward(cfg, tmp_path / "serial", inputs=inp)
    par = run_walkforward(cfg, tmp_path / "proc", inputs=inp, executor=proc_ex)
    assert len(serial.windows) == len(par.windows) >= 3
    assert sorted(par.trained) == serial.trained
    for w in serial.windows:
        a = pl.read_parquet(window_path(tmp_path / "serial", w.index))
        b = pl.read_parquet(window_path(tmp_path / "proc", w.index))
        assert a.equals(b), f"window {w.index} differs"
        assert a["score"].is_finite().all()
