"""Seconds per epoch of `gru` on Alpha360 (DEV train split, CSI300), seqalpha vs Qlib's GRU.

Both sides: GRU hidden 64, 2 layers, Adam lr 1e-3, CPU, 2 threads, features normalised like
Qlib's GRU workflow (RobustZScoreNorm fitted on train + clip at 3, fill 0; label
Ref($close,-2)/Ref($close,-1)-1, cross-sectionally z-scored).
- seqalpha: the variants in VARIANTS (day batches of 3 days ~ 790 rows, or Qlib's 800-row
  batches across days; float32, or the encoder in bfloat16 under CPU autocast), one epoch = one
  pass over the train samples, then valid predictions + valid IC (the early-stopping signal).
- Qlib (pyqlib 0.9.7 venv, run as a subprocess with this same file and `--qlib-side`): batch
  800, its train_epoch, then its per-epoch evaluation (test_epoch on train and on valid).
A per-stage breakdown of seqalpha's batches (gather / forward / backward / optimiser) says
where the time goes. OMP_WAIT_POLICY=PASSIVE on both sides (spinning OpenMP threads made a
2-thread GRU step 3-4x slower on the shared, oversubscribed machine; on an idle one PASSIVE costs
both sides about a third).

Measured 2026-11-22, `--variants day3 rows800_bf16`, one other single-thread job running the whole
time (load 1.2 -> 2.9), seconds per epoch (train + per-epoch evaluation):
seqalpha day3 fp32 454.0 + 26.4 = 480.4; rows800_bf16 272.0 + 28.7 = 300.7;
Qlib 434.6 + 123.8 = 558.4 (its handler 164 s; ours: Alpha360 13.5 s + normalisation 14.3 s).
Qlib / seqalpha: 1.16x (fp32) and 1.86x (bf16). An earlier run on the idle machine (day3 only):
259.5 + 17.9 = 277.4 vs Qlib 247.0 + 83.2 = 330.2 (1.19x).

Usage: .venv/bin/python benchmarks/bench_training.py [--data DIR] [--no-qlib] [--variants ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
# Both sides: OpenMP threads sleep instead of spinning while waiting. On a shared, oversubscribed
# 2-core machine spinning made a 2-thread GRU step 3-4x slower than with this setting.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "cn_csi300"
TRAIN = ("2010-01-01", "2018-12-31")
VALID = ("2019-01-01", "2020-12-31")
THREADS = 2


# ----------------------------------------------------------------------------- Qlib side
def qlib_side(data: str) -> dict:
    """One epoch of Qlib's GRU (runs inside the pyqlib venv)."""
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    import numpy as np
    import qlib
    import torch
    from qlib.constant import REG_CN
    from qlib.contrib.data.handler import Alpha360
    from qlib.contrib.model.pytorch_gru import GRU
    from qlib.data.dataset import DatasetH
    from qlib.data.dataset.handler import DataHandlerLP

    torch.set_num_threads(THREADS)
    qlib.init(provider_uri=data, region=REG_CN, kernels=2)
    out: dict = {}
    t0 = time.perf_counter()
    handler = Alpha360(
        instruments="csi300",
        start_time=TRAIN[0],
        end_time=VALID[1],
        fit_start_time=TRAIN[0],
        fit_end_time=TRAIN[1],
        infer_processors=[
            {
                "class": "RobustZScoreNorm",
                "kwargs": {"fields_group": "feature", "clip_outlier": True},
            },
            {"class": "Fillna", "kwargs": {"fields_group": "feature"}},
        ],
        learn_processors=[
            {"class": "DropnaLabel"},
            {"class": "CSZScoreNorm", "kwargs": {"fields_group": "label"}},
        ],
    )
    dataset = DatasetH(handler, segments={"train": TRAIN, "valid": VALID})
    out["handler_seconds"] = time.perf_counter() - t0
    model = GRU(
        d_feat=6,
        hidden_size=64,
        num_layers=2,
        dropout=0.0,
        n_epochs=1,
        lr=1e-3,
        batch_size=800,
        early_stop=20,
        metric="loss",
        loss="mse",
        GPU=-1,
        seed=0,
    )
    dfs = {
        k: dataset.prepare(k, col_set=["feature", "label"], data_key=DataHandlerLP.DK_L)
        for k in ("train", "valid")
    }
    tr, va = dfs["train"].dropna(), dfs["valid"].dropna()
    out["train_samples"], out["valid_samples"] = len(tr), len(va)
    t0 = time.perf_counter()
    model.train_epoch(tr["feature"], tr["label"])
    out["train_epoch_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.test_epoch(tr["feature"], tr["label"])
    out["eval_train_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, vscore = model.test_epoch(va["feature"], va["label"])
    out["eval_valid_seconds"] = time.perf_counter() - t0
    out["valid_metric(-loss)"] = float(vscore)
    out["torch_threads"] = torch.get_num_threads()
    out["n_batches"] = int(np.ceil(len(tr) / 800))
    return out


# ----------------------------------------------------------------------------- seqalpha side
def build_sample_set(data: str):
    """Alpha360 [T, N, 360] normalised like Qlib's GRU workflow, labels [T, N, 1], CSI300 mask."""
    import numpy as np

    from seqalpha.data.qlib_bin import load_panel
    from seqalpha.dataset import SampleSet
    from seqalpha.features import compute_library, library_expressions
    from seqalpha.labels.returns import cs_zscore, forward_return

    timing = {}
    t0 = time.perf_counter()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        panel = load_panel(
            data, ["open", "high", "low", "close", "volume"], "csi300", TRAIN[0], VALID[1]
        )
    timing["load_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    feats = compute_library(panel, "alpha360")
    names = list(library_expressions("alpha360"))
    T, N = panel.shape
    X = np.empty((T, N, len(names)), dtype=np.float32)
    for k, n in enumerate(names):
        X[:, :, k] = feats.fields.pop(n)
    del feats
    timing["alpha360_seconds"] = time.perf_counter() - t0
    # RobustZScoreNorm fitted on the train member-days, clipped at +-3 (Qlib's clip_outlier)
    t0 = time.perf_counter()
    t1 = int(np.searchsorted(panel.dates, np.datetime64(TRAIN[1]), side="right"))
    mask = panel.universe
    for a in range(0, X.shape[2], 40):
        rows = X[:t1, :, a : a + 40][mask[:t1]]  # [n_train_rows, <=40]
        med = np.nanmedian(rows, axis=0)
        mad = np.nanmedian(np.abs(rows - med), axis=0) * 1.4826 + 1e-12
        blk = X[:, :, a : a + 40]
        blk -= med
        blk /= mad
        np.clip(blk, -3, 3, out=blk)
    timing["normalise_seconds"] = time.perf_counter() - t0
    label = cs_zscore(forward_return(panel["close"], 1, 1), mask)[:, :, None]
    ss = SampleSet(
        panel.dates,
        panel.instruments,
        X,
        None,
        label.astype(np.float32),
        mask,
        (0, t1),
        names,
        ["LABEL0"],
    )
    return ss, t1, timing


def stage_breakdown(model, train, n_batches: int = 30) -> dict:
    """Mean milliseconds per day batch in gather / forward+loss / backward / clip+step."""
    import numpy as np
    import torch

    from seqalpha.models.loop import torch_session

    acc = {"gather_ms": 0.0, "forward_ms": 0.0, "backward_ms": 0.0, "step_ms": 0.0}
    with torch_session(0, THREADS):
        opt = torch.optim.Adam(model.net.parameters(), lr=1e-3)
        batches = model.batches(train, True, np.random.default_rng(0))[:n_batches]
        model.net.train()
        for t, i in batches:
            a = time.perf_counter()
            x = model.inputs(train, (t, i))
            b = time.perf_counter()
            out = model.net(x)
            y = torch.from_numpy(np.ascontiguousarray(train.labels[t, i]))
            loss = torch.nn.functional.mse_loss(out[:, 0], y[:, 0])
            c = time.perf_counter()
            opt.zero_grad()
            loss.backward()
            d = time.perf_counter()
            torch.nn.utils.clip_grad_norm_(model.net.parameters(), 3.0)
            opt.step()
            e = time.perf_counter()
            for k, v in zip(acc, (b - a, c - b, d - c, e - d), strict=False):
                acc[k] += 1000 * v
        # where the forward/backward time goes, by torch operator (5 batches)
        from torch.profiler import profile

        with profile() as prof:
            for t, i in batches[:5]:
                out = model.net(model.inputs(train, (t, i)))
                out[:, 0].pow(2).mean().backward()
        ops = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in ops) or 1.0
        top = sorted(ops, key=lambda e: -e.self_cpu_time_total)[:8]
    acc = {k: round(v / max(len(batches), 1), 2) for k, v in acc.items()}
    acc["mean_batch_size"] = round(float(np.mean([len(t) for t, _ in batches])), 1)
    acc["top_ops_self_cpu_share"] = {e.key: round(e.self_cpu_time_total / total, 3) for e in top}
    return acc


# name -> GRU params besides the architecture (hidden 64, 2 layers, Adam lr 1e-3)
VARIANTS = {
    "day3": {"days_per_batch": 3},  # ~790 rows: the stocks of 3 days
    "rows800": {"batch": "rows", "batch_size": 800},  # Qlib's batching
    "day3_bf16": {"days_per_batch": 3, "precision": "bf16"},
    "rows800_bf16": {"batch": "rows", "batch_size": 800, "precision": "bf16"},
}


def seqalpha_side(data: str, variants: list[str]) -> dict:
    import numpy as np

    from seqalpha.models import create_model

    out: dict = {}
    ss, t1, timing = build_sample_set(data)
    out.update(timing)
    train, valid = ss.with_rows(0, t1), ss.with_rows(t1, len(ss.dates))
    out["train_days"], out["valid_days"] = train.n_days, valid.n_days
    out["train_samples"] = int((train.mask[:t1] & np.isfinite(train.labels[:t1, :, 0])).sum())
    for name in variants:
        model = create_model(
            "gru",
            seq_layout="columns",
            n_fields=6,
            hidden_size=64,
            num_layers=2,
            threads=THREADS,
            epochs=1,
            lr=1e-3,
            progress=False,
            early_stop_metric="ic",
            eval_days_per_batch=8,
            **VARIANTS[name],
        )
        model.fit(train, valid)
        h = model.result.history[0]
        out[name] = {
            "params": VARIANTS[name],
            "train_epoch_seconds": round(h["train_seconds"], 1),
            "valid_predict_seconds": round(h.get("valid_seconds", float("nan")), 1),
            "valid_ic_after_1_epoch": round(h.get("valid_ic", float("nan")), 4),
            "breakdown": stage_breakdown(model, train),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(os.environ.get("SEQALPHA_CSI300", DEFAULT_DATA)))
    ap.add_argument("--qlib-side", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-qlib", action="store_true")
    ap.add_argument(
        "--variants",
        nargs="+",
        default=list(VARIANTS),
        choices=list(VARIANTS),
        help="seqalpha training variants to time (default: all)",
    )
    args = ap.parse_args()
    if args.qlib_side:
        print("QLIB_RESULT " + json.dumps(qlib_side(args.data)))
        return
    res = {"loadavg_start": os.getloadavg()}
    t0 = time.perf_counter()
    res["seqalpha"] = seqalpha_side(args.data, args.variants)
    res["seqalpha_wall_seconds"] = round(time.perf_counter() - t0, 1)
    print("SEQALPHA_RESULT " + json.dumps(res["seqalpha"]), flush=True)  # kept if Qlib is stopped
    if not args.no_qlib:
        qpy = (
            subprocess.run(
                ["bash", str(HERE / "qlib_venv.sh")], capture_output=True, text=True, check=True
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        t0 = time.perf_counter()
        proc = subprocess.run(
            [qpy, __file__, "--qlib-side", "--data", args.data],
            capture_output=True,
            text=True,
            check=False,
        )
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("QLIB_RESULT ")]
        res["qlib"] = json.loads(line[-1][12:]) if line else {"error": proc.stderr[-2000:]}
        res["qlib_wall_seconds"] = round(time.perf_counter() - t0, 1)
    res["loadavg_end"] = os.getloadavg()
    print(json.dumps(res, indent=1))
    s, q = res["seqalpha"], res.get("qlib", {})
    q_total = None
    if "train_epoch_seconds" in q:
        q_ev = q["eval_train_seconds"] + q["eval_valid_seconds"]
        q_total = q["train_epoch_seconds"] + q_ev
    print(
        "\n| side | batch / precision | train epoch (s) | per-epoch evaluation (s) | total (s) "
        "| Qlib total / this |"
    )
    print("|---|---|---|---|---|---|")
    for name in args.variants:
        r = s[name]
        total = r["train_epoch_seconds"] + r["valid_predict_seconds"]
        ratio = f"{q_total / total:.2f}x" if q_total else "-"
        print(
            f"| seqalpha gru | {name} | {r['train_epoch_seconds']} | "
            f"{r['valid_predict_seconds']} (valid predict + IC) | {total:.1f} | {ratio} |"
        )
    if q_total:
        print(
            f"| qlib GRU | 800 rows / fp32 | {q['train_epoch_seconds']:.1f} | {q_ev:.1f} "
            f"(train + valid loss) | {q_total:.1f} | 1.00x |"
        )


if __name__ == "__main__":
    main()
