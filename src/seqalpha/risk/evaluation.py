"""Out-of-sample evaluation of a risk model's covariance forecasts.

At every rebalance day t (every `step` rows) the model's forecast `covariance(t)` (data <= t)
is scored on the returns of the next `horizon` days t+1..t+H, which it has not seen:

- bias statistic: std over rebalances of z = R_p / (sigma_p sqrt(H)) for random long-only
  portfolios, factor-mimicking (style top-third minus bottom-third) portfolios and the model's
  own minimum-variance portfolio (the optimized one); 1 is calibrated, > 1 under-forecast;
- R-squared: cross-sectional OLS of each next-day return r_{t+h} [N] on the exposures X_t
  (plus an intercept), averaged over days (only for models with few factors, K < N / 3);
  also adjusted for the number of factors (more factors raise the plain R^2 by ~K / N);
- GMV: realized annualized volatility of the long-only minimum-variance portfolio built from
  the forecast (lower is better);
- tracking error: forecast vs realized annualized TE of random active portfolios against the
  benchmark weights.

Standard errors: R-squared and GMV volatility from the spread over rebalances
(std / sqrt(n)); a bias statistic over n periods has SE ~ 1 / sqrt(2 n) under normality.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np

from seqalpha.errors import ConfigError, DataError
from seqalpha.risk.base import RiskModel

ANNUAL_DAYS = 252


@dataclass(frozen=True)
class EvalParams:
    """Settings of `evaluate_risk_model` (days are rows of the model's grid).

    horizon: holding period H in days; step: days between rebalances (default H);
    n_random / random_names: random portfolios per rebalance and names in each;
    gmv_max_weight: per-name cap of the long-only GMV portfolio; seed: random portfolios.
    """

    horizon: int = 5
    step: int | None = None
    n_random: int = 50
    random_names: int = 30
    gmv_max_weight: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.horizon < 1 or (self.step is not None and self.step < 1):
            raise ConfigError("EvalParams: horizon and step must be >= 1")
        if self.n_random < 1 or self.random_names < 2:
            raise ConfigError("EvalParams: n_random >= 1 and random_names >= 2 required")
        if not 0 < self.gmv_max_weight <= 1:
            raise ConfigError(
                f"EvalParams.gmv_max_weight must be in (0, 1], got {self.gmv_max_weight}"
            )


@dataclass
class RiskEvaluation:
    """Per-rebalance records of one model; `summary()` gives the table's values and SEs."""

    rebalance_rows: list[int] = field(default_factory=list)
    z_random: list[np.ndarray] = field(default_factory=list)  # [P] per rebalance
    z_factor: list[np.ndarray] = field(default_factory=list)  # [S] per rebalance
    z_gmv: list[float] = field(default_factory=list)
    r2: list[float] = field(default_factory=list)  # per next day
    r2_adj: list[float] = field(default_factory=list)  # the same, adjusted for K
    gmv_daily: list[np.ndarray] = field(default_factory=list)  # [H] realized daily returns
    te_forecast: list[np.ndarray] = field(default_factory=list)  # [P] daily sigma
    te_realized: list[np.ndarray] = field(default_factory=list)  # [P] H-day active return

    def summary(self) -> dict[str, tuple[float, float]]:
        """metric -> (value, standard error); NaN where the metric does not apply."""
        n = len(self.rebalance_rows)
        if n < 2:
            raise DataError(f"RiskEvaluation: {n} rebalance day(s); need at least 2")
        se_bias = 1.0 / np.sqrt(2.0 * n)
        out: dict[str, tuple[float, float]] = {}
        zr = np.array(self.z_random)  # [n, P]
        out["bias_random"] = (float(np.mean(np.nanstd(zr, axis=0))), se_bias)
        if self.z_factor and np.size(self.z_factor[0]):
            zf = np.array(self.z_factor)
            out["bias_factor"] = (float(np.mean(np.nanstd(zf, axis=0))), se_bias)
        else:
            out["bias_factor"] = (np.nan, np.nan)
        out["bias_gmv"] = (float(np.nanstd(self.z_gmv)), se_bias)
        for key, vals in (("r2", self.r2), ("r2_adj", self.r2_adj)):
            v = np.array(vals)
            v = v[np.isfinite(v)]
            out[key] = (
                (float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))))
                if len(v) > 1
                else (np.nan, np.nan)
            )
        # per-period realized variance -> mean; SE of the vol by the delta method
        g = np.array([np.mean(x**2) for x in self.gmv_daily])
        vol = float(np.sqrt(ANNUAL_DAYS * g.mean()))
        se_var = ANNUAL_DAYS * g.std(ddof=1) / np.sqrt(len(g))
        out["gmv_vol"] = (vol, float(se_var / (2 * vol)) if vol > 0 else np.nan)
        H = len(self.gmv_daily[0])
        fc = np.array(self.te_forecast)  # [n, P] daily
        rz = np.array(self.te_realized)  # [n, P] H-day
        te_f = np.sqrt(ANNUAL_DAYS * np.nanmean(fc**2, axis=0))  # per portfolio
        te_r = np.sqrt(ANNUAL_DAYS / H * np.nanmean(rz**2, axis=0))
        out["te_forecast"] = (float(te_f.mean()), float(te_f.std(ddof=1) / np.sqrt(len(te_f))))
        out["te_realized"] = (float(te_r.mean()), float(te_r.std(ddof=1) / np.sqrt(len(te_r))))
        ratio = te_r / te_f
        out["te_ratio"] = (float(ratio.mean()), float(ratio.std(ddof=1) / np.sqrt(len(ratio))))
        return out


