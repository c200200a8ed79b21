"""The pipeline configuration schema: pydantic models, one per section, unknown keys forbidden.

Components (models, processors, strategies) are chosen by registered names, never by importable
class paths, so a config cannot execute code. New sections are fields of `PipelineConfig`.
This module is at the bottom of the package: it imports only `seqalpha.errors`-level code.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

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
