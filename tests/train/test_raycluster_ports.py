"""The local Ray cluster helper without Ray: its ports never collide (`ray start` refuses a node
whose worker port range holds one of its other ports), and a head that exits at once is started
again on fresh ports, with the head's own log lines in the final error."""

from __future__ import annotations

import subprocess
import sys

import pytest

from seqalpha.train.raycluster import LocalRayCluster, _Ports


def test_ports_and_worker_ranges_never_overlap():
    ports = _Ports()
    singles, ranges = [], []
    for _ in range(3):  # three nodes, as the cluster test starts them
        singles += [ports.one() for _ in range(8)]
        ranges.append(ports.worker_range())
    assert len(set(singles)) == len(singles)
    spans = [set(range(lo, hi + 1)) for lo, hi in ranges]
    assert all(len(s) == 41 for s in spans)
    for i, a in enumerate(spans):
        assert not a & set(singles)
        assert all(not a & b for b in spans[i + 1 :])


class FailingHead(LocalRayCluster):
    """A head whose `ray start` exits at once, as one whose port was taken meanwhile."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.addresses: list[str] = []

    def _start(self, k: int) -> subprocess.Popen:
        self.addresses.append(self.address)
        log = self.log_dir / f"node{k}.log"
        log.write_text(f"ValueError: port {self.port} is used by other components\n")
        return subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])


def test_a_head_that_exits_is_retried_on_fresh_ports_then_reported(tmp_path):
    cluster = FailingHead(nodes=1, log_dir=tmp_path)
    with pytest.raises(RuntimeError, match=r"(?s)ray head exited.*is used by other components"):
        cluster.start(timeout=10, attempts=3)
    assert len(set(cluster.addresses)) == 3  # each attempt on its own port
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "node0.failed1.log",
        "node0.failed2.log",
        "node0.log",
    ]
