"""DoubleEnsemble on Alpha158, CSI300 DEV split: seqalpha's `double_ensemble` vs pyqlib 0.9.7's
`DEnsembleModel`, same data, same split, same benchmark run. Prints test IC / Rank IC (with
standard errors and the paired daily IC difference) and training time.

Sides (each cell is a fresh process; heavy: run the script under `flock /tmp/seqalpha-heavy.lock`):
- `qlib`: a driver (DRIVER below, run by the pyqlib venv's python) with Qlib's published
  DoubleEnsemble/Alpha158 benchmark yaml (Alpha158's default processors: none on features,
  DropnaLabel + CSZScoreNorm on the label; num_models 6, epochs 28, decay 0.5, sub_weights
  [1, 0.2 x 5], the tuned LightGBM params) with num_threads 2 and np.random seeded (pyqlib's
  feature selection draws from the global numpy generator). It saves test scores and the raw
  label (LABEL0) and times `model.fit` and each of its steps.
- `seqalpha`: `seqalpha train examples/csi300_double_ensemble_alpha158.yaml` (the same
  settings) with `seeds: [s]`; the fit time is the walk-forward stage (one window: label
  processors, fit, test predictions), read from metrics.json.

Both sides' IC families are computed here by one function from the saved (datetime, instrument,
score, label) rows: daily Pearson and Spearman correlations over the test days.

`--synthetic`: the oracle market of benchmarks/quality_synthetic.py with only the 5-day reversal
planted (150 stocks x 500 days, strength 0.06, market seed 0, no minute files; its 13 daily-return
features and
processors): test IC / oracle IC of linear, lgbm (quality_synthetic's settings), double_ensemble
and deep_factor, one row per model seed (`--seeds`), scored by quality_synthetic's
`score_against_oracle` (paired daily IC vs the oracle: no model may exceed it beyond 2 SE).

Results (JSON per cell, with its log) go to benchmarks/out/research_tabular/<tag>__<side>__s<seed>
(git-ignored); a finished cell is not rerun with the same tag.

Measured 2026-12-03 23:44-00:07 UTC (commit 9d01073; machine shared, load 7-11), one flock
hold, `--tag dev_m3 --num-models 3 --sides seqalpha` then `--sides qlib` (pyqlib's 6 sub-models
would spend about an hour in feature selection on this machine):
| side | seed | IC (SE) | ICIR | Rank IC (SE) | Rank ICIR | days | fit s | wall s |
| qlib | 0 | 0.0280 (0.0065) | 0.196 | 0.0243 (0.0065) | 0.170 | 483 | 1167.6 | 1236.5 |
| seqalpha | 0 | 0.0288 (0.0066) | 0.199 | 0.0238 (0.0066) | 0.163 | 483 | 122.6 | 134.2 |
paired daily IC seqalpha - qlib +0.0008 (SE 0.0012), Rank IC -0.0005 (SE 0.0012); fit 9.52x
faster. pyqlib's fit: sub-model training 73.5 s, loss curves 15.6 s, SR 12.7 s, feature
selection 1062.6 s; seqalpha's sub-models started at +0 s, +45 s, +114 s of its 122.6 s fit.
`--synthetic --seeds 0 1 2` (150 x 500): IC / oracle linear 1.040, lgbm 0.873,
double_ensemble 0.833, deep_factor 0.905 (0.885-0.943); no model above its oracle beyond 2 SE.

Usage:
  flock /tmp/seqalpha-heavy.lock .venv/bin/python benchmarks/bench_research_tabular.py \
      --tag dev [--sides qlib seqalpha] [--seeds 0 1 2]
  .venv/bin/python benchmarks/bench_research_tabular.py --tag dev --table-only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out" / "research_tabular"
QLIB_PY = HERE / ".qlib-venv" / "bin" / "python"
CONFIG = REPO / "examples" / "csi300_double_ensemble_alpha158.yaml"
DATA = Path(os.environ.get("SEQALPHA_CSI300", REPO.parent / "shared" / "data" / "cn_csi300"))

DRIVER = r'''"""pyqlib 0.9.7 DoubleEnsemble / Alpha158, DEV split (bench_research_tabular.py).

