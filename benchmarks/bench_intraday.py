"""Minute pipeline benchmark: 1-minute bars -> 30-minute bars -> intraday features.

Random-walk 1-minute bars (A-share session, 240 bars a day) for N stocks x D days are generated
in chunks of days inside the script, each chunk resampled to 30-minute bars with
`seqalpha.data.minute.resample`; then the daily intraday features [D, N, F] and the per-bar
sequences [D, N, 8, Fb] (+ 20-day window views) are computed. Prints wall times and the
process's peak resident memory. Goal (BENCHMARKS.md, minute pipeline): < 60 s and < 4 GB.

Usage: .venv/bin/python benchmarks/bench_intraday.py [--stocks 1000] [--days 250] [--chunk-days 25]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from seqalpha.data.minute import A_SHARE, MinuteBars, resample
from seqalpha.features.intraday import intraday_daily_features, intraday_sequences, intraday_windows


def peak_rss_gb() -> float:
    """Peak resident set size of this process so far, in GB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def minute_chunk(
    rng: np.random.Generator, last_close: np.ndarray, d: int, n: int
) -> dict[str, np.ndarray]:
    """Random-walk 1-minute bars [d, 240, n] continuing from last_close [n] (updated in place)."""
    B = 240
    fields = {}
    gap = rng.normal(0, 0.01, (d, 1, n)).astype(np.float32)  # overnight gaps
    steps = rng.normal(0, 0.0008, (d, B, n)).astype(np.float32)
    logp = np.cumsum(steps, axis=1) + gap
    logp += np.cumsum(logp[:, -1:, :], axis=0) - logp[:, -1:, :]  # chain days
    close = (last_close[None, None, :] * np.exp(logp)).astype(np.float32)
    op = np.empty_like(close)
    op[:, 1:] = close[:, :-1]
    op[:, 0] = close[:, 0] * np.exp(-steps[:, 0])
    wig = np.abs(rng.normal(0, 0.0004, (d, B, n))).astype(np.float32)
    fields["open"], fields["close"] = op, close
    fields["high"] = np.maximum(op, close) * (1 + wig)
    fields["low"] = np.minimum(op, close) * (1 - wig[:, ::-1])
    u_shape = (1.5 + np.cos(np.linspace(0, 2 * np.pi, B, dtype=np.float32)))[None, :, None]
    vol = rng.gamma(2.0, 500.0, (d, B, n)).astype(np.float32) * u_shape
    fields["volume"] = vol
    fields["amount"] = vol * (op + close) * np.float32(0.5)
    last_close[:] = close[-1, -1]
    return fields


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stocks", type=int, default=1000)
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--chunk-days", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    N, D, C = a.stocks, a.days, a.chunk_days
    rng = np.random.default_rng(a.seed)
    instruments = np.array([f"S{i:05d}" for i in range(N)])
    dates = np.datetime64("2024-01-02") + np.arange(D)
    ends1 = A_SHARE.bar_ends(1)
    ends30 = A_SHARE.bar_ends(30)
    out = {
        k: np.empty((D, len(ends30), N), np.float32)
        for k in ("open", "high", "low", "close", "volume", "amount")
    }
    last_close = np.full(N, 10.0, np.float32)
    t_gen = t_res = 0.0
    for lo in range(0, D, C):
        hi = min(D, lo + C)
        t0 = time.perf_counter()
        chunk = minute_chunk(rng, last_close, hi - lo, N)
        t1 = time.perf_counter()
        bars30 = resample(MinuteBars(dates[lo:hi], ends1, instruments, chunk), 30)
        for k, arr in out.items():
            arr[lo:hi] = bars30[k]
        t2 = time.perf_counter()
        t_gen += t1 - t0
        t_res += t2 - t1
        del chunk, bars30
    bars = MinuteBars(dates, ends30, instruments, out)
    rss_after_bars = peak_rss_gb()
    t0 = time.perf_counter()
    _names, x = intraday_daily_features(bars, window=20)
    t1 = time.perf_counter()
    _snames, seq = intraday_sequences(bars, window=20)
    win = intraday_windows(seq, L=20)
    t2 = time.perf_counter()
    rows = [
        ("generate 1-min bars (not part of the pipeline)", t_gen),
        ("resample 1-min -> 30-min", t_res),
        (f"daily features [D,N,F]={list(x.shape)}", t1 - t0),
        (f"bar sequences [D,N,B,Fb]={list(seq.shape)} + windows {list(win.shape)}", t2 - t1),
    ]
    pipeline = t_res + (t1 - t0) + (t2 - t1)
    print(
        f"minute pipeline: {N} stocks x {D} days x 240 one-minute bars "
        f"({N * D * 240 / 1e6:.0f}M bars), chunks of {C} days, numpy threads as set by the env"
    )
    print(f"{'stage':<78} {'seconds':>8}")
    for name, sec in rows:
        print(f"{name:<78} {sec:8.2f}")
    print(f"{'pipeline total (resample + features + sequences)':<78} {pipeline:8.2f}")
    print(f"{'peak RSS after the 30-min bars are built (GB)':<78} {rss_after_bars:8.2f}")
    print(f"{'peak RSS of the whole run (GB)':<78} {peak_rss_gb():8.2f}")
    finite = float(np.isfinite(x[20:]).mean())
    print(f"finite share of daily features after the 20-day warm-up: {finite:.4f}")
    ok = pipeline < 60 and peak_rss_gb() < 4
    print("goal (< 60 s, < 4 GB):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
