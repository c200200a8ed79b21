"""`python -m seqalpha.warmup` compiles every cached numba kernel of the package."""

from __future__ import annotations

import numpy as np
import pytest

from seqalpha import warmup
from seqalpha.features import ops


@pytest.fixture(scope="module")
def warmed() -> dict[str, float]:
    return warmup.warmup()


def test_tiny_panel_is_a_small_market_with_a_benchmark():
    panel = warmup.tiny_panel(n_days=30, n_stocks=5)
    assert panel.shape == (30, 5)
    assert "SH000300" in panel.instruments.tolist()
    assert {"open", "high", "low", "close", "volume", "factor", "change"} <= set(panel.field_names)
    assert all(panel[f].dtype == np.float32 for f in panel.field_names)


def test_warmup_compiles_every_cached_kernel(warmed):
    assert set(warmed) == {"features", "backtest", "cross-section"}
    kernels = warmup.cached_kernels()
    assert "seqalpha.features.ops.roll_sum" in kernels
    assert "seqalpha.backtest.engine.run_topk" in kernels
    assert len(kernels) >= 20  # the feature kernels alone are 16
    # private helpers called only from other kernels are compiled into their callers
    entry = {n: d for n, d in kernels.items() if not n.rsplit(".", 1)[1].startswith("_")}
    entry["_tradable_path"] = kernels["seqalpha.portfolio.weights._tradable_path"]
    not_compiled = [name for name, d in entry.items() if not d.signatures]
    assert not_compiled == []


def test_warmup_compiles_the_feature_kernels_for_float32_and_float64(warmed):
    dtypes = {str(sig[0].dtype) for sig in ops.roll_sum.signatures}
    assert {"float32", "float64"} <= dtypes
