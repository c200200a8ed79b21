"""GRU/Alpha360 on CSI300 (DEV split): cs_rank (pyqlib's CSRankNorm) vs cs_zscore labels, 3 seeds.

Each cell is `seqalpha run examples/csi300_gru_alpha360.yaml` (pyqlib's benchmark setup: 3
epochs, early stopping on the valid loss) with `--set seeds=[s]` and the label normaliser
swapped, run under the machine-wide heavy lock (`flock /tmp/seqalpha-heavy.lock`), one at a
time, interleaved by seed (rank s0, zscore s0, rank s1, ...) so that a partial run is balanced.
Run directories: benchmarks/out/label_norm/<norm>_s<seed> (git-ignored); a finished cell
(report.html present) is not run again. The table: IC, ICIR, Rank IC, Rank ICIR, excess
annualised return with cost and its IR (Qlib's definitions), mean +- std over the seeds.

    .venv/bin/python benchmarks/bench_label_norm.py [--seeds 0 1 2] [--table-only]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "label_norm"
CONFIG = ROOT / "examples" / "csi300_gru_alpha360.yaml"
LOCK = "/tmp/seqalpha-heavy.lock"
NORMS = ("cs_rank", "cs_zscore")
COLUMNS = (
    ("IC", "IC", "{:.4f}"),
    ("ICIR", "ICIR", "{:.3f}"),
    ("RankIC", "Rank IC", "{:.4f}"),
    ("RankICIR", "Rank ICIR", "{:.3f}"),
    ("AlphaRtn", "excess rtn w/ cost", "{:.2%}"),
    ("AlphaSharpe", "IR w/ cost", "{:.2f}"),
)
# pyqlib 0.9.7's GRU/Alpha360 on the same data and split, 3 epochs (BENCHMARKS.md).
QLIB = {
    "IC": 0.0279,
    "ICIR": 0.205,
    "RankIC": 0.0423,
    "RankICIR": 0.315,
    "AlphaRtn": 0.0901,
    "AlphaSharpe": 1.04,
}


def run_cell(norm: str, seed: int, epochs: int) -> Path:
    """One `seqalpha run` of the GRU example with `norm` labels and `seed`, under the lock."""
    out = OUT / f"{norm}_s{seed}"
    if (out / "report.html").is_file():
        return out
    labels = json.dumps([{"name": "drop_missing_label"}, {"name": norm}])
    cmd = [
        "flock",
        LOCK,
        str(ROOT / ".venv/bin/seqalpha"),
        "run",
        str(CONFIG),
        "--out",
        str(out),
        "--set",
        f"seeds=[{seed}]",
        "--set",
        f"processors.labels={labels}",
        "--set",
        f"model.params.epochs={epochs}",
        "--set",
        "tracking.enabled=false",
        "--log-file",
        str(OUT / f"{norm}_s{seed}.log"),
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    print(f"[{time.strftime('%H:%M:%S')}] {norm} seed {seed}: waiting for the lock", flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    print(f"  done in {time.time() - t0:.0f} s (wall, including the lock wait)", flush=True)
    return out


def overall(out: Path) -> dict | None:
    path = out / "metrics.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())["overall"]


def table(seeds: list[int]) -> str:
    head = "| labels | seed | " + " | ".join(c[1] for c in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]

    for norm in NORMS:
        rows = []
        for seed in seeds:
            m = overall(OUT / f"{norm}_s{seed}")
            if m is None:
                continue
            rows.append(m)
            cells = [f.format(m[k]) for k, _, f in COLUMNS]
            lines.append(f"| {norm} | {seed} | " + " | ".join(cells) + " |")
        if rows:
            cells = []
            for k, _, f in COLUMNS:
                vals = np.array([r[k] for r in rows], dtype=float)
                sd = vals.std(ddof=1) if len(vals) > 1 else float("nan")
                cells.append(f"{f.format(vals.mean())} +- {f.format(sd)}")
            lines.append(
                f"| **{norm}** | mean +- std (n={len(rows)}) | " + " | ".join(cells) + " |"
            )
    cells = [f.format(QLIB[k]) for k, _, f in COLUMNS]
    lines.append("| pyqlib CSRankNorm | 3 epochs | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args(argv)
    if not args.table_only:
        for seed in args.seeds:
            for norm in NORMS:
                run_cell(norm, seed, args.epochs)
                print(table(args.seeds), flush=True)
    print(table(args.seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
