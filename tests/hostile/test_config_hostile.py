"""Hostile configs: every bad value is a one-line ConfigError naming its key, found before any
data is read; YAML alias bombs and recursive aliases are refused fast; random `--set`
overrides give a valid config or a one-line ConfigError (LeakageError for a look-ahead
feature), never another exception or a hang."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.config import PipelineConfig, parse_yaml
from seqalpha.config.loading import MAX_YAML_NODES
from seqalpha.config.schema import MAX_THREADS
from seqalpha.errors import ConfigError, LeakageError
from seqalpha.registries import load_checked_config

pytestmark = pytest.mark.timeout(120)


def base_config(market: Path) -> dict:
    """A small valid config on the synthetic market (linear model, three extra features)."""
    split = json.loads((market / "meta.json").read_text())["split"]
    return {
        "data": {"dir": str(market), "universe": "market", "benchmark": "SYN_INDEX"},
        "features": {"library": "none", "extra": {"rev5": "-($close/Ref($close,5)-1)"}},
        "labels": {"horizons": [1], "offset": 1},
        "processors": {"features": [{"name": "cs_zscore"}, {"name": "fillna"}]},
        "model": {"name": "linear"},
        "walkforward": {"schedule": "fixed", **{k: split[k] for k in ("train", "valid", "test")}},
        "portfolio": {"strategy": "topk_dropout", "topk": 10, "n_drop": 2},
        "tracking": {"enabled": False},
    }


@pytest.fixture
def config(synth_market: Path, tmp_path: Path) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(base_config(synth_market), sort_keys=False))
    return path


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` with its size and mtime (to prove nothing changed)."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def run_cli(config: Path, out: Path, *sets: str, command: str = "run"):
    args = [command, str(config), "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    return CliRunner().invoke(app, args)


def assert_refused(result, *needles: str) -> str:
    """Exit code 2 and ONE line `error: ...` containing every needle; no traceback."""
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def assert_no_work(out: Path) -> None:
    """The run directory holds no artifact: the config was refused before any work."""
    made = sorted(p.name for p in out.rglob("*") if p.is_file()) if out.exists() else []
    assert made == [], made


@pytest.mark.parametrize(
    "sets, needles",
    [
        (["model.params.n_estimators=-5"], ["model.params", "n_estimators"]),
        (["model.name=lgbm", "model.params.num_threads=100000"], ["num_threads", "1..4"]),
        (["model.name=gru", "model.params.threads=100000"], ["threads", "thread count"]),
        (["model.name=gru", "model.params.epochs=0"], ["epochs"]),
        (["model.name=gru", "model.params.batch_size=-1"], ["batch_size"]),
        (["model.name=gru", "model.params.seq_len=0"], ["seq_len"]),
        (["model.name=gru", "model.params.hidden_size=0"], ["hidden_size"]),
        (["model.name=mlp", "model.params.hidden_sizes=[64, 0]"], ["hidden_sizes"]),
        (["model.name=gru", "model.params.lr=.nan"], ["lr", "finite"]),
        (["model.name=gru", "model.params.dropout=1.5"], ["dropout"]),
        (["portfolio.topk=0"], ["portfolio.topk"]),
        (["portfolio.n_drop=-1"], ["portfolio.n_drop"]),
        (["portfolio.n_drop=20"], ["n_drop 20 exceeds topk 10"]),
        (["backtest.account=0"], ["backtest.account"]),
        (["backtest.account=.inf"], ["backtest.account", "finite"]),
        (["backtest.buy_cost=1.0"], ["backtest.buy_cost"]),
        (["backtest.sell_cost=-0.001"], ["backtest.sell_cost"]),
        (["backtest.min_cost=.nan"], ["backtest.min_cost"]),
        (["seeds=[-1]"], ["seeds"]),
        (["executor.kind=process", "executor.workers=100"], ["executor", "workers"]),
        (["labels.horizons=[0]"], ["labels.horizons"]),
        (["walkforward.step=0"], ["walkforward.step"]),
        (["data.start=2020-05-01", "data.end=2020-02-01"], ["data", "before start"]),
    ],
)
def test_out_of_range_values_are_one_line_errors(config, tmp_path, sets, needles):
    if "1..4" in needles:  # the cap depends on this machine's cores
        needles = [n if n != "1..4" else f"1..{MAX_THREADS}" for n in needles]
    out = tmp_path / "run"
    result = run_cli(config, out, *sets)
    assert_refused(result, *needles)
    assert_no_work(out)


@pytest.mark.parametrize(
    "sets, needles",
    [
        (["model.name=lgbx"], ["model.name", "lgbx", "allowed"]),
        (["processors.features=[{name: cs_zscor}]"], ["processors.features.0.name", "cs_zscor"]),
        (["labels.kind=rwa"], ["labels.kind", "rwa"]),
        (["portfolio.strategy=topk_dropot"], ["portfolio.strategy", "topk_dropot"]),
        (["executor.kind=rayy"], ["executor.kind"]),
        (["features.library=alpha159"], ["features.library", "alpha159"]),
        (["model.params.alpah=1"], ["alpah"]),
        (["walkforward.stpe=5"], ["walkforward.stpe", "unknown key"]),
        (["features.extra.bad=Foo($close)"], ["features.extra", "bad"]),
        (["baselines=[{name: b, set: {model.name: lgbmm}}]"], ["baselines.b", "lgbmm"]),
        (["data.universe=markt"], ["data.universe", "markt", "allowed: all, market"]),
        (["data.benchmark=SYN_INDX"], ["data.benchmark", "SYN_INDX"]),
        (["labels.benchmark=SYN_INDX", "labels.kind=excess"], ["labels.benchmark"]),
        (["baselines=[{name: b, set: {model.params: {alpha: -1}}}]"], ["baselines.b", "alpha"]),
    ],
)
def test_misspelt_names_fail_before_any_data_is_read(config, tmp_path, sets, needles):
    out = tmp_path / "run"
    t0 = time.perf_counter()
    result = run_cli(config, out, *sets)
    assert_refused(result, *needles)
    assert_no_work(out)
    assert time.perf_counter() - t0 < 30


def test_impossible_date_in_the_config_file_names_the_key(config, tmp_path):
    text = config.read_text()
    raw = yaml.safe_load(text)
    test_start = raw["walkforward"]["test"][0]
    config.write_text(text.replace(str(test_start), "2021-02-30", 1))
    out = tmp_path / "run"
    before = tree(tmp_path)
    line = assert_refused(run_cli(config, out), "2021-02-30", "not a real date")
    assert "walkforward.test" in line
    assert_no_work(out)
    assert {k: v for k, v in tree(tmp_path).items() if not k.startswith("run")} == before


@pytest.mark.parametrize("value", ["2021-02-30", "'2021-02-30'", "2021-13-01", "20210101"])
def test_impossible_date_on_the_command_line_names_the_key(config, tmp_path, value):
    out = tmp_path / "run"
    result = run_cli(config, out, f"data.start={value}", command="train")
    assert_refused(result, "data.start")
    assert_no_work(out)


def billion_laughs(levels: int = 10, width: int = 9) -> str:
    """The classic alias bomb: each level repeats the previous one `width` times."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines)


