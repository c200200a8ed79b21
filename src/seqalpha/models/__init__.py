"""seqalpha.models: the model zoo behind one interface (importing this registers every model),
the one training loop of the torch models, their losses, and the one checkpoint format."""

from seqalpha.models import classic  # noqa: F401  (registers the zoo; torch models on demand)
from seqalpha.models.base import Model, load_model
from seqalpha.models.checkpoint import load_checkpoint, save_checkpoint
from seqalpha.models.registry import MODELS, create_model, register_model

__all__ = [
    "MODELS",
    "Model",
    "create_model",
    "load_checkpoint",
    "load_model",
    "register_model",
    "save_checkpoint",
]
