"""A multi-node Ray cluster on this machine for tests and benchmarks: a head and worker nodes
started as separate `ray start --block` processes, each in its own process group with its own
CPU count and ports, so that one node can be killed (and the cluster stopped) without touching
any other Ray process of the machine (`ray stop` would stop them all)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

from seqalpha.errors import ConfigError

_PORT_OPTIONS = (
    "--node-manager-port",
    "--object-manager-port",
    "--metrics-export-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--runtime-env-agent-port",
)


def free_port() -> int:
    """A TCP port of 127.0.0.1 free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_WORKER_PORTS = 41  # ports min..max given to one node's workers


class _Ports:
    """Distinct free ports for the whole cluster: `ray start` refuses a node whose worker port
    range contains one of its other ports, so no port handed out here falls into a range
    handed out here, nor the other way round."""

    def __init__(self) -> None:
        self.taken: set[int] = set()

    def one(self) -> int:
        while True:
            port = free_port()
            if port not in self.taken:
                self.taken.add(port)
                return port

    def worker_range(self) -> tuple[int, int]:
        while True:
            base = free_port()
            span = set(range(base, base + _WORKER_PORTS))
            if base + _WORKER_PORTS <= 65535 and not span & self.taken:
                self.taken |= span
                return base, base + _WORKER_PORTS - 1


def ray_env() -> dict[str, str]:
    """Environment of the nodes and the driver: no usage stats, no token auth on loopback."""
    return dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")


class LocalRayCluster:
    """`nodes` Ray nodes on 127.0.0.1 (node 0 the head), `cpus` CPUs each; `address` for
    `RayExecutor(address=...)`. Use as a context manager; `kill_node(k)` kills worker node k
    (SIGKILL to its process group) as a machine failure would."""

    def __init__(self, nodes: int = 3, cpus: int = 1, log_dir: str | Path | None = None):
        if nodes < 1 or cpus < 1:
            raise ConfigError(f"LocalRayCluster: nodes={nodes}, cpus={cpus}: both must be >= 1")
        self.n_nodes, self.cpus = int(nodes), int(cpus)
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="seqalpha-ray-"))
        self.ports = _Ports()
        self.port = self.ports.one()
        self.address = f"127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.ray = str(Path(sys.executable).parent / "ray")

    def _start(self, k: int) -> subprocess.Popen:
        cmd = [self.ray, "start", "--num-cpus", str(self.cpus), "--node-ip-address", "127.0.0.1"]
        if k == 0:
            cmd += ["--head", "--port", str(self.port), "--include-dashboard", "false"]
            cmd += ["--ray-client-server-port", str(self.ports.one()), "--disable-usage-stats"]
        else:
            cmd += ["--address", self.address]
        for opt in _PORT_OPTIONS:
            cmd += [opt, str(self.ports.one())]
        cmd += ["--include-log-monitor", "false"]  # the driver does not read worker logs
        low, high = self.ports.worker_range()
        cmd += ["--min-worker-port", str(low), "--max-worker-port", str(high), "--block"]
        with open(self.log_dir / f"node{k}.log", "w") as log:
            return subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=ray_env(), start_new_session=True
            )

    def start(self, timeout: float = 60.0, attempts: int = 3) -> Self:
        """Start the head, then the workers, one at a time (concurrent starts time out on 2
        cores). A node that exits during startup (e.g. a port taken by another process between
        choosing and binding it) is started again on fresh ports, up to `attempts` times; the
        failed logs stay as `node<k>.failed<attempt>.log`."""
        for k in range(self.n_nodes):
            self.procs.append(self._start_node(k, timeout, attempts))
        return self

    def _start_node(self, k: int, timeout: float, attempts: int) -> subprocess.Popen:
        log = self.log_dir / f"node{k}.log"
        for attempt in range(1, attempts):
            proc = self._start(k)
            try:
                self._wait_started(k, proc, time.monotonic() + timeout)
                return proc
            except RuntimeError:
                _killpg(proc, signal.SIGKILL)  # whatever the node had started
                proc.wait(timeout=10)
                log.rename(log.with_name(f"node{k}.failed{attempt}.log"))
                if k == 0:  # the workers join the head at its address: a new one
                    self.port = self.ports.one()
                    self.address = f"127.0.0.1:{self.port}"
        proc = self._start(k)  # the last attempt: its error goes to the caller
        self._wait_started(k, proc, time.monotonic() + timeout)
        return proc

    def _wait_started(self, k: int, proc: subprocess.Popen, deadline: float) -> None:
        """Wait until node k's `ray start` reports the node up (RuntimeError if it exits)."""
        log = self.log_dir / f"node{k}.log"
        name = "ray head" if k == 0 else f"ray node {k}"
        while True:
            if log.exists() and "Ray runtime started" in log.read_text(errors="replace"):
                return
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited during startup: {_tail(log)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not start in time; see {log}")
            time.sleep(0.2)

    def kill_node(self, k: int) -> None:
        """Kill worker node k and everything it started (its process group), at once."""
        if not 1 <= k < len(self.procs):
            raise ConfigError(f"kill_node({k}): worker nodes are 1..{len(self.procs) - 1}")
        _killpg(self.procs[k], signal.SIGKILL)

    def close(self) -> None:
        """Stop every node started here (SIGTERM, then SIGKILL to each node's group)."""
        for p in reversed(self.procs):
            _killpg(p, signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
            _killpg(p, signal.SIGKILL)  # stragglers of this group only (raylet, workers)
            p.wait(timeout=10)
        self.procs = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def _tail(log: Path, lines: int = 15) -> str:
    """The log's path and its last lines, for an error message that explains itself."""
    text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
    return "\n".join([f"see {log}; its last lines:", *text])


def _killpg(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


__all__ = ["LocalRayCluster", "free_port", "ray_env"]
