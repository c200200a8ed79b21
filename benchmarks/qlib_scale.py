"""pyqlib 0.9.7 on a full-market synthetic store (run by benchmarks/bench_scale.py `qlib` with the
pyqlib venv's python, under an address-space cap): the Alpha158 handler (its default processors)
over every stock of the market, then LGBModel with the parameters of
benchmarks/configs/scale_full_lgbm.yaml on ONE fixed split (the last year tested, the year before
it validated): a lower bound on the cost of the yearly walk-forward. Prints STAGE lines and a
final QLIB_RESULT json line (stage seconds), or dies where pyqlib fails.

  benchmarks/.qlib-venv/bin/python benchmarks/qlib_scale.py --market /tmp/scale/full
"""

import argparse
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
T0 = time.perf_counter()
MARKS: list[tuple[str, float]] = []


def stage(name: str) -> None:
    MARKS.append((name, time.perf_counter() - T0))
    print(f"STAGE {name} {MARKS[-1][1]:.1f}s", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--market", type=Path, required=True)
    a = p.parse_args()
    days = (a.market / "calendars" / "day.txt").read_text().split()
    T = len(days)
    train, valid, test = (
        (days[0], days[T - 501]),
        (days[T - 500], days[T - 251]),
        (days[T - 250], days[-1]),
    )
    stage("init")
    import qlib
    from qlib.constant import REG_CN
    from qlib.contrib.data.handler import Alpha158
    from qlib.contrib.model.gbdt import LGBModel
    from qlib.data.dataset import DatasetH

    work = tempfile.mkdtemp(prefix="qlib-scale-")  # Qlib's recorder writes an MLflow file store
    exp_manager = {
        "class": "MLflowExpManager",
        "module_path": "qlib.workflow.expm",
        "kwargs": {"uri": "file:" + os.path.join(work, "mlruns"), "default_exp_name": "scale"},
    }
    qlib.init(provider_uri=str(a.market), region=REG_CN, kernels=2, exp_manager=exp_manager)
    stage("handler")
    handler = Alpha158(
        instruments="market",
        start_time=days[0],
        end_time=days[-1],
        fit_start_time=train[0],
        fit_end_time=train[1],
    )
    dataset = DatasetH(handler, segments={"train": train, "valid": valid, "test": test})
    stage("fit")
    model = LGBModel(
        loss="mse",
        colsample_bytree=0.8879,
        learning_rate=0.2,
        subsample=0.8789,
        lambda_l1=205.6999,
        lambda_l2=580.9768,
        max_depth=8,
        num_leaves=210,
        num_threads=2,
        num_boost_round=50,
        early_stopping_rounds=10,
    )
    model.fit(dataset)
    stage("predict")
    pred = model.predict(dataset)
    stage("exit")
    seconds = {n: round(t1 - t, 1) for (n, t), (_, t1) in itertools.pairwise(MARKS)}
    print("QLIB_RESULT " + json.dumps({"seconds": seconds, "n_pred": len(pred)}), flush=True)


main()
