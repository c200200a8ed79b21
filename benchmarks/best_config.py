"""How `examples/csi300_best.yaml` was chosen (validation years only) and how it does on DEV.

Stage 1, selection. A "selection split" inside the DEV training and validation years: train
2010-2016, valid 2017-2018, test 2019-2020 (the DEV validation years), `data.end` 2020-12-31 so
that no day of 2021-2022 is even read. Light candidates, one thread each, seed 0, trained by
`seqalpha train` of two ensemble configs (members share one feature build):
- group `a158` (Alpha158): `linear` (OLS, pyqlib's Linear setup: robust z-score + fillna,
  CSRankNorm labels), `deep_factor` (examples/csi300_deep_factor.yaml's MLP), `double_ensemble`
  (pyqlib's DoubleEnsemble settings with 3 sub-models, CSZScoreNorm labels), `reversal` (OLS on
  10 price/volume expressions, benchmarks/bench_combine.py's member);
- group `a158bq` (Alpha158 + `beta_quantile` extras): the same `linear`, `deep_factor`,
  `double_ensemble` and `reversal`.
Each member alone and combinations of members of one group (`equal`, `rolling_ic`,
`gauss_rank`; subsets below) are scored on 2019-2020: IC, ICIR, Rank IC, Rank ICIR and the
protocol's top-k dropout backtest (50/5, costs of BENCHMARKS.md). The winner is the candidate
with the best mean of its ranks on Rank IC, Rank ICIR and IR with cost (printed).

Stage 2, DEV. `seqalpha run examples/csi300_best.yaml --set seeds=[s]` for s = 0, 1, 2 (train
2010-2018, valid 2019-2020, test 2021-2022), mean +- std over the seeds, beside pyqlib's
GRU/Alpha360 on the same data and split (BENCHMARKS.md).

Run directories under benchmarks/out/best/ (git-ignored); a finished one is not run again. Jobs
run one at a time, `nice -n 5`, one BLAS/torch/LightGBM thread.

    .venv/bin/python benchmarks/best_config.py [--stage select|dev|all] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from seqalpha.backtest import BacktestConfig, backtest_topk, load_market
from seqalpha.combine import combine, read_member_run
from seqalpha.pipeline import signal_summary
from seqalpha.portfolio import TopkDropout
from seqalpha.registries import load_checked_config
from seqalpha.train.predictions import Predictions

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "best"
BASE = ROOT / "examples" / "csi300_linear_alpha158.yaml"
BEST = ROOT / "examples" / "csi300_best.yaml"
SELECT_SETS = [
    "data.end=2020-12-31",
    "walkforward.train=[2010-01-01, 2016-12-31]",
    "walkforward.valid=[2017-01-01, 2018-12-31]",
    "walkforward.test=[2019-01-01, 2020-12-31]",
    "tracking.enabled=false",
]
REVERSAL_EXTRA = {
    "R0": "$close/Ref($close,1)-1",
    "R1": "Ref($close,1)/Ref($close,2)-1",
    "R2": "Ref($close,2)/Ref($close,3)-1",
    "R3": "Ref($close,3)/Ref($close,4)-1",
    "R4": "Ref($close,4)/Ref($close,5)-1",
    "MOM5": "$close/Ref($close,5)-1",
    "MOM20": "$close/Ref($close,20)-1",
    "MOM60": "$close/Ref($close,60)-1",
    "VOL20": "Std($close/Ref($close,1)-1, 20)",
    "TURN5": "Mean($volume, 5)/Mean($volume, 60)",
}
MODELS = {
    "linear": {"name": "linear", "params": {"alpha": 0.0}},
    "deep_factor": {
        "name": "deep_factor",
        "params": {
            "hidden_sizes": [64, 32],
            "bias": False,
            "dropout": 0.0,
            "lr": 0.001,
            "weight_decay": 1.0e-5,
            "batch": "rows",
            "batch_size": 2048,
            "epochs": 20,
            "patience": 5,
            "early_stop_metric": "icir",
            "threads": 1,
        },
    },
    "double_ensemble": {
        "name": "double_ensemble",
        "params": {
            "num_models": 3,
            "sub_weights": [1.0, 0.2, 0.2],
            "enable_sr": True,
            "enable_fs": True,
            "epochs": 28,
            "learning_rate": 0.2,
            "num_leaves": 210,
            "max_depth": 8,
            "colsample_bytree": 0.8879,
            "subsample": 0.8789,
            "bagging_freq": 0,
            "lambda_l1": 205.6999,
            "lambda_l2": 580.9768,
            "num_threads": 1,
            "deterministic": False,
        },
    },
}
GROUPS = {
    "a158": {"library": "alpha158"},
    "a158bq": {"library": "alpha158", "extra_libraries": ["beta_quantile"]},
}
SUBSETS = (
    ("linear", "deep_factor", "double_ensemble", "double_ensemble_rank", "reversal"),
    ("linear", "deep_factor", "double_ensemble", "double_ensemble_rank"),
    ("deep_factor", "double_ensemble", "double_ensemble_rank"),
    ("deep_factor", "double_ensemble", "reversal"),
    ("deep_factor", "double_ensemble"),
    ("deep_factor", "double_ensemble_rank"),
    ("double_ensemble", "double_ensemble_rank"),
    ("deep_factor", "reversal"),
    ("deep_factor", "linear"),
)
METHODS = (
    ("equal", {}),
    ("rolling_ic", {"window": 120, "min_periods": 20}),
    ("gauss_rank", {}),
)
COLUMNS = (
    ("IC", "IC", "{:.4f}"),
    ("ICIR", "ICIR", "{:.3f}"),
    ("RankIC", "Rank IC", "{:.4f}"),
    ("RankICIR", "Rank ICIR", "{:.3f}"),
    ("AlphaRtn", "excess rtn w/ cost", "{:.2%}"),
    ("AlphaSharpe", "IR w/ cost", "{:.2f}"),
    ("TOV", "turnover", "{:.3f}"),
)
# pyqlib 0.9.7's GRU/Alpha360 on the same data and DEV split, 3 epochs (BENCHMARKS.md).
QLIB_GRU = {
    "IC": 0.0279,
    "ICIR": 0.205,
    "RankIC": 0.0423,
    "RankICIR": 0.315,
    "AlphaRtn": 0.0901,
    "AlphaSharpe": 1.04,
}
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "POLARS_MAX_THREADS": "1",
}


def members() -> list[dict]:
    """The ensemble members of a selection run (the run's features; reversal its own)."""
    out: list[dict] = [{"name": n, "model": MODELS[n]} for n in ("linear", "deep_factor")]
    for name, label in (("double_ensemble", "cs_zscore"), ("double_ensemble_rank", "cs_rank")):
        labels = [{"name": "drop_missing_label"}, {"name": label}]
        out.append(
            {
                "name": name,
                "model": MODELS["double_ensemble"],
                "processors": {"features": [], "labels": labels},
            }
        )
    out.append(
        {
            "name": "reversal",
            "model": MODELS["linear"],
            "features": {"library": "none", "extra": REVERSAL_EXTRA},
        }
    )
    return out


def selection_config(group: str) -> Path:
    """Write the selection run's config of `group` (the base example + its members)."""
    raw = yaml.safe_load(BASE.read_text())
    raw["features"] = GROUPS[group]
    raw["ensemble"] = {"method": "equal", "members": members()}
    path = OUT / f"select_{group}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def seqalpha(cmd: str, config: Path, out: Path, sets: list[str]) -> None:
    """`nice -n 5 seqalpha <cmd> config --out out --set ...` (skipped when finished)."""
    if (out / "metrics.json").is_file():
        return
    argv = ["nice", "-n", "5", str(ROOT / ".venv/bin/seqalpha"), cmd, str(config)]
    argv += ["--out", str(out), "--log-file", str(out.with_suffix(".log"))]
    for s in sets:
        argv += ["--set", s]
    t0 = time.time()
    print(f"[{time.strftime('%H:%M:%S')}] {cmd} {config.name} -> {out.name}", flush=True)
    subprocess.run(argv, cwd=ROOT, check=True, env=ENV)
    print(f"  done in {time.time() - t0:.0f} s wall", flush=True)


class Scorer:
    """Signal metrics and the protocol's top-k dropout backtest (market loaded once)."""

    def __init__(self) -> None:
        self.cfg = load_checked_config(BASE)
        self.market = None

    def __call__(self, preds: Predictions) -> dict[str, float]:
        sig = signal_summary(preds)
        bt = self.cfg.backtest
        if self.market is None:
            self.market = load_market(
                self.cfg.data.dir,
                start=preds.dates.min(),
                end=preds.dates.max(),
                benchmark=self.cfg.data.benchmark,
                deal_price=bt.deal_price,
                limit_threshold=bt.limit_threshold,
            )
        m = self.market
        costs = BacktestConfig(
            account=bt.account,
            buy_cost=bt.buy_cost,
            sell_cost=bt.sell_cost,
            min_cost=bt.min_cost,
            trade_unit=bt.lot_size,
        )
        grid = preds.on_grid(m.dates, m.instruments)
        perf = backtest_topk(grid, m, TopkDropout(topk=50, n_drop=5), costs).metrics()["overall"]
        return {
            "IC": sig["ic"],
            "ICIR": sig["icir"],
            "RankIC": sig["rank_ic"],
            "RankICIR": sig["rank_icir"],
            "AlphaRtn": perf["AlphaRtn"],
            "AlphaSharpe": perf["AlphaSharpe"],
            "TOV": perf["TOV"],
        }


def select(groups: list[str], seeds: list[int]) -> tuple[str, str]:
    """Stage 1: train the groups' members on the selection split for each seed, score every
    member and combination on 2019-2020 (mean +- std over the seeds); returns (the table, the
    winner's name)."""
    for seed, group in itertools.product(seeds, groups):
        sets = [*SELECT_SETS, f"seeds=[{seed}]"]
        seqalpha("train", selection_config(group), OUT / f"select_{group}_s{seed}", sets)
    score = Scorer()
    rows: dict[str, list[dict[str, float]]] = {}
    for seed, group in itertools.product(seeds, groups):
        run = OUT / f"select_{group}_s{seed}"
        preds = {m["name"]: read_member_run(run / "members" / m["name"]) for m in members()}
        for name, p in preds.items():
            rows.setdefault(f"{group} {name}", []).append(score(p))
        for subset, (method, params) in itertools.product(SUBSETS, METHODS):
            comb = combine({n: preds[n] for n in subset}, method, params, reach=2)
            key = f"{group} {method}({'+'.join(subset)})"
            rows.setdefault(key, []).append(score(comb.predictions))
    names = list(rows)
    mean = {n: {k: float(np.mean([r[k] for r in rows[n]])) for k in rows[n][0]} for n in names}
    ranks = np.zeros(len(names))
    for key in ("RankIC", "RankICIR", "AlphaSharpe"):
        vals = np.array([mean[n][key] for n in names])
        ranks += (-vals).argsort().argsort() + 1
    rank = dict(zip(names, ranks / 3, strict=True))
    order = sorted(names, key=lambda n: rank[n])
    head = "| candidate | " + " | ".join(h for _, h, _ in COLUMNS) + " | mean rank |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for n in order:
        cells = [mean_sd([r[k] for r in rows[n]], f) for k, _, f in COLUMNS]
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {rank[n]:.1f} |")
    return "\n".join(lines), order[0]


def mean_sd(values: list[float], fmt: str) -> str:
    """`mean +- std` (sample std; `-` for one value) in the column's format."""
    v = np.asarray(values, dtype=float)
    sd = fmt.format(v.std(ddof=1)) if len(v) > 1 else "-"
    return f"{fmt.format(v.mean())} +- {sd}"


def dev(seeds: list[int]) -> str:
    """Stage 2: examples/csi300_best.yaml on DEV for each seed; mean +- std table."""
    per: list[dict[str, float]] = []
    for s in seeds:
        out = OUT / f"dev_s{s}"
        seqalpha("run", BEST, out, [f"seeds=[{s}]", "tracking.enabled=false"])
        o = json.loads((out / "metrics.json").read_text())["overall"]
        per.append({k: float(o[k]) for k, _, _ in COLUMNS})
    head = "| run | " + " | ".join(h for _, h, _ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for s, row in zip(seeds, per, strict=True):
        lines.append(f"| seed {s} | " + " | ".join(f.format(row[k]) for k, _, f in COLUMNS) + " |")
    cells = [mean_sd([r[k] for r in per], f) for k, _, f in COLUMNS]
    lines.append(f"| mean +- std ({len(per)} seeds) | " + " | ".join(cells) + " |")
    qlib = [f.format(QLIB_GRU[k]) if k in QLIB_GRU else "" for k, _, f in COLUMNS]
    lines.append("| pyqlib GRU/Alpha360 (DEV) | " + " | ".join(qlib) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", choices=("select", "dev", "all"), default="all")
    ap.add_argument("--groups", nargs="+", default=list(GROUPS), choices=list(GROUPS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args(argv)
    if args.stage in ("select", "all"):
        table, winner = select(args.groups, args.seeds)
        print(
            "Selection split (train 2010-2016, valid 2017-2018, test 2019-2020), mean +- std "
            f"over seeds {args.seeds}:"
        )
        print(table)
        print(f"winner: {winner}\n", flush=True)
    if args.stage in ("dev", "all"):
        print("examples/csi300_best.yaml on DEV (test 2021-2022):")
        print(dev(args.seeds))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
