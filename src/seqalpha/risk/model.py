"""Barra-style factor risk model fitted point in time.

Day t's stock returns r_t [N] are regressed (weighted least squares, one lstsq per day) on the
exposures known at the close of t-1: industry dummies and cross-sectionally z-scored styles
(size = log market cap, momentum, volatility, value when given). This yields factor returns
f_t [K] and specific returns u_t [N] that use data up to day t only. `covariance(t)` serves
(exposures at t [N, K], EWMA factor covariance with shrinkage [K, K], EWMA specific variance
[N]) from rows <= t, for the portfolio held from t+1 on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqalpha.errors import ConfigError, DataError
from seqalpha.risk.covariance import factor_form_to_full, shrink_to_diagonal, weighted_cov


@dataclass(frozen=True)
class FactorModelParams:
    """Settings of `FactorRiskModel` (windows in trading days).

    momentum: sum of log returns over `momentum_window` days ending `momentum_skip` days ago;
    volatility: std of daily returns over `volatility_window` days. Factor covariance: EWMA over
    `cov_window` days with `cov_half_life`, shrunk towards its diagonal by `factor_shrinkage`.
    Specific variance: EWMA of squared residuals (`specific_window`, `specific_half_life`);
    names with fewer than `min_specific_obs` residuals get the day's cross-sectional median.
    """

    momentum_window: int = 120
    momentum_skip: int = 20
    volatility_window: int = 60
    cov_window: int = 252
    cov_half_life: float = 90.0
    factor_shrinkage: float = 0.1
    demean: bool = False
    specific_window: int = 120
    specific_half_life: float = 45.0
    min_specific_obs: int = 20
    min_history: int = 40
    min_names: int = 0
    zscore_clip: float = 3.0
    return_clip: float | None = 0.25
    weighting: str = "sqrt_cap"

    def __post_init__(self) -> None:
        for k in ("momentum_window", "volatility_window", "cov_window", "specific_window",
                  "min_specific_obs", "min_history"):
            if getattr(self, k) < 2:
                raise ConfigError(f"FactorModelParams.{k} must be >= 2, got {getattr(self, k)}")
        if self.momentum_skip < 0 or self.min_names < 0:
            raise ConfigError("FactorModelParams.momentum_skip and min_names must be >= 0")
        if self.cov_half_life <= 0 or self.specific_half_life <= 0:
            raise ConfigError("FactorModelParams: half-lives must be > 0")
        if not 0 <= self.factor_shrinkage <= 1:
            raise ConfigError(f"FactorModelParams.factor_shrinkage must be in [0, 1], "
                              f"got {self.factor_shrinkage}")
        if self.zscore_clip <= 0 or (self.return_clip is not None and self.return_clip <= 0):
            raise ConfigError("FactorModelParams.zscore_clip and return_clip must be > 0")
        if self.weighting not in ("sqrt_cap", "equal"):
            raise ConfigError(f"FactorModelParams.weighting={self.weighting!r}: expected "
                              f"'sqrt_cap' or 'equal'")
        if self.min_specific_obs > self.specific_window:
            raise ConfigError("FactorModelParams.min_specific_obs must be <= specific_window")


class RiskModel:
    """Interface: `covariance(t) -> (exposures [N, K], factor_cov [K, K], specific_var [N])`.

    NaN rows/entries mark names without a risk estimate on day t.
    """

    dates: np.ndarray | None = None

    def covariance(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _rolling_sum(a: np.ndarray, ok: np.ndarray, window: int, lag: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of a [T, N] over rows (t-lag-window, t-lag] (via cumulative sums)."""
    T, N = a.shape
    cs = np.vstack([np.zeros((1, N)), np.cumsum(np.where(ok, a, 0.0), axis=0)])
    cc = np.vstack([np.zeros((1, N)), np.cumsum(ok, axis=0, dtype=np.float64)])
    hi = np.arange(T) - lag + 1
    lo = np.clip(hi - window, 0, T)
    hi = np.clip(hi, 0, T)
    return cs[hi] - cs[lo], cc[hi] - cc[lo]


def _cs_zscore(x: np.ndarray, universe: np.ndarray, clip: float) -> np.ndarray:
    """Per row: (x - mean) / std over universe names with finite x, clipped at +-clip; rows [T, N]."""
    ok = universe & np.isfinite(x)
    n = ok.sum(axis=1, keepdims=True)
    xv = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = xv.sum(axis=1, keepdims=True) / n
        sd = np.sqrt(np.where(ok, (xv - mu) ** 2, 0.0).sum(axis=1, keepdims=True) / n)
        z = (x - mu) / np.where(sd > 0, sd, np.nan)
    return np.clip(z, -clip, clip)


