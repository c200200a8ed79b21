"""The pipeline configuration: safe YAML -> pydantic models with one-line, key-naming errors.

YAML is read with `yaml.safe_load` only (Python object tags are rejected). Every section
forbids unknown keys. Components (models, processors, strategies) are chosen by registered
names, never by importable class paths, so a config cannot execute code.
New sections are added as fields of `PipelineConfig` (each a `Section` subclass).
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import importlib.util
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from seqalpha.errors import ConfigError

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
_DOTTED_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")

# Sections whose values change the predictions of a run (hashed for resume checks).
PREDICTION_SECTIONS = ("data", "features", "labels", "processors", "model", "walkforward", "seeds")


def _check_name(value: str) -> str:
    if _DOTTED_RE.match(value) or "." in value or ":" in value or "/" in value:
        raise ValueError(
            f"{value!r} looks like an importable class path; components are "
            f"chosen by registered name"
        )
    if not _NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a valid registered name (letters, digits, _ and -)")
    return value


RegisteredName = Annotated[str, AfterValidator(_check_name)]


def _looks_importable(value: str) -> bool:
    """A dotted string whose first component is an importable top-level module (no import)."""
    if not _DOTTED_RE.match(value):
        return False
    try:
        return importlib.util.find_spec(value.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def _reject_class_paths(value: Any, path: str) -> None:
    """Raise on any string in a params tree that resolves like `package.module.Class`."""
    if isinstance(value, str):
        if _looks_importable(value):
            raise ValueError(
                f"key {path!r} holds {value!r}, which looks like an importable "
                f"class path; components are chosen by registered name"
            )
    elif isinstance(value, dict):
        for k, v in value.items():
            _reject_class_paths(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _reject_class_paths(v, f"{path}.{i}")


class Section(BaseModel):
    """Base of every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SyntheticSpec(Section):
    """A synthetic market to generate into `data.dir` when it is absent (deterministic)."""

    n_stocks: int = Field(300, ge=10, le=20000)
    n_days: int = Field(750, ge=60, le=20000)
    bar_minutes: int = Field(30, gt=0, le=240)
    seed: int = 0


class DataConfig(Section):
    """Where the daily store (and minute bars) are and which slice of them to load."""

    dir: str = "../shared/data/cn_csi300"
    synthetic: SyntheticSpec | None = None
    universe: str | list[str] = "csi300"
    start: _dt.date | None = None
    end: _dt.date | None = None
    benchmark: str = "SH000300"
    minute_dir: str | None = None
    bar_minutes: int = Field(30, gt=0, le=240)


class FeaturesConfig(Section):
    """Daily feature library, extra expressions, and sequence look-back (days)."""

    library: Literal["alpha158", "alpha360", "intraday", "none"] = "alpha158"
    extra: dict[str, str] = Field(default_factory=dict)
    lookback: int = Field(1, ge=1, le=1000)
    bars: bool = False
    intraday_window: int = Field(20, ge=1)


class LabelsConfig(Section):
    """Forward-return labels: `seqalpha.labels.LabelSpec` fields."""

    horizons: list[int] = Field(default_factory=lambda: [1], min_length=1)
    kind: RegisteredName = "raw"
    offset: int = Field(1, ge=0)
    benchmark: str | None = None
    price_field: str = "close"

    @field_validator("horizons")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(h < 1 for h in v):
            raise ValueError(f"horizons must be >= 1, got {v}")
        return v

    @property
    def reach(self) -> int:
        """Trading days after t that the label at t reads (offset + max horizon)."""
        return self.offset + max(self.horizons)


class ProcessorSpec(Section):
    """One processor by registered name with its keyword params."""

    name: RegisteredName
    params: dict[str, Any] = Field(default_factory=dict)


class ProcessorsConfig(Section):
    """Processors fitted on each window's training range: for features and for labels."""

    features: list[ProcessorSpec] = Field(default_factory=list)
    labels: list[ProcessorSpec] = Field(default_factory=list)


class ModelConfig(Section):
    """A registered model and its constructor params (`seed` comes from `seeds`)."""

    name: RegisteredName = "lgbm"
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _no_paths(cls, v: dict[str, Any]) -> dict[str, Any]:
        for k, val in v.items():
            _reject_class_paths(val, str(k))
        if "seed" in v:
            raise ValueError("params.seed: set seeds with the top-level `seeds` list")
        return v


