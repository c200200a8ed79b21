"""Covariance building blocks: exponential weights, weighted factor covariance with shrinkage,
and a sample-covariance risk model with Ledoit-Wolf shrinkage kept in factor form.

Every estimate at day t reads rows `<= t` only. Risk is returned in the factor form
`(exposures [N, K], factor_cov [K, K], specific_var [N])` so that `X F X' + diag(d)` never has
to be formed as N x N unless asked for.
"""

from __future__ import annotations

import numpy as np
from sklearn.covariance import ledoit_wolf_shrinkage

from seqalpha.errors import ConfigError, DataError
from seqalpha.risk.base import RiskModel


def ewma_weights(n: int, half_life: float | None) -> np.ndarray:
    """Weights [n] for rows 0..n-1 (row n-1 = today), halving every `half_life` rows; sum 1.

    half_life None gives equal weights.
    """
    if n <= 0:
        return np.zeros(0)
    if half_life is None:
        w = np.ones(n)
    else:
        if half_life <= 0:
            raise ConfigError(f"half_life must be > 0, got {half_life}")
        age = np.arange(n - 1, -1, -1, dtype=np.float64)
        w = 0.5 ** (age / half_life)
    return w / w.sum()


def weighted_cov(x: np.ndarray, half_life: float | None = None, demean: bool = False) -> np.ndarray:
    """Exponentially weighted covariance [K, K] of the rows of x [W, K] (last row = newest).

    Rows with any NaN are dropped. Without demeaning it is the weighted second moment.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x).all(axis=1)]
    w = ewma_weights(len(x), half_life)
    if len(x) == 0:
        return np.full((x.shape[1], x.shape[1]), np.nan)
    if demean:
        x = x - w @ x
        # unbiased weighted estimate for reliability weights
        corr = 1.0 - float(np.sum(w**2))
        scale = 1.0 / corr if corr > 1e-12 else 1.0
    else:
        scale = 1.0
    return scale * (x * w[:, None]).T @ x


def shrink_to_diagonal(cov: np.ndarray, shrinkage: float) -> np.ndarray:
    """(1 - s) * cov + s * diag(cov) [K, K]: pulls correlations towards 0, keeps variances."""
    if not 0.0 <= shrinkage <= 1.0:
        raise ConfigError(f"shrinkage must be in [0, 1], got {shrinkage}")
    return (1.0 - shrinkage) * cov + shrinkage * np.diag(np.diag(cov))


class SampleCovarianceModel(RiskModel):
    """Sample covariance of the last `window` daily returns with Ledoit-Wolf shrinkage.

    Sigma = (1 - s) S + s * mu * I with S = R'R / n of demeaned returns R [n, N] and the
    sklearn Ledoit-Wolf intensity s; served in factor form X = sqrt((1 - s) / n) R' [N, W],
    F = I [W, W], d = s * mu [N], so the optimizer stays a small QP. Missing returns count as 0
    after demeaning; a name with fewer than `min_obs` returns in the window gets NaN risk.
    """

    def __init__(self, window: int = 120, min_obs: int | None = None):
        if window < 2:
            raise ConfigError(f"SampleCovarianceModel.window must be >= 2, got {window}")
        self.window = int(window)
        self.min_obs = int(min_obs) if min_obs is not None else max(2, self.window // 2)
        if not 2 <= self.min_obs <= self.window:
            raise ConfigError(
                f"SampleCovarianceModel.min_obs must be in [2, window], got {min_obs}"
            )
        self.returns: np.ndarray | None = None
        self.dates: np.ndarray | None = None

    def fit(
        self,
        returns: np.ndarray,
        universe: np.ndarray | None = None,
        dates: np.ndarray | None = None,
        instruments: np.ndarray | None = None,
    ) -> SampleCovarianceModel:
        """Keep daily returns [T, N] (row t = return over day t); outside `universe` is ignored."""
        r = np.asarray(returns, dtype=np.float64)
        if r.ndim != 2:
            raise DataError(f"returns: expected [T, N], got shape {r.shape}")
        if universe is not None:
            universe = np.asarray(universe, dtype=bool)
            if universe.shape != r.shape:
                raise DataError(f"universe: shape {universe.shape} differs from returns {r.shape}")
            r = np.where(universe, r, np.nan)
        self.returns = r
        self.dates = None if dates is None else np.asarray(dates)
        self.instruments = None if instruments is None else np.asarray(instruments)
        return self

    @property
    def shape(self) -> tuple[int, int]:
        """(T, N) of the fitted grid."""
        self._check_fitted()
        return self.returns.shape  # type: ignore[union-attr]

    def _check_fitted(self) -> None:
        if self.returns is None:
            raise ConfigError("SampleCovarianceModel: call fit(returns) first")

    def ready(self, t: int) -> bool:
        """True when day t has at least `min_obs` rows of history."""
        return t + 1 >= self.min_obs

    def covariance(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(exposures [N, W], factor_cov = I [W, W], specific_var [N]) from returns rows <= t."""
        self._check_fitted()
        r = self.returns
        T, N = r.shape  # type: ignore[union-attr]
        if not 0 <= t < T:
            raise DataError(f"covariance: day index {t} outside [0, {T})")
        if not self.ready(t):
            raise DataError(f"covariance({self._label(t)}): needs {self.min_obs} days of history")
        win = r[max(0, t - self.window + 1) : t + 1]  # type: ignore[index]
        n = win.shape[0]
        obs = np.isfinite(win)
        cnt = obs.sum(axis=0)
        ok = cnt >= self.min_obs
        mean = np.where(ok, np.nansum(np.where(obs, win, 0.0), axis=0) / np.maximum(cnt, 1), 0.0)
        dem = np.where(obs & ok[None, :], win - mean, 0.0)
        X = np.full((N, self.window), np.nan)
        d = np.full(N, np.nan)
        if ok.sum() >= 2:
            sub = dem[:, ok]
            s = float(ledoit_wolf_shrinkage(sub, assume_centered=True))
            mu = float(np.sum(sub**2) / n / sub.shape[1])
            load = np.zeros((N, self.window))
            load[:, self.window - n :] = (np.sqrt((1.0 - s) / n) * dem).T
            X[ok] = load[ok]
            d[ok] = s * mu
        return X, np.eye(self.window), d
