"""Cross-check and speed of seqalpha's top-k dropout backtest against Qlib's, same predictions.

Needs benchmarks/out/qlib_lgbm/ from `benchmarks/.qlib-venv/bin/python
benchmarks/qlib_lgbm_predictions.py` (Qlib's LightGBM/Alpha158 test predictions, its report and
its backtest wall time). Prints (a) annualized excess return with/without cost and IR, seqalpha
vs Qlib, and (b) the time from predictions to metrics, seqalpha (median of --runs) vs Qlib.

Usage: .venv/bin/python benchmarks/bench_backtest.py [--runs 7] [--data DIR] [--run-qlib]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import polars as pl

from seqalpha.backtest import (
    BacktestConfig,
    backtest_topk,
    load_market,
    performance_table,
    scores_to_grid,
)
from seqalpha.evaluate import forward_return, signal_metrics
from seqalpha.paths import shared_data_dir
from seqalpha.portfolio import TopkDropout

HERE = Path(__file__).resolve().parent
START, END = "2021-01-01", "2022-12-30"
STRATEGY = TopkDropout(topk=50, n_drop=5)
CONFIG = BacktestConfig(account=1e8, buy_cost=0.0005, sell_cost=0.0015, min_cost=5.0)


def run_seqalpha(data: Path, preds: pl.DataFrame, suspend_zero_volume: bool) -> tuple[dict, object]:
    """Predictions -> market -> backtest -> metrics (what is timed)."""
    market = load_market(
        data,
        START,
        END,
        benchmark="SH000300",
        deal_price="close",
        limit_threshold=0.095,
        change_unit="percent",
        suspend_zero_volume=suspend_zero_volume,
        instruments=preds["instrument"].unique().to_list(),
    )
    res = backtest_topk(preds, market, STRATEGY, CONFIG)
    return performance_table(res.returns), res


def qlib_metrics(report: pl.DataFrame) -> dict:
    ex_nc = report["return"] - report["bench"]
    df = pl.DataFrame(
        {
            "datetime": report["datetime"],
            "excess": ex_nc - report["cost"],
            "excess_nc": ex_nc,
            "turnover": report["turnover"],
        }
    )
    return performance_table(df)


def rel(a: float, b: float) -> str:
    return f"{(a - b) / abs(b) * 100:+.1f}%" if b else "n/a"


def detie(preds: pl.DataFrame) -> pl.DataFrame:
    """Scores + 1e-12 x (position of the instrument in the day's sorted list): distinct scores,
    same order wherever scores differ (LightGBM's distinct scores here differ by > 2e-9)."""
    return preds.sort("datetime", "instrument").with_columns(
        (pl.col("score") + 1e-12 * pl.int_range(pl.len()).over("datetime")).alias("score")
    )


def cross_check(title: str, data: Path, preds: pl.DataFrame, qdir: Path) -> dict:
    """Print seqalpha vs Qlib metrics, daily agreement and holdings agreement for one Qlib run."""
    report = pl.read_parquet(qdir / "report.parquet").with_columns(pl.col("datetime").cast(pl.Date))
    _, res = run_seqalpha(data, preds, True)
    _, res_q = run_seqalpha(data, preds, False)
    qdates = report["datetime"]
    ours = res.returns.filter(pl.col("datetime").is_in(qdates.implode()))
    ours_q = res_q.returns.filter(pl.col("datetime").is_in(qdates.implode()))
    qm = qlib_metrics(report)["overall"]
    sm = performance_table(ours)["overall"]
    sq = performance_table(ours_q)["overall"]
    print(f"\n{title}\nDEV test {qdates.min()}..{qdates.max()} ({len(qdates)} days), top-k 50/5")
    rows = [
        ("excess ann. return, with cost", "AlphaRtn"),
        ("excess ann. return, no cost", "AlphaRtnNC"),
        ("information ratio, with cost", "AlphaSharpe"),
        ("information ratio, no cost", "AlphaSharpeNC"),
        ("max drawdown, with cost", "max_drawdown"),
        ("mean daily turnover", "TOV"),
    ]
    print(
        f"{'metric':32s} {'Qlib 0.9.7':>11s} {'seqalpha':>10s} {'rel.diff':>9s} "
        f"{'seqalpha*':>10s} {'rel.diff':>9s}"
    )
    for name, key in rows:
        print(
            f"{name:32s} {qm[key]:11.4f} {sm[key]:10.4f} {rel(sm[key], qm[key]):>9s} "
            f"{sq[key]:10.4f} {rel(sq[key], qm[key]):>9s}"
        )
    print("seqalpha  = default rules (zero/NaN volume = suspended)")
    print("seqalpha* = Qlib's suspension rule (only a NaN close is suspended)")
    for label, r in (("seqalpha", ours), ("seqalpha*", ours_q)):
        j = r.join(
            report.select("datetime", "return", "bench", "cost", "turnover"),
            on="datetime",
            suffix="_q",
        )
        corr = np.corrcoef(j["return_nc"].to_numpy(), j["return_q"].to_numpy())[0, 1]
        mad = np.mean(np.abs(j["return_nc"].to_numpy() - j["return_q"].to_numpy()))
        same_day = int(np.sum(np.abs(j["return_nc"].to_numpy() - j["return_q"].to_numpy()) < 1e-9))
        print(
            f"  {label}: daily gross return corr {corr:.4f}, mean |diff| {mad * 1e4:.2f} bp, "
            f"days equal to 1e-9: {same_day}/{j.height}, benchmark max |diff| "
            f"{float((j['benchmark'] - j['bench']).abs().max()):.2e}"
        )
    qpos = qdir / "positions.parquet"
    if qpos.exists():
        qp = pl.read_parquet(qpos).with_columns(
            pl.col("datetime").cast(pl.Date), pl.col("instrument").str.to_uppercase()
        )
        for label, r in (("seqalpha", res), ("seqalpha*", res_q)):
            a = r.positions.select("datetime", "instrument").with_columns(pl.lit(1).alias("s"))
            b = qp.select("datetime", "instrument").with_columns(pl.lit(1).alias("q"))
            m = a.join(b, on=["datetime", "instrument"], how="full", coalesce=True)
            m = m.filter(pl.col("datetime").is_in(qdates.implode()))
            same = m.group_by("datetime").agg(
                (pl.col("s").is_null() | pl.col("q").is_null()).sum().alias("diff")
            )
            print(
                f"  {label}: days with identical holdings "
                f"{int((same['diff'] == 0).sum())}/{same.height}, "
                f"mean names held by only one side {same['diff'].mean():.2f}"
            )
    return {"qlib": qm, "seqalpha": sm, "seqalpha_qlib_suspension": sq}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--data", default=str(shared_data_dir("cn_csi300")))
    ap.add_argument("--qlib-out", default=str(HERE / "out" / "qlib_lgbm"))
    ap.add_argument(
        "--run-qlib",
        action="store_true",
        help="rerun Qlib's backtest (raw and de-tied predictions) in the Qlib venv "
        "first, so that both sides are timed in this run",
    )
    args = ap.parse_args()
    qdir = Path(args.qlib_out)
    if not (qdir / "predictions.parquet").exists():
        raise SystemExit(
            f"{qdir}/predictions.parquet missing: run benchmarks/qlib_lgbm_predictions.py "
            "in the Qlib venv first"
        )
    preds = pl.read_parquet(qdir / "predictions.parquet").with_columns(
        pl.col("datetime").cast(pl.Date)
    )
    detied_path = HERE / "out" / "predictions_detied.parquet"
    ddir = HERE / "out" / "qlib_lgbm_detied"
    if args.run_qlib:
        detie(preds).write_parquet(detied_path)
        qpy, script = (
            str(HERE / ".qlib-venv" / "bin" / "python"),
            str(HERE / "qlib_lgbm_predictions.py"),
        )
        for extra in (
            ["--backtest-only", "--out", str(qdir)],
            ["--predictions", str(detied_path), "--out", str(ddir)],
        ):
            subprocess.run(
                [qpy, script, "--data", args.data, *extra],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
    qinfo = json.loads((qdir / "metrics.json").read_text())
    data = Path(args.data)

    t0 = time.perf_counter()
    run_seqalpha(data, preds, True)  # first call: numba compile (or cache load)
    first = time.perf_counter() - t0
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        run_seqalpha(data, preds, True)
        times.append(time.perf_counter() - t0)

    ties = preds.group_by("datetime").agg(pl.col("score").is_duplicated().mean().alias("share"))
    print(
        f"\nLightGBM scores: {ties['share'].mean() * 100:.1f}% of names share their score with "
        "another name on the same day (ties)"
    )
    result = {
        "raw": cross_check(
            "(a) cross-check, Qlib's LightGBM/Alpha158 predictions", data, preds, qdir
        )
    }
    detied = detie(preds)
    detied.write_parquet(detied_path)
    if (ddir / "report.parquet").exists():
        result["detied"] = cross_check(
            "(a') cross-check, the same predictions with ties broken "
            "(+1e-12 x instrument position)",
            data,
            detied,
            ddir,
        )
    else:
        print(f"\n(a') skipped: run the Qlib script with --predictions {detied_path} --out {ddir}")

    # signal metrics of the same predictions with seqalpha.evaluate
    # (label: Ref($close,-2)/Ref($close,-1)-1)
    mk = load_market(data, START, END, change_unit="percent")
    score = scores_to_grid(preds, mk)
    label = forward_return(mk.close, 1, lag=1)
    sig = signal_metrics(score, label, np.isfinite(score), mk.dates)
    print(
        f"\n(c) signal metrics of these predictions (seqalpha.evaluate): IC {sig['ic']:.4f} "
        f"(SE {sig['ic_se']:.4f}), ICIR {sig['icir']:.3f}, Rank IC {sig['rank_ic']:.4f}, "
        f"Rank ICIR {sig['rank_icir']:.3f}, {sig['n_days']} days"
    )
    if "signal" in qinfo["times"]:
        q = qinfo["times"]["signal"]
        print(
            f"    Qlib (pandas groupby on its LABEL0): IC {q['IC']:.4f}, ICIR {q['ICIR']:.3f}, "
            f"Rank IC {q['RankIC']:.4f}, Rank ICIR {q['RankICIR']:.3f}, {q['days']} days"
        )

    qt = qinfo["times"].get("backtest", float("nan"))
    med = statistics.median(times)
    print("\n(b) speed, predictions -> metrics, 2-year test period (seconds)")
    print(f"{'':32s} {'seconds':>9s}")
    print(f"{'Qlib backtest + risk analysis':32s} {qt:9.3f}")
    if (ddir / "metrics.json").exists():
        qt2 = json.loads((ddir / "metrics.json").read_text())["times"].get("backtest", float("nan"))
        print(f"{'Qlib, de-tied predictions':32s} {qt2:9.3f}")
    print(
        f"{'seqalpha, median of ' + str(args.runs):32s} {med:9.3f}   (runs: "
        + ", ".join(f"{t:.3f}" for t in times)
        + ")"
    )
    print(f"{'seqalpha, first call (JIT/cache)':32s} {first:9.3f}")
    print(f"speed-up (Qlib / seqalpha median): {qt / med:.0f}x")
    out = {**result, "qlib_seconds": qt, "seqalpha_seconds": times, "seqalpha_first_call": first}
    (HERE / "out" / "bench_backtest.json").write_text(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
