"""Registered names of a config checked against the stage registries, before any data is read.

Every name a config chooses (model, feature library, processors, label kind, portfolio
strategy, executor) is looked up in its stage's registry; a miss is a one-line ConfigError that
names the key and lists the valid names. This sits above the stages it reads and below the
orchestrator, so that the config package stays at the bottom of the import graph.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from seqalpha.combine import check_method
from seqalpha.config import (
    PipelineConfig,
    config_to_dict,
    load_config,
    resolve_path,
    validation_message,
)
from seqalpha.config.schema import ENSEMBLE_OVERRIDES, EnsembleMember
from seqalpha.errors import ConfigError
from seqalpha.execution import make_strategy
from seqalpha.features import LIBRARIES, check_feature_specs
from seqalpha.features.beta_quantile import check_extra_libraries, run_feature_names
from seqalpha.features.processors import PROCESSORS
from seqalpha.labels import LABEL_KINDS
from seqalpha.models import MODELS
from seqalpha.portfolio import get_strategy
from seqalpha.train.executors import EXECUTORS
from seqalpha.train.selection import check_selection, selection_spec

# Feature libraries by name -> whether they are computed from minute bars (`data.minute_dir`).
FEATURE_LIBRARIES: dict[str, bool] = {**dict.fromkeys(LIBRARIES, False), "intraday": True}


def load_checked_config(
    path: str | Path, sets: Sequence[str] = (), data_dir: str | Path | None = None
) -> PipelineConfig:
    """`load_config` then `check_components`; errors are one line starting with the file name."""
    cfg = load_config(path, sets, data_dir)
    try:
        check_components(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for base in cfg.baselines:  # a baseline's overrides are checked now, not after the main run
        extra = [*sets, *(f"{k}={json.dumps(v)}" for k, v in base.set.items()), "baselines=[]"]
        try:
            check_components(load_config(path, extra, data_dir))
        except ConfigError as exc:
            msg = str(exc).removeprefix(f"{path}: ")
            raise ConfigError(f"{path}: baselines.{base.name}: {msg}") from None
    return cfg


def _unknown(key: str, what: str, name: str, valid) -> ConfigError:
    return ConfigError(f"{key}: unknown {what} {name!r}; allowed: {', '.join(sorted(valid))}")


def check_components(cfg: PipelineConfig) -> None:
    """Every registered name of `cfg` exists (and the model's and strategy's params fit)."""
    if cfg.model.name not in MODELS:
        raise _unknown("model.name", "model", cfg.model.name, MODELS)
    try:  # constructors validate their params (unknown -> ConfigError naming it)
        model = MODELS[cfg.model.name](**cfg.model.params, seed=cfg.seeds[0])
    except ConfigError as exc:
        raise ConfigError(f"model.params: {exc}") from None
    except TypeError as exc:
        raise ConfigError(
            f"model.params: {cfg.model.name!r} rejects {sorted(cfg.model.params)} ({exc})"
        ) from None
    _check_features(cfg, getattr(model, "input_kind", "tabular"))
    check_selection(selection_spec(cfg.selection), type(model), run_feature_names(cfg.features))
    for group in ("features", "labels"):
        for i, spec in enumerate(getattr(cfg.processors, group)):
            if spec.name not in PROCESSORS:
                raise _unknown(f"processors.{group}.{i}.name", "processor", spec.name, PROCESSORS)
    if cfg.labels.kind not in LABEL_KINDS:
        raise _unknown("labels.kind", "label kind", cfg.labels.kind, LABEL_KINDS)
    get_strategy(cfg.portfolio.strategy, cfg.portfolio.params)
    if cfg.executor.kind not in EXECUTORS:
        raise _unknown("executor.kind", "executor", cfg.executor.kind, EXECUTORS)
    if cfg.backtest.deal_price == "execution":  # the strategy and its params, before any data
        ex = cfg.backtest.execution
        try:
            make_strategy(ex.strategy, **ex.params)
        except ConfigError as exc:
            raise ConfigError(f"backtest.{exc}") from None
    if cfg.ensemble is not None:
        check_ensemble(cfg)


def member_config(cfg: PipelineConfig, member: EnsembleMember) -> PipelineConfig:
    """The config that trains ensemble member `member`: `cfg` with the member's overrides
    (model, features, labels, processors, seeds), without ensemble or baselines."""
    raw = config_to_dict(cfg)
    for key in ENSEMBLE_OVERRIDES:
        value = getattr(member, key)
        if value is not None:
            raw[key] = value if key == "seeds" else value.model_dump(mode="json")
    raw["ensemble"], raw["baselines"] = None, []
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        msg = validation_message(exc)
        raise ConfigError(f"ensemble.members.{member.name}: {msg}") from None


def check_ensemble(cfg: PipelineConfig) -> None:
    """The combine method and its params, each trained member's config and registered names,
    and each run member's predictions.parquet."""
    ens = cfg.ensemble
    if ens is None:
        return
    check_method(ens.method, ens.params)
    for m in ens.members:
        if m.run is not None:
            run = Path(resolve_path(m.run))
            if not (run / "predictions.parquet").is_file():
                raise ConfigError(
                    f"ensemble.members.{m.name}.run: {run} has no predictions.parquet"
                )
            continue
        try:
            check_components(member_config(cfg, m))
        except ConfigError as exc:
            msg = str(exc).removeprefix(f"ensemble.members.{m.name}: ")
            raise ConfigError(f"ensemble.members.{m.name}: {msg}") from None


def _check_features(cfg: PipelineConfig, input_kind: str) -> None:
    f, name = cfg.features, cfg.model.name
    if f.library != "none" and f.library not in FEATURE_LIBRARIES:
        raise _unknown(
            "features.library", "feature library", f.library, [*FEATURE_LIBRARIES, "none"]
        )
    if FEATURE_LIBRARIES.get(f.library) and not cfg.data.minute_dir:
        raise ConfigError(f"features.library: {f.library!r} needs data.minute_dir (minute bars)")
    if input_kind == "intraday_seq" and not f.bars:
        raise ConfigError(
            f"features.bars: model {name!r} reads intraday sequences "
            f"(input_kind intraday_seq); set features.bars: true"
        )
    # extra names, syntax and no look-ahead: the same check build_inputs makes, done here too
    check_feature_specs(f.library, dict(f.extra), replace=f.replace)
    check_extra_libraries(f.library, f.extra_libraries, list(f.extra), f.beta.windows)
    no_libraries = f.library == "none" and not f.extra_libraries
    if input_kind in ("tabular", "daily_seq") and no_libraries and not f.extra:
        raise ConfigError(
            f"features.library: model {name!r} reads daily features "
            f"(input_kind {input_kind}); choose a library or extra expressions"
        )