python driver.py DATA_DIR OUT_DIR SEED NUM_MODELS
"""

import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np
import pandas as pd

TRAIN = ("2010-01-01", "2018-12-31")
VALID = ("2019-01-01", "2020-12-31")
TEST = ("2021-01-01", "2022-12-30")
# Qlib's examples/benchmarks/DoubleEnsemble/workflow_config_doubleensemble_Alpha158.yaml,
# num_threads 20 -> 2 (this machine class)
DE_KWARGS = {
    "base_model": "gbm",
    "loss": "mse",
    "num_models": 6,
    "enable_sr": True,
    "enable_fs": True,
    "alpha1": 1,
    "alpha2": 1,
    "bins_sr": 10,
    "bins_fs": 5,
    "decay": 0.5,
    "sample_ratios": [0.8, 0.7, 0.6, 0.5, 0.4],
    "sub_weights": [1, 0.2, 0.2, 0.2, 0.2, 0.2],
    "epochs": 28,
    "colsample_bytree": 0.8879,
    "learning_rate": 0.2,
    "subsample": 0.8789,
    "lambda_l1": 205.6999,
    "lambda_l2": 580.9768,
    "max_depth": 8,
    "num_leaves": 210,
    "num_threads": 2,
    "verbosity": -1,
}


def main():
    data, out, seed, num_models = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    DE_KWARGS["num_models"] = num_models
    DE_KWARGS["sub_weights"] = DE_KWARGS["sub_weights"][:num_models]
    import qlib
    from qlib.constant import REG_CN
    from qlib.contrib.data.handler import Alpha158
    from qlib.contrib.model.double_ensemble import DEnsembleModel
    from qlib.data.dataset import DatasetH

    qlib.init(provider_uri=data, region=REG_CN, kernels=2)
    times = {}
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

    steps = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                steps[name] = steps.get(name, 0.0) + time.perf_counter() - t
                print(f"STEP {name} {time.perf_counter() - t:.1f}s", flush=True)

        return wrapper

    np.random.seed(seed)
    model = DEnsembleModel(**DE_KWARGS, seed=seed)
    for name in ("train_submodel", "retrieve_loss_curve", "sample_reweight", "feature_selection"):
        setattr(model, name, timed(name, getattr(model, name)))
    t0 = time.perf_counter()
    model.fit(dataset)
    times["fit"] = time.perf_counter() - t0
    times["fit_steps"] = steps
    t0 = time.perf_counter()
    pred = model.predict(dataset, segment="test")
    times["predict"] = time.perf_counter() - t0
    label = dataset.prepare("test", col_set="label", data_key="raw").iloc[:, 0]
    df = pd.DataFrame({"score": pred, "label": label.reindex(pred.index)}).reset_index()
    df["instrument"] = df["instrument"].astype(str)
    df.to_parquet(os.path.join(out, "predictions.parquet"), index=False)
    feats = [len(f) for f in model.sub_features]
    print("QLIB_RESULT " + json.dumps({"times": times, "sub_features": feats}), flush=True)


main()
'''


def daily_ic(df: pl.DataFrame) -> pl.DataFrame:
    """Per test day: Pearson IC and Spearman Rank IC of score vs label over finite rows."""
    df = df.filter(pl.col("score").is_finite() & pl.col("label").is_finite())
    return (
        df.group_by("datetime")
        .agg(
            pl.corr("score", "label").alias("ic"),
            pl.corr("score", "label", method="spearman").alias("rank_ic"),
            pl.len().alias("n"),
        )
        .filter(pl.col("n") >= 2)
        .sort("datetime")
    )


def read_predictions(path: Path) -> pl.DataFrame:
    """(datetime: Date, instrument: upper-case str, score, label) rows of a side's predictions."""
    df = pl.read_parquet(path).select("datetime", "instrument", "score", "label")
    return df.with_columns(
        pl.col("datetime").cast(pl.Date),
        pl.col("instrument").cast(pl.Utf8).str.to_uppercase(),
        pl.col("score").cast(pl.Float64),
        pl.col("label").cast(pl.Float64),
    )


def summary(ic: pl.DataFrame) -> dict[str, float]:
    """Mean, SE and IR of the daily IC and Rank IC."""
    out: dict[str, float] = {"days": float(len(ic))}
    for col in ("ic", "rank_ic"):
        x = ic[col].drop_nulls().drop_nans().to_numpy()
        out[col] = float(x.mean())
        out[col + "_se"] = float(x.std(ddof=1) / np.sqrt(len(x)))
        out[col + "_ir"] = float(x.mean() / x.std(ddof=1))
    return out


def run_logged(cmd: list[str], log: Path, env: dict | None = None) -> tuple[int, float, list[str]]:
    """Run `cmd`, its stdout+stderr into `log`; (return code, wall seconds, lines)."""
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    wall = time.perf_counter() - t0
    return proc.returncode, wall, log.read_text().splitlines()


