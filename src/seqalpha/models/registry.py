"""Registered model names: configs choose models by these names, never by class paths."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from importlib import import_module

from seqalpha.errors import ConfigError

# Models of modules that import torch, registered when first looked up: a run of a tabular model
# (lgbm) does not pay torch's import. A test checks this table against what the module registers.
LAZY_MODELS: dict[str, str] = dict.fromkeys(
    (
        *("mlp", "gru", "lstm", "alstm", "gru_self_attention", "transformer", "tcn", "tra"),
        *("localformer", "krnn"),
    ),
    "seqalpha.models.torch_models",
)
LAZY_MODELS["hist"] = "seqalpha.models.hist"
LAZY_MODELS["igmtf"] = "seqalpha.models.igmtf"
LAZY_MODELS["add"] = "seqalpha.models.add"
LAZY_MODELS["adarnn"] = "seqalpha.models.adarnn"
LAZY_MODELS["double_ensemble"] = "seqalpha.models.double_ensemble"
LAZY_MODELS["deep_factor"] = "seqalpha.models.deep_factor"
LAZY_MODELS["second_order"] = "seqalpha.models.second_order"


class _Registry(MutableMapping):
    """name -> model class; a name of LAZY_MODELS imports its module when first looked up."""

    def __init__(self) -> None:
        self._classes: dict[str, type] = {}

    def _load(self, name: str) -> None:
        if name not in self._classes and name in LAZY_MODELS:
            import_module(LAZY_MODELS[name])

    def __getitem__(self, name: str) -> type:
        self._load(name)
        return self._classes[name]

    def __setitem__(self, name: str, cls: type) -> None:
        self._classes[name] = cls

    def __delitem__(self, name: str) -> None:
        del self._classes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._classes or name in LAZY_MODELS

    def __iter__(self) -> Iterator[str]:
        for module in sorted(set(LAZY_MODELS.values())):
            import_module(module)
        return iter(list(self._classes))

    def __len__(self) -> int:
        return len(self._classes.keys() | LAZY_MODELS.keys())


MODELS = _Registry()


def register_model(name: str) -> Callable[[type], type]:
    """Class decorator: make a model available to configs under `name`."""

    def deco(cls: type) -> type:
        if MODELS._classes.get(name, cls) is not cls:
            raise ValueError(f"model name {name!r} registered twice")
        MODELS[name] = cls
        cls.registered_name = name  # type: ignore[attr-defined]  # a Model subclass, untyped here
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
