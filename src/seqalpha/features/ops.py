"""Time-series and cross-sectional kernels (numba, parallel over instruments).

Layouts: arrays are `[T, N]` (time x instrument). The streaming kernels (`roll_sum`,
`roll_count`, `roll_var`, `roll_cov_corr`, `roll_regression`, `ewm_mean`, `roll_extreme`) walk
time row by row and keep per-instrument state, so their inner loops run over contiguous
instruments and vectorize. The per-series kernels (`roll_sorted`, `roll_moments`, `roll_mad`,
`roll_wma`) take the transposed `[N, T]` (one contiguous series per instrument).
All follow pandas' `rolling(w, min_periods=1)` as Qlib uses it: NaN is skipped and an empty
window gives NaN. `start[N]` is the first row of each instrument's series (Qlib evaluates an
instrument from its first stored date). They compute in float64 and store float32 (the
result precision, 6e-8, is far below what the features need).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

# x/0 -> inf, 0/0 -> NaN; one decorator, applied to each kernel
_jit = nb.njit(parallel=True, cache=True, nogil=True, error_model="numpy")


@nb.njit(inline="always")
def _finite(v) -> bool:
    return (v - v) == 0.0


@nb.njit(inline="always")
def _present(v) -> bool:
    return not np.isnan(v)


@nb.njit(inline="always")
def _missing(v) -> bool:
    return np.isnan(v)


@nb.njit(inline="always")
def _chunks(N: int) -> int:
    """Column chunks for prange: enough to share among threads, each wide enough to vectorize."""
    return max(1, min(4, N // 128))


# ----------------------------------------------------------------------------- streaming, [T, N]


@_jit
def roll_sum(x: np.ndarray, w: int, mean: bool) -> np.ndarray:
    """Rolling sum (or mean) of finite values over `w` rows, [T, N] -> [T, N].

    Running sums recomputed from the window every `w` rows (bounded drift); as in pandas, a
    window of one repeated value gives exactly that value (so all-zero windows give 0) and the
    sign of an all-positive (all-negative) window is kept.
    """
    T, N = x.shape
    out = np.empty((T, N), dtype=np.float32)
    nch = _chunks(N)
    for ch in nb.prange(nch):
        lo = ch * N // nch
        hi = (ch + 1) * N // nch
        M = hi - lo
        s = np.zeros(M)
        n = np.zeros(M)
        neg = np.zeros(M)
        same = np.zeros(M)
        prev = np.full(M, np.nan)
        for t in range(T):
            xr = x[t, lo:hi]  # row views: contiguous, the inner loops vectorize
            ur = x[max(t - w, 0), lo:hi]
            orow = out[t, lo:hi]
            if t % w == 0 and t > 0:
                s[:] = 0.0
                for k in range(t - w, t):
                    kr = x[k, lo:hi]
                    for m in range(M):
                        v = np.float64(kr[m])
                        s[m] += v if _finite(v) else 0.0
            for m in range(M):
                v = np.float64(xr[m])
                ok = _finite(v)
                s[m] += v if ok else 0.0
                n[m] += 1.0 if ok else 0.0
                neg[m] += 1.0 if (ok and v < 0) else 0.0
                sm = same[m] + 1.0 if v == prev[m] else 1.0
                same[m] = sm if ok else same[m]
                prev[m] = v if ok else prev[m]
            if t >= w:
                for m in range(M):
                    u = np.float64(ur[m])
                    ok = _finite(u)
                    s[m] -= u if ok else 0.0
                    n[m] -= 1.0 if ok else 0.0
                    neg[m] -= 1.0 if (ok and u < 0) else 0.0
            for m in range(M):
                nm = n[m]
                r = s[m] / nm if mean else s[m]
                r = 0.0 if (neg[m] == 0 and r < 0) or (neg[m] == nm and r > 0) else r
                r = (prev[m] if mean else prev[m] * nm) if same[m] >= nm else r
                orow[m] = r if nm > 0 else np.nan
    return out


@_jit
def roll_count(x: np.ndarray, w: int) -> np.ndarray:
    """Number of non-NaN values in the last `w` rows (0 when none, as pandas), [T, N]."""
    T, N = x.shape
    out = np.empty((T, N), dtype=np.float32)
    nch = _chunks(N)
    for ch in nb.prange(nch):
        lo = ch * N // nch
        hi = (ch + 1) * N // nch
        c = np.zeros(hi - lo)
        for t in range(T):
            xr = x[t, lo:hi]  # row views: contiguous, the inner loops vectorize
            ur = x[max(t - w, 0), lo:hi]
            orow = out[t, lo:hi]
            for m in range(hi - lo):
                v = xr[m]
                c[m] += 1.0 if _present(v) else 0.0
                if t >= w:
                    u = ur[m]
                    c[m] -= 1.0 if _present(u) else 0.0
                orow[m] = c[m]
    return out


@_jit
def roll_var(x: np.ndarray, w: int, ddof: int) -> np.ndarray:
    """Rolling variance of finite values, [T, N]; exactly 0 on a constant window (as pandas).

    Sums of deviations from a per-instrument reference re-centred every `w` rows (the window's
    sums are then recomputed), so rounding stays relative to the window's own spread.
    """
    T, N = x.shape
    out = np.empty((T, N), dtype=np.float32)
    nch = _chunks(N)
    for ch in nb.prange(nch):
        lo = ch * N // nch
        hi = (ch + 1) * N // nch
        M = hi - lo
        c = np.zeros(M)
        s1 = np.zeros(M)
        s2 = np.zeros(M)
        n = np.zeros(M)
        same = np.zeros(M)
        prev = np.full(M, np.nan)
        for t in range(T):
            xr = x[t, lo:hi]  # row views: contiguous, the inner loops vectorize
            ur = x[max(t - w, 0), lo:hi]
            orow = out[t, lo:hi]
            if t % w == 0:  # re-centre on the latest finite value of the current window
                k0 = max(t - w, 0)
                for m in range(M):
                    cm = np.nan
                    for k in range(t, k0 - 1, -1):
                        kr = x[k, lo:hi]
                        v = np.float64(kr[m])
                        if _finite(v):
                            cm = v
                            break
                    if _present(cm):
                        c[m] = cm
                    s1[m] = 0.0
                    s2[m] = 0.0
                for k in range(k0, t):
                    kr = x[k, lo:hi]
                    for m in range(M):
                        v = np.float64(kr[m])
                        d = v - c[m]
                        ok = _finite(v)
                        s1[m] += d if ok else 0.0
                        s2[m] += d * d if ok else 0.0
            for m in range(M):
                v = np.float64(xr[m])
                ok = _finite(v)
                d = v - c[m]
                s1[m] += d if ok else 0.0
                s2[m] += d * d if ok else 0.0
                n[m] += 1.0 if ok else 0.0
                sm = same[m] + 1.0 if v == prev[m] else 1.0
                same[m] = sm if ok else same[m]
                prev[m] = v if ok else prev[m]
                if t >= w:
                    u = np.float64(ur[m])
                    okr = _finite(u)
                    e = u - c[m]
                    s1[m] -= e if okr else 0.0
                    s2[m] -= e * e if okr else 0.0
                    n[m] -= 1.0 if okr else 0.0
                nm = n[m]
                r = (s2[m] - s1[m] * s1[m] / nm) / (nm - ddof)
                r = r if r > 0 else 0.0
                r = 0.0 if (nm == 1 or same[m] >= nm) else r
                orow[m] = r if (nm > ddof and nm >= 1) else np.nan
    return out


@_jit
def ewm_mean(x: np.ndarray, alpha: float) -> np.ndarray:
    """pandas `ewm(alpha, adjust=True, ignore_na=False, min_periods=1).mean()`, [T, N]."""
    T, N = x.shape
    out = np.empty((T, N), dtype=np.float32)
    decay = 1.0 - alpha
    nch = _chunks(N)
    for ch in nb.prange(nch):
        lo = ch * N // nch
        hi = (ch + 1) * N // nch
        wt = np.full(hi - lo, np.nan)
        old = np.ones(hi - lo)
        for t in range(T):
            xr = x[t, lo:hi]  # row views: contiguous, the inner loops vectorize
            orow = out[t, lo:hi]
            for m in range(hi - lo):
                v = np.float64(xr[m])
                if _finite(wt[m]):
                    old[m] *= decay
                    if _finite(v):
                        if wt[m] != v:
                            wt[m] = (old[m] * wt[m] + v) / (old[m] + 1.0)
                        old[m] += 1.0
                elif _finite(v):
                    wt[m] = v
                    old[m] = 1.0
                orow[m] = wt[m]
    return out


@_jit
def roll_regression(x: np.ndarray, w: int, kind: int) -> np.ndarray:
    """Regression of the window on its slot positions 1..w (NaN slots skipped), as Qlib, [T, N].

    kind 0: slope, 1: R^2, 2: residual of the last value. Window sums are recomputed every `w`
    rows and updated in between (positions are row indices shifted to the window).
    """
    T, N = x.shape
    out = np.empty((T, N), dtype=np.float32)
    nch = _chunks(N)
    for ch in nb.prange(nch):
        lo = ch * N // nch
        hi = (ch + 1) * N // nch
        M = hi - lo
        n = np.zeros(M)
        sk = np.zeros(M)  # sums over the window's values of k (row index), k^2, y, y^2, k*y
        skk = np.zeros(M)
        sy = np.zeros(M)
        syy = np.zeros(M)
        sky = np.zeros(M)
        for t in range(T):
            xr = x[t, lo:hi]  # row views: contiguous, the inner loops vectorize
            ur = x[max(t - w, 0), lo:hi]
            orow = out[t, lo:hi]
            if t % w == 0:
                n[:] = 0.0
                sk[:] = 0.0
                skk[:] = 0.0
                sy[:] = 0.0
                syy[:] = 0.0
                sky[:] = 0.0
                for k in range(max(t - w + 1, 0), t):
                    kr = x[k, lo:hi]
                    for m in range(M):
                        v = np.float64(kr[m])
                        ok = _present(v)
                        n[m] += 1.0 if ok else 0.0
                        sk[m] += k if ok else 0.0
                        skk[m] += k * k if ok else 0.0
                        sy[m] += v if ok else 0.0
                        syy[m] += v * v if ok else 0.0
                        sky[m] += k * v if ok else 0.0
            o = t - w  # position p = k - o, newest = w
            for m in range(M):
                v = np.float64(xr[m])
                ok = _present(v)
                n[m] += 1.0 if ok else 0.0
                sk[m] += t if ok else 0.0
                skk[m] += t * t if ok else 0.0
                sy[m] += v if ok else 0.0
                syy[m] += v * v if ok else 0.0
                sky[m] += t * v if ok else 0.0
                if t >= w and t % w != 0:
                    k = t - w
                    u = np.float64(ur[m])
                    okr = _present(u)
                    n[m] -= 1.0 if okr else 0.0
                    sk[m] -= k if okr else 0.0
                    skk[m] -= k * k if okr else 0.0
                    sy[m] -= u if okr else 0.0
                    syy[m] -= u * u if okr else 0.0
                    sky[m] -= k * u if okr else 0.0
                nm = n[m]
                sp = sk[m] - nm * o
                spp = skk[m] - 2.0 * o * sk[m] + nm * o * o
                spy = sky[m] - o * sy[m]
                den = nm * spp - sp * sp
                num = nm * spy - sp * sy[m]
                if kind == 0:
                    r = num / den
                elif kind == 1:
                    d2 = den * (nm * syy[m] - sy[m] * sy[m])
                    r = num * num / d2 if d2 > 0 else np.nan
                else:
                    b = num / den
                    a = sy[m] / nm - b * sp / nm
                    r = v - (b * w + a)
                orow[m] = r
    return out


@nb.njit(inline="always")
def _pair_add(a, b, m, n, mx, my, sxx, syy, sxy) -> None:
    """Welford update of instrument m's co-moments with the pair (a, b) when both are finite."""
    if _finite(a) and _finite(b):
        n[m] += 1.0
        dx = a - mx[m]
        mx[m] += dx / n[m]
        dy = b - my[m]
        my[m] += dy / n[m]
        sxx[m] += dx * (a - mx[m])
        syy[m] += dy * (b - my[m])
        sxy[m] += dx * (b - my[m])


