"""Qlib's own LightGBM on Alpha158 (DEV split) and Qlib's own top-k dropout backtest.

Runs inside the pyqlib venv (`bash benchmarks/qlib_venv.sh` prints its python), never inside
seqalpha's. Writes under benchmarks/out/qlib_lgbm/:
  predictions.parquet  (datetime, instrument, score)  test-period scores
  report.parquet       Qlib's daily report (return, bench, cost, turnover, account, ...)
  positions.parquet    (datetime, instrument, amount, price, weight) Qlib's holdings
  metrics.json         risk analysis (with/without cost) and wall times of each stage

Usage: benchmarks/.qlib-venv/bin/python benchmarks/qlib_lgbm_predictions.py [--data DIR]
       ... --predictions benchmarks/out/predictions_detied.parquet
           --out benchmarks/out/qlib_lgbm_detied
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # Qlib's recorder uses a file store

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "cn_csi300"

# DEV split of /work/shared/BENCHMARKS.md
TRAIN = ("2010-01-01", "2018-12-31")
VALID = ("2019-01-01", "2020-12-31")
TEST = ("2021-01-01", "2022-12-30")
# Qlib's executor needs the trading day after each step: it cannot trade the calendar's last day
BACKTEST_END = "2022-12-29"

# Qlib's examples/benchmarks/LightGBM/workflow_config_lightgbm_Alpha158.yaml, threads = 2
LGB_KWARGS = {
    "loss": "mse",
    "colsample_bytree": 0.8879,
    "learning_rate": 0.2,
    "subsample": 0.8789,
    "lambda_l1": 205.6999,
    "lambda_l2": 580.9768,
    "max_depth": 8,
    "num_leaves": 210,
    "num_threads": 2,
}

# BENCHMARKS.md: limit threshold 9.5 because `$change` is in percent on this data
EXCHANGE_KWARGS = {
    "limit_threshold": 9.5,
    "deal_price": "close",
    "open_cost": 0.0005,
    "close_cost": 0.0015,
    "min_cost": 5,
}
ACCOUNT = 100_000_000
BENCH = "SH000300"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(os.environ.get("SEQALPHA_CSI300", DEFAULT_DATA)))
    ap.add_argument("--out", default=str(HERE / "out" / "qlib_lgbm"))
    ap.add_argument(
        "--backtest-only",
        action="store_true",
        help="reuse predictions.parquet and only rerun Qlib's backtest",
    )
    ap.add_argument(
        "--predictions",
        default=None,
        help="backtest these predictions (datetime, instrument, score) only, e.g. the "
        "de-tied file written by bench_backtest.py",
    )
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import qlib
    from qlib.constant import REG_CN

    exp_manager = {
        "class": "MLflowExpManager",
        "module_path": "qlib.workflow.expm",
        "kwargs": {"uri": "file:" + str(out / "mlruns"), "default_exp_name": "bench"},
    }
    qlib.init(provider_uri=args.data, region=REG_CN, kernels=2, exp_manager=exp_manager)
    times: dict[str, float] = {}
    pred_path = out / "predictions.parquet"
    if args.predictions:
        pred_path, args.backtest_only = Path(args.predictions), True

    if args.backtest_only and pred_path.exists():
        pdf = pd.read_parquet(pred_path)
        pdf["datetime"] = pd.to_datetime(pdf["datetime"])
        pred = pdf.set_index(["datetime", "instrument"])["score"]
        prev = (
            json.loads((out / "metrics.json").read_text())
            if (out / "metrics.json").exists()
            else {}
        )
        times.update({k: v for k, v in prev.get("times", {}).items() if k != "backtest"})
    else:
        from qlib.contrib.data.handler import Alpha158
        from qlib.contrib.model.gbdt import LGBModel
        from qlib.data.dataset import DatasetH

        t0 = time.perf_counter()
        handler = Alpha158(
            instruments="csi300",
            start_time=TRAIN[0],
            end_time=TEST[1],
            fit_start_time=TRAIN[0],
            fit_end_time=TRAIN[1],
        )
        dataset = DatasetH(handler, segments={"train": TRAIN, "valid": VALID, "test": TEST})
        times["handler"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        model = LGBModel(**LGB_KWARGS)
        model.fit(dataset)
        times["fit"] = time.perf_counter() - t0

        pred = model.predict(dataset, segment="test")
        pdf = pred.rename("score").reset_index()
        pdf["instrument"] = pdf["instrument"].astype(str)
        pdf.to_parquet(pred_path, index=False)

        # signal metrics as Qlib's SigAnaRecord computes them (label = LABEL0, raw)
        label = dataset.prepare("test", col_set="label", data_key="raw")
        lab = label.iloc[:, 0].reindex(pred.index)
        df = pd.DataFrame({"pred": pred, "label": lab}).dropna()
        ic = df.groupby(level="datetime").apply(lambda g: g["pred"].corr(g["label"]))
        ric = df.groupby(level="datetime").apply(
            lambda g: g["pred"].corr(g["label"], method="spearman")
        )
        times["signal"] = {
            "IC": float(ic.mean()),
            "ICIR": float(ic.mean() / ic.std()),
            "RankIC": float(ric.mean()),
            "RankICIR": float(ric.mean() / ric.std()),
            "days": int(ic.notna().sum()),
        }

        (out / "metrics.json").write_text(json.dumps({"times": times}, indent=2))

    from qlib.backtest import backtest as qlib_backtest
    from qlib.backtest import executor as qexec
    from qlib.contrib.evaluate import risk_analysis
    from qlib.contrib.strategy import TopkDropoutStrategy

    t0 = time.perf_counter()
    strategy = TopkDropoutStrategy(signal=pred, topk=50, n_drop=5)
    executor = qexec.SimulatorExecutor(time_per_step="day", generate_portfolio_metrics=True)
    portfolio, _ = qlib_backtest(
        start_time=TEST[0],
        end_time=BACKTEST_END,
        strategy=strategy,
        executor=executor,
        benchmark=BENCH,
        account=ACCOUNT,
        exchange_kwargs=EXCHANGE_KWARGS,
    )
    report, positions = portfolio["1day"]
    excess_nc = risk_analysis(report["return"] - report["bench"], freq="day")["risk"]
    excess = risk_analysis(report["return"] - report["bench"] - report["cost"], freq="day")["risk"]
    times["backtest"] = time.perf_counter() - t0

    report.reset_index().rename(columns={"index": "datetime"}).to_parquet(
        out / "report.parquet", index=False
    )
    rows = []
    for day, pos in positions.items():
        for code, info in pos.position.items():
            if isinstance(info, dict):
                rows.append(
                    (
                        pd.Timestamp(day),
                        str(code),
                        float(info.get("amount", np.nan)),
                        float(info.get("price", np.nan)),
                        float(info.get("weight", np.nan)),
                    )
                )
    pd.DataFrame(rows, columns=["datetime", "instrument", "amount", "price", "weight"]).to_parquet(
        out / "positions.parquet", index=False
    )

    metrics = {
        "excess_with_cost": {k: float(v) for k, v in excess.items()},
        "excess_without_cost": {k: float(v) for k, v in excess_nc.items()},
        "mean_turnover": float(report["turnover"].mean()),
        "days": len(report),
        "times": times,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
