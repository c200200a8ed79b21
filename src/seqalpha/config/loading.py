"""Loading a config: safe YAML, `--set` overrides, paths, one-line key-naming errors, hash, dump.

YAML is read with a bounded safe loader (Python object tags are rejected; alias expansion, nesting
and size are capped so that a "billion laughs" document fails fast). Registered names are checked
against the stage registries by `seqalpha.registries.check_components`, one level up.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from seqalpha.config.schema import PREDICTION_SECTIONS, PipelineConfig, check_date
from seqalpha.errors import ConfigError
from seqalpha.jsonio import write_text_atomic

# ---------------------------------------------------------------------------- YAML and errors


# Bounds of a YAML document: characters, nodes after alias expansion, nesting depth, aliases.
MAX_YAML_CHARS = 1_000_000
MAX_YAML_NODES = 100_000
MAX_YAML_DEPTH = 64
MAX_YAML_ALIASES = 1_000


def _check_node_graph(root: yaml.Node, source: str) -> None:
    """Refuse a composed document whose alias-expanded tree is too large, too deep or cyclic.

    Aliases share nodes, so the expanded size is computed once per node (memoized) without
    expanding anything; a node reached again while being walked is a recursive alias."""
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if isinstance(node, yaml.ScalarNode):
            sizes[key], depths[key] = 1, 1
            continue
        if isinstance(node, yaml.MappingNode):
            children = [c for pair in node.value for c in pair]
        else:
            children = list(node.value)
        if done:
            open_.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            depths[key] = 1 + max((depths[id(c)] for c in children), default=0)
            if sizes[key] > MAX_YAML_NODES:
                raise ConfigError(
                    f"{source}: YAML document expands to more than {MAX_YAML_NODES} nodes "
                    f"(alias bomb?); refused"
                )
            if depths[key] > MAX_YAML_DEPTH:
                raise ConfigError(
                    f"{source}: YAML nesting deeper than {MAX_YAML_DEPTH} levels; refused"
                )
            continue
        if key in sizes:
            continue
        if key in open_:
            raise ConfigError(f"{source}: recursive YAML alias (a node contains itself); refused")
        open_.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
        for c in children:
            if id(c) in open_:
                raise ConfigError(
                    f"{source}: recursive YAML alias (a node contains itself); refused"
                )


class _BoundedComposer(yaml.SafeLoader):
    """The safe loader, counting aliases and nesting while composing (before any expansion)."""

    def __init__(self, stream: str, source: str) -> None:
        super().__init__(stream)
        self._source, self._aliases, self._depth = source, 0, 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise ConfigError(
                    f"{self._source}: more than {MAX_YAML_ALIASES} YAML aliases; refused"
                )
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise ConfigError(
                    f"{self._source}: YAML nesting deeper than {MAX_YAML_DEPTH} levels; refused"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _lenient_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    """A YAML timestamp; an impossible one (2021-02-30) stays a string for the schema to name."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_BoundedComposer.add_constructor("tag:yaml.org,2002:timestamp", _lenient_timestamp)


