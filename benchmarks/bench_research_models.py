"""HIST, IGMTF and ADD on Alpha360, CSI300 DEV split: seqalpha's `hist`, `igmtf`, `add` vs
pyqlib 0.9.7's own `HIST`, `IGMTF`, `ADD`, same data, same split, same benchmark run. Prints test
IC / Rank IC (SE), the paired daily IC difference and the per-epoch training time ratio, per
model seed; the mean and spread over seeds.

Sides (each cell a fresh process; heavy: run the script under `flock /tmp/seqalpha-heavy.lock`):
- `qlib`: DRIVER (run by the pyqlib venv's python) with the settings of Qlib's benchmark yamls
  (Alpha360, RobustZScoreNorm + Fillna on features, DropnaLabel + CSRankNorm on the label; d_feat
  6: this store has no $vwap, so the VWAP columns are all 0 after Fillna), `n_epochs` cut to
  `--epochs` with `early_stop` = `--epochs` on both sides, no pretrained encoder (`model_path`
  None on both sides: seqalpha has none), 2 threads. pyqlib's HIST needs `stock2concept` [stocks,
  concepts] and `stock_index` {code: row}: built here from the same Shenwan files, a static
  matrix (pyqlib's HIST has no time axis): the level-1 industry (SW2021 names) in force on the
  last training day, each member's weight its market cap that day. pyqlib maps a stock missing
  from `stock_index` to row 733 (hard-coded): that row is left empty. Per-epoch time = its
  `train_epoch` (wrapped and timed). With pandas >= 3 in that venv, pyqlib's HIST fails at its
  first epoch (it writes into `Series.values`, read-only under copy-on-write); the driver hands
  HIST's own methods writable copies (`writable_series_values`); and its forward pass calls
  `torch.device(torch.get_device(x))`, which fails for a CPU tensor (-1), so the driver's
  `torch.get_device` answers a CPU tensor with its device. Nothing else changes.
- `seqalpha`: the example configs `examples/csi300_{hist,igmtf,add}_alpha360.yaml` with the same
  epoch count, run in-process through the walk-forward runner; per-epoch time = the loop's
  `train_seconds`.

Both sides' IC families come from one function over the saved (datetime, instrument, score,
label) rows, label = the raw `Ref($close,-2)/Ref($close,-1)-1`.

Results: benchmarks/out/research_models/<tag>__<model>__<side>__s<seed>/ (git-ignored).

Measured 2026-12-04 (`--models hist igmtf --seeds 0 1 2 --epochs 2 --tag dev20`, one heavy job
at a time; two epochs per side, the examples' settings: 4 days per step in bf16, cs_rank labels):

    model  side      IC mean (sd)      Rank IC mean (sd)   median s/epoch
    hist   seqalpha  0.0126 (0.0012)   0.0234 (0.0046)     121.6
    hist   pyqlib    0.0111 (0.0003)   0.0187 (0.0009)     186.5   (1.53x)
    igmtf  seqalpha  0.0122 (0.0010)   0.0198 (0.0024)     125.6
    igmtf  pyqlib    0.0126 (0.0015)   0.0204 (0.0024)     241.5   (1.92x)

Paired daily IC differences seqalpha - pyqlib per seed: hist +0.0015 (SE 0.0010), +0.0031
(0.0033), +0.0001 (0.0011); igmtf -0.0024 (0.0009), +0.0015 (0.0035), -0.0002 (0.0016).
Stop 19's hist (1 day per step in fp32, cs_zscore labels): 208.5 s per epoch, 0.89x pyqlib.

add, 2026-12-04/05 (one epoch per side, 3 seeds; pyqlib's cells ran once, under tag add2, and
were copied into add3/add4). The seqalpha configuration is chosen by the mean validation IC
(2019-2020), a rule fixed before add4 ran, never on the test years:

    tag   seqalpha settings            valid IC s0/s1/s2        test IC (sd)     Rank IC (sd)
    add2  augment_share 0.25 (0f0bd95) -0.0025 -0.0052  0.0082  0.0099 (0.0045)  0.0104 (0.0094)
    add3  + state decoder: example      0.0016  0.0002  0.0091  0.0024 (0.0100) -0.0016 (0.0189)
    add4  + target rank                -0.0055 -0.0052 -0.0040  0.0111 (0.0005)  0.0188 (0.0028)
    pyqlib ADD                                                  0.0117 (0.0028)  0.0218 (0.0103)

Median s/epoch: add2 463.0 (1.44x), add3 398.1 (1.67x), add4 419.9 (its seed 0, 1062.6 s, ran
beside a CI run), pyqlib 665.5. Before this work (`--tag add1`, seed 0): 683.5 s, 0.97x. add4 is
add3's command with `--set model.params.target=rank`.

2026-12-05, after pyqlib's ADD architecture was adopted (each representation = the final states
of all GRU layers; heads Linear-BatchNorm-Tanh-Linear), same pyqlib cells (copied from add2),
one epoch per side. Rule fixed before each ran: choose by the 3-seed mean validation IC:

    tag   settings (--set)             valid IC s0/s1/s2        test IC (sd)     Rank IC (sd)
    add6  the example (chosen)          0.0078  0.0098  0.0106  0.0014 (0.0058) -0.0055 (0.0117)
    add8  batch rows 5000, augment 0   -0.0028  0.0125  0.0149  0.0109 (0.0048)  0.0148 (0.0144)
    add9  + target rank, mu 0.2,       -0.0085  0.0048  0.0028  0.0145 (0.0015)  0.0271 (0.0067)
          dropout 0.1 (pyqlib's own settings)

Median s/epoch: add6 376.2 (1.77x), add8 261.9 (2.54x), add9 297.6 (2.24x), pyqlib 665.5.

Seed-0 screens (old architecture unless noted): add5a augment 0: valid 0.0010, test 0.0086;
add5b + batch rows 5000: valid 0.0091, test 0.0107; add7 (new architecture) rows 5000 with
augment: valid 0.0009, test 0.0165. The validation ranking (2019-2020) did not carry over to the
test years: the setting chosen on validation has the lowest test IC, pyqlib's settings the highest.

Two epochs per side (2026-12-05; pyqlib's cells ran under add10 and were copied into add11).
add10: the example against Qlib's ADD yaml; add11: `add` with pyqlib's settings (add9's --set,
`examples/csi300_add_alpha360_qlib.yaml`). Rule fixed before add11 ran: it replaces the example
only if its 3-seed mean best-epoch validation IC beats add10's (0.0122); it did not (0.0055).

    tag    side      valid IC (best) s0/s1/s2   test IC s0/s1/s2          Rank IC s0/s1/s2
    add10  seqalpha  0.0078 0.0098 0.0189       0.0066  0.0025  0.0016    0.0041 -0.0021 -0.0120
    add11  seqalpha  0.0040 0.0097 0.0028       0.0156  0.0150  0.0135    0.0244  0.0166  0.0233
           pyqlib                               0.0128  0.0126  0.0153    0.0220  0.0203  0.0297

Mean over seeds of the paired daily difference seqalpha - pyqlib: add10 IC -0.0100 (SE 0.0022),
Rank IC -0.0273 (SE 0.0073); add11 IC +0.0011 (SE 0.0015), Rank IC -0.0025 (SE 0.0026). Median
s/epoch: add10 427.8, add11 329.7 (its seed 0, 388 s, ran beside a niced one-thread probe), pyqlib
646.7: 1.51x and 1.96x.

  flock /tmp/seqalpha-heavy.lock .venv/bin/python benchmarks/bench_research_models.py \
      --models add --seeds 0 1 2 --epochs 2 --tag add10
  flock /tmp/seqalpha-heavy.lock .venv/bin/python benchmarks/bench_research_models.py \
      --models add --sides seqalpha --seeds 0 1 2 --epochs 2 --tag add11 \
      --set model.params.batch=rows --set model.params.batch_size=5000 \
      --set model.params.augment=0 --set model.params.target=rank \
      --set model.params.mu=0.2 --set model.params.dropout=0.1
  flock /tmp/seqalpha-heavy.lock .venv/bin/python benchmarks/bench_research_models.py \
      --models add --sides seqalpha --seeds 0 1 2 --epochs 1 --tag add9 \
      --set model.params.batch=rows --set model.params.batch_size=5000 \
      --set model.params.augment=0 --set model.params.target=rank \
      --set model.params.mu=0.2 --set model.params.dropout=0.1
  flock /tmp/seqalpha-heavy.lock .venv/bin/python benchmarks/bench_research_models.py \
      --models add --seeds 0 1 2 --epochs 1 --tag add3
  flock /tmp/seqalpha-heavy.lock .venv/bin/python benchmarks/bench_research_models.py \
      --models hist igmtf --seeds 0 1 2 --epochs 2 --tag dev20
  .venv/bin/python benchmarks/bench_research_models.py --table-only --tag dev20
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out" / "research_models"
QLIB_PY = HERE / ".qlib-venv" / "bin" / "python"
DATA = Path(os.environ.get("SEQALPHA_CSI300", REPO.parent / "shared" / "data" / "cn_csi300"))
META = DATA.parent / "cn_meta"
TRAIN_END = "2018-12-31"
MODELS = ("hist", "igmtf", "add", "adarnn")
sys.path.insert(0, str(HERE))
from bench_research_tabular import daily_ic, read_predictions, run_logged, summary  # noqa: E402

DRIVER = r'''"""pyqlib 0.9.7 HIST / IGMTF / ADD / ADARNN on Alpha360, DEV split.

