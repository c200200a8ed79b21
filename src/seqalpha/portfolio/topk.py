"""Top-k dropout (Qlib's TopkDropoutStrategy semantics) as a numba step function.

The step sees one day: the signal row of the previous trading day, what is held, and what can be
traded today; it returns which names to sell and, in order, which to buy. The backtest loop
executes the sells, splits the resulting cash equally among the buys, and moves on; so what is
held tomorrow depends on what could actually be traded today.

Rule (method_sell="bottom", method_buy="top"), with L = names held and s the signal:
  today = the best `n_drop + topk - |L|` names not held (by s, descending)
  comb  = L + today ranked by s (held names without a signal rank last)
  sell  = held names among the `n_drop` lowest of comb
  buy   = today[: |sell| + topk - |L|]
Sells are skipped for names that cannot be sold today (or held fewer than `hold_thresh` days);
buys are skipped for names that cannot be bought; the buy budget is still split over all of `buy`
(as Qlib does), so a blocked buy leaves its share in cash.

Equal scores are ordered by instrument position (deterministic). Qlib leaves ties to numpy's
unstable quicksort, so on tied scores (frequent with few-tree LightGBM) the two can pick
different names; with distinct scores they agree day by day (benchmarks/bench_backtest.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from seqalpha.errors import ConfigError


@nb.njit(cache=True)
def _py_prefix(length: int, k: int) -> int:
    """Length of Python's `seq[:k]` for a sequence of `length` (negative k counts from the end)."""
    if k >= 0:
        return min(k, length)
    return max(length + k, 0)


@nb.njit(cache=True)
def _desc_order(idx: np.ndarray, s: np.ndarray) -> np.ndarray:
    """idx sorted by s descending, NaN last, ties kept in index order (stable)."""
    key = np.empty(len(idx))
    for k in range(len(idx)):
        v = s[idx[k]]
        key[k] = -v if np.isfinite(v) else np.inf
    return idx[np.argsort(key, kind="mergesort")]


@nb.njit(cache=True)
def topk_dropout_step(
    signal: np.ndarray, held: np.ndarray, topk: int, n_drop: int
) -> tuple[np.ndarray, np.ndarray]:
    """One day of top-k dropout: signal float [N] (NaN = no prediction), held bool [N].

    Returns (sell indices, buy indices in buying order), before tradability checks.
    """
    N = len(signal)
    held_idx = np.nonzero(held)[0]
    n_last = len(held_idx)
    cand = np.nonzero(~held & np.isfinite(signal))[0]
    cand = _desc_order(cand, signal)
    today = cand[: _py_prefix(len(cand), n_drop + topk - n_last)]
    comb_idx = np.sort(np.concatenate((held_idx, today)))
    comb = _desc_order(comb_idx, signal)
    is_bottom = np.zeros(N, dtype=np.bool_)
    nb_ = min(max(n_drop, 0), len(comb))
    for k in range(len(comb) - nb_, len(comb)):
        is_bottom[comb[k]] = True
    n_sell = 0
    for i in held_idx:
        if is_bottom[i]:
            n_sell += 1
    sell = np.empty(n_sell, dtype=np.int64)
    k = 0
    for i in held_idx:
        if is_bottom[i]:
            sell[k] = i
            k += 1
    buy = today[: _py_prefix(len(today), n_sell + topk - n_last)]
    return sell, buy.astype(np.int64)


@dataclass(frozen=True)
class TopkDropout:
    """Hold `topk` names; each day replace at most `n_drop` of them (Qlib's TopkDropoutStrategy).

    hold_thresh: minimum days held before a sale. forbid_all_trade_at_limit: a name at either price
    limit is neither bought nor sold (Qlib's default); False allows selling at limit-up and buying
    at limit-down. only_tradable is not supported (Qlib's default False is what runs).
    """

    topk: int = 50
    n_drop: int = 5
    hold_thresh: int = 1
    forbid_all_trade_at_limit: bool = True
    risk_degree: float = 0.95

    def __post_init__(self) -> None:
        if self.topk < 1:
            raise ConfigError(f"TopkDropout.topk must be >= 1, got {self.topk}")
        if not 0 <= self.n_drop <= self.topk:
            raise ConfigError(f"TopkDropout.n_drop must be in 0..topk, got {self.n_drop}")
        if self.hold_thresh < 0:
            raise ConfigError(f"TopkDropout.hold_thresh must be >= 0, got {self.hold_thresh}")
        if not 0 < self.risk_degree <= 1:
            raise ConfigError(f"TopkDropout.risk_degree must be in (0, 1], got {self.risk_degree}")

    def step(self, signal: np.ndarray, held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sell indices, buy indices) for one day; signal float [N], held bool [N]."""
        signal = np.asarray(signal, dtype=np.float64)
        held = np.asarray(held, dtype=np.bool_)
        if signal.shape != held.shape or signal.ndim != 1:
            raise ConfigError(
                f"TopkDropout.step: signal {signal.shape} and held {held.shape} must be equal 1-D"
            )
        return topk_dropout_step(signal, held, self.topk, self.n_drop)
