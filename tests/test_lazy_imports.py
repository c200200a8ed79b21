"""What importing seqalpha costs: a run of a tabular model does not import torch (or the other
heavy optional packages); torch models register on first lookup."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from seqalpha.errors import ConfigError
from seqalpha.models import MODELS, create_model
from seqalpha.models.registry import LAZY_MODELS

HEAVY = ("torch", "ray", "cvxpy", "mlflow", "lightgbm")


def imported_after(code: str) -> dict[str, bool]:
    """Which HEAVY packages a fresh interpreter has imported after running `code`."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps({{p: p in sys.modules for p in {HEAVY!r}}}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_cli_imports_none_of_the_heavy_packages():
    assert imported_after("import seqalpha.cli") == dict.fromkeys(HEAVY, False)


def test_a_tabular_model_run_path_does_not_import_torch():
    code = (
        "import seqalpha.cli, seqalpha.pipeline, seqalpha.registries\n"
        "from seqalpha.models import MODELS, create_model\n"
        "create_model('lgbm')\n"
        "assert 'gru' in MODELS"
    )
    assert imported_after(code) == dict.fromkeys(HEAVY, False)


def test_lazy_names_are_exactly_what_their_modules_register():
    lazy_modules = set(LAZY_MODELS.values())
    registered = {name for name, cls in MODELS.items() if cls.__module__ in lazy_modules}
    assert registered == set(LAZY_MODELS)


def test_a_torch_model_is_found_by_name():
    model_cls = MODELS["gru"]
    assert model_cls.registered_name == "gru"
    assert create_model("gru").__class__ is model_cls


def test_an_unknown_model_lists_the_lazy_names_too():
    with pytest.raises(ConfigError, match=r"unknown model 'nope'.*'gru'"):
        create_model("nope")