def style_exposures(returns: np.ndarray, market_cap: np.ndarray, universe: np.ndarray,
                    value: np.ndarray | None = None, params: FactorModelParams = FactorModelParams()
                    ) -> tuple[list[str], np.ndarray]:
    """(names, z-scored style exposures float64 [T, N, S]) known at the close of each day.

    Row t uses data of days <= t; statistics over `universe` names, applied to every name with
    data; a universe name with a missing raw style gets 0 (the mean).
    """
    r = np.asarray(returns, dtype=np.float64)
    ok = np.isfinite(r)
    lr = np.log1p(np.where(ok, np.maximum(r, -0.99), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        size = np.log(np.where(market_cap > 0, market_cap, np.nan).astype(np.float64))
    s, c = _rolling_sum(lr, ok, params.momentum_window, params.momentum_skip)
    mom = np.where(c >= params.momentum_window // 2, s, np.nan)
    s1, c1 = _rolling_sum(r, ok, params.volatility_window)
    s2, _ = _rolling_sum(r ** 2, ok, params.volatility_window)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (s2 - s1 ** 2 / c1) / (c1 - 1)
    vol = np.where(c1 >= max(2, params.volatility_window // 2), np.sqrt(np.maximum(var, 0.0)), np.nan)
    names, raw = ["size", "momentum", "volatility"], [size, mom, vol]
    if value is not None:
        names.append("value")
        raw.append(np.asarray(value, dtype=np.float64))
    out = np.stack([_cs_zscore(x, universe, params.zscore_clip) for x in raw], axis=2)
    out = np.where(np.isnan(out) & universe[:, :, None], 0.0, out)
    return names, out


class FactorRiskModel(RiskModel):
    """Industry + style factor model; `fit(...)` runs one weighted lstsq per day, then
    `covariance(t)` reads factor and specific returns of days <= t only.

    Factors: one dummy per industry code seen (>= 0; unknown -1 leaves a name out of the
    regression and without risk) and the styles of `style_exposures`. No separate market
    factor: the industry dummies span it.
    """

    def __init__(self, params: FactorModelParams | None = None, **kwargs):
        if params is not None and kwargs:
            raise ConfigError("FactorRiskModel: pass params or keyword settings, not both")
        self.params = params if params is not None else FactorModelParams(**kwargs)
        self.fitted = False

    def fit(self, returns: np.ndarray, industry: np.ndarray, market_cap: np.ndarray,
            universe: np.ndarray | None = None, value: np.ndarray | None = None,
            dates: np.ndarray | None = None) -> FactorRiskModel:
        """Fit on daily returns [T, N] (row t = close t-1 -> close t), industry int [T, N],
        market cap [T, N], optional universe bool [T, N] and value (e.g. book/price) [T, N]."""
        p = self.params
        r = np.asarray(returns, dtype=np.float64)
        if r.ndim != 2:
            raise DataError(f"returns: expected [T, N], got shape {r.shape}")
        T, N = r.shape
        ind = np.asarray(industry)
        if not np.issubdtype(ind.dtype, np.integer):
            raise DataError(f"industry: expected integer codes [T, N], got dtype {ind.dtype}")
        cap = np.asarray(market_cap, dtype=np.float64)
        uni = np.ones((T, N), bool) if universe is None else np.asarray(universe, dtype=bool)
        for nm, a in (("industry", ind), ("market_cap", cap), ("universe", uni)) + (
                (("value", np.asarray(value)),) if value is not None else ()):
            if a.shape != (T, N):
                raise DataError(f"{nm}: shape {a.shape} differs from returns {(T, N)}")
        if dates is not None and len(dates) != T:
            raise DataError(f"dates: length {len(dates)} differs from returns rows {T}")
        self.dates = None if dates is None else np.asarray(dates)
        self.industries = np.unique(ind[ind >= 0])
        if self.industries.size == 0:
            raise DataError("industry: no known industry code (all negative)")
        ind_col = np.where(ind >= 0, np.searchsorted(self.industries, np.maximum(ind, 0)), -1)
        self.style_names, self.styles = style_exposures(r, cap, uni, value, p)
        self.industry_col = ind_col
        self.universe = uni
        self.factor_names = [f"industry_{c}" for c in self.industries.tolist()] + self.style_names
        n_ind = len(self.industries)
        K = n_ind + len(self.style_names)
        y_all = r if p.return_clip is None else np.clip(r, -p.return_clip, p.return_clip)
        with np.errstate(invalid="ignore"):
            wt = np.sqrt(np.where(cap > 0, cap, np.nan)) if p.weighting == "sqrt_cap" \
                else np.ones((T, N))
        self.factor_returns = np.full((T, K), np.nan)
        self.specific_returns = np.full((T, N), np.nan)
        self.n_names = np.zeros(T, dtype=np.int64)
        min_names = max(p.min_names, K + 1)
        rows = np.arange(N)
        for t in range(1, T):
            # exposures of the close of t-1 explain the return of day t
            xs = self.styles[t - 1]
            col = ind_col[t - 1]
            have = (col >= 0) & np.isfinite(xs).all(axis=1) & np.isfinite(y_all[t])
            fit_rows = have & uni[t - 1]
            if fit_rows.sum() < min_names:
                continue
            w = wt[t - 1, fit_rows]
            w = np.where(np.isfinite(w), w, np.nanmedian(w) if np.isfinite(w).any() else 1.0)
            X = np.zeros((int(fit_rows.sum()), K))
            X[np.arange(X.shape[0]), col[fit_rows]] = 1.0
            X[:, n_ind:] = xs[fit_rows]
            sw = np.sqrt(w)
            f, *_ = np.linalg.lstsq(X * sw[:, None], y_all[t, fit_rows] * sw, rcond=None)
            self.factor_returns[t] = f
            self.n_names[t] = X.shape[0]
            # residuals for every name with exposures (in the universe or not)
            i = rows[have]
            pred = f[col[have]] + xs[have] @ f[n_ind:]
            self.specific_returns[t, i] = y_all[t, i] - pred
        self.fitted = True
        return self

    @property
    def shape(self) -> tuple[int, int]:
        """(T, N) of the fitted grid."""
        self._check_fitted()
        return self.specific_returns.shape

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise ConfigError("FactorRiskModel: call fit(...) first")

    def ready(self, t: int) -> bool:
        """True when at least `min_history` factor-return days exist up to t."""
        self._check_fitted()
        lo = max(0, t - self.params.cov_window + 1)
        return int(np.isfinite(self.factor_returns[lo: t + 1, 0]).sum()) >= self.params.min_history

    def exposures(self, t: int) -> np.ndarray:
        """Exposures [N, K] at the close of day t (industry dummies, then styles); NaN rows for
        names without an industry or style data."""
        self._check_fitted()
        N = self.styles.shape[1]
        n_ind = len(self.industries)
        X = np.zeros((N, n_ind + len(self.style_names)))
        col = self.industry_col[t]
        known = col >= 0
        X[np.flatnonzero(known), col[known]] = 1.0
        X[:, n_ind:] = self.styles[t]
        X[~(known & np.isfinite(self.styles[t]).all(axis=1))] = np.nan
        return X

    def factor_covariance(self, t: int) -> np.ndarray:
        """EWMA factor covariance [K, K] from factor returns of days <= t, shrunk to its diagonal."""
        self._check_fitted()
        p = self.params
        if not self.ready(t):
            raise DataError(f"factor_covariance({self._label(t)}): fewer than {p.min_history} "
                            f"days of factor returns in the last {p.cov_window} days")
        f = self.factor_returns[max(0, t - p.cov_window + 1): t + 1]
        return shrink_to_diagonal(weighted_cov(f, p.cov_half_life, p.demean), p.factor_shrinkage)

    def specific_variance(self, t: int) -> np.ndarray:
        """EWMA specific variance [N] from residuals of days <= t; names with fewer than
        `min_specific_obs` residuals get the median of the others; NaN without exposures."""
        self._check_fitted()
        p = self.params
        lo = max(0, t - p.specific_window + 1)
        u = self.specific_returns[lo: t + 1]
        n = u.shape[0]
        age = np.arange(n - 1, -1, -1, dtype=np.float64)
        w = (0.5 ** (age / p.specific_half_life))[:, None] * np.isfinite(u)
        sw = w.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (w * np.where(np.isfinite(u), u ** 2, 0.0)).sum(axis=0) / sw
        enough = np.isfinite(u).sum(axis=0) >= p.min_specific_obs
        fill = np.nanmedian(var[enough]) if enough.any() else np.nan
        var = np.where(enough, var, fill)
        has_x = np.isfinite(self.exposures(t)).all(axis=1)
        return np.where(has_x, var, np.nan)

    def covariance(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(exposures [N, K], factor_cov [K, K], specific_var [N]) for day t (data <= t only)."""
        self._check_fitted()
        T = self.shape[0]
        if not 0 <= t < T:
            raise DataError(f"covariance: day index {t} outside [0, {T})")
        F = self.factor_covariance(t)
        X = self.exposures(t)
        d = self.specific_variance(t)
        bad = ~np.isfinite(d)
        X[bad] = np.nan
        return X, F, d

    @property
    def industry_codes(self) -> np.ndarray:
        """Industry codes int [T, N] the model was fitted with (-1 unknown)."""
        self._check_fitted()
        return np.where(self.industry_col >= 0, self.industries[np.maximum(self.industry_col, 0)], -1)


def fit_factor_model(data_dir: str | Path, panel, meta_dir: str | Path | None = None,
                     params: FactorModelParams | None = None, taxonomy: str = "sw2021"
                     ) -> FactorRiskModel:
    """Fit a `FactorRiskModel` on a daily panel with `close` (adjusted): returns from close,
    industry and market cap from `seqalpha.data.reference.industry_and_size`, value from `bp`."""
    from seqalpha.data.reference import industry_and_size

    if "close" not in panel:
        raise DataError(f"fit_factor_model: the panel lacks 'close'; it has {panel.field_names}")
    close = panel["close"].astype(np.float64)
    r = np.full(close.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        r[1:] = close[1:] / close[:-1] - 1.0
    ind, cap = industry_and_size(data_dir, panel, meta_dir, taxonomy=taxonomy)
    value = panel.fields.get("bp")
    return FactorRiskModel(params).fit(r, ind, cap, panel.universe, value, panel.dates)
