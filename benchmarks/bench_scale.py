"""Full-market scale benchmark: wall time and peak RSS of each step, each run as a fresh child
process (peak RSS = the largest process of the step, from wait4's rusage), results appended to
benchmarks/out/scale/results.jsonl and printed as a table (cost per stock-day included).

Steps (run the heavy ones under the machine's lock, one at a time):
  synth     the synthetic market (5,000 x 3,000 daily; or 5,000 x 250 one-minute bars)
  run       `seqalpha run` of benchmarks/configs/scale_full_lgbm.yaml (Alpha158 to the on-disk
            store, LightGBM yearly expanding walk-forward, backtest) on a market
  intraday  intraday daily features of one-minute bars into a feature store, by chunks of days
  ray       a 12-window walk-forward on 1, 2, 3 local Ray nodes (one CPU each)
  qlib      pyqlib 0.9.7's Alpha158 handler + LGBModel on the same store, under a memory cap
  table     print the table of every recorded result

  flock /tmp/seqalpha-heavy.lock .venv/bin/python benchmarks/bench_scale.py synth \
      --out /tmp/scale/full --n-stocks 5000 --n-days 3000 --bar-minutes 30 --minute-days 0
  flock /tmp/seqalpha-heavy.lock .venv/bin/python benchmarks/bench_scale.py run \
      --market /tmp/scale/full
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "scale"
PY = sys.executable
SEQALPHA = str(Path(PY).parent / "seqalpha")


def measure(cmd: list[str], env: dict | None = None, limit_gb: float | None = None) -> dict:
    """Run cmd as a child; wall seconds, CPU seconds, peak RSS (GB) and exit code."""
    t0 = time.perf_counter()

    def cap() -> None:  # address-space cap of the child (so that it cannot take the machine)
        if limit_gb is not None:
            n = int(limit_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (n, n))

    proc = subprocess.Popen(cmd, env=env, preexec_fn=cap if limit_gb else None)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    return {
        "cmd": " ".join(cmd),
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_gb": round(usage.ru_maxrss / 2**20, 2),
        "exit": os.waitstatus_to_exitcode(status),
    }


def record(row: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    row["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(OUT / "results.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row))


def market_size(market: Path) -> tuple[int, int, int]:
    """(stocks, days, bars a day) of a synthetic market from its meta.json."""
    cfg = json.loads((market / "meta.json").read_text())["config"]
    return int(cfg["n_stocks"]), int(cfg["n_days"]), 240 // int(cfg["bar_minutes"])


# ----------------------------------------------------------------------------------- steps


def step_synth(a) -> None:
    cmd = [SEQALPHA, "data", "synth", str(a.out), "--overwrite"]
    cmd += ["--n-stocks", str(a.n_stocks), "--n-days", str(a.n_days)]
    cmd += ["--bar-minutes", str(a.bar_minutes), "--chunk-days", str(a.chunk_days), "--seed", "1"]
    if a.minute_days is not None:
        cmd += ["--minute-days", str(a.minute_days)]
    row = measure(cmd)
    stock_days = a.n_stocks * a.n_days
    record(
        {
            "step": f"synth {a.n_stocks}x{a.n_days} bar={a.bar_minutes}m",
            **row,
            "stock_days": stock_days,
            "us_per_stock_day": round(row["wall_s"] / stock_days * 1e6, 2),
        }
    )


def step_run(a) -> None:
    out = Path(a.out or OUT / "run")
    cmd = [
        SEQALPHA,
        "run",
        str(ROOT / "benchmarks/configs/scale_full_lgbm.yaml"),
        "--out",
        str(out),
        "--set",
        f"data.dir={a.market}",
        "--fresh",
    ]
    for s in a.set or []:
        cmd += ["--set", s]
    env = dict(os.environ, SEQALPHA_SCRATCH=str(a.scratch)) if a.scratch else None
    row = measure(cmd, env=env)
    n, t, _ = market_size(Path(a.market))
    m = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").exists() else {}
    stages = {k: m.get(k) for k in ("seconds_inputs", "seconds_walkforward", "seconds_pipeline")}
    sd = n * t
    per = {f"us_per_stock_day_{k[8:]}": round(v / sd * 1e6, 2) for k, v in stages.items() if v}
    record(
        {
            "step": f"run alpha158+lgbm {n}x{t}",
            **row,
            **stages,
            **per,
            "n_windows": m.get("n_windows"),
            "ic": m.get("ic"),
            "stock_days": sd,
        }
    )


def _intraday_child(a) -> None:
    """In the child: intraday daily features by chunks of days, written into a feature store."""
    from seqalpha.features.store import intraday_into_store

    store = intraday_into_store(
        Path(a.market) / "minute", window=a.window, chunk_days=a.chunk, bar_minutes=a.bar_minutes
    )
    print(json.dumps({"features": len(store.names), "shape": list(store.shape)}))


def step_intraday(a) -> None:
    cmd = [
        PY,
        __file__,
        "_intraday",
        "--market",
        str(a.market),
        "--chunk",
        str(a.chunk),
        "--window",
        str(a.window),
        "--bar-minutes",
        str(a.bar_minutes),
    ]
    row = measure(cmd)
    n, t, b = market_size(Path(a.market))
    record(
        {
            "step": f"intraday {n}x{t}x{b} bars -> {a.bar_minutes}m features",
            **row,
            "stock_days": n * t,
            "us_per_stock_day": round(row["wall_s"] / (n * t) * 1e6, 2),
        }
    )


def _ray_child(a) -> None:
    """In the child: the 12-window walk-forward on a local cluster of `nodes` nodes."""
    import numpy as np

    from seqalpha.config import config_from_dict
    from seqalpha.train.executors import RayExecutor
    from seqalpha.train.inputs import Inputs
    from seqalpha.train.raycluster import LocalRayCluster
    from seqalpha.train.walkforward import run_walkforward

    os.environ["RAY_AUTH_MODE"] = "disabled"
    rng = np.random.default_rng(0)
    T, N, F = 142, a.stocks, 20  # 12 windows of 10 test days
    x = rng.normal(size=(T, N, F)).astype(np.float32)
    y = (x[:, :, :1] * 0.2 + rng.normal(size=(T, N, 1))).astype(np.float32)
    dates = np.busday_offset(np.datetime64("2020-01-02"), np.arange(T), roll="forward")
    inp = Inputs(
        dates,
        [f"S{i:04d}" for i in range(N)],
        x,
        None,
        y,
        np.ones((T, N), bool),
        [f"f{k}" for k in range(F)],
        ["LABEL0"],
        1,
    )
    cfg = config_from_dict(
        {
            "data": {"dir": "/tmp"},
            "model": {"name": "lgbm", "params": {"n_estimators": 100, "num_threads": 1}},
            "features": {"library": "none", "extra": {"f": "$close"}},
            "walkforward": {"schedule": "rolling", "step": 10, "train_days": 20, "valid_days": 3},
        }
    )
    with LocalRayCluster(nodes=a.nodes, cpus=1) as cluster:
        ex = RayExecutor(address=cluster.address)
        ex.wait_for_nodes(a.nodes)
        t0 = time.perf_counter()
        state = run_walkforward(
            cfg, Path(a.out) / f"ray{a.nodes}", inputs=inp, executor=ex, fresh=True
        )
        wall = time.perf_counter() - t0
        ex.close()
    print(json.dumps({"nodes": a.nodes, "windows": len(state.windows), "walkforward_s": wall}))
    (Path(a.out) / f"ray{a.nodes}.json").write_text(json.dumps({"walkforward_s": wall}))


def step_ray(a) -> None:
    out = OUT / "ray"
    out.mkdir(parents=True, exist_ok=True)
    for nodes in a.nodes:
        cmd = [
            PY,
            __file__,
            "_ray",
            "--nodes",
            str(nodes),
            "--out",
            str(out),
            "--stocks",
            str(a.stocks),
        ]
        row = measure(cmd)
        wf = json.loads((out / f"ray{nodes}.json").read_text())["walkforward_s"]
        record(
            {
                "step": f"ray 12-window walk-forward, {nodes} node(s) x 1 CPU",
                **row,
                "walkforward_s": round(wf, 1),
            }
        )


def step_qlib(a) -> None:
    venv = ROOT / "benchmarks" / ".qlib-venv" / "bin" / "python"
    cmd = [str(venv), str(ROOT / "benchmarks" / "qlib_scale.py"), "--market", str(a.market)]
    row = measure(cmd, limit_gb=a.mem_gb)
    n, t, _ = market_size(Path(a.market))
    record({"step": f"pyqlib 0.9.7 alpha158+lgbm {n}x{t} (RLIMIT_AS {a.mem_gb} GB)", **row})


def step_stages(a) -> None:
    """CPU seconds per stock-day of each stage, in this process (CPU time: robust to a loaded
    machine; LightGBM's threads included): features into the store, processors (robust z-score
    + fillna, fitted on the first 60% of days, applied to all), the LightGBM walk-forward of the
    config (Dataset from the store + boosting + prediction), the backtest."""
    import warnings

    from seqalpha.config import load_config
    from seqalpha.pipeline import run_backtest
    from seqalpha.train.executors import LocalExecutor
    from seqalpha.train.inputs import build_inputs
    from seqalpha.train.splits import make_windows
    from seqalpha.train.walkforward import walk_forward
    from seqalpha.train.window import store_chain, train_spec

    cfg = load_config(
        ROOT / "benchmarks/configs/scale_full_lgbm.yaml", sets=[f"data.dir={a.market}"]
    )
    n, t, _ = market_size(Path(a.market))
    cpu: dict[str, float] = {}
    c0 = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = build_inputs(cfg.data, cfg.features, cfg.labels)
    cpu["features"] = time.process_time() - c0
    T = len(inputs.dates)
    fit = inputs.mask.copy()
    fit[int(T * 0.6) :] = False
    c0 = time.process_time()
    items = [{"name": "robust_zscore"}, {"name": "fillna"}]
    out, _ = store_chain(inputs.features, 0, T, items, fit, inputs.mask, {"label": inputs.labels})
    cpu["processors"] = time.process_time() - c0
    del out
    spec = train_spec(cfg)
    windows = make_windows(inputs.dates, cfg.walkforward, cfg.embargo, spec.lookback)
    c0 = time.process_time()
    preds = walk_forward(inputs, windows, spec, LocalExecutor())
    cpu["walkforward"] = time.process_time() - c0
    c0 = time.process_time()
    run_backtest(cfg, preds)
    cpu["backtest"] = time.process_time() - c0
    sd = n * t
    test_sd = int(preds.mask.sum())
    record(
        {
            "step": f"stages (CPU) {n}x{t}, {len(windows)} windows",
            **{f"cpu_{k}_s": round(v, 1) for k, v in cpu.items()},
            "us_cpu_per_stock_day": {
                "features": round(cpu["features"] / sd * 1e6, 2),
                "processors": round(cpu["processors"] / sd * 1e6, 2),
                "walkforward_per_test_stock_day": round(cpu["walkforward"] / test_sd * 1e6, 1),
                "backtest_per_test_stock_day": round(cpu["backtest"] / test_sd * 1e6, 2),
            },
            "features": len(inputs.feature_names),
            "stock_days": sd,
            "test_stock_days": test_sd,
        }
    )


def _features_child(a) -> None:
    """In the child: the inputs stage of the config (Alpha158 into the on-disk store, labels)."""
    import warnings

    from seqalpha.config import load_config
    from seqalpha.train.inputs import build_inputs

    cfg = load_config(
        ROOT / "benchmarks/configs/scale_full_lgbm.yaml", sets=[f"data.dir={a.market}"]
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = build_inputs(cfg.data, cfg.features, cfg.labels)
    store = inputs.features
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - t0,
                "shape": list(store.shape),
                "store_gb": store.nbytes / 1e9,
            }
        )
    )
    (OUT / "features.json").write_text(
        json.dumps({"store_gb": store.nbytes / 1e9, "shape": list(store.shape)})
    )


def step_features(a) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    row = measure([PY, __file__, "_features", "--market", str(a.market)])
    n, t, _ = market_size(Path(a.market))
    info = json.loads((OUT / "features.json").read_text())
    record(
        {
            "step": f"inputs: alpha158 -> store {n}x{t}",
            **row,
            **info,
            "stock_days": n * t,
            "us_per_stock_day": round(row["wall_s"] / (n * t) * 1e6, 2),
        }
    )


def step_table(a) -> None:
    rows = (
        [json.loads(line) for line in open(OUT / "results.jsonl")]
        if (OUT / "results.jsonl").exists()
        else []
    )
    cols = [
        "step",
        "wall_s",
        "cpu_s",
        "peak_rss_gb",
        "exit",
        "us_per_stock_day",
        "walkforward_s",
        "when",
    ]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="step", required=True)
    s = sub.add_parser("synth")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--n-stocks", type=int, default=5000)
    s.add_argument("--n-days", type=int, default=3000)
    s.add_argument("--bar-minutes", type=int, default=30)
    s.add_argument("--minute-days", type=int, default=None)
    s.add_argument("--chunk-days", type=int, default=50)
    s = sub.add_parser("run")
    s.add_argument("--market", type=Path, required=True)
    s.add_argument("--out", type=Path, default=None)
    s.add_argument("--scratch", type=Path, default=None)
    s.add_argument("--set", action="append")
    for name in ("intraday", "_intraday"):
        s = sub.add_parser(name)
        s.add_argument("--market", type=Path, required=True)
        s.add_argument("--chunk", type=int, default=10)
        s.add_argument("--window", type=int, default=20)
        s.add_argument("--bar-minutes", type=int, default=1)
    s = sub.add_parser("ray")
    s.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3])
    s.add_argument("--stocks", type=int, default=300)
    s = sub.add_parser("_ray")
    s.add_argument("--nodes", type=int, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--stocks", type=int, default=300)
    s = sub.add_parser("qlib")
    s.add_argument("--market", type=Path, required=True)
    s.add_argument("--mem-gb", type=float, default=8.0)
    for name in ("features", "_features"):
        s = sub.add_parser(name)
        s.add_argument("--market", type=Path, required=True)
    s = sub.add_parser("stages")
    s.add_argument("--market", type=Path, required=True)
    sub.add_parser("table")
    a = p.parse_args()
    {
        "synth": step_synth,
        "run": step_run,
        "intraday": step_intraday,
        "_intraday": _intraday_child,
        "ray": step_ray,
        "_ray": _ray_child,
        "qlib": step_qlib,
        "stages": step_stages,
        "features": step_features,
        "_features": _features_child,
        "table": step_table,
    }[a.step](a)


if __name__ == "__main__":
    main()
