"""Parent orders executed bar by bar: child orders capped by a participation rate of the bar's
volume, square-root market impact, price limits and suspensions, unfilled remainder reported.

All state is vectorized over M orders `[M]` and their bars `[M, B]`. A strategy sees only the
past: `Session.past()` hands it the bars before the current one (see `strategies.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from seqalpha.errors import ConfigError, DataError
from seqalpha.execution.bars import OrderBars


@dataclass(frozen=True)
class SimParams:
    """participation: max child / bar volume; impact: coefficient k of the square-root impact
    (fill = price * (1 + side * k * sqrt(child / bar volume))); price: the bar's 'vwap' or
    'close'; limit: daily price limit as a fraction of the previous close (0.10 main board);
    limit_tol: relative distance to the limit price that counts as 'at the limit'."""

    participation: float = 0.2
    impact: float = 0.01
    price: Literal["vwap", "close"] = "vwap"
    limit: float | None = 0.10
    limit_tol: float = 0.001

    def __post_init__(self) -> None:
        if not 0 < self.participation <= 1:
            raise ConfigError(
                f"execution.participation must be in (0, 1], got {self.participation}"
            )
        if self.impact < 0:
            raise ConfigError(f"execution.impact must be >= 0, got {self.impact}")
        if self.price not in ("vwap", "close"):
            raise ConfigError(f"execution.price must be 'vwap' or 'close', got {self.price!r}")
        if self.limit is not None and not 0 < self.limit < 1:
            raise ConfigError(f"execution.limit must be a fraction in (0, 1), got {self.limit}")


@dataclass(frozen=True)
class Orders:
    """M parent orders on their bars: side +1 buy / -1 sell, quantity > 0 (shares), bars
    start..end-1 (end exclusive) of the order's day."""

    side: np.ndarray
    quantity: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @classmethod
    def make(cls, side, quantity, start, end, n_bars: int) -> Orders:
        """Validated orders (broadcast to one length); a bad field is a one-line DataError."""
        side, quantity, start, end = np.broadcast_arrays(
            np.atleast_1d(np.asarray(side, dtype=np.float64)),
            np.atleast_1d(np.asarray(quantity, dtype=np.float64)),
            np.atleast_1d(np.asarray(start, dtype=np.int64)),
            np.atleast_1d(np.asarray(end, dtype=np.int64)),
        )
        if not np.isin(side, (-1.0, 1.0)).all():
            raise DataError("orders.side: must be +1 (buy) or -1 (sell)")
        if not (np.isfinite(quantity) & (quantity > 0)).all():
            raise DataError("orders.quantity: must be finite and > 0")
        if ((start < 0) | (end > n_bars) | (end <= start)).any():
            raise DataError(f"orders.start/end: need 0 <= start < end <= {n_bars} bars")
        return cls(side.copy(), quantity.copy(), start.copy(), end.copy())

    def __len__(self) -> int:
        return len(self.side)


@dataclass(frozen=True)
class Past:
    """What a strategy may see before trading bar `b`: the bars before b `[M, b]`, the day's
    opening auction price (published before the continuous session), the order and its fills so
    far, and the past-only volume curve forecast [M, B]."""

    b: int
    orders: Orders
    bars: OrderBars  # columns 0..b-1 only
    curve: np.ndarray
    prev_close: np.ndarray
    day_open: np.ndarray  # [M] the open of bar 0
    filled: np.ndarray
    remaining: np.ndarray
    fill_value: np.ndarray  # sum of child * fill price so far [M]


class Strategy(Protocol):
    """An execution strategy: the desired child quantity [M] for bar `past.b` from the past.
    `max_participation` (None = the simulator's) caps child / bar volume, as a POV algo does."""

    name: str
    max_participation: float | None

    def child(self, past: Past) -> np.ndarray: ...


