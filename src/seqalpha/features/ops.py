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
    """Rolling sum (or mean) of finite values over `w` steps (pandas skips NaN and inf).

    Block prefix/suffix sums (van Herk/Gil-Werman): a window is the suffix of one block plus
    the prefix of the next, so no value is ever subtracted (no drift, exact zeros) and the cost
    is O(1) per step.
    """
    N, T = x.shape
    out = np.empty((N, T))
    for j in nb.prange(N):
        pre = np.empty(T)
        suf = np.empty(T)
        pc = np.empty(T, dtype=np.int64)
        sc = np.empty(T, dtype=np.int64)
        s = 0.0
        c = 0
        for t in range(T):
            if t % w == 0:
                s = 0.0
                c = 0
            v = np.float64(x[j, t])
            ok = _finite(v)
            s += v if ok else 0.0
            c += 1 if ok else 0
            pre[t] = s
            pc[t] = c
        for t in range(T - 1, -1, -1):
            if t == T - 1 or t % w == w - 1:
                s = 0.0
                c = 0
            v = np.float64(x[j, t])
            ok = _finite(v)
            s += v if ok else 0.0
            c += 1 if ok else 0
            suf[t] = s
            sc[t] = c
        for t in range(T):
            a = t - w + 1
            if a <= 0 or a % w == 0:
                tot = pre[t]
                n = pc[t]
            else:
                tot = suf[a] + pre[t]
                n = sc[a] + pc[t]
            if n == 0:
                out[j, t] = np.nan
            else:
                out[j, t] = tot / n if mean else tot
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
    """Rolling variance of finite values (pandas skips NaN and inf); exactly 0 on a constant window.

    Sums of deviations from a reference value that is re-centred every `w` steps (the window's
    sums are then recomputed), so the error stays relative to the window's own spread; O(1)
    amortized per step.
    """
    N, T = x.shape
    out = np.empty((N, T))
    for j in nb.prange(N):
        c = 0.0
        s1 = 0.0
        s2 = 0.0
        n = 0
        same = 0
        prev = np.nan
        for t in range(T):
            if t % w == 0:  # re-centre on the first finite value of the current window
                for k in range(max(t - w, 0), t + 1):
                    v = np.float64(x[j, k])
                    if _finite(v):
                        c = v
                        break
                s1 = 0.0
                s2 = 0.0
                for k in range(max(t - w, 0), t):
                    v = np.float64(x[j, k])
                    if _finite(v):
                        d = v - c
                        s1 += d
                        s2 += d * d
            v = np.float64(x[j, t])
            if _finite(v):
                n += 1
                d = v - c
                s1 += d
                s2 += d * d
                if v == prev:
                    same += 1
                else:
                    same = 1
                    prev = v
            if t >= w:
                u = np.float64(x[j, t - w])
                if _finite(u):
                    n -= 1
                    d = u - c
                    s1 -= d
                    s2 -= d * d
                    if n == 0:
                        s1 = 0.0
                        s2 = 0.0
            if n > ddof and n >= 1:
                if n == 1 or same >= n:
                    out[j, t] = 0.0
                else:
                    r = (s2 - s1 * s1 / n) / (n - ddof)
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
    """Rolling max/min, or its 1-based position in the window (van Herk/Gil-Werman, O(1)).

    Max/Min skip NaN and +-inf (pandas); the position follows numpy's argmax on the raw window
    (Qlib's IdxMax): the first NaN in the window wins, else the first occurrence of the extreme
    (inf included); the window starts at the instrument's series start.
    """
    N, T = x.shape
    out = np.empty((N, T))
    for j in nb.prange(N):
        val = np.empty(T)  # values to maximize; unusable ones are -inf
        cnt = np.zeros(T + 1, dtype=np.int64)  # running count of usable values
        nxt = np.empty(T + 1, dtype=np.int64)  # next NaN at or after t
        pre = np.empty(T)
        pidx = np.empty(T, dtype=np.int64)
        suf = np.empty(T)
        sidx = np.empty(T, dtype=np.int64)
        for t in range(T):
            v = np.float64(x[j, t])
            ok = (v == v) if want_idx else _finite(v)
            val[t] = (v if want_max else -v) if ok else -np.inf
            cnt[t + 1] = cnt[t] + (1 if ok else 0)
            if t % w == 0 or val[t] > pre[t - 1]:  # block prefix, first occurrence on ties
                pre[t] = val[t]
                pidx[t] = t
            else:
                pre[t] = pre[t - 1]
                pidx[t] = pidx[t - 1]
        nxt[T] = T
        for t in range(T - 1, -1, -1):
            v = x[j, t]
            nxt[t] = t if v != v else nxt[t + 1]
            if t == T - 1 or t % w == w - 1 or val[t] >= suf[t + 1]:  # block suffix, earliest
                suf[t] = val[t]
                sidx[t] = t
            else:
                suf[t] = suf[t + 1]
                sidx[t] = sidx[t + 1]
        s0 = start[j]
        for t in range(T):
            lo = max(t - w + 1, s0, 0)
            if cnt[t + 1] - cnt[lo] == 0:
                out[j, t] = np.nan
                continue
            a = t - w + 1
            if a <= 0 or a % w == 0:
                best = pre[t]
                bi = pidx[t]
                if a > 0:
                    best = suf[a]
                    bi = sidx[a]
            elif suf[a] >= pre[t]:
                best = suf[a]
                bi = sidx[a]
            else:
                best = pre[t]
                bi = pidx[t]
            if want_idx:
                p = nxt[lo] if nxt[lo] <= t else max(bi, lo)
                out[j, t] = p - lo + 1
            else:
                out[j, t] = best if want_max else -best
    return out


