"""Combination methods: member scores -> per-date member weights, by registered name.

Every method takes a `Members` (normalised member scores `z [M, T, N]`, the per-date z-scored
label `[T, N]` and the label reach) and returns weights `float64 [T, M]`. A method that reads
labels uses, for the weights of date index t, only the labels of dates s <= t - reach (the
label of s reads prices up to s + reach: it is realized by then); until `min_periods` such
days exist it falls back to equal weights. The dates are consecutive trading days.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqalpha import xsection as xs
from seqalpha.errors import ConfigError


@dataclass
class Members:
    """Inputs of a method: z float64 [M, T, N] (normalised scores, NaN where absent), label
    float64 [T, N] (z-scored per date, NaN where absent), reach (trading days a label reads
    after its date)."""

    names: list[str]
    z: np.ndarray
    label: np.ndarray
    reach: int

    @property
    def shape(self) -> tuple[int, int, int]:
        m, t, n = self.z.shape
        return m, t, n

    def daily_ic(self) -> np.ndarray:
        """Daily IC of each member with the label: [M, T] (NaN where undefined)."""
        return np.stack([xs.daily_ic(zm, self.label) for zm in self.z])


@dataclass(frozen=True)
class Method:
    """A registered combination method: weights(members, params) -> [T, M]."""

    name: str
    weights: Callable[[Members, dict[str, Any]], np.ndarray]
    defaults: dict[str, Any] = field(default_factory=dict)
    uses_labels: bool = False
    normalize: str | None = None  # a normalisation the method imposes (else the config's)
    doc: str = ""


METHODS: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add a method to the registry (a name may be registered once)."""
    if method.name in METHODS:
        raise ConfigError(f"combine method {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


def check_method(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The method's params with defaults filled in; ConfigError naming an unknown method or key,
    or a bad value."""
    if name not in METHODS:
        allowed = ", ".join(sorted(METHODS))
        raise ConfigError(f"ensemble.method: unknown combine method {name!r}; allowed: {allowed}")
    method = METHODS[name]
    unknown = sorted(set(params) - set(method.defaults))
    if unknown:
        allowed = ", ".join(sorted(method.defaults)) or "none"
        raise ConfigError(
            f"ensemble.params: method {name!r} has no param {unknown[0]!r}; allowed: {allowed}"
        )
    p = {**method.defaults, **params}
    for key in ("window", "min_periods", "refit", "n_components"):
        if key in p and not (isinstance(p[key], int) and not isinstance(p[key], bool)):
            raise ConfigError(f"ensemble.params.{key}: {p[key]!r} is not an integer")
        if key in p and p[key] < 1:
            raise ConfigError(f"ensemble.params.{key}: {p[key]} must be >= 1")
    if "min_periods" in p and p["min_periods"] > p["window"]:
        raise ConfigError(
            f"ensemble.params.min_periods: {p['min_periods']} exceeds window {p['window']}"
        )
    if "alpha" in p and not (isinstance(p["alpha"], (int, float)) and p["alpha"] > 0):
        raise ConfigError(f"ensemble.params.alpha: {p['alpha']!r} must be a number > 0")
    if "threshold" in p and not (
        isinstance(p["threshold"], (int, float)) and -1 < p["threshold"] < 1
    ):
        raise ConfigError(f"ensemble.params.threshold: {p['threshold']!r} must be in (-1, 1)")
    if "positive" in p and not isinstance(p["positive"], bool):
        raise ConfigError(f"ensemble.params.positive: {p['positive']!r} is not true/false")
    if "by" in p and p["by"] not in ("ic", "icir"):
        raise ConfigError(f"ensemble.params.by: {p['by']!r} is not one of ic, icir")
    return p


# ---------------------------------------------------------------------------------------------
# helpers


def equal_weights(t: int, m: int) -> np.ndarray:
    return np.full((t, m), 1.0 / m)


def _normalise(w: np.ndarray) -> np.ndarray | None:
    """w / sum |w|, or None when every weight is zero (or not finite)."""
    total = np.abs(w).sum()
    if not np.isfinite(total) or total <= 0:
        return None
    return w / total


def realized_span(t: int, reach: int, window: int) -> tuple[int, int]:
    """Date indices [lo, hi) whose labels are realized at date index t: the last `window` of
    those s with s <= t - reach."""
    hi = max(t - reach + 1, 0)
    return max(hi - window, 0), hi


def _window_rows(mem: Members, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """(X [rows, M], y [rows]) of the cells of dates lo..hi-1 with a label; a member absent from
    a cell counts as 0 (its normalised mean)."""
    z = mem.z[:, lo:hi].reshape(mem.z.shape[0], -1).T
    y = mem.label[lo:hi].reshape(-1)
    keep = np.isfinite(y) & np.isfinite(z).any(axis=1)
    return np.nan_to_num(z[keep]), y[keep]


def _rolling_fit(
    mem: Members, p: dict[str, Any], fit: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """Weights from `fit(X, y) -> [M]` refitted every `refit` days on the realized window."""
    m, t_len, _ = mem.shape
    out = equal_weights(t_len, m)
    current: np.ndarray | None = None
    last_fit = -(10**9)
    for t in range(t_len):
        lo, hi = realized_span(t, mem.reach, p["window"])
        if hi - lo < p["min_periods"]:
            continue
        if current is None or t - last_fit >= p["refit"]:
            X, y = _window_rows(mem, lo, hi)
            current = _normalise(fit(X, y)) if len(y) > m else None
            last_fit = t
        if current is not None:
            out[t] = current
    return out


# ---------------------------------------------------------------------------------------------
# methods


def _equal(mem: Members, p: dict[str, Any]) -> np.ndarray:
    m, t, _ = mem.shape
    return equal_weights(t, m)


def _rolling_ic(mem: Members, p: dict[str, Any]) -> np.ndarray:
    m, t_len, _ = mem.shape
    ic = mem.daily_ic()  # [M, T]; ic[:, s] reads the label of s only
    out = equal_weights(t_len, m)
    for t in range(t_len):
        lo, hi = realized_span(t, mem.reach, p["window"])
        win = ic[:, lo:hi]
        n = np.isfinite(win).sum(axis=1)
        if hi - lo < p["min_periods"] or (n < p["min_periods"]).any():
            continue
        score = np.nanmean(win, axis=1)
        if p["by"] == "icir":
            sd = np.nanstd(win, axis=1, ddof=1)
            score = np.where(sd > 0, score / np.where(sd > 0, sd, 1.0), 0.0)
        w = _normalise(np.clip(score, 0.0, None))
        if w is not None:
            out[t] = w
    return out


def _lasso(mem: Members, p: dict[str, Any]) -> np.ndarray:
    from sklearn.linear_model import Lasso

    def fit(X: np.ndarray, y: np.ndarray) -> np.ndarray:
        model = Lasso(alpha=float(p["alpha"]), positive=bool(p["positive"]), max_iter=5000)
        return model.fit(X, y).coef_

    return _rolling_fit(mem, p, fit)


def _pca(mem: Members, p: dict[str, Any]) -> np.ndarray:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LinearRegression

    def fit(X: np.ndarray, y: np.ndarray) -> np.ndarray:
        k = min(int(p["n_components"]), X.shape[1])
        pca = PCA(n_components=k).fit(X)
        beta = LinearRegression().fit(pca.transform(X), y).coef_
        return pca.components_.T @ beta  # regression on the components, in member weights

    return _rolling_fit(mem, p, fit)


def score_correlation(mem: Members) -> np.ndarray:
    """Daily cross-sectional correlation of every pair of members: [T, M, M]."""
    m, t_len, _ = mem.shape
    out = np.ones((t_len, m, m))
    for a in range(m):
        for b in range(a + 1, m):
            out[:, a, b] = out[:, b, a] = xs.daily_ic(mem.z[a], mem.z[b])
    return out


def cluster_weights(corr: np.ndarray, threshold: float) -> np.ndarray:
    """Average-linkage clusters of members whose correlation exceeds `threshold`; each cluster
    gets an equal share, split equally among its members: weights [M]."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    m = corr.shape[0]
    if m == 1:
        return np.ones(1)
    dist = np.clip(1.0 - corr, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    labels = fcluster(
        linkage(squareform(dist, checks=False), "average"), 1.0 - threshold, "distance"
    )
    sizes = np.bincount(labels)[labels]
    return 1.0 / (len(np.unique(labels)) * sizes)


def _cluster(mem: Members, p: dict[str, Any]) -> np.ndarray:
    m, t_len, _ = mem.shape
    daily = score_correlation(mem)  # scores of date t are known at t: no label is read
    out = equal_weights(t_len, m)
    for t in range(t_len):
        win = daily[max(t + 1 - p["window"], 0) : t + 1]
        corr = np.nanmean(win, axis=0) if np.isfinite(win).any() else np.eye(m)
        out[t] = cluster_weights(np.nan_to_num(corr), float(p["threshold"]))
    return out


_ROLL = {"window": 120, "min_periods": 20}
register_method(Method("equal", _equal, doc="the mean of the normalised members"))
register_method(
    Method(
        "rolling_ic",
        _rolling_ic,
        {**_ROLL, "by": "ic"},
        uses_labels=True,
        doc="weights = max(mean realized daily IC (or ICIR) over the window, 0), normalised",
    )
)
register_method(
    Method(
        "cluster",
        _cluster,
        {"window": 120, "threshold": 0.7},
        doc="average-linkage clusters of score correlation > threshold; equal across clusters",
    )
)
register_method(
    Method(
        "lasso",
        _lasso,
        {**_ROLL, "alpha": 0.001, "positive": True, "refit": 1},
        uses_labels=True,
        doc="rolling LASSO of the z-scored label on the members' scores (realized rows)",
    )
)
register_method(
    Method(
        "pca",
        _pca,
        {**_ROLL, "n_components": 2, "refit": 1},
        uses_labels=True,
        doc="rolling regression of the label on the first principal components of the scores",
    )
)
register_method(
    Method(
        "gauss_rank",
        _equal,
        normalize="rank_gauss",
        doc="Numerai's meta model: rank -> gaussianize per day -> average",
    )
)
