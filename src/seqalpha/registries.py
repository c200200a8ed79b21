"""Registered names of a config checked against the stage registries, before any data is read.

This sits above the stages it reads (models, features, labels) and below the orchestrator, so
that the config package stays at the bottom of the import graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from seqalpha.config import PipelineConfig, load_config
from seqalpha.errors import ConfigError


def load_checked_config(
    path: str | Path, sets: Sequence[str] = (), data_dir: str | Path | None = None
) -> PipelineConfig:
    """`load_config` then `check_components`; errors are one line starting with the file name."""
    cfg = load_config(path, sets, data_dir)
    try:
        check_components(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return cfg


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
