"""`seqalpha config schema`: the JSON schema accepts every example config and refuses typos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from seqalpha.cli import app
from seqalpha.config import PipelineConfig
from seqalpha.config.json_schema import config_json_schema

jsonschema = pytest.importorskip("jsonschema")

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))


def as_json(path_or_text: Path | str) -> dict:
    """A YAML config as the JSON an editor's YAML schema check sees (dates as ISO strings)."""
    text = path_or_text.read_text() if isinstance(path_or_text, Path) else path_or_text
    return json.loads(json.dumps(yaml.safe_load(text), default=str))


@pytest.fixture(scope="module")
def validator():
    schema = config_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator, config: dict) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(config)
    ]


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_config_validates(validator, path: Path) -> None:
    assert errors(validator, as_json(path)) == []


MINIMAL = """
walkforward:
  schedule: fixed
  train: [2020-01-02, 2021-06-30]
  test: {start: 2021-08-02, end: 2021-12-31}
portfolio: {strategy: topk_dropout, topk: 30, n_drop: 3}
"""


@pytest.mark.parametrize(
    ("path", "typo"),
    [
        ((), "walkfoward"),
        (("portfolio",), "top_k"),
        (("walkforward",), "embargo_days"),
        (("walkforward", "test"), "stop"),
    ],
)
def test_a_misspelt_key_fails_in_the_schema_as_in_pydantic(validator, path, typo: str) -> None:
    config = as_json(MINIMAL)
    assert errors(validator, config) == []
    PipelineConfig.model_validate(config)
    node = config
    for key in path:
        node = node[key]
    node[typo] = 1
    found = errors(validator, config)
    assert found, f"{'.'.join((*path, typo))} was accepted"
    with pytest.raises(ValueError, match=typo):
        PipelineConfig.model_validate(config)
    if path != ("walkforward", "test"):  # the date-range anyOf reports on the whole range
        assert any(typo in e for e in found), found


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (["2021-01-04", "2021-06-30"], True),
        ({"start": "2021-01-04", "end": "2021-06-30"}, True),
        (["2021-01-04", "2021-03-01", "2021-06-30"], False),
        ("2021-01-04", False),
    ],
)
def test_date_ranges_as_pairs_or_objects(validator, value, ok: bool) -> None:
    config = as_json(MINIMAL)
    config["walkforward"]["test"] = value
    assert (errors(validator, config) == []) is ok


def test_wrong_types_and_literals_fail(validator) -> None:
    config = as_json(MINIMAL)
    config["portfolio"]["topk"] = "thirty"
    config["backtest"] = {"deal_price": "midpoint"}
    found = errors(validator, config)
    assert any(e.startswith("portfolio.topk") for e in found)
    assert any(e.startswith("backtest.deal_price") for e in found)


def test_cli_prints_or_writes_the_schema(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(app, ["config", "schema"])
    assert printed.exit_code == 0
    assert json.loads(printed.stdout) == config_json_schema()
    out = tmp_path / "seqalpha.schema.json"
    written = runner.invoke(app, ["config", "schema", "--out", str(out)])
    assert written.exit_code == 0 and json.loads(out.read_text()) == config_json_schema()
    bad = runner.invoke(app, ["config", "schema", "--out", str(tmp_path / "no" / "x.json")])
    assert bad.exit_code == 2 and "x.json" in bad.stderr
