"""Tiny hand-made bar tables for the execution tests."""

from __future__ import annotations

import numpy as np

from seqalpha.execution import OrderBars


def bar_table(close, volume, vwap=None, prev_close=10.0, open_=None) -> OrderBars:
    """OrderBars of one or more orders from rows of per-bar closes and volumes ([M, B] or [B])."""
    close = np.atleast_2d(np.asarray(close, dtype=np.float64))
    volume = np.atleast_2d(np.asarray(volume, dtype=np.float64))
    vwap = close if vwap is None else np.atleast_2d(np.asarray(vwap, dtype=np.float64))
    open_ = close if open_ is None else np.atleast_2d(np.asarray(open_, dtype=np.float64))
    M, B = close.shape
    return OrderBars(
        open=open_,
        high=np.maximum(open_, close),
        low=np.minimum(open_, close),
        close=close,
        volume=volume,
        vwap=vwap,
        prev_close=np.full(M, prev_close),
        curve=np.full((M, B), 1.0 / B),
        adv=volume.sum(axis=1),
        sigma=np.full(M, 0.02),
    )


def random_table(M: int, B: int, seed: int = 0) -> OrderBars:
    """M orders' random-walk bars with a U-shaped volume profile."""
    rng = np.random.default_rng(seed)
    close = 10.0 * np.exp(np.cumsum(rng.normal(0, 0.002, (M, B)), axis=1))
    u = (np.arange(B) + 0.5) / B
    prof = 1 + 3 * (2 * u - 1) ** 2
    volume = np.round(1e4 * prof * rng.lognormal(0, 0.3, (M, B)))
    bars = bar_table(close, volume, vwap=close * (1 + rng.normal(0, 5e-4, (M, B))))
    bars.curve[:] = prof / prof.sum()
    return bars
