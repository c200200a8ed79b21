"""Cold Alpha158 / Alpha360 construction: seqalpha vs pyqlib 0.9.7, side by side.

For all CSI300 members 2010-01-04..2022-12-30 on shared/data/cn_csi300, each run is a fresh
process (no expression or dataset cache, no processors) that stops once a dense feature table
of member-days is in memory. Wall time is measured from process start; peak RSS sums the process
and its children (psutil, sampled every 50 ms). Qlib runs in benchmarks/.qlib-venv.

    .venv/bin/python benchmarks/bench_features.py [--runs 3] [--qlib-runs 1]
        [--libs alpha158,alpha360]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
QLIB_PY = HERE / ".qlib-venv" / "bin" / "python"

SEQALPHA_JOB = r"""
import json, sys, time, warnings
t0 = time.time()
from seqalpha.data.qlib_bin import load_panel
from seqalpha.features import evaluate_long, library_expressions
from seqalpha.features.alpha158 import ALPHA158_LABEL
data, lib = sys.argv[1], sys.argv[2]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    panel = load_panel(data, ["open", "high", "low", "close", "volume"], "csi300")
    exprs = {**library_expressions(lib), **ALPHA158_LABEL}
    # the label (Qlib's handler computes it with the features) is the one forward expression
    df = evaluate_long(panel, exprs, "2010-01-01", "2022-12-30", missing="nan", allow_forward=True)
print(json.dumps({"rows": df.height, "cols": df.width - 2, "inner_s": time.time() - t0}))
"""

QLIB_JOB = r"""
import json, sys, time
t0 = time.time()
import qlib
from qlib.constant import REG_CN
data, lib = sys.argv[1], sys.argv[2]
qlib.init(provider_uri=data, region=REG_CN, expression_cache=None, dataset_cache=None, kernels=2)
from qlib.contrib.data.handler import Alpha158, Alpha360
H = Alpha158 if lib == "alpha158" else Alpha360
h = H(instruments="csi300", start_time="2010-01-01", end_time="2022-12-30",
      infer_processors=[], learn_processors=[])
df = h.fetch()
print(json.dumps({"rows": len(df), "cols": df.shape[1], "inner_s": time.time() - t0}))
"""


def run_measured(cmd: list[str], env: dict | None = None) -> dict:
    """Run a fresh process; wall time, peak RSS of the process tree, and its JSON result."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    ps = psutil.Process(proc.pid)
    peak = 0
    cpu = 0.0
    while proc.poll() is None:
        try:
            tree = [ps, *ps.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            cpu = max(cpu, sum(sum(p.cpu_times()[:2]) for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}):\n{err[-3000:]}")
    res = json.loads(out.strip().splitlines()[-1])
    res.update(wall_s=wall, peak_rss_gb=peak / 1e9, cpu_s=cpu)
    return res


def seqalpha_run(data: str, lib: str, cache_dir: str | None = None) -> dict:
    env = dict(os.environ)
    if cache_dir is not None:  # a fresh numba cache: the first-ever run, JIT compile included
        env["NUMBA_CACHE_DIR"] = cache_dir
    return run_measured([sys.executable, "-c", SEQALPHA_JOB, data, lib], env)


def qlib_run(data: str, lib: str) -> dict:
    return run_measured([str(QLIB_PY), "-c", QLIB_JOB, data, lib])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data" / "cn_csi300"))
    ap.add_argument("--runs", type=int, default=3, help="warm-JIT-cache seqalpha runs per library")
    ap.add_argument("--qlib-runs", type=int, default=1)
    ap.add_argument("--libs", default="alpha158,alpha360")
    args = ap.parse_args()
    if not Path(args.data).is_dir():
        sys.exit(f"data directory {args.data} not found")
    have_qlib = QLIB_PY.exists() and args.qlib_runs > 0
    rows = []
    for lib in args.libs.split(","):
        tmp = tempfile.mkdtemp(prefix="numba-cold-")
        try:
            first = seqalpha_run(args.data, lib, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        seqalpha_run(args.data, lib)  # make sure the regular JIT cache is populated
        warm = [seqalpha_run(args.data, lib) for _ in range(args.runs)]
        qruns = [qlib_run(args.data, lib) for _ in range(args.qlib_runs)] if have_qlib else []
        med = statistics.median(r["wall_s"] for r in warm)
        q_med = statistics.median(r["wall_s"] for r in qruns) if qruns else float("nan")
        rows.append(
            {
                "library": lib,
                "rows": warm[0]["rows"],
                "features": warm[0]["cols"],
                "seqalpha_first_ever_s": first["wall_s"],
                "seqalpha_warm_runs_s": [round(r["wall_s"], 2) for r in warm],
                "seqalpha_median_s": med,
                "seqalpha_cpu_s": statistics.median(r["cpu_s"] for r in warm),
                "seqalpha_peak_rss_gb": max(r["peak_rss_gb"] for r in warm),
                "qlib_runs_s": [round(r["wall_s"], 2) for r in qruns],
                "qlib_rows": qruns[0]["rows"] if qruns else None,
                "qlib_median_s": q_med,
                "qlib_cpu_s": statistics.median(r["cpu_s"] for r in qruns)
                if qruns
                else float("nan"),
                "qlib_peak_rss_gb": max((r["peak_rss_gb"] for r in qruns), default=float("nan")),
                "speedup_warm": q_med / med,
                "speedup_first_ever": q_med / first["wall_s"],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print()
    print(
        "| library | rows (seqalpha / qlib) | seqalpha first-ever JIT (s) | seqalpha warm runs (s) "
        "| seqalpha median (s) | qlib runs (s) | speed-up warm / first-ever "
        "| peak RSS seqalpha / qlib (GB) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['library']} | {r['rows']:,} / {r['qlib_rows'] or '-'} | "
            f"{r['seqalpha_first_ever_s']:.1f} | "
            f"{', '.join(map(str, r['seqalpha_warm_runs_s']))} | "
            f"{r['seqalpha_median_s']:.2f} | {', '.join(map(str, r['qlib_runs_s'])) or '-'} | "
            f"{r['speedup_warm']:.1f}x / {r['speedup_first_ever']:.1f}x | "
            f"{r['seqalpha_peak_rss_gb']:.2f} / {r['qlib_peak_rss_gb']:.2f} |"
        )
    print(f"\nload average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
