"""Synthetic-market generation and minute-bar resampling: throughput and peak memory.

Each case runs in a fresh child process so that its peak RSS is its own.
Usage: .venv/bin/python benchmarks/bench_synth_minute.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    # name: (kind, n_stocks, n_days, bar_minutes)
    "synth demo (30-min bars)": ("synth", 300, 750, 30),
    "synth 1-min bars": ("synth", 1000, 20, 1),
    "synth 1-min bars, 3x days": ("synth", 1000, 60, 1),
    "load 1-min + resample 1->30": ("resample", 1000, 20, 1),
    "load_minute(bar_minutes=30), chunked": ("load30", 1000, 20, 1),
}
QUICK = {
    "synth demo (30-min bars)": ("synth", 100, 200, 30),
    "synth 1-min bars": ("synth", 200, 10, 1),
    "load 1-min + resample 1->30": ("resample", 200, 10, 1),
    "load_minute(bar_minutes=30), chunked": ("load30", 200, 10, 1),
}


def run_case(kind: str, n: int, days: int, bar_minutes: int, work: Path) -> dict:
    """Run one case in this process; returns seconds and sizes (peak RSS is read by the parent)."""
    import numpy as np

    from seqalpha.data.minute import load_minute, resample
    from seqalpha.data.synthetic import SynthConfig, generate_market

    out = work / f"m_{n}_{days}_{bar_minutes}"
    if kind == "synth":
        t0 = time.perf_counter()
        cfg = SynthConfig(n_stocks=n, n_days=days, bar_minutes=bar_minutes, seed=0)
        generate_market(out, cfg, overwrite=True)
        return {
            "seconds": time.perf_counter() - t0,
            "stock_days": n * days,
            "bars": n * days * (240 // bar_minutes),
        }
    if not (out / "meta.json").exists():
        generate_market(out, SynthConfig(n_stocks=n, n_days=days, bar_minutes=bar_minutes, seed=0))
    if kind == "load30":
        t0 = time.perf_counter()
        thirty = load_minute(out / "minute", bar_minutes=30)
        D, B, N = thirty.shape
        return {"seconds": time.perf_counter() - t0, "stock_days": N * D, "bars": N * D * 240}
    t0 = time.perf_counter()
    bars = load_minute(out / "minute")
    t1 = time.perf_counter()
    thirty = resample(bars, 30)
    t2 = time.perf_counter()
    assert np.isclose(
        np.nansum(thirty["volume"], dtype=np.float64), np.nansum(bars["volume"], dtype=np.float64)
    )
    D, B, N = bars.shape
    return {"seconds": t2 - t1, "load_seconds": t1 - t0, "stock_days": N * D, "bars": N * D * B}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    cases = QUICK if args.quick else CASES
    if args.case:
        res = run_case(*cases[args.case], Path(args.work))
        res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(res))
        return
    from rich.console import Console
    from rich.table import Table

    work = Path(tempfile.mkdtemp(prefix="bench_synth_"))
    table = Table(title="synthetic market and minute bars (fresh process per case; 2-core machine)")
    for col in (
        "case",
        "stocks x days",
        "bars/day",
        "seconds",
        "stock-days/s",
        "minute bars/s",
        "peak RSS MB",
        "note",
    ):
        table.add_column(col, justify="left" if col in ("case", "note") else "right")
    try:
        for name, (kind, n, days, bm) in cases.items():
            cmd = [sys.executable, __file__, "--case", name, "--work", str(work)] + (
                ["--quick"] if args.quick else []
            )
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            note = (
                f"load {r['load_seconds']:.2f}s (not in throughput)"
                if "load_seconds" in r
                else "read + resample"
                if kind == "load30"
                else "incl. writing"
            )
            table.add_row(
                name,
                f"{n:,} x {days}",
                f"{240 // bm}",
                f"{r['seconds']:.2f}",
                f"{r['stock_days'] / r['seconds']:,.0f}",
                f"{r['bars'] / r['seconds']:,.0f}",
                f"{r['peak_rss_mb']:.0f}",
                note,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Console(width=170).print(table)


if __name__ == "__main__":
    main()