class DateRange(Section):
    """An inclusive date range."""

    start: _dt.date
    end: _dt.date

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            if len(v) != 2:
                raise ValueError(f"a date range is [start, end], got {list(v)}")
            return {"start": v[0], "end": v[1]}
        return v

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class WalkForwardConfig(Section):
    """Train/valid/test windows on the trading calendar.

    fixed: explicit `train`, `valid`, `test` ranges (the last `embargo` days of train and valid
    are purged when `purge`). rolling: retrain every `step` test days on the last `train_days`
    days (the last `valid_days` of them validation). expanding: like rolling, from `train_start`.
    `embargo` (trading days between ranges) defaults to, and may not be below, label reach.
    """

    schedule: Literal["fixed", "rolling", "expanding"] = "fixed"
    train: DateRange | None = None
    valid: DateRange | None = None
    test: DateRange | None = None
    step: int = Field(10, ge=1)
    train_days: int = Field(120, ge=2)
    valid_days: int = Field(5, ge=0)
    train_start: _dt.date | None = None
    test_start: _dt.date | None = None
    test_end: _dt.date | None = None
    embargo: int | None = Field(None, ge=0)
    purge: bool = True

    @model_validator(mode="after")
    def _schedule_fields(self) -> WalkForwardConfig:
        if self.schedule == "fixed":
            if self.train is None or self.test is None:
                raise ValueError(
                    "schedule 'fixed' needs `train` and `test` date ranges (and optionally `valid`)"
                )
        else:
            given = [k for k in ("train", "valid", "test") if getattr(self, k) is not None]
            if given:
                raise ValueError(
                    f"schedule {self.schedule!r} takes step/train_days/valid_days/"
                    f"test_start/test_end, not explicit ranges {given}"
                )
            if self.valid_days >= self.train_days:
                raise ValueError(
                    f"valid_days {self.valid_days} must be < train_days {self.train_days}"
                )
        return self


class ExecutorConfig(Section):
    """Where windows run: serially, in worker processes, or as Ray tasks."""

    kind: Literal["local", "process", "ray"] = "local"
    address: str | None = None
    workers: int = Field(2, ge=1, le=256)


class PortfolioConfig(Section):
    """Signal -> target weights (consumed by the portfolio stage)."""

    strategy: RegisteredName = "topk_dropout"
    topk: int = Field(50, ge=1)
    n_drop: int = Field(5, ge=0)
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _drop_le_topk(self) -> PortfolioConfig:
        if self.n_drop > self.topk:
            raise ValueError(f"n_drop {self.n_drop} exceeds topk {self.topk}")
        return self


class BacktestConfig(Section):
    """Exchange rules and costs (defaults: the benchmark protocol of BENCHMARKS.md)."""

    limit_threshold: float | None = Field(
        0.095, gt=0, lt=1, description="fraction: 0.095 = 9.5% daily price limit"
    )
    buy_cost: float = Field(0.0005, ge=0, lt=1)
    sell_cost: float = Field(0.0015, ge=0, lt=1)
    min_cost: float = Field(5.0, ge=0)
    account: float = Field(1e8, gt=0)
    deal_price: Literal["close", "open", "vwap"] = "close"
    lot_size: int = Field(100, ge=1)


class TrackingConfig(Section):
    """Experiment tracking; `tracking_uri: null` = a local MLflow file store in the run dir."""

    enabled: bool = True
    tracking_uri: str | None = None
    experiment: str = "seqalpha"


class BaselineSpec(Section):
    """A baseline run of the same pipeline with `set` overrides (key.path -> value)."""

    name: RegisteredName
    set: dict[str, Any] = Field(default_factory=dict)

    @field_validator("set")
    @classmethod
    def _no_paths(cls, v: dict[str, Any]) -> dict[str, Any]:
        for k, val in v.items():
            _reject_class_paths(val, str(k))
            if k.split(".")[0] in ("baselines", "tracking"):
                raise ValueError(f"set.{k}: a baseline cannot override {k.split('.')[0]!r}")
        return v