@dataclass
class Fills:
    """Per-bar child fills `[M, B]` (shares, price; 0 / NaN where nothing traded)."""

    orders: Orders
    qty: np.ndarray
    price: np.ndarray
    arrival: np.ndarray  # the open of each order's start bar [M]

    @property
    def filled(self) -> np.ndarray:
        return self.qty.sum(axis=1)

    @property
    def fill_rate(self) -> np.ndarray:
        return self.filled / self.orders.quantity

    @property
    def unfilled(self) -> np.ndarray:
        """The remainder not executed by the end bar [M] (shares)."""
        return self.orders.quantity - self.filled

    @property
    def avg_price(self) -> np.ndarray:
        """Volume-weighted fill price [M] (NaN when nothing filled)."""
        f = self.filled
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(f > 0, np.nansum(self.qty * self.price, axis=1) / f, np.nan)


class Session:
    """One run of M orders over their bars, advanced one bar at a time by `step(child)`."""

    def __init__(self, orders: Orders, bars: OrderBars, params: SimParams | None = None):
        M, B = bars.shape
        if len(orders) != M:
            raise DataError(f"orders: {len(orders)} orders but bars for {M}")
        self.orders, self.bars = orders, bars
        self.params = params or SimParams()
        self.b = 0
        self.qty = np.zeros((M, B))
        self.px = np.full((M, B), np.nan)
        self.filled = np.zeros(M)
        self.fill_value = np.zeros(M)
        base = bars.vwap if self.params.price == "vwap" else bars.close
        self.base = np.where(np.isfinite(base), base, bars.close)
        self.blocked = self._blocked()
        rows = np.arange(M)
        self.arrival = bars.open[rows, orders.start]

    def _blocked(self) -> np.ndarray:
        """[M, B]: no fill possible — no volume (suspended) or no price, a buy at limit-up, a
        sell at limit-down (bar close within limit_tol of the limit price)."""
        p, bars = self.params, self.bars
        out = ~(bars.volume > 0) | ~np.isfinite(self.base)
        if p.limit is not None:
            ref = bars.prev_close[:, None]
            with np.errstate(invalid="ignore"):
                up = bars.close >= ref * (1 + p.limit) * (1 - p.limit_tol)
                down = bars.close <= ref * (1 - p.limit) * (1 + p.limit_tol)
            side = self.orders.side[:, None]
            out |= ((side > 0) & up) | ((side < 0) & down)
        return out

    @property
    def remaining(self) -> np.ndarray:
        return self.orders.quantity - self.filled

    @property
    def done(self) -> bool:
        return self.b >= self.bars.shape[1]

    def past(self) -> Past:
        """The strategy's view before bar b: nothing of bar b or later."""
        return Past(
            self.b,
            self.orders,
            self.bars.before(self.b),
            self.bars.curve,
            self.bars.prev_close,
            self.bars.open[:, 0],
            self.filled.copy(),
            self.remaining,
            self.fill_value.copy(),
        )

    def step(self, child: np.ndarray, max_participation: float | None = None) -> np.ndarray:
        """Trade bar b: the child [M] is clipped to [0, remaining], to the window start..end-1, to
        participation x bar volume, and is 0 where the bar is blocked. Returns the fills [M]."""
        b, o = self.b, self.orders
        rate = self.params.participation
        if max_participation is not None:
            rate = min(rate, max_participation)
        vol = self.bars.volume[:, b]
        want = np.clip(np.nan_to_num(np.asarray(child, dtype=np.float64)), 0.0, self.remaining)
        live = (o.start <= b) & (b < o.end) & ~self.blocked[:, b]
        q = np.where(live, np.minimum(want, rate * vol), 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            part = np.where(q > 0, q / vol, 0.0)
        price = self.base[:, b] * (1.0 + o.side * self.params.impact * np.sqrt(part))
        self.qty[:, b] = q
        self.px[:, b] = np.where(q > 0, price, np.nan)
        self.filled += q
        self.fill_value += np.where(q > 0, q * price, 0.0)
        self.b += 1
        return q

    def fills(self) -> Fills:
        return Fills(self.orders, self.qty, self.px, self.arrival)


def simulate(
    orders: Orders, bars: OrderBars, strategy: Strategy, params: SimParams | None = None
) -> Fills:
    """Run `strategy` over every bar of the orders' days; returns the fills."""
    return run_session(Session(orders, bars, params), strategy)


def run_session(sess: Session, strategy: Strategy) -> Fills:
    """Advance `sess` to its last bar with `strategy`; returns the fills."""
    while not sess.done:
        sess.step(strategy.child(sess.past()), strategy.max_participation)
    return sess.fills()
