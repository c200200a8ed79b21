"""Time-series and cross-sectional kernels on `[T, N]` arrays (numba, parallel over instruments).

Rolling kernels follow pandas' `rolling(w, min_periods=1)` semantics as Qlib uses them: NaN
values are skipped, a window with no value gives NaN. `start[N]` is the first row of each
instrument's series (Qlib evaluates each instrument from its first stored date); windows never
reach before it. Inputs are float64 `[T, N]`; outputs float64 `[T, N]`.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_JIT = dict(parallel=True, cache=True, nogil=True)
_JIT1 = dict(cache=True, nogil=True)


# ----------------------------------------------------------------------------- sums, means


@nb.njit(**_JIT)
def roll_sum(x: np.ndarray, w: int, mean: bool) -> np.ndarray:
    """Rolling sum (or mean) of non-NaN values over `w` rows, Kahan-compensated like pandas."""
    T, N = x.shape
    out = np.empty((T, N))
    for j in nb.prange(N):
        s = 0.0
        comp = 0.0
        nobs = 0
        neg = 0
        same = 0
        prev = np.nan
        for t in range(T):
            v = x[t, j]
            if v == v:
                nobs += 1
                y = v - comp
                tt = s + y
                comp = tt - s - y
                s = tt
                if v < 0:
                    neg += 1
                if v == prev:
                    same += 1
                else:
                    same = 1
                    prev = v
            if t >= w:
                u = x[t - w, j]
                if u == u:
                    nobs -= 1
                    y = -u - comp
                    tt = s + y
                    comp = tt - s - y
                    s = tt
                    if u < 0:
                        neg -= 1
            if nobs == 0:
                out[t, j] = np.nan
                if t >= w:
                    s = 0.0
                    comp = 0.0
            elif same >= nobs:
                out[t, j] = prev if mean else prev * nobs
            else:
                r = s / nobs if mean else s
                if neg == 0 and r < 0:
                    r = 0.0
                elif neg == nobs and r > 0:
                    r = 0.0
                out[t, j] = r
    return out


@nb.njit(**_JIT)
def roll_count(x: np.ndarray, w: int) -> np.ndarray:
    """Number of non-NaN values in the last `w` rows (0 when none, as pandas)."""
    T, N = x.shape
    out = np.empty((T, N))
    for j in nb.prange(N):
        c = 0
        for t in range(T):
            if x[t, j] == x[t, j]:
                c += 1
            if t >= w and x[t - w, j] == x[t - w, j]:
                c -= 1
            out[t, j] = c
    return out


@nb.njit(**_JIT)
def roll_var(x: np.ndarray, w: int, ddof: int) -> np.ndarray:
    """Rolling variance (online add/remove as pandas; exactly 0 on a constant window)."""
    T, N = x.shape
    out = np.empty((T, N))
    for j in nb.prange(N):
        mean = 0.0
        ssq = 0.0
        comp = 0.0
        nobs = 0
        same = 0
        prev = np.nan
        for t in range(T):
            v = x[t, j]
            if v == v:
                nobs += 1
                if v == prev:
                    same += 1
                else:
                    same = 1
                    prev = v
                prev_mean = mean - comp
                y = v - comp
                d = y - mean
                comp = d + mean - y
                mean = mean + d / nobs
                ssq += (v - prev_mean) * (v - mean)
            if t >= w:
                u = x[t - w, j]
                if u == u:
                    nobs -= 1
                    if nobs > 0:
                        prev_mean = mean - comp
                        y = u - comp
                        d = y - mean
                        comp = d + mean - y
                        mean = mean - d / nobs
                        ssq -= (u - prev_mean) * (u - mean)
                    else:
                        mean = 0.0
                        ssq = 0.0
                        comp = 0.0
            if nobs > ddof and nobs >= 1:
                if nobs == 1 or same >= nobs:
                    out[t, j] = 0.0
                else:
                    r = ssq / (nobs - ddof)
                    out[t, j] = r if r > 0 else 0.0
            else:
                out[t, j] = np.nan
    return out


@nb.njit(**_JIT)
def roll_moments(x: np.ndarray, w: int, kurt: bool) -> np.ndarray:
    """Rolling bias-corrected skewness (or excess kurtosis) as pandas; NaN on a constant window."""
    T, N = x.shape
    out = np.empty((T, N))
    for j in nb.prange(N):
        for t in range(T):
            lo = max(t - w + 1, 0)
            n = 0
            s = 0.0
            for k in range(lo, t + 1):
                v = x[k, j]
                if v == v:
                    n += 1
                    s += v
            need = 4 if kurt else 3
            if n < need:
                out[t, j] = np.nan
                continue
            m = s / n
            m2 = 0.0
            m3 = 0.0
            m4 = 0.0
            for k in range(lo, t + 1):
                v = x[k, j]
                if v == v:
                    d = v - m
                    d2 = d * d
                    m2 += d2
                    m3 += d2 * d
                    m4 += d2 * d2
            m2 /= n
            m3 /= n
            m4 /= n
            if m2 <= 1e-14 * max(1.0, m * m):
                out[t, j] = np.nan
                continue
            if kurt:
                g2 = m4 / (m2 * m2) - 3.0
                out[t, j] = ((n + 1) * g2 + 6.0) * (n - 1) / ((n - 2) * (n - 3))
            else:
                g1 = m3 / m2 ** 1.5
                out[t, j] = g1 * math.sqrt(n * (n - 1.0)) / (n - 2)
    return out


# ----------------------------------------------------------------------------- order statistics


@nb.njit(**_JIT)
def roll_extreme(x: np.ndarray, w: int, start: np.ndarray, want_max: bool,
                 want_idx: bool) -> np.ndarray:
    """Rolling max/min of non-NaN values, or its 1-based position in the window.

    The position follows numpy's argmax on the raw window (Qlib's IdxMax): the first NaN in the
    window wins, else the first occurrence of the extreme; the window starts at the series start.
    """
    T, N = x.shape
    out = np.empty((T, N))
    for j in nb.prange(N):
        s0 = start[j]
        for t in range(T):
            lo = max(t - w + 1, s0, 0)
            best = np.nan
            pos = -1
            nan_pos = -1
            n = 0
            for k in range(lo, t + 1):
                v = x[k, j]
                if v != v:
                    if nan_pos < 0:
                        nan_pos = k
                    continue
                n += 1
                if pos < 0 or (want_max and v > best) or ((not want_max) and v < best):
                    best = v
                    pos = k
            if n == 0:
                out[t, j] = np.nan
            elif want_idx:
                out[t, j] = (nan_pos if nan_pos >= 0 else pos) - lo + 1
            else:
                out[t, j] = best
    return out


@nb.njit(**_JIT)
def roll_quantile(x: np.ndarray, w: int, q: float) -> np.ndarray:
    """Rolling quantile of non-NaN values with linear interpolation (pandas' default)."""
    T, N = x.shape
    out = np.empty((T, N))
    for j in nb.prange(N):
        buf = np.empty(w)
        n = 0
        for t in range(T):
            # keep `buf[:n]` sorted: remove the value leaving, insert the value entering
            if t >= w:
                u = x[t - w, j]
                if u == u:
                    k = 0
                    while buf[k] != u:
                        k += 1
                    for m in range(k, n - 1):
                        buf[m] = buf[m + 1]
                    n -= 1
            v = x[t, j]
            if v == v:
                k = n
                while k > 0 and buf[k - 1] > v:
                    buf[k] = buf[k - 1]
                    k -= 1
                buf[k] = v
                n += 1
            if n == 0:
                out[t, j] = np.nan
            else:
                f = q * (n - 1)
                i = int(f)
                if i >= n - 1:
                    out[t, j] = buf[n - 1]
                else:
                    out[t, j] = buf[i] + (buf[i + 1] - buf[i]) * (f - i)
    return out


@nb.njit(**_JIT)
def roll_rank(x: np.ndarray, w: int) -> np.ndarray:
    """Percentile (average-tie) rank of the last value among the window's non-NaN values."""
    T, N = x.shape
    out = np.empty((T, N))
    for j in nb.prange(N):
        for t in range(T):
            v = x[t, j]
            if v != v:
                out[t, j] = np.nan
                continue
            less = 0
            eq = 0
            n = 0
            for k in range(max(t - w + 1, 0), t + 1):
                u = x[k, j]
                if u == u:
                    n += 1
                    if u < v:
                        less += 1
                    elif u == v:
                        eq += 1
            out[t, j] = (less + (eq + 1) / 2.0) / n
    return out


@nb.njit(**_JIT)
def roll_mad(x: np.ndarray, w: int) -> np.ndarray:
    """Rolling mean absolute deviation around the window mean (non-NaN values)."""
    T, N = x.shape
    out = np.empty((T, N))
    for j in nb.prange(N):
        for t in range(T):
            lo = max(t - w + 1, 0)
            n = 0
            s = 0.0
            for k in range(lo, t + 1):
                if x[k, j] == x[k, j]:
                    n += 1
                    s += x[k, j]
            if n == 0:
                out[t, j] = np.nan
                continue
            m = s / n
            a = 0.0
            for k in range(lo, t + 1):
                if x[k, j] == x[k, j]:
                    a += abs(x[k, j] - m)
            out[t, j] = a / n
    return out


@nb.njit(**_JIT)
def roll_wma(x: np.ndarray, w: int, start: np.ndarray) -> np.ndarray:
    """Qlib's WMA: weights 1..L over the window (L = its length), nanmean of weight * value."""
    T, N = x.shape
    out = np.empty((T, N))
    for j in nb.prange(N):
        for t in range(T):
            lo = max(t - w + 1, start[j], 0)
            L = t - lo + 1
            if L <= 0:
                out[t, j] = np.nan
                continue
            tot = L * (L + 1) / 2.0
            n = 0
            s = 0.0
            for k in range(lo, t + 1):
                v = x[k, j]
                if v == v:
                    n += 1
                    s += (k - lo + 1) / tot * v
            out[t, j] = s / n if n > 0 else np.nan
    return out


@nb.njit(**_JIT)
def ewm_mean(x: np.ndarray, alpha: float) -> np.ndarray:
    """pandas `ewm(alpha, adjust=True, ignore_na=False, min_periods=1).mean()` per column."""
    T, N = x.shape
    out = np.empty((T, N))
    decay = 1.0 - alpha
    for j in nb.prange(N):
        wt = np.nan
        old = 1.0
        for t in range(T):
            v = x[t, j]
            obs = v == v
            if wt == wt:
                old *= decay
                if obs:
                    if wt != v:
                        wt = (old * wt + v) / (old + 1.0)
                    old += 1.0
            elif obs:
                wt = v
                old = 1.0
            out[t, j] = wt
    return out


# ----------------------------------------------------------------------------- regression on time


@nb.njit(**_JIT)
def roll_regression(x: np.ndarray, w: int, kind: int) -> np.ndarray:
    """Regression of the window on its slot positions 1..w (NaN slots skipped), as Qlib.

    kind 0: slope, 1: R^2, 2: residual of the last value.
    """
    T, N = x.shape
    out = np.empty((T, N))
    for j in nb.prange(N):
        for t in range(T):
            n = 0
            sp = 0.0
            spp = 0.0
            sy = 0.0
            syy = 0.0
            spy = 0.0
            for k in range(max(t - w + 1, 0), t + 1):
                v = x[k, j]
                if v == v:
                    p = k - (t - w)  # position 1..w, newest = w
                    n += 1
                    sp += p
                    spp += p * p
                    sy += v
                    syy += v * v
                    spy += p * v
            den = n * spp - sp * sp
            num = n * spy - sp * sy
            if kind == 0:
                out[t, j] = num / den if den != 0 else (np.nan if num == 0 else math.copysign(np.inf, num))
            elif kind == 1:
                d2 = den * (n * syy - sy * sy)
                if d2 > 0:
                    r = num / math.sqrt(d2)
                    out[t, j] = r * r
                else:
                    out[t, j] = np.nan
            else:
                v = x[t, j]
                if v != v or den == 0 or n == 0:
                    out[t, j] = np.nan
                else:
                    b = num / den
                    a = sy / n - b * sp / n
                    out[t, j] = v - (b * w + a)
    return out


# ----------------------------------------------------------------------------- cross-section


@nb.njit(**_JIT)
def cs_rank(x: np.ndarray, member: np.ndarray) -> np.ndarray:
    """Per row, percentile rank (average ties, rank/count) among members with a value."""
    T, N = x.shape
    out = np.full((T, N), np.nan)
    for t in nb.prange(T):
        idx = np.empty(N, dtype=np.int64)
        n = 0
        for j in range(N):
            if member[t, j] and x[t, j] == x[t, j]:
                idx[n] = j
                n += 1
        if n == 0:
            continue
        vals = np.empty(n)
        for k in range(n):
            vals[k] = x[t, idx[k]]
        order = np.argsort(vals)
        k = 0
        while k < n:
            m = k
            while m + 1 < n and vals[order[m + 1]] == vals[order[k]]:
                m += 1
            r = (k + m) / 2.0 + 1.0
            for q in range(k, m + 1):
                out[t, idx[order[q]]] = r / n
            k = m + 1
    return out


@nb.njit(**_JIT)
def roll_cov_corr(x: np.ndarray, y: np.ndarray, w: int, corr: bool) -> np.ndarray:
    """Rolling covariance (ddof=1) or correlation over pairs where both values exist."""
    T, N = x.shape
    out = np.empty((T, N))
    for j in nb.prange(N):
        n = 0
        mx = 0.0
        my = 0.0
        sxx = 0.0
        syy = 0.0
        sxy = 0.0
        for t in range(T):
            a = x[t, j]
            b = y[t, j]
            if a == a and b == b:
                n += 1
                dx = a - mx
                mx += dx / n
                dy = b - my
                my += dy / n
                sxx += dx * (a - mx)
                syy += dy * (b - my)
                sxy += dx * (b - my)
            if t >= w:
                a = x[t - w, j]
                b = y[t - w, j]
                if a == a and b == b:
                    n -= 1
                    if n == 0:
                        mx = my = sxx = syy = sxy = 0.0
                    else:
                        dx = a - mx
                        mx -= dx / n
                        dy = b - my
                        my -= dy / n
                        sxx -= dx * (a - mx)
                        syy -= dy * (b - my)
                        sxy -= dx * (b - my)
            if n < 2:
                out[t, j] = np.nan
            elif corr:
                d = sxx * syy
                out[t, j] = sxy / math.sqrt(d) if d > 0 else np.nan
            else:
                out[t, j] = sxy / (n - 1)
    return out


@nb.njit(**_JIT)
def cs_group_demean(x: np.ndarray, member: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Per row, subtract the mean of the member's group (members with a value and a group)."""
    T, N = x.shape
    out = np.full((T, N), np.nan)
    for t in nb.prange(T):
        s = np.zeros(n_groups)
        c = np.zeros(n_groups)
        for j in range(N):
            g = codes[t, j]
            if member[t, j] and g >= 0 and x[t, j] == x[t, j]:
                s[g] += x[t, j]
                c[g] += 1
        for j in range(N):
            g = codes[t, j]
            if member[t, j] and g >= 0 and x[t, j] == x[t, j]:
                out[t, j] = x[t, j] - s[g] / c[g]
    return out
