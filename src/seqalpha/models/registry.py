"""Registered model names: configs choose models by these names, never by class paths."""

from __future__ import annotations

from collections.abc import Callable

from seqalpha.errors import ConfigError

MODELS: dict[str, type] = {}


def register_model(name: str) -> Callable[[type], type]:
    """Class decorator: make a model available to configs under `name`."""

    def deco(cls: type) -> type:
        if name in MODELS and MODELS[name] is not cls:
            raise ValueError(f"model name {name!r} registered twice")
        MODELS[name] = cls
        cls.registered_name = name
        return cls

    return deco


def create_model(name: str, **params):
    """Instantiate a registered model; unknown names are a ConfigError listing the known ones."""
    import seqalpha.models  # noqa: F401  (registers the zoo)

    try:
        cls = MODELS[name]
    except KeyError:
        raise ConfigError(
            f"model.name: unknown model {name!r}; registered: {sorted(MODELS)}"
        ) from None
    return cls(**params)
