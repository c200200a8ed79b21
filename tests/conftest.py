"""Shared fixtures: locating the real data in ../shared (skip, or fail in CI when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seqalpha.paths import shared_data_dir, shared_dir


def require_shared(relative: str) -> Path:
    """Path of shared material; skip when absent, fail when SEQALPHA_REQUIRE_SHARED=1."""
    path = shared_dir() / relative
    if not path.exists():
        msg = f"shared material {path} is absent (set SEQALPHA_SHARED to its folder)"
        if os.environ.get("SEQALPHA_REQUIRE_SHARED") == "1":
            pytest.fail(msg + "; SEQALPHA_REQUIRE_SHARED=1 makes this a failure")
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def csi300_dir() -> Path:
    """The real CSI300 Qlib store `shared/data/cn_csi300`."""
    return require_shared("data/cn_csi300")


@pytest.fixture(scope="session")
def meta_dir() -> Path:
    """Point-in-time industry and market cap `shared/data/cn_meta`."""
    return require_shared("data/cn_meta")


@pytest.fixture(scope="session")
def intraday15_path() -> Path:
    """Real 15-minute bars `shared/data/cn_intraday_15min/bars_15min.parquet`."""
    return require_shared("data/cn_intraday_15min/bars_15min.parquet")


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Qlib reference feature samples `shared/reference`."""
    return require_shared("reference")


__all__ = ["require_shared", "shared_data_dir"]


@pytest.fixture(scope="session")
def synth_market(tmp_path_factory) -> Path:
    """A small synthetic market (60 stocks x 160 days, 30-minute bars, seed 7), generated once.

    Layout: Qlib store (market `market`, benchmark `SYN_INDEX`), `minute/`, `oracle.parquet`,
    `meta.json`; see `seqalpha.data.synthetic`.
    """
    from seqalpha.data.synthetic import SynthConfig, generate_market

    out = tmp_path_factory.mktemp("synth") / "market"
    return generate_market(out, SynthConfig(n_stocks=60, n_days=160, bar_minutes=30, seed=7))
