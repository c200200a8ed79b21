"""Quality bar of training-sample selection on a synthetic market with hidden flipping regimes.

The synthetic market plants a momentum signal whose sign flips with a hidden regime
(`SynthConfig` strength `regime`, mean duration `regime_duration` days) and a reversal signal
that does not flip; in regime +1 idiosyncratic returns are `regime_dispersion` times wider, the
only footprint of the regime in market state. The same ridge model is walked forward on the
same test days with:

- rolling: the last `train_days` days (the baseline: plain rolling retraining);
- expanding: every day since the start;
- similar: the `k` periods of `period` days (k x period = train_days) most like the period
  before the test block, chosen from the expanding range (`selection.method: similar`);
- ddgda: learned per-period weights over the expanding range (`selection.method: ddgda`);
- second_order: not the same model (for information): ridge per 20-day span over the
  expanding range + the LSTM/attention meta-model of their parameters (`second_order`).

For each market seed it prints the mean daily IC of each variant and, against rolling, the
paired daily IC difference with its standard error (std / sqrt(days)) and t = mean / se;
then the same pooled over seeds. Markets and each seed's daily ICs are kept under
benchmarks/out/selection/ (a seed already measured is read back unless --fresh), so seeds
can run one per process (each under 3 CPU-minutes) and the table be printed over all:

    for s in 0 1 2; do .venv/bin/python benchmarks/quality_selection.py --seeds $s; done
    .venv/bin/python benchmarks/quality_selection.py --seeds 0 1 2

The real-data check (`--real`, about 4.5 CPU minutes and 1.4 GB) belongs under the heavy lock:

    flock /tmp/seqalpha-heavy.lock .venv/bin/python benchmarks/quality_selection.py --real
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "selection"

FEATURES = {
    "MOM15": "Ref($close,5)/Ref($close,20)-1",  # the regime signal's window (t-19 .. t-5)
    "MOM20": "$close/Ref($close,20)-1",
    "REV5": "$close/Ref($close,5)-1",
    "REV1": "$close/Ref($close,1)-1",
    "VOL20": "Std($close/Ref($close,1)-1,20)",
}
RIDGE = {"name": "linear", "params": {"alpha": 0.01}}
# name -> (schedule, selection section, model section)
VARIANTS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "rolling": ("rolling", {}, RIDGE),
    "expanding": ("expanding", {}, RIDGE),
    "similar": ("expanding", {"method": "similar", "k": 6, "period": 20}, RIDGE),
    "ddgda": (
        "expanding",
        {"method": "ddgda", "period": 20, "ddgda": {"steps": 100, "tasks": 12}},
        RIDGE,
    ),
    "second_order": (
        "expanding",
        {},
        {"name": "second_order", "params": {"span": 20, "history": 6, "alpha": 0.01}},
    ),
}

# DDG-DA settings compared on validation markets (seeds not used in the table) only
SWEEP = {
    f"ddgda_{k}": ("expanding", {"method": "ddgda", "period": 20, "ddgda": d}, RIDGE)
    for k, d in {
        "alpha0.1": {"steps": 100, "tasks": 12, "alpha": 0.1},
        "alpha10": {"steps": 100, "tasks": 12, "alpha": 10.0},
        "tasks30": {"steps": 100, "tasks": 30},
        "steps300": {"steps": 300, "tasks": 12},
    }.items()
}
ALL = {**VARIANTS, **SWEEP}


def market(seed: int, args) -> Path:
    """The synthetic market of `seed` (generated once; daily bars only)."""
    from seqalpha.data.synthetic import SynthConfig, generate_market

    path = OUT / f"market_{seed}_{args.n_days}x{args.n_stocks}_d{args.dispersion}"
    if not (path / "meta.json").exists():
        cfg = SynthConfig(
            n_stocks=args.n_stocks,
            n_days=args.n_days,
            seed=seed,
            bar_minutes=120,
            minute_days=0,
            strengths={"regime": args.strength, "reversal": 0.03},
            regime_duration=args.duration,
            regime_dispersion=args.dispersion,
        )
        generate_market(path, cfg)
    return path


def config(path: Path, variant: str, args) -> dict[str, Any]:
    """The PipelineConfig (plain data) of one variant on one market; test_start set later."""
    schedule, sel, model = ALL[variant]
    wf: dict[str, Any] = {
        "schedule": schedule,
        "train_days": args.train_days,
        "valid_days": 0,
        "step": args.step,
        "test_start": None,
    }
    raw = {
        "data": {"dir": str(path), "universe": "market", "benchmark": "SYN_INDEX"},
        "features": {"library": "none", "extra": FEATURES},
        "labels": {"horizons": [1], "offset": 1, "kind": "raw"},
        "processors": {
            "features": [{"name": "cs_zscore"}, {"name": "fillna"}],
            "labels": [{"name": "drop_missing_label"}, {"name": "cs_zscore"}],
        },
        "model": model,
        "walkforward": wf,
        "selection": sel,
        "seeds": [0],
        "tracking": {"enabled": False},
    }
    return raw


def run_market(seed: int, args, variants=tuple(VARIANTS)) -> dict[str, np.ndarray]:
    """Daily test IC [D] of each variant on the market of `seed` (same test days)."""
    from seqalpha.config import config_from_dict
    from seqalpha.evaluate import daily_ic
    from seqalpha.train.executors import LocalExecutor
    from seqalpha.train.inputs import build_inputs
    from seqalpha.train.splits import make_windows
    from seqalpha.train.walkforward import train_spec, walk_forward

    path = market(seed, args)
    inputs = None
    out: dict[str, np.ndarray] = {}
    for variant in variants:
        raw = config(path, variant, args)
        if inputs is None:
            probe = config_from_dict({**raw, "walkforward": {"schedule": "rolling"}})
            inputs = build_inputs(probe.data, probe.features, probe.labels)
        raw["walkforward"]["test_start"] = str(inputs.dates[args.test_start])
        cfg = config_from_dict(raw, source=f"{variant} seed {seed}")
        spec = train_spec(cfg)
        windows = make_windows(inputs.dates, cfg.walkforward, cfg.labels.reach, spec.lookback)
        t0 = time.perf_counter()
        preds = walk_forward(inputs, windows, spec, LocalExecutor(), cfg.seeds)
        ic = daily_ic(preds.score, preds.label, preds.mask & np.isfinite(preds.label))
        out[variant] = ic
        print(
            f"  seed {seed} {variant:<10} {len(windows)} windows  mean IC {np.nanmean(ic):+.4f}"
            f"  ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    return out


# A compact daily factor set for the real-data check (ridge on Alpha158 would need the heavy lock).
REAL_FEATURES = {
    "REV1": "$close/Ref($close,1)-1",
    "REV5": "$close/Ref($close,5)-1",
    "MOM20": "Ref($close,5)/Ref($close,20)-1",
    "MOM60": "Ref($close,20)/Ref($close,60)-1",
    "VOL20": "Std($close/Ref($close,1)-1,20)",
    "VMA5": "Mean($volume,5)/(Mean($volume,60)+1e-12)",
    "HL20": "Mean(($high-$low)/$close,20)",
    "MA20": "Mean($close,20)/$close",
    "RSV20": "($close-Min($low,20))/(Max($high,20)-Min($low,20)+1e-12)",
    "CORRV20": "Corr($close/Ref($close,1),Log($volume+1),20)",
}


def run_real(args) -> None:
    """Rolling vs selection of the same ridge on ../shared/data/cn_csi300 (CSI300, 2019-2022
    tested walk-forward; compact daily factors + beta_quantile): period similarity, DDG-DA-like
    weights, and a size trait (rolling, trained on the larger half by cap); daily Rank IC by
    year range, paired against rolling."""
    from seqalpha.config import config_from_dict
    from seqalpha.evaluate import daily_ic
    from seqalpha.paths import shared_data_dir
    from seqalpha.train.executors import LocalExecutor
    from seqalpha.train.inputs import build_inputs
    from seqalpha.train.splits import make_windows
    from seqalpha.train.walkforward import train_spec, walk_forward

    data = {"dir": str(shared_data_dir() / "cn_csi300"), "universe": "csi300"}
    inputs = None
    res: dict[str, np.ndarray] = {}
    dates = None
    real_variants = ("rolling", "similar", "ddgda", "large_caps")
    for variant in real_variants:
        _, sel, model = VARIANTS.get(variant, VARIANTS["rolling"])
        sel = {**sel, "k": 12} if variant == "similar" else sel  # 12 x 20 = the 240 rolling days
        if variant == "large_caps":  # rolling, trained on the larger half by market cap only
            sel = {"traits": [{"feature": "LOG_MKTCAP", "low": 0.5, "high": 1.0}]}
        raw = {
            "data": {**data, "start": "2010-01-04", "end": "2022-12-30"},
            "features": {
                "library": "none",
                "extra": REAL_FEATURES,
                "extra_libraries": ["beta_quantile"],
            },
            "labels": {"horizons": [1], "offset": 1, "kind": "raw"},
            "processors": {
                "features": [{"name": "cs_zscore"}, {"name": "fillna"}],
                "labels": [{"name": "drop_missing_label"}, {"name": "cs_zscore"}],
            },
            "model": model,
            "walkforward": {
                "schedule": "rolling" if variant in ("rolling", "large_caps") else "expanding",
                "train_days": 240,
                "valid_days": 0,
                "step": 20,
                "train_start": "2010-04-01",
                "test_start": "2019-01-02",
                "test_end": "2022-12-30",
            },
            "selection": sel,
            "tracking": {"enabled": False},
        }
        cfg = config_from_dict(raw, source=f"real {variant}")
        if inputs is None:
            inputs = build_inputs(cfg.data, cfg.features, cfg.labels)
        spec = train_spec(cfg)
        windows = make_windows(inputs.dates, cfg.walkforward, cfg.labels.reach, spec.lookback)
        t0 = time.perf_counter()
        preds = walk_forward(inputs, windows, spec, LocalExecutor(), cfg.seeds)
        ok = preds.mask & np.isfinite(preds.label)
        res[variant] = daily_ic(preds.score, preds.label, ok, method="spearman")
        dates = preds.dates
        print(
            f"  real {variant:<10} {len(windows)} windows  mean Rank IC "
            f"{np.nanmean(res[variant]):+.4f}  ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    if dates is None:
        return
    years = dates.astype("datetime64[Y]").astype(int) + 1970
    head = (
        f"{'years':<10} {'variant':<10} {'RankIC':>8} {'rolling':>8} {'diff':>8} {'t':>6} "
        f"{'t_block':>7}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for name, sel_years in (("2019-2020", (2019, 2020)), ("2021-2022", (2021, 2022))):
        keep = (years >= sel_years[0]) & (years <= sel_years[1])
        for v in real_variants[1:]:
            a, b = res[v][keep], res["rolling"][keep]
            m, _, t, tb, _ = paired([(a, b)], 20)
            print(
                f"{name:<10} {v:<10} {np.nanmean(a):>8.4f} {np.nanmean(b):>8.4f} {m:>+8.4f} "
                f"{t:>6.2f} {tb:>7.2f}"
            )


def result_path(seed: int, args) -> Path:
    """Where the daily ICs of one seed under these settings are kept (JSON)."""
    key = (
        f"{args.n_days}x{args.n_stocks}_s{args.strength}_d{args.duration}_x{args.dispersion}"
        f"_tr{args.train_days}_st{args.step}_ts{args.test_start}"
    )
    return OUT / f"ic_{key}_seed{seed}.json"


def seed_results(seed: int, args) -> dict[str, np.ndarray]:
    """Daily ICs of a seed: read back when saved (unless --fresh), else run and saved."""
    path = result_path(seed, args)
    if path.exists() and not args.fresh:
        raw = json.loads(path.read_text())
        return {k: np.array(v, dtype=np.float64) for k, v in raw.items()}
    res = run_market(seed, args, args.variants)
    path.write_text(json.dumps({k: [float(x) for x in v] for k, v in res.items()}))
    return res


def paired(pairs: list[tuple[np.ndarray, np.ndarray]], block: int):
    """Over (a, b) daily IC pairs (one per seed): mean of the paired daily difference a - b
    (days where both exist), its standard error (std / sqrt(days)) and t, and the t of the
    means of `block`-day blocks (one retraining step, within a seed: errors shared by a
    window's days do not shrink the error)."""
    diffs, blocks = [], []
    for a, b in pairs:
        ok = np.isfinite(a) & np.isfinite(b)
        d = a[ok] - b[ok]
        nb = len(d) // block
        diffs.append(d)
        blocks.append(d[: nb * block].reshape(nb, block).mean(axis=1))
    d, bm = np.concatenate(diffs), np.concatenate(blocks)
    se = d.std(ddof=1) / math.sqrt(len(d))
    t_block = bm.mean() / (bm.std(ddof=1) / math.sqrt(len(bm)))
    return float(d.mean()), float(se), float(d.mean() / se), float(t_block), len(d)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n-stocks", type=int, default=300)
    p.add_argument("--n-days", type=int, default=1000)
    p.add_argument("--strength", type=float, default=0.08, help="regime signal strength")
    p.add_argument("--duration", type=float, default=80.0, help="mean regime length (days)")
    p.add_argument("--dispersion", type=float, default=1.5, help="regime_dispersion")
    p.add_argument("--train-days", type=int, default=120)
    p.add_argument("--step", type=int, default=20)
    p.add_argument("--test-start", type=int, default=400, help="first test day (position)")
    p.add_argument("--fresh", action="store_true", help="re-run seeds whose ICs are saved")
    p.add_argument("--real", action="store_true", help="the CSI300 check instead (see run_real)")
    p.add_argument(
        "--variants", nargs="+", default=list(VARIANTS), choices=list(ALL), help="what to run"
    )
    args = p.parse_args(argv)
    if "rolling" not in args.variants:
        args.variants = ["rolling", *args.variants]
    if args.real:
        run_real(args)
        return
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    OUT.mkdir(parents=True, exist_ok=True)
    print(
        f"synthetic: {args.n_stocks} stocks x {args.n_days} days, regime strength "
        f"{args.strength}, duration {args.duration}, dispersion x{args.dispersion}; ridge "
        f"(alpha 0.01), train {args.train_days} days, step {args.step}, test from day "
        f"{args.test_start}",
        flush=True,
    )
    results = {s: seed_results(s, args) for s in args.seeds}
    missing = [(s, v) for s in results for v in args.variants if v not in results[s]]
    for s, v in missing:  # a variant added after the seed was saved
        results[s].update(run_market(s, args, [v]))
    for s in {s for s, _ in missing}:
        result_path(s, args).write_text(
            json.dumps({k: [float(x) for x in v] for k, v in results[s].items()})
        )
    names = [v for v in args.variants if v != "rolling"]
    head = (
        f"{'seed':>6} {'variant':<13} {'IC':>8} {'rolling':>8} {'diff':>8} {'se':>7} "
        f"{'t':>6} {'t_block':>7} {'days':>5}"
    )
    print("\n" + head)
    print("-" * len(head))

    def row(seed: str, v: str, seeds: list[int]) -> None:
        pairs = [(results[s][v], results[s]["rolling"]) for s in seeds]
        m, se, t, tb, n = paired(pairs, args.step)
        a = np.nanmean(np.concatenate([p[0] for p in pairs]))
        b = np.nanmean(np.concatenate([p[1] for p in pairs]))
        print(
            f"{seed:>6} {v:<13} {a:>8.4f} {b:>8.4f} "
            f"{m:>+8.4f} {se:>7.4f} {t:>6.2f} {tb:>7.2f} {n:>5}"
        )

    for s in results:
        for v in names:
            row(str(s), v, [s])
    for v in names:
        row("pooled", v, list(results))


if __name__ == "__main__":
    main()
