"""Execution strategies on intraday bars: price advantage (bps) over TWAP and over the arrival
price, fill rate and gain-loss ratio of TWAP, VWAP, POV, the oracle teacher and the distilled
student, on test orders.

1. The synthetic market with 1-minute bars (known price path, U-shaped volume profile): orders on
   train / valid / test days; the student (DAgger behaviour cloning of the teacher, then PPO with
   distillation) is trained per seed on train orders; the variant (BC only or BC + PPO) is chosen
   on valid orders; test numbers are mean and spread over seeds, t over test orders.
2. The real 15-minute bars (../shared/data/cn_intraday_15min): train Jan-Jun 2025, valid Jul,
   test Aug-Sep; orders sampled from every stock with past volume.

    flock /tmp/seqalpha-heavy.lock .venv/bin/python benchmarks/bench_execution.py --seeds 0 1 2

Measured 2026-12-03 (`--seeds 0 1 2`; BC is chosen on valid orders: with `--ppo-steps 8192`
(2048 critic-only, then 6144 PPO steps with distillation) the synthetic valid advantage falls
from 25.70/26.41/25.99 (BC) to 23.22/22.10/22.51 bps (BC + PPO) for seeds 0/1/2). Test orders,
price advantage over TWAP's fill in bps (t over orders; * reads the future):

    synthetic 1-minute bars (80 stocks, volume share per 30-minute block
    0.224 0.124 0.076 0.052 0.059 0.076 0.151 0.238), 1945 test orders:
      vwap 1.13 (t 2.2), pov 5% -6.45 (t -3.0), teacher_oracle* 72.82 (t 55.5),
      oracle_exact* 101.75, student 26.25 +/- 0.28 over 3 seeds (t 23.1, 24.2, 24.0)
    real 15-minute bars, test Aug-Sep 2025, 2990 test orders:
      vwap 0.47 (t 1.0), pov 5% -6.88 (t -4.0), teacher_volume* 2.40, teacher_oracle* 50.17,
      oracle_exact* 71.70, student -0.26 +/- 0.05 over 3 seeds (t -0.6, -0.7, -0.4)
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from seqalpha.data.minute import MinuteBars, load_minute
from seqalpha.data.synthetic import SynthConfig, generate_market
from seqalpha.execution import (
    POV,
    TWAP,
    VWAP,
    LearnedPolicy,
    OrderBars,
    Orders,
    Session,
    SimParams,
    load_bars_parquet,
    simulate,
    summarize,
)
from seqalpha.execution.oracle import Oracle, run_teacher
from seqalpha.execution.simulator import run_session

SHARED = Path(os.environ.get("SEQALPHA_SHARED", Path(__file__).resolve().parents[1] / "../shared"))
OUT = Path(__file__).resolve().parent / "out" / "execution"


def sample_orders(
    bars: MinuteBars, days: np.ndarray, n: int, seed: int, lookback: int = 20
) -> tuple[Orders, OrderBars]:
    """`n` whole-session orders on random (day, stock) of `days`: side +/-1, size 0.5-3% of the
    stock's mean daily volume over the previous `lookback` days (stocks without it dropped)."""
    rng = np.random.default_rng(seed)
    stocks = np.flatnonzero(~np.char.startswith(bars.instruments.astype(str), "SYN_INDEX"))
    day = rng.choice(days, n)
    inst = rng.choice(stocks, n)
    ob = OrderBars.gather(bars, day, inst, lookback)
    keep = np.isfinite(ob.adv) & (ob.adv > 0) & (ob.volume.sum(axis=1) > 0)
    ob = ob.take(keep)
    m = int(keep.sum())
    B = ob.shape[1]
    side = rng.choice([-1.0, 1.0], m)
    qty = ob.adv * rng.uniform(0.005, 0.03, m)
    return Orders.make(side, qty, 0, B, B), ob


def baselines(orders: Orders, ob: OrderBars, params: SimParams, step_bars: int) -> dict:
    """Fills of the fixed strategies (and the two teachers, which read the future)."""
    sess = Session(orders, ob, params)
    return {
        "twap": simulate(orders, ob, TWAP(), params),
        "vwap": simulate(orders, ob, VWAP(), params),
        "pov_5pct": simulate(orders, ob, POV(rate=0.05), params),
        "teacher_volume*": run_teacher(orders, ob, params, step_bars, see_prices=False),
        "teacher_oracle*": run_teacher(orders, ob, params, step_bars, see_prices=True),
        "oracle_exact*": run_session(sess, Oracle(sess)),
    }


def train_students(train, params, step_bars, seed, teacher, ppo_steps):
    """(BC-only student, the same student after PPO fine-tuning) act functions for one seed."""
    import torch

    from seqalpha.execution.rl import DistillConfig, distill, finetune, policy_act, snapshot

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    cfg = DistillConfig(
        teacher=teacher, step_bars=step_bars, dagger_rounds=3, bc_epochs=5, ppo_steps=0, seed=seed
    )
    model, _ = distill(*train, params, cfg)
    out = {"bc": policy_act(snapshot(model.policy))}
    if ppo_steps:
        cfg.ppo_steps = ppo_steps
        out["bc+ppo"] = policy_act(finetune(model, cfg).policy)
    return out


