"""The whole DEV workflow, seqalpha vs pyqlib 0.9.7, in fresh processes: wall, CPU, peak RSS.

Workflows (CSI300, DEV split of /work/shared/BENCHMARKS.md, top-k dropout 50/5, its costs):
- lgbm: `seqalpha run examples/csi300_lgbm_alpha158.yaml` vs Qlib's LightGBM/Alpha158 benchmark
  workflow (DatasetH + Alpha158 with its default processors, LGBModel with the benchmark
  hyper-parameters, SignalRecord, SigAnaRecord, PortAnaRecord, limit_threshold 9.5).
- gru: `seqalpha run examples/csi300_gru_alpha360.yaml --set model.params.epochs=1` vs Qlib's
  GRU/Alpha360 benchmark workflow with n_epochs=1 (RobustZScoreNorm + Fillna, DropnaLabel +
  CSRankNorm, hidden 64, 2 layers, batch 800, CPU).

Sides: `seqalpha` (numba cache warmed first by `python -m seqalpha.warmup`, untimed),
`seqalpha-first` (the same run with NUMBA_CACHE_DIR pointed at an empty directory: what a first
run on a new machine pays), `qlib` (a driver script generated from DRIVER below and run with
the pyqlib venv's python: `bash benchmarks/qlib_venv.sh` creates it; pyqlib is not a
dependency). Each cell is one fresh process tree, sampled with psutil every 0.2 s: wall time,
CPU time (user + system of the tree, from wait4 of the root, which includes reaped children),
peak RSS (summed over the tree: pages a forked worker shares with its parent count twice), peak
PSS (shared pages split, read every second) and per-stage figures. Stages start at output
lines: seqalpha's `stage X: start` log lines (STAGE_LINE; older log lines as a fallback) and the
driver's `STAGE <name>` lines (timed inside the driver too).

Results, one JSON per cell and repeat, with the cell's log beside it (benchmarks/out is
git-ignored): benchmarks/out/end_to_end/<tag>__<workflow>__<side>__r<k>.json. A finished
cell is not run again with the same --tag (resume after an interruption); take a new --tag
(or --redo) to measure changed code. The table reports the median over repeats.
Memory: a Qlib GRU run needs about 11 GB, a seqalpha Alpha360 run about 8 GB; cells run one
at a time, each after `--min-free-gb` of memory is available.

Final, 2026-12-03 19:52-20:13 UTC, quiet machine (load 0.7-2.1), commit e5869f3,
`--tag final --workflows lgbm --repeat 3` then `--tag final --workflows gru --repeat 1`
(wall s median (runs) / CPU s / peak PSS of the tree GB; ratio pyqlib/this for wall, CPU, PSS):
| lgbm | seqalpha | 43.8 (42.0, 43.8, 51.1) | 62.5 | 2.57 | 2.13x, 2.43x, 1.13x |
| lgbm | qlib | 93.2 (80.9, 93.2, 106.3) | 152.2 | 2.91 | 1.00x |
| gru (1 epoch) | seqalpha | 228.0 | 233.1 | 6.40 | 1.58x, 2.69x, 1.48x |
| gru (1 epoch) | qlib | 359.1 | 626.6 | 9.45 | 1.00x |
seqalpha lgbm stages: inputs 11.6 s, walk-forward 23.7 s, evaluation+backtest+report 1.3 s,
MLflow 3.6 s, exit 2.2 s (pyqlib: handler 63.1 s, fit 17.1 s, backtest 8.4 s). GRU: seqalpha's
example trains on 1 thread (walk-forward 190 s wall / 196 s CPU); pyqlib's fit 235 s / 446 s.
Test IC: lgbm 0.0197 vs 0.0198; gru after one epoch 0.0162 vs 0.0169.

Measured 2026-12-03 19:19-19:27 UTC on a quiet machine (load 0.6-2.4), `--tag firstrun
--workflows lgbm`, one run per cell (wall s / CPU s / peak RSS of the tree / peak PSS, GB):
| lgbm | seqalpha | 40.0 | 57.6 | 2.58 | 2.58 | pyqlib/this: 3.18x wall, 3.07x CPU, 2.77x RSS |
| lgbm | seqalpha-first (empty numba cache) | 123.3 | 120.5 | 2.66 | 2.58 | 1.03x, 1.47x, 2.69x |
| lgbm | qlib | 127.4 | 177.2 | 7.16 (main 2.9) | 2.89 | 1.00x |
pyqlib: handler 64.6 s, fit 44.7 s, backtest 12.4 s; seqalpha: inputs 12.8 s, walk-forward
20.1 s, evaluation + backtest 0.1 s, report 0.3 s, MLflow tracking 2.7 s; the first run spends
26 s more in inputs, 39 s more in the walk-forward (processors) and 8 s more in the backtest
compiling kernels. Same IC on both seqalpha runs (0.0197); pyqlib 0.0198.

Earlier the same day (`--tag baseline --workflows lgbm`, one run per cell, the shared 2-core
machine under a load average of 5-11 from other jobs, so compare CPU seconds first):
| workflow | side | wall s | CPU s | peak RSS GB (tree) | pyqlib/this: wall, CPU, RSS |
| lgbm | seqalpha | 292.5 | 134.9 | 3.20 | 2.53x, 1.89x, 2.30x |
| lgbm | seqalpha-first (empty numba cache) | 429.9 | 183.0 | 5.62 | 1.72x, 1.39x, 1.31x |
| lgbm | qlib | 739.6 | 254.7 | 7.37 (main 2.90 + workers) | 1.00x |
| gru (1 epoch) | seqalpha | 391.0 | 233.0 | 6.48 | 1.82x, 3.83x, 3.44x |
| gru (1 epoch) | qlib | 712.4 | 893.4 | 22.28 (main 9.41; forked workers) | 1.00x |
(`--tag baseline --workflows gru --sides seqalpha qlib`, load ~5; the tree RSS of pyqlib's GRU
counts pages its backtest workers share with the 9.4 GB parent several times: later runs also
record PSS.) pyqlib's GRU: handler 161 s wall / 145 s CPU, fit (one epoch + its evaluation)
518 / 703; seqalpha's: inputs 41 s, walk-forward 330 s, MLflow tracking 8.7 s. GRU test IC
after one epoch: seqalpha 0.0162, pyqlib 0.0172.
Both lgbm sides reproduce their reference figures (IC: seqalpha 0.0197, pyqlib 0.0198). pyqlib's
stages: handler 401 s wall / 144 s CPU, fit 271 / 87, backtest 55 / 17; seqalpha's: inputs
40 / 17, walk-forward (LightGBM) 219 / 104, backtest and report 16 / 6. The first-run cell
ran on a slightly older tree under a higher load; the compile alone is ~85 s of CPU
(`python -m seqalpha.warmup` with an empty NUMBA_CACHE_DIR).

Usage:
  .venv/bin/python benchmarks/bench_end_to_end.py --tag final [--workflows lgbm gru]
      [--sides seqalpha seqalpha-first qlib] [--repeat 3]
  .venv/bin/python benchmarks/bench_end_to_end.py --tag final --table-only
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out" / "end_to_end"
SIDES = ("seqalpha", "seqalpha-first", "qlib")
WORKFLOWS = {
    "lgbm": {"config": "examples/csi300_lgbm_alpha158.yaml", "sets": []},
    "gru": {"config": "examples/csi300_gru_alpha360.yaml", "sets": ["model.params.epochs=1"]},
}
# seqalpha's stage lines (`stage <name>: start` / `done in`), after an optional time stamp
STAGE_LINE = re.compile(r"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\S* )?stage (\S+): (start|done)")
# older seqalpha without stage lines: log lines that open a stage (a missing one merges stages)
STAGE_PATTERNS = (
    ("inputs", re.compile(r"^building inputs")),
    ("walkforward", re.compile(r"^inputs: ")),
    ("evaluate", re.compile(r"^\d+ windows: ")),
    ("backtest+report", re.compile(r"^backtest: ")),
    ("exit", re.compile(r"^report: ")),
)
DRIVER_STAGE = re.compile(r"^STAGE (\S+)")
SAMPLE_SECONDS = 0.2
PSS_EVERY = 5  # samples between PSS readings (smaps costs more than RSS)
GB = 1024**3

# ----------------------------------------------------------------------------- the pyqlib driver
# Written to OUT/qlib_driver.py and run by the pyqlib venv's python:
#   python qlib_driver.py WORKFLOW DATA_DIR WORK_DIR
DRIVER = r'''"""pyqlib 0.9.7 end-to-end DEV workflow (written by benchmarks/bench_end_to_end.py)."""

import json
import os
import sys
import time

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # Qlib's recorder uses a file store

TRAIN = ("2010-01-01", "2018-12-31")
VALID = ("2019-01-01", "2020-12-31")
TEST = ("2021-01-01", "2022-12-30")
BACKTEST_END = "2022-12-29"  # Qlib's executor needs the trading day after its last step
# Qlib's examples/benchmarks/LightGBM/workflow_config_lightgbm_Alpha158.yaml, 2 threads
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
# Qlib's examples/benchmarks/GRU/workflow_config_gru_Alpha360.yaml, one epoch on the CPU
GRU_KWARGS = {
    "d_feat": 6,
    "hidden_size": 64,
    "num_layers": 2,
    "dropout": 0.0,
    "n_epochs": 1,
    "lr": 1e-3,
    "early_stop": 20,
    "batch_size": 800,
    "metric": "loss",
    "loss": "mse",
    "GPU": -1,
}
PORT_ANALYSIS = {
    "strategy": {
        "class": "TopkDropoutStrategy",
        "module_path": "qlib.contrib.strategy",
        "kwargs": {"signal": "<PRED>", "topk": 50, "n_drop": 5},
    },
    "backtest": {
        "start_time": TEST[0],
        "end_time": BACKTEST_END,
        "account": 100_000_000,
        "benchmark": "SH000300",
        "exchange_kwargs": {
            "freq": "day",
            "limit_threshold": 9.5,  # this data's $change is in percent (BENCHMARKS.md)
            "deal_price": "close",
            "open_cost": 0.0005,
            "close_cost": 0.0015,
            "min_cost": 5,
        },
    },
}

T0 = time.perf_counter()
MARKS = []


def stage(name):
    MARKS.append((name, time.perf_counter() - T0))
    print(f"STAGE {name}", flush=True)


def main():
    workflow, data, work = sys.argv[1:4]
    stage("init")
    import qlib
    from qlib.constant import REG_CN
    from qlib.data.dataset import DatasetH
    from qlib.workflow import R
    from qlib.workflow.record_temp import PortAnaRecord, SigAnaRecord, SignalRecord

    exp_manager = {
        "class": "MLflowExpManager",
        "module_path": "qlib.workflow.expm",
        "kwargs": {"uri": "file:" + os.path.join(work, "mlruns"), "default_exp_name": "bench"},
    }
    qlib.init(provider_uri=data, region=REG_CN, kernels=2, exp_manager=exp_manager)
    stage("handler")
    span = {
        "instruments": "csi300",
        "start_time": TRAIN[0],
        "end_time": TEST[1],
        "fit_start_time": TRAIN[0],
        "fit_end_time": TRAIN[1],
    }
    if workflow == "lgbm":
        from qlib.contrib.data.handler import Alpha158
        from qlib.contrib.model.gbdt import LGBModel

        handler = Alpha158(**span)  # the benchmark yaml keeps Alpha158's default processors
        model = LGBModel(**LGB_KWARGS)
    elif workflow == "gru":
        import torch
        from qlib.contrib.data.handler import Alpha360
        from qlib.contrib.model.pytorch_gru import GRU

        torch.set_num_threads(2)
        handler = Alpha360(
            **span,
            infer_processors=[
                {
                    "class": "RobustZScoreNorm",
                    "kwargs": {"fields_group": "feature", "clip_outlier": True},
                },
                {"class": "Fillna", "kwargs": {"fields_group": "feature"}},
            ],
            learn_processors=[
                {"class": "DropnaLabel"},
                {"class": "CSRankNorm", "kwargs": {"fields_group": "label"}},
            ],
        )
        model = GRU(**GRU_KWARGS)
    else:
        raise SystemExit(f"unknown workflow {workflow!r}")
    dataset = DatasetH(handler, segments={"train": TRAIN, "valid": VALID, "test": TEST})
    with R.start(experiment_name="bench"):
        stage("fit")
        model.fit(dataset)
        R.save_objects(**{"params.pkl": model})
        recorder = R.get_recorder()
        stage("predict")
        SignalRecord(model=model, dataset=dataset, recorder=recorder).generate()
        stage("signal_analysis")
        SigAnaRecord(recorder).generate()
        stage("backtest")
        PortAnaRecord(recorder, PORT_ANALYSIS, "day").generate()
        metrics = recorder.list_metrics()
    stage("exit")
    seconds = {}
    for (name, t), (_, t1) in zip(MARKS[:-1], MARKS[1:], strict=True):
        seconds[name] = round(t1 - t, 3)
    print("QLIB_RESULT " + json.dumps({"seconds": seconds, "metrics": metrics}), flush=True)


main()
'''


# ----------------------------------------------------------------------------- measuring
@dataclass
class Measured:
    """One finished process tree: totals, samples (t, rss_tree, rss_root, cpu_tree) and lines."""

    returncode: int
    wall: float
    cpu: float
    cpu_sampled: float
    maxrss_single_gb: float
    samples: list[tuple[float, float, float, float]] = field(default_factory=list)
    lines: list[tuple[float, str, str]] = field(default_factory=list)
    max_procs: int = 1
    timed_out: bool = False
    peak_pss_gb: float = 0.0  # proportional set size: pages shared by forked workers once

    @property
    def peak_rss_gb(self) -> float:
        return max((s[1] for s in self.samples), default=0.0) / GB

    @property
    def peak_rss_root_gb(self) -> float:
        return max((s[2] for s in self.samples), default=0.0) / GB


def tree_pss(tree: list) -> float:
    """Sum of the processes' proportional set sizes (bytes): RSS with shared pages split."""
    total = 0.0
    for p in tree:
        try:
            total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, AttributeError):
            continue
    return total


