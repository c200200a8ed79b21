"""Executors run one function over many jobs that share large read-only inputs:
`local` (serial, in process), `process` (spawned worker processes reading the inputs
memory-mapped), `ray` (Ray tasks; the inputs put once in the object store).

`map_unordered(fn, shared, jobs)` yields `(job, fn(shared, job))` as jobs finish; `fn` must be
a module-level function. Results do not depend on the executor.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Self

from seqalpha.errors import ConfigError

Fn = Callable[[Any, Any], Any]


class Executor:
    """Base class: map a function over jobs; `close()` releases workers."""

    kind = "base"

    def map_unordered(self, fn: Fn, shared: Any, jobs: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (idempotent)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalExecutor(Executor):
    """Serial, in this process, in job order."""

    kind = "local"

    def map_unordered(self, fn, shared, jobs):
        for job in jobs:
            yield job, fn(shared, job)


# ------------------------------------------------------------------------------- processes

_WORKER_SHARED: dict[str, Any] = {}


def _call_in_worker(fn: Fn, key: str, payload: Any, job: Any) -> Any:
    """Run fn(shared, job) in a worker; Inputs are loaded (memory-mapped) once per key."""
    if payload is None:
        if key not in _WORKER_SHARED:
            from seqalpha.train.inputs import Inputs

            _WORKER_SHARED.clear()
            _WORKER_SHARED[key] = Inputs.from_dir(key, mmap=True)
        return fn(_WORKER_SHARED[key], job)
    return fn(payload, job)


class ProcessExecutor(Executor):
    """`workers` spawned processes, kept until `close()`; Inputs travel as memory-mapped .npy
    files in a temporary directory, other shared objects are pickled with each job."""

    kind = "process"

    def __init__(self, workers: int = 2, scratch_dir: str | None = None):
        self.workers = int(workers)
        self.scratch_dir = scratch_dir
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        import multiprocessing as mp

        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=mp.get_context("spawn")
            )
        return self._pool

    def map_unordered(self, fn, shared, jobs):
        from seqalpha.train.inputs import Inputs

        jobs = list(jobs)
        if not jobs:
            return
        tmp = None
        if isinstance(shared, Inputs):
            tmp = tempfile.mkdtemp(prefix="seqalpha-inputs-", dir=self.scratch_dir)
            shared.to_dir(tmp)
            key, payload = tmp, None
        else:
            key, payload = "", shared
        pool = self._get_pool()
        futures = {pool.submit(_call_in_worker, fn, key, payload, job): job for job in jobs}
        remaining = set(futures)
        try:
            while remaining:
                done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield futures[fut], fut.result()
        finally:
            for fut in remaining:
                fut.cancel()
            wait(remaining)
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# ------------------------------------------------------------------------------------ Ray


def _ray_call(fn: Fn, shared: Any, job: Any) -> Any:
    return fn(shared, job)


class RayExecutor(Executor):
    """Ray tasks (`num_cpus` each). `address=None` starts a local Ray with `local_cpus` CPUs;
    otherwise connects to that cluster (e.g. `127.0.0.1:6379`).

    A task lost with its worker or node is retried up to `max_retries` times on the nodes that
    remain (a job is deterministic, so a retried window predicts the same); an exception raised
    by the job itself is not retried. The shared inputs are put once in the object store of the
    driver's node (an out-of-core FeatureStore travels as its path)."""

    kind = "ray"

    def __init__(
        self,
        address: str | None = None,
        local_cpus: int = 2,
        num_cpus: float = 1.0,
        max_retries: int = 3,
    ):
        self.address = address
        self.local_cpus = int(local_cpus)
        self.num_cpus = float(num_cpus)
        self.max_retries = int(max_retries)
        self._started = False

    def wait_for_nodes(self, n: int, timeout: float = 60.0) -> int:
        """Connect, then wait until the cluster has at least `n` alive nodes; returns the count."""
        import time

        import ray

        self._init()
        deadline = time.monotonic() + timeout
        while True:
            alive = sum(1 for node in ray.nodes() if node["Alive"])
            if alive >= n:
                return alive
            if time.monotonic() > deadline:
                raise TimeoutError(f"ray cluster {self.address}: {alive} of {n} nodes alive")
            time.sleep(0.2)

    def _init(self) -> None:
        import ray

        if ray.is_initialized():
            return
        # Ray's workers import seqalpha from the same (editable) installation as the driver.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": "ERROR",
        }
        if self.address is None:
            # "local": always a new private instance, never an existing cluster of this machine
            ray.init(address="local", num_cpus=self.local_cpus, **kwargs)
        else:
            ray.init(address=self.address, **kwargs)
        self._started = True

    def map_unordered(self, fn, shared, jobs):
        import ray

        jobs = list(jobs)
        if not jobs:
            return
        self._init()
        remote = ray.remote(
            num_cpus=self.num_cpus, max_retries=self.max_retries, retry_exceptions=False
        )(_ray_call)
        ref = ray.put(shared)
        futures = {remote.remote(fn, ref, job): job for job in jobs}
        remaining = list(futures)
        try:
            while remaining:
                done, remaining = ray.wait(remaining, num_returns=1)
                for r in done:
                    yield futures[r], ray.get(r)
        except BaseException:
            for r in remaining:
                ray.cancel(r, force=True)
            raise

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False


# Registered executors: `executor.kind` of a config -> a constructor from the ExecutorConfig.
EXECUTORS: dict[str, Callable[[Any], Executor]] = {
    "local": lambda cfg: LocalExecutor(),
    "process": lambda cfg: ProcessExecutor(cfg.workers),
    "ray": lambda cfg: RayExecutor(cfg.address, local_cpus=cfg.workers),
}


def make_executor(cfg) -> Executor:
    """The executor of an ExecutorConfig (kind: a name of EXECUTORS, address, workers)."""
    if cfg.kind not in EXECUTORS:
        raise ConfigError(
            f"executor.kind: unknown executor {cfg.kind!r}; allowed: {', '.join(sorted(EXECUTORS))}"
        )
    return EXECUTORS[cfg.kind](cfg)


__all__ = [
    "EXECUTORS",
    "Executor",
    "LocalExecutor",
    "ProcessExecutor",
    "RayExecutor",
    "make_executor",
]
