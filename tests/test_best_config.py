"""`examples/csi300_best.yaml` runs unchanged on a longer store: only `data.dir`, `data.end`
and `walkforward.*` are overridden (issue 11, item 5)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.data.synthetic import SynthConfig, generate_market
from seqalpha.registries import load_checked_config

BEST = Path(__file__).resolve().parents[1] / "examples" / "csi300_best.yaml"


@pytest.fixture(scope="module")
def longer_store(tmp_path_factory) -> Path:
    """A small Qlib-format store that ends in 2024 (after the DEV data), with the example's
    universe (`csi300`) and benchmark (`SH000300`) names."""
    out = tmp_path_factory.mktemp("longer") / "store"
    cfg = SynthConfig(
        n_stocks=60, n_days=330, start="2023-01-03", bar_minutes=30, minute_days=1, seed=5
    )
    generate_market(out, cfg)
    shutil.copy(out / "instruments" / "market.txt", out / "instruments" / "csi300.txt")
    shutil.copytree(out / "features" / "syn_index", out / "features" / "sh000300")
    everyone = out / "instruments" / "all.txt"
    index = next(r for r in everyone.read_text().splitlines() if r.startswith("SYN_INDEX"))
    with everyone.open("a") as f:
        f.write(index.replace("SYN_INDEX", "SH000300") + "\n")
    return out


def later_sets(store: Path) -> list[str]:
    """The only overrides: the store, its end date and the walk-forward ranges."""
    days = (store / "calendars" / "day.txt").read_text().split()
    return [
        f"data.dir={store}",
        f"data.end={days[-1]}",
        f"walkforward.train=[{days[70]}, {days[199]}]",
        f"walkforward.valid=[{days[200]}, {days[259]}]",
        f"walkforward.test=[{days[260]}, {days[-1]}]",
    ]


def test_the_dev_split_and_its_overrides_validate(longer_store: Path) -> None:
    dev = load_checked_config(BEST, data_dir=longer_store)  # names checked on a store here
    assert (str(dev.walkforward.train.end), str(dev.walkforward.test.start)) == (
        "2018-12-31",
        "2021-01-01",
    )
    assert dev.seeds == [0]
    later = load_checked_config(BEST, later_sets(longer_store))
    assert later.data.dir == str(longer_store)
    assert later.walkforward.test.end.year == 2024
    # nothing but the overridden keys changed
    unchanged = ("features", "labels", "processors", "model", "ensemble", "portfolio", "backtest")
    for key in unchanged:
        assert getattr(later, key) == getattr(dev, key), key


def test_a_rolling_schedule_needs_only_walkforward_keys(longer_store: Path) -> None:
    sets = [
        *later_sets(longer_store)[:2],
        "walkforward.schedule=rolling",
        "walkforward.train=null",
        "walkforward.valid=null",
        "walkforward.test=null",
        "walkforward.train_days=120",
        "walkforward.valid_days=20",
        "walkforward.step=20",
    ]
    cfg = load_checked_config(BEST, sets)
    assert cfg.walkforward.schedule == "rolling" and cfg.walkforward.step == 20


@pytest.mark.slow  # Alpha158 + beta_quantile and every member on 60 stocks: about 30 s
def test_it_runs_end_to_end_on_a_longer_store(longer_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["run", str(BEST), "--out", str(out)]
    for s in later_sets(longer_store):
        args += ["--set", s]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_end"].startswith("2024-")
    assert metrics["n_predictions"] > 0 and -1 <= metrics["rank_ic"] <= 1
    assert (out / "report.html").is_file() and (out / "combine_weights.parquet").is_file()