def fmt_row(cells: list, widths: list[int]) -> str:
    return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    head = ["strategy", "orders", "PA vs TWAP", "se", "t", "PA vs arrival", "fill rate", "GLR"]
    widths = [24, 7, 11, 6, 7, 13, 9, 6]
    print(fmt_row(head, widths))
    for r in rows:
        print(
            fmt_row(
                [
                    r["strategy"],
                    r["orders"],
                    f"{r['pa_vs_twap_bps']:.2f}",
                    f"{r['se']:.2f}",
                    f"{r['t']:.1f}",
                    f"{r['pa_vs_arrival_bps']:.2f}",
                    f"{r['fill_rate']:.3f}",
                    f"{r['glr']:.2f}",
                ],
                widths,
            )
        )


def run_market(name, bars, splits, params, step_bars, seeds, n_orders, teachers, ppo_steps):
    """Train students per seed and teacher kind, pick BC vs BC+PPO on valid, report test."""
    train, valid, test = (
        sample_orders(bars, d, n, seed=k)
        for k, (d, n) in enumerate(zip(splits, n_orders, strict=True))
    )
    print(f"\n== {name}: orders train {len(train[0])}, valid {len(valid[0])}, test {len(test[0])}")
    fixed = baselines(*test, params, step_bars)
    twap_valid = simulate(*valid, TWAP(), params)
    rows = [summarize(k, f, fixed["twap"]) for k, f in fixed.items()]
    per_seed: dict[str, list[dict]] = {}
    for teacher in teachers:
        for seed in seeds:
            t0 = time.time()
            students = train_students(train, params, step_bars, seed, teacher, ppo_steps)
            scores = {}
            for variant, act in students.items():
                fills = simulate(*valid, LearnedPolicy(act, step_bars), params)
                scores[variant] = summarize(variant, fills, twap_valid)["pa_vs_twap_bps"]
            best = max(scores, key=lambda k: scores[k])
            fills = simulate(*test, LearnedPolicy(students[best], step_bars), params)
            row = summarize(f"student<-{teacher} s{seed}", fills, fixed["twap"])
            row["chosen"] = best
            per_seed.setdefault(teacher, []).append(row)
            valid_txt = ", ".join(f"{k} {v:.2f}" for k, v in scores.items())
            print(
                f"  {teacher} seed {seed}: valid PA vs TWAP {valid_txt} -> {best}; "
                f"test {row['pa_vs_twap_bps']:.2f} bps (t {row['t']:.1f}); "
                f"{time.time() - t0:.0f}s"
            )
    rows += [r for rs in per_seed.values() for r in rs]
    print_table(f"{name}: test orders (* reads the future; PA in bps, > 0 = better)", rows)
    for teacher, rs in per_seed.items():
        pa = np.array([r["pa_vs_twap_bps"] for r in rs])
        t = ", ".join(f"{r['t']:.1f}" for r in rs)
        sd = pa.std(ddof=1) if len(pa) > 1 else 0.0
        print(
            f"student<-{teacher}: PA vs TWAP {pa.mean():.2f} +/- {sd:.2f} bps (mean +/- sd over "
            f"{len(pa)} seeds; t over test orders per seed: {t})"
        )


def synthetic(args) -> None:
    out = OUT / "synth_market"
    cfg = SynthConfig(n_stocks=80, n_days=120, bar_minutes=1, seed=11)
    if not (out / "meta.json").exists():
        generate_market(out, cfg)
    bars = load_minute(out / "minute")
    vol = np.nan_to_num(bars["volume"][:, :, :-1].astype(np.float64))
    share = vol.sum(axis=(0, 2)) / vol.sum()
    blocks = share.reshape(8, -1).sum(axis=1)
    print("synthetic volume share per 30-minute block:", " ".join(f"{x:.3f}" for x in blocks))
    D = len(bars.dates)
    splits = (np.arange(20, 70), np.arange(70, 90), np.arange(90, D))
    run_market(
        "synthetic 1-minute bars",
        bars,
        splits,
        SimParams(participation=0.2, impact=0.01),
        step_bars=8,
        seeds=args.seeds,
        n_orders=(1500, 800, 2000),
        teachers=args.teachers,
        ppo_steps=args.ppo_steps,
    )


def real(args) -> None:
    path = SHARED / "data/cn_intraday_15min/bars_15min.parquet"
    if not path.exists():
        print(f"\n(real 15-minute bars absent at {path}: skipped)")
        return
    bars = load_bars_parquet(path)
    month = bars.dates.astype("datetime64[M]").astype(int) % 12 + 1
    days = np.arange(len(bars.dates))
    splits = (days[(month <= 6) & (days >= 20)], days[month == 7], days[month >= 8])
    print(
        f"\nreal bars: {bars.shape} (days x bars x stocks); test {bars.dates[splits[2][0]]}.."
        f"{bars.dates[splits[2][-1]]}"
    )
    run_market(
        "real 15-minute bars (Aug-Sep 2025 test)",
        bars,
        splits,
        SimParams(participation=0.2, impact=0.01),
        step_bars=1,
        seeds=args.seeds,
        n_orders=(3000, 1000, 3000),
        teachers=args.teachers,
        ppo_steps=args.ppo_steps,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--teachers", nargs="+", default=["oracle"])
    ap.add_argument("--ppo-steps", type=int, default=8192)
    ap.add_argument("--markets", nargs="+", default=["synthetic", "real"])
    args = ap.parse_args()
    t0 = time.time()
    if "synthetic" in args.markets:
        synthetic(args)
    if "real" in args.markets:
        real(args)
    print(f"\ntotal {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
