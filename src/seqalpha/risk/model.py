"""Barra-style factor risk model fitted point in time.

Day t's stock returns r_t [N] are regressed (weighted least squares, sqrt-cap weights; one
regression per day, solved for all days at once as batched normal equations) on the
exposures known at the close of t-1: industry dummies and cross-sectionally z-scored styles
(size = log market cap, momentum, volatility, value when given). This yields factor returns
f_t [K] and specific returns u_t [N] that use data up to day t only. `covariance(t)` serves
(exposures at t [N, K], EWMA factor covariance with shrinkage [K, K], EWMA specific variance
[N]) from rows <= t, for the portfolio held from t+1 on.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from seqalpha.errors import ConfigError, DataError
from seqalpha.risk.base import RiskModel
from seqalpha.risk.covariance import shrink_to_diagonal, weighted_cov


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
        for k in (
            "momentum_window",
            "volatility_window",
            "cov_window",
            "specific_window",
            "min_specific_obs",
            "min_history",
        ):
            if getattr(self, k) < 2:
                raise ConfigError(f"FactorModelParams.{k} must be >= 2, got {getattr(self, k)}")
        if self.momentum_skip < 0 or self.min_names < 0:
            raise ConfigError("FactorModelParams.momentum_skip and min_names must be >= 0")
        if self.cov_half_life <= 0 or self.specific_half_life <= 0:
            raise ConfigError("FactorModelParams: half-lives must be > 0")
        if not 0 <= self.factor_shrinkage <= 1:
            raise ConfigError(
                f"FactorModelParams.factor_shrinkage must be in [0, 1], got {self.factor_shrinkage}"
            )
        if self.zscore_clip <= 0 or (self.return_clip is not None and self.return_clip <= 0):
            raise ConfigError("FactorModelParams.zscore_clip and return_clip must be > 0")
        if self.weighting not in ("sqrt_cap", "equal"):
            raise ConfigError(
                f"FactorModelParams.weighting={self.weighting!r}: expected 'sqrt_cap' or 'equal'"
            )
        if self.min_specific_obs > self.specific_window:
            raise ConfigError("FactorModelParams.min_specific_obs must be <= specific_window")


def _rolling_sum(
    a: np.ndarray, ok: np.ndarray, window: int, lag: int = 0
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
    """Per row: (x - mean) / std over universe names with finite x, clipped at +-clip.

    Rows [T, N].
    """
    ok = universe & np.isfinite(x)
    n = ok.sum(axis=1, keepdims=True)
    xv = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = xv.sum(axis=1, keepdims=True) / n
        sd = np.sqrt(np.where(ok, (xv - mu) ** 2, 0.0).sum(axis=1, keepdims=True) / n)
        z = (x - mu) / np.where(sd > 0, sd, np.nan)
    return np.clip(z, -clip, clip)


def style_exposures(
    returns: np.ndarray,
    market_cap: np.ndarray,
    universe: np.ndarray,
    value: np.ndarray | None = None,
    params: FactorModelParams = FactorModelParams(),
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
    s2, _ = _rolling_sum(r**2, ok, params.volatility_window)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (s2 - s1**2 / c1) / (c1 - 1)
    vol = np.where(
        c1 >= max(2, params.volatility_window // 2), np.sqrt(np.maximum(var, 0.0)), np.nan
    )
    names, raw = ["size", "momentum", "volatility"], [size, mom, vol]
    if value is not None:
        names.append("value")
        raw.append(np.asarray(value, dtype=np.float64))
    out = np.stack([_cs_zscore(x, universe, params.zscore_clip) for x in raw], axis=2)
    out = np.where(np.isnan(out) & universe[:, :, None], 0.0, out)
    return names, out


def _wls_days(
    xs: np.ndarray,
    col: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    have: np.ndarray,
    n_ind: int,
    chunk: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-day weighted least squares of y [D, N] on [industry dummies (col [D, N]), styles
    xs [D, N, S]] with weights w [D, N] (0 = left out): factor returns [D, K] and residuals
    [D, N] (NaN where not `have`). Batched normal equations, chunked over days; a factor
    without members (all-zero column) gets 0 through a tiny ridge."""
    D, N, S = xs.shape
    K = n_ind + S
    f_all = np.zeros((D, K))
    u_all = np.full((D, N), np.nan)
    eye = np.eye(K)
    for lo in range(0, D, chunk):
        hi = min(D, lo + chunk)
        c = hi - lo
        X = np.zeros((c, N, K))
        ci = col[lo:hi]
        tt, nn = np.nonzero(ci >= 0)
        X[tt, nn, ci[tt, nn]] = 1.0
        X[:, :, n_ind:] = np.where(np.isfinite(xs[lo:hi]), xs[lo:hi], 0.0)
        Xw = X * w[lo:hi, :, None]
        A = Xw.transpose(0, 2, 1) @ X
        b = Xw.transpose(0, 2, 1) @ y[lo:hi, :, None]
        scale = np.trace(A, axis1=1, axis2=2)[:, None, None] / K
        A = A + 1e-10 * np.maximum(scale, 1e-300) * eye
        f = np.linalg.solve(A, b)[:, :, 0]
        pred = (X @ f[:, :, None])[:, :, 0]
        f_all[lo:hi] = f
        u_all[lo:hi] = np.where(have[lo:hi], y[lo:hi] - pred, np.nan)
    return f_all, u_all


