"""Mean-variance optimizer with a factor risk model: scores [T, N] -> target weights [T, N].

Per rebalance day t (cvxpy, one parametrized QP compiled once and re-solved):

    maximize  alpha' w - risk_aversion * (||L' X' (w - b)||^2 + ||sqrt(d) * (w - b)||^2)
              - turnover_cost * ||w - w_prev||_1
    s.t.      sum(w) = budget (long-only) or 0 with sum|w| <= gross (dollar-neutral),
              per-name bounds, optional industry exposure limits against the benchmark b,
              names outside the universe at 0, untradable names held at their previous weight;
              benchmark-relative options: |w_i - b_i| <= max_active_weight, forecast
              tracking error sqrt(252 (w - b)' V (w - b)) <= max_tracking_error, and active
              style exposures |S' (w - b)| <= max_style_active (styles [T, N, S]).

(X, F = L L', d) come from a risk model's `covariance(t)`, so the problem keeps N + K
variables and never an N x N matrix. Row t of the output follows the convention of
`seqalpha.portfolio` weight strategies: the portfolio wanted after trading on the day the
score row t is known (the backtest applies it `signal_lag` days later). Rows where no
decision is made (risk model not ready, no valid score) are NaN: "keep the holdings".
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from seqalpha.errors import ConfigError, DataError
from seqalpha.risk.model import FactorModelParams

TE_DAYS = 252  # trading days a year: annualizes the tracking-error bound


class InfeasibleError(ConfigError):
    """The constraints of a rebalance day admit no portfolio (the message names the date)."""


@dataclass(frozen=True)
class OptimizerParams:
    """Settings of `optimize_weights`.

    mode: "long_only" (sum w = budget, w >= 0) or "dollar_neutral" (sum w = 0, sum |w| <= gross).
    alpha: "zscore" turns each day's scores into alpha_scale * cross-sectional z-score over the
    investable names; "raw" uses scores as expected returns. max_weight bounds |w_i|.
    industry_neutral / max_industry_active: net industry weight of w - benchmark equal to 0 /
    within +-max_industry_active (needs industry codes; long-only needs benchmark weights).
    risk_on_active: risk of w - benchmark (True) or of w (False), when a benchmark is given.
    max_active_weight / max_tracking_error (annualized, 252 days) / max_style_active: bounds of
    the benchmark-relative mode (need benchmark weights; the style bound needs styles).
    """

    risk_aversion: float = 1.0
    turnover_cost: float = 0.0
    mode: Literal["long_only", "dollar_neutral"] = "long_only"
    budget: float = 1.0
    gross: float = 2.0
    max_weight: float = 0.05
    alpha: Literal["zscore", "raw"] = "zscore"
    alpha_scale: float = 0.01
    industry_neutral: bool = False
    max_industry_active: float | None = None
    risk_on_active: bool = True
    rebalance_every: int = 1
    solver: Literal["CLARABEL", "OSQP"] = "CLARABEL"
    max_active_weight: float | None = None
    max_tracking_error: float | None = None
    max_style_active: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("long_only", "dollar_neutral"):
            raise ConfigError(
                f"OptimizerParams.mode={self.mode!r}: expected 'long_only' or 'dollar_neutral'"
            )
        if self.alpha not in ("zscore", "raw"):
            raise ConfigError(f"OptimizerParams.alpha={self.alpha!r}: expected 'zscore' or 'raw'")
        if self.solver not in ("CLARABEL", "OSQP"):
            raise ConfigError(
                f"OptimizerParams.solver={self.solver!r}: expected 'CLARABEL' or 'OSQP'"
            )
        for k in ("risk_aversion", "turnover_cost"):
            if getattr(self, k) < 0:
                raise ConfigError(f"OptimizerParams.{k} must be >= 0, got {getattr(self, k)}")
        for k in ("max_weight", "gross", "budget", "alpha_scale"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"OptimizerParams.{k} must be > 0, got {getattr(self, k)}")
        if self.max_industry_active is not None and self.max_industry_active < 0:
            raise ConfigError(
                f"OptimizerParams.max_industry_active must be >= 0, got {self.max_industry_active}"
            )
        if self.rebalance_every < 1:
            raise ConfigError(
                f"OptimizerParams.rebalance_every must be >= 1, got {self.rebalance_every}"
            )
        for k in ("max_active_weight", "max_tracking_error", "max_style_active"):
            v = getattr(self, k)
            if v is not None and not v > 0:
                raise ConfigError(f"OptimizerParams.{k} must be > 0, got {v}")
        if self.max_tracking_error is not None and not self.risk_on_active:
            raise ConfigError("OptimizerParams.max_tracking_error needs risk_on_active: true")

    @property
    def industry_constrained(self) -> bool:
        return self.industry_neutral or self.max_industry_active is not None

    @property
    def benchmark_relative(self) -> bool:
        """True when a bound of the benchmark-relative mode is set."""
        return any(
            v is not None
            for v in (self.max_active_weight, self.max_tracking_error, self.max_style_active)
        )


class _Problem:
    """The parametrized QP over M variable slots and K risk factors (compiled once, re-solved).

    groups [M]: industry index of each slot (-1: none). Slots are reserved per industry so
    that the industry matrix is a sparse constant (one 1 per column), not a dense parameter:
    a dense J x M parameter makes the solver's KKT factorization several times slower.
    """

    def __init__(
        self,
        M: int,
        K: int,
        p: OptimizerParams,
        groups: np.ndarray | None = None,
        n_styles: int = 0,
    ):
        self.w = w = cp.Variable(M)
        self.alpha = cp.Parameter(M)
        self.G = cp.Parameter((M, K))  # X @ chol(F)
        self.Gb = cp.Parameter(K)  # G' b
        self.sd = cp.Parameter(M, nonneg=True)  # sqrt(d)
        self.sdb = cp.Parameter(M)  # sqrt(d) * b
        self.prev = cp.Parameter(M)
        self.lb = cp.Parameter(M)
        self.ub = cp.Parameter(M)
        self.groups = groups
        risk = cp.sum_squares(self.G.T @ w - self.Gb) + cp.sum_squares(
            cp.multiply(self.sd, w) - self.sdb
        )
        obj = self.alpha @ w - p.risk_aversion * risk
        if p.turnover_cost > 0:
            obj = obj - p.turnover_cost * cp.norm1(w - self.prev)
        cons = [w >= self.lb, w <= self.ub]
        self.var_const: cp.Parameter | None = None
        if p.max_tracking_error is not None:
            # sqrt(252 * active variance) <= TE as a second-order cone, scaled to O(1) for the
            # solver; var_const: risk (std) of benchmark names without a slot (fixed)
            self.var_const = cp.Parameter(nonneg=True)
            k = np.sqrt(TE_DAYS) / p.max_tracking_error
            active = cp.hstack(
                [
                    k * (self.G.T @ w - self.Gb),
                    k * (cp.multiply(self.sd, w) - self.sdb),
                    cp.reshape(k * self.var_const, (1,), order="C"),
                ]
            )
            cons.append(cp.norm(active, 2) <= 1)
        self.S = self.Sb = None
        if p.max_style_active is not None and n_styles:
            self.S, self.Sb = cp.Parameter((M, n_styles)), cp.Parameter(n_styles)
            cons += [
                self.S.T @ w - self.Sb <= p.max_style_active,
                self.S.T @ w - self.Sb >= -p.max_style_active,
            ]
        if p.mode == "long_only":
            cons.append(cp.sum(w) == p.budget)
        else:
            cons += [cp.sum(w) == 0, cp.norm1(w) <= p.gross]
        self.target = None
        if groups is not None:
            J = int(groups.max()) + 1
            cols = np.flatnonzero(groups >= 0)
            H = sp.csr_matrix((np.ones(len(cols)), (groups[cols], cols)), shape=(J, M))
            self.target = cp.Parameter(J)
            if p.industry_neutral:
                cons.append(H @ w == self.target)
            else:
                band = float(p.max_industry_active)  # type: ignore[arg-type]
                cons += [H @ w <= self.target + band, H @ w >= self.target - band]
        self.problem = cp.Problem(cp.Maximize(obj), cons)


def _slots(
    gi: np.ndarray, J: int, capacity: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Slot of each active name [n] given its industry index gi [n] (-1: none; group J here)
    and the per-group capacity [J + 1]; returns (slots, None) or (None, a larger capacity)."""
    g = np.where(gi >= 0, gi, J)
    need = np.bincount(g, minlength=J + 1)
    if capacity is None or np.any(need > capacity):
        base = need if capacity is None else np.maximum(need, capacity)
        return np.zeros(0, np.int64), base + base // 4 + 2
    start = np.concatenate([[0], np.cumsum(capacity)[:-1]])
    order = np.argsort(g, kind="stable")
    first = np.concatenate([[0], np.cumsum(need)[:-1]])
    rank = np.empty(len(g), np.int64)
    rank[order] = np.arange(len(g)) - first[g[order]]
    return start[g] + rank, None


