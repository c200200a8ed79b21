"""The pipeline configuration schema: pydantic models, one per section, unknown keys forbidden.

Components (models, processors, strategies) are chosen by registered names, never by importable
class paths, so a config cannot execute code. New sections are fields of `PipelineConfig`.
This module is at the bottom of the package: it imports only `seqalpha.errors`-level code.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import math
import os
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
_DOTTED_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")

# Sections whose values change the predictions of a run (hashed for resume checks).
PREDICTION_SECTIONS = (
    "data",
    "features",
    "labels",
    "processors",
    "model",
    "walkforward",
    "seeds",
    "selection",
)


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

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MIN_YEAR, MAX_YEAR = 1900, 2200


def check_date(value: Any) -> Any:
    """A real calendar date: a YAML date or an ISO `YYYY-MM-DD` string (not a number, a
    timestamp with a time, or an impossible day such as 2021-02-30)."""
    if isinstance(value, _dt.datetime):
        if value.time() != _dt.time(0) or value.tzinfo is not None:
            raise ValueError(f"{value.isoformat()!r} has a time of day; expected a date YYYY-MM-DD")
        value = value.date()
    elif isinstance(value, str):
        text = value.strip()
        if not _ISO_DATE.match(text):
            raise ValueError(f"{value!r} is not a date YYYY-MM-DD")
        try:
            value = _dt.date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a real date ({exc})") from None
    elif not isinstance(value, _dt.date):
        raise ValueError(f"{value!r} is not a date YYYY-MM-DD")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"{value.isoformat()!r} is outside the years {MIN_YEAR}..{MAX_YEAR}")
    return value


Date = Annotated[_dt.date, BeforeValidator(check_date)]

# Thread and worker counts above this are refused (a config cannot ask for 100000 threads).
MAX_THREADS = max(4, 4 * (os.cpu_count() or 1))
# Sizes and counts (trees, epochs, hidden units, batch rows...) above this are refused.
MAX_COUNT = 1_000_000
MAX_SEED = 2**31 - 1

# Range rules of model / portfolio params by name (every model shares these meanings).
_COUNT_PARAMS = frozenset(
    {
        "n_estimators", "epochs", "batch_size", "seq_len", "hidden_size", "d_model",
        "dim_feedforward", "days_per_batch", "eval_days_per_batch", "hist_len", "kernel_size",
        "num_heads", "num_layers", "num_states", "n_fields", "router_hidden",
        "min_child_samples", "min_samples_leaf", "early_stopping_rounds", "max_stocks",
        "num_leaves", "vol_window", "topk", "cnn_dim", "cnn_kernel_size", "rnn_dups",
    }
)  # fmt: skip
_COUNT_LIST_PARAMS = frozenset({"hidden_sizes", "channels"})
_THREAD_PARAMS = frozenset({"threads", "num_threads", "n_jobs"})
_NONNEG_INT_PARAMS = frozenset({"patience", "label_col", "n_drop"})
_FRACTION_PARAMS = frozenset({"subsample", "colsample_bytree", "max_features", "max_weight"})
_UNIT_PARAMS = frozenset({"dropout"})  # [0, 1)
_POSITIVE_PARAMS = frozenset(
    {"lr", "learning_rate", "grad_clip", "tau", "sinkhorn_epsilon", "alpha_scale"}
)
_NONNEG_PARAMS = frozenset(
    {
        "alpha", "lambda_l1", "lambda_l2", "weight_decay", "lamb", "assigned_fit",
        "calm_tree_weight", "turbulent_tree_weight", "risk_aversion",
    }
)  # fmt: skip


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _range_error(key: str, value: Any) -> str | None:
    """Why `value` is out of range for a param named `key` (None when fine or not a number:
    types are the model's to check)."""
    if _is_num(value) and not math.isfinite(value):
        return "must be a finite number"
    if key in _THREAD_PARAMS and _is_int(value) and not 1 <= value <= MAX_THREADS:
        return (
            f"thread count must be in 1..{MAX_THREADS} "
            f"(4 x the {os.cpu_count()} cores of this machine)"
        )
    if key in _COUNT_PARAMS and _is_int(value) and not 1 <= value <= MAX_COUNT:
        return f"must be a count in 1..{MAX_COUNT}"
    if key == "max_depth" and _is_int(value) and not (value == -1 or 1 <= value <= 1000):
        return "must be -1 (unlimited) or in 1..1000"
    if key in _COUNT_LIST_PARAMS and isinstance(value, (list, tuple)):
        bad = [v for v in value if not (_is_int(v) and 1 <= v <= MAX_COUNT)]
        if bad or not value:
            return f"must be a non-empty list of counts in 1..{MAX_COUNT}"
    if key in _NONNEG_INT_PARAMS and _is_int(value) and not 0 <= value <= MAX_COUNT:
        return f"must be in 0..{MAX_COUNT}"
    if key in _FRACTION_PARAMS and _is_num(value) and not 0 < value <= 1:
        return "must be a fraction in (0, 1]"
    if key in _UNIT_PARAMS and _is_num(value) and not 0 <= value < 1:
        return "must be in [0, 1)"
    if key in _POSITIVE_PARAMS and _is_num(value) and not value > 0:
        return "must be > 0"
    if key in _NONNEG_PARAMS and _is_num(value) and not value >= 0:
        return "must be >= 0"
    return None


def check_param_ranges(params: dict[str, Any], where: str = "") -> None:
    """Raise ValueError naming `<where>key` for a param out of its range (see `_range_error`);
    non-finite numbers are refused at any depth."""
    stack: list[tuple[str, str, Any]] = [(str(k), str(k), v) for k, v in params.items()]
    while stack:
        path, key, value = stack.pop()
        problem = _range_error(key, value)
        if problem is not None:
            raise ValueError(f"{where}{path} = {value!r}: {problem}")
        if isinstance(value, dict):
            stack.extend((f"{path}.{k}", str(k), v) for k, v in value.items())
        elif isinstance(value, (list, tuple)) and key not in _COUNT_LIST_PARAMS:
            stack.extend((f"{path}.{i}", key, v) for i, v in enumerate(value) if _is_num(v))


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
    """Base of every config section: unknown keys are errors, floats are finite."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class SyntheticSpec(Section):
    """A synthetic market to generate into `data.dir` when it is absent (deterministic)."""

    n_stocks: int = Field(default=300, ge=10, le=20000)
    n_days: int = Field(default=750, ge=60, le=20000)
    bar_minutes: int = Field(default=30, gt=0, le=240)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)


def _no_nul(value: str | None) -> str | None:
    if value is not None and ("\0" in value or len(value) > 4096):
        raise ValueError(f"{value[:80]!r}... is not a usable path (NUL byte or too long)")
    return value


PathText = Annotated[str, AfterValidator(_no_nul)]


class DataConfig(Section):
    """Where the daily store (and minute bars) are and which slice of them to load."""

    dir: PathText = "../shared/data/cn_csi300"
    synthetic: SyntheticSpec | None = None
    universe: str | list[str] = "csi300"
    start: Date | None = None
    end: Date | None = None
    benchmark: str = "SH000300"
    minute_dir: PathText | None = None
    bar_minutes: int = Field(default=30, gt=0, le=240)

    @model_validator(mode="after")
    def _ordered(self) -> DataConfig:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class BetaQuantileConfig(Section):
    """Settings of the `beta_quantile` feature library (`features/beta_quantile.py`)."""

    weighting: Literal["equal", "cap"] = "equal"  # of the market and industry index returns
    windows: list[Annotated[int, Field(ge=5, le=1000)]] = Field(
        default_factory=lambda: [20, 60], min_length=1, max_length=10
    )
    buckets: int = Field(default=5, ge=2, le=100)


class FeaturesConfig(Section):
    """Daily feature library, extra expressions, and sequence look-back (days)."""

    library: RegisteredName = "alpha158"  # a registered library, or "none"
    extra: dict[str, str] = Field(default_factory=dict)
    lookback: int = Field(default=1, ge=1, le=1000)
    bars: bool = False
    intraday_window: int = Field(default=20, ge=1, le=1000)
    replace: bool = False  # an `extra` name may redefine a library feature (in its place)
    # out-of-core feature store (features/store.py): "auto" uses it when the features would
    # take more than store_threshold_gb in memory; store_dir None = a temporary directory
    store: Literal["auto", "memory", "disk"] = "auto"
    store_threshold_gb: float = Field(default=4.0, gt=0)
    store_dir: str | None = None
    # daily libraries computed beside `library`: alpha158, alpha360, beta_quantile
    extra_libraries: list[RegisteredName] = Field(default_factory=list, max_length=10)
    beta: BetaQuantileConfig = Field(default_factory=BetaQuantileConfig)


class LabelsConfig(Section):
    """Forward-return labels: `seqalpha.labels.LabelSpec` fields."""

    horizons: list[int] = Field(default_factory=lambda: [1], min_length=1)
    kind: RegisteredName = "raw"
    offset: int = Field(default=1, ge=0, le=1000)
    benchmark: str | None = None
    price_field: str = "close"

    @field_validator("horizons")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(h < 1 or h > 1000 for h in v):
            raise ValueError(f"horizons must be in 1..1000, got {v}")
        return v

    @property
    def reach(self) -> int:
        """Trading days after t that the label at t reads (offset + max horizon)."""
        return self.offset + max(self.horizons)


class ProcessorSpec(Section):
    """One processor by registered name with its keyword params."""

    name: RegisteredName
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _ranges(cls, v: dict[str, Any]) -> dict[str, Any]:
        check_param_ranges(v)
        return v


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
        check_param_ranges(v)
        return v


class DateRange(Section):
    """An inclusive date range."""

    start: Date
    end: Date

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
    step: int = Field(default=10, ge=1, le=100_000)
    train_days: int = Field(default=120, ge=2, le=100_000)
    valid_days: int = Field(default=5, ge=0, le=100_000)
    train_start: Date | None = None
    test_start: Date | None = None
    test_end: Date | None = None
    embargo: int | None = Field(default=None, ge=0, le=10_000)
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
            for a, b in (("train_start", "test_start"), ("test_start", "test_end")):
                lo, hi = getattr(self, a), getattr(self, b)
                if lo is not None and hi is not None and hi < lo:
                    raise ValueError(f"{b} {hi} is before {a} {lo}")
            if self.valid_days >= self.train_days:
                raise ValueError(
                    f"valid_days {self.valid_days} must be < train_days {self.train_days}"
                )
        return self


class TraitSpec(Section):
    """Keep training rows whose cross-sectional quantile of feature column `feature` (raw, on
    the row's date) is in [low, high]; rows outside weigh `outside_weight` (0 = dropped)."""

    feature: str
    low: float = Field(default=0.0, ge=0, le=1)
    high: float = Field(default=1.0, ge=0, le=1)
    outside_weight: float = Field(default=0.0, ge=0, le=1000)

    @model_validator(mode="after")
    def _ordered(self) -> TraitSpec:
        if self.high <= self.low:
            raise ValueError(f"high {self.high} must exceed low {self.low}")
        return self


class DDGDAConfig(Section):
    """The learned period re-weighting of `selection.method: ddgda` (`train.reweight`)."""

    alpha: float = Field(default=1.0, gt=0, le=1e6)  # ridge penalty of the proxy
    steps: int = Field(default=150, ge=1, le=100_000)
    lr: float = Field(default=0.05, gt=0, le=10)
    tasks: int = Field(default=12, ge=1, le=10_000)  # latest periods used as meta targets
    min_history: int = Field(default=3, ge=1, le=10_000)


StateName = Literal["ret", "vol", "dispersion", "breadth", "turnover"]


class SelectionConfig(Section):
    """Training-sample selection of each walk-forward window (`train.selection`).

    method: none | similar (the `k` periods of `period` days most like the days before the test
    range, plus the `recent` latest) | ddgda (learned per-period weights). `state`: the
    market-state descriptors periods are compared on. `traits`: row filters by feature quantile.
    """

    method: Literal["none", "similar", "ddgda"] = "none"
    period: int = Field(default=20, ge=2, le=10_000)
    k: int = Field(default=6, ge=1, le=100_000)
    recent: int = Field(default=0, ge=0, le=100_000)
    state: list[StateName] = Field(default_factory=lambda: list(get_args(StateName)), min_length=1)
    traits: list[TraitSpec] = Field(default_factory=list)
    ddgda: DDGDAConfig = Field(default_factory=DDGDAConfig)


class ExecutorConfig(Section):
    """Where windows run: serially, in worker processes, or as Ray tasks."""

    kind: RegisteredName = "local"  # a registered executor (local, process, ray)
    address: str | None = None
    workers: int = Field(default=2, ge=1, le=256)

    @model_validator(mode="after")
    def _local_workers(self) -> ExecutorConfig:
        if self.kind != "ray" and self.workers > MAX_THREADS:
            raise ValueError(
                f"workers: {self.workers} local processes exceed {MAX_THREADS} "
                f"(4 x the {os.cpu_count()} cores of this machine)"
            )
        return self


class PortfolioConfig(Section):
    """Signal -> target weights (consumed by the portfolio stage)."""

    strategy: RegisteredName = "topk_dropout"
    topk: int = Field(default=50, ge=1, le=MAX_COUNT)
    n_drop: int = Field(default=5, ge=0, le=MAX_COUNT)
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _ranges(cls, v: dict[str, Any]) -> dict[str, Any]:
        for k, val in v.items():
            _reject_class_paths(val, str(k))
        check_param_ranges(v)
        return v

    @model_validator(mode="after")
    def _drop_le_topk(self) -> PortfolioConfig:
        if self.n_drop > self.topk:
            raise ValueError(f"n_drop {self.n_drop} exceeds topk {self.topk}")
        return self


class ExecutionConfig(Section):
    """`backtest.execution`: how `deal_price: execution` executes each day's trades over that
    day's intraday bars (`seqalpha.execution`; bars `start_bar..end_bar-1`, null = the close)."""

    strategy: RegisteredName = "twap"  # twap, vwap, pov, learned
    params: dict[str, Any] = Field(default_factory=dict)  # e.g. pov: {rate: 0.1}
    participation: float = Field(default=0.2, gt=0, le=1)
    impact: float = Field(default=0.01, ge=0, le=1)
    price: Literal["vwap", "close"] = "vwap"
    limit: float | None = Field(default=0.10, gt=0, lt=1)
    start_bar: int = Field(default=0, ge=0, le=10000)
    end_bar: int | None = Field(default=None, ge=1, le=10000)
    lookback: int = Field(default=20, ge=1, le=1000)

    @field_validator("params")
    @classmethod
    def _no_paths(cls, v: dict[str, Any]) -> dict[str, Any]:
        for k, val in v.items():
            _reject_class_paths(val, str(k))
        return v


class TradingRulesConfig(Section):
    """The `backtest` section: exchange rules and costs (defaults: the benchmark protocol of
    BENCHMARKS.md); `seqalpha.backtest.BacktestConfig` is the engine's own account settings."""

    limit_threshold: float | None = Field(
        default=0.095, gt=0, lt=1, description="fraction: 0.095 = 9.5% daily price limit"
    )
    buy_cost: float = Field(default=0.0005, ge=0, lt=1)
    sell_cost: float = Field(default=0.0015, ge=0, lt=1)
    min_cost: float = Field(default=5.0, ge=0, le=1e12)
    account: float = Field(default=1e8, gt=0, le=1e15)
    deal_price: Literal["close", "open", "vwap", "execution"] = "close"
    lot_size: int = Field(default=100, ge=1, le=MAX_COUNT)
    execution: ExecutionConfig = Field(default_factory=lambda: ExecutionConfig())


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


class EnsembleMember(Section):
    """One member of `ensemble`: a finished run directory (`run`), or the run's own config with
    any of `model`, `features`, `labels`, `processors`, `seeds` replaced (trained in the run)."""

    name: RegisteredName
    run: PathText | None = None
    model: ModelConfig | None = None
    features: FeaturesConfig | None = None
    labels: LabelsConfig | None = None
    processors: ProcessorsConfig | None = None
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] | None = Field(
        default=None, min_length=1, max_length=1000
    )

    @model_validator(mode="after")
    def _run_or_spec(self) -> EnsembleMember:
        given = [k for k in ENSEMBLE_OVERRIDES if getattr(self, k) is not None]
        if self.run is not None and given:
            raise ValueError(
                f"member {self.name!r}: `run` reads a finished run directory; it takes no {given}"
            )
        return self


ENSEMBLE_OVERRIDES = ("model", "features", "labels", "processors", "seeds")


class EnsembleConfig(Section):
    """Model combination (`seqalpha.combine`): the members' test predictions, normalised per
    day and weighted by a registered `method`, become the run's predictions."""

    method: RegisteredName = "equal"
    params: dict[str, Any] = Field(default_factory=dict)
    normalize: Literal["zscore", "rank_gauss"] = "zscore"
    members: list[EnsembleMember] = Field(min_length=1, max_length=100)

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Any]) -> dict[str, Any]:
        for k, val in v.items():
            _reject_class_paths(val, str(k))
        check_param_ranges(v)
        return v

    @field_validator("members")
    @classmethod
    def _unique_names(cls, v: list[EnsembleMember]) -> list[EnsembleMember]:
        names = [m.name for m in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"member names must be distinct, {dup[0]!r} is repeated")
        return v


class PipelineConfig(Section):
    """The whole pipeline; each field is one section."""

    data: DataConfig = Field(default_factory=DataConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    processors: ProcessorsConfig = Field(default_factory=ProcessorsConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    walkforward: WalkForwardConfig
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(
        default_factory=lambda: [0], min_length=1, max_length=1000
    )
    portfolio: PortfolioConfig = Field(default_factory=PortfolioConfig)
    backtest: TradingRulesConfig = Field(default_factory=TradingRulesConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    baselines: list[BaselineSpec] = Field(default_factory=list)
    ensemble: EnsembleConfig | None = None  # model combination (seqalpha.combine)

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
        if self.backtest.deal_price == "execution" and not self.data.minute_dir:
            raise ValueError("backtest.deal_price: 'execution' needs data.minute_dir (bars)")
        f = self.features
        if f.library == "none" and not f.extra and not f.bars and not f.extra_libraries:
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