def safe_load_bounded(text: str, source: str = "<string>") -> Any:
    """`yaml.safe_load` with bounds: size, alias count, expanded nodes, depth; no cycles."""
    if len(text) > MAX_YAML_CHARS:
        raise ConfigError(f"{source}: YAML text longer than {MAX_YAML_CHARS} characters; refused")
    loader = _BoundedComposer(text, source)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_node_graph(node, source)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def parse_yaml(text: str, source: str = "<string>") -> Any:
    """YAML text -> plain data with the bounded safe loader; every problem is a one-line
    ConfigError (object tags, syntax, impossible dates, alias bombs)."""
    try:
        return safe_load_bounded(text, source)
    except ValueError as exc:  # the timestamp constructor: e.g. 2021-02-30
        raise ConfigError(f"{source}: invalid date or number in YAML ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{source}: YAML nested too deeply; refused") from None
    except yaml.constructor.ConstructorError as exc:
        tag = getattr(exc, "problem", "") or str(exc)
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ConfigError(
            f"{where}: unsafe or unknown YAML tag rejected ({tag.strip()}); "
            f"only plain YAML values are allowed"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML ({problem})") from None


def _unwrap(ann: Any) -> Any:
    """The BaseModel class inside Optional[...] / list[...] / Annotated[...] annotations."""
    origin = get_origin(ann)
    if origin is None:
        return ann
    for arg in get_args(ann):
        inner = _unwrap(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return ann


def _model_at(cls: type, loc: Sequence[Any]) -> type[BaseModel] | None:
    cur: Any = cls
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(cur, type) and issubclass(cur, BaseModel)):
            return None
        f = cur.model_fields.get(part)
        if f is None:
            return None
        cur = _unwrap(f.annotation)
    return cur if isinstance(cur, type) and issubclass(cur, BaseModel) else None


def _format_error(err: Mapping[str, Any], root: type, prefix: str = "") -> str:
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
    # pydantic adds union member names (e.g. 'str', 'list[str]') to the loc; drop them
    loc = [p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("str", "int")))]
    path = prefix + ".".join(str(p) for p in loc)
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        parent = _model_at(root, loc[:-1])
        allowed = ", ".join(parent.model_fields) if parent is not None else "?"
        return f"{path}: unknown key; allowed: {allowed}"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{path}: {err.get('input')!r} is not allowed; allowed: {expected}"
    if kind == "missing":
        return f"{path}: required key is missing"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
        return f"{path}: {msg}" if path else msg
    return f"{path}: {msg} (got {err.get('input')!r})"


def validation_message(exc: ValidationError, root: type | None = None, prefix: str = "") -> str:
    """All errors of a pydantic ValidationError on ONE line, each naming its key path."""
    root = root or PipelineConfig
    parts = [_format_error(e, root, prefix) for e in exc.errors()]
    return "; ".join(p.replace("\n", " ") for p in parts)


def parse_cli_date(value: str | None, option: str) -> _dt.date | None:
    """A command-line date (YYYY-MM-DD, a real day) or None; else a one-line ConfigError."""
    if value is None:
        return None
    try:
        return check_date(value)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


# -------------------------------------------------------------------------- overrides


_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")


def apply_overrides(raw: dict, sets: Sequence[str]) -> dict:
    """A copy of `raw` with `key.path=value` overrides (values parsed as YAML) applied."""
    out = copy.deepcopy(raw) if raw else {}
    for item in sets:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key.path=value")
        key, text = item.split("=", 1)
        key = key.strip()
        if not key or any(not p for p in key.split(".")):
            raise ConfigError(f"--set {item!r}: empty key path")
        if not _KEY_RE.match(key):
            raise ConfigError(
                f"--set {key!r}: a key path is names and indexes joined by dots "
                f"(letters, digits, _ and -)"
            )
        value = parse_yaml(text, source=f"--set {key}")
        parts = key.split(".")
        cur: Any = out
        for i, part in enumerate(parts[:-1]):
            here = ".".join(parts[: i + 1])
            if isinstance(cur, list):
                if not part.isdigit() or int(part) >= len(cur):
                    raise ConfigError(
                        f"--set {key}: {here!r} is not an index of a list of {len(cur)} items"
                    )
                cur = cur[int(part)]
                continue
            if not isinstance(cur, dict):
                raise ConfigError(f"--set {key}: {'.'.join(parts[:i])!r} is not a mapping")
            if cur.get(part) is None:
                cur[part] = {}
            cur = cur[part]
        last = parts[-1]
        if isinstance(cur, list):
            if not last.isdigit() or int(last) >= len(cur):
                raise ConfigError(
                    f"--set {key}: {last!r} is not an index of a list of {len(cur)} items"
                )
            cur[int(last)] = value
        elif isinstance(cur, dict):
            cur[last] = value
        else:
            raise ConfigError(f"--set {key}: {'.'.join(parts[:-1])!r} is not a mapping")
    return out


# ------------------------------------------------------------------- loading and checking


def repo_root() -> Path:
    """The checkout root (src layout: <root>/src/seqalpha/config/loading.py)."""
    return Path(__file__).resolve().parents[3]