def run_qlib(cell: Path, seed: int, num_models: int) -> dict:
    driver = OUT / "qlib_de_driver.py"
    driver.write_text(DRIVER)
    cell.mkdir(parents=True, exist_ok=True)
    code, wall, lines = run_logged(
        [str(QLIB_PY), str(driver), str(DATA), str(cell), str(seed), str(num_models)],
        cell / "log.txt",
    )
    if code != 0:
        raise SystemExit(f"qlib cell failed (exit {code}); see {cell / 'log.txt'}")
    res = next(json.loads(x[len("QLIB_RESULT ") :]) for x in lines if x.startswith("QLIB_RESULT"))
    return {
        "wall": wall,
        "fit_seconds": res["times"]["fit"],
        "times": res["times"],
        "sub_features": res["sub_features"],
    }


def run_seqalpha(cell: Path, seed: int, num_models: int) -> dict:
    cell.mkdir(parents=True, exist_ok=True)
    exe = REPO / ".venv" / "bin" / "seqalpha"
    cmd = [str(exe), "train", str(CONFIG), "--out", str(cell), "--fresh"]
    cmd += ["--data-dir", str(DATA), "--set", f"seeds=[{seed}]"]
    weights = [1.0] + [0.2] * (num_models - 1)  # the benchmark yaml's, cut to num_models
    cmd += ["--set", f"model.params.num_models={num_models}"]
    cmd += ["--set", f"model.params.sub_weights={weights}"]
    cmd += ["--set", "tracking.enabled=false"]
    code, wall, _ = run_logged(cmd, cell / "log.txt")
    if code != 0:
        raise SystemExit(f"seqalpha cell failed (exit {code}); see {cell / 'log.txt'}")
    m = json.loads((cell / "metrics.json").read_text())
    return {"wall": wall, "fit_seconds": m["seconds_walkforward"], "inputs": m["seconds_inputs"]}


def cell_dir(tag: str, side: str, seed: int) -> Path:
    return OUT / f"{tag}__{side}__s{seed}"


