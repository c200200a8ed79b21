"""Time-series and cross-sectional kernels on `[T, N]` arrays (numba, parallel over instruments).

Rolling kernels take `[N, T]` arrays (one contiguous row per instrument, the engine's internal
layout) and follow pandas' `rolling(w, min_periods=1)` semantics as Qlib uses them: NaN
values are skipped, a window with no value gives NaN. `start[N]` is the first row of each
instrument's series (Qlib evaluates each instrument from its first stored date); windows never
reach before it. Outputs are float64 `[N, T]`. Cross-sectional kernels (`cs_*`) take `[T, N]`.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_JIT = dict(parallel=True, cache=True, nogil=True)


@nb.njit(inline="always")
def _finite(v) -> bool:
    return (v - v) == 0.0
_JIT1 = dict(cache=True, nogil=True)


# ----------------------------------------------------------------------------- sums, means


@nb.njit(**_JIT)
def roll_sum(x: np.ndarray, w: int, mean: bool) -> np.ndarray:
    """Rolling sum (or mean) of non-NaN values over `w` rows, Kahan-compensated like pandas."""
    N, T = x.shape
    out = np.empty((N, T))
    for j in nb.prange(N):
        s = 0.0
        comp = 0.0
        nobs = 0
        neg = 0
        same = 0
        prev = np.nan
        for t in range(T):
            v = np.float64(x[j, t])
            if _finite(v):
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
                u = np.float64(x[j, t - w])
                if _finite(u):
                    nobs -= 1
                    y = -u - comp
                    tt = s + y
                    comp = tt - s - y
                    s = tt
                    if u < 0:
                        neg -= 1
            if nobs == 0:
                out[j, t] = np.nan
                if t >= w:
                    s = 0.0
                    comp = 0.0
            elif same >= nobs:
                out[j, t] = prev if mean else prev * nobs
            else:
                r = s / nobs if mean else s
                if neg == 0 and r < 0:
                    r = 0.0
                elif neg == nobs and r > 0:
                    r = 0.0
                out[j, t] = r
    return out


@nb.njit(**_JIT)
def roll_count(x: np.ndarray, w: int) -> np.ndarray:
    """Number of non-NaN values in the last `w` rows (0 when none, as pandas)."""
    N, T = x.shape
    out = np.empty((N, T))
    for j in nb.prange(N):
        c = 0
        for t in range(T):
            if np.float64(x[j, t]) == np.float64(x[j, t]):
                c += 1
            if t >= w and np.float64(x[j, t - w]) == np.float64(x[j, t - w]):
                c -= 1
            out[j, t] = c
    return out


@nb.njit(**_JIT)
def roll_var(x: np.ndarray, w: int, ddof: int) -> np.ndarray:
    """Rolling variance (online add/remove as pandas; exactly 0 on a constant window)."""
    N, T = x.shape
    out = np.empty((N, T))
    for j in nb.prange(N):
        mean = 0.0
        ssq = 0.0
        comp = 0.0
        nobs = 0
        same = 0
        prev = np.nan
        for t in range(T):
            v = np.float64(x[j, t])
            if _finite(v):
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
                u = np.float64(x[j, t - w])
                if _finite(u):
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
                    out[j, t] = 0.0
                else:
                    r = ssq / (nobs - ddof)
                    out[j, t] = r if r > 0 else 0.0
            else:
                out[j, t] = np.nan
    return out


@nb.njit(**_JIT)
def roll_moments(x: np.ndarray, w: int, kurt: bool) -> np.ndarray:
    """Rolling bias-corrected skewness (or excess kurtosis) as pandas; NaN on a constant window."""
    N, T = x.shape
    out = np.empty((N, T))
    for j in nb.prange(N):
        for t in range(T):
            lo = max(t - w + 1, 0)
            n = 0
            s = 0.0
            for k in range(lo, t + 1):
                v = np.float64(x[j, k])
                if _finite(v):
                    n += 1
                    s += v
            need = 4 if kurt else 3
            if n < need:
                out[j, t] = np.nan
                continue
            m = s / n
            m2 = 0.0
            m3 = 0.0
            m4 = 0.0
            for k in range(lo, t + 1):
                v = np.float64(x[j, k])
                if _finite(v):
                    d = v - m
                    d2 = d * d
                    m2 += d2
                    m3 += d2 * d
                    m4 += d2 * d2
            m2 /= n
            m3 /= n
            m4 /= n
            if m2 <= 1e-14 * max(1.0, m * m):
                out[j, t] = np.nan
                continue
            if kurt:
                g2 = m4 / (m2 * m2) - 3.0
                out[j, t] = ((n + 1) * g2 + 6.0) * (n - 1) / ((n - 2) * (n - 3))
            else:
                g1 = m3 / m2 ** 1.5
                out[j, t] = g1 * math.sqrt(n * (n - 1.0)) / (n - 2)
    return out


# ----------------------------------------------------------------------------- order statistics


@nb.njit(**_JIT)
def roll_extreme(x: np.ndarray, w: int, start: np.ndarray, want_max: bool,
                 want_idx: bool) -> np.ndarray:
    """Rolling max/min, or its 1-based position in the window (monotonic deque, O(1) amortized).

    Max/Min skip NaN and +-inf (pandas); the position follows numpy's argmax on the raw window
    (Qlib's IdxMax): the first NaN in the window wins, else the first occurrence of the extreme
    (inf included); the window starts at the instrument's series start.
    """
    N, T = x.shape
    out = np.empty((N, T))
    for j in nb.prange(N):
        dq = np.empty(T, dtype=np.int64)  # indices, values monotone from the front
        head = 0
        tail = 0
        nan_q = np.empty(T, dtype=np.int64)  # indices of NaN, increasing
        nh = 0
        nt = 0
        s0 = start[j]
        for t in range(T):
            v = np.float64(x[j, t])
            lo = max(t - w + 1, s0, 0)
            usable = (v == v) if want_idx else ((v - v) == 0.0)
            if usable:
                if want_max:
                    while tail > head and np.float64(x[j, dq[tail - 1]]) < v:
                        tail -= 1
                else:
                    while tail > head and np.float64(x[j, dq[tail - 1]]) > v:
                        tail -= 1
                dq[tail] = t
                tail += 1
            elif v != v:
                nan_q[nt] = t
                nt += 1
            while tail > head and dq[head] < lo:
                head += 1
            while nt > nh and nan_q[nh] < lo:
                nh += 1
            if tail == head:
                out[j, t] = np.nan
            elif want_idx:
                p = nan_q[nh] if nt > nh else dq[head]
                out[j, t] = p - lo + 1
            else:
                out[j, t] = np.float64(x[j, dq[head]])
    return out


@nb.njit(**_JIT)
def roll_quantile(x: np.ndarray, w: int, q: float) -> np.ndarray:
    """Rolling quantile of non-NaN values with linear interpolation (pandas' default)."""
    N, T = x.shape
    out = np.empty((N, T))
    for j in nb.prange(N):
        buf = np.empty(w)
        n = 0
        for t in range(T):
            # keep `buf[:n]` sorted: replace the value leaving by the value entering, moving
            # only the entries between their two positions
            u = np.float64(x[j, t - w]) if t >= w else np.nan
            v = np.float64(x[j, t])
            has_u = _finite(u)
            has_v = _finite(v)
            if has_u:
                lo = 0
                hi = n
                while lo < hi:  # binary search: the leftmost entry equal to u
                    mid = (lo + hi) >> 1
                    if buf[mid] < u:
                        lo = mid + 1
                    else:
                        hi = mid
                k = lo
                if has_v and v >= u:
                    while k + 1 < n and buf[k + 1] < v:
                        buf[k] = buf[k + 1]
                        k += 1
                    buf[k] = v
                elif has_v:
                    while k > 0 and buf[k - 1] > v:
                        buf[k] = buf[k - 1]
                        k -= 1
                    buf[k] = v
                else:
                    for m in range(k, n - 1):
                        buf[m] = buf[m + 1]
                    n -= 1
            elif has_v:
                k = n
                while k > 0 and buf[k - 1] > v:
                    buf[k] = buf[k - 1]
                    k -= 1
                buf[k] = v
                n += 1
            if n == 0:
                out[j, t] = np.nan
            else:
                f = q * (n - 1)
                i = int(f)
                if i >= n - 1:
                    out[j, t] = buf[n - 1]
                else:
                    out[j, t] = buf[i] + (buf[i + 1] - buf[i]) * (f - i)
    return out


@nb.njit(**_JIT)
def roll_rank(x: np.ndarray, w: int) -> np.ndarray:
    """Percentile (average-tie) rank of the last value among the window's non-NaN values."""
    N, T = x.shape
    out = np.empty((N, T))
    for j in nb.prange(N):
        for t in range(T):
            v = np.float64(x[j, t])
            if not _finite(v):
                out[j, t] = np.nan
                continue
            less = 0
            eq = 0
            n = 0
            for k in range(max(t - w + 1, 0), t + 1):
                u = np.float64(x[j, k])
                if _finite(u):
                    n += 1
                    if u < v:
                        less += 1
                    elif u == v:
                        eq += 1
            out[j, t] = (less + (eq + 1) / 2.0) / n
    return out


@nb.njit(**_JIT)
def roll_mad(x: np.ndarray, w: int) -> np.ndarray:
    """Rolling mean absolute deviation around the window mean (non-NaN values)."""
    N, T = x.shape
    out = np.empty((N, T))
    for j in nb.prange(N):
        for t in range(T):
            lo = max(t - w + 1, 0)
            n = 0
            s = 0.0
            for k in range(lo, t + 1):
                if np.float64(x[j, k]) == np.float64(x[j, k]):
                    n += 1
                    s += np.float64(x[j, k])
            if n == 0:
                out[j, t] = np.nan
                continue
            m = s / n
            a = 0.0
            for k in range(lo, t + 1):
                if np.float64(x[j, k]) == np.float64(x[j, k]):
                    a += abs(np.float64(x[j, k]) - m)
            out[j, t] = a / n
    return out


@nb.njit(**_JIT)
def roll_wma(x: np.ndarray, w: int, start: np.ndarray) -> np.ndarray:
    """Qlib's WMA: weights 1..L over the window (L = its length), nanmean of weight * value."""
    N, T = x.shape
    out = np.empty((N, T))
    for j in nb.prange(N):
        for t in range(T):
            lo = max(t - w + 1, start[j], 0)
            L = t - lo + 1
            if L <= 0:
                out[j, t] = np.nan
                continue
            tot = L * (L + 1) / 2.0
            n = 0
            s = 0.0
            for k in range(lo, t + 1):
                v = np.float64(x[j, k])
                if v == v:
                    n += 1
                    s += (k - lo + 1) / tot * v
            out[j, t] = s / n if n > 0 else np.nan
    return out


@nb.njit(**_JIT)
def ewm_mean(x: np.ndarray, alpha: float) -> np.ndarray:
    """pandas `ewm(alpha, adjust=True, ignore_na=False, min_periods=1).mean()` per column."""
    N, T = x.shape
    out = np.empty((N, T))
    decay = 1.0 - alpha
    for j in nb.prange(N):
        wt = np.nan
        old = 1.0
        for t in range(T):
            v = np.float64(x[j, t])
            obs = _finite(v)
            if _finite(wt):
                old *= decay
                if obs:
                    if wt != v:
                        wt = (old * wt + v) / (old + 1.0)
                    old += 1.0
            elif obs:
                wt = v
                old = 1.0
            out[j, t] = wt
    return out


# ----------------------------------------------------------------------------- regression on time


@nb.njit(**_JIT)
def roll_regression(x: np.ndarray, w: int, kind: int) -> np.ndarray:
    """Regression of the window on its slot positions 1..w (NaN slots skipped), as Qlib.

    kind 0: slope, 1: R^2, 2: residual of the last value. Running sums over the window, O(1).
    """
    N, T = x.shape
    out = np.empty((N, T))
    for j in nb.prange(N):
        n = 0
        sk = 0.0  # sums over the window's values of k (absolute index), k^2, y, y^2, k*y
        skk = 0.0
        sy = 0.0
        syy = 0.0
        sky = 0.0
        for t in range(T):
            v = np.float64(x[j, t])
            if v == v:
                n += 1
                sk += t
                skk += t * t
                sy += v
                syy += v * v
                sky += t * v
            if t >= w:
                u = np.float64(x[j, t - w])
                k = t - w
                if u == u:
                    n -= 1
                    sk -= k
                    skk -= k * k
                    sy -= u
                    syy -= u * u
                    sky -= k * u
                    if n == 0:
                        sk = skk = sy = syy = sky = 0.0
            # positions p = k - (t - w), newest = w
            o = t - w
            sp = sk - n * o
            spp = skk - 2.0 * o * sk + n * o * o
            spy = sky - o * sy
            den = n * spp - sp * sp
            num = n * spy - sp * sy
            if kind == 0:
                out[j, t] = num / den if den != 0 else (np.nan if num == 0 else math.copysign(np.inf, num))
            elif kind == 1:
                d2 = den * (n * syy - sy * sy)
                if d2 > 0:
                    r = num / math.sqrt(d2)
                    out[j, t] = r * r
                else:
                    out[j, t] = np.nan
            else:
                if v != v or den == 0 or n == 0:
                    out[j, t] = np.nan
                else:
                    b = num / den
                    a = sy / n - b * sp / n
                    out[j, t] = v - (b * w + a)
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
    N, T = x.shape
    out = np.empty((N, T))
    for j in nb.prange(N):
        n = 0
        mx = 0.0
        my = 0.0
        sxx = 0.0
        syy = 0.0
        sxy = 0.0
        for t in range(T):
            a = np.float64(x[j, t])
            b = np.float64(y[j, t])
            if _finite(a) and _finite(b):
                n += 1
                dx = a - mx
                mx += dx / n
                dy = b - my
                my += dy / n
                sxx += dx * (a - mx)
                syy += dy * (b - my)
                sxy += dx * (b - my)
            if t >= w:
                a = np.float64(x[j, t - w])
                b = np.float64(y[j, t - w])
                if _finite(a) and _finite(b):
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
                out[j, t] = np.nan
            elif corr:
                d = sxx * syy
                out[j, t] = sxy / math.sqrt(d) if d > 0 else np.nan
            else:
                out[j, t] = sxy / (n - 1)
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