def resolve_path(path: str, base_dirs: Sequence[Path] = ()) -> str:
    """An absolute path: as given if absolute, else the first existing of cwd / repo root /
    `base_dirs` joined with it (cwd when none exists)."""
    p = Path(os.path.expanduser(path))
    if p.is_absolute():
        return str(p)
    for base in (Path.cwd(), repo_root(), *base_dirs):
        cand = (base / p).resolve()
        if cand.exists():
            return str(cand)
    return str((Path.cwd() / p).resolve())


def config_from_dict(
    raw: Any,
    source: str = "<config>",
    base_dir: Path | None = None,
    data_dir: str | Path | None = None,
) -> PipelineConfig:
    """Validate plain data as a PipelineConfig; paths made absolute; errors are one line.

    Registered names are checked by `seqalpha.registries.check_components` (not here)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping of sections, got {type(raw).__name__}"
        )
    try:
        cfg = PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {validation_message(exc)}") from None
    bases = [base_dir] if base_dir is not None else []
    if data_dir is not None:
        cfg.data.dir = str(Path(data_dir).expanduser().resolve())
    else:
        cfg.data.dir = resolve_path(cfg.data.dir, bases)
    if cfg.data.minute_dir:
        # a relative minute_dir is looked up inside data.dir first (e.g. `minute` of a
        # synthetic market, which is inside data.dir even before the run generates it), then
        # like data.dir
        md = Path(cfg.data.minute_dir)
        inside = (Path(cfg.data.dir) / md).exists() or cfg.data.synthetic is not None
        if not md.is_absolute() and inside:
            cfg.data.minute_dir = str((Path(cfg.data.dir) / md).resolve())
        else:
            cfg.data.minute_dir = resolve_path(cfg.data.minute_dir, bases)
    return cfg


def check_data_names(cfg: PipelineConfig) -> None:
    """The universe and benchmark names exist in an existing Qlib store (`data.dir` with
    `instruments/`), checked before any data is read; a store not there yet (synthetic: made
    by the run) is skipped."""
    root = Path(cfg.data.dir)
    inst = root / "instruments"
    if not inst.is_dir():
        return
    universe = cfg.data.universe
    if isinstance(universe, str) and not (inst / f"{universe}.txt").is_file():
        avail = sorted(p.stem for p in inst.glob("*.txt"))
        raise ConfigError(
            f"data.universe: no market {universe!r} in {inst}; allowed: {', '.join(avail[:30])}"
        )
    features = root / "features"
    if not features.is_dir():
        return
    # the default data.benchmark (SH000300) is only needed by a backtest: checked when given
    given = "benchmark" in cfg.data.model_fields_set
    for key, code in (
        ("data.benchmark", cfg.data.benchmark if given else None),
        ("labels.benchmark", cfg.labels.benchmark),
    ):
        if code and not (features / code.lower()).is_dir():
            raise ConfigError(f"{key}: instrument {code!r} has no data in {features}")


def load_config(
    path: str | Path,
    sets: Sequence[str] = (),
    data_dir: str | Path | None = None,
) -> PipelineConfig:
    """Read a YAML config, apply `--set` overrides and `--data-dir`, validate the schema."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    raw = parse_yaml(path.read_text(), source=str(path))
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    raw = apply_overrides(raw or {}, sets)
    cfg = config_from_dict(raw, source=str(path), base_dir=path.resolve().parent, data_dir=data_dir)
    try:
        check_data_names(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return cfg


def config_to_dict(cfg: PipelineConfig) -> dict:
    """Plain (JSON/YAML-safe) data of a config: dates as ISO strings."""
    return cfg.model_dump(mode="json")


def config_yaml(cfg: PipelineConfig) -> str:
    """The resolved config as YAML text (loads back to an equal config)."""
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def dump_config(cfg: PipelineConfig, path: str | Path) -> None:
    """Write the resolved config as YAML atomically (`config_yaml`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, config_yaml(cfg))


def config_hash(cfg: PipelineConfig, sections: Sequence[str] = PREDICTION_SECTIONS) -> str:
    """sha256 (16 hex) of the sections that change predictions (not executor or reporting)."""
    d = config_to_dict(cfg)
    blob = json.dumps({k: d[k] for k in sections}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
