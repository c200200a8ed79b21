"""Read speed of the Qlib binary store: full cn_csi300 and the csi300 universe.

Each case runs in a fresh process (so that peak RSS is its own): 5 timed reads, median shown.
With --qlib, pyqlib 0.9.7 (benchmarks/.qlib-venv) reads the same fields side by side with
`D.features` (2 kernels, no caches), one fresh process per run (its memory cache would
otherwise serve repeats); peak RSS there is main process + largest worker.
Usage: .venv/bin/python benchmarks/bench_data_read.py [--data DIR] [--runs 5] [--qlib N]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

CASES = {
    "full (all fields, all instruments)": {"universe": "all"},
    "csi300 universe (all fields)": {"universe": "csi300"},
}


def run_case(data_dir: str, universe: str, runs: int) -> dict:
    """Time `runs` reads of one case in this process; returns times, shape and peak RSS."""
    import psutil

    from seqalpha.data.qlib_bin import load_panel

    base_rss = psutil.Process().memory_info().rss
    times = []
    shape = None
    for _ in range(runs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            p = load_panel(data_dir, universe=universe)
            times.append(time.perf_counter() - t0)
        shape = (*p.shape, len(p.fields))
        del p
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return {
        "times": times,
        "shape": shape,
        "peak_rss_mb": peak_kb / 1024,
        "base_rss_mb": base_rss / 2**20,
    }


QLIB_CHILD = """
import json, resource, sys, time
import qlib
from qlib.data import D
qlib.init(provider_uri=sys.argv[1], region="cn", kernels=2, expression_cache=None,
          dataset_cache=None, logging_level="WARNING")
fields = ["$open", "$high", "$low", "$close", "$volume", "$change", "$factor"]
t0 = time.perf_counter()
df = D.features(D.instruments(sys.argv[2]), fields, freq="day")
dt = time.perf_counter() - t0
ru = resource.getrusage
print(json.dumps({"time": dt, "rows": len(df), "peak_rss_mb": ru(resource.RUSAGE_SELF).ru_maxrss
                  / 1024, "child_rss_mb": ru(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def run_qlib(data_dir: str, universe: str, runs: int) -> dict:
    """`runs` fresh-process reads with pyqlib; times, long rows and peak RSS."""
    py = Path(__file__).resolve().parent / ".qlib-venv" / "bin" / "python"
    if not py.exists():
        raise SystemExit(f"{py} not found: run `bash benchmarks/qlib_venv.sh` first")
    res = []
    for _ in range(runs):
        out = subprocess.run(
            [str(py), "-c", QLIB_CHILD, data_dir, universe],
            check=True,
            capture_output=True,
            text=True,
        )
        res.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "times": [r["time"] for r in res],
        "rows": res[0]["rows"],
        "peak_rss_mb": max(r["peak_rss_mb"] + r["child_rss_mb"] for r in res),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=None, help="Qlib store (default shared/data/cn_csi300)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--qlib",
        type=int,
        default=0,
        metavar="N",
        help="also time pyqlib D.features, N fresh-process runs per case",
    )
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child process: one case
    args = ap.parse_args()
    if args.data is None:
        from seqalpha.paths import shared_data_dir

        args.data = str(shared_data_dir("cn_csi300"))
    if args.one is not None:
        print(json.dumps(run_case(args.data, args.one, args.runs)))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Qlib store read, {args.data} (median of {args.runs} runs, fresh process per case)"
    )
    for col in (
        "case",
        "T x N x fields",
        "median s",
        "min s",
        "max s",
        "peak RSS MB",
        "RSS before MB",
    ):
        table.add_column(col, justify="left" if col == "case" else "right")
    for name, case in CASES.items():
        out = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--data",
                args.data,
                "--runs",
                str(args.runs),
                "--one",
                case["universe"],
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        t = r["times"]
        table.add_row(
            f"seqalpha: {name}",
            " x ".join(map(str, r["shape"])),
            f"{statistics.median(t):.3f}",
            f"{min(t):.3f}",
            f"{max(t):.3f}",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['base_rss_mb']:.0f}",
        )
        if args.qlib:
            q = run_qlib(args.data, case["universe"], args.qlib)
            qt = q["times"]
            table.add_row(
                f"pyqlib D.features: {name} (median of {args.qlib})",
                f"{q['rows']:,} long rows x 7",
                f"{statistics.median(qt):.3f}",
                f"{min(qt):.3f}",
                f"{max(qt):.3f}",
                f"{q['peak_rss_mb']:.0f}",
                "",
            )
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
