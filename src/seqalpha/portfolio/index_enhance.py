"""Index enhancement: beat a benchmark index within a tracking-error budget.

The optimizer's benchmark-relative mode maximizes alpha' w - risk_aversion * active variance -
turnover cost, long only and fully invested, with the forecast tracking error
sqrt(252 (w - b)' V (w - b)) <= `tracking_error`, |w_i - b_i| <= `max_active_weight`, industry
weights within +-`max_industry_active` of the benchmark's, active style exposures (size,
momentum, volatility, z-scores) within +-`max_style_active`, and only index members held.

Benchmark weights b: the index's constituent weights are not in the data, so they are
approximated point in time by market-cap weights over the day's listed members (total market
cap from cn_meta; the real CSI300 uses free-float cap with category caps, so b is an
approximation). Tradability: names that cannot be bought (limit up, suspended) cannot rise, names
that cannot be sold cannot fall; lots of 100 shares are applied by the backtest
(`trade_unit`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqalpha.errors import ConfigError, DataError
from seqalpha.portfolio.optimizer import TE_DAYS, OptimizerParams, optimize_weights
from seqalpha.risk.base import RiskModel


@dataclass(frozen=True)
class IndexEnhanceParams:
    """Settings of the `index_enhance` strategy (weights are fractions of the portfolio;
    tracking_error is annualized; style bounds in cross-sectional z-score units).

    alpha = alpha_scale * the day's score z-score: 0.003 is Grinold's IC x volatility x z with
    IC ~ 0.03 and a 2% daily volatility over a 5-day holding; turnover_cost is charged per unit
    of |w - w_prev| (about half the round-trip cost). alpha_factor: add the score itself as a
    risk factor (`AlphaAlignedRisk`), so that bets along the alpha, which the risk model's
    factors do not see, count in the tracking error.
    """

    tracking_error: float = 0.05
    max_active_weight: float = 0.02
    max_industry_active: float | None = 0.03
    max_style_active: float | None = 0.3
    risk_aversion: float = 1.0
    turnover_cost: float = 0.001
    alpha_scale: float = 0.003
    rebalance_every: int = 5
    universe: str = "csi300"
    history_days: int = 300
    alpha_factor: bool = True
    alpha_factor_window: int = 60

    def __post_init__(self) -> None:
        for k in ("tracking_error", "max_active_weight", "alpha_scale"):
            if not getattr(self, k) > 0:
                raise ConfigError(f"portfolio.params.{k} must be > 0, got {getattr(self, k)}")
        for k in ("max_industry_active", "max_style_active"):
            v = getattr(self, k)
            if v is not None and not v > 0:
                raise ConfigError(f"portfolio.params.{k} must be > 0 or null, got {v}")
        if self.risk_aversion < 0 or self.turnover_cost < 0:
            raise ConfigError("portfolio.params: risk_aversion and turnover_cost must be >= 0")
        if self.alpha_factor_window < 5:
            raise ConfigError(
                f"portfolio.params.alpha_factor_window must be >= 5, got {self.alpha_factor_window}"
            )
        if self.rebalance_every < 1 or self.history_days < 60:
            raise ConfigError(
                "portfolio.params: rebalance_every >= 1 and history_days >= 60 required"
            )

    def optimizer_params(self) -> OptimizerParams:
        """The optimizer settings of the benchmark-relative mode."""
        return OptimizerParams(
            risk_aversion=self.risk_aversion,
            turnover_cost=self.turnover_cost,
            mode="long_only",
            max_weight=1.0,
            alpha_scale=self.alpha_scale,
            max_industry_active=self.max_industry_active,
            max_active_weight=self.max_active_weight,
            max_tracking_error=self.tracking_error,
            max_style_active=self.max_style_active,
            rebalance_every=self.rebalance_every,
        )


@dataclass
class BenchmarkSetup:
    """Everything benchmark-relative on one [T, N] grid: a risk model (RiskModel interface),
    benchmark weights b [T, N] (rows sum to 1 or 0), index membership bool [T, N], style
    exposures [T, N, S] with their names, industry codes int [T, N] (-1 unknown)."""

    risk: Any
    benchmark: np.ndarray
    members: np.ndarray
    styles: np.ndarray
    style_names: list[str]
    industry: np.ndarray


def cap_weights(market_cap: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Market-cap weights [T, N] over each day's members with a positive cap (0 elsewhere)."""
    cap = np.asarray(market_cap, dtype=np.float64)
    w = np.where(members & np.isfinite(cap) & (cap > 0), cap, 0.0)
    tot = w.sum(axis=1, keepdims=True)
    return np.divide(w, tot, out=np.zeros_like(w), where=tot > 0)


