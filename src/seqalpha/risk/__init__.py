"""Risk models: a point-in-time Barra-style factor model and a Ledoit-Wolf sample covariance,
both served in factor form (exposures [N, K], factor_cov [K, K], specific_var [N])."""

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

__all__ = [
    "FactorModelParams",
    "FactorRiskModel",
    "RiskModel",
    "RiskView",
    "SampleCovarianceModel",
    "ewma_weights",
    "factor_form_to_full",
    "fit_factor_model",
    "shrink_to_diagonal",
    "style_exposures",
    "weighted_cov",
]
