"""Cross-sectional transforms and daily ICs: one place, one scale per name.

Every function reduces along axis 1 (instruments) of `x [T, N]` or `x [T, N, F]`, per date
(and feature), over the cells where `mask [T, N]` is True and x is finite; every other cell
is NaN in the output. Names state the output scale:

| name | per date, over the valid cells |
|---|---|
| `rank_avg` | average ranks 1..n (ties share their mean rank) |
| `rank_pct` | rank_avg / n, in (0, 1] (pandas `rank(pct=True)`) |
| `rank_mid` | (rank_avg - 0.5) / n, in (0, 1), symmetric (Numerai's tie-kept rank) |
| `rank_centred` | rank_pct - 0.5, in (-0.5, 0.5] |
| `rank_norm` | (rank_pct - 0.5) * 3.46 (Qlib's CSRankNorm) |
| `rank_gauss` | inverse normal CDF of rank_mid |
| `zscore` | (x - mean) / std (ddof given; NaN where the std is 0 or undefined) |
| `robust_zscore` | (x - median) / (1.4826 * MAD), optionally clipped (NaN where MAD is 0) |
| `demean` | x - mean |
| `winsorize_mad` | x clipped to median +/- n * scale * MAD |
| `fill_median` | x, with NaN cells of the mask set to the date's median |

Results are float32 when x is float32, else float64 (or the dtype of `out=`). `out=x` works
in place. Kernels are compiled with numba (parallel over dates, float64 arithmetic) and cached.
`daily_ic` / `daily_rank_ic` give the Pearson / Spearman IC of `[T, N]` score and label per
date: NaN with fewer than 2 valid names or a constant score or label.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from seqalpha.errors import ConfigError, DataError

MAD_TO_STD = 1.4826  # MAD * 1.4826 estimates the std of a normal sample
RANK_NORM_SCALE = 3.46  # Qlib's CSRankNorm: sqrt(12) makes a uniform's std 1
MIN_NAMES = 2

_jit = nb.njit(parallel=True, cache=True, nogil=True, error_model="numpy")

# rank output modes of `_rank_kernel`
_AVG, _PCT, _MID, _CENTRED, _NORM, _GAUSS = range(6)
# location/scale modes of `_moment_kernel` and `_median_kernel`
_DEMEAN, _ZSCORE = 0, 1
_ROBUST, _WINSOR, _FILL = 0, 1, 2


# ---------------------------------------------------------------------------------------------
# kernels (x [T, N, F], mask [T, N], out [T, N, F]; out may be x)


# Acklam's rational approximations of the inverse normal CDF (central and tail regions)
_A: tuple[float, ...] = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
)
_A += (-3.066479806614716e01, 2.506628277459239e00)
_B: tuple[float, ...] = (
    -5.447609879822406e01,
    1.615858368580409e02,
    -1.556989798598866e02,
    6.680131188771972e01,
)
_B += (-1.328068155288572e01, 1.0)
_C: tuple[float, ...] = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00)
_C += (-2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D: tuple[float, ...] = (
    7.784695709041462e-03,
    3.224671290700398e-01,
    2.445134137142996e00,
    3.754408661907416e00,
)
_D += (1.0,)


@nb.njit(cache=True, nogil=True)
def _poly(c, v: float) -> float:
    acc = 0.0
    for k in c:
        acc = acc * v + k
    return acc


@nb.njit(cache=True, nogil=True)
def _ndtri(p: float) -> float:
    """Inverse standard normal CDF: Acklam's approximation + one Halley step (~1e-15 relative).

    Computed on the lower tail q = min(p, 1 - p) (1 - p is exact for p >= 0.5) and mirrored."""
    if not p > 0.0:
        return -np.inf if p == 0.0 else np.nan
    if not p < 1.0:
        return np.inf if p == 1.0 else np.nan
    q = min(p, 1.0 - p)
    if q < 0.02425:
        s = math.sqrt(-2.0 * math.log(q))
        x = _poly(_C, s) / _poly(_D, s)
    else:
        r = (q - 0.5) * (q - 0.5)
        x = (q - 0.5) * _poly(_A, r) / _poly(_B, r)
    e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - q  # Halley step on Phi(x) = q
    u = e * math.sqrt(2.0 * math.pi) * math.exp(0.5 * x * x)
    x = x - u / (1.0 + 0.5 * x * u)
    return x if p <= 0.5 else -x


@nb.njit(cache=True, nogil=True)
def _avg_ranks(vals: np.ndarray, n: int, ranks: np.ndarray) -> None:
    """ranks[k] = average rank (1-based, ties averaged) of vals[k] among vals[:n]."""
    order = np.argsort(vals[:n], kind="mergesort")
    k = 0
    while k < n:
        m = k
        while m + 1 < n and vals[order[m + 1]] == vals[order[k]]:
            m += 1
        r = 0.5 * (k + m) + 1.0
        for q in range(k, m + 1):
            ranks[order[q]] = r
        k = m + 1


@_jit
def _rank_kernel(x, mask, out, mode):
    T, N, F = x.shape
    for t in nb.prange(T):
        vals = np.empty(N)
        idx = np.empty(N, dtype=np.int64)
        ranks = np.empty(N)
        for f in range(F):
            n = 0
            for j in range(N):
                v = np.float64(x[t, j, f])
                if mask[t, j] and np.isfinite(v):
                    vals[n] = v
                    idx[n] = j
                    n += 1
                else:
                    out[t, j, f] = np.nan
            _avg_ranks(vals, n, ranks)
            for k in range(n):
                r = ranks[k]
                if mode == _AVG:
                    y = r
                elif mode == _PCT:
                    y = r / n
                elif mode == _MID:
                    y = (r - 0.5) / n
                elif mode == _CENTRED:
                    y = r / n - 0.5
                elif mode == _NORM:
                    y = (r / n - 0.5) * RANK_NORM_SCALE
                else:
                    y = _ndtri((r - 0.5) / n)
                out[t, idx[k], f] = y


@_jit
def _moment_kernel(x, mask, out, mode, ddof):
    T, N, F = x.shape
    for t in nb.prange(T):
        for f in range(F):
            n = 0
            s = 0.0
            for j in range(N):
                v = np.float64(x[t, j, f])
                if mask[t, j] and np.isfinite(v):
                    n += 1
                    s += v
            mean = s / n if n > 0 else np.nan
            scale = 1.0
            if mode == _ZSCORE:
                ss = 0.0
                for j in range(N):
                    v = np.float64(x[t, j, f])
                    if mask[t, j] and np.isfinite(v):
                        ss += (v - mean) * (v - mean)
                scale = math.sqrt(ss / (n - ddof)) if n - ddof > 0 else np.nan
                if not scale > 0.0:
                    scale = np.nan
            for j in range(N):
                v = np.float64(x[t, j, f])
                if mask[t, j] and np.isfinite(v):
                    out[t, j, f] = (v - mean) / scale
                else:
                    out[t, j, f] = np.nan


@_jit
def _median_kernel(x, mask, out, mode, a, b):
    """mode _ROBUST: (x - med) / (MAD * a), clipped to +/-b when b > 0; _WINSOR: clip to
    med +/- a * MAD; _FILL: NaN cells of the mask get the median."""
    T, N, F = x.shape
    for t in nb.prange(T):
        vals = np.empty(N)
        for f in range(F):
            n = 0
            for j in range(N):
                v = np.float64(x[t, j, f])
                if mask[t, j] and np.isfinite(v):
                    vals[n] = v
                    n += 1
            med = np.median(vals[:n]) if n > 0 else np.nan
            mad = np.nan
            if mode != _FILL and n > 0:
                dev = np.abs(vals[:n] - med)
                mad = np.median(dev)
            for j in range(N):
                v = np.float64(x[t, j, f])
                if not mask[t, j]:
                    out[t, j, f] = np.nan
                elif mode == _FILL:
                    out[t, j, f] = med if np.isnan(v) else v
                elif not np.isfinite(v):
                    out[t, j, f] = np.nan
                elif mode == _ROBUST:
                    z = (v - med) / (mad * a) if mad > 0.0 else np.nan
                    if b > 0.0 and z > b:
                        z = b
                    elif b > 0.0 and z < -b:
                        z = -b
                    out[t, j, f] = z
                else:
                    half = a * mad
                    out[t, j, f] = min(max(v, med - half), med + half)


@_jit
def _ic_kernel(x, y, valid, rank, out):
    T, N = x.shape
    for t in nb.prange(T):
        xs = np.empty(N)
        ys = np.empty(N)
        n = 0
        for j in range(N):
            if valid[t, j]:
                xs[n] = x[t, j]
                ys[n] = y[t, j]
                n += 1
        if n < MIN_NAMES:
            out[t] = np.nan
            continue
        if rank:
            rx = np.empty(n)
            ry = np.empty(n)
            _avg_ranks(xs, n, rx)
            _avg_ranks(ys, n, ry)
            xs[:n] = rx
            ys[:n] = ry
        mx = 0.0
        my = 0.0
        for k in range(n):
            mx += xs[k]
            my += ys[k]
        mx /= n
        my /= n
        cov = 0.0
        vx = 0.0
        vy = 0.0
        for k in range(n):
            dx = xs[k] - mx
            dy = ys[k] - my
            cov += dx * dy
            vx += dx * dx
            vy += dy * dy
        sx = math.sqrt(vx)
        sy = math.sqrt(vy)
        tiny = 1e-12 * max(1.0, math.sqrt(n))  # a constant row: the correlation is undefined
        out[t] = cov / (sx * sy) if sx > tiny and sy > tiny else np.nan


# ---------------------------------------------------------------------------------------------
# input checks


def _prep(x, mask, out, name: str):
    """(x as [T, N, F], mask bool [T, N], out as [T, N, F], out as returned)."""
    x = np.asarray(x)
    if x.ndim not in (2, 3):
        raise DataError(f"{name}: expected an array [T, N] or [T, N, F], got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    x3 = x[:, :, None] if x.ndim == 2 else x
    m = check_mask(mask, x.shape[:2], name)
    if m is None:
        m = np.ones(x.shape[:2], dtype=bool)
    if out is None:
        out = np.empty(x.shape, dtype=x.dtype)
    elif out.shape != x.shape or out.dtype not in (np.float32, np.float64):
        raise DataError(
            f"{name}: out must be a float32/float64 array of shape {x.shape}, "
            f"got {out.dtype} {out.shape}"
        )
    o3 = out[:, :, None] if out.ndim == 2 else out
    return x3, m, o3, out


def check_mask(mask, shape: tuple[int, ...], name: str) -> np.ndarray | None:
    """mask as a bool [T, N] array of `shape` (None stays None); DataError otherwise."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise DataError(f"{name}: expected a bool mask [T, N], got dtype {mask.dtype}")
    if mask.shape != tuple(shape):
        raise DataError(f"{name}: mask shape {mask.shape} != data shape {tuple(shape)} [T, N]")
    return mask


