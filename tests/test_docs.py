"""The documentation site: generated reference pages cover the schema and the model zoo, and
`mkdocs build --strict` builds the site and fails on a broken link."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).parent / "mkdocs"


def load_docs_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = load_docs_module("gen_reference")
plain = load_docs_module("griffe_plain_docstrings")


def section_tables(page: str) -> dict[str, str]:
    """Heading text -> the page text under it, of the generated config page."""
    parts = page.split("\n## ")[1:]
    return {p.split(" {#")[0].strip("`"): p for p in parts}


def test_config_reference_lists_every_key_of_every_section() -> None:
    from seqalpha.config.schema import PipelineConfig

    tables = section_tables(gen.config_reference_md())
    assert (
        "| `walkforward` | [WalkForwardConfig](#cfg-walkforward) | **required** |"
        in tables["Top level"]
    )
    for path, model, _ in gen._sections(PipelineConfig):
        for name in model.model_fields:
            assert f"| `{name}` |" in tables[path], f"{path}.{name} missing"
    # ranges and comments come from the schema's source
    assert "| `bar_minutes` | int | `30` | > 0, <= 240 |" in tables["data"]
    assert 'a registered library, or "none"' in tables["features"]


def test_config_reference_follows_nested_sections() -> None:
    class Inner(BaseModel):
        """Inner doc."""

        depth: int = 3  # how deep

    class Outer(BaseModel):
        one: Inner | None = None
        many: list[Inner] = []

    found = gen._sections(Outer)
    assert [(p, m, o) for p, m, o in found] == [("one", Inner, ["many"])]
    assert gen._comments(Inner) == {"depth": "how deep"}


def test_model_zoo_page_lists_every_registered_model_and_its_params() -> None:
    from seqalpha.models.registry import MODELS

    page = gen.models_md()
    for name in MODELS:
        cls = MODELS[name]
        assert f"## `{name}` {{#model-{name.replace('_', '-')}}}" in page
        own = [p for p, owner in gen._owners(cls).items() if owner not in gen.SHARED]
        section = page.split(f"## `{name}` ")[1].split("\n## ")[0]
        for param in own:
            assert f"| `{param}` |" in section, f"{name}.{param} missing"
    assert '| `early_stop_metric` | `"icir"` | `"ic"`, `"rank_ic"`' in page  # shared torch table


def test_docstrings_become_markdown_with_fenced_doctests_and_literal_shapes() -> None:
    text = "Scores [T, N] and `x[0]`.\n\n>>> f([1, 2])\n[1, 2]\n\nAfter [done]."
    assert plain.plain_to_markdown(text).splitlines() == [
        "Scores \\[T, N\\] and `x[0]`.",
        "",
        "",
        "```pycon",
        ">>> f([1, 2])",
        "[1, 2]",
        "```",
        "",
        "After \\[done\\].",
    ]


def mkdocs(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [str(MKDOCS), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = mkdocs("build", "--strict", "--site-dir", str(site), cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    config = (site / "reference" / "config" / "index.html").read_text(encoding="utf-8")
    assert 'id="cfg-walkforward"' in config
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert "load_config" in api and "example_market" in api


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    """The site's own settings (strict, link validation), on one page with a dead link."""
    cfg = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    for key in ("hooks", "plugins", "exclude_docs"):
        cfg.pop(key, None)
    cfg.update(docs_dir=str(tmp_path / "docs"), site_dir=str(tmp_path / "site"))
    cfg["nav"] = [{"Home": "index.md"}]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Home\n\nSee [the guide](missing.md).\n")
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(cfg))
    done = mkdocs("build", "--strict", cwd=tmp_path)
    assert done.returncode != 0
    assert "missing.md" in done.stderr


def test_pages_missing_from_the_nav_are_listed_under_more_topics(tmp_path: Path) -> None:
    (tmp_path / "reference").mkdir()
    (tmp_path / "index.md").write_text("# Home\n")
    (tmp_path / "risk.md").write_text("Intro\n\n# Risk models\n")
    (tmp_path / "reference" / "extra_notes.md").write_text("no heading\n")
    nav = [{"Home": "index.md"}, {"Reference": [{"Config": gen.CONFIG_PAGE}]}]
    assert gen.unlisted_pages(tmp_path, nav) == [
        ("Extra notes", "reference/extra_notes.md"),
        ("Risk models", "risk.md"),
    ]
    config = {"docs_dir": str(tmp_path), "nav": nav}
    gen.on_config(config)
    assert config["nav"][-1] == {
        gen.MORE: [{"Extra notes": "reference/extra_notes.md"}, {"Risk models": "risk.md"}]
    }


def test_make_docs_builds_strictly() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = makefile.split("\ndocs:", 1)[1].split("\n\n", 1)[0]
    assert "mkdocs build --strict" in target


def test_param_meanings_come_from_the_readme_tables(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "## Model parameters\n\n| parameter | default | meaning |\n|---|---|---|\n"
        "| `epochs`, `lr` | 20, 1e-3 | training length and step |\n\n"
        "### double_ensemble\n\n| parameter | default | meaning |\n|---|---|---|\n"
        "| `num_models` | 6 | sub-models |\n\n## Architecture\n\n| `x` | y | not a param |\n"
    )
    assert gen.readme_param_notes(readme) == {
        None: {"epochs": "training length and step", "lr": "training length and step"},
        "double_ensemble": {"num_models": "sub-models"},
    }
    page = gen.models_md()
    assert "| `early_stop_metric` |" in page and "meaning (README)" in page


def test_command_reference_lists_every_command_and_option() -> None:
    import typer

    from seqalpha.cli import app

    page = gen.cli_md()
    commands = gen._cli_commands(typer.main.get_command(app), ["seqalpha"])
    assert len(commands) > 10
    for name, cmd in commands:
        section = page.split(f"## `{name}` ")[1].split("\n## ")[0]
        for p in cmd.params:
            if p.param_type_name == "option" and p.name != "help":
                assert f"`{', '.join([*p.opts, *p.secondary_opts])}`" in section, (name, p.name)
    assert "| `CONFIG` | **required** | A pipeline config YAML. |" in page
