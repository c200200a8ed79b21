"""Risk models: a point-in-time Barra-style factor model, a Ledoit-Wolf sample covariance and
the Deep Risk Model (`seqalpha.risk.drm`, torch, imported on demand), all served in factor form
(exposures [N, K], factor_cov [K, K], specific_var [N]); `seqalpha.risk.evaluation` scores their
forecasts out of sample."""

from seqalpha.risk.base import RiskModel, RiskView, factor_form_to_full
from seqalpha.risk.covariance import (
    SampleCovarianceModel,
    ewma_weights,
    shrink_to_diagonal,
    weighted_cov,
)
from seqalpha.risk.model import (
    FactorModelParams,
    FactorRiskModel,
    fit_factor_model,
    style_exposures,
)
from seqalpha.risk.registry import RISK_MODELS, create_risk_model

__all__ = [
    "RISK_MODELS",
    "FactorModelParams",
    "FactorRiskModel",
    "RiskModel",
    "RiskView",
    "SampleCovarianceModel",
    "create_risk_model",
    "ewma_weights",
    "factor_form_to_full",
    "fit_factor_model",
    "shrink_to_diagonal",
    "style_exposures",
    "weighted_cov",
]