def test_alias_bomb_in_model_params_is_refused_fast(config, tmp_path):
    raw = config.read_text()
    bomb = "\n".join("    " + ln for ln in billion_laughs().splitlines())
    config.write_text(raw.replace("  name: linear", "  name: linear\n  params:\n" + bomb))
    out = tmp_path / "run"
    t0 = time.perf_counter()
    result = run_cli(config, out)
    assert time.perf_counter() - t0 < 10
    assert_refused(result, "expands to more than", "alias")
    assert_no_work(out)


def test_alias_bomb_in_a_set_value_is_refused(config, tmp_path):
    value = "{" + ", ".join(billion_laughs().splitlines()) + "}"
    result = run_cli(config, tmp_path / "run", f"model.params={value}")
    assert_refused(result, "--set model.params", "alias")


@pytest.mark.parametrize(
    "text, needle",
    [
        (billion_laughs(), f"more than {MAX_YAML_NODES} nodes"),
        ("a: &a [1, *a]", "recursive YAML alias"),
        ("a: &a {b: *a}", "recursive YAML alias"),
        ("[" * 500 + "]" * 500, "nesting deeper"),
        ("x: " + "*a " * 10, "alias"),
        ("a: !!python/object/apply:os.system ['true']", "tag rejected"),
    ],
)
def test_bounded_yaml_loader(text, needle):
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "c.yaml")
    assert time.perf_counter() - t0 < 2
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_shared_aliases_within_bounds_still_load():
    data = parse_yaml("base: &b {lr: 0.01, epochs: 3}\ngru: *b\nlstm: *b")
    assert data["gru"] == data["lstm"] == {"lr": 0.01, "epochs": 3}