def _reader(stream, name: str, t0: float, lines: list, log) -> None:
    for line in iter(stream.readline, ""):
        t = time.perf_counter() - t0
        lines.append((t, name, line.rstrip("\n")))
        log.write(f"{t:9.2f} {name} {line}")
        log.flush()
    stream.close()


def run_measured(cmd: list[str], env: dict, cwd: Path, log_path: Path, timeout: float) -> Measured:
    """Run `cmd` as a new session, sample its tree every SAMPLE_SECONDS, reap it with wait4."""
    lines: list[tuple[float, str, str]] = []
    samples: list[tuple[float, float, float, float]] = []
    last_cpu: dict[tuple[int, float], float] = {}  # (pid, create_time) -> user + system
    max_procs, peak_pss, n = 1, 0.0, 0
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        readers = [
            threading.Thread(target=_reader, args=(s, n, t0, lines, log), daemon=True)
            for s, n in ((proc.stdout, "out"), (proc.stderr, "err"))
        ]
        for r in readers:
            r.start()
        root = psutil.Process(proc.pid)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            t = time.perf_counter() - t0
            if pid:
                break
            rss = rss_root = 0.0
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                tree = []
            for p in tree:
                try:
                    with p.oneshot():
                        mem, cpu, ctime = p.memory_info().rss, p.cpu_times(), p.create_time()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                rss += mem
                if p.pid == proc.pid:
                    rss_root = mem
                last_cpu[(p.pid, ctime)] = cpu.user + cpu.system
            max_procs = max(max_procs, len(tree))
            n += 1
            if n % PSS_EVERY == 0:
                peak_pss = max(peak_pss, tree_pss(tree))
            samples.append((t, rss, rss_root, sum(last_cpu.values())))
            if t > timeout and not timed_out:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)  # the session we started, nothing else
            time.sleep(SAMPLE_SECONDS)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        for r in readers:
            r.join(timeout=10)
    return Measured(
        returncode=proc.returncode,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        cpu_sampled=sum(last_cpu.values()),
        maxrss_single_gb=usage.ru_maxrss * 1024 / GB,  # ru_maxrss is in KiB on Linux
        samples=samples,
        lines=lines,
        max_procs=max_procs,
        timed_out=timed_out,
        peak_pss_gb=peak_pss / GB,
    )


