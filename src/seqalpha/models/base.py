"""The model interface: validated keyword params, fit/predict on SampleSets, tensor-only
checkpoints (`seqalpha.models.checkpoint`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from seqalpha.dataset.core import SampleSet
from seqalpha.errors import ConfigError, DataError
from seqalpha.models.checkpoint import checkpoint_config, load_checkpoint, save_checkpoint
from seqalpha.models.registry import create_model

if TYPE_CHECKING:
    import torch


def _check_type(model: str, key: str, value: Any, default: Any) -> Any:
    """Coerce/validate `value` against the type of `default` (None default: anything goes)."""
    if default is None or value is None:
        return value
    bad = False
    if isinstance(default, bool):
        bad = not isinstance(value, (bool, np.bool_))
        value = bool(value) if not bad else value
    elif isinstance(default, int):
        bad = isinstance(value, bool) or not isinstance(value, (int, np.integer))
        value = int(value) if not bad else value
    elif isinstance(default, float):
        bad = isinstance(value, bool) or not isinstance(value, (int, float, np.number))
        value = float(value) if not bad else value
    elif isinstance(default, str):
        bad = not isinstance(value, str)
    elif isinstance(default, (list, tuple)):
        bad = not isinstance(value, (list, tuple))
        value = list(value) if not bad else value
    if bad:
        raise ConfigError(
            f"model {model!r}: param {key!r} = {value!r} should be of type {type(default).__name__}"
        )
    return value


class Model:
    """Base of every registered model.

    Subclasses declare `PARAMS` (name -> default) and `input_kind`; constructor keywords are
    validated against the merged PARAMS of the class hierarchy (unknown -> ConfigError).
    """

    input_kind: str = "tabular"
    registered_name: str = "model"
    PARAMS: ClassVar[dict[str, Any]] = {"seed": 0}
    CHOICES: ClassVar[dict[str, tuple]] = {}

    def __init__(self, **params: Any) -> None:
        defaults = self.param_defaults()
        name = getattr(type(self), "registered_name", type(self).__name__)
        for k in params:
            if k not in defaults:
                raise ConfigError(
                    f"model {name!r}: unknown param {k!r}; known params: {sorted(defaults)}"
                )
        merged = dict(defaults)
        for k, v in params.items():
            merged[k] = _check_type(name, k, v, defaults[k])
        for k, allowed in self.param_choices().items():
            if merged.get(k) not in allowed:
                raise ConfigError(
                    f"model {name!r}: param {k!r} = {merged.get(k)!r} not in {allowed}"
                )
        self.params: dict[str, Any] = merged
        self.fitted = False
        self.validate_params()

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        """Every accepted param with its default (merged over the class hierarchy)."""
        out: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            out.update(getattr(klass, "PARAMS", {}) or {})
        return out

    @classmethod
    def param_choices(cls) -> dict[str, tuple]:
        out: dict[str, tuple] = {}
        for klass in reversed(cls.__mro__):
            out.update(getattr(klass, "CHOICES", {}) or {})
        return out

    def validate_params(self) -> None:
        """Hook for cross-param checks (raise ConfigError naming the param)."""

    # -- interface
    def fit(self, train: SampleSet, valid: SampleSet | None = None) -> None:
        raise NotImplementedError

    def predict(self, data: SampleSet) -> np.ndarray:
        raise NotImplementedError

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Fitted state as named tensors."""
        raise NotImplementedError

    def extra_config(self) -> dict[str, Any]:
        """Fitted, non-tensor state that goes into config.json (plain JSON)."""
        return {}

    def load_state(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        raise NotImplementedError

    def checkpoint_config(self, training: dict[str, Any] | None = None) -> dict[str, Any]:
        """config.json of this model's checkpoint: name, params, fitted state (+ `training`)."""
        return checkpoint_config(self.registered_name, self.params, self.extra_config(), training)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write weights (tensors) and config.json (name, params, fitted state) into `directory`."""
        self._require_fitted("save")
        return save_checkpoint(directory, self.state_tensors(), self.checkpoint_config())

    def load(self, directory: str | os.PathLike) -> Model:
        """Restore params and fitted state saved by `save` (weights read with weights_only=True)."""
        tensors, config = load_checkpoint(directory)
        if config.get("name") != self.registered_name:
            raise DataError(
                f"checkpoint {directory}: holds model {config.get('name')!r}, "
                f"not {self.registered_name!r}"
            )
        self.params.update(config.get("params", {}))
        self.load_state(tensors, config.get("extra", {}))
        self.fitted = True
        return self

    def _require_fitted(self, what: str) -> None:
        if not self.fitted:
            raise DataError(f"model {self.registered_name!r}: {what} before fit/load")


def load_model(directory: str | os.PathLike) -> Model:
    """Rebuild a registered model from a checkpoint: `Model.save` or the loop's best epoch."""
    _, config = load_checkpoint(directory)
    model = create_model(config["name"], **config.get("params", {}))
    return model.load(directory)
