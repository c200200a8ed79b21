"""The one checkpoint format of every model, final or best epoch (after nanoGPT's checkpoints).

A checkpoint directory holds `weights.pt` (named tensors only, read back with
`torch.load(..., weights_only=True)`, never an unpickled object) and `config.json`: the
registered model `name`, the `params` that rebuild it, the fitted non-tensor state `extra`,
and `training` (epoch, step, best score and metric, history) when the training loop wrote it.
`seqalpha.models.load_model` reads either kind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqalpha.errors import DataError
from seqalpha.jsonio import to_jsonable, write_atomic, write_text_atomic

if TYPE_CHECKING:
    import torch

WEIGHTS_FILE = "weights.pt"
CONFIG_FILE = "config.json"


def checkpoint_config(
    name: str, params: dict[str, Any], extra: dict[str, Any], training: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The config.json of a checkpoint: what rebuilds the model, plus how it was trained."""
    out = {"name": name, "params": dict(params), "extra": dict(extra)}
    if training is not None:
        out["training"] = dict(training)
    return out


def save_checkpoint(
    directory: str | os.PathLike, state_dict: dict[str, torch.Tensor], config: dict[str, Any]
) -> Path:
    """Write `weights.pt` (CPU tensors only) and `config.json` into `directory`, each atomically."""
    import torch

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu() for k, v in state_dict.items()}
    write_atomic(d / WEIGHTS_FILE, lambda tmp: torch.save(tensors, tmp))
    write_text_atomic(d / CONFIG_FILE, json.dumps(to_jsonable(config), indent=1, sort_keys=True))
    return d


def load_checkpoint(
    directory: str | os.PathLike,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state_dict, config) of a checkpoint; the weights are read with weights_only=True."""
    import torch

    d = Path(directory)
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        if not (d / name).is_file():
            raise DataError(f"checkpoint {d}: missing file {name}")
    state = torch.load(d / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    config = json.loads((d / CONFIG_FILE).read_text())
    if not isinstance(config, dict) or "name" not in config:
        raise DataError(f"checkpoint {d}: {CONFIG_FILE} does not name a registered model")
    return state, config