class FactorRiskModel(RiskModel):
    """Industry + style factor model; `fit(...)` runs one weighted lstsq per day, then
    `covariance(t)` reads factor and specific returns of days <= t only.

    Factors: one dummy per industry code held by a universe name at some date (a name with
    code -1 or a code never in the universe is left out of the regression and has no risk)
    and the styles of `style_exposures`. No separate market
    factor: the industry dummies span it.
    """

    def __init__(self, params: FactorModelParams | None = None, **kwargs):
        if params is not None and kwargs:
            raise ConfigError("FactorRiskModel: pass params or keyword settings, not both")
        self.params = params if params is not None else FactorModelParams(**kwargs)
        self.fitted = False

    def fit(
        self,
        returns: np.ndarray,
        industry: np.ndarray,
        market_cap: np.ndarray,
        universe: np.ndarray | None = None,
        value: np.ndarray | None = None,
        dates: np.ndarray | None = None,
        instruments: np.ndarray | None = None,
    ) -> FactorRiskModel:
        """Fit on daily returns [T, N] (row t = close t-1 -> close t), industry int [T, N],
        market cap [T, N], optional universe bool [T, N], value (e.g. book/price) [T, N], and
        the grid's dates [T] / instruments [N] (for error messages and `view`)."""
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
            (("value", np.asarray(value)),) if value is not None else ()
        ):
            if a.shape != (T, N):
                raise DataError(f"{nm}: shape {a.shape} differs from returns {(T, N)}")
        if dates is not None and len(dates) != T:
            raise DataError(f"dates: length {len(dates)} differs from returns rows {T}")
        self.dates = None if dates is None else np.asarray(dates)
        self.instruments = None if instruments is None else np.asarray(instruments)
        if self.instruments is not None and len(self.instruments) != N:
            raise DataError(
                f"instruments: length {len(self.instruments)} differs from returns columns {N}"
            )
        # one factor per industry code held by some universe name (others could not be estimated)
        self.industries = np.unique(ind[(ind >= 0) & uni])
        if self.industries.size == 0:
            raise DataError("industry: no known industry code (>= 0) among universe names")
        pos = np.minimum(np.searchsorted(self.industries, ind), len(self.industries) - 1)
        ind_col = np.where((ind >= 0) & (self.industries[pos] == ind), pos, -1)
        self.style_names, self.styles = style_exposures(r, cap, uni, value, p)
        self.industry_col = ind_col
        self.universe = uni
        self.factor_names = [f"industry_{c}" for c in self.industries.tolist()] + self.style_names
        n_ind = len(self.industries)
        K = n_ind + len(self.style_names)
        y_all = r if p.return_clip is None else np.clip(r, -p.return_clip, p.return_clip)
        with np.errstate(invalid="ignore"):
            wt = (
                np.sqrt(np.where(cap > 0, cap, np.nan))
                if p.weighting == "sqrt_cap"
                else np.ones((T, N))
            )
        self.factor_returns = np.full((T, K), np.nan)
        self.specific_returns = np.full((T, N), np.nan)
        self.n_names = np.zeros(T, dtype=np.int64)
        min_names = max(p.min_names, K + 1)
        # day t's return on the exposures of the close of t-1 (row t-1), all days at once
        xs, col, y = self.styles[:-1], ind_col[:-1], y_all[1:]
        have = (col >= 0) & np.isfinite(xs).all(axis=2) & np.isfinite(y)
        fit_rows = have & uni[:-1]
        w = np.where(fit_rows & np.isfinite(wt[:-1]), wt[:-1], np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # days without any weight
            med = np.nanmedian(w, axis=1, keepdims=True)
        w = np.where(np.isfinite(w), w, np.where(np.isfinite(med), med, 1.0))
        w = np.where(fit_rows, w, 0.0)
        days = fit_rows.sum(axis=1) >= min_names
        f, u = _wls_days(xs, col, np.where(np.isfinite(y), y, 0.0), w, have, n_ind)
        f[~days] = np.nan
        u[~days] = np.nan
        self.factor_returns[1:] = f
        self.specific_returns[1:] = u
        self.n_names[1:] = np.where(days, fit_rows.sum(axis=1), 0)
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
        return int(np.isfinite(self.factor_returns[lo : t + 1, 0]).sum()) >= self.params.min_history

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
        """EWMA factor covariance [K, K] from factor returns of days <= t.

        Shrunk to its diagonal.
        """
        self._check_fitted()
        p = self.params
        if not self.ready(t):
            raise DataError(
                f"factor_covariance({self._label(t)}): fewer than {p.min_history} "
                f"days of factor returns in the last {p.cov_window} days"
            )
        f = self.factor_returns[max(0, t - p.cov_window + 1) : t + 1]
        return shrink_to_diagonal(weighted_cov(f, p.cov_half_life, p.demean), p.factor_shrinkage)

    def specific_variance(self, t: int) -> np.ndarray:
        """EWMA specific variance [N] from residuals of days <= t; names with fewer than
        `min_specific_obs` residuals get the median of the others; NaN without exposures."""
        self._check_fitted()
        p = self.params
        lo = max(0, t - p.specific_window + 1)
        u = self.specific_returns[lo : t + 1]
        n = u.shape[0]
        age = np.arange(n - 1, -1, -1, dtype=np.float64)
        w = (0.5 ** (age / p.specific_half_life))[:, None] * np.isfinite(u)
        sw = w.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (w * np.where(np.isfinite(u), u**2, 0.0)).sum(axis=0) / sw
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
        return np.where(
            self.industry_col >= 0, self.industries[np.maximum(self.industry_col, 0)], -1
        )


def fit_factor_model(
    data_dir: str | Path,
    panel,
    meta_dir: str | Path | None = None,
    params: FactorModelParams | None = None,
    taxonomy: Literal["asis", "sw2021"] = "sw2021",
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
    if value is not None and not np.isfinite(value).any():
        value = None  # the store has no book/price data
    return FactorRiskModel(params).fit(
        r, ind, cap, panel.universe, value, panel.dates, panel.instruments
    )