# ---------------------------------------------------------------------------------------------
# ranks


def _rank(x, mask, out, mode, name):
    x3, m, o3, res = _prep(x, mask, out, name)
    _rank_kernel(x3, m, o3, mode)
    return res


def rank_avg(x: np.ndarray, mask: np.ndarray | None = None, *, out=None) -> np.ndarray:
    """Average ranks 1..n per date (ties share their mean rank); NaN outside the valid cells."""
    return _rank(x, mask, out, _AVG, "rank_avg")


def rank_pct(x: np.ndarray, mask: np.ndarray | None = None, *, out=None) -> np.ndarray:
    """Percentile rank rank_avg / n per date, in (0, 1] (pandas `rank(pct=True)`)."""
    return _rank(x, mask, out, _PCT, "rank_pct")


def rank_mid(x: np.ndarray, mask: np.ndarray | None = None, *, out=None) -> np.ndarray:
    """Mid-point percentile rank (rank_avg - 0.5) / n per date, in (0, 1), symmetric about 0.5."""
    return _rank(x, mask, out, _MID, "rank_mid")


def rank_centred(x: np.ndarray, mask: np.ndarray | None = None, *, out=None) -> np.ndarray:
    """rank_pct - 0.5 per date, in (-0.5, 0.5]."""
    return _rank(x, mask, out, _CENTRED, "rank_centred")


