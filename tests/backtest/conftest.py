"""Tiny hand-made markets for the exchange-rule tests."""

from __future__ import annotations

import numpy as np
import pytest

from seqalpha.backtest import Market
from seqalpha.data.panel import Panel


def make_market(
    close: np.ndarray,
    volume: np.ndarray | None = None,
    factor: np.ndarray | None = None,
    bench: np.ndarray | None = None,
    deal_price: str = "close",
    open_: np.ndarray | None = None,
) -> Market:
    """close [T, N] adjusted prices of stocks S0..S{N-1} plus a benchmark SH000300.

    The benchmark is flat unless given.
    """
    close = np.asarray(close, dtype=np.float32)
    T, N = close.shape
    inst = [f"SZ00000{i}" for i in range(N)] + ["SH000300"]
    b = (
        np.full((T, 1), 1000.0, np.float32)
        if bench is None
        else np.asarray(bench, np.float32)[:, None]
    )
    fields = {
        "close": np.hstack([close, b]),
        "volume": np.hstack(
            [
                np.full((T, N), 1e6, np.float32)
                if volume is None
                else np.asarray(volume, np.float32),
                np.ones((T, 1), np.float32),
            ]
        ),
        "factor": np.hstack(
            [
                np.ones((T, N), np.float32) if factor is None else np.asarray(factor, np.float32),
                np.ones((T, 1), np.float32),
            ]
        ),
    }
    if open_ is not None:
        fields["open"] = np.hstack([np.asarray(open_, np.float32), b])
    dates = np.arange(np.datetime64("2021-01-04"), np.datetime64("2021-01-04") + T)
    panel = Panel(dates, np.array(inst), fields)
    return Market.from_panel(panel, deal_price=deal_price, benchmark="SH000300")


@pytest.fixture
def market_factory():
    return make_market
