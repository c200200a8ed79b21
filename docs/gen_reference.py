"""Generated reference pages of the docs site: the config reference (walks the pydantic schema
`seqalpha.config.schema.PipelineConfig`) and the model zoo (walks the model registry).

Used as a mkdocs hook (`hooks:` in mkdocs.yml): the pages are added to the build in memory,
so they cannot go stale. `python docs/gen_reference.py OUT_DIR` writes them as files instead.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

CONFIG_PAGE = "reference/config.md"
MODELS_PAGE = "reference/models.md"

# -------------------------------------------------------------------------------- config page


def _anchor(path: str) -> str:
    return "cfg-" + path.replace(".", "-").replace("_", "-")


def _strip_annotated(tp: Any) -> tuple[Any, list[Any]]:
    meta: list[Any] = []
    while typing.get_origin(tp) is typing.Annotated:
        tp, *extra = typing.get_args(tp)
        meta.extend(extra)
    return tp, meta


def _type_text(tp: Any, links: dict[type, str]) -> str:
    """A readable type: `int`, `date`, `"a" | "b"`, `list of int`, a link to a nested section."""
    tp, _ = _strip_annotated(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return " \\| ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`" for a in tp.__args__)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_text(a, links) for a in typing.get_args(tp))
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        return f"list of {_type_text(inner, links)}"
    if origin is dict:
        return "mapping"
    if tp is type(None):
        return "`null`"
    if tp is Any:
        return "any"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"[{tp.__name__}](#{links[tp]})" if tp in links else tp.__name__
    return getattr(tp, "__name__", str(tp))


def _constraints(field: Any) -> str:
    _, meta = _strip_annotated(field.annotation)
    parts = []
    for m in [*field.metadata, *meta]:
        for cls, attr, sym in (
            (Ge, "ge", ">="),
            (Gt, "gt", ">"),
            (Le, "le", "<="),
            (Lt, "lt", "<"),
        ):
            if isinstance(m, cls):
                parts.append(f"{sym} {getattr(m, attr):,}")
        if isinstance(m, MinLen):
            parts.append(f"length >= {m.min_length}")
        if isinstance(m, MaxLen):
            parts.append(f"length <= {m.max_length}")
    return ", ".join(parts)


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(its defaults)"
    elif field.default is PydanticUndefined:
        return "**required**"
    else:
        value = field.default
    return _value(value)


def _value(v: Any) -> str:
    """A value as YAML/JSON spells it (`null`, `true`, `"text"`), in code style."""
    try:
        text = json.dumps(v, ensure_ascii=False)
    except TypeError:
        text = repr(v)
    return f"`{text}`".replace("|", "\\|")


def _comments(cls: type) -> dict[str, str]:
    """Field name -> its source comment (trailing `# ...` or the comment lines just above)."""
    try:
        lines = textwrap.dedent(inspect.getsource(cls)).splitlines()
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    above: list[str] = []
    for line in lines:
        text = line.strip()
        if text.startswith("#"):
            above.append(text.lstrip("# "))
            continue
        m = re.match(r"^\s{4}(\w+)\s*:", line)
        if m:
            trailing = line.split("  # ", 1)[1].strip() if "  # " in line else ""
            out[m.group(1)] = " ".join([*above, trailing]).strip()
        above = []
    return out


def _doc(cls: type) -> str:
    return inspect.cleandoc(cls.__doc__ or "")


def _sections(root: type[BaseModel]) -> list[tuple[str, type[BaseModel], list[str]]]:
    """(first path, model, other paths) of every nested model, depth first in field order."""
    found: dict[type, list[str]] = {}

    def walk(model: type[BaseModel], path: str) -> None:
        for name, field in model.model_fields.items():
            sub = f"{path}.{name}" if path else name
            stack = [field.annotation]
            while stack:
                tp, _ = _strip_annotated(stack.pop())
                if isinstance(tp, type) and issubclass(tp, BaseModel):
                    first = tp not in found
                    found.setdefault(tp, []).append(sub)
                    if first:
                        walk(tp, sub)
                else:
                    stack.extend(typing.get_args(tp))

    walk(root, "")
    return [(paths[0], model, paths[1:]) for model, paths in found.items()]


def config_reference_md() -> str:
    """The config reference page: one table per section, generated from the schema."""
    from seqalpha.config.schema import PipelineConfig

    sections = [("", PipelineConfig, []), *_sections(PipelineConfig)]
    links = {model: _anchor(path or "top") for path, model, _ in sections}
    out = [
        "# Config reference",
        "",
        "Generated from the pydantic schema (`seqalpha.config.schema.PipelineConfig`) when the "
        "site is built. Every section refuses unknown keys; names of models, processors, "
        "strategies and executors are registered names, checked before any data is read. "
        "`seqalpha config schema` prints the same schema as JSON for editors.",
        "",
    ]
    for path, model, others in sections:
        title = f"`{path}`" if path else "Top level"
        out += [f"## {title} {{#{links[model]}}}", "", f"*{model.__name__}*", "", _doc(model), ""]
        if others:
            out += ["Also at: " + ", ".join(f"`{p}`" for p in others) + ".", ""]
        notes = _comments(model)
        out += ["| key | type | default | allowed | notes |", "|---|---|---|---|---|"]
        for name, field in model.model_fields.items():
            note = field.description or notes.get(name, "")
            row = [
                f"`{name}`",
                _type_text(field.annotation, links),
                _default(field),
                _constraints(field),
                note.replace("|", "\\|"),
            ]
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    return "\n".join(out)


# -------------------------------------------------------------------------------- models page

SHARED = ("Model", "TorchModel")
README = Path(__file__).resolve().parents[1] / "README.md"


def readme_param_notes(readme: Path = README) -> dict[str | None, dict[str, str]]:
    """Parameter meanings from the README's "Model parameters" tables (one source of truth):
    None -> the shared torch table, a model name -> the table under its `### name` heading."""
    if not readme.is_file():
        return {}
    text = re.split(r"(?m)^## Model parameters", readme.read_text(encoding="utf-8"), maxsplit=1)
    if len(text) < 2:
        return {}
    body = re.split(r"(?m)^## ", text[1], maxsplit=1)[0]
    notes: dict[str | None, dict[str, str]] = {}
    current: str | None = None
    for line in body.splitlines():
        if line.startswith("### "):
            current = re.split(r"[\s`]+", line[4:].strip("` "))[0]
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3 or set(cells[0]) <= set("-: "):
            continue
        for name in re.findall(r"`(\w+)`", cells[0]):
            notes.setdefault(current, {})[name] = cells[-1]
    return notes


def _params_table(
    cls: type, names: list[str], owner: dict[str, str], notes: dict[str, str]
) -> list[str]:
    defaults, choices = cls.param_defaults(), cls.param_choices()  # type: ignore[attr-defined]
    rows = [
        "| param | default | allowed values | declared by | meaning (README) |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        allowed = ", ".join(_value(c) for c in choices.get(name, ()))
        rows.append(
            f"| `{name}` | {_value(defaults[name])} | {allowed} | `{owner[name]}` "
            f"| {notes.get(name, '')} |"
        )
    return rows


def _owners(cls: type) -> dict[str, str]:
    owner: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for name in klass.__dict__.get("PARAMS", {}) or {}:
            owner[name] = klass.__name__
    return owner


def models_md() -> str:
    """The model zoo page: a summary table, then each model's own parameters."""
    import seqalpha.models  # noqa: F401  (registers the zoo)
    from seqalpha.models.registry import MODELS

    names = sorted(MODELS)
    notes = readme_param_notes()
    out = [
        "# Model zoo",
        "",
        "Generated from the model registry (`seqalpha.models.registry.MODELS`) and each model's "
        "`PARAMS` / `CHOICES` when the site is built. A config chooses a model by name "
        "(`model.name`) and sets `model.params`; an unknown parameter or value is a one-line "
        "error. `seed` comes from the config's `seeds` list.",
        "",
        "| name | class | input | what it is |",
        "|---|---|---|---|",
    ]
    torch_base = None
    for name in names:
        cls = MODELS[name]
        first = (inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0]).replace("\n", " ")
        out.append(
            f"| [`{name}`](#model-{name.replace('_', '-')}) | `{cls.__module__}.{cls.__name__}` "
            f"| `{cls.input_kind}` | {first.replace('|', '/')} |"
        )
        torch_base = torch_base or next(
            (k for k in cls.__mro__ if k.__name__ == "TorchModel"), None
        )
    if torch_base is not None:
        shared = list(torch_base.__dict__["PARAMS"])
        out += [
            "",
            "## Parameters shared by the torch models {#torch-shared}",
            "",
            "Every torch model (`input` `daily_seq` or a torch `tabular` model such as `mlp`) "
            "trains in the one loop of `seqalpha.models.loop` and accepts these:",
            "",
            *_params_table(torch_base, shared, _owners(torch_base), notes.get(None, {})),
        ]
    for name in names:
        cls = MODELS[name]
        owner = _owners(cls)
        own = [p for p in cls.param_defaults() if owner[p] not in SHARED]
        doc = inspect.cleandoc(cls.__doc__ or "").replace("\n\n", "\n\n")
        out += ["", f"## `{name}` {{#model-{name.replace('_', '-')}}}", "", doc, ""]
        uses_torch = any(k.__name__ == "TorchModel" for k in cls.__mro__)
        if uses_torch:
            out += ["Also takes the [shared torch parameters](#torch-shared).", ""]
        own_notes = notes.get(name, {})
        out += _params_table(cls, own, owner, own_notes) if own else ["No parameters of its own."]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------- cli page