@_jit
def roll_cov_corr(x: np.ndarray, y: np.ndarray, w: int, corr: bool) -> np.ndarray:
    """Rolling covariance (ddof=1) or correlation over rows where both are finite, [T, N].

    Co-moments are updated as rows enter and leave and rebuilt from the window every `w` rows,
    so rounding never carries over from values long gone (nor does an output depend on them).
    """
    T, N = x.shape
    out = np.empty((T, N), dtype=np.float32)
    nch = _chunks(N)
    for ch in nb.prange(nch):
        lo = ch * N // nch
        hi = (ch + 1) * N // nch
        M = hi - lo
        n = np.zeros(M)
        mx = np.zeros(M)
        my = np.zeros(M)
        sxx = np.zeros(M)
        syy = np.zeros(M)
        sxy = np.zeros(M)
        for t in range(T):
            xr = x[t, lo:hi]  # row views: contiguous, the inner loops vectorize
            ur = x[max(t - w, 0), lo:hi]
            yr = y[t, lo:hi]
            vr = y[max(t - w, 0), lo:hi]
            orow = out[t, lo:hi]
            rebuild = t % w == 0 and t > 0
            if rebuild:  # the window's rows before t, from scratch
                n[:] = 0.0
                mx[:] = 0.0
                my[:] = 0.0
                sxx[:] = 0.0
                syy[:] = 0.0
                sxy[:] = 0.0
                for k in range(t - w + 1, t):
                    kx = x[k, lo:hi]
                    ky = y[k, lo:hi]
                    for m in range(M):
                        _pair_add(np.float64(kx[m]), np.float64(ky[m]), m, n, mx, my, sxx, syy, sxy)
            for m in range(M):
                _pair_add(np.float64(xr[m]), np.float64(yr[m]), m, n, mx, my, sxx, syy, sxy)
                if t >= w and not rebuild:
                    a = np.float64(ur[m])
                    b = np.float64(vr[m])
                    if _finite(a) and _finite(b):
                        n[m] -= 1.0
                        if n[m] == 0:
                            mx[m] = 0.0
                            my[m] = 0.0
                            sxx[m] = 0.0
                            syy[m] = 0.0
                            sxy[m] = 0.0
                        else:
                            dx = a - mx[m]
                            mx[m] -= dx / n[m]
                            dy = b - my[m]
                            my[m] -= dy / n[m]
                            sxx[m] -= dx * (a - mx[m])
                            syy[m] -= dy * (b - my[m])
                            sxy[m] -= dx * (b - my[m])
                if n[m] < 2:
                    orow[m] = np.nan
                elif corr:
                    d = sxx[m] * syy[m]
                    orow[m] = sxy[m] / math.sqrt(d) if d > 0 else np.nan
                else:
                    orow[m] = sxy[m] / (n[m] - 1)
    return out


