"""Beta-quantile features (the Numerai/Barra seed): rolling betas of each stock to its industry
index and to the market, and their cross-sectional quantile buckets.

Daily returns r [T, N] are close-to-close. The market return of day t is the equal-weighted (or
previous-close cap-weighted) mean over that day's universe members; the industry return of a
stock on day t is the same mean over the members of the industry it belongs to on day t
(point-in-time classification). BETA_MKT<w> / BETA_IND<w> are the OLS slopes of the stock's
return on those returns over days t-w+1..t (at least w/2 finite pairs); the _Q columns are
their cross-sectional quantile bucket 0..buckets-1 among that day's members; LOG_MKTCAP is the
log of the point-in-time market cap (the size trait). Everything at t reads data up to the
close of t only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from seqalpha.errors import ConfigError, DataError

LIBRARY = "beta_quantile"
WINDOWS = (20, 60)
BUCKETS = 5
Weighting = Literal["equal", "cap"]


def beta_quantile_names(windows=WINDOWS) -> list[str]:
    """The feature names of the library, in order (betas, their buckets, then LOG_MKTCAP)."""
    out = []
    for w in windows:
        for what in ("MKT", "IND"):
            out += [f"BETA_{what}{w}", f"BETA_{what}{w}_Q"]
    return [*out, "LOG_MKTCAP"]


def _returns(close: np.ndarray, member: np.ndarray) -> np.ndarray:
    c = np.asarray(close, dtype=np.float64)
    r = np.full(c.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        r[1:] = c[1:] / c[:-1] - 1.0
    r[~np.isfinite(r)] = np.nan
    r[~member] = np.nan
    return r


def group_returns(
    r: np.ndarray, groups: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """float64 [T, N]: for each (t, i) the weighted mean return of day t over the stocks of the
    group `groups[t, i]` (int codes, negative = none -> NaN); NaN returns are left out."""
    T, N = r.shape
    g = np.asarray(groups, dtype=np.int64)
    ok = np.isfinite(r) & (g >= 0)
    w = np.ones((T, N)) if weights is None else np.asarray(weights, dtype=np.float64)
    ok &= np.isfinite(w) & (w > 0)
    G = int(g.max()) + 1 if (g >= 0).any() else 1
    key = (np.arange(T)[:, None] * G + np.maximum(g, 0)).ravel()
    wr = np.where(ok, w * np.nan_to_num(r), 0.0).ravel()
    ww = np.where(ok, w, 0.0).ravel()
    num = np.bincount(key, wr, minlength=T * G)
    den = np.bincount(key, ww, minlength=T * G)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = num / den
    out = mean[key].reshape(T, N)
    out[g < 0] = np.nan
    return out


def rolling_beta(y: np.ndarray, x: np.ndarray, window: int) -> np.ndarray:
    """float64 [T, N]: OLS slope of y on x [T, N] over days t-window+1..t (pairs where both are
    finite; NaN with fewer than window / 2 pairs or no variance in x)."""

    def csum(a):
        return np.vstack([np.zeros((1, a.shape[1])), np.cumsum(a, axis=0)])

    ok = np.isfinite(y) & np.isfinite(x)
    xx, yy = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    sums = [csum(a) for a in (ok.astype(np.float64), xx, yy, xx * yy, xx * xx)]
    T = y.shape[0]
    hi = np.arange(1, T + 1)
    lo = np.maximum(hi - window, 0)
    n, sx, sy, sxy, sxx = (s[hi] - s[lo] for s in sums)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = sxx - sx * sx / n
        beta = (sxy - sx * sy / n) / var
    beta[(n < max(2, window // 2)) | ~(var > 1e-14 * np.maximum(n, 1))] = np.nan
    return beta


def quantile_bucket(x: np.ndarray, member: np.ndarray, buckets: int = BUCKETS) -> np.ndarray:
    """float32 [T, N]: cross-sectional quantile bucket 0..buckets-1 of x among each day's members
    with a finite value (NaN elsewhere)."""
    v = np.where(member & np.isfinite(x), x, np.nan)
    ok = np.isfinite(v)
    ranks = np.argsort(np.argsort(np.where(ok, v, np.inf), axis=1, kind="stable"), axis=1)
    n = ok.sum(axis=1, keepdims=True)
    b = np.floor(ranks * buckets / np.maximum(n, 1))
    return np.where(ok, np.minimum(b, buckets - 1), np.nan).astype(np.float32)


def beta_quantile_features(
    close: np.ndarray,
    member: np.ndarray,
    industry: np.ndarray,
    cap: np.ndarray | None = None,
    weighting: Weighting = "equal",
    windows=WINDOWS,
    buckets: int = BUCKETS,
) -> dict[str, np.ndarray]:
    """name -> float32 [T, N] (`beta_quantile_names` order) from close [T, N], universe member
    bool [T, N], industry int [T, N] (-1 unknown) and, for `weighting="cap"`, market cap [T, N]
    (the previous day's cap weighs day t's return)."""
    if weighting not in ("equal", "cap"):
        raise ConfigError(f"features.beta.weighting: {weighting!r} is not 'equal' or 'cap'")
    member = np.asarray(member, dtype=bool)
    r = _returns(close, member)
    w = None
    if weighting == "cap":
        if cap is None:
            raise DataError("beta_quantile: cap weighting needs a market cap")
        w = np.full(r.shape, np.nan)
        w[1:] = np.asarray(cap, dtype=np.float64)[:-1]
    everyone = np.where(member, 0, -1)
    mkt = group_returns(r, everyone, w)
    # a stock outside the universe that day still gets the day's market return
    mkt_day = np.nanmax(np.where(member, mkt, np.nan), axis=1, initial=-np.inf)
    mkt_day = np.where(np.isfinite(mkt_day), mkt_day, np.nan)
    mkt = np.broadcast_to(mkt_day[:, None], r.shape)
    ind = group_returns(r, np.where(member, industry, -1), w)
    out: dict[str, np.ndarray] = {}
    for win in windows:
        for what, x in (("MKT", mkt), ("IND", ind)):
            beta = rolling_beta(r, x, win)
            out[f"BETA_{what}{win}"] = beta.astype(np.float32)
            out[f"BETA_{what}{win}_Q"] = quantile_bucket(beta, member, buckets)
    # the size trait (point-in-time cap; NaN without one), e.g. for `selection.traits`
    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.log(np.asarray(cap, dtype=np.float64)) if cap is not None else np.nan
    out["LOG_MKTCAP"] = np.broadcast_to(size, r.shape).astype(np.float32)
    return out


def compute_beta_quantile(
    panel, data_dir: str | Path, weighting: Weighting = "equal", windows=WINDOWS, buckets=BUCKETS
) -> tuple[list[str], np.ndarray]:
    """(names, float32 [T, N, F]) of the library on a Panel with `close`; industry and market
    cap from `seqalpha.data.reference.industry_and_size` (synthetic fields or ../cn_meta)."""
    from seqalpha.data.reference import industry_and_size

    if "close" not in panel:
        raise DataError(f"{data_dir}: feature library {LIBRARY!r} needs the field 'close'")
    ind, cap = industry_and_size(data_dir, panel)
    feats = beta_quantile_features(
        panel["close"], panel.universe, ind, cap, weighting, windows, buckets
    )
    names = beta_quantile_names(windows)
    return names, np.stack([feats[n] for n in names], axis=-1)


# Daily libraries a config may list in `features.extra_libraries` (computed beside `library`).
EXTRA_LIBRARIES = ("alpha158", "alpha360", LIBRARY)


def library_block(
    panel, name: str, data_dir: str | Path, beta=None
) -> tuple[list[str], np.ndarray]:
    """(names, float32 [T, N, F]) of one library of `features.extra_libraries` on a Panel;
    `beta`: the `features.beta` settings (BetaQuantileConfig) of `beta_quantile`."""
    if name == LIBRARY:
        if beta is None:
            return compute_beta_quantile(panel, data_dir)
        return compute_beta_quantile(panel, data_dir, beta.weighting, beta.windows, beta.buckets)
    if name not in EXTRA_LIBRARIES:
        raise ConfigError(
            f"features.extra_libraries: unknown library {name!r}; allowed: {list(EXTRA_LIBRARIES)}"
        )
    from seqalpha.features.engine import compute_library

    p = compute_library(panel, name)
    names = p.field_names
    return names, np.stack([p.fields.pop(n) for n in names], axis=-1).astype(np.float32)


def run_feature_names(f) -> set[str] | None:
    """Names of the daily features a FeaturesConfig computes (library, extra expressions, extra
    libraries), or None when they are only known from the data (the intraday library)."""
    from seqalpha.features.specs import library_feature_names

    if f.library == "intraday":
        return None
    names = set(library_feature_names(f.library)) | set(f.extra)
    for lib in f.extra_libraries:
        if lib == LIBRARY:
            names |= set(beta_quantile_names(f.beta.windows))
        elif lib in EXTRA_LIBRARIES:
            names |= set(library_feature_names(lib))
    return names


def check_extra_libraries(library: str, extra_libraries, extra_names=(), windows=WINDOWS) -> None:
    """ConfigError for an unknown or repeated library in `features.extra_libraries`, or one
    whose feature names clash with `library` or the extra expressions."""
    seen = {library}
    for i, name in enumerate(extra_libraries):
        if name not in EXTRA_LIBRARIES:
            raise ConfigError(
                f"features.extra_libraries.{i}: unknown library {name!r}; "
                f"allowed: {', '.join(EXTRA_LIBRARIES)}"
            )
        if name in seen:
            raise ConfigError(f"features.extra_libraries.{i}: {name!r} is already computed")
        seen.add(name)
    if LIBRARY in extra_libraries:
        clash = sorted(set(extra_names) & set(beta_quantile_names(windows)))
        if clash:
            raise ConfigError(f"features.extra: {clash} are names of the {LIBRARY} library")
