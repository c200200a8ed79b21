"""A toy run with hidden regimes for the selection tests: the sign of the signal flips with a
regime that also moves cross-sectional dispersion (what period similarity can see)."""

from __future__ import annotations

import numpy as np

from seqalpha.config import WalkForwardConfig
from seqalpha.train.inputs import Inputs
from seqalpha.train.selection import daily_market_state
from seqalpha.train.splits import make_windows


def regime_inputs(T: int = 260, N: int = 40, F: int = 3, seed: int = 0, block: int = 30) -> Inputs:
    """Inputs with features x [T, N, F], label = regime_t * x0 + noise, regimes alternating
    every `block` days; regime +1 days have twice the return dispersion."""
    rng = np.random.default_rng(seed)
    regime = np.where((np.arange(T) // block) % 2 == 0, 1.0, -1.0)
    x = rng.standard_normal((T, N, F)).astype(np.float32)
    y = regime[:, None] * x[:, :, 0] + 1.5 * rng.standard_normal((T, N))
    scale = np.where(regime > 0, 0.02, 0.01)[:, None]
    close = 10 * np.exp(np.cumsum(scale * rng.standard_normal((T, N)), axis=0))
    volume = np.exp(rng.normal(10, 0.3, (T, N)))
    mask = np.ones((T, N), dtype=bool)
    dates = np.datetime64("2021-01-04") + np.arange(T).astype("timedelta64[D]")
    return Inputs(
        dates=dates,
        instruments=np.array([f"S{i:03d}" for i in range(N)]),
        features=x,
        bars=None,
        labels=y[:, :, None].astype(np.float32),
        mask=mask,
        feature_names=[f"x{k}" for k in range(F)],
        label_names=["y"],
        market=daily_market_state(close, volume, mask),
    )


def windows(inputs: Inputs, schedule: str = "expanding", train_days: int = 60, step: int = 20):
    """Walk-forward windows without validation days (embargo 2)."""
    wf = WalkForwardConfig(
        schedule=schedule, train_days=train_days, valid_days=0, step=step, test_start=None
    )
    return make_windows(inputs.dates, wf, embargo=2)
