"""Signals -> target weights `[T, N]`, vectorized over instruments.

Row t of the output is the portfolio wanted after trading on the day the signal row t is
known; the backtest applies it one trading day later (`signal_lag`). Names outside the universe
or without a finite score get weight 0.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from seqalpha.errors import ConfigError, DataError
from seqalpha.evaluate import quantile_groups


def _valid(score: np.ndarray, universe: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    score = np.asarray(score, dtype=np.float64)
    if score.ndim != 2:
        raise DataError(f"score: expected a [T, N] array, got shape {score.shape}")
    valid = np.isfinite(score)
    if universe is not None:
        universe = np.asarray(universe, dtype=bool)
        if universe.shape != score.shape:
            raise DataError(f"universe: shape {universe.shape} differs from score {score.shape}")
        valid &= universe
    return score, valid


def quantile_long_short(
    score: np.ndarray, universe: np.ndarray | None = None, n_groups: int = 5, gross: float = 2.0
) -> np.ndarray:
    """Equal-weight long the top group, short the bottom group; each side gross/2, net 0. [T, N]."""
    score, valid = _valid(score, universe)
    g = quantile_groups(np.where(valid, score, np.nan), None, n_groups)
    top, bot = g == n_groups - 1, g == 0
    nt, nb_ = top.sum(axis=1, keepdims=True), bot.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(top, 0.5 * gross / nt, 0.0) - np.where(bot, 0.5 * gross / nb_, 0.0)
    w[((nt == 0) | (nb_ == 0))[:, 0]] = 0.0
    return w


def score_weighted(
    score: np.ndarray,
    universe: np.ndarray | None = None,
    topk: int | None = None,
    max_weight: float = 1.0,
) -> np.ndarray:
    """Long-only weights proportional to the positive part of the day's z-scored signal
    (optionally only the `topk` best), summing to 1 per day where any name qualifies; with
    `max_weight`, the excess goes to uncapped names, or stays in cash when all are capped.
    [T, N]."""
    if not 0 < max_weight <= 1:
        raise ConfigError(f"score_weighted: max_weight must be in (0, 1], got {max_weight}")
    score, valid = _valid(score, universe)
    n = valid.sum(axis=1, keepdims=True)
    x = np.where(valid, score, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = x.sum(axis=1, keepdims=True) / n
        sd = np.sqrt(np.where(valid, (x - mu) ** 2, 0.0).sum(axis=1, keepdims=True) / n)
        z = (x - mu) / sd
    raw = np.where(valid & (z > 0), z, 0.0)
    if topk is not None:
        if topk < 1:
            raise ConfigError(f"score_weighted: topk must be >= 1, got {topk}")
        # rank from the top; keep the topk best per row
        order = np.argsort(-np.where(valid, score, -np.inf), axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(
            rank, order, np.arange(score.shape[1])[None, :].repeat(score.shape[0], 0), 1
        )
        raw = np.where(rank < topk, raw, 0.0)
    tot = raw.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(tot > 0, raw / tot, 0.0)
    if max_weight < 1:
        w = _cap_weights(w, max_weight)
    w[n[:, 0] < 1] = 0.0
    return w


def _cap_weights(w: np.ndarray, cap: float, iters: int = 50) -> np.ndarray:
    """Clip each row at `cap` and hand the excess to the uncapped names pro rata (rows sum kept)."""
    w = w.copy()
    total = w.sum(axis=1, keepdims=True)
    for _ in range(iters):
        over = w > cap + 1e-12
        if not over.any():
            break
        excess = np.where(over, w - cap, 0.0).sum(axis=1, keepdims=True)
        w = np.minimum(w, cap)
        free = (w < cap - 1e-12) & (w > 0)
        fsum = np.where(free, w, 0.0).sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(free & (fsum > 0), w + excess * w / fsum, w)
    return np.where(total > 0, w, 0.0)


@nb.njit(cache=True)
def _tradable_path(target: np.ndarray, can_buy: np.ndarray, can_sell: np.ndarray) -> np.ndarray:
    T, N = target.shape
    out = np.zeros((T, N))
    prev = np.zeros(N)
    for t in range(T):
        for i in range(N):
            w = target[t, i]
            if (w > prev[i] and not can_buy[t, i]) or (w < prev[i] and not can_sell[t, i]):
                w = prev[i]
            out[t, i] = w
            prev[i] = w
    return out


def apply_tradability(target: np.ndarray, can_buy: np.ndarray, can_sell: np.ndarray) -> np.ndarray:
    """Weights actually held `[T, N]`: a weight rise needs `can_buy`, a fall `can_sell`; else the
    previous weight is kept (path-dependent, numba). Weights are in the same day's coordinates."""
    target = np.asarray(target, dtype=np.float64)
    if can_buy.shape != target.shape or can_sell.shape != target.shape:
        raise DataError(
            f"apply_tradability: can_buy {can_buy.shape} / can_sell {can_sell.shape} "
            f"must match target {target.shape}"
        )
    return _tradable_path(
        np.nan_to_num(target), np.asarray(can_buy, bool), np.asarray(can_sell, bool)
    )
