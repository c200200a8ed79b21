"""Quantile-group returns, top-group turnover, IC decay, Numerai-style scores, random-signal test.

All inputs are `[T, N]` arrays (date x instrument) as in `signal`; NaN or masked-out names are
ignored day by day, and a day with fewer than 2 valid names gives NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from seqalpha import xsection as xs
from seqalpha.errors import ConfigError, DataError
from seqalpha.evaluate.signal import MIN_NAMES, _check, daily_ic, summarize_ic


def quantile_groups(
    score: np.ndarray, mask: np.ndarray | None = None, n_groups: int = 5
) -> np.ndarray:
    """Group index 0 (lowest score) .. n_groups-1 (highest) per day, -1 where invalid.

    int8 [T, N]."""
    if n_groups < 2:
        raise ConfigError(f"n_groups must be >= 2, got {n_groups}")
    score = np.asarray(score, dtype=np.float64)
    valid = np.isfinite(score) if mask is None else np.isfinite(score) & np.asarray(mask, bool)
    n = valid.sum(axis=1, keepdims=True)
    r = xs.rank_avg(score, valid)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = np.floor((r - 1.0) * n_groups / n)
    ok = valid & (n >= max(MIN_NAMES, n_groups))
    return np.where(ok, np.clip(np.nan_to_num(g, nan=0.0), 0, n_groups - 1), -1).astype(np.int8)


def quantile_returns(
    score: np.ndarray, fwd_return: np.ndarray, mask: np.ndarray | None = None, n_groups: int = 5
) -> np.ndarray:
    """Mean forward return of each score group per day: [T, N] -> [T, n_groups] (NaN if empty)."""
    score, fwd, valid = _check(score, fwd_return, mask, ("score", "fwd_return"))
    g = quantile_groups(np.where(valid, score, np.nan), None, n_groups)
    out = np.full((score.shape[0], n_groups), np.nan)
    for k in range(n_groups):
        sel = g == k
        cnt = sel.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, k] = np.where(sel, fwd, 0.0).sum(axis=1) / cnt
    return out


def cumulative_returns(returns: np.ndarray, compound: bool = True) -> np.ndarray:
    """Cumulative curves of daily returns along axis 0 ([T] or [T, K]); NaN days count as 0."""
    r = np.nan_to_num(np.asarray(returns, dtype=np.float64), nan=0.0)
    return np.cumprod(1.0 + r, axis=0) - 1.0 if compound else np.cumsum(r, axis=0)


def long_short(group_returns: np.ndarray) -> np.ndarray:
    """Top-group minus bottom-group return per day: [T, G] -> [T]."""
    g = np.asarray(group_returns, dtype=np.float64)
    return g[:, -1] - g[:, 0]


def top_group_turnover(
    score: np.ndarray, mask: np.ndarray | None = None, n_groups: int = 5
) -> np.ndarray:
    """Share of today's top-group names not in yesterday's top group: [T, N] -> [T] (day 0 NaN)."""
    top = quantile_groups(score, mask, n_groups) == n_groups - 1
    out = np.full(top.shape[0], np.nan)
    if top.shape[0] > 1:
        size = top[1:].sum(axis=1)
        stay = (top[1:] & top[:-1]).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[1:] = np.where(size > 0, 1.0 - stay / size, np.nan)
    return out


def forward_return(close: np.ndarray, horizon: int, lag: int = 1) -> np.ndarray:
    """close[t+lag+h] / close[t+lag] - 1 as `[T, N]` (NaN where it runs past the end)."""
    if horizon < 1 or lag < 0:
        raise ConfigError(
            f"forward_return: horizon must be >= 1 and lag >= 0, got {horizon}, {lag}"
        )
    c = np.asarray(close, dtype=np.float64)
    out = np.full(c.shape, np.nan)
    T = c.shape[0]
    a, b = lag, lag + horizon
    if b < T:
        with np.errstate(invalid="ignore", divide="ignore"):
            out[: T - b] = c[b:] / c[a : T - b + a] - 1.0
    return out


def ic_decay(
    score: np.ndarray,
    close: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    horizons: Iterable[int] = range(1, 21),
    lag: int = 1,
    forward_fn: Callable[[int], np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Mean IC and Rank IC of the score against h-day forward returns for each horizon h.

    Give `close` [T, N] (return from t+lag to t+lag+h) or `forward_fn(h) -> [T, N]`.
    Returns {"horizon": [H], "ic": [H], "rank_ic": [H]}.
    """
    if (close is None) == (forward_fn is None):
        raise ConfigError("ic_decay: give exactly one of close and forward_fn")
    hs = np.array(list(horizons), dtype=int)
    ic, ric = np.full(len(hs), np.nan), np.full(len(hs), np.nan)
    for i, h in enumerate(hs):
        if close is not None:
            fwd = forward_return(close, int(h), lag)
        elif forward_fn is not None:
            fwd = forward_fn(int(h))
        else:  # excluded above; keeps `fwd` bound for the checker
            raise ConfigError("ic_decay: give exactly one of close and forward_fn")
        ic[i] = summarize_ic(daily_ic(score, fwd, mask))["mean"]
        ric[i] = summarize_ic(daily_ic(score, fwd, mask, "spearman"))["mean"]
    return {"horizon": hs, "ic": ic, "rank_ic": ric}


