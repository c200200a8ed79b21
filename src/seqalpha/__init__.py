"""seqalpha: quantitative equity research with sequence deep learning.

The Python API (`seqalpha.api`: `load_config`, `run`, `load_run`, plots, ...) is re-exported
here lazily, so that `import seqalpha` imports nothing heavy. `seqalpha.features` is the feature
sub-package; the feature table function is `seqalpha.api.features` (also `load_features`).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = (
    "RunResult",
    "example_config",
    "example_market",
    "load_config",
    "load_run",
    "plot_cumulative_excess",
    "plot_cumulative_ic",
    "plot_quantile_returns",
    "run",
)
__all__ = ["__version__", *_API, "load_features"]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module("seqalpha.api"), name)
    if name == "load_features":
        return import_module("seqalpha.api").features
    raise AttributeError(f"module 'seqalpha' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
