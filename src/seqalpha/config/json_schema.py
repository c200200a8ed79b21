"""The JSON schema of a pipeline config, generated from the pydantic models (`seqalpha config
schema`), so that editors complete and check YAML keys (e.g. yaml-language-server's `$schema`).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from seqalpha.config.schema import PipelineConfig

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_DATE = {"type": "string", "format": "date"}


def _accept_date_pairs(schema: dict[str, Any]) -> None:
    """DateRange also accepts `[start, end]` (its before-validator), so say so in the schema."""
    defs = schema.get("$defs", {})
    if "DateRange" not in defs:
        return
    as_object = defs["DateRange"]
    as_pair = {"type": "array", "items": _DATE, "minItems": 2, "maxItems": 2}
    defs["DateRange"] = {
        "title": as_object.get("title", "DateRange"),
        "description": "An inclusive date range: {start, end} or [start, end].",
        "anyOf": [{k: v for k, v in as_object.items() if k != "title"}, as_pair],
    }


def config_json_schema() -> dict[str, Any]:
    """The config's JSON schema (draft 2020-12): unknown keys are refused at every level."""
    schema = copy.deepcopy(PipelineConfig.model_json_schema())
    _accept_date_pairs(schema)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "seqalpha pipeline config",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def config_schema_json() -> str:
    """`config_json_schema()` as indented JSON text."""
    return json.dumps(config_json_schema(), indent=2, ensure_ascii=False)
