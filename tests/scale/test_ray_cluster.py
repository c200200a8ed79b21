"""A 3-node Ray cluster of this machine (a head and two workers, separate `ray start` processes
with one CPU each): a 12-window walk-forward predicts exactly as the serial run, also when a
worker node is killed in the middle of the run (its lost windows are retried elsewhere, and no
finished window is lost). Only the processes these tests started are stopped."""

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

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def toy_inputs(T: int = 142, N: int = 40, F: int = 4) -> Inputs:
    rng = np.random.default_rng(3)
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


def wf_config(tmp_path):
    return config_from_dict(
        {
            "data": {"dir": str(tmp_path)},
            "model": {
                "name": "lgbm",
                "params": {"n_estimators": 40, "num_leaves": 7, "num_threads": 1},
            },
            "features": {"library": "none", "extra": {"f": "$close"}},
            "processors": {"features": [{"name": "robust_zscore"}, {"name": "fillna"}]},
            "walkforward": {"schedule": "rolling", "step": 10, "train_days": 20, "valid_days": 3},
        }
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not (Path(sys.executable).parent / "ray").exists():
        pytest.skip("the ray command is not installed next to this python")
    with LocalRayCluster(nodes=3, cpus=1, log_dir=tmp_path_factory.mktemp("ray")) as c:
        yield c


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    cfg = wf_config(out)
    state = run_walkforward(cfg, out / "run", inputs=toy_inputs(), executor=LocalExecutor())
    assert len(state.windows) == 12
    return cfg, state


def same_windows(a: Path, b: Path, windows) -> None:
    for w in windows:
        x, y = (pl.read_parquet(window_path(d, w.index)) for d in (a, b))
        assert x.equals(y), f"window {w.index} differs"


def test_three_node_cluster_predicts_as_the_serial_run(cluster, serial, tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    cfg, ref = serial
    ex = RayExecutor(address=cluster.address)
    try:
        assert ex.wait_for_nodes(3) == 3
        import ray

        assert ray.cluster_resources()["CPU"] == 3.0
        state = run_walkforward(cfg, tmp_path / "ray", inputs=toy_inputs(), executor=ex)
    finally:
        ex.close()
    assert state.trained == ref.trained
    same_windows(ref.run_dir, state.run_dir, ref.windows)
    np.testing.assert_array_equal(state.predictions.score, ref.predictions.score)


def test_losing_a_worker_node_mid_run_loses_no_window(cluster, serial, tmp_path, monkeypatch):
    """Runs after the test above (same cluster): node 2 is killed when the first window is done."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    cfg, ref = serial
    finished: list[int] = []

    def on_window(k: int) -> None:
        finished.append(k)
        if len(finished) == 1:
            cluster.kill_node(2)

    ex = RayExecutor(address=cluster.address)
    try:
        ex.wait_for_nodes(3)
        state = run_walkforward(
            cfg, tmp_path / "ray", inputs=toy_inputs(), executor=ex, on_window=on_window
        )
        import ray

        alive = sum(1 for n in ray.nodes() if n["Alive"])
    finally:
        ex.close()
    assert cluster.procs[2].poll() is not None  # the node is gone
    assert alive <= 3
    assert sorted(finished) == sorted(w.index for w in ref.windows)  # every window, once
    same_windows(ref.run_dir, state.run_dir, ref.windows)
    np.testing.assert_array_equal(state.predictions.score, ref.predictions.score)