def _to_grid(a: np.ndarray, src_dates, src_inst, dates, inst, fill) -> np.ndarray:
    """a [T0, N0, ...] re-indexed onto (dates [T], inst [N]); unknown instruments get `fill`."""
    sd = np.asarray(src_dates).astype("datetime64[D]")
    d = np.asarray(dates).astype("datetime64[D]")
    rows = np.searchsorted(sd, d)
    if np.any(rows >= len(sd)) or np.any(sd[np.minimum(rows, len(sd) - 1)] != d):
        raise DataError("index_enhance: backtest dates missing from the loaded history")
    si = np.asarray(src_inst).astype(str)
    order = np.argsort(si)
    pos = np.minimum(np.searchsorted(si[order], np.asarray(inst).astype(str)), len(si) - 1)
    hit = si[order][pos] == np.asarray(inst).astype(str)
    out = a[rows][:, order[pos]]
    out[:, ~hit] = fill
    return out


def benchmark_setup(
    data_dir: str, dates: np.ndarray, instruments: np.ndarray, p: IndexEnhanceParams
) -> BenchmarkSetup:
    """Fit the Barra-style model on the index members' history (`history_days` before dates[0]
    through dates[-1]) and serve it, cap weights, styles and industries on (dates, instruments)."""
    from seqalpha.data.qlib_bin import QlibStore
    from seqalpha.data.reference import industry_and_size
    from seqalpha.risk import fit_factor_model

    store = QlibStore(data_dir)
    d = np.asarray(dates).astype("datetime64[D]")
    if len(d) == 0:
        raise DataError("index_enhance: empty dates")
    i0 = int(np.searchsorted(store.calendar, d[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # listed codes without data files
        panel = store.load(
            ["close", "factor"], p.universe, store.calendar[max(0, i0 - p.history_days)], d[-1]
        )
    model = fit_factor_model(data_dir, panel)
    _, cap = industry_and_size(data_dir, panel)
    members = panel.universe & np.isfinite(panel["close"])
    args = (panel.dates, panel.instruments, d, instruments)
    return BenchmarkSetup(
        risk=model.view(d, instruments),
        benchmark=_to_grid(cap_weights(cap, members), *args, 0.0),
        members=_to_grid(members, *args, False),
        styles=_to_grid(model.styles, *args, np.nan),
        style_names=list(model.style_names),
        industry=_to_grid(model.industry_codes, *args, -1),
    )


class AlphaAlignedRisk(RiskModel):
    """A risk model plus an alpha-alignment factor: exposure = the day's score z-score over the
    members, variance = mean squared daily return of that factor (r_t regressed on the
    z-scores of t-1) over the last `window` days <= t; uncorrelated with the base factors."""

    def __init__(
        self,
        base,
        scores: np.ndarray,
        returns: np.ndarray,
        members: np.ndarray,
        window: int = 60,
        min_obs: int = 5,
    ):
        s = np.where(members, np.asarray(scores, dtype=np.float64), np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # days without scores
            mu = np.nanmean(s, axis=1, keepdims=True)
            sd = np.nanstd(s, axis=1, keepdims=True)
        z = np.nan_to_num((s - mu) / np.where(sd > 0, sd, np.nan))
        r = np.nan_to_num(np.asarray(returns, dtype=np.float64))
        T = z.shape[0]
        f = np.zeros(T)
        have = np.zeros(T, bool)
        num = np.sum(z[:-1] * r[1:], axis=1)
        den = np.sum(z[:-1] ** 2, axis=1)
        have[1:] = den > 0
        f[1:] = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        cs = np.concatenate([[0.0], np.cumsum(f**2)])
        cn = np.concatenate([[0], np.cumsum(have)])
        hi = np.arange(1, T + 1)
        lo = np.maximum(hi - window, 0)
        n = cn[hi] - cn[lo]
        self.alpha_var = np.where(n >= min_obs, (cs[hi] - cs[lo]) / np.maximum(n, 1), 0.0)
        self.base, self.z = base, z
        self.dates = getattr(base, "dates", None)
        self.instruments = getattr(base, "instruments", None)

    @property
    def shape(self) -> tuple[int, int]:
        """(T, N) of the base model's grid."""
        return tuple(self.base.shape)

    def ready(self, t: int) -> bool:
        """The base model's readiness."""
        return bool(self.base.ready(t))

    def covariance(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """([X, z_t] [N, K + 1], blockdiag(F, alpha variance), d) of day t."""
        X, F, d = self.base.covariance(t)
        K = F.shape[0]
        F2 = np.zeros((K + 1, K + 1))
        F2[:K, :K] = F
        F2[K, K] = self.alpha_var[t]
        return np.column_stack([X, self.z[t]]), F2, d


def with_alpha_factor(
    setup: BenchmarkSetup, scores: np.ndarray, returns: np.ndarray, window: int = 60
) -> BenchmarkSetup:
    """The setup with its risk model wrapped in `AlphaAlignedRisk` (returns [T, N] on the grid,
    row t = return over day t)."""
    risk = AlphaAlignedRisk(setup.risk, scores, returns, setup.members, window)
    return BenchmarkSetup(
        risk, setup.benchmark, setup.members, setup.styles, setup.style_names, setup.industry
    )


def grid_returns(close: np.ndarray) -> np.ndarray:
    """Daily returns [T, N] from adjusted closes [T, N] (row 0 NaN)."""
    c = np.asarray(close, dtype=np.float64)
    r = np.full(c.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        r[1:] = c[1:] / c[:-1] - 1.0
    return r


def index_enhance_weights(
    scores: np.ndarray,
    setup: BenchmarkSetup,
    p: IndexEnhanceParams | None = None,
    can_buy: np.ndarray | None = None,
    can_sell: np.ndarray | None = None,
) -> np.ndarray:
    """Target weights [T, N] (NaN rows: no decision) for scores [T, N] on the setup's grid."""
    p = p if p is not None else IndexEnhanceParams()
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != setup.benchmark.shape:
        raise DataError(f"index_enhance: scores {s.shape} differ from {setup.benchmark.shape}")
    return optimize_weights(
        s,
        setup.risk,
        p.optimizer_params(),
        mask=setup.members & np.isfinite(s),
        industry=setup.industry,
        benchmark=setup.benchmark,
        styles=setup.styles,
        can_buy=can_buy,
        can_sell=can_sell,
    )


def forecast_tracking_error(risk, t: int, weights: np.ndarray, benchmark: np.ndarray) -> float:
    """Annualized forecast TE sqrt(252 a' V a) of a = weights - benchmark ([N]) from the risk
    model's day t (names without a risk forecast: no factor risk, the median specific risk)."""
    X, F, d = risk.covariance(t)
    ok = np.isfinite(d) & np.isfinite(X).all(axis=1)
    a = np.nan_to_num(weights) - np.nan_to_num(benchmark)
    xa = np.where(ok[:, None], X, 0.0).T @ a
    dc = np.where(ok, d, np.median(d[ok]) if ok.any() else 0.0)
    return float(np.sqrt(TE_DAYS * (xa @ F @ xa + np.sum(dc * a**2))))


def active_report(
    weights: np.ndarray,
    returns: np.ndarray,
    setup: BenchmarkSetup,
    dates: np.ndarray,
    lag: int = 1,
) -> dict[str, dict[str, float]]:
    """Per year and overall (frictionless, target weights of day t held from day t + lag + 1):
    forecast TE (mean over decision days), realized TE and active return (annualized, vs the
    setup's benchmark), IR, the mean active exposure of each style and the mean one-sided
    industry active weight."""
    w = np.asarray(weights, dtype=np.float64)
    T, N = w.shape
    r = np.nan_to_num(np.asarray(returns, dtype=np.float64))
    decided = np.asarray(np.isfinite(w).all(axis=1))
    # carry the latest decision forward (NaN rows keep holdings)
    src = np.maximum.accumulate(np.where(decided, np.arange(T), -1))
    held = np.where((src >= 0)[:, None], w[np.maximum(src, 0)], np.nan)
    pos = np.full((T, N), np.nan)
    pos[lag + 1 :] = held[: T - lag - 1]
    bpos = np.full((T, N), np.nan)
    bpos[1:] = setup.benchmark[:-1]  # the benchmark rebalances daily at the close
    active = np.nansum(pos * r, axis=1) - np.nansum(bpos * r, axis=1)
    live = np.isfinite(pos).all(axis=1)
    fc = np.full(T, np.nan)
    sty = np.full((T, setup.styles.shape[2]), np.nan)
    ind = np.full(T, np.nan)
    for t in np.flatnonzero(decided).tolist():
        if not setup.risk.ready(t):
            continue
        fc[t] = forecast_tracking_error(setup.risk, t, w[t], setup.benchmark[t])
        a = w[t] - setup.benchmark[t]
        sty[t] = np.nan_to_num(setup.styles[t]).T @ a
        codes = setup.industry[t]
        sums = np.bincount(codes + 1, weights=a)[1:]  # code -1 (unknown) left out
        ind[t] = 0.5 * np.abs(sums).sum()
    out: dict[str, dict[str, float]] = {}
    for label, sel in _year_labels(dates):
        x = active[sel & live]
        if len(x) < 2:
            continue
        te = float(x.std(ddof=1) * np.sqrt(TE_DAYS))
        row = {
            "te_forecast": float(np.nanmean(fc[sel])),
            "te_realized": te,
            "active_return": float(x.mean() * TE_DAYS),
            "ir": float(x.mean() * TE_DAYS / te) if te > 0 else np.nan,
            "industry_active": float(np.nanmean(ind[sel])),
        }
        for k, name in enumerate(setup.style_names):
            row[f"style_{name}"] = float(np.nanmean(sty[sel, k]))
        out[label] = row
    return out


def _year_labels(dates: np.ndarray) -> list[tuple[str, np.ndarray]]:
    years = np.asarray(dates).astype("datetime64[Y]").astype(int) + 1970
    return [*((str(y), years == y) for y in np.unique(years)), ("overall", years > 0)]


def backtest_tracking(
    portfolio: np.ndarray,
    weights: np.ndarray,
    setup: BenchmarkSetup,
    returns: np.ndarray,
    dates: np.ndarray,
    index: np.ndarray | None = None,
    lag: int = 1,
) -> dict[str, dict[str, float]]:
    """Per year and overall, from a backtest's daily returns `portfolio` [T] (after lots, limits
    and costs): realized TE, active return (annualized) and IR against the setup's benchmark
    (weights of day t-1 times the returns [T, N] of day t), and the TE against `index` [T]
    (daily returns of e.g. SH000300) when given, with the tracked benchmark's own active return
    and TE against that index; days from the first held decision on."""
    port = np.asarray(portfolio, dtype=np.float64)
    T = len(port)
    if np.shape(weights)[0] != T or len(dates) != T or np.shape(returns)[0] != T:
        raise DataError(
            f"backtest_tracking: {T} daily returns but weights/returns/dates of "
            f"{np.shape(weights)[0]}/{np.shape(returns)[0]}/{len(dates)} days"
        )
    decided = np.flatnonzero(np.isfinite(np.asarray(weights, dtype=np.float64)).all(axis=1))
    live = np.arange(T) >= (decided[0] + lag + 1 if len(decided) else T)
    r = np.nan_to_num(np.asarray(returns, dtype=np.float64))
    bench = np.zeros(T)
    bench[1:] = np.sum(setup.benchmark[:-1] * r[1:], axis=1)
    active = port - bench
    out: dict[str, dict[str, float]] = {}
    for label, sel in _year_labels(dates):
        x = active[sel & live]
        if len(x) < 2:
            continue
        te = float(x.std(ddof=1) * np.sqrt(TE_DAYS))
        row = {
            "te_backtest": te,
            "active_return_backtest": float(x.mean() * TE_DAYS),
            "ir_backtest": float(x.mean() * TE_DAYS / te) if te > 0 else np.nan,
        }
        if index is not None:
            idx = np.asarray(index, dtype=np.float64)
            xi = (port - idx)[sel & live]
            row["te_backtest_index"] = float(np.nanstd(xi, ddof=1) * np.sqrt(TE_DAYS))
            gap = (bench - idx)[sel & live]  # how far the tracked benchmark is from the index
            row["benchmark_vs_index"] = float(np.nanmean(gap) * TE_DAYS)
            row["benchmark_te_index"] = float(np.nanstd(gap, ddof=1) * np.sqrt(TE_DAYS))
        out[label] = row
    return out


@dataclass
class IndexEnhanceDecision:
    """What the strategy decided and on what: target weights [T, N] (NaN rows: no decision),
    the BenchmarkSetup it tracked, and the grid's close-to-close returns [T, N] and dates [T]."""

    weights: np.ndarray
    setup: BenchmarkSetup
    returns: np.ndarray
    dates: np.ndarray

    def active(
        self, portfolio: np.ndarray | None = None, index: np.ndarray | None = None
    ) -> dict[str, dict[str, float]]:
        """`active_report` of the decision per year and overall, joined by `backtest_tracking`
        of the backtest's daily returns `portfolio` [T] (and the TE against `index` [T])."""
        rep = active_report(self.weights, self.returns, self.setup, self.dates)
        if portfolio is None:
            return rep
        bt = backtest_tracking(portfolio, self.weights, self.setup, self.returns, self.dates, index)
        return {
            k: {**rep.get(k, {}), **bt.get(k, {})} for k in [*rep, *(k for k in bt if k not in rep)]
        }


def decide(
    scores: np.ndarray, market: Any, params: dict[str, Any], data_dir: str
) -> IndexEnhanceDecision:
    """The `index_enhance` strategy on the backtest grid `market` (dates, instruments, close,
    can_buy, can_sell): the benchmark setup (plus the alpha factor), then the target weights."""
    p = check_params(params)
    setup = benchmark_setup(data_dir, market.dates, market.instruments, p)
    returns = grid_returns(market.close)
    if p.alpha_factor:
        setup = with_alpha_factor(setup, scores, returns, p.alpha_factor_window)
    weights = index_enhance_weights(scores, setup, p, market.can_buy, market.can_sell)
    return IndexEnhanceDecision(weights, setup, returns, np.asarray(market.dates))


def check_params(params: dict[str, Any]) -> IndexEnhanceParams:
    """`IndexEnhanceParams(**params)` with an unknown key as a one-line ConfigError."""
    try:
        return IndexEnhanceParams(**params)
    except TypeError as exc:
        allowed = ", ".join(IndexEnhanceParams.__dataclass_fields__)
        raise ConfigError(f"portfolio.params: {exc}; allowed: {allowed}") from None