@_jit
def roll_extreme(
    x: np.ndarray, w: int, start: np.ndarray, want_max: bool, want_idx: bool
) -> np.ndarray:
    """Rolling max/min, or its 1-based position in the window, [T, N] (van Herk/Gil-Werman, O(1)).

    Max/Min skip NaN and +-inf (pandas); the position follows numpy's argmax on the raw window
    (Qlib's IdxMax): the first NaN in the window wins, else the first occurrence of the extreme
    (inf included); the window starts at the instrument's series start.
    """
    T, N = x.shape
    out = np.empty((T, N), dtype=np.float32)
    nch = _chunks(N)
    for ch in nb.prange(nch):
        lo = ch * N // nch
        hi = (ch + 1) * N // nch
        M = hi - lo
        suf = np.empty((T, M))  # block suffix extreme (earliest on ties) and its row
        sidx = np.empty((T, M), dtype=np.int32)
        nxt = np.empty((T + 1, M), dtype=np.int32)  # next NaN at or after the row
        nxt[T, :] = T
        for t in range(T - 1, -1, -1):
            xr = x[t, lo:hi]
            t1 = min(t + 1, T - 1)
            s0, s1, i0, i1, n0, n1 = suf[t], suf[t1], sidx[t], sidx[t1], nxt[t], nxt[t + 1]
            reset = t == T - 1 or t % w == w - 1
            for m in range(M):
                v = np.float64(xr[m])
                ok = (_present(v)) if want_idx else _finite(v)
                val = (v if want_max else -v) if ok else -np.inf
                n0[m] = t if _missing(v) else n1[m]
                take = reset or val >= s1[m]
                s0[m] = val if take else s1[m]
                i0[m] = t if take else i1[m]
        pre = np.full(M, -np.inf)  # block prefix extreme (first on ties) and its row
        pidx = np.zeros(M, dtype=np.int32)
        cnt = np.zeros(M)
        for t in range(T):
            xr = x[t, lo:hi]
            ur = x[max(t - w, 0), lo:hi]
            orow = out[t, lo:hi]
            a = t - w + 1
            block_start = t % w == 0
            split = a > 0 and a % w != 0
            ar = max(a, 0)
            sa, ia = suf[ar], sidx[ar]
            for m in range(M):
                v = np.float64(xr[m])
                ok = (_present(v)) if want_idx else _finite(v)
                val = (v if want_max else -v) if ok else -np.inf
                take = block_start or val > pre[m]
                pre[m] = val if take else pre[m]
                pidx[m] = t if take else pidx[m]
                cnt[m] += 1.0 if ok else 0.0
                if t >= w:
                    u = np.float64(ur[m])
                    cnt[m] -= 1.0 if ((_present(u)) if want_idx else _finite(u)) else 0.0
                best = pre[m]
                bi = pidx[m]
                if split and sa[m] >= best:
                    best = sa[m]
                    bi = ia[m]
                if cnt[m] == 0:
                    orow[m] = np.nan
                elif want_idx:
                    lw = max(ar, start[lo + m])
                    p = nxt[lw, m] if nxt[lw, m] <= t else max(bi, lw)
                    orow[m] = p - lw + 1
                else:
                    orow[m] = best if want_max else -best
    return out


