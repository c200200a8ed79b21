"""The risk-model interface and a view that serves a fitted model on another (sub-)grid."""

from __future__ import annotations

import numpy as np

from seqalpha.errors import ConfigError, DataError


def factor_form_to_full(
    exposures: np.ndarray, factor_cov: np.ndarray, specific_var: np.ndarray
) -> np.ndarray:
    """X F X' + diag(d) [N, N] from exposures [N, K], factor_cov [K, K], specific_var [N]."""
    return exposures @ factor_cov @ exposures.T + np.diag(specific_var)


class RiskModel:
    """Interface: `covariance(t) -> (exposures [N, K], factor_cov [K, K], specific_var [N])`
    for row t of the fitted [T, N] grid, from data of rows <= t. NaN rows/entries mark names
    without a risk estimate on day t."""

    dates: np.ndarray | None = None
    instruments: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(T, N) of the grid the model serves."""
        raise NotImplementedError

    def covariance(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(exposures [N, K], factor_cov [K, K], specific_var [N]) of day t."""
        raise NotImplementedError

    def ready(self, t: int) -> bool:
        """True when day t has enough history for `covariance(t)`."""
        raise NotImplementedError

    def full_covariance(self, t: int) -> np.ndarray:
        """The N x N covariance X F X' + diag(d) of day t (forms the dense matrix)."""
        return factor_form_to_full(*self.covariance(t))

    def portfolio_variance(self, t: int, weights: np.ndarray) -> float:
        """w' (X F X' + D) w for weights [N] without forming N x N (NaN-risk names must be 0)."""
        X, F, d = self.covariance(t)
        w = np.asarray(weights, dtype=np.float64)
        held = w != 0
        if np.any(held & ~(np.isfinite(d) & np.isfinite(X).all(axis=1))):
            raise DataError(f"portfolio_variance({self._label(t)}): weights on names without risk")
        xw = X[held].T @ w[held]
        return float(xw @ F @ xw + np.sum(d[held] * w[held] ** 2))

    def _label(self, t: int) -> str:
        return str(self.dates[t]) if self.dates is not None else f"row {t}"

    def view(self, dates: np.ndarray, instruments: np.ndarray | None = None) -> RiskView:
        """This model served on the grid (dates [T'], instruments [N']): e.g. a model fitted
        with extra history before a backtest's first day. Dates must be fitted dates; unknown
        instruments get NaN risk."""
        return RiskView(self, dates, instruments)


class RiskView(RiskModel):
    """A fitted `RiskModel` re-indexed onto other dates (a subset) and instruments."""

    def __init__(self, model: RiskModel, dates: np.ndarray, instruments: np.ndarray | None = None):
        if model.dates is None:
            raise ConfigError("RiskModel.view: the model was fitted without dates")
        md = np.asarray(model.dates).astype("datetime64[D]")
        d = np.asarray(dates).astype("datetime64[D]")
        rows = np.searchsorted(md, d)
        bad = (rows >= len(md)) | (md[np.minimum(rows, len(md) - 1)] != d)
        if bad.any():
            raise DataError(f"RiskModel.view: dates not in the fitted model, e.g. {d[bad][:3]}")
        self.model, self.rows, self.dates = model, rows, d
        N0 = model.shape[1]
        if instruments is None:
            self.cols = None
            self.instruments = model.instruments
            self._n = N0
        else:
            if model.instruments is None:
                raise ConfigError("RiskModel.view: the model was fitted without instruments")
            mi = np.asarray(model.instruments).astype(str)
            inst = np.asarray(instruments).astype(str)
            order = np.argsort(mi)
            pos = np.minimum(np.searchsorted(mi[order], inst), len(mi) - 1)
            hit = mi[order][pos] == inst
            self.cols = np.where(hit, order[pos], -1)
            self.instruments = inst
            self._n = len(inst)

    @property
    def shape(self) -> tuple[int, int]:
        """(T', N') of the view's grid."""
        return len(self.rows), self._n

    def ready(self, t: int) -> bool:
        """The model's readiness on the view's day t."""
        return self.model.ready(int(self.rows[t]))

    def _reindex(self, a: np.ndarray, fill) -> np.ndarray:
        if self.cols is None:
            return a
        out = a[np.maximum(self.cols, 0)]
        out[self.cols < 0] = fill
        return out

    def covariance(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The model's covariance of the view's day t, columns re-indexed.

        Returns ([N', K], [K, K], [N']).
        """
        X, F, d = self.model.covariance(int(self.rows[t]))
        return self._reindex(X, np.nan), F, self._reindex(d, np.nan)

    @property
    def industry_codes(self) -> np.ndarray:
        """The model's industry codes int [T', N'] on this grid (-1 unknown)."""
        codes = getattr(self.model, "industry_codes", None)
        if codes is None:
            raise ConfigError("RiskModel.view: the model has no industry codes")
        return self._reindex(codes[self.rows].T, -1).T