def rank_norm(x: np.ndarray, mask: np.ndarray | None = None, *, out=None) -> np.ndarray:
    """Qlib's CSRankNorm: (rank_pct - 0.5) * 3.46 per date (std about 1)."""
    return _rank(x, mask, out, _NORM, "rank_norm")


def rank_gauss(x: np.ndarray, mask: np.ndarray | None = None, *, out=None) -> np.ndarray:
    """Inverse normal CDF of rank_mid per date (a normal-scores transform)."""
    return _rank(x, mask, out, _GAUSS, "rank_gauss")


# ---------------------------------------------------------------------------------------------
# location and scale


def zscore(x: np.ndarray, mask: np.ndarray | None = None, ddof: int = 1, *, out=None) -> np.ndarray:
    """(x - mean) / std per date; ddof=1 as Qlib's CSZScoreNorm (pandas std)."""
    if ddof < 0:
        raise ConfigError(f"zscore: ddof must be >= 0, got {ddof}")
    x3, m, o3, res = _prep(x, mask, out, "zscore")
    _moment_kernel(x3, m, o3, _ZSCORE, int(ddof))
    return res


def demean(x: np.ndarray, mask: np.ndarray | None = None, *, out=None) -> np.ndarray:
    """x - mean per date."""
    x3, m, o3, res = _prep(x, mask, out, "demean")
    _moment_kernel(x3, m, o3, _DEMEAN, 0)
    return res


