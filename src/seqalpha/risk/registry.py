"""Risk models by registered name (`barra`, `sample`, `drm`): each builds an unfitted model
from its params; the torch-based `drm` is imported only when asked for."""

from __future__ import annotations

from typing import Any

from seqalpha.errors import ConfigError
from seqalpha.risk.base import RiskModel

RISK_MODELS = ("barra", "sample", "drm")


def create_risk_model(name: str, **params: Any) -> RiskModel:
    """An unfitted risk model `name` with `params` (one-line ConfigError on a bad name/key)."""
    try:
        if name == "barra":
            from seqalpha.risk.model import FactorRiskModel

            return FactorRiskModel(**params)
        if name == "sample":
            from seqalpha.risk.covariance import SampleCovarianceModel

            return SampleCovarianceModel(**params)
        if name == "drm":
            from seqalpha.risk.drm import DeepRiskModel

            return DeepRiskModel(**params)
    except TypeError as exc:
        raise ConfigError(f"risk model {name!r}: {exc}") from None
    raise ConfigError(f"unknown risk model {name!r}; allowed: {', '.join(RISK_MODELS)}")