# ----------------------------------------------------------------------------- per series, [N, T]


@_jit
def roll_moments(x: np.ndarray, w: int, kurt: bool) -> np.ndarray:
    """Rolling bias-corrected skewness (or excess kurtosis) as pandas; NaN on a constant window."""
    N, T = x.shape
    out = np.empty((N, T), dtype=np.float32)
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
                g1 = m3 / m2**1.5
                out[j, t] = g1 * math.sqrt(n * (n - 1.0)) / (n - 2)
    return out


@_jit
def roll_sorted(x: np.ndarray, w: int, qs: np.ndarray, want_rank: bool) -> np.ndarray:
    """Order statistics of the window's finite values from one sorted buffer: [K, N, T].

    Rows 0..len(qs)-1: quantiles with linear interpolation (pandas); last row when want_rank:
    percentile rank of the current value (average ties, rank / count), NaN when it is missing.
    """
    N, T = x.shape
    K = len(qs) + (1 if want_rank else 0)
    out = np.empty((K, N, T), dtype=np.float32)
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


@_jit
def roll_mad(x: np.ndarray, w: int) -> np.ndarray:
    """Rolling mean absolute deviation around the window mean (non-NaN values)."""
    N, T = x.shape
    out = np.empty((N, T), dtype=np.float32)
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


@_jit
def roll_wma(x: np.ndarray, w: int, start: np.ndarray) -> np.ndarray:
    """Qlib's WMA: weights 1..L over the window (L = its length), nanmean of weight * value."""
    N, T = x.shape
    out = np.empty((N, T), dtype=np.float32)
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
                if _present(v):
                    n += 1
                    s += (k - lo + 1) / tot * v
            out[j, t] = s / n if n > 0 else np.nan
    return out


# ----------------------------------------------------------------------------- regression on time


# ----------------------------------------------------------------------------- cross-section


@_jit
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


@_jit
def cs_group_demean(
    x: np.ndarray, member: np.ndarray, codes: np.ndarray, n_groups: int
) -> np.ndarray:
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
