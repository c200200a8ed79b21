"""Forward-return labels on `[T, N]` close panels (cross-sectional kinds: `seqalpha.xsection`).

Convention: the label at date t is the return from the close of t+offset to the close of
t+offset+horizon (offset=1 by default, so for horizon 1 it equals Qlib's
`Ref($close,-2)/Ref($close,-1)-1`). A label at t never reads a price at a date before t+offset.
"""

from __future__ import annotations

import numpy as np

from seqalpha import xsection as xs
from seqalpha.errors import ConfigError, DataError


def _check_horizon(horizon: int, offset: int) -> None:
    if not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ConfigError(f"label horizon must be an integer >= 1, got {horizon!r}")
    if not isinstance(offset, (int, np.integer)) or offset < 0:
        raise ConfigError(f"label offset must be an integer >= 0, got {offset!r}")


def forward_return(close: np.ndarray, horizon: int, offset: int = 1) -> np.ndarray:
    """close [T, N] (or [T]) -> float32 same shape: close[t+offset+h] / close[t+offset] - 1.

    NaN in the last offset+horizon rows and wherever either price is missing or not positive.
    """
    _check_horizon(horizon, offset)
    c = np.asarray(close)
    if c.ndim not in (1, 2):
        raise DataError(f"forward_return: close must be [T] or [T, N], got shape {c.shape}")
    c = c.astype(np.float32, copy=False)
    out = np.full(c.shape, np.nan, dtype=np.float32)
    T = c.shape[0]
    k = offset + horizon
    if T > k:
        base, end = c[offset : T - horizon], c[k:]
        with np.errstate(invalid="ignore", divide="ignore"):
            r = end / base - np.float32(1.0)
        r[~((base > 0) & (end > 0))] = np.nan
        out[: T - k] = r
    return out


def excess(
    ret: np.ndarray, benchmark_ret: np.ndarray | None = None, universe: np.ndarray | None = None
) -> np.ndarray:
    """ret [T, N(, H)] minus a benchmark [T(, H)], or minus the universe's cross-sectional mean.

    NaN outside the universe [T, N] when one is given.
    """
    r = np.asarray(ret, dtype=np.float64)
    if r.ndim not in (2, 3):
        raise DataError(f"excess: ret must be [T, N] or [T, N, H], got shape {r.shape}")
    if universe is not None:
        if universe.shape != r.shape[:2]:
            raise DataError(f"excess: universe shape {universe.shape} != ret shape {r.shape[:2]}")
        r = r.copy()
        r[~universe] = np.nan
    if benchmark_ret is None:
        return xs.demean(r).astype(np.float32)
    b = np.asarray(benchmark_ret, dtype=np.float64)
    if b.shape != (r.shape[0], *r.shape[2:]):
        raise DataError(
            f"excess: benchmark shape {b.shape} != {(r.shape[0], *r.shape[2:])} [T(, H)]"
        )
    return (r - b[:, None]).astype(np.float32)


def risk_adjusted(ret: np.ndarray, bar_returns_window_vol: np.ndarray) -> np.ndarray:
    """ret [T, N] over the realized volatility of intraday bar returns across the horizon [T, N].

    The volatility must cover the same days as the return (see `forward_bar_volatility`);
    NaN where it is missing or zero.
    """
    r = np.asarray(ret, dtype=np.float64)
    v = np.asarray(bar_returns_window_vol, dtype=np.float64)
    if r.shape != v.shape:
        raise DataError(f"risk_adjusted: ret shape {r.shape} != volatility shape {v.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(v > 0, r / v, np.nan)
    return out.astype(np.float32)


def forward_bar_volatility(day_sumsq: np.ndarray, horizon: int, offset: int = 1) -> np.ndarray:
    """Realized vol over days t+offset+1 .. t+offset+horizon from per-day sums of squared bar
    log returns [T, N]: sqrt of their sum; NaN if any of those days is missing. [T, N] -> [T, N].
    """
    _check_horizon(horizon, offset)
    s = np.asarray(day_sumsq, dtype=np.float64)
    if s.ndim != 2:
        raise DataError(f"forward_bar_volatility: expected [T, N], got shape {s.shape}")
    T = s.shape[0]
    ok = np.isfinite(s)
    csum = np.concatenate([np.zeros((1, s.shape[1])), np.cumsum(np.where(ok, s, 0.0), axis=0)])
    cnt = np.concatenate([np.zeros((1, s.shape[1])), np.cumsum(ok, axis=0)])
    out = np.full(s.shape, np.nan)
    lo, hi = offset + 1, offset + horizon + 1  # days [t+lo, t+hi) -> prefix indices t+lo .. t+hi
    n = T - (offset + horizon)
    if n > 0:
        total = csum[hi : hi + n] - csum[lo : lo + n]
        count = cnt[hi : hi + n] - cnt[lo : lo + n]
        out[:n] = np.where(count == horizon, np.sqrt(np.maximum(total, 0.0)), np.nan)
    return out.astype(np.float32)