def robust_zscore(
    x: np.ndarray, mask: np.ndarray | None = None, clip: float | None = None, *, out=None
) -> np.ndarray:
    """(x - median) / (1.4826 * MAD) per date, clipped to [-clip, clip] when clip is given."""
    if clip is not None and not clip > 0:
        raise ConfigError(f"robust_zscore: clip must be > 0 or None, got {clip}")
    x3, m, o3, res = _prep(x, mask, out, "robust_zscore")
    _median_kernel(x3, m, o3, _ROBUST, MAD_TO_STD, 0.0 if clip is None else float(clip))
    return res


def winsorize_mad(
    x: np.ndarray,
    mask: np.ndarray | None = None,
    n: float = 3.0,
    scale: float = MAD_TO_STD,
    *,
    out=None,
) -> np.ndarray:
    """x clipped per date to median +/- n * scale * MAD (scale=1.4826: n standard deviations)."""
    if not n > 0 or not scale > 0:
        raise ConfigError(f"winsorize_mad: n and scale must be > 0, got n={n}, scale={scale}")
    x3, m, o3, res = _prep(x, mask, out, "winsorize_mad")
    _median_kernel(x3, m, o3, _WINSOR, float(n) * float(scale), 0.0)
    return res


def fill_median(x: np.ndarray, mask: np.ndarray | None = None, *, out=None) -> np.ndarray:
    """x with its NaN cells (inside the mask) set to the date's median of the finite cells."""
    x3, m, o3, res = _prep(x, mask, out, "fill_median")
    _median_kernel(x3, m, o3, _FILL, 0.0, 0.0)
    return res


# ---------------------------------------------------------------------------------------------
# daily information coefficients


def _ic(score, label, mask, rank: bool, name: str) -> np.ndarray:
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(label, dtype=np.float64)
    if s.ndim != 2:
        raise DataError(f"{name}: score must be a [T, N] array, got shape {s.shape}")
    if y.shape != s.shape:
        raise DataError(f"{name}: label shape {y.shape} differs from score shape {s.shape}")
    valid = np.isfinite(s) & np.isfinite(y)
    m = check_mask(mask, s.shape, name)
    if m is not None:
        valid &= m
    out = np.empty(s.shape[0])
    _ic_kernel(s, y, valid, rank, out)
    return out


def daily_ic(score: np.ndarray, label: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Pearson correlation of score and label [T, N] across the valid names of each date: [T]."""
    return _ic(score, label, mask, False, "daily_ic")


def daily_rank_ic(
    score: np.ndarray, label: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Spearman correlation (Pearson of rank_avg over the names valid in both) per date: [T]."""
    return _ic(score, label, mask, True, "daily_rank_ic")


__all__ = [
    "MAD_TO_STD",
    "MIN_NAMES",
    "RANK_NORM_SCALE",
    "check_mask",
    "daily_ic",
    "daily_rank_ic",
    "demean",
    "fill_median",
    "rank_avg",
    "rank_centred",
    "rank_gauss",
    "rank_mid",
    "rank_norm",
    "rank_pct",
    "robust_zscore",
    "winsorize_mad",
    "zscore",
]