CLI_PAGE = "reference/cli.md"


def _cli_commands(cmd: Any, path: list[str]) -> list[tuple[str, Any]]:
    """(full command, click command) of every leaf command, in registration order."""
    subs = getattr(cmd, "commands", None)
    if subs is None:
        return [(" ".join(path), cmd)]
    found: list[tuple[str, Any]] = []
    for name, sub in subs.items():
        found += _cli_commands(sub, [*path, name])
    return found


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def cli_md() -> str:
    """The command reference: every `seqalpha` command with its arguments and options, generated
    from the typer app (what `--help` prints)."""
    import typer

    from seqalpha.cli import app

    out = [
        "# Command reference",
        "",
        "Generated from the `seqalpha` command-line app when the site is built (the same text as "
        "each command's `--help`). Errors are one line naming the file, field or config key, "
        "with exit code 2.",
    ]
    for name, cmd in _cli_commands(typer.main.get_command(app), ["seqalpha"]):
        if name == "seqalpha":
            continue
        anchor = "cli-" + name.removeprefix("seqalpha ").replace(" ", "-")
        out += ["", f"## `{name}` {{#{anchor}}}", "", inspect.cleandoc(cmd.help or ""), ""]
        rows = []
        for p in cmd.params:
            if p.name in ("help", "install_completion", "show_completion"):
                continue
            what = (
                p.name.upper()
                if p.param_type_name == "argument"
                else ", ".join([*p.opts, *p.secondary_opts])
            )
            if p.required:
                default = "**required**"
            elif getattr(p, "is_flag", False) or p.default in (None, [], ()):
                default = ""
            else:
                default = f"`{p.default}`"
            repeat = " (repeatable)" if getattr(p, "multiple", False) else ""
            rows.append(f"| `{what}` | {default} | {_cell(getattr(p, 'help', '') or '')}{repeat} |")
        out += ["| argument / option | default | meaning |", "|---|---|---|", *rows] if rows else []
    return "\n".join(out) + "\n"