def table(tag: str, sides: list[str], seeds: list[int]) -> None:
    rows, daily = [], {}
    for side in sides:
        for seed in seeds:
            cell = cell_dir(tag, side, seed)
            if not (cell / "result.json").exists():
                continue
            res = json.loads((cell / "result.json").read_text())
            ic = daily_ic(read_predictions(cell / "predictions.parquet"))
            daily[(side, seed)] = ic
            rows.append((side, seed, summary(ic), res))
    print(f"DoubleEnsemble / Alpha158, CSI300 DEV test 2021-2022 (tag {tag})")
    print(
        "| side | seed | IC (SE) | ICIR | Rank IC (SE) | Rank ICIR | days | fit s | wall s |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    for side, seed, s, res in rows:
        print(
            f"| {side} | {seed} | {s['ic']:.4f} ({s['ic_se']:.4f}) | {s['ic_ir']:.3f} | "
            f"{s['rank_ic']:.4f} ({s['rank_ic_se']:.4f}) | {s['rank_ic_ir']:.3f} | "
            f"{int(s['days'])} | {res['fit_seconds']:.1f} | {res['wall']:.1f} |"
        )
    for seed in seeds:
        a, b = daily.get(("seqalpha", seed)), daily.get(("qlib", seed))
        if a is None or b is None:
            continue
        j = a.join(b, on="datetime", suffix="_q")
        for col in ("ic", "rank_ic"):
            d = (j[col] - j[col + "_q"]).drop_nulls().drop_nans().to_numpy()
            print(
                f"seed {seed}: paired daily {col} seqalpha - qlib = {d.mean():+.4f} "
                f"(SE {d.std(ddof=1) / np.sqrt(len(d)):.4f}, {len(d)} days)"
            )
        fa = json.loads((cell_dir(tag, "seqalpha", seed) / "result.json").read_text())
        fb = json.loads((cell_dir(tag, "qlib", seed) / "result.json").read_text())
        print(
            f"seed {seed}: fit time qlib / seqalpha = {fb['fit_seconds'] / fa['fit_seconds']:.2f}x"
        )


# --------------------------------------------------------------------------- synthetic oracle
SYNTH_OUT = OUT / "synthetic_150x500"
# stocks, days: half of quality_synthetic's default market, so the grid stays under 3 min of CPU
SYNTH_SIZE = (150, 500)
SYNTH_MODELS = {
    "linear": {"alpha": 0.0},
    "lgbm": "quality_synthetic.LGBM",  # with num_threads 1
    "double_ensemble": {
        "num_models": 6,
        "sub_weights": [1.0, 0.2, 0.2, 0.2, 0.2, 0.2],
        "epochs": 100,
        "num_leaves": 31,
        "learning_rate": 0.05,
        "min_child_samples": 200,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "lambda_l2": 10.0,
        "num_threads": 1,
    },
    "deep_factor": {
        "hidden_sizes": [32, 16],
        "epochs": 8,
        "patience": 3,
        "lr": 1e-3,
        "batch_size": 1024,
        "threads": 1,
        "progress": False,
    },
}


def run_synthetic(seeds: list[int]) -> None:
    """IC / oracle IC on the reversal market, per model and model seed (a JSON per cell)."""
    from argparse import Namespace

    sys.path.insert(0, str(HERE))
    import quality_synthetic as qs

    from seqalpha.config import config_from_dict
    from seqalpha.train.inputs import build_inputs
    from seqalpha.train.walkforward import collect_predictions, run_walkforward

    out = SYNTH_OUT
    n_stocks, n_days = SYNTH_SIZE
    args = Namespace(out=str(out), n_stocks=n_stocks, n_days=n_days, seed=0, strength=0.06)
    inputs = None
    for name, params in SYNTH_MODELS.items():
        if params == "quality_synthetic.LGBM":
            params = {**qs.LGBM, "num_threads": 1}
        cell = qs.Cell("reversal", name, "daily_returns", dict(params), name)
        market = reversal_market(qs, args)
        oracle = pl.read_parquet(market / "oracle.parquet")
        for seed in seeds if name == "deep_factor" else seeds[:1]:  # seeds: the torch model
            path = out / f"reversal__{name}__s{seed}.json"
            if path.exists():
                continue
            raw = qs.pipeline_dict(cell, market)
            raw["seeds"] = [seed]
            cfg = config_from_dict(raw, source=f"synthetic {name}")
            if inputs is None:
                inputs = build_inputs(cfg.data, cfg.features, cfg.labels)
            t0 = time.perf_counter()
            state = run_walkforward(
                cfg, out / "runs" / f"{name}_s{seed}", inputs=inputs, fresh=True
            )
            res = qs.score_against_oracle(
                collect_predictions(state.run_dir, state.windows), oracle, "reversal"
            )
            res = {k: v for k, v in res.items() if not isinstance(v, list)}
            res.update({"model": name, "seed": seed, "seconds": time.perf_counter() - t0})
            path.write_text(json.dumps(res, indent=1))
            print(f"{name} seed {seed}: IC {res['ic']:.4f} ratio {res['ratio']:.3f}", flush=True)


def reversal_market(qs, args) -> Path:
    """quality_synthetic's reversal market without the minute files (daily fields and oracle
    only: the daily-return features need no bars), generated once under SYNTH_OUT/markets."""
    from dataclasses import replace

    from seqalpha.data.synthetic import generate_market

    cfg = replace(
        qs.market_config("reversal", args.n_stocks, args.n_days, args.seed, args.strength),
        minute_days=0,
    )
    path = Path(args.out) / "markets" / "reversal_daily"
    if not (path / "meta.json").is_file():
        generate_market(path, cfg)
    return path


def synthetic_table() -> None:
    rows = [json.loads(p.read_text()) for p in sorted(SYNTH_OUT.glob("reversal__*.json"))]
    n_stocks, n_days = SYNTH_SIZE
    print(f"Reversal market ({n_stocks} x {n_days}, strength 0.06): test IC / oracle IC")
    print(
        "| model | seeds | IC (mean, spread) | oracle IC | IC / oracle | leak check |\n"
        "|---|---|---|---|---|---|"
    )
    for name in SYNTH_MODELS:
        rs = [r for r in rows if r["model"] == name]
        if not rs:
            continue
        ic = np.array([r["ic"] for r in rs])
        ratio = np.array([r["ratio"] for r in rs])
        spread = f", sd {ic.std(ddof=1):.4f}" if len(rs) > 1 else f", SE {rs[0]['ic_se']:.4f}"
        print(
            f"| {name} | {[r['seed'] for r in rs]} | {ic.mean():.4f}{spread} | "
            f"{rs[0]['oracle_ic']:.4f} | {ratio.mean():.3f} (min {ratio.min():.3f}, max "
            f"{ratio.max():.3f}) | {'ok' if all(r['leak_ok'] for r in rs) else 'EXCEEDS'} |"
        )


# --------------------------------------------------------------------------- FS step speed
def g_values_by_prediction(model, X: np.ndarray, y: np.ndarray, pred_sub: np.ndarray, k: int):
    """The FS g-values computed as pyqlib does it: one LightGBM prediction of every sub-model
    on a copy of its columns with the feature permuted (same permutations as the model's)."""
    p = model.params
    n, F = X.shape
    sw = model.weights()[: k + 1]
    sw = sw / sw.sum()
    base = pred_sub @ sw
    loss = (y - base) ** 2
    g = np.zeros(F)
    for f in range(F):
        perm = np.random.default_rng([p["seed"], k, 3, f]).permutation(n)
        Xp = X.copy()
        Xp[:, f] = X[perm, f]
        pred = np.zeros(n)
        for s in range(k + 1):
            pred += sw[s] * model.boosters[s].predict(
                Xp[:, model.features[s]], num_threads=p["num_threads"]
            )
        d = (y - pred) ** 2 - loss
        g[f] = d.mean() / (d.std() + 1e-7)
    return g


def fs_speed(n: int, F: int, sub_models: int, repeats: int) -> None:
    """Time one FS step (g-values against `sub_models` fitted sub-models) both ways, interleaved,
    on random data (n rows, F features, 4 informative), and check they agree."""
    from seqalpha.dataset.core import SampleSet
    from seqalpha.models import create_model

    rng = np.random.default_rng(0)
    T = 100
    N = n // T
    x = rng.standard_normal((T, N, F)).astype(np.float32)
    x[rng.random(x.shape) < 0.01] = np.nan
    y = np.nan_to_num(x[:, :, :4]) @ np.array([0.3, -0.2, 0.1, 0.05]) + rng.standard_normal((T, N))
    data = SampleSet(
        dates=np.datetime64("2020-01-01") + np.arange(T),
        instruments=np.array([f"S{i}" for i in range(N)]),
        features=x,
        bars=None,
        labels=y[:, :, None].astype(np.float32),
        mask=np.ones((T, N), bool),
        rows=(0, T),
    )
    model = create_model(
        "double_ensemble",
        num_models=sub_models,
        enable_fs=False,
        epochs=28,
        num_leaves=210,
        max_depth=8,
        learning_rate=0.2,
        colsample_bytree=0.8879,
        lambda_l1=205.7,
        lambda_l2=581.0,
        num_threads=2,
        seed=0,
    )
    model.fit(data)
    X, yy, _ = model._rows(data, True)
    pred_sub = np.stack(
        [model.boosters[s].predict(X[:, model.features[s]]) for s in range(sub_models)], axis=1
    )
    k = sub_models - 1
    times: dict[str, list[float]] = {"kernel": [], "prediction": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        g_fast = model.g_values(X, yy, pred_sub, k)
        times["kernel"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        g_slow = g_values_by_prediction(model, X, yy, pred_sub, k)
        times["prediction"].append(time.perf_counter() - t0)
    err = float(np.max(np.abs(g_fast - g_slow)))
    a, b = np.median(times["kernel"]), np.median(times["prediction"])
    print(
        f"FS step, {len(X)} rows x {F} features, {sub_models} sub-models of 28 trees "
        f"(210 leaves), 2 threads, median of {repeats} interleaved: tree walk {a:.2f} s, "
        f"LightGBM predictions {b:.2f} s ({b / a:.1f}x); max |g difference| {err:.2e}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tag", default="dev")
    ap.add_argument("--sides", nargs="+", default=["qlib", "seqalpha"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument(
        "--num-models",
        type=int,
        default=6,
        help="sub-models on both sides (the benchmark yaml: 6; sub_weights cut to this)",
    )
    ap.add_argument("--redo", action="store_true", help="rerun finished cells")
    ap.add_argument("--synthetic", action="store_true", help="the oracle reversal market instead")
    ap.add_argument(
        "--fs-speed",
        nargs=3,
        type=int,
        metavar=("ROWS", "FEATURES", "SUB_MODELS"),
        help="time one FS step, tree walk vs LightGBM predictions (random data)",
    )
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.fs_speed:
        fs_speed(*args.fs_speed, repeats=3)
        return
    if args.synthetic:
        if not args.table_only:
            run_synthetic(args.seeds)
        synthetic_table()
        return
    if not args.table_only:
        for seed in args.seeds:
            for side in args.sides:  # interleaved: each seed runs both sides back to back
                cell = cell_dir(args.tag, side, seed)
                if (cell / "result.json").exists() and not args.redo:
                    continue
                print(f"running {side} seed {seed} -> {cell}", file=sys.stderr, flush=True)
                run = run_qlib if side == "qlib" else run_seqalpha
                res = run(cell, seed, args.num_models)
                res["num_models"] = args.num_models
                res["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
                (cell / "result.json").write_text(json.dumps(res, indent=2))
    table(args.tag, args.sides, args.seeds)


if __name__ == "__main__":
    main()
