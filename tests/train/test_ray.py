"""A real Ray head on loopback: a small walk-forward run as Ray tasks gives predictions
identical to the serial run. The head is started by this test (`LocalRayCluster`: `ray start
--head --block` in its own process group) and stopped by signalling only that group."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqalpha.config import config_from_dict
from seqalpha.train.executors import LocalExecutor, RayExecutor
from seqalpha.train.inputs import Inputs
from seqalpha.train.raycluster import LocalRayCluster
from seqalpha.train.walkforward import run_walkforward, window_path

RAY = Path(sys.executable).parent / "ray"
pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """Address of a 2-CPU Ray head on 127.0.0.1 (stopped at teardown)."""
    if not RAY.exists():
        pytest.skip(f"{RAY} not found")
    with LocalRayCluster(nodes=1, cpus=2, log_dir=tmp_path_factory.mktemp("ray")) as head:
        yield head.address


def toy_inputs(T: int = 50, N: int = 12, F: int = 3) -> Inputs:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(T, N, F)).astype(np.float32)
    y = (x[:, :, :1] * 0.3 + rng.normal(size=(T, N, 1))).astype(np.float32)
    dates = np.busday_offset(np.datetime64("2023-03-01"), np.arange(T), roll="forward")
    return Inputs(
        dates,
        [f"S{i:02d}" for i in range(N)],
        x,
        None,
        y,
        np.ones((T, N), bool),
        [f"f{k}" for k in range(F)],
        ["LABEL0"],
        1,
    )


def test_ray_cluster_predictions_identical_to_serial(ray_head, tmp_path, monkeypatch):
    # a loopback cluster without token auth, for the driver as for the head
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    raw = {
        "data": {"dir": str(tmp_path)},
        "model": {
            "name": "lgbm",
            "params": {"n_estimators": 15, "num_leaves": 5, "num_threads": 1},
        },
        "features": {"library": "none", "extra": {"f": "$close"}},
        "processors": {"features": [{"name": "robust_zscore"}, {"name": "fillna"}]},
        "walkforward": {"schedule": "rolling", "step": 10, "train_days": 20, "valid_days": 3},
        "executor": {"kind": "ray", "address": ray_head},
    }
    cfg = config_from_dict(raw)
    inp = toy_inputs()
    serial = run_walkforward(cfg, tmp_path / "serial", inputs=inp, executor=LocalExecutor())
    ex = RayExecutor(address=ray_head)
    try:
        state = run_walkforward(cfg, tmp_path / "ray", inputs=inp, executor=ex)
        import ray

        # connected to the head started above (one node, 2 CPUs), not to a new local Ray
        assert ray.get_runtime_context().gcs_address.endswith(ray_head.split(":")[1])
        assert len([n for n in ray.nodes() if n["Alive"]]) == 1
        assert ray.cluster_resources()["CPU"] == 2.0
    finally:
        ex.close()
    assert sorted(state.trained) == serial.trained and len(serial.windows) >= 2
    for w in serial.windows:
        a = pl.read_parquet(window_path(tmp_path / "serial", w.index))
        b = pl.read_parquet(window_path(tmp_path / "ray", w.index))
        assert a.equals(b), f"window {w.index} differs between serial and Ray"
