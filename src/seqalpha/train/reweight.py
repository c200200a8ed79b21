"""Learned data re-weighting in the spirit of DDG-DA (Li et al., AAAI 2022): a small meta-model
maps the market-state description of each past period to a sample weight, trained so that a
ridge regression fitted on the re-weighted past periods predicts the *following* period well.

The proxy is differentiable in closed form: with per-period second moments G_p = X_p'X_p / n_p,
c_p = X_p'y_p / n_p, the weighted ridge is beta(w) = (sum_p w_p G_p + alpha I)^-1 sum_p w_p c_p
and its mean squared error on period j is beta'G_j beta - 2 beta'c_j + y_j'y_j / n_j. The
meta-model's weights are w_p = P * softmax_p(-sum_s exp(a_s) (z_ps - zc_s)^2 + r * age_p),
a learned per-descriptor similarity to the current state zc plus a learned recency slope.
Tasks: each of the last `tasks` periods of the training range is a target, trained on the
periods before it with the state of the period just before it as the current state; the
learned map is then applied with the state of the days before the test range.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def period_moments(
    features: Any, labels: np.ndarray, mask: np.ndarray, periods: list[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-period moments of the rows with a finite label: G [P, F+1, F+1], c [P, F+1], yy [P]
    over features [T, N, F] (an array or a FeatureStore; NaN as 0, plus a constant column),
    labels [T, N], mask [T, N]; periods are [lo, hi) rows of those arrays; a period
    without rows has zero moments."""
    F = features.shape[2]
    P = len(periods)
    G = np.zeros((P, F + 1, F + 1))
    c = np.zeros((P, F + 1))
    yy = np.zeros(P)
    for p, (a, b) in enumerate(periods):
        ok = mask[a:b] & np.isfinite(labels[a:b])
        if not ok.any():
            continue
        X = np.nan_to_num(features[a:b][ok].astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        X = np.hstack([X, np.ones((len(X), 1))])
        y = labels[a:b][ok].astype(np.float64)
        n = float(len(y))
        G[p], c[p], yy[p] = X.T @ X / n, X.T @ y / n, y @ y / n
    return G, c, yy


def ddgda_period_weights(
    z: np.ndarray,
    zc: np.ndarray,
    moments: tuple[np.ndarray, np.ndarray, np.ndarray],
    alpha: float = 1.0,
    steps: int = 150,
    lr: float = 0.05,
    tasks: int = 12,
    min_history: int = 3,
    seed: int = 0,
) -> np.ndarray:
    """Learned weights float64 [P] (mean 1) of the P periods described by z [P, S] for a test
    range whose current state is zc [S]; `moments` from `period_moments` of the same periods.

    Too few periods to learn from (fewer than `min_history` + 1) gives equal weights."""
    import torch

    P = len(z)
    G, c, yy = moments
    has = yy > 0
    targets = [j for j in range(max(min_history, P - tasks), P) if has[j] and has[:j].any()]
    if not targets:
        return np.ones(P)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 6-parameter problem on F x F matrices: threads only add overhead
    try:
        return _fit_weights(torch, z, zc, G, c, yy, has, targets, alpha, steps, lr, seed)
    finally:
        torch.set_num_threads(threads)


def _fit_weights(torch, z, zc, G, c, yy, has, targets, alpha, steps, lr, seed) -> np.ndarray:
    P, S = z.shape
    torch.manual_seed(seed)
    dt = torch.float64
    Zt = torch.as_tensor(z, dtype=dt)
    Gt, ct, yyt = (torch.as_tensor(v, dtype=dt) for v in (G, c, yy))
    age = torch.arange(P, dtype=dt) / max(P - 1, 1)  # 0 oldest .. 1 latest
    eye = torch.eye(G.shape[1], dtype=dt)
    log_scale = torch.zeros(S, dtype=dt, requires_grad=True)
    slope = torch.zeros((), dtype=dt, requires_grad=True)
    opt = torch.optim.Adam([log_scale, slope], lr=lr)

    def weights(current: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
        """Weights [K, P] for K current states [K, S] over the periods `avail` [K, P] (mean 1
        over those)."""
        d2 = ((Zt[None] - current[:, None]) ** 2 * torch.exp(log_scale)).sum(dim=2)
        logit = (-d2 + slope * age[None]).masked_fill(~avail, -1e9)
        return torch.softmax(logit, dim=1) * avail.sum(dim=1, keepdim=True)

    # every task at once: target j is fitted on the periods before it, current state z_{j-1}
    tj = torch.as_tensor(targets)
    has_t = torch.as_tensor(has)
    avail = (torch.arange(P)[None, :] < tj[:, None]) & has_t[None, :]  # [J, P]
    G_j, c_j, yy_j = Gt[tj], ct[tj], yyt[tj]
    for _ in range(steps):
        opt.zero_grad()
        w = weights(Zt[tj - 1], avail)  # [J, P]
        n = w.sum(dim=1)
        A = torch.einsum("jp,pik->jik", w, Gt) / n[:, None, None] + alpha * eye
        b = torch.einsum("jp,pi->ji", w, ct) / n[:, None]
        beta = torch.linalg.solve(A, b)  # [J, F + 1]
        mse = torch.einsum("ji,jik,jk->j", beta, G_j, beta) - 2 * (beta * c_j).sum(1) + yy_j
        loss = (mse / yy_j).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        w_now = weights(torch.as_tensor(zc, dtype=dt)[None], has_t[None])[0]
        return w_now.numpy().astype(np.float64)