def stage_marks(lines: list[tuple[float, str, str]], side: str) -> list[tuple[str, float]]:
    """(stage name, start second) from the output lines; the first stage starts at 0.

    seqalpha's `stage X: start` lines when it writes them (the time after `stage X: done` until
    the next start is `after X`), else its older log lines; the driver's `STAGE X` lines."""
    marks = [("startup", 0.0)]
    seen: set[str] = set()
    explicit = side != "qlib" and any(STAGE_LINE.match(ln.strip()) for _, _, ln in lines)
    for t, _, line in lines:
        text = line.strip()
        if side == "qlib":
            hit = DRIVER_STAGE.match(text)
            name = hit.group(1) if hit else None
        elif explicit:
            hit = STAGE_LINE.match(text)
            name = None if not hit else hit.group(1) if hit.group(2) == "start" else None
            if hit and hit.group(2) == "done":
                name = f"after {hit.group(1)}"
        else:
            name = next((n for n, pat in STAGE_PATTERNS if pat.match(text)), None)
        if name and name not in seen:
            seen.add(name)
            marks.append((name, t))
    return marks


def read_log(path: Path) -> list[tuple[float, str, str]]:
    """The (second, stream, line) records of a cell's log (see `_reader`)."""
    out = []
    for line in path.read_text(errors="replace").splitlines()[1:]:
        head = line[:14].split()
        if len(head) == 2 and head[1] in ("out", "err"):
            try:
                out.append((float(head[0]), head[1], line[14:]))
            except ValueError:
                continue
    return out


