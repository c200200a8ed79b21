"""The learned execution policy's observation (past only), action grid and strategy wrapper.

Every `step_bars` bars the policy picks a multiple of the TWAP pace (remaining / bars left) and
trades it evenly over the next `step_bars` bars; the last decision of the window sends the whole
remainder (capped by participation). The network chooses among the multiples of `ACTIONS`; a
deployed student trades the expected multiple under its distribution (see `rl.policy_act`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from seqalpha.execution.simulator import Past

ACTIONS = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0])
N_FEATURES = 10


def _log_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(a / b)


def student_features(past: Past, step_bars: int) -> np.ndarray:
    """Observation [M, N_FEATURES] before bar `past.b`, built from `past` only (bars before b,
    the day's auction open, the order and its fills, previous days' curve/volume/volatility):
    time and quantity left, lag behind TWAP, price moves in units of daily volatility signed by
    the order's side (a buy and a sell mirror each other), volume
    intensity, the curve's share of the next step, the participation needed, the overnight gap.
    Clipped to [-5, 5]."""
    b, o, bars = past.b, past.orders, past.bars
    M, B = past.curve.shape
    Q = o.quantity
    span = (o.end - o.start).astype(np.float64)
    rows = np.arange(M)
    close = bars.close  # [M, b]

    def close_at(j: np.ndarray) -> np.ndarray:  # close of bar j < b; the day's open before
        if b == 0:
            return past.day_open.copy()
        jj = np.clip(j, 0, b - 1)
        return np.where(j >= 0, close[rows, jj], past.day_open)

    last = close_at(np.full(M, b - 1))
    ref = close_at(o.start - 1)
    recent = close_at(np.full(M, b - 1 - step_bars))
    side = o.side  # price moves are signed for the order: > 0 = the price moved against it
    sigma = np.where(np.isfinite(bars.sigma) & (bars.sigma > 0), bars.sigma, 0.02)
    vol = bars.volume
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap_today = np.nansum(bars.vwap * vol, axis=1) / vol.sum(axis=1)
    bidx = np.arange(B)
    in_left = (bidx >= b) & (bidx < o.end[:, None])
    in_next = in_left & (bidx < b + step_bars)
    curve_left = np.where(in_left, past.curve, 0.0).sum(axis=1)
    curve_next = np.where(in_next, past.curve, 0.0).sum(axis=1)
    steps_left = np.ceil(np.maximum(o.end - b, 1) / step_bars)
    lo = max(b - step_bars, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        intensity = (vol[:, lo:b].sum(axis=1) / vol.sum(axis=1)) / (
            past.curve[:, lo:b].sum(axis=1) / past.curve[:, :b].sum(axis=1)
        )
        need = past.remaining / (bars.adv * curve_left * 0.2)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_need, log_intensity = np.log(need), np.log(intensity)
    f = np.stack(
        [
            (b - o.start) / span,
            past.remaining / Q,
            past.remaining / Q - np.clip(o.end - b, 0, None) / span,
            side * _log_ratio(last, ref) / sigma,
            side * _log_ratio(last, recent) / sigma,
            side * _log_ratio(last, vwap_today) / sigma,
            log_intensity,
            curve_next / curve_left * steps_left - 1.0,
            log_need,
            side * _log_ratio(past.day_open, past.prev_close) / sigma,  # the overnight gap
        ],
        axis=1,
    )
    return np.clip(np.nan_to_num(f, nan=0.0, posinf=5.0, neginf=-5.0), -5.0, 5.0).astype(np.float32)


def pace(past: Past, multiple: np.ndarray, step_bars: int) -> np.ndarray:
    """Per-bar child [M] for the next `step_bars` bars: multiple x remaining / bars left, or the
    whole remainder when this is the window's last decision."""
    o = past.orders
    left = np.maximum(o.end - past.b, 1)
    rate = np.maximum(multiple, 0.0) * past.remaining / left
    return np.where(left <= step_bars, past.remaining, rate)


def nearest_action(ratio: np.ndarray) -> np.ndarray:
    """Index of the grid multiple closest to `ratio` (child / TWAP pace) [M]."""
    return np.abs(np.nan_to_num(ratio)[:, None] - ACTIONS[None, :]).argmin(axis=1)


@dataclass
class LearnedPolicy:
    """A strategy from an action function `act(obs [M, F]) -> multiple of the TWAP pace [M]`
    (e.g. a trained policy network): decides at bars start, start + step_bars, ... from the past
    only."""

    act: Callable[[np.ndarray], np.ndarray]
    step_bars: int = 1
    name: str = "learned"
    max_participation: float | None = None
    _rate: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def child(self, past: Past) -> np.ndarray:
        o = past.orders
        if past.b == 0 or len(self._rate) != len(o):
            self._rate = np.zeros(len(o))
        decide = (past.b >= o.start) & ((past.b - o.start) % self.step_bars == 0)
        if decide.any():
            multiple = np.asarray(self.act(student_features(past, self.step_bars)), dtype=float)
            self._rate = np.where(decide, pace(past, multiple, self.step_bars), self._rate)
        return np.where(past.b >= o.start, self._rate, 0.0)