# --- Numerai-style scoring -------------------------------------------------------------------


def _pow15(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.abs(x) ** 1.5


def numerai_corr(
    score: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Numerai CORR per day `[T]`: tie-kept rank -> gaussianize (`xsection.rank_gauss`) -> ^1.5 of
    predictions, Pearson with the day-centred target raised to ^1.5 (sign kept)."""
    score, target, valid = _check(score, target, mask, ("score", "target"))
    p = _pow15(xs.rank_gauss(score, valid))
    n = valid.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = target - np.where(valid, target, 0.0).sum(axis=1, keepdims=True) / n
    return xs.daily_ic(p, _pow15(t), valid)


def neutralize(
    score: np.ndarray, features: np.ndarray, mask: np.ndarray | None = None, proportion: float = 1.0
) -> np.ndarray:
    """Per-day residual of the score on the features (with intercept), least squares.

    score [T, N], features [T, N, F]; a name needs all features finite. [T, N], NaN elsewhere.
    """
    score = np.asarray(score, dtype=np.float64)
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 3 or feats.shape[:2] != score.shape:
        raise DataError(f"features: expected shape {(*score.shape, 'F')}, got {feats.shape}")
    valid = np.isfinite(score) & np.isfinite(feats).all(axis=2)
    if mask is not None:
        valid &= np.asarray(mask, bool)
    out = np.full(score.shape, np.nan)
    for t in range(score.shape[0]):  # one small least-squares per day, vectorized over names
        v = valid[t]
        if v.sum() <= feats.shape[2] + 1:
            continue
        X = np.column_stack([np.ones(v.sum()), feats[t, v]])
        y = score[t, v]
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        out[t, v] = y - proportion * (X[:, 1:] @ beta[1:]) - beta[0]
    return out


def feature_neutral_corr(
    score: np.ndarray, target: np.ndarray, features: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Numerai FNC per day `[T]`: gaussianized predictions neutralized on the features, then
    `numerai_corr`."""
    score, target, valid = _check(score, target, mask, ("score", "target"))
    g = xs.rank_gauss(score, valid)
    neu = neutralize(g, features, valid)
    return numerai_corr(neu, target, valid & np.isfinite(neu))


# --- significance ----------------------------------------------------------------------------


def random_signal_test(
    label: np.ndarray,
    observed_ic: float,
    mask: np.ndarray | None = None,
    n_trials: int = 200,
    method: str = "pearson",
    seed: int = 0,
) -> dict:
    """Monte-Carlo null: mean daily IC of `n_trials` i.i.d. normal scores on the same panel.

    label, mask: [T, N]. Returns null mean/std, the two-sided p-value (with +1 correction) of
    `observed_ic`, and the null sample [n_trials].
    """
    if n_trials < 1:
        raise ConfigError(f"n_trials must be >= 1, got {n_trials}")
    label = np.asarray(label, dtype=np.float64)
    rng = np.random.default_rng(seed)
    null = np.empty(n_trials)
    for k in range(n_trials):
        s = rng.standard_normal(label.shape)
        null[k] = summarize_ic(daily_ic(s, label, mask, method))["mean"]
    centre = float(null.mean())
    exceed = np.sum(np.abs(null - centre) >= abs(observed_ic - centre))
    return {
        "observed": float(observed_ic),
        "null_mean": centre,
        "null_std": float(null.std(ddof=1)) if n_trials > 1 else float("nan"),
        "p_value": float((exceed + 1) / (n_trials + 1)),
        "null": null,
    }