def downsample(samples: list, step: float = 1.0) -> list[list[float]]:
    """About one sample per `step` seconds, each the peak RSS of its span (t, rss, root, cpu)."""
    out: list[list[float]] = []
    for t, rss, root, cpu in samples:
        if out and t - out[-1][0] < step:
            last = out[-1]
            last[1], last[2], last[3] = max(last[1], rss), max(last[2], root), cpu
        else:
            out.append([round(t, 2), rss, root, cpu])
    return out


def restage(r: dict, log_path: Path) -> list[dict]:
    """The stages of a saved cell recomputed from its log (newer stage lines), when possible."""
    if not r.get("samples_1s") or not log_path.is_file():
        return r["stages"]
    m = Measured(
        returncode=r["returncode"],
        wall=r["wall_s"],
        cpu=r["cpu_s"],
        cpu_sampled=r["cpu_s_sampled"],
        maxrss_single_gb=r["maxrss_single_process_gb"],
        samples=[tuple(s) for s in r["samples_1s"]],
    )
    return stage_table(m, stage_marks(read_log(log_path), r["side"]))


def stage_table(m: Measured, marks: list[tuple[str, float]]) -> list[dict]:
    """Wall, CPU (sampled tree) and peak RSS of each stage between consecutive marks."""

    def cpu_at(t: float) -> float:
        before = [s[3] for s in m.samples if s[0] <= t]
        return before[-1] if before else 0.0

    bounds = [*marks, ("end", m.wall)]
    out = []
    for (name, t0), (_, t1) in itertools.pairwise(bounds):
        if name.startswith("after ") and t1 - t0 < 0.5:
            continue  # the next stage started right away
        inside = [s[1] for s in m.samples if t0 <= s[0] <= t1]
        inside = inside or [s[1] for s in m.samples if s[0] <= t0][-1:]  # a short stage
        cpu1 = m.cpu if t1 == m.wall else cpu_at(t1)
        out.append(
            {
                "stage": name,
                "wall_s": round(t1 - t0, 2),
                "cpu_s": round(max(cpu1 - cpu_at(t0), 0.0), 2),
                "peak_rss_gb": round(max(inside, default=0.0) / GB, 3),
            }
        )
    return out