@nb.njit(**_JIT)
def roll_sorted(x: np.ndarray, w: int, qs: np.ndarray, want_rank: bool) -> np.ndarray:
    """Order statistics of the window's finite values from one sorted buffer: [K, N, T].

    Rows 0..len(qs)-1: quantiles with linear interpolation (pandas); last row when want_rank:
    percentile rank of the current value (average ties, rank / count), NaN when it is missing.
    """
    N, T = x.shape
    K = len(qs) + (1 if want_rank else 0)
    out = np.empty((K, N, T))
    for j in nb.prange(N):
        buf = np.empty(w)
        n = 0
        for t in range(T):
            # keep `buf[:n]` sorted: replace the value leaving by the value entering; positions
            # come from branch-free counts (vectorized), entries between them move by one
            u = np.float64(x[j, t - w]) if t >= w else np.nan
            v = np.float64(x[j, t])
            has_u = _finite(u)
            has_v = _finite(v)
            if has_u:
                ku = _count_less(buf, n, u)
                if has_v:
                    kv = _count_less(buf, n, v)
                    if kv > ku:
                        for m in range(ku, kv - 1):
                            buf[m] = buf[m + 1]
                        buf[kv - 1] = v
                    else:
                        for m in range(ku, kv, -1):
                            buf[m] = buf[m - 1]
                        buf[kv] = v
                else:
                    for m in range(ku, n - 1):
                        buf[m] = buf[m + 1]
                    n -= 1
            elif has_v:
                kv = _count_less(buf, n, v)
                for m in range(n, kv, -1):
                    buf[m] = buf[m - 1]
                buf[kv] = v
                n += 1
            for qi in range(len(qs)):
                if n == 0:
                    out[qi, j, t] = np.nan
                else:
                    f = qs[qi] * (n - 1)
                    i = int(f)
                    if i >= n - 1:
                        out[qi, j, t] = buf[n - 1]
                    else:
                        out[qi, j, t] = buf[i] + (buf[i + 1] - buf[i]) * (f - i)
            if want_rank:
                if not has_v:
                    out[K - 1, j, t] = np.nan
                else:
                    less = _count_less(buf, n, v)
                    eq = _count_less_equal(buf, n, v) - less
                    out[K - 1, j, t] = (less + (eq + 1) / 2.0) / n
    return out


@nb.njit(inline="always")
def _count_less(buf: np.ndarray, n: int, v: float) -> int:
    c = 0
    for i in range(n):
        c += buf[i] < v
    return c


@nb.njit(inline="always")
def _count_less_equal(buf: np.ndarray, n: int, v: float) -> int:
    c = 0
    for i in range(n):
        c += buf[i] <= v
    return c


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
