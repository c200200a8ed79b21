"""A real Ray head on loopback: a small walk-forward run as Ray tasks gives predictions
identical to the serial run. The head is started by this test (`ray start --head --block` in
its own process group) and stopped by signalling only that group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqalpha.config import config_from_dict
from seqalpha.train.executors import LocalExecutor, RayExecutor
from seqalpha.train.inputs import Inputs
from seqalpha.train.walkforward import run_walkforward, window_path

RAY = Path(sys.executable).parent / "ray"
pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ray head exited with code {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"ray head did not listen on port {port} within {timeout}s")


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """Address of a 2-CPU Ray head on 127.0.0.1 (stopped at teardown)."""
    if not RAY.exists():
        pytest.skip(f"{RAY} not found")
    port = free_port()
    # A loopback test cluster without token auth, for head and driver alike (a token file in
    # ~/.ray would otherwise switch the head to token auth but not this driver).
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    with open(tmp_path_factory.mktemp("ray") / "head.log", "w") as log:
        proc = subprocess.Popen(
            [
                str(RAY),
                "start",
                "--head",
                "--num-cpus",
                "2",
                "--port",
                str(port),
                "--node-ip-address",
                "127.0.0.1",
                "--disable-usage-stats",
                "--include-dashboard",
                "false",
                "--block",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            wait_for_port(port, proc)
            yield f"127.0.0.1:{port}"
        finally:
            # `ray stop --force` would stop every Ray process of this machine (other users'
            # too); signal only the process group of the head started here.
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                pass
            try:  # stragglers of this group only (raylet, gcs_server, workers)
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
            if saved is None:
                os.environ.pop("RAY_AUTH_MODE", None)
            else:
                os.environ["RAY_AUTH_MODE"] = saved


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


def test_ray_cluster_predictions_identical_to_serial(ray_head, tmp_path):
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