# ----------------------------------------------------------------------------- the cells
def qlib_python() -> str:
    """The pyqlib venv's python (created by benchmarks/qlib_venv.sh when missing)."""
    done = subprocess.run(
        ["bash", str(HERE / "qlib_venv.sh")], capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def wait_for_memory(min_free_gb: float, max_wait: float) -> float:
    """Block until `min_free_gb` is available (checked every 30 s); returns the available GB."""
    t0 = time.monotonic()
    while True:
        avail = psutil.virtual_memory().available / GB
        if avail >= min_free_gb:
            return avail
        if time.monotonic() - t0 > max_wait:
            raise SystemExit(
                f"error: only {avail:.1f} GB available after waiting {max_wait:.0f}s "
                f"(--min-free-gb {min_free_gb})"
            )
        print(f"  waiting: {avail:.1f} GB available, need {min_free_gb}", flush=True)
        time.sleep(30)


def git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def cell_path(tag: str, workflow: str, side: str, rep: int) -> Path:
    return OUT / f"{tag}__{workflow}__{side}__r{rep}.json"


def snapshot(rev: str) -> tuple[Path, str]:
    """`git archive REV` extracted under OUT (reused): a fixed tree amid concurrent edits."""
    done = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=REPO, capture_output=True, text=True
    )
    commit = done.stdout.strip()
    if done.returncode != 0 or not commit:
        raise SystemExit(f"error: --snapshot {rev!r}: not a git revision of {REPO}")
    dest = OUT / f"snapshot-{commit}"
    if not (dest / "src" / "seqalpha").is_dir():
        tmp = Path(tempfile.mkdtemp(prefix=".snapshot-", dir=OUT))
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit], cwd=REPO, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
        tmp.rename(dest)
    return dest, commit


