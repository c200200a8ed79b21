"""Real intraday study: rolling walk-forward on the real 15-minute A-share bars (as 30-minute bars).

    .venv/bin/python benchmarks/real_intraday_study.py [--data-dir runs/real_intraday]
        [--out runs/real_intraday_study] [--models lgbm,gru,transformer] [--horizons 1,5]
    [--seq-len 5] [--train-days 80]

gru and transformer on intraday sequences (seq_len days x 8 bars) against lgbm on the daily
aggregates of the same bars (features.library intraday, bars false); one run per model x label
horizon (1-day and 5-day forward returns), all on the same test period. Each run is the
equivalent of the printed `seqalpha train` command; prints test IC, Rank IC, ICIR per cell and
writes OUT/results.json. Prepares the data directory first when it is missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "minute_transformer.yaml"

# Coarse settings that fit a shared 2-core machine (one thread each).
# test from the 92nd of 183 days (the last 91 days); train_days <= 85 - seq_len (look-back + 6-day
# embargo of the 5-day label must fit before it): 80 for seq_len 5, 66 for seq_len 20
SCHEDULE = {
    "walkforward.step": "20",
    "walkforward.train_days": "80",
    "walkforward.valid_days": "5",
    "walkforward.test_start": "2025-05-26",
}
SEQ = (
    "input_kind: intraday_seq, seq_len: 5, epochs: 3, patience: 1, days_per_batch: 2, "
    "max_stocks: 400, threads: 1"
)
MODELS = {
    "gru": {"model.name": "gru", "model.params": f"{{{SEQ}, hidden_size: 32, num_layers: 1}}"},
    "transformer": {
        "model.name": "transformer",
        "model.params": f"{{{SEQ}, d_model: 32, num_heads: 4, num_layers: 1, "
        "dim_feedforward: 64, pos_encoding: learnable}",
    },
    "lgbm": {
        "features.bars": "false",
        "model.name": "lgbm",
        "model.params": "{num_threads: 1, n_estimators: 200}",
    },
}


def _prepare(data_dir: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "prep", ROOT / "scripts" / "prepare_real_intraday.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    s = mod.prepare(data_dir)
    print(
        f"prepared {data_dir}: {s['n_stocks']} stocks x {s['n_dates']} days, "
        f"{s['n_events']} corporate-action events"
    )


def main(argv: list[str] | None = None) -> int:
    from seqalpha.pipeline import train_command

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(ROOT / "runs" / "real_intraday"))
    ap.add_argument("--out", default=str(ROOT / "runs" / "real_intraday_study"))
    ap.add_argument("--models", default="lgbm,gru,transformer")
    ap.add_argument("--horizons", default="1,5")
    ap.add_argument("--seq-len", type=int, default=5, help="days of 8 bars per sequence")
    ap.add_argument("--train-days", type=int, default=80)
    a = ap.parse_args(argv)
    data_dir, out = Path(a.data_dir), Path(a.out)
    if not (data_dir / "minute").is_dir():
        _prepare(data_dir)
    results = []
    for h in [int(x) for x in a.horizons.split(",")]:
        for name in a.models.split(","):
            sets = {
                **SCHEDULE,
                "walkforward.train_days": str(a.train_days),
                "labels.horizons": f"[{h}]",
                **MODELS[name],
            }
            if name != "lgbm":
                sets["model.params"] = sets["model.params"].replace(
                    "seq_len: 5", f"seq_len: {a.seq_len}"
                )
            set_args = [f"{k}={v}" for k, v in sets.items()]
            run_dir = out / f"{name}_h{h}"
            cmd = (
                f"seqalpha train {CONFIG.relative_to(ROOT)} --out {run_dir} --data-dir {data_dir} "
                + " ".join(f"--set '{s}'" for s in set_args)
            )
            print(f"\n== {name} h={h}\n$ {cmd}", flush=True)
            t0 = time.perf_counter()
            m = train_command(
                CONFIG,
                run_dir,
                data_dir,
                set_args,
                fresh=True,
                log=lambda msg: print("  " + msg, flush=True),
            )
            results.append(
                {
                    "model": name,
                    "horizon": h,
                    "ic": m["ic"],
                    "rank_ic": m["rank_ic"],
                    "icir": m["icir"],
                    "rank_icir": m["rank_icir"],
                    "ic_t": m["ic_t"],
                    "rank_ic_t": m["rank_ic_t"],
                    "n_days": m["n_days"],
                    "n_windows": m["n_windows"],
                    "test": [m["test_start"], m["test_end"]],
                    "seconds": round(time.perf_counter() - t0, 1),
                    "command": cmd,
                }
            )
            out.mkdir(parents=True, exist_ok=True)
            (out / "results.json").write_text(json.dumps(results, indent=1))
    print(
        f"\n{'model':<12} {'h':>2} {'IC':>8} {'RankIC':>8} {'ICIR':>7} {'RkICIR':>7} "
        f"{'IC t':>6} {'RkIC t':>6} {'days':>5} {'win':>4} {'sec':>7}"
    )
    for r in results:
        print(
            f"{r['model']:<12} {r['horizon']:>2} {r['ic']:>8.4f} {r['rank_ic']:>8.4f} "
            f"{r['icir']:>7.3f} {r['rank_icir']:>7.3f} {r['ic_t']:>6.2f} {r['rank_ic_t']:>6.2f} "
            f"{r['n_days']:>5} {r['n_windows']:>4} "
            f"{r['seconds']:>7.1f}"
        )
    print(
        f"test {results[0]['test'][0]} .. {results[0]['test'][1]}; "
        f"results in {out / 'results.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