# ---------------------------------------------------------------- random --set overrides

KEYS = [
    "data.dir", "data.universe", "data.start", "data.end", "data.bar_minutes", "data.synthetic",
    "features.library", "features.extra", "features.extra.x", "features.lookback",
    "features.bars", "labels.horizons", "labels.offset", "labels.kind", "processors.features",
    "processors.features.0.name", "processors.features.0.params", "model.name", "model.params",
    "model.params.alpha", "model.params.threads", "model.params.n_estimators", "walkforward",
    "walkforward.schedule", "walkforward.train", "walkforward.test.start", "walkforward.step",
    "walkforward.embargo", "executor.kind", "executor.workers", "seeds", "seeds.0",
    "portfolio.topk", "portfolio.n_drop", "portfolio.strategy", "portfolio.params",
    "backtest.account", "backtest.buy_cost", "backtest.limit_threshold", "tracking.enabled",
    "baselines", "nope", "model.nope.deeper", "0", "data.0",
]  # fmt: skip

SCALARS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        [
            "", "null", "~", "true", "no", ".nan", "-.inf", "2021-02-30", "2020-01-02",
            "'2021-02-30'", "[1, 2]", "[]", "{}", "{a: 1}", "[2020-01-02, 2020-02-30]",
            "!!python/name:os.system", "&a [*a]", "[[[[[[", "'unterminated", "a: b: c",
            "os.path.join", "seqalpha.models.classic.LinearModel", '"a\\0b"', "*undefined",
            "lgbm", "linear", "cs_zscore", "market", "rolling", "x" * 5000, "Ref($close,-1)",
            "Mean($close,5)", "{x: 'Ref($close,-1)'}", "{a: $close}",
        ]
    ),
    st.text(max_size=30),
)  # fmt: skip
OVERRIDE = st.tuples(st.one_of(st.sampled_from(KEYS), st.text(max_size=12)), SCALARS).map(
    lambda kv: f"{kv[0]}={kv[1]}"
)


@pytest.fixture(scope="module")
def property_config(tmp_path_factory, synth_market) -> Path:
    path = tmp_path_factory.mktemp("prop") / "cfg.yaml"
    path.write_text(yaml.safe_dump(base_config(synth_market), sort_keys=False))
    return path


@settings(
    max_examples=150,
    deadline=5000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sets=st.lists(OVERRIDE, min_size=1, max_size=3))
def test_random_overrides_give_a_config_or_a_one_line_config_error(property_config, sets):
    cwd = os.getcwd()
    t0 = time.perf_counter()
    try:
        cfg = load_checked_config(property_config, sets)
    except (ConfigError, LeakageError) as exc:  # a look-ahead feature is a LeakageError
        assert "\n" not in str(exc) and str(exc).strip()
    else:
        assert isinstance(cfg, PipelineConfig)
    assert time.perf_counter() - t0 < 5
    assert os.getcwd() == cwd


@pytest.mark.parametrize("option", ["--start", "--end"])
def test_impossible_date_on_the_features_command(synth_market, tmp_path, option):
    out = tmp_path / "f.parquet"
    args = ["features", str(synth_market), "--expr", "a=$close", "--universe", "market"]
    result = CliRunner().invoke(app, [*args, option, "2021-02-30", "--out", str(out)])
    assert_refused(result, option, "2021-02-30", "not a real date")
    assert not out.exists()
