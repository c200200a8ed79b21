"""Training-sample selection for walk-forward windows: which training rows a window's model
sees, and with what weight.

- by period similarity (`method: similar`): the window's training range is cut into periods of
  `period` days, each described by market-state statistics (index return and volatility,
  cross-sectional dispersion, breadth, turnover); the model trains on the `k` periods most like
  the `period` days before the test range (plus the `recent` latest periods);
- by learned re-weighting (`method: ddgda`, `train.reweight`): a meta-model maps the same
  period descriptions to per-period weights, learned on the training range itself;
- by risk traits (`traits`): rows whose cross-sectional quantile of a feature column (size,
  volatility, book-to-price, ...) is outside [low, high] on their date are dropped (or weighted).

Everything here reads only prices up to the day before the test range and labels of the
training range: what is known when the window's model is fitted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqalpha.errors import ConfigError, DataError

STATE_NAMES = ("ret", "vol", "dispersion", "breadth", "turnover")
TURNOVER_DAYS = 20  # volume is compared with its mean over the previous 20 days


# ------------------------------------------------------------------------ daily market state


def daily_market_state(
    close: np.ndarray, volume: np.ndarray, member: np.ndarray, block: int = 256
) -> np.ndarray:
    """float32 [T, 4] per day from close, volume [T, N] and membership bool [T, N]:
    equal-weighted index return, cross-sectional dispersion (std) of returns, breadth (share of
    rising members) and turnover (mean log ratio of volume to its previous 20-day mean).

    Row t uses prices and volumes up to the close of t only. NaN where fewer than two members
    have a return. Computed by blocks of `block` instruments (per-day sums), so that memory
    stays at a few [T, block] arrays whatever N."""
    T, N = np.shape(close)
    # per-day sums over members: count, sum r, sum r^2, rising, turnover count and sum
    acc = np.zeros((T, 6))
    t = np.arange(T)
    lo = np.maximum(t - TURNOVER_DAYS, 0)
    for j0 in range(0, N, block):
        cols = slice(j0, j0 + block)
        c = np.asarray(close[:, cols], dtype=np.float64)
        v = np.asarray(volume[:, cols], dtype=np.float64)
        m = np.asarray(member[:, cols], dtype=bool)
        ret = np.full(c.shape, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            ret[1:] = c[1:] / c[:-1] - 1.0
            logv = np.log(np.where(v > 0, v, np.nan))
        ok_r = m & np.isfinite(ret)
        r0 = np.where(ok_r, ret, 0.0)
        # mean of the previous TURNOVER_DAYS finite log volumes (t-20 .. t-1), via cumsums
        ok_v = np.isfinite(logv)
        cs = np.vstack([np.zeros((1, c.shape[1])), np.cumsum(np.where(ok_v, logv, 0.0), 0)])
        cn = np.vstack([np.zeros((1, c.shape[1])), np.cumsum(ok_v, 0)])
        prev_n = cn[t] - cn[lo]
        with np.errstate(divide="ignore", invalid="ignore"):
            turn = logv - (cs[t] - cs[lo]) / prev_n
        ok_t = m & ok_v & (prev_n >= 5)
        acc[:, 0] += ok_r.sum(axis=1)
        acc[:, 1] += r0.sum(axis=1)
        acc[:, 2] += (r0 * r0).sum(axis=1)
        acc[:, 3] += (ok_r & (ret > 0)).sum(axis=1)
        acc[:, 4] += ok_t.sum(axis=1)
        acc[:, 5] += np.where(ok_t, turn, 0.0).sum(axis=1)
    out = np.full((T, 4), np.nan, dtype=np.float32)
    n = acc[:, 0]
    rows = n >= 2
    mean = acc[rows, 1] / n[rows]
    out[rows, 0] = mean
    out[rows, 1] = np.sqrt(np.maximum(acc[rows, 2] / n[rows] - mean * mean, 0.0))
    out[rows, 2] = acc[rows, 3] / n[rows]
    tn = acc[:, 4] > 0
    out[tn, 3] = acc[tn, 5] / acc[tn, 4]
    return out


def market_state(panel) -> np.ndarray | None:
    """`daily_market_state` of a Panel with `close` and `volume` over its universe (None when
    the panel lacks either field)."""
    if "close" not in panel or "volume" not in panel:
        return None
    return daily_market_state(panel["close"], panel["volume"], panel.universe)


def period_state(daily: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """float64 [5] descriptors of days [lo, hi): compounded index return, index volatility,
    mean dispersion, mean breadth, mean turnover (NaN-aware)."""
    d = np.asarray(daily[lo:hi], dtype=np.float64)
    r = d[:, 0][np.isfinite(d[:, 0])]
    with np.errstate(invalid="ignore"):
        out = np.array(
            [
                np.prod(1.0 + r) - 1.0 if len(r) else np.nan,
                r.std() if len(r) > 1 else np.nan,
                *(np.nanmean(d[:, j]) if np.isfinite(d[:, j]).any() else np.nan for j in (1, 2, 3)),
            ]
        )
    return out


# ------------------------------------------------------------------------ periods of a window


def train_periods(train: tuple[int, int], period: int) -> list[tuple[int, int]]:
    """Blocks of `period` days tiling the training range [lo, hi) backwards from its end,
    oldest first (the oldest may be shorter; one under half a period is merged into the next)."""
    lo, hi = train
    out = []
    end = hi
    while end > lo:
        start = max(lo, end - period)
        out.append((start, end))
        end = start
    out.reverse()
    if len(out) > 1 and out[0][1] - out[0][0] < period / 2:
        out = [(out[0][0], out[1][1]), *out[2:]]
    return out


def describe_periods(
    daily: np.ndarray, periods: list[tuple[int, int]], current: tuple[int, int], names
) -> tuple[np.ndarray, np.ndarray]:
    """Standardised descriptors (z-scored across the periods) [P, S] of the periods and [S] of
    the `current` days; NaN descriptors become 0 (the mean)."""
    cols = [STATE_NAMES.index(n) for n in names]
    S = np.stack([period_state(daily, a, b) for a, b in periods])[:, cols]
    c = period_state(daily, *current)[cols]
    with np.errstate(invalid="ignore"):
        mu = np.nanmean(S, axis=0)
        sd = np.nanstd(S, axis=0)
    mu = np.where(np.isfinite(mu), mu, 0.0)
    sd = np.where(np.isfinite(sd) & (sd > 1e-12), sd, 1.0)
    z = np.nan_to_num((S - mu) / sd)
    zc = np.nan_to_num((c - mu) / sd)
    return z, zc


def similar_periods(z: np.ndarray, zc: np.ndarray, k: int, recent: int = 0) -> np.ndarray:
    """bool [P]: the `k` periods nearest (Euclidean) to the current state, and the `recent`
    latest periods."""
    P = len(z)
    dist = np.sqrt(((z - zc) ** 2).sum(axis=1))
    keep = np.zeros(P, dtype=bool)
    keep[np.argsort(dist, kind="stable")[: min(k, P)]] = True
    if recent:
        keep[max(0, P - recent) :] = True
    return keep


# ------------------------------------------------------------------------ risk traits


def trait_weights(
    values: np.ndarray, mask: np.ndarray, low: float, high: float, outside: float
) -> np.ndarray:
    """float32 [T, N]: 1 where the row's cross-sectional quantile (0..1 among the day's members
    with a finite value) of `values` [T, N] lies in [low, high], `outside` elsewhere (also for
    rows without a value)."""
    v = np.where(mask, np.asarray(values, dtype=np.float64), np.nan)
    ok = np.isfinite(v)
    ranks = np.argsort(np.argsort(np.where(ok, v, np.inf), axis=1, kind="stable"), axis=1)
    n = ok.sum(axis=1, keepdims=True)
    q = np.where(ok, ranks / np.maximum(n - 1, 1), np.nan)
    inside = ok & (q >= low - 1e-9) & (q <= high + 1e-9)
    return np.where(inside, 1.0, outside).astype(np.float32)


# ------------------------------------------------------------------------ config and the hook


def selection_spec(sel) -> dict[str, Any]:
    """The picklable spec of a SelectionConfig ({} when it selects nothing)."""
    if sel is None or (sel.method == "none" and not sel.traits):
        return {}
    return sel.model_dump()


def gives_weights(spec: dict[str, Any]) -> bool:
    """True when the selection yields fractional weights (not only kept/dropped rows)."""
    if not spec:
        return False
    return spec["method"] == "ddgda" or any(
        0.0 < t["outside_weight"] < 1.0 or t["outside_weight"] > 1.0 for t in spec["traits"]
    )


def check_selection(spec: dict[str, Any], model_cls: type, feature_names=None) -> None:
    """ConfigError when the model cannot take the selection's weights, or a trait names a
    feature the run does not compute (`feature_names` None: not checked)."""
    if gives_weights(spec) and not getattr(model_cls, "accepts_weights", False):
        name = getattr(model_cls, "registered_name", model_cls.__name__)
        raise ConfigError(
            f"selection: method {spec['method']!r} / trait outside_weight give sample weights, "
            f"which model {name!r} does not accept (use linear or lgbm, or outside_weight 0)"
        )
    if feature_names is not None:
        known = set(feature_names)
        for i, t in enumerate(spec.get("traits", [])):
            if t["feature"] not in known:
                raise ConfigError(
                    f"selection.traits.{i}.feature: {t['feature']!r} is not a feature of this run"
                )


def select_rows(
    inputs,
    window,
    spec: dict[str, Any],
    lo: int,
    train_mask: np.ndarray,
    features: Any,
    labels: np.ndarray,
    label_col: int = 0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(train mask, weights or None) of one window after selection, on the window's rows
    [lo, lo + T_w): rows of dropped periods or traits leave the mask; fractional weights are
    returned as float32 [T_w, N] (None when every kept row weighs 1).

    Reads `inputs.market` (daily state) up to the day before the test range, the raw feature
    columns of traits on the training rows, and (ddgda) the processed `features` and `labels`
    of the training rows. `features`: the window's processed features [T_w, N, F] (an array or
    an out-of-core `FeatureStore`), or None."""
    w = np.ones(train_mask.shape, dtype=np.float32)
    tr0, tr1 = window.train
    if spec["method"] != "none":
        market = getattr(inputs, "market", None)
        if market is None:
            raise DataError(
                "selection.method: needs the daily market state (the store has no close/volume)"
            )
        periods = train_periods((tr0, tr1), spec["period"])
        te0 = window.test[0]
        current = (max(0, te0 - spec["period"]), te0)  # prices known before the test range
        z, zc = describe_periods(market, periods, current, spec["state"])
        if spec["method"] == "similar":
            pw = similar_periods(z, zc, spec["k"], spec["recent"]).astype(np.float32)
        elif spec["method"] == "ddgda":
            from seqalpha.train.reweight import ddgda_period_weights, period_moments

            if features is None:
                raise DataError("selection.method 'ddgda': needs daily features")
            rel = [(a - lo, b - lo) for a, b in periods]
            moments = period_moments(features, labels[:, :, label_col], train_mask, rel)
            pw = ddgda_period_weights(z, zc, moments, **spec["ddgda"]).astype(np.float32)
        else:
            raise ConfigError(f"selection.method: unknown method {spec['method']!r}")
        for (a, b), v in zip(periods, pw, strict=True):
            w[a - lo : b - lo] = v
    for t in spec["traits"]:
        names = list(inputs.feature_names)
        if t["feature"] not in names or inputs.features is None:
            raise DataError(f"selection.traits: feature {t['feature']!r} is not in the inputs")
        j = names.index(t["feature"])
        vals = np.asarray(inputs.features[tr0:tr1, :, j])
        tw = trait_weights(vals, inputs.mask[tr0:tr1], t["low"], t["high"], t["outside_weight"])
        w[tr0 - lo : tr1 - lo] *= tw
    train_rows = np.zeros(len(w), dtype=bool)
    train_rows[tr0 - lo : tr1 - lo] = True
    w[~train_rows] = 1.0  # history, valid and test rows are never selected away
    mask = train_mask & ~(w <= 0)
    if not mask[train_rows].any():
        raise DataError(f"selection: window {window.index} keeps no training row")
    frac = (w > 0) & (w != 1.0)
    return mask, (w if frac.any() else None)
