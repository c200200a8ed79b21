"""Execution strategies by registered name: TWAP, VWAP (past-only volume curve), POV.

A strategy maps the past (`simulator.Past`) to the child quantity [M] it wants at bar `b`;
schedules are cumulative targets, so a bar that could not fill is caught up later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqalpha.errors import ConfigError
from seqalpha.execution.simulator import Past, Strategy


def _catch_up(past: Past, cum_frac: np.ndarray) -> np.ndarray:
    """Child = quantity x target cumulative fraction after bar b - already filled."""
    return np.maximum(past.orders.quantity * cum_frac - past.filled, 0.0)


@dataclass
class TWAP:
    """Equal child orders over the bars start..end-1."""

    name: str = "twap"
    max_participation: float | None = None

    def child(self, past: Past) -> np.ndarray:
        o = past.orders
        frac = np.clip((past.b + 1 - o.start) / (o.end - o.start), 0.0, 1.0)
        return _catch_up(past, frac)


@dataclass
class VWAP:
    """Child orders in proportion to the forecast volume curve (from previous days only)."""

    name: str = "vwap"
    max_participation: float | None = None

    def child(self, past: Past) -> np.ndarray:
        o, B = past.orders, past.curve.shape[1]
        bars = np.arange(B)
        window = (bars >= o.start[:, None]) & (bars < o.end[:, None])
        w = np.where(window, past.curve, 0.0)
        total = w.sum(axis=1)
        upto = w[:, : past.b + 1].sum(axis=1)
        twap = np.clip((past.b + 1 - o.start) / (o.end - o.start), 0.0, 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(total > 0, upto / total, twap)
        return _catch_up(past, frac)


@dataclass
class POV:
    """Percent of volume: trade `rate` of each bar's printed volume until done."""

    rate: float = 0.1
    name: str = "pov"
    max_participation: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.rate <= 1:
            raise ConfigError(f"execution.pov rate must be in (0, 1], got {self.rate}")
        self.max_participation = self.rate

    def child(self, past: Past) -> np.ndarray:
        return past.remaining.copy()


STRATEGIES: dict[str, Callable[..., Strategy]] = {"twap": TWAP, "vwap": VWAP, "pov": POV}


def register_strategy(name: str, factory: Callable[..., Strategy]) -> None:
    """Add an execution strategy under `name` (the learned policy registers itself)."""
    STRATEGIES[name] = factory


def make_strategy(name: str, **params: Any) -> Strategy:
    """The registered strategy `name` built with `params`; unknown names/params: ConfigError."""
    if name not in STRATEGIES:
        valid = ", ".join(sorted(STRATEGIES))
        raise ConfigError(f"execution.strategy: unknown strategy {name!r}; allowed: {valid}")
    try:
        return STRATEGIES[name](**params)
    except TypeError as exc:
        raise ConfigError(
            f"execution.strategy {name!r}: bad params {sorted(params)} ({exc})"
        ) from None


def _learned(policy: str, step_bars: int = 1) -> Strategy:
    """A trained student saved by `rl.save_student` (imports torch/stable-baselines3 lazily)."""
    from seqalpha.execution.rl import learned_strategy

    return learned_strategy(policy, step_bars)


register_strategy("learned", _learned)