python driver.py MODEL DATA_DIR OUT_DIR SEED EPOCHS [STOCK2CONCEPT STOCK_INDEX]
"""

import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np
import pandas as pd
import torch

TRAIN = ("2010-01-01", "2018-12-31")
VALID = ("2019-01-01", "2020-12-31")
TEST = ("2021-01-01", "2022-12-30")
# examples/benchmarks/{HIST,IGMTF,ADD}/workflow_config_*_Alpha360.yaml of Qlib
KWARGS = {
    "hist": dict(d_feat=6, hidden_size=64, num_layers=2, dropout=0.0, lr=1e-4, metric="ic",
                 loss="mse", base_model="LSTM", GPU=-1),
    "igmtf": dict(d_feat=6, hidden_size=64, num_layers=2, dropout=0.0, lr=1e-4, metric="ic",
                  loss="mse", base_model="GRU", GPU=-1),
    "add": dict(d_feat=6, hidden_size=64, num_layers=2, dropout=0.1, dec_dropout=0.0, lr=1e-3,
                metric="ic", batch_size=5000, base_model="GRU", gamma=0.1, gamma_clip=0.4,
                optimizer="adam", mu=0.2, GPU=-1),
    # the model's defaults (loss_type cosine, n_splits 2, pre_epoch 40) with Qlib's Alpha360 batch
    # size; early stopping on IC like the others (its "loss"/"mse" metric is minus the mean error)
    "adarnn": dict(d_feat=6, hidden_size=64, num_layers=2, dropout=0.0, lr=1e-3, metric="ic",
                   batch_size=800, loss="mse", GPU=-1),
}


def writable_series_values(method):
    """pyqlib 0.9.7's HIST writes into `Series.values` (`stock_index[np.isnan(...)] = 733`),
    which pandas 3's copy-on-write makes read-only (ValueError: assignment destination is
    read-only): inside the wrapped method only, `Series.values` is a writable copy."""
    prop = pd.Series.values

    def wrapped(*a, **k):
        pd.Series.values = property(lambda s: np.array(prop.fget(s), copy=True))
        try:
            return method(*a, **k)
        finally:
            pd.Series.values = prop

    return wrapped


def main():
    name, data, out, seed, epochs = sys.argv[1:6]
    seed, epochs = int(seed), int(epochs)
    torch.set_num_threads(2)
    import qlib
    from qlib.constant import REG_CN
    from qlib.contrib.data.handler import Alpha360
    from qlib.data.dataset import DatasetH

    qlib.init(provider_uri=data, region=REG_CN, kernels=2)
    times = {}
    t0 = time.perf_counter()
    proc = {"fields_group": "feature"}
    cache = os.environ.get("QLIB_HANDLER_CACHE")  # the processed handler, shared by all cells
    if cache and os.path.exists(cache):
        import pickle

        with open(cache, "rb") as fh:
            handler = pickle.load(fh)
    else:
        handler = Alpha360(
            instruments="csi300", start_time=TRAIN[0], end_time=TEST[1],
            fit_start_time=TRAIN[0], fit_end_time=TRAIN[1],
            infer_processors=[
                {"class": "RobustZScoreNorm", "kwargs": {**proc, "clip_outlier": True}},
                {"class": "Fillna", "kwargs": proc}],
            learn_processors=[{"class": "DropnaLabel"},
                              {"class": "CSRankNorm", "kwargs": {"fields_group": "label"}}],
        )
        if cache:
            handler.config(dump_all=True)
            handler.to_pickle(cache + ".tmp")
            os.replace(cache + ".tmp", cache)
    dataset = DatasetH(handler, segments={"train": TRAIN, "valid": VALID, "test": TEST})
    times["handler"] = time.perf_counter() - t0
    kw = dict(KWARGS[name], n_epochs=epochs, early_stop=epochs, seed=seed)
    if name == "hist":
        from qlib.contrib.model.pytorch_hist import HIST as Model
        kw.update(stock2concept=sys.argv[6], stock_index=sys.argv[7])
    elif name == "igmtf":
        from qlib.contrib.model.pytorch_igmtf import IGMTF as Model
    elif name == "add":
        from qlib.contrib.model.pytorch_add import ADD as Model
    else:
        from qlib.contrib.model.pytorch_adarnn import ADARNN as Model
    np.random.seed(seed)
    model = Model(**kw)
    epoch_s = []
    train_name = "train_AdaRNN" if name == "adarnn" else "train_epoch"
    inner = getattr(model, train_name)

    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            epoch_s.append(time.perf_counter() - t)
            print(f"EPOCH {len(epoch_s)} train {epoch_s[-1]:.1f}s", flush=True)

    setattr(model, train_name, timed)
    if name == "hist" and int(pd.__version__.split(".")[0]) >= 3:
        for meth in ("train_epoch", "test_epoch", "predict"):
            setattr(model, meth, writable_series_values(getattr(model, meth)))
    if name == "hist":
        # HISTModel.forward calls torch.device(torch.get_device(x)): -1 for a CPU tensor,
        # which torch refuses ("Device index must not be negative"); the tensor's own device
        get_device = torch.get_device
        torch.get_device = lambda t: t.device if get_device(t) < 0 else get_device(t)
    t0 = time.perf_counter()
    model.fit(dataset)
    times["fit"] = time.perf_counter() - t0
    times["epochs"] = epoch_s
    pred = model.predict(dataset, segment="test")
    label = dataset.prepare("test", col_set="label", data_key="raw").iloc[:, 0]
    df = pd.DataFrame({"score": pred, "label": label.reindex(pred.index)}).reset_index()
    df["instrument"] = df["instrument"].astype(str)
    df.to_parquet(os.path.join(out, "predictions.parquet"), index=False)
    print("QLIB_RESULT " + json.dumps({"times": times}), flush=True)


main()
'''

UNKNOWN_ROW = 733  # pyqlib's HIST sends stocks missing from stock_index to this row


def hist_concept_files(out: Path) -> tuple[Path, Path]:
    """pyqlib's stock2concept.npy and stock_index.npy from the point-in-time Shenwan files, as of
    the last training day (pyqlib's matrix is static): one-hot industry x market cap."""
    from seqalpha.data.reference import load_industry, load_market_cap

    codes = sorted(
        line.split("\t")[0].upper()
        for line in (DATA / "instruments" / "all.txt").read_text().splitlines()
        if line.strip()
    )
    day = np.array([np.datetime64(TRAIN_END, "D")])
    cal = np.array((DATA / "calendars" / "day.txt").read_text().split(), dtype="datetime64[D]")
    day = cal[cal <= day[0]][-1:]  # the last trading day of the training range
    ind, names = load_industry(META, day, np.array(codes), "l1", "sw2021")
    cap = load_market_cap(META, DATA, dates=day, instruments=np.array(codes))
    rows = [r for r in range(len(codes) + 1) if r != UNKNOWN_ROW][: len(codes)]
    mat = np.zeros((max(rows) + 1, len(names)), dtype=np.float32)
    for code_i, row in enumerate(rows):
        k, c = ind[0, code_i], cap[0, code_i]
        if k >= 0:
            mat[row, k] = c / 1e10 if np.isfinite(c) and c > 0 else 1.0
    out.mkdir(parents=True, exist_ok=True)
    s2c, idx = out / "stock2concept.npy", out / "stock_index.npy"
    np.save(s2c, mat)
    np.save(idx, dict(zip(codes, rows, strict=True)), allow_pickle=True)
    return s2c, idx


def run_qlib(model: str, cell: Path, seed: int, epochs: int) -> dict:
    driver = OUT / "qlib_research_driver.py"
    driver.write_text(DRIVER)
    cell.mkdir(parents=True, exist_ok=True)
    cmd = [str(QLIB_PY), str(driver), model, str(DATA), str(cell), str(seed), str(epochs)]
    if model == "hist":
        cmd += [str(p) for p in hist_concept_files(OUT / "hist_concepts")]
    # the Alpha360 handler (identical for every model and seed) is built once, then unpickled
    # keyed by the driver text (segments, processors) and the store: a change builds a new one
    # (the driver's segments and handler code only, not its models)
    dates = DRIVER[DRIVER.index("TRAIN = (") : DRIVER.index("# examples/benchmarks")]
    part = DRIVER[DRIVER.index("    qlib.init(") : DRIVER.index('    times["handler"]')]
    key = hashlib.sha1(f"{dates}\0{part}\0{DATA.resolve()}".encode()).hexdigest()[:12]
    env = {**os.environ, "QLIB_HANDLER_CACHE": str(OUT / f"qlib_alpha360_handler_{key}.pkl")}
    code, wall, lines = run_logged(cmd, cell / "log.txt", env=env)
    if code != 0:
        raise SystemExit(f"qlib {model} failed (exit {code}); see {cell / 'log.txt'}")
    res = next(json.loads(x[len("QLIB_RESULT ") :]) for x in lines if x.startswith("QLIB_RESULT"))
    return {
        "wall": wall,
        "fit_seconds": res["times"]["fit"],
        "epoch_seconds": res["times"]["epochs"],
    }


def run_seqalpha(model: str, cell: Path, seed: int, epochs: int, extra: list[str]) -> dict:
    """The example config (with `extra` --set overrides) through the walk-forward runner,
    per-epoch train seconds and validation scores kept."""
    import quality_synthetic as qs

    from seqalpha.registries import load_checked_config
    from seqalpha.train.walkforward import collect_predictions, run_walkforward

    config = REPO / "examples" / f"csi300_{model}_alpha360.yaml"
    sets = [f"seeds=[{seed}]", f"model.params.epochs={epochs}", f"model.params.patience={epochs}"]
    sets += ["tracking.enabled=false", "model.params.threads=2", "model.params.progress=false"]
    if model == "hist":
        sets.append(f"model.params.concept_dir={DATA}")
    sets += extra
    cfg = load_checked_config(config, sets, data_dir=DATA)
    qs._HISTORY.clear()
    t0 = time.perf_counter()
    state = run_walkforward(cfg, cell / "run", fresh=True, executor=qs.HistoryExecutor())
    wall = time.perf_counter() - t0
    preds = collect_predictions(cell / "run", state.windows)
    preds.write_parquet(cell / "predictions.parquet")
    hist = next(iter(qs._HISTORY.values()))
    return {
        "wall": wall,
        "fit_seconds": state.seconds,
        "epoch_seconds": [h["train_seconds"] for h in hist["history"]],
        "best_epoch": hist["best_epoch"],
        "history": hist["history"],
        "sets": extra,
    }


def cell_dir(tag: str, model: str, side: str, seed: int) -> Path:
    return OUT / f"{tag}__{model}__{side}__s{seed}"


def table(tag: str, models: list[str], seeds: list[int]) -> None:
    print(f"Alpha360, CSI300 DEV test 2021-2022 (tag {tag}); epoch s = median train seconds")
    print("| model | side | seed | IC (SE) | Rank IC (SE) | days | epoch s |")
    print("|---|---|---|---|---|---|---|")
    for model in models:
        per: dict[str, list] = {"seqalpha": [], "qlib": []}
        pooled: dict[str, list[float]] = {"seqalpha": [], "qlib": []}  # every epoch of every cell
        diffs: list[tuple[float, float]] = []  # per seed: mean paired daily IC, Rank IC difference
        for seed in seeds:
            ics = {}
            for side in ("seqalpha", "qlib"):
                cell = cell_dir(tag, model, side, seed)
                if not (cell / "result.json").exists():
                    continue
                res = json.loads((cell / "result.json").read_text())
                ic = daily_ic(read_predictions(cell / "predictions.parquet"))
                s = summary(ic)
                ics[side] = (ic, res)
                pooled[side] += res["epoch_seconds"]
                ep = float(np.median(res["epoch_seconds"]))
                per[side].append((s["ic"], s["rank_ic"], ep))
                print(
                    f"| {model} | {side} | {seed} | {s['ic']:.4f} ({s['ic_se']:.4f}) | "
                    f"{s['rank_ic']:.4f} ({s['rank_ic_se']:.4f}) | {int(s['days'])} | {ep:.1f} |"
                )
            if len(ics) == 2:
                j = ics["seqalpha"][0].join(ics["qlib"][0], on="datetime", suffix="_q")
                d = (j["ic"] - j["ic_q"]).drop_nulls().drop_nans().to_numpy()
                dr = (j["rank_ic"] - j["rank_ic_q"]).drop_nulls().drop_nans().to_numpy()
                r = np.median(ics["qlib"][1]["epoch_seconds"]) / np.median(
                    ics["seqalpha"][1]["epoch_seconds"]
                )
                print(
                    f"  {model} seed {seed}: paired daily IC seqalpha - qlib {d.mean():+.4f} "
                    f"(SE {d.std(ddof=1) / np.sqrt(len(d)):.4f}), Rank IC {dr.mean():+.4f} "
                    f"(SE {dr.std(ddof=1) / np.sqrt(len(dr)):.4f}); epoch time qlib/seqalpha "
                    f"{r:.2f}x"
                )
                diffs.append((d.mean(), dr.mean()))
        if all(pooled.values()):
            q, a = np.median(pooled["qlib"]), np.median(pooled["seqalpha"])
            print(
                f"  {model}: median epoch over all cells qlib {q:.1f} s, seqalpha {a:.1f} s: "
                f"{q / a:.2f}x"
            )
        for side, vals in per.items():
            if len(vals) > 1:
                a = np.array(vals)
                print(
                    f"  {model} {side} over {len(a)} seeds: IC {a[:, 0].mean():.4f} "
                    f"(sd {a[:, 0].std(ddof=1):.4f}), Rank IC {a[:, 1].mean():.4f} "
                    f"(sd {a[:, 1].std(ddof=1):.4f})"
                )
        if len(diffs) > 1:  # the bar: the mean over seeds within one SE of the seeds' spread
            m, se = np.mean(diffs, axis=0), np.std(diffs, axis=0, ddof=1) / np.sqrt(len(diffs))
            print(
                f"  {model} seqalpha - qlib over {len(diffs)} paired seeds: IC {m[0]:+.4f} "
                f"(SE {se[0]:.4f}), Rank IC {m[1]:+.4f} (SE {se[1]:.4f})"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tag", default="dev")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--sides", nargs="+", default=["seqalpha", "qlib"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--redo", action="store_true")
    ap.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        help="override of the seqalpha example config (KEY=VALUE, repeatable)",
    )
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        for model in args.models:
            for seed in args.seeds:
                for side in args.sides:  # interleaved: both sides of a seed back to back
                    cell = cell_dir(args.tag, model, side, seed)
                    if (cell / "result.json").exists() and not args.redo:
                        continue
                    print(f"running {model} {side} seed {seed}", file=sys.stderr, flush=True)
                    cell.mkdir(parents=True, exist_ok=True)
                    if side == "qlib":
                        res = run_qlib(model, cell, seed, args.epochs)
                    else:
                        res = run_seqalpha(model, cell, seed, args.epochs, args.sets)
                    res.update(epochs=args.epochs, finished=time.strftime("%Y-%m-%d %H:%M UTC"))
                    (cell / "result.json").write_text(json.dumps(res, indent=2))
    table(args.tag, args.models, args.seeds)


if __name__ == "__main__":
    main()
