"""Deep Risk Model (Lin et al., ICAIF 2021): K latent risk factors learned from the last
`seq_len` days of style exposures and returns, served as a factor risk model.

Network (one day's cross-section x [n, L, F] -> exposures [n, K]): a GRU branch over each
stock's own sequence, and a graph-attention branch (attention over all stocks of the day at
every step, then a GRU over the steps); each gives half of the K factors, which are
z-scored across the day's stocks. Loss of day u = mean over h = 1..H of the variance of
r_{u+h} left unexplained by an OLS on [1, (industry dummies), factors_u]
(1 - R^2), plus `penalty` * trace(C^-1) with C = f'f / n the factors' correlation matrix:
trace(C^-1) = K for orthogonal factors and grows without bound as they become collinear.

Walk-forward: the network is re-fitted every `refit_every` rows from `start` on, each time on
the `train_days` days whose H-day labels end on or before the refit day b (u + H <= b); it
then gives exposures for rows b .. b + refit_every - 1 from data <= that row. Factor returns
(daily OLS of r_t on the exposures of t-1), an EWMA factor covariance and EWMA specific
variances are computed per block from rows <= t, as in the Barra-style model.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from seqalpha.errors import ConfigError, DataError
from seqalpha.risk.base import RiskModel
from seqalpha.risk.covariance import shrink_to_diagonal, weighted_cov


@dataclass(frozen=True)
class DRMParams:
    """Settings of `DeepRiskModel` (days are rows of the grid).

    n_factors: K learned factors (GRU branch K // 2, attention branch the rest); seq_len: days
    of history per input; horizon: H days of future returns in the loss; penalty: weight of
    the collinearity term; use_industry: industry dummies join the regression as fixed factors.
    Covariance settings as in `FactorModelParams`.
    """

    n_factors: int = 16
    seq_len: int = 20
    hidden: int = 32
    horizon: int = 5
    penalty: float = 0.01
    epochs: int = 10
    patience: int = 3
    lr: float = 1e-3
    days_per_batch: int = 4
    train_days: int = 500
    valid_fraction: float = 0.15
    refit_every: int = 126
    use_industry: bool = False
    return_clip: float = 0.25
    cov_window: int = 252
    cov_half_life: float = 90.0
    factor_shrinkage: float = 0.1
    specific_window: int = 120
    specific_half_life: float = 45.0
    min_specific_obs: int = 20
    min_history: int = 40
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        for k in (
            "n_factors",
            "seq_len",
            "hidden",
            "horizon",
            "epochs",
            "days_per_batch",
            "refit_every",
            "min_history",
            "min_specific_obs",
            "threads",
        ):
            if getattr(self, k) < 1:
                raise ConfigError(f"DRMParams.{k} must be >= 1, got {getattr(self, k)}")
        if self.n_factors < 2:
            raise ConfigError(f"DRMParams.n_factors must be >= 2, got {self.n_factors}")
        if self.train_days < 10:
            raise ConfigError(f"DRMParams.train_days must be >= 10, got {self.train_days}")
        if self.penalty < 0 or self.lr <= 0:
            raise ConfigError("DRMParams: penalty >= 0 and lr > 0 required")
        if not 0 <= self.valid_fraction < 1:
            raise ConfigError(
                f"DRMParams.valid_fraction must be in [0, 1), got {self.valid_fraction}"
            )
        if not 0 <= self.factor_shrinkage <= 1:
            raise ConfigError("DRMParams.factor_shrinkage must be in [0, 1]")


@contextlib.contextmanager
def _torch_session(seed: int, threads: int) -> Iterator[None]:
    prev = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    torch.manual_seed(int(seed))
    try:
        yield
    finally:
        torch.set_num_threads(prev)


class DRMNet(nn.Module):
    """x [n, L, F] (one day, n stocks) -> raw factors [n, K] (GRU branch, then GAT + GRU)."""

    def __init__(self, n_inputs: int, hidden: int, n_factors: int):
        super().__init__()
        k1 = n_factors // 2
        self.gru = nn.GRU(n_inputs, hidden, batch_first=True)
        self.head1 = nn.Linear(hidden, k1)
        self.proj = nn.Linear(n_inputs, hidden)
        self.att_src = nn.Parameter(torch.randn(hidden) / hidden**0.5)
        self.att_dst = nn.Parameter(torch.randn(hidden) / hidden**0.5)
        self.gru2 = nn.GRU(hidden, hidden, batch_first=True)
        self.head2 = nn.Linear(hidden, n_factors - k1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h1 = self.gru(x)[0][:, -1]  # [n, D]: each stock's own history
        z = self.proj(x).transpose(0, 1)  # [L, n, D]
        # attention of stock i on stock j at each step: e_ij = LeakyReLU(a.z_i + b.z_j)
        e = nn.functional.leaky_relu(
            (z @ self.att_src)[:, :, None] + (z @ self.att_dst)[:, None, :], 0.2
        )  # [L, n, n]
        g = nn.functional.elu(torch.softmax(e, dim=-1) @ z) + z  # [L, n, D], residual
        h2 = self.gru2(g.transpose(0, 1))[0][:, -1]  # [n, D]
        return torch.cat([self.head1(h1), self.head2(h2)], dim=1)


def standardize(f: torch.Tensor) -> torch.Tensor:
    """Columns of f [n, K] z-scored across the n stocks."""
    f = f - f.mean(dim=0, keepdim=True)
    return f / (f.std(dim=0, keepdim=True) + 1e-6)


def collinearity_penalty(f: torch.Tensor) -> torch.Tensor:
    """trace((f'f / n)^-1) of standardized factors f [n, K]: K when orthogonal, larger when
    collinear."""
    n, K = f.shape
    C = f.T @ f / n + 1e-4 * torch.eye(K, dtype=f.dtype)
    return torch.linalg.inv(C).diagonal().sum()


def unexplained_variance(design: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over columns of y [n, H] of 1 - R^2 of the OLS of y on design [n, P] (with a
    column of ones)."""
    P = design.shape[1]
    A = design.T @ design + 1e-6 * torch.eye(P, dtype=design.dtype)
    beta = torch.linalg.solve(A, design.T @ y)
    res = y - design @ beta
    tss = ((y - y.mean(dim=0, keepdim=True)) ** 2).sum(dim=0)
    return ((res**2).sum(dim=0) / tss.clamp_min(1e-12)).mean()


def drm_inputs(returns: np.ndarray, styles: np.ndarray, universe: np.ndarray) -> np.ndarray:
    """Per-day features float32 [T, N, S + 1]: the styles and the day's return z-scored across
    universe names (clipped at +-3); NaN where unknown. Row t uses data of day t only."""
    r = np.where(universe, returns, np.nan)
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # days without any return
        mu = np.nanmean(r, axis=1, keepdims=True)
        sd = np.nanstd(r, axis=1, keepdims=True)
        z = np.clip((returns - mu) / np.where(sd > 0, sd, np.nan), -3, 3)
    return np.concatenate([styles, z[:, :, None]], axis=2).astype(np.float32)


@dataclass
class _Block:
    """One walk-forward block: rows [lo, hi) served; factor/specific returns of rows
    [base, hi) (base = lo - cov_window) from this block's network."""

    lo: int
    hi: int
    base: int
    exposures: np.ndarray  # [hi - base + 1, N, P] for rows base-1 .. hi-1
    factor_returns: np.ndarray  # [hi - base, P]
    specific: np.ndarray  # [hi - base, N]
    train_loss: float
    valid_loss: float


class DeepRiskModel(RiskModel):
    """The Deep Risk Model served through the `RiskModel` interface.

    Exposures [N, P] of day t: a column of ones (market), industry dummies when
    `use_industry`, then the K learned factors.
    """

    def __init__(self, params: DRMParams | None = None, **kwargs):
        if params is not None and kwargs:
            raise ConfigError("DeepRiskModel: pass params or keyword settings, not both")
        self.params = params if params is not None else DRMParams(**kwargs)
        self.blocks: list[_Block] = []
        self._shape: tuple[int, int] | None = None

    # ---- fitting -------------------------------------------------------------------------
    def fit(
        self,
        returns: np.ndarray,
        styles: np.ndarray,
        universe: np.ndarray,
        start: int,
        industry: np.ndarray | None = None,
        dates: np.ndarray | None = None,
        instruments: np.ndarray | None = None,
        end: int | None = None,
    ) -> DeepRiskModel:
        """Fit the blocks serving rows [start, end) (default: to the last row) from daily
        returns [T, N] (row t = return over day t), styles [T, N, S] known at the close of
        each day, universe bool [T, N] and, with `use_industry`, industry int [T, N]."""
        p = self.params
        r = np.asarray(returns, dtype=np.float64)
        if r.ndim != 2:
            raise DataError(f"returns: expected [T, N], got shape {r.shape}")
        T, N = r.shape
        st = np.asarray(styles, dtype=np.float64)
        uni = np.asarray(universe, dtype=bool)
        if st.ndim != 3 or st.shape[:2] != (T, N) or uni.shape != (T, N):
            raise DataError(
                f"DeepRiskModel.fit: styles {st.shape} / universe {uni.shape} must be on the "
                f"returns grid {(T, N)}"
            )
        end = T if end is None else int(end)
        if not p.seq_len + p.horizon + 10 <= start < end <= T:
            raise DataError(
                f"DeepRiskModel.fit: start {start} must leave seq_len + horizon + 10 rows of "
                f"history and be < end {end} <= {T}"
            )
        ind_cols = None
        if p.use_industry:
            if industry is None:
                raise ConfigError("DeepRiskModel: use_industry needs industry codes [T, N]")
            ind = np.asarray(industry)
            if ind.shape != (T, N):
                raise DataError(f"industry: shape {ind.shape} differs from returns {(T, N)}")
            codes = np.unique(ind[(ind >= 0) & uni])
            pos = np.minimum(np.searchsorted(codes, ind), max(len(codes) - 1, 0))
            ind_cols = np.where((ind >= 0) & (codes[pos] == ind), pos, -1)
            self.industries = codes
        self.dates = None if dates is None else np.asarray(dates)
        self.instruments = None if instruments is None else np.asarray(instruments)
        y = np.clip(r, -p.return_clip, p.return_clip)
        feats = drm_inputs(r, st, uni)
        # a name is usable on day t when it is in the universe with all of today's inputs
        valid = uni & np.isfinite(feats).all(axis=2)
        feats = np.nan_to_num(feats)
        self._shape = (T, N)
        self._ind_cols = ind_cols
        self.blocks = []
        self.start = int(start)
        for lo in range(start, end, p.refit_every):
            hi = min(end, lo + p.refit_every)
            with _torch_session(p.seed + lo, p.threads):
                net, tl, vl = self._train(feats, valid, y, ind_cols, lo)
                self.blocks.append(self._serve(net, feats, valid, y, ind_cols, lo, hi, tl, vl))
        return self

    def _design(self, f: torch.Tensor, ind_row: np.ndarray | None) -> torch.Tensor:
        """[1, industry dummies, f] for one day's names."""
        cols = [torch.ones(f.shape[0], 1, dtype=f.dtype)]
        if ind_row is not None:
            J = len(self.industries)
            dummies = np.zeros((len(ind_row), J), np.float32)
            known = ind_row >= 0
            dummies[np.flatnonzero(known), ind_row[known]] = 1.0
            cols.append(torch.from_numpy(dummies))
        return torch.cat([*cols, f], dim=1)

    def _day(self, feats: np.ndarray, u: int, names: np.ndarray) -> torch.Tensor:
        """Input sequences [n, L, F] of `names` on day u (rows u-L+1 .. u)."""
        L = self.params.seq_len
        return torch.from_numpy(
            np.ascontiguousarray(feats[u - L + 1 : u + 1, names].swapaxes(0, 1))
        )

    def _train(self, feats, valid, y, ind_cols, b: int):
        """A network trained on days u with u + H <= b (labels known at the close of b)."""
        p = self.params
        H, L = p.horizon, p.seq_len
        last = b - H
        first = max(L - 1, last - p.train_days + 1)
        samples = []  # (day, names) with H future returns known
        for u in range(first, last + 1):
            fut_ok = np.isfinite(y[u + 1 : u + 1 + H]).all(axis=0)
            names = np.flatnonzero(valid[u] & fut_ok)
            if len(names) > p.n_factors + 10:
                samples.append((u, names))
        if len(samples) < 5:
            raise DataError(
                f"DeepRiskModel: only {len(samples)} training days before row {b} "
                f"({self._label(b)})"
            )
        n_valid = round(len(samples) * p.valid_fraction)
        train, held = samples[: len(samples) - n_valid], samples[len(samples) - n_valid :]
        net = DRMNet(feats.shape[2], p.hidden, p.n_factors)
        opt = torch.optim.Adam(net.parameters(), lr=p.lr)
        rng = np.random.default_rng(p.seed + b)

        def day_loss(u: int, names: np.ndarray) -> torch.Tensor:
            f = standardize(net(self._day(feats, u, names)))
            target = torch.from_numpy(y[u + 1 : u + 1 + H, names].T.astype(np.float32))
            ind_row = None if ind_cols is None else ind_cols[u, names]
            loss = unexplained_variance(self._design(f, ind_row), target)
            return loss + p.penalty * collinearity_penalty(f)

        best, best_state, bad, tl = np.inf, None, 0, np.nan
        for _ in range(p.epochs):
            net.train()
            order = rng.permutation(len(train))
            tot = 0.0
            for k in range(0, len(order), p.days_per_batch):
                batch = [train[i] for i in order[k : k + p.days_per_batch]]
                loss = torch.stack([day_loss(u, nm) for u, nm in batch]).mean()
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 3.0)
                opt.step()
                tot += loss.item() * len(batch)
            tl = tot / len(train)
            if not held:
                best, best_state = tl, None
                continue
            net.eval()
            with torch.no_grad():
                vl = float(np.mean([float(day_loss(u, nm)) for u, nm in held]))
            if vl < best - 1e-5:
                best, bad = vl, 0
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
                if bad >= p.patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        return net, tl, best

    def _serve(self, net, feats, valid, y, ind_cols, lo: int, hi: int, tl: float, vl: float):
        """Exposures of rows base-1 .. hi-1 and the factor/specific returns of rows base .. hi-1
        (day t's return on the exposures of t-1)."""
        p = self.params
        _T, N = self.shape
        base = max(p.seq_len, lo - p.cov_window)
        P = 1 + (0 if ind_cols is None else len(self.industries)) + p.n_factors
        X = np.full((hi - base + 1, N, P), np.nan, np.float32)
        with torch.no_grad():
            for k, t in enumerate(range(base - 1, hi)):
                names = np.flatnonzero(valid[t])
                if len(names) <= p.n_factors + 1:
                    continue
                f = standardize(net(self._day(feats, t, names)))
                ind_row = None if ind_cols is None else ind_cols[t, names]
                X[k, names] = self._design(f, ind_row).numpy()
        fr = np.full((hi - base, P), np.nan)
        sp = np.full((hi - base, N), np.nan)
        for k in range(hi - base):
            Xp, rt = X[k].astype(np.float64), y[base + k]
            ok = np.isfinite(Xp).all(axis=1) & np.isfinite(rt)
            if ok.sum() <= P + 5:
                continue
            coef, *_ = np.linalg.lstsq(Xp[ok], rt[ok], rcond=None)
            fr[k] = coef
            sp[k, ok] = rt[ok] - Xp[ok] @ coef
        return _Block(lo, hi, base, X, fr, sp, float(tl), float(vl))

    # ---- serving -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """(T, N) of the fitted grid."""
        if self._shape is None:
            raise ConfigError("DeepRiskModel: call fit(...) first")
        return self._shape

    def _block(self, t: int) -> _Block | None:
        for blk in self.blocks:
            if blk.lo <= t < blk.hi:
                return blk
        return None

    def ready(self, t: int) -> bool:
        """True when row t is served by a block with `min_history` factor-return days."""
        blk = self._block(t)
        if blk is None:
            return False
        f = blk.factor_returns[max(0, t - self.params.cov_window + 1 - blk.base) : t - blk.base + 1]
        return int(np.isfinite(f[:, 0]).sum()) >= self.params.min_history

    def exposures(self, t: int) -> np.ndarray:
        """Exposures [N, P] at the close of day t ([1, industries, K factors]; NaN rows for
        names without inputs)."""
        blk = self._block(t)
        if blk is None:
            raise DataError(f"DeepRiskModel: row {t} ({self._label(t)}) is not served by a fit")
        return blk.exposures[t - blk.base + 1].astype(np.float64)

    def covariance(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(exposures [N, P], factor_cov [P, P], specific_var [N]) for day t (data <= t)."""
        p = self.params
        if not self.ready(t):
            raise DataError(
                f"DeepRiskModel.covariance({self._label(t)}): not served or fewer than "
                f"{p.min_history} days of factor returns"
            )
        blk = self._block(t)
        if blk is None:  # unreachable after ready(t); keeps the type narrow
            raise DataError(f"DeepRiskModel: row {t} is not served by a fit")
        k = t - blk.base + 1
        f = blk.factor_returns[max(0, k - p.cov_window) : k]
        F = shrink_to_diagonal(weighted_cov(f, p.cov_half_life), p.factor_shrinkage)
        u = blk.specific[max(0, k - p.specific_window) : k]
        age = np.arange(len(u) - 1, -1, -1, dtype=np.float64)
        w = (0.5 ** (age / p.specific_half_life))[:, None] * np.isfinite(u)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (w * np.nan_to_num(u) ** 2).sum(axis=0) / w.sum(axis=0)
        enough = np.isfinite(u).sum(axis=0) >= p.min_specific_obs
        fill = np.nanmedian(var[enough]) if enough.any() else np.nan
        X = self.exposures(t)
        d = np.where(enough, var, fill)
        d = np.where(np.isfinite(X).all(axis=1), d, np.nan)
        X[~np.isfinite(d)] = np.nan
        return X, F, d
