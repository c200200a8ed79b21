"""Import time of seqalpha: `import seqalpha.cli`, `seqalpha --help`, and what a run imports.

Each figure comes from fresh processes (`python -X importtime`), the median of --repeat runs:
- `import seqalpha.cli`: total import seconds and the heaviest packages it pulls in;
- `seqalpha --help`: wall seconds of the whole command;
- the heavy optional packages (torch, ray, mlflow, cvxpy, plotly, lightgbm): whether
  `seqalpha.cli` and the modules a run starts from import them, and what each costs alone;
- with --run: a real `seqalpha run examples/csi300_lgbm_alpha158.yaml` under -X importtime
  (about a minute and 6 GB): the import seconds it pays in total and per heavy package.
--src DIR measures another checkout (its `src/` first on PYTHONPATH), e.g. a `git archive`
of the commit before a change, for a before/after comparison.

Measured 2026-12-03 (load ~5, --repeat 3), before (e0d5a93) / after (3766254) torch became
lazy: `import seqalpha.cli` 0.14 / 0.19 s, `seqalpha --help` 0.41 / 0.49 s (noise: neither
imports a heavy package), `import seqalpha.cli, seqalpha.pipeline, seqalpha.config` (what a run
imports before reading data) 4.26 / 1.57 s: torch (~2 s and ~200 MB alone) is no longer imported
by an lgbm run; lightgbm, mlflow (tracking) and plotly (report) are imported only when used.
With --run at 4ac323a (load ~1): the whole lgbm run pays 4.3 s of imports (lightgbm 1.5 s with
the sklearn it pulls in, mlflow 0.9 s; torch, ray and cvxpy not imported); `import seqalpha.cli`
0.11 s, `seqalpha --help` 0.24 s.

Usage: .venv/bin/python benchmarks/bench_import.py [--repeat 5] [--run] [--src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PY = str(REPO / ".venv" / "bin" / "python")
HEAVY = ("torch", "ray", "mlflow", "cvxpy", "plotly", "lightgbm", "sklearn", "numba", "scipy")
# the modules `seqalpha run` imports before it reads any data (config, registries, pipeline)
RUN_ENTRY = ("seqalpha.cli", "seqalpha.pipeline", "seqalpha.config")


def parse_importtime(stderr: str) -> list[tuple[str, int, float, float]]:
    """(module, nesting level, self s, cumulative s) of each `-X importtime` line, in order."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, self_us, cum_us, name = (p for p in [line[:12], *line[12:].split("|", 2)])
        level = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((name.strip(), level, int(self_us) / 1e6, int(cum_us) / 1e6))
    return rows


def total_seconds(rows) -> float:
    """Import seconds of a process: the cumulative times of its top-level imports."""
    return sum(cum for _, level, _, cum in rows if level == 0)


def package_seconds(rows, package: str) -> float | None:
    """Cumulative seconds of the first import of `package` (None: never imported)."""
    return next((cum for name, _, _, cum in rows if name == package), None)


def run_importtime(args: list[str], env: dict, cwd: Path) -> tuple[float, list]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [PY, "-X", "importtime", *args], env=env, cwd=cwd, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return wall, parse_importtime(done.stderr)


def top_packages(rows, n: int = 8) -> list[tuple[str, float]]:
    """The n top-level packages with the largest self time summed over their modules."""
    per: dict[str, float] = {}
    for name, _, self_s, _ in rows:
        top = name.split(".")[0]
        per[top] = per.get(top, 0.0) + self_s
    return sorted(per.items(), key=lambda kv: -kv[1])[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--run", action="store_true", help="also time the imports of a real lgbm run")
    ap.add_argument("--src", type=Path, default=None, help="a checkout to measure instead")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    root = (args.src or REPO).resolve()
    env = dict(os.environ, PYTHONPATH=str(root / "src"))
    res: dict = {"src": str(root), "loadavg": os.getloadavg()}

    walls, totals, rows = [], [], []
    for _ in range(args.repeat):
        _, rows = run_importtime(["-c", "import seqalpha.cli"], env, root)
        totals.append(total_seconds(rows))
        t0 = time.perf_counter()
        subprocess.run(
            [PY, "-m", "seqalpha.cli", "--help"], env=env, cwd=root, capture_output=True, check=True
        )
        walls.append(time.perf_counter() - t0)
    res["import_cli_s"] = statistics.median(totals)
    res["help_wall_s"] = statistics.median(walls)
    res["cli_top_packages"] = top_packages(rows)
    res["cli_imports"] = {p: package_seconds(rows, p) is not None for p in HEAVY}

    _, rows = run_importtime(["-c", "; ".join(f"import {m}" for m in RUN_ENTRY)], env, root)
    res["run_entry_s"] = total_seconds(rows)
    res["run_entry_imports"] = {p: package_seconds(rows, p) is not None for p in HEAVY}

    alone = {}
    for p in HEAVY:
        costs = [total_seconds(run_importtime(["-c", f"import {p}"], env, root)[1])]
        costs += [total_seconds(run_importtime(["-c", f"import {p}"], env, root)[1])]
        alone[p] = min(costs)
    res["alone_s"] = alone

    if args.run:
        with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
            cmd = ["-m", "seqalpha.cli", "run", "examples/csi300_lgbm_alpha158.yaml"]
            wall, rows = run_importtime([*cmd, "--out", tmp, "--fresh"], env, root)
        res["run_wall_s"] = wall
        res["run_import_s"] = total_seconds(rows)
        res["run_imports"] = {p: package_seconds(rows, p) for p in HEAVY}

    print(
        f"\nseqalpha import time ({root}, load {res['loadavg'][0]:.1f}, median of {args.repeat})\n"
    )
    print("| measure | seconds |")
    print("|---|---|")
    print(f"| import seqalpha.cli (-X importtime total) | {res['import_cli_s']:.3f} |")
    print(f"| seqalpha --help (wall, whole process) | {res['help_wall_s']:.3f} |")
    print(f"| import {', '.join(RUN_ENTRY)} | {res['run_entry_s']:.3f} |")
    if args.run:
        print(
            f"| imports paid by the lgbm run (of {res['run_wall_s']:.0f} s) "
            f"| {res['run_import_s']:.3f} |"
        )
    print(
        "\n| package | alone (s) | by seqalpha.cli | by the run's entry modules |"
        + (" in the lgbm run (s) |" if args.run else "")
    )
    print("|---|---|---|---|" + ("---|" if args.run else ""))
    for p in HEAVY:
        line = (
            f"| {p} | {alone[p]:.2f} | {'yes' if res['cli_imports'][p] else 'no'} | "
            f"{'yes' if res['run_entry_imports'][p] else 'no'} |"
        )
        if args.run:
            v = res["run_imports"][p]
            line += f" {'not imported' if v is None else f'{v:.2f}'} |"
        print(line)
    top = ", ".join(f"{n} {s:.3f}" for n, s in res["cli_top_packages"])
    print(f"\nheaviest packages under seqalpha.cli (self seconds): {top}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    sys.exit(main())
