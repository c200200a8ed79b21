"""Config: safe YAML, one-line errors naming the key, registered names only, overrides, dump."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from seqalpha.config import (
    PipelineConfig,
    apply_overrides,
    config_from_dict,
    config_hash,
    dump_config,
    load_config,
    parse_yaml,
)
from seqalpha.errors import ConfigError
from seqalpha.models.registry import MODELS, register_model
from seqalpha.registries import load_checked_config


class _CfgProbe:
    """Stand-in model so that name checks have something registered."""

    input_kind = "tabular"

    def __init__(self, **params):
        self.params = params


@pytest.fixture(autouse=True, scope="module")
def _probe_model():
    """Register the stand-in for this module's tests only: other tests (the docs' model zoo page)
    iterate over the registry and must not see it."""
    if "cfg_probe" not in MODELS:
        register_model("cfg_probe")(_CfgProbe)
    yield
    del MODELS["cfg_probe"]


BASE = """
data:
  dir: {data_dir}
  universe: csi300
model:
  name: cfg_probe
  params: {{alpha: 0.5}}
labels:
  horizons: [1]
  offset: 1
walkforward:
  schedule: fixed
  train: [2010-01-01, 2018-12-31]
  valid: {{start: 2019-01-01, end: 2020-12-31}}
  test: [2021-01-01, 2022-12-30]
