"""LightGBM per-round cost: seqalpha's `lgbm` settings against pyqlib's LGBModel call, on the
same training rows, in one process (what pyqlib does: `lgb.train` on float32 rows).

    python benchmarks/bench_lgbm_rounds.py [examples/csi300_lgbm_alpha158.yaml] [--rounds 30]

Builds the config's inputs and its first window (label processors applied, as in a run), then
times `--rounds` boosting rounds per variant (no early stopping) and prints a table; each
variant is trained twice to show whether its trees are reproducible.
"""

from __future__ import annotations

import argparse
import hashlib
import time

import lightgbm as lgb

from seqalpha.dataset.core import SampleSet
from seqalpha.dataset.tabular import tabular
from seqalpha.models import create_model
from seqalpha.registries import load_checked_config
from seqalpha.train.inputs import build_inputs
from seqalpha.train.splits import make_windows
from seqalpha.train.window import Job, train_spec, window_arrays


def rows(config: str):
    """(X, y) of the train and valid ranges of the config's first window."""
    cfg = load_checked_config(config)
    inputs = build_inputs(cfg.data, cfg.features, cfg.labels)
    spec = train_spec(cfg)
    w = make_windows(inputs.dates, cfg.walkforward, cfg.embargo, spec.lookback)[0]
    a = window_arrays(inputs, Job(w, 0, 0, spec))
    lo = a["lo"]
    train = SampleSet(
        dates=inputs.dates[lo : a["hi"]],
        instruments=inputs.instruments,
        features=a["features"],
        bars=None,
        labels=a["labels"],
        mask=a["train_mask"],
        rows=(w.train[0] - lo, w.train[1] - lo),
        feature_names=list(inputs.feature_names),
        label_names=list(inputs.label_names),
    )
    out = []
    for s in (train, train.with_rows(w.valid[0] - lo, w.valid[1] - lo)):
        X, y, _ = tabular(s, train=True, label_col=0)
        out.append((X, y[:, 0]))
    return cfg, out


def trees(booster) -> str:
    s = booster.model_to_string()
    return hashlib.sha1(s[: s.index("parameters:")].encode()).hexdigest()[:10]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config", nargs="?", default="examples/csi300_lgbm_alpha158.yaml")
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    cfg, ((X, y), (Xv, yv)) = rows(args.config)
    mp = dict(cfg.model.params)
    ours = create_model("lgbm", **{**mp, "seed": 0}).lgb_params()
    qlib = {  # pyqlib 0.9.7 LGBModel: loss mse, its kwargs passed through, valid_sets train+valid
        "objective": "mse",
        "learning_rate": mp["learning_rate"],
        "num_leaves": mp["num_leaves"],
        "max_depth": mp["max_depth"],
        "colsample_bytree": mp["colsample_bytree"],
        "subsample": mp["subsample"],
        "lambda_l1": mp["lambda_l1"],
        "lambda_l2": mp["lambda_l2"],
        "num_threads": mp["num_threads"],
        "verbosity": -1,
    }
    variants = {
        "pyqlib LGBModel": (qlib, True),
        "seqalpha (this config)": (ours, False),
        "seqalpha, deterministic": ({**ours, "deterministic": True}, False),
        "seqalpha, bagging every round": ({**ours, "bagging_freq": 1}, False),
    }
    print(f"train {X.shape} valid {Xv.shape} {X.dtype}, {args.rounds} rounds")
    print("| variant | dataset s | s/round | trees (run 1, run 2) |\n|---|---|---|---|")
    for name, (params, with_train) in variants.items():
        hashes, per_round, ds_s = [], 0.0, 0.0
        for _ in range(2):
            t0 = time.perf_counter()
            dtrain = lgb.Dataset(X, y, params=params, free_raw_data=False).construct()
            dvalid = lgb.Dataset(Xv, yv, reference=dtrain, params=params).construct()
            t1 = time.perf_counter()
            sets = [dtrain, dvalid] if with_train else [dvalid]
            b = lgb.train(params, dtrain, num_boost_round=args.rounds, valid_sets=sets)
            ds_s, per_round = t1 - t0, (time.perf_counter() - t1) / args.rounds
            hashes.append(trees(b))
        print(f"| {name} | {ds_s:.1f} | {per_round:.3f} | {hashes[0]}, {hashes[1]} |", flush=True)


if __name__ == "__main__":
    main()