PAGES = {CONFIG_PAGE: config_reference_md, MODELS_PAGE: models_md, CLI_PAGE: cli_md}


# ---------------------------------------------------------------------------- the mkdocs hook

MORE = "More topics"


def _nav_pages(nav: Any) -> set[str]:
    """Every page path named in a mkdocs nav (nested lists and one-key mappings)."""
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, dict):
        return set().union(*(_nav_pages(v) for v in nav.values()))
    if isinstance(nav, list):
        return set().union(*(_nav_pages(v) for v in nav))
    return set()


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem.replace("-", " ").replace("_", " ").capitalize()


def unlisted_pages(docs_dir: Path, nav: list[Any]) -> list[tuple[str, str]]:
    """(title, path) of the Markdown pages under docs_dir that the nav does not name (pages
    other areas add, e.g. `docs/<area>.md`), sorted by path."""
    listed = _nav_pages(nav) | set(PAGES)
    found = sorted(p.relative_to(docs_dir).as_posix() for p in docs_dir.rglob("*.md"))
    return [(_title(docs_dir / p), p) for p in found if p not in listed]


def on_config(config: Any) -> Any:
    """mkdocs hook: pages missing from the nav go under "More topics" (a strict build would
    otherwise fail on a page added without a nav entry)."""
    extra = unlisted_pages(Path(config["docs_dir"]), config["nav"] or [])
    if extra and config["nav"] is not None:
        config["nav"].append({MORE: [{title: path} for title, path in extra]})
    return config


def on_files(files: Any, config: Any) -> Any:
    """mkdocs hook: add the generated pages to the build (in memory)."""
    from mkdocs.structure.files import File

    for uri, make in PAGES.items():
        files.append(File.generated(config, uri, content=make()))
    return files


if __name__ == "__main__":
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "site-src")
    for uri, make in PAGES.items():
        path = out_dir / uri
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make(), encoding="utf-8")
        print(path)