def gmv_weights(X: np.ndarray, F: np.ndarray, d: np.ndarray, max_weight: float) -> np.ndarray:
    """Long-only minimum-variance weights [N] (sum 1, each <= max_weight) for the covariance
    X F X' + diag(d) given in factor form (X [N, K], F [K, K], d [N], all finite)."""
    N, K = X.shape
    if max_weight * N < 1:
        raise DataError(f"gmv_weights: {N} names cannot hold weight 1 with cap {max_weight}")
    L = np.linalg.cholesky(F + 1e-12 * max(np.trace(F) / max(K, 1), 1e-12) * np.eye(K))
    w = cp.Variable(N)
    risk = cp.sum_squares((X @ L).T @ w) + cp.sum_squares(cp.multiply(np.sqrt(d), w))
    prob = cp.Problem(cp.Minimize(risk), [cp.sum(w) == 1, w >= 0, w <= max_weight])
    prob.solve(solver="CLARABEL")
    if w.value is None:
        raise DataError(f"gmv_weights: the solver ended {prob.status}")
    out = np.clip(np.asarray(w.value), 0.0, None)
    return out / out.sum()


def _variance(X: np.ndarray, F: np.ndarray, d: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Forecast variances [P] of portfolios W [P, N] (columns of X/d restricted likewise)."""
    xw = W @ X  # [P, K]
    return np.einsum("pk,kl,pl->p", xw, F, xw) + (W**2) @ d


def cross_sectional_r2(y: np.ndarray, X: np.ndarray, adjusted: bool = False) -> float:
    """Centered R-squared of the OLS of y [n] on [1, X] (X [n, K]); `adjusted` corrects for
    the number of regressors (rank of [1, X] - 1), which inflates the plain R^2 by ~K / n."""
    A = np.column_stack([np.ones(len(y)), X])
    coef, _, rank, _ = np.linalg.lstsq(A, y, rcond=None)
    res = y - A @ coef
    tss = np.sum((y - y.mean()) ** 2)
    if tss <= 0:
        return np.nan
    r2 = 1.0 - float(res @ res) / tss
    n, k = len(y), int(rank) - 1
    return 1.0 - (1.0 - r2) * (n - 1) / (n - k - 1) if adjusted else r2


def _style_portfolios(styles: np.ndarray) -> np.ndarray:
    """Factor-mimicking portfolios [S, n]: equal-weight top third minus bottom third of each
    style exposure (styles [n, S]); gross exposure 2."""
    n, S = styles.shape
    W = np.zeros((S, n))
    k = max(1, n // 3)
    for s in range(S):
        order = np.argsort(styles[:, s], kind="stable")
        W[s, order[-k:]] = 1.0 / k
        W[s, order[:k]] = -1.0 / k
    return W


def evaluate_risk_model(
    model: RiskModel,
    returns: np.ndarray,
    universe: np.ndarray,
    start: int,
    end: int,
    params: EvalParams | None = None,
    styles: np.ndarray | None = None,
    benchmark: np.ndarray | None = None,
) -> RiskEvaluation:
    """Score `model` on rebalance rows start, start + step, ... < end - horizon.

    returns [T, N]: row t = return over day t (the model's grid); universe bool [T, N];
    styles [T, N, S] (optional): exposures for factor-mimicking portfolios; benchmark [T, N]
    (optional): benchmark weights for the tracking-error test (default: equal weight over
    the day's names). Names enter a rebalance when they are in the universe with a finite risk
    forecast; a missing return inside the horizon counts as 0 (suspended).
    """
    p = params if params is not None else EvalParams()
    r = np.asarray(returns, dtype=np.float64)
    uni = np.asarray(universe, dtype=bool)
    T, N = r.shape
    if uni.shape != (T, N) or tuple(model.shape) != (T, N):
        raise DataError(
            f"evaluate_risk_model: returns {r.shape}, universe {uni.shape} and the model "
            f"{tuple(model.shape)} must share one [T, N] grid"
        )
    if styles is not None and styles.shape[:2] != (T, N):
        raise DataError(f"evaluate_risk_model: styles {styles.shape[:2]} differ from {(T, N)}")
    if benchmark is not None and benchmark.shape != (T, N):
        raise DataError(f"evaluate_risk_model: benchmark {benchmark.shape} differs from {(T, N)}")
    H, step = p.horizon, p.step or p.horizon
    if not 0 <= start < end <= T:
        raise DataError(f"evaluate_risk_model: rows [{start}, {end}) outside [0, {T})")
    rng = np.random.default_rng(p.seed)
    res = RiskEvaluation()
    for t in range(start, end - H, step):
        if not model.ready(t):
            continue
        X, F, d = model.covariance(t)
        ok = uni[t] & np.isfinite(d) & np.isfinite(X).all(axis=1)
        if styles is not None:
            ok &= np.isfinite(styles[t]).all(axis=1)
        idx = np.flatnonzero(ok)
        n = len(idx)
        if n < max(p.random_names, int(np.ceil(1 / p.gmv_max_weight))) + 1:
            continue
        Xs, ds = X[idx], d[idx]
        fut = np.nan_to_num(r[t + 1 : t + 1 + H][:, idx])  # [H, n]
        R = fut.sum(axis=0)  # H-day return per name
        # random long-only portfolios: equal weight on random_names names
        W = np.zeros((p.n_random, n))
        for k in range(p.n_random):
            W[k, rng.choice(n, p.random_names, replace=False)] = 1.0 / p.random_names
        sig = np.sqrt(_variance(Xs, F, ds, W))
        res.z_random.append((W @ R) / (sig * np.sqrt(H)))
        if styles is not None:
            Ws = _style_portfolios(styles[t][idx])
            res.z_factor.append((Ws @ R) / (np.sqrt(_variance(Xs, F, ds, Ws)) * np.sqrt(H)))
        w = gmv_weights(Xs, F, ds, p.gmv_max_weight)
        res.z_gmv.append(float(w @ R / np.sqrt(_variance(Xs, F, ds, w[None])[0] * H)))
        res.gmv_daily.append(fut @ w)
        # tracking error of the random portfolios against the benchmark
        b = np.full(n, 1.0 / n) if benchmark is None else np.nan_to_num(benchmark[t][idx])
        if b.sum() <= 0:
            raise DataError(f"evaluate_risk_model: benchmark weights of row {t} sum to 0")
        A = W - b / b.sum()
        res.te_forecast.append(np.sqrt(_variance(Xs, F, ds, A)))
        res.te_realized.append(A @ R)
        if Xs.shape[1] < n / 3:
            for h in range(H):
                res.r2.append(cross_sectional_r2(fut[h], Xs))
                res.r2_adj.append(cross_sectional_r2(fut[h], Xs, adjusted=True))
        else:
            res.r2.append(np.nan)
            res.r2_adj.append(np.nan)
        res.rebalance_rows.append(t)
    return res


METRICS = [
    ("r2", "R2 next day", "{:.4f}"),
    ("r2_adj", "adj. R2", "{:.4f}"),
    ("bias_random", "bias random", "{:.3f}"),
    ("bias_factor", "bias factor-mim.", "{:.3f}"),
    ("bias_gmv", "bias GMV", "{:.3f}"),
    ("gmv_vol", "GMV vol (ann.)", "{:.4f}"),
    ("te_forecast", "TE forecast", "{:.4f}"),
    ("te_realized", "TE realized", "{:.4f}"),
    ("te_ratio", "TE real/fcst", "{:.3f}"),
]


def evaluation_table(results: dict[str, dict[str, tuple[float, float]]]) -> str:
    """A markdown table: one row per model, cells `value (SE)` of each `summary()` metric."""
    head = "| model | " + " | ".join(lbl for _, lbl, _ in METRICS) + " |"
    lines = [head, "|---" * (len(METRICS) + 1) + "|"]
    for name, summ in results.items():
        cells = []
        for key, _, fmt in METRICS:
            v, se = summ.get(key, (np.nan, np.nan))
            cells.append("n/a" if not np.isfinite(v) else f"{fmt.format(v)} ({fmt.format(se)})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
