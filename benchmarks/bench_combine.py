"""Model combination on CSI300 (DEV split): every member and every `seqalpha.combine` method.

Members (each a finished `seqalpha` run directory with predictions.parquet on the 2021-2022
test days; missing ones are trained here with `seqalpha train`, the torch ones under the
machine-wide heavy lock, one at a time):
- lgbm: examples/csi300_lgbm_alpha158.yaml (pyqlib's tuned LightGBM; deterministic for 2 threads)
- lgbm_rank: the same with CSRankNorm labels (the Linear/GRU benchmarks' label processor)
- linear: examples/csi300_linear_alpha158.yaml (OLS, pyqlib's Linear benchmark setup)
- linear_z: the same with CSZScoreNorm labels (bench_label_norm.py --models linear)
- reversal: OLS on 10 price/volume expressions (returns of the last 5 days, 5/20/60-day
  momentum, 20-day volatility, volume ratio), the linear example's processors; light
- mlp_s<k>: the linear example's data with model mlp (256-128, 8 epochs, valid-ICIR stopping)
- gru_s<k>: benchmarks/bench_label_norm.py's GRU/Alpha360 runs (cs_rank labels, 3 epochs)
For each seed k the ensemble is {lgbm, lgbm_rank, linear, linear_z, reversal, mlp_s<k>, gru_s<k>}
(the torch members change with the seed, the others do not; a torch member not run is left out); the
table gives each member and each method as mean +- std over the seeds: IC, ICIR, Rank IC,
Rank ICIR on the test days, and the top-k dropout backtest (50/5, the protocol's costs):
excess return with cost, IR with cost, turnover.
Every method's weights at a date use only labels realized by that date (offset + horizon
days), with equal weights until `min_periods` days are realized.

    .venv/bin/python benchmarks/bench_combine.py [--seeds 0 1 2] [--train-only | --no-train]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from seqalpha.backtest import BacktestConfig, backtest_topk, load_market
from seqalpha.combine import METHODS, combine, read_member_run
from seqalpha.pipeline import signal_summary
from seqalpha.portfolio import TopkDropout
from seqalpha.registries import load_checked_config
from seqalpha.train.predictions import Predictions

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "combine"
GRU_RUNS = ROOT / "benchmarks" / "out" / "label_norm"
LOCK = "/tmp/seqalpha-heavy.lock"
REVERSAL_SETS = [
    "features.library=none",
    'features.extra={"R0": "$close/Ref($close,1)-1", "R1": "Ref($close,1)/Ref($close,2)-1", '
    '"R2": "Ref($close,2)/Ref($close,3)-1", "R3": "Ref($close,3)/Ref($close,4)-1", '
    '"R4": "Ref($close,4)/Ref($close,5)-1", "MOM5": "$close/Ref($close,5)-1", '
    '"MOM20": "$close/Ref($close,20)-1", "MOM60": "$close/Ref($close,60)-1", '
    '"VOL20": "Std($close/Ref($close,1)-1, 20)", "TURN5": "Mean($volume, 5)/Mean($volume, 60)"}',
]
OPTIONAL = ("mlp", "gru")  # torch members: left out of a seed's ensemble when not (yet) run
LGBM_RANK_SETS = [
    'processors.labels=[{"name": "drop_missing_label"}, {"name": "cs_rank"}]',
]
MLP_SETS = [
    "model.name=mlp",
    'model.params={"hidden_sizes": [256, 128], "dropout": 0.1, "epochs": 8, "patience": 3, '
    '"lr": 0.001, "threads": 2, "days_per_batch": 1}',
]


def member_dirs(seed: int) -> dict[str, Path]:
    """The run directories of the members of the ensemble of `seed`."""
    dirs = {
        "lgbm": OUT / "members" / "lgbm",
        "lgbm_rank": OUT / "members" / "lgbm_rank",
        "linear": OUT / "members" / "linear",
        "linear_z": GRU_RUNS / "linear_cs_zscore_s0",
        "reversal": OUT / "members" / "reversal",
        "mlp": OUT / "members" / f"mlp_s{seed}",
        "gru": GRU_RUNS / f"cs_rank_s{seed}",
    }
    for name in OPTIONAL:
        if not (dirs[name] / "predictions.parquet").is_file():
            print(f"seed {seed}: no {name} run {dirs[name]}: left out", flush=True)
            del dirs[name]
    return dirs


def train(name: str, config: str, sets: list[str], locked: bool = True) -> None:
    """`seqalpha train` of one member, under the heavy lock unless `locked` is False (skipped
    when already finished)."""
    out = OUT / "members" / name
    if (out / "predictions.parquet").is_file():
        return
    lock = ["flock", LOCK] if locked else []
    cmd = [*lock, str(ROOT / ".venv/bin/seqalpha"), "train", config, "--out", str(out)]
    for s in [*sets, "tracking.enabled=false"]:
        cmd += ["--set", s]
    cmd += ["--log-file", str(OUT / "members" / f"{name}.log")]
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    print(
        f"[{time.strftime('%H:%M:%S')}] training member {name} (waiting for the lock)", flush=True
    )
    subprocess.run(cmd, cwd=ROOT, check=True)
    print(f"  {name} done in {time.time() - t0:.0f} s wall (including the lock wait)", flush=True)


def train_members(seeds: list[int]) -> None:
    # light jobs (below the lock's 3 GB / 3 CPU-minute bar: the lgbm run peaks at 2.6 GB and
    # takes about 60 CPU seconds in bench_end_to_end.py; linear less) run without the lock
    train("lgbm", "examples/csi300_lgbm_alpha158.yaml", [], locked=False)
    train("linear", "examples/csi300_linear_alpha158.yaml", [], locked=False)
    # pyqlib's LightGBM with the Linear/GRU benchmarks' processors (CSRankNorm labels)
    train("lgbm_rank", "examples/csi300_lgbm_alpha158.yaml", LGBM_RANK_SETS, locked=False)
    train("reversal", "examples/csi300_linear_alpha158.yaml", REVERSAL_SETS, locked=False)
    for seed in seeds:
        train(
            f"mlp_s{seed}", "examples/csi300_linear_alpha158.yaml", [*MLP_SETS, f"seeds=[{seed}]"]
        )


COLUMNS = (
    ("IC", "{:.4f}"),
    ("ICIR", "{:.3f}"),
    ("RankIC", "{:.4f}"),
    ("RankICIR", "{:.3f}"),
    ("AlphaRtn", "{:.2%}"),
    ("AlphaSharpe", "{:.2f}"),
    ("TOV", "{:.3f}"),
)


class Scorer:
    """Signal metrics and the protocol's top-k dropout backtest (market loaded once)."""

    def __init__(self) -> None:
        self.cfg = load_checked_config(ROOT / "examples/csi300_lgbm_alpha158.yaml")
        self.market = None

    def __call__(self, preds: Predictions) -> dict[str, float]:
        sig = signal_summary(preds)
        cfg, bt = self.cfg, self.cfg.backtest
        if self.market is None:
            self.market = load_market(
                cfg.data.dir,
                start=preds.dates.min(),
                end=preds.dates.max(),
                benchmark=cfg.data.benchmark,
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


def evaluate(seeds: list[int]) -> str:
    """Every member and every method for each seed's ensemble; mean +- std over the seeds."""
    score = Scorer()
    rows: dict[str, list[dict[str, float]]] = {}
    beats = []
    weights: dict[tuple[str, tuple[str, ...]], list[np.ndarray]] = {}
    for seed in seeds:
        dirs = member_dirs(seed)
        missing = [n for n, d in dirs.items() if not (d / "predictions.parquet").is_file()]
        if missing:
            print(f"seed {seed}: members {missing} not trained yet; ensemble skipped", flush=True)
            continue
        print(f"seed {seed}: members {list(dirs)}", flush=True)
        members = {n: read_member_run(d) for n, d in dirs.items()}
        ref = members["lgbm"]
        per_seed = {}
        for name, preds in members.items():
            on = Predictions(
                ref.dates,
                ref.instruments,
                preds.on_grid(ref.dates, ref.instruments).astype(np.float32),
                ref.label,
                ref.mask,
            )
            per_seed[name] = score(on)
            rows.setdefault(f"member {name}", []).append(per_seed[name])
        for method in METHODS:
            t0 = time.perf_counter()
            comb = combine(members, method, reach=2, label_from=ref)
            m = score(comb.predictions)
            m["seconds"] = time.perf_counter() - t0
            rows.setdefault(f"{method}", []).append(m)
            key = (method, tuple(comb.members))
            weights.setdefault(key, []).append(comb.weights.mean(axis=0))
            per_seed[method] = m
        best = max(per_seed[n]["ICIR"] for n in members)
        beats.append((seed, best, per_seed["rolling_ic"]["ICIR"], per_seed["lasso"]["ICIR"]))
        print(f"seed {seed} done", flush=True)
    head = "| row | n | " + " | ".join(c for c, _ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for name, vals in rows.items():
        cells = []
        for key, f in COLUMNS:
            v = np.array([r[key] for r in vals], dtype=float)
            sd = f.format(v.std(ddof=1)) if len(v) > 1 else "-"
            cells.append(f"{f.format(v.mean())} +- {sd}")
        lines.append(f"| {name} | {len(vals)} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| seed | best member ICIR | rolling_ic ICIR | lasso ICIR |")
    lines.append("|---|---|---|---|")
    for seed, best, ric, las in beats:
        lines.append(f"| {seed} | {best:.3f} | {ric:.3f} | {las:.3f} |")
    lines.append("")
    lines.append("mean weight over the test days (mean over the seeds with those members):")
    for (method, names), ws in weights.items():
        mean = np.mean(ws, axis=0)
        pairs = zip(names, mean, strict=True)
        lines.append(f"  {method}: " + ", ".join(f"{n} {w:.2f}" for n, w in pairs))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--train-only", action="store_true")
    ap.add_argument("--no-train", action="store_true", help="only the members already run")
    args = ap.parse_args(argv)
    if not args.no_train:
        train_members(args.seeds)
    if args.train_only:
        return 0
    print(evaluate(args.seeds))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