class PipelineConfig(Section):
    """The whole pipeline; each field is one section."""

    data: DataConfig = Field(default_factory=DataConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    processors: ProcessorsConfig = Field(default_factory=ProcessorsConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    walkforward: WalkForwardConfig
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    portfolio: PortfolioConfig = Field(default_factory=PortfolioConfig)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    baselines: list[BaselineSpec] = Field(default_factory=list)

    @field_validator("seeds")
    @classmethod
    def _unique(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"seeds must be distinct, got {v}")
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> PipelineConfig:
        wf, reach = self.walkforward, self.labels.reach
        if wf.embargo is not None and wf.embargo < reach:
            raise ValueError(
                f"walkforward.embargo: {wf.embargo} days is less than the label "
                f"reach offset+max(horizons) = {reach}"
            )
        if self.features.bars and not self.data.minute_dir:
            raise ValueError("features.bars: intraday sequences need data.minute_dir")
        if self.features.library == "intraday" and not self.data.minute_dir:
            raise ValueError("features.library: 'intraday' needs data.minute_dir")
        if self.features.library == "none" and not self.features.extra and not self.features.bars:
            raise ValueError(
                "features: library 'none' without extra expressions or bars leaves no inputs"
            )
        return self

    @property
    def embargo(self) -> int:
        """Trading days between train, valid and test ranges (at least the label reach)."""
        return (
            self.walkforward.embargo if self.walkforward.embargo is not None else self.labels.reach
        )


# ---------------------------------------------------------------------------- YAML and errors


def parse_yaml(text: str, source: str = "<string>") -> Any:
    """YAML text -> plain data with the safe loader; object tags are a one-line ConfigError."""
    try:
        return yaml.safe_load(text)
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


def _model_at(cls: type, loc: Sequence[Any]) -> type | None:
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


def _format_error(err: dict, root: type, prefix: str = "") -> str:
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


# -------------------------------------------------------------------------- overrides


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
    """The checkout root (src layout: <root>/src/seqalpha/config.py)."""
    return Path(__file__).resolve().parents[2]


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


def check_components(cfg: PipelineConfig) -> None:
    """Registered names exist: the model (and its params), processors, label kind."""
    import seqalpha.models  # noqa: F401  (registers the zoo)
    from seqalpha.models.registry import MODELS

    if cfg.model.name not in MODELS:
        raise ConfigError(
            f"model.name: unknown model {cfg.model.name!r}; allowed: {', '.join(sorted(MODELS))}"
        )
    try:  # constructors validate their params (unknown -> ConfigError naming it)
        model = MODELS[cfg.model.name](**cfg.model.params, seed=cfg.seeds[0])
    except ConfigError as exc:
        raise ConfigError(f"model.params: {exc}") from None
    except TypeError as exc:
        raise ConfigError(
            f"model.params: {cfg.model.name!r} rejects {sorted(cfg.model.params)} ({exc})"
        ) from None
    kind = getattr(model, "input_kind", "tabular")
    if kind == "intraday_seq" and not cfg.features.bars:
        raise ConfigError(
            f"features.bars: model {cfg.model.name!r} reads intraday sequences "
            f"(input_kind intraday_seq); set features.bars: true"
        )
    if (
        kind in ("tabular", "daily_seq")
        and cfg.features.library == "none"
        and not cfg.features.extra
    ):
        raise ConfigError(
            f"features.library: model {cfg.model.name!r} reads daily features "
            f"(input_kind {kind}); choose a library or extra expressions"
        )
    procs = _processor_names()
    if procs is not None:
        for group in ("features", "labels"):
            for i, spec in enumerate(getattr(cfg.processors, group)):
                if spec.name not in procs:
                    raise ConfigError(
                        f"processors.{group}.{i}.name: unknown processor "
                        f"{spec.name!r}; allowed: {', '.join(sorted(procs))}"
                    )
    kinds = _label_kinds()
    if kinds is not None and cfg.labels.kind not in kinds:
        raise ConfigError(
            f"labels.kind: unknown label kind {cfg.labels.kind!r}; "
            f"allowed: {', '.join(sorted(kinds))}"
        )


def _processor_names() -> set[str] | None:
    try:
        from seqalpha.features import processors as mod
    except ImportError:
        return None
    for attr in ("PROCESSORS", "REGISTRY", "processors"):
        reg = getattr(mod, attr, None)
        if isinstance(reg, dict) and reg:
            return set(reg)
    return None


def _label_kinds() -> set[str] | None:
    try:
        import seqalpha.labels as mod
    except ImportError:
        return None
    for attr in ("LABEL_KINDS",):
        reg = getattr(mod, attr, None)
        if isinstance(reg, (dict, set, list, tuple, frozenset)) and reg:
            return set(reg)
    return None


def config_from_dict(
    raw: Any,
    source: str = "<config>",
    base_dir: Path | None = None,
    data_dir: str | Path | None = None,
    check: bool = True,
) -> PipelineConfig:
    """Validate plain data as a PipelineConfig; paths made absolute; errors are one line."""
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
        # synthetic market), then like data.dir
        md = Path(cfg.data.minute_dir)
        if not md.is_absolute() and (Path(cfg.data.dir) / md).exists():
            cfg.data.minute_dir = str((Path(cfg.data.dir) / md).resolve())
        else:
            cfg.data.minute_dir = resolve_path(cfg.data.minute_dir, bases)
    if check:
        try:
            check_components(cfg)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return cfg


def load_config(
    path: str | Path,
    sets: Sequence[str] = (),
    data_dir: str | Path | None = None,
    check: bool = True,
) -> PipelineConfig:
    """Read a YAML config, apply `--set` overrides and `--data-dir`, validate."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    raw = parse_yaml(path.read_text(), source=str(path))
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    raw = apply_overrides(raw or {}, sets)
    return config_from_dict(
        raw, source=str(path), base_dir=path.resolve().parent, data_dir=data_dir, check=check
    )


def config_to_dict(cfg: PipelineConfig) -> dict:
    """Plain (JSON/YAML-safe) data of a config: dates as ISO strings."""
    return cfg.model_dump(mode="json")


def dump_config(cfg: PipelineConfig, path: str | Path) -> None:
    """Write the resolved config as YAML atomically (loads back to an equal config)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    os.replace(tmp, path)


def config_hash(cfg: PipelineConfig, sections: Sequence[str] = PREDICTION_SECTIONS) -> str:
    """sha256 (16 hex) of the sections that change predictions (not executor or reporting)."""
    d = config_to_dict(cfg)
    blob = json.dumps({k: d[k] for k in sections}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
