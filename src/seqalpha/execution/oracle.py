"""The oracle schedule: the cheapest way to trade the remainder given the FUTURE bars (prices,
volumes, blocked bars) under the simulator's impact model — the teacher of the learned policy.

Cost of a child q at bar b: q p_b (side + k sqrt(q / V_b)) (buy: paid; sell: minus proceeds).
It is convex in q, so the optimum equalizes the marginal cost p_b (side + 1.5 k sqrt(q/V_b)) = λ
across bars (KKT), with 0 <= q <= participation x V_b; λ is found by bisection for all orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqalpha.execution.bars import OrderBars
from seqalpha.execution.policy import ACTIONS, LearnedPolicy, nearest_action
from seqalpha.execution.simulator import Fills, Orders, Past, Session, SimParams, run_session


def oracle_schedule(
    price: np.ndarray,
    volume: np.ndarray,
    allowed: np.ndarray,
    side: np.ndarray,
    remaining: np.ndarray,
    impact: float,
    participation: float,
    iters: int = 50,
) -> np.ndarray:
    """Child quantities [M, B] minimizing the impact-inclusive cost of `remaining` [M] over the
    `allowed` bars [M, B] (prices and volumes of those bars known: this sees the future). Where
    the caps cannot hold the remainder every allowed bar is filled to its cap."""
    k = max(float(impact), 1e-9)
    ok = allowed & (volume > 0) & np.isfinite(price) & (price > 0)
    p = np.where(ok, price, 1.0)
    v = np.where(ok, volume, 0.0)
    s = side[:, None]
    cap_root = np.sqrt(participation)
    cap = participation * v

    def qty(lam: np.ndarray) -> np.ndarray:
        root = np.clip((lam[:, None] / p - s) / (1.5 * k), 0.0, cap_root)
        return np.where(ok, v * root**2, 0.0)

    lo = np.where(ok, p * s, np.inf).min(axis=1)
    hi = np.where(ok, p * (s + 1.5 * k * cap_root), -np.inf).max(axis=1)
    lo = np.where(np.isfinite(lo), lo, 0.0)
    hi = np.where(np.isfinite(hi), hi, 0.0)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        over = qty(mid).sum(axis=1) > remaining
        hi = np.where(over, mid, hi)
        lo = np.where(over, lo, mid)
    q = qty(hi)
    full = cap.sum(axis=1) <= remaining
    q = np.where(full[:, None], cap, q)
    tot = q.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where((tot > remaining) & (tot > 0), remaining / tot, 1.0)
    return q * scale[:, None]


def oracle_from(sess: Session, see_prices: bool = True, impact_scale: float = 1.0) -> np.ndarray:
    """The oracle plan [M, B] for the session's remainder from its current bar on (0 before).
    `see_prices=False`: a teacher that sees the future volumes (and blocked bars) but prices every
    future bar at the last known one; its plan is then VWAP on the realized volumes.
    `impact_scale` > 1 plans as if impact were larger: a smoother, more imitable schedule."""
    o, (M, B), b = sess.orders, sess.bars.shape, sess.b
    bars = np.arange(b, B)
    allowed = (bars >= o.start[:, None]) & (bars < o.end[:, None]) & ~sess.blocked[:, b:]
    price = sess.base[:, b:]
    if not see_prices:
        price = np.ones_like(price)  # any constant: the plan does not depend on the level
    plan = np.zeros((M, B))
    plan[:, b:] = oracle_schedule(
        price,
        sess.bars.volume[:, b:],
        allowed,
        o.side,
        sess.remaining,
        sess.params.impact * impact_scale,
        sess.params.participation,
    )
    return plan


@dataclass
class Oracle:
    """A strategy that cheats: it plans with `oracle_from` on the first bar (it holds the
    session; the plan respects caps and blocked bars, so it fills as planned) and follows it.
    Only for measuring the upper bound and teaching; never a tradable strategy."""

    session: Session
    name: str = "oracle"
    max_participation: float | None = None
    plan: np.ndarray | None = None

    def child(self, past: Past) -> np.ndarray:
        if self.plan is None or past.b == 0:
            self.plan = oracle_from(self.session)
        return self.plan[:, past.b]


def teacher_actions(
    sess: Session, step_bars: int, see_prices: bool = True, impact_scale: float = 1.0
) -> np.ndarray:
    """The oracle's next `step_bars` bars of child, as the nearest multiple of the TWAP pace [M]
    (`see_prices=False`: the teacher that sees future volumes only, see `oracle_from`)."""
    plan = oracle_from(sess, see_prices, impact_scale)[:, sess.b : sess.b + step_bars]
    plan = plan.sum(axis=1) / step_bars
    left = np.maximum(sess.orders.end - sess.b, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = plan / (sess.remaining / left)
    return nearest_action(ratio)


def run_teacher(
    orders: Orders,
    bars: OrderBars,
    params: SimParams,
    step_bars: int,
    see_prices: bool = True,
    impact_scale: float = 1.0,
) -> Fills:
    """The teacher on the student's action grid (it reads the future: an upper bound)."""
    sess = Session(orders, bars, params)

    def act(_: np.ndarray) -> np.ndarray:
        return ACTIONS[teacher_actions(sess, step_bars, see_prices, impact_scale)]

    teacher = LearnedPolicy(act, step_bars)
    return run_session(sess, teacher)
