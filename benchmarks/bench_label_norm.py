"""GRU/Alpha360 on CSI300 (DEV split): cs_rank (pyqlib's CSRankNorm) vs cs_zscore labels, 3 seeds.

Each cell is `seqalpha run examples/csi300_gru_alpha360.yaml` (pyqlib's benchmark setup: 3
epochs, early stopping on the valid loss) with `--set seeds=[s]` and the label normaliser
swapped, run under the machine-wide heavy lock (`flock /tmp/seqalpha-heavy.lock`), one at a
time, interleaved by seed (rank s0, zscore s0, rank s1, ...) so that a partial run is balanced.
Run directories: benchmarks/out/label_norm/<norm>_s<seed> (git-ignored); a finished cell
(report.html present) is not run again. The table: IC, ICIR, Rank IC, Rank ICIR, excess
annualised return with cost and its IR (Qlib's definitions), mean +- std over the seeds.
`--models linear` adds the Linear/Alpha158 example (OLS: deterministic, one run per
normalisation, light enough to run without the lock) as a cheap control of the same question.

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
LINEAR_CONFIG = ROOT / "examples" / "csi300_linear_alpha158.yaml"
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
# pyqlib 0.9.7's Linear/Alpha158 (CSRankNorm labels) on the same data and split (BENCHMARKS.md).
QLIB_LINEAR = {
    "IC": 0.0214,
    "ICIR": 0.144,
    "RankIC": 0.0268,
    "RankICIR": 0.178,
    "AlphaRtn": 0.0732,
    "AlphaSharpe": 0.85,
}


def run_cell(norm: str, seed: int, epochs: int, model: str = "gru", lock_path: str = LOCK) -> Path:
    """One `seqalpha run` of the GRU example (under the lock) or of the linear example (OLS:
    deterministic, light: no lock) with `norm` labels and `seed`."""
    prefix = "" if model == "gru" else f"{model}_"
    out = OUT / f"{prefix}{norm}_s{seed}"
    if (out / "report.html").is_file():
        return out
    labels = json.dumps([{"name": "drop_missing_label"}, {"name": norm}])
    lock = ["flock", lock_path] if model == "gru" and lock_path else []
    config = CONFIG if model == "gru" else LINEAR_CONFIG
    extra = ["--set", f"model.params.epochs={epochs}"] if model == "gru" else []
    cmd = [
        *lock,
        str(ROOT / ".venv/bin/seqalpha"),
        "run",
        str(config),
        "--out",
        str(out),
        "--set",
        f"seeds=[{seed}]",
        "--set",
        f"processors.labels={labels}",
        *extra,
        "--set",
        "tracking.enabled=false",
        "--log-file",
        str(OUT / f"{prefix}{norm}_s{seed}.log"),
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
    head = "| model | labels | seed | " + " | ".join(c[1] for c in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 3)]
    for model, prefix, ref in (("GRU", "", QLIB), ("Linear", "linear_", QLIB_LINEAR)):
        for norm in NORMS:
            rows = []
            for seed in seeds:
                m = overall(OUT / f"{prefix}{norm}_s{seed}")
                if m is None:
                    continue
                rows.append(m)
                cells = [f.format(m[k]) for k, _, f in COLUMNS]
                lines.append(f"| {model} | {norm} | {seed} | " + " | ".join(cells) + " |")
            if len(rows) > 1:
                cells = []
                for k, _, f in COLUMNS:
                    vals = np.array([r[k] for r in rows], dtype=float)
                    cells.append(f"{f.format(vals.mean())} +- {f.format(vals.std(ddof=1))}")
                lines.append(
                    f"| **{model}** | **{norm}** | mean +- std (n={len(rows)}) | "
                    + " | ".join(cells)
                    + " |"
                )
        cells = [f.format(ref[k]) for k, _, f in COLUMNS]
        lines.append(f"| pyqlib {model} | CSRankNorm | - | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=["gru", "linear"], choices=["gru", "linear"])
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument(
        "--lock",
        default=LOCK,
        help="lock file held around each GRU cell ('' runs without it, e.g. niced beside a job)",
    )
    args = ap.parse_args(argv)
    if not args.table_only:
        if "linear" in args.models:  # deterministic: one run per normalisation
            for norm in NORMS:
                run_cell(norm, 0, args.epochs, "linear")
        if "gru" in args.models:
            for seed in args.seeds:
                for norm in NORMS:
                    run_cell(norm, seed, args.epochs, lock_path=args.lock)
                    print(table(args.seeds), flush=True)
    print(table(args.seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