"""


@pytest.fixture
def cfg_file(tmp_path: Path) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(BASE.format(data_dir=tmp_path))
    return p


def _err(path: Path, sets=()) -> str:
    with pytest.raises(ConfigError) as info:
        load_checked_config(path, sets)
    msg = str(info.value)
    assert "\n" not in msg, "errors are one line"
    return msg


def test_load_example_defaults(cfg_file: Path):
    cfg = load_config(cfg_file)
    assert cfg.walkforward.train.start == dt.date(2010, 1, 1)
    assert cfg.walkforward.valid.end == dt.date(2020, 12, 31)
    assert cfg.embargo == 2  # offset 1 + horizon 1
    assert cfg.backtest.buy_cost == 0.0005 and cfg.backtest.sell_cost == 0.0015
    assert cfg.backtest.min_cost == 5.0 and cfg.backtest.account == 1e8
    assert cfg.portfolio.topk == 50 and cfg.portfolio.n_drop == 5
    assert cfg.data.benchmark == "SH000300"
    assert cfg.tracking.tracking_uri is None
    assert cfg.data.dir == str(cfg_file.parent)


def test_python_object_tag_rejected(tmp_path: Path):
    p = tmp_path / "evil.yaml"
    p.write_text("model: !!python/object/apply:os.system ['echo pwned']\n")
    msg = _err(p)
    assert "evil.yaml:1" in msg and "python/object/apply" in msg
    with pytest.raises(ConfigError, match="unsafe"):
        parse_yaml("x: !!python/name:os.system ''")


def test_unknown_key_names_path_and_allowed(cfg_file: Path):
    msg = _err(cfg_file, ["walkforward.stepp=3"])
    assert "walkforward.stepp: unknown key" in msg
    assert "allowed:" in msg and "step" in msg and "train_days" in msg
    msg = _err(cfg_file, ["processors.features=[{name: zscore, parms: {}}]"])
    assert "processors.features.0.parms: unknown key; allowed: name, params" in msg


def test_literal_error_lists_allowed(cfg_file: Path):
    msg = _err(cfg_file, ["walkforward.schedule=weekly"])
    assert "walkforward.schedule: 'weekly' is not allowed; allowed: 'fixed', 'rolling'" in msg


@pytest.mark.parametrize(
    "key, value, listed",
    [
        ("portfolio.strategy", "topk_dropuot", "optimizer, score_weighted, topk_dropout"),
        ("executor.kind", "dask", "local, process, ray"),
        ("features.library", "alpha159", "alpha158, alpha360, intraday, none"),
        ("processors.features", "[{name: cs_zscroe}]", "cs_zscore"),
        ("processors.labels", "[{name: drop_missing}]", "drop_missing_label"),
        ("labels.kind", "excesss", "excess, rank, raw"),
        ("model.name", "grux", "cfg_probe"),
    ],
)
def test_misspelt_registered_names_fail_at_config_check(cfg_file, key, value, listed):
    msg = _err(cfg_file, [f"{key}={value}"])
    name = value.split("name: ")[-1].rstrip("}]")
    assert "unknown" in msg and repr(name) in msg and "allowed: " in msg, msg
    assert key.split(".")[0] in msg and listed in msg, msg


def test_a_run_checks_names_before_reading_data(cfg_file: Path, tmp_path: Path):
    from seqalpha.pipeline import run_pipeline

    # the data directory does not exist: the misspelt strategy is reported first
    sets = ["portfolio.strategy=topk", "data.dir=/nonexistent/store"]
    with pytest.raises(ConfigError, match=r"portfolio\.strategy: unknown strategy 'topk'"):
        run_pipeline(cfg_file, tmp_path / "run", sets=sets)
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_strategy_params_and_unsupported_strategies_fail_at_config_check(cfg_file: Path):
    msg = _err(cfg_file, ["portfolio.strategy=score_weighted", "portfolio.params={top_k: 5}"])
    assert "portfolio.params" in msg and "top_k" in msg and "max_weight, topk" in msg
    msg = _err(cfg_file, ["portfolio.strategy=optimizer", "portfolio.params={risk: 5}"])
    assert "portfolio.params" in msg and "risk" in msg
    msg = _err(cfg_file, ["portfolio.strategy=long_short"])
    assert "portfolio.strategy: 'long_short' needs short selling" in msg


def test_minute_library_needs_minute_dir(cfg_file: Path):
    msg = _err(cfg_file, ["features.library=intraday"])
    assert msg.endswith("features.library: 'intraday' needs data.minute_dir (minute bars)")


def test_unknown_model_lists_registered(cfg_file: Path):
    msg = _err(cfg_file, ["model.name=grux"])
    assert "model.name: unknown model 'grux'; allowed:" in msg and "cfg_probe" in msg


@pytest.mark.parametrize(
    "key,value",
    [
        ("model.name", "seqalpha.models.registry.MODELS"),
        ("model.name", "torch.nn.GRU"),
        ("processors.features", "[{name: os.system}]"),
        ("portfolio.strategy", "mypkg.Strategy"),
    ],
)
def test_class_paths_rejected_in_name_fields(cfg_file: Path, key: str, value: str):
    msg = _err(cfg_file, [f"{key}={value}"])
    assert "class path" in msg and key.split(".")[0] in msg


def test_importable_path_in_model_params_rejected(cfg_file: Path):
    msg = _err(cfg_file, ["model.params.loss=torch.nn.MSELoss"])
    assert "model.params" in msg and "'loss'" in msg and "class path" in msg
    # ordinary dotted-looking strings that do not resolve to a module stay allowed
    cfg = load_config(cfg_file, ["model.params.tag=v1.run2"])
    assert cfg.model.params["tag"] == "v1.run2"


def test_embargo_below_label_reach_rejected(cfg_file: Path):
    msg = _err(cfg_file, ["labels.horizons=[1, 5]", "walkforward.embargo=3"])
    assert "walkforward.embargo" in msg and "6" in msg
    cfg = load_config(cfg_file, ["labels.horizons=[1, 5]"])
    assert cfg.embargo == 6


def test_overrides_are_yaml_values(cfg_file: Path):
    cfg = load_config(
        cfg_file,
        [
            "seeds=[1, 2, 3]",
            "model.params.alpha=0.25",
            "executor.address=127.0.0.1:6379",
            "features.lookback=20",
        ],
    )
    assert cfg.seeds == [1, 2, 3] and cfg.model.params["alpha"] == 0.25
    assert cfg.executor.address == "127.0.0.1:6379" and cfg.features.lookback == 20
    raw = {"a": {"b": [1, {"c": 2}]}}
    out = apply_overrides(raw, ["a.b.1.c=5"])
    assert out["a"]["b"][1]["c"] == 5 and raw["a"]["b"][1]["c"] == 2  # input not modified
    with pytest.raises(ConfigError, match=r"expected key.path=value"):
        apply_overrides({}, ["seeds"])
    with pytest.raises(ConfigError, match=r"--set seeds.x"):
        apply_overrides({"seeds": [1]}, ["seeds.x=1"])
    with pytest.raises(ConfigError, match="unsafe"):
        apply_overrides({}, ["model.name=!!python/name:os.system ''"])


def test_schedule_specific_fields(cfg_file: Path):
    msg = _err(cfg_file, ["walkforward.schedule=rolling"])
    assert "walkforward" in msg and "explicit ranges" in msg
    raw = yaml.safe_load(cfg_file.read_text())
    raw["walkforward"] = {"schedule": "fixed", "train": ["2010-01-01", "2011-01-01"]}
    with pytest.raises(ConfigError, match="needs `train` and `test`"):
        config_from_dict(raw)
    raw["walkforward"] = {
        "schedule": "fixed",
        "train": ["2012-01-01", "2011-01-01"],
        "test": ["2013-01-01", "2013-02-01"],
    }
    with pytest.raises(ConfigError, match=r"walkforward.train: end 2011-01-01 is before start"):
        config_from_dict(raw)
    raw["walkforward"] = {"schedule": "rolling", "train_days": 10, "valid_days": 10}
    with pytest.raises(ConfigError, match="valid_days 10 must be < train_days 10"):
        config_from_dict(raw)


def test_dump_roundtrip_and_hash(cfg_file: Path, tmp_path: Path):
    cfg = load_config(cfg_file, ["seeds=[3, 4]"])
    out = tmp_path / "run" / "config.yaml"
    dump_config(cfg, out)
    again = load_config(out)
    assert again == cfg
    assert config_hash(again) == config_hash(cfg)
    # executor and reporting sections do not change the predictions, hence not the hash
    assert config_hash(load_config(out, ["executor.kind=ray", "portfolio.topk=30"])) == config_hash(
        cfg
    )
    assert config_hash(load_config(out, ["model.params.alpha=0.1"])) != config_hash(cfg)


def test_data_dir_override_and_relative_resolution(cfg_file: Path, tmp_path: Path, monkeypatch):
    other = tmp_path / "elsewhere"
    other.mkdir()
    cfg = load_config(cfg_file, data_dir=other)
    assert cfg.data.dir == str(other.resolve())
    (tmp_path / "rel_data").mkdir()
    monkeypatch.chdir(tmp_path)
    cfg = load_config(cfg_file, ["data.dir=rel_data"])
    assert cfg.data.dir == str((tmp_path / "rel_data").resolve())


def test_default_data_dir_is_shared_csi300():
    cfg = PipelineConfig.model_validate(
        {"walkforward": {"schedule": "rolling"}, "model": {"name": "cfg_probe"}}
    )
    assert cfg.data.dir == "../shared/data/cn_csi300"
    assert cfg.walkforward.step == 10 and cfg.walkforward.train_days == 120
    assert cfg.walkforward.valid_days == 5


def test_intraday_needs_minute_dir(cfg_file: Path):
    msg = _err(cfg_file, ["features.bars=true"])
    assert "features.bars" in msg and "minute_dir" in msg


EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_configs_validate(path: Path, tmp_path: Path):
    (tmp_path / "minute").mkdir()
    cfg = load_checked_config(path, data_dir=tmp_path)  # names, params, processors checked
    assert cfg.data.dir == str(tmp_path.resolve())
    assert cfg.embargo >= cfg.labels.offset + max(cfg.labels.horizons)
    if path.name.startswith("csi300_"):  # the DEV split of BENCHMARKS.md
        assert str(cfg.walkforward.test.start) == "2021-01-01"
        assert str(cfg.walkforward.train.end) == "2018-12-31"
        assert cfg.walkforward.schedule == "fixed"
    elif path.name == "synthetic_intraday_gru.yaml":
        assert cfg.walkforward.schedule == "rolling" and cfg.walkforward.step == 10
        assert cfg.features.bars and cfg.data.minute_dir == str(tmp_path / "minute")


def test_example_list_is_complete():
    assert {p.name for p in EXAMPLES} >= {
        "csi300_lgbm_alpha158.yaml",
        "csi300_gru_alpha360.yaml",
        "synthetic_intraday_gru.yaml",
    }


def test_demo_minute_dir_is_inside_a_market_not_generated_yet(tmp_path: Path):
    # The demo's market is generated by the run, after the config is loaded: its relative
    # `minute_dir: minute` must still point inside data.dir, not at ./minute of the cwd.
    demo = Path(__file__).resolve().parents[1] / "examples" / "demo_synthetic.yaml"
    market = tmp_path / "not_generated_yet"
    cfg = load_checked_config(demo, data_dir=market)
    assert not market.exists()
    assert cfg.data.minute_dir == str(market.resolve() / "minute")