def seqalpha_command(workflow: str, data: Path, run_dir: Path) -> list[str]:
    wf = WORKFLOWS[workflow]
    seqalpha = [str(REPO / ".venv" / "bin" / "python"), "-m", "seqalpha.cli"]
    cmd = [*seqalpha, "run", wf["config"], "--out", str(run_dir)]
    cmd += ["--fresh", "--data-dir", str(data)]
    for s in wf["sets"]:
        cmd += ["--set", s]
    return cmd


def seqalpha_results(run_dir: Path) -> dict:
    """The run's own timings and headline metrics from metrics.json (what exists of them)."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return {}
    m = json.loads(path.read_text())
    keep = {k: v for k, v in m.items() if k.startswith("seconds")}
    keep.update({k: m[k] for k in ("ic", "rank_ic", "icir", "rank_icir") if k in m})
    overall = m.get("overall", {})
    keep.update({k: overall[k] for k in ("AlphaRtn", "AlphaRtnNC", "AlphaSharpe") if k in overall})
    return keep


def qlib_results(m: Measured) -> dict:
    line = [ln for _, _, ln in m.lines if ln.startswith("QLIB_RESULT ")]
    if not line:
        return {}
    res = json.loads(line[-1][len("QLIB_RESULT ") :])
    met = res.get("metrics", {})
    keep = {f"seconds_{k}": v for k, v in res.get("seconds", {}).items()}
    for ours, theirs in (
        ("ic", "IC"),
        ("rank_ic", "Rank IC"),
        ("icir", "ICIR"),
        ("rank_icir", "Rank ICIR"),
        ("AlphaRtn", "1day.excess_return_with_cost.annualized_return"),
        ("AlphaRtnNC", "1day.excess_return_without_cost.annualized_return"),
        ("AlphaSharpe", "1day.excess_return_with_cost.information_ratio"),
    ):
        if theirs in met:
            keep[ours] = met[theirs]
    return keep


def run_cell(args, workflow: str, side: str, rep: int, qpy: str | None) -> dict | None:
    """Measure one (workflow, side, repeat); returns the result written to its JSON."""
    log_path = cell_path(args.tag, workflow, side, rep).with_suffix(".log")
    work = Path(tempfile.mkdtemp(prefix=f"e2e_{workflow}_{side}_"))
    env = dict(os.environ, PYTHONUNBUFFERED="1", MLFLOW_ALLOW_FILE_STORE="true")
    env.pop("NUMBA_CACHE_DIR", None)
    cwd = REPO
    if side != "qlib" and args.src is not None:  # seqalpha from the snapshot's src/
        cwd = args.src
        env["PYTHONPATH"] = os.pathsep.join([str(args.src / "src"), env.get("PYTHONPATH", "")])
    try:
        if side == "qlib":
            driver = OUT / "qlib_driver.py"
            driver.write_text(DRIVER)
            cmd = [qpy, str(driver), workflow, str(args.data), str(work)]
        else:
            cmd = seqalpha_command(workflow, args.data, work / "run")
            if side == "seqalpha-first":
                (work / "numba_cache").mkdir()
                env["NUMBA_CACHE_DIR"] = str(work / "numba_cache")
            else:  # the numba cache is current (edits to a kernel's file invalidate it)
                subprocess.run(
                    [str(REPO / ".venv" / "bin" / "python"), "-m", "seqalpha.warmup"],
                    cwd=cwd,
                    env=env,
                    check=True,
                    capture_output=True,
                )
        avail = wait_for_memory(args.min_free_gb, args.max_wait)
        load0 = os.getloadavg()
        print(f"  {workflow} / {side} / r{rep}: {' '.join(cmd)}", flush=True)
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        m = run_measured(cmd, env, cwd, log_path, args.timeout)
        marks = stage_marks(m.lines, side)
        produced = qlib_results(m) if side == "qlib" else seqalpha_results(work / "run")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "workflow": workflow,
        "side": side,
        "repeat": rep,
        "tag": args.tag,
        "commit": args.commit if side != "qlib" else "-",
        "started_utc": started,
        "command": cmd,
        "returncode": m.returncode,
        "timed_out": m.timed_out,
        "wall_s": round(m.wall, 2),
        "cpu_s": round(max(m.cpu, m.cpu_sampled), 2),
        "cpu_s_wait4": round(m.cpu, 2),
        "cpu_s_sampled": round(m.cpu_sampled, 2),
        "peak_rss_gb": round(m.peak_rss_gb, 3),
        "peak_rss_root_gb": round(m.peak_rss_root_gb, 3),
        "peak_pss_gb": round(m.peak_pss_gb, 3),
        "maxrss_single_process_gb": round(m.maxrss_single_gb, 3),
        "max_processes": m.max_procs,
        "stages": stage_table(m, marks),
        "samples_1s": downsample(m.samples),
        "produced": produced,
        "loadavg_start": load0,
        "loadavg_end": os.getloadavg(),
        "mem_available_gb_start": round(avail, 1),
        "cpu_count": os.cpu_count(),
    }
    if m.returncode != 0:
        tail = "\n".join(ln for _, _, ln in m.lines[-15:])
        print(f"  FAILED (exit {m.returncode}); log {log_path}\n{tail}", flush=True)
        cell_path(args.tag, workflow, side, rep).with_suffix(".failed.json").write_text(
            json.dumps(result, indent=1)
        )
        return None
    cell_path(args.tag, workflow, side, rep).write_text(json.dumps(result, indent=1))
    print(
        f"    wall {result['wall_s']:.1f}s  cpu {result['cpu_s']:.1f}s  "
        f"peak RSS {result['peak_rss_gb']:.2f} GB  (load {load0[0]:.1f})",
        flush=True,
    )
    return result


# ----------------------------------------------------------------------------- the table
def load_results(tag: str) -> dict[tuple[str, str], list[dict]]:
    cells: dict[tuple[str, str], list[dict]] = {}
    for path in sorted(OUT.glob(f"{tag}__*__r*.json")):
        if path.name.endswith(".failed.json"):
            continue
        r = json.loads(path.read_text())
        r["stages"] = restage(r, path.with_suffix(".log"))
        cells.setdefault((r["workflow"], r["side"]), []).append(r)
    return cells


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def print_table(tag: str) -> None:
    cells = load_results(tag)
    if not cells:
        print(f"no results for tag {tag!r} under {OUT}")
        return
    print(f"\nend-to-end DEV workflows, tag {tag!r} (median over repeats; ratio = pyqlib / row)\n")
    print(
        "| workflow | side | runs | wall s | CPU s | peak RSS GB | peak PSS GB | "
        "pyqlib/this wall | pyqlib/this CPU | pyqlib/this RSS |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for wf in WORKFLOWS:
        q = cells.get((wf, "qlib"))
        for side in SIDES:
            rows = cells.get((wf, side))
            if not rows:
                continue
            med = {k: _median(rows, k) for k in ("wall_s", "cpu_s", "peak_rss_gb")}
            ratios = ["-"] * 3
            if q:
                ratios = [
                    f"{_median(q, k) / med[k]:.2f}x" if med[k] else "-"
                    for k in ("wall_s", "cpu_s", "peak_rss_gb")
                ]
            pss = [r["peak_pss_gb"] for r in rows if r.get("peak_pss_gb")]
            pss_s = f"{statistics.median(pss):.2f}" if pss else "-"
            print(
                f"| {wf} | {side} | {len(rows)} | {med['wall_s']:.1f} | {med['cpu_s']:.1f} | "
                f"{med['peak_rss_gb']:.2f} | {pss_s} | {' | '.join(ratios)} |"
            )
    print("\nstages (the run closest to the median wall time of each cell)\n")
    print("| workflow | side | stage | wall s | CPU s | peak RSS GB |")
    print("|---|---|---|---|---|---|")
    for (wf, side), rows in cells.items():
        mid = _median(rows, "wall_s")
        r = min(rows, key=lambda r: abs(r["wall_s"] - mid))
        for s in r["stages"]:
            print(
                f"| {wf} | {side} | {s['stage']} | {s['wall_s']:.1f} | {s['cpu_s']:.1f} | "
                f"{s['peak_rss_gb']:.2f} |"
            )
    print("\nwhat each run produced (test period; AlphaRtn = annualized excess return with cost)\n")
    print("| workflow | side | IC | Rank IC | AlphaRtn | AlphaRtnNC | load avg | commit |")
    print("|---|---|---|---|---|---|---|---|")
    for (wf, side), rows in cells.items():
        for r in rows:
            p = r.get("produced", {})

            def fmt(k: str, pct: bool = False, p=p) -> str:
                v = p.get(k)
                return "-" if v is None else (f"{v:.2%}" if pct else f"{v:.4f}")

            load = f"{r['loadavg_start'][0]:.1f}->{r['loadavg_end'][0]:.1f}"
            print(
                f"| {wf} | {side} r{r['repeat']} | {fmt('ic')} | {fmt('rank_ic')} | "
                f"{fmt('AlphaRtn', True)} | {fmt('AlphaRtnNC', True)} | {load} | {r['commit']} |"
            )


def default_data() -> Path:
    sys.path.insert(0, str(REPO / "src"))
    from seqalpha.paths import shared_data_dir

    return shared_data_dir("cn_csi300").resolve()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workflows", nargs="+", choices=list(WORKFLOWS), default=["lgbm", "gru"])
    ap.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell (the table: median)")
    ap.add_argument("--tag", default="default", help="result set; same tag = resume")
    ap.add_argument("--redo", action="store_true", help="re-measure cells already saved")
    ap.add_argument("--table-only", action="store_true", help="print the table from saved JSON")
    ap.add_argument("--data", type=Path, default=None, help="cn_csi300 (default: seqalpha.paths)")
    ap.add_argument(
        "--snapshot",
        default=None,
        metavar="REV",
        help="run seqalpha from `git archive REV` (e.g. HEAD) instead of the working tree",
    )
    ap.add_argument("--min-free-gb", type=float, default=12.0)
    ap.add_argument("--max-wait", type=float, default=3600.0, help="seconds to wait for memory")
    ap.add_argument("--timeout", type=float, default=4 * 3600.0, help="seconds per cell")
    args = ap.parse_args()
    if "__" in args.tag or "/" in args.tag:
        raise SystemExit(f"error: --tag {args.tag!r}: no '__' or '/'")
    OUT.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        args.data = (args.data or default_data()).resolve()
        if not (args.data / "calendars" / "day.txt").is_file():
            raise SystemExit(f"error: --data {args.data}: no calendars/day.txt (a Qlib store)")
        args.src, args.commit = None, git_commit() + "+worktree"
        if args.snapshot:
            args.src, args.commit = snapshot(args.snapshot)
        qpy = qlib_python() if "qlib" in args.sides else None
        for rep in range(args.repeat):
            for wf in args.workflows:
                for side in args.sides:
                    if cell_path(args.tag, wf, side, rep).is_file() and not args.redo:
                        print(f"  {wf} / {side} / r{rep}: saved, skipped", flush=True)
                        continue
                    run_cell(args, wf, side, rep, qpy)
    print_table(args.tag)


if __name__ == "__main__":
    main()