def _check(
    name: str, a: np.ndarray | None, shape: tuple[int, int], dtype=None
) -> np.ndarray | None:
    if a is None:
        return None
    a = np.asarray(a) if dtype is None else np.asarray(a, dtype=dtype)
    if a.shape != shape:
        raise DataError(f"optimize_weights: {name} shape {a.shape} differs from scores {shape}")
    return a


def _snap(
    w: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: float, tol: float = 1e-6
) -> np.ndarray:
    """Interior-point output [N] cleaned: values within `tol` of a bound (or of 0) are set to
    it, and the tiny change of the sum is spread over the names strictly inside their bounds."""
    w = np.clip(w, lo, hi)
    w = np.where(np.abs(w - lo) < tol, lo, w)
    w = np.where(np.abs(w - hi) < tol, hi, w)
    w = np.where(np.abs(w) < tol, 0.0, w)
    inner = (w > lo + tol) & (w < hi - tol)
    if inner.any():
        w[inner] += (total - w.sum()) / inner.sum()
    return w


def _label(dates: np.ndarray | None, t: int) -> str:
    return str(dates[t]) if dates is not None else f"row {t}"


def optimize_weights(
    scores: np.ndarray,
    risk_model,
    params: OptimizerParams | None = None,
    mask: np.ndarray | None = None,
    tradable: np.ndarray | None = None,
    *,
    industry: np.ndarray | None = None,
    benchmark: np.ndarray | None = None,
    can_buy: np.ndarray | None = None,
    can_sell: np.ndarray | None = None,
    initial: np.ndarray | None = None,
    dates: np.ndarray | None = None,
    styles: np.ndarray | None = None,
) -> np.ndarray:
    """Target weights float64 [T, N] from scores [T, N] and a risk model on the same grid.

    mask bool [T, N]: investable universe (outside: weight 0 unless untradable). tradable bool
    [T, N]: False holds the previous weight. can_buy / can_sell bool [T, N] (optional): a rise /
    a fall needs them. industry int [T, N] (default: the risk model's codes), benchmark [T, N]
    weights, initial [N] weights before row 0, styles [T, N, S] exposures for
    max_style_active. NaN rows: no decision that day (risk model not ready or no valid score).
    Raises InfeasibleError naming the date when a day has no solution.
    """
    p = params if params is not None else OptimizerParams()
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise DataError(f"optimize_weights: scores must be [T, N], got shape {s.shape}")
    T, N = s.shape
    if hasattr(risk_model, "shape") and tuple(risk_model.shape) != (T, N):
        raise DataError(
            f"optimize_weights: risk model grid {tuple(risk_model.shape)} differs from "
            f"scores {(T, N)}"
        )
    mask = _check("mask", mask, (T, N), bool)
    tradable = _check("tradable", tradable, (T, N), bool)
    can_buy = _check("can_buy", can_buy, (T, N), bool)
    can_sell = _check("can_sell", can_sell, (T, N), bool)
    bench = _check("benchmark", benchmark, (T, N), np.float64)
    if p.benchmark_relative and bench is None:
        raise ConfigError(
            "optimize_weights: max_active_weight / max_tracking_error / max_style_active "
            "need benchmark weights (benchmark=[T, N])"
        )
    sty = None if styles is None else np.asarray(styles, dtype=np.float64)
    if sty is not None and (sty.ndim != 3 or sty.shape[:2] != (T, N)):
        raise DataError(f"optimize_weights: styles shape {sty.shape} is not [{T}, {N}, S]")
    if p.max_style_active is not None and sty is None:
        raise ConfigError("optimize_weights: max_style_active needs styles=[T, N, S]")
    n_sty = 0 if (sty is None or p.max_style_active is None) else sty.shape[2]
    if dates is None:
        dates = getattr(risk_model, "dates", None)
    if industry is None and p.industry_constrained:
        industry = getattr(risk_model, "industry_codes", None)
        if industry is None:
            raise ConfigError(
                "optimize_weights: industry constraints need industry codes "
                "(pass industry=[T, N] or use a FactorRiskModel)"
            )
    ind = _check("industry", industry, (T, N))
    if p.industry_constrained and p.mode == "long_only" and bench is None:
        raise ConfigError(
            "optimize_weights: industry constraints in long_only mode need "
            "benchmark weights (benchmark=[T, N])"
        )
    codes = (
        np.unique(ind[ind >= 0]) if (ind is not None and p.industry_constrained) else np.zeros(0)
    )
    J = len(codes)
    prev = np.zeros(N) if initial is None else np.nan_to_num(np.asarray(initial, dtype=np.float64))
    if prev.shape != (N,):
        raise DataError(f"optimize_weights: initial weights shape {prev.shape} != ({N},)")

    out = np.full((T, N), np.nan)
    prob: _Problem | None = None
    capacity: np.ndarray | None = None
    last_decision = -(10**9)
    for t in range(T):
        if t - last_decision < p.rebalance_every:
            out[t] = out[t - 1]
            continue
        ready = risk_model.ready(t) if hasattr(risk_model, "ready") else True
        valid = np.isfinite(s[t]) if mask is None else np.isfinite(s[t]) & mask[t]
        if not ready or not valid.any():
            continue
        X, F, d = risk_model.covariance(t)
        has_risk = np.isfinite(d) & np.isfinite(X).all(axis=1)
        valid &= has_risk
        fixed = np.zeros(N, bool) if tradable is None else ~tradable[t]
        free = valid & ~fixed
        # risk inputs: names without risk but held fixed get no factor risk and the median d
        Xc = np.where(has_risk[:, None], X, 0.0)
        d_fill = float(np.median(d[has_risk])) if has_risk.any() else 0.0
        dc = np.where(has_risk, d, d_fill)
        K = F.shape[0]
        L = np.linalg.cholesky(F + 1e-12 * max(np.trace(F) / max(K, 1), 1e-12) * np.eye(K))
        G = Xc @ L
        b = np.zeros(N) if bench is None else np.nan_to_num(bench[t])
        if bench is None or not p.risk_on_active:
            b_risk = np.zeros(N)
        else:
            b_risk = b
        # alpha
        a = np.zeros(N)
        if free.any():
            if p.alpha == "raw":
                a[free] = s[t, free]
            else:
                v = s[t, free]
                sd = v.std()
                a[free] = p.alpha_scale * ((v - v.mean()) / sd if sd > 0 else 0.0)
        # bounds
        lo = np.zeros(N) if p.mode == "long_only" else np.full(N, -p.max_weight)
        hi = np.full(N, p.max_weight)
        if p.max_active_weight is not None:
            lo = np.maximum(lo, b - p.max_active_weight)
            hi = np.minimum(hi, b + p.max_active_weight)
        if can_buy is not None:
            hi = np.where(can_buy[t], hi, np.minimum(hi, prev))
        if can_sell is not None:
            lo = np.where(can_sell[t], lo, np.maximum(lo, prev))
        hi = np.maximum(hi, lo)
        lo = np.where(free, lo, np.where(fixed, prev, 0.0))
        hi = np.where(free, hi, np.where(fixed, prev, 0.0))
        if p.mode == "long_only" and (hi.sum() < p.budget - 1e-9 or lo.sum() > p.budget + 1e-9):
            raise InfeasibleError(
                f"optimize_weights({_label(dates, t)}): bounds allow total weight in "
                f"[{lo.sum():.4f}, {hi.sum():.4f}] but budget is {p.budget} "
                f"({int(free.sum())} investable names, max_weight {p.max_weight})"
            )
        # only investable and held-fixed names get variables (slots of a compiled problem,
        # grouped by industry when constrained); the others are 0 and add constants only
        act = np.flatnonzero(free | fixed)
        n = len(act)
        if n == 0:
            raise InfeasibleError(f"optimize_weights({_label(dates, t)}): no investable name")
        if J and ind is not None:  # J > 0 only with industry codes
            pos = np.minimum(np.searchsorted(codes, ind[t, act]), J - 1)
            gi = np.where(codes[pos] == ind[t, act], pos, -1)
            slot, grow = _slots(
                gi, J, capacity if prob is not None and prob.G.shape[1] == K else None
            )
            if grow is not None:
                capacity = grow
                prob = _Problem(
                    int(capacity.sum()),
                    K,
                    p,
                    np.repeat(np.r_[np.arange(J), -1], capacity),
                    n_sty,
                )
                slot, _ = _slots(gi, J, capacity)
        else:
            slot = np.arange(n)
            if prob is None or prob.G.shape[1] != K or prob.G.shape[0] < n:
                prob = _Problem(min(N, n + n // 8 + 8), K, p, n_styles=n_sty)
        if prob is None:  # _slots sizes the first problem (grow) on the first day
            raise InfeasibleError(f"optimize_weights({_label(dates, t)}): no problem was built")
        M = prob.G.shape[0]

        def pad(v: np.ndarray, slot=slot, M=M) -> np.ndarray:
            z = np.zeros((M, *v.shape[1:]))
            z[slot] = v
            return z

        sd_all = np.sqrt(np.maximum(dc, 0.0))
        prob.alpha.value = pad(a[act])
        prob.G.value = pad(G[act])
        prob.Gb.value = G.T @ b_risk
        prob.sd.value = pad(sd_all[act])
        prob.sdb.value = pad(sd_all[act] * b_risk[act])
        prob.prev.value = pad(prev[act])
        prob.lb.value = pad(lo[act])
        prob.ub.value = pad(hi[act])
        if prob.var_const is not None:
            out_b = np.ones(N, bool)
            out_b[act] = False
            prob.var_const.value = float(np.sqrt(np.sum(dc[out_b] * b_risk[out_b] ** 2)))
        if prob.S is not None and prob.Sb is not None and sty is not None:
            st = np.nan_to_num(sty[t])
            prob.S.value = pad(st[act])
            prob.Sb.value = st.T @ b
        if J and ind is not None and prob.target is not None:  # target exists with industries
            H = (ind[t][None, :] == codes[:, None]).astype(np.float64)
            prob.target.value = H @ b if bench is not None else np.zeros(J)
        try:
            prob.problem.solve(solver=p.solver)
        except cp.error.SolverError as exc:
            raise InfeasibleError(
                f"optimize_weights({_label(dates, t)}): solver {p.solver} failed: {exc}"
            ) from exc
        if prob.problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or prob.w.value is None:
            raise InfeasibleError(
                f"optimize_weights({_label(dates, t)}): problem is {prob.problem.status} "
                f"(mode {p.mode}, {int(free.sum())} investable names, {int(fixed.sum())} held "
                f"fixed, industry constraints {'on' if J else 'off'})"
            )
        w_act = np.zeros(N)
        w_act[act] = prob.w.value[slot]
        w = _snap(w_act, lo, hi, p.budget if p.mode == "long_only" else 0.0)
        w[fixed] = prev[fixed]
        out[t] = w
        prev = w
        last_decision = t
    return out


def optimize_with_factor_model(
    scores: np.ndarray,
    data_dir: str | Path,
    dates: np.ndarray,
    instruments: np.ndarray,
    params: OptimizerParams | None = None,
    risk_params: FactorModelParams | None = None,
    history_days: int = 300,
    market: str = "all",
    meta_dir: str | Path | None = None,
    **kwargs,
) -> np.ndarray:
    """Weights [T, N] for scores on a (dates [T], instruments [N]) grid, e.g. the backtest's
    market: fits a `FactorRiskModel` on the store's `market` over `history_days` trading days
    before dates[0] through dates[-1], serves it on the grid, then `optimize_weights`.
    kwargs go to `optimize_weights` (mask defaults to names with a finite score)."""
    from seqalpha.data.qlib_bin import QlibStore
    from seqalpha.risk import fit_factor_model

    store = QlibStore(data_dir)
    cal = store.calendar
    d = np.asarray(dates).astype("datetime64[D]")
    if len(d) == 0:
        raise DataError("optimize_with_factor_model: empty dates")
    i0 = int(np.searchsorted(cal, d[0]))
    start = cal[max(0, i0 - history_days)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # listed codes without data files
        panel = store.load(["close", "factor", "bp"], market, start, d[-1])
    model = fit_factor_model(data_dir, panel, meta_dir=meta_dir, params=risk_params)
    view = model.view(d, instruments)
    return optimize_weights(scores, view, params, **kwargs)
