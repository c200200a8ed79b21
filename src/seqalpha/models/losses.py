"""Training losses (torch) and per-day validation metrics (numpy), as small pure functions."""

from __future__ import annotations

import numpy as np
import torch

from seqalpha.errors import ConfigError
from seqalpha.xsection import daily_ic, daily_rank_ic

# ---------------------------------------------------------------- torch losses


def mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error over finite labels; pred, y [n] or [n, H]."""
    ok = torch.isfinite(y)
    diff = torch.where(ok, pred - torch.nan_to_num(y), torch.zeros_like(pred))
    return diff.pow(2).sum() / ok.sum().clamp(min=1)


def weighted_mse(pred: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted MSE over finite labels; pred, y [n, H]; weight broadcastable to [n, H] ([H])."""
    ok = torch.isfinite(y)
    w = torch.where(ok, weight.expand_as(y), torch.zeros_like(y))
    diff = pred - torch.nan_to_num(y)
    return (w * diff.pow(2)).sum() / w.sum().clamp(min=1e-12)


def cross_entropy(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits [n, C] against int64 classes [n] (negative classes ignored)."""
    return torch.nn.functional.cross_entropy(logits, classes, ignore_index=-1)


def ic_loss(pred: torch.Tensor, y: torch.Tensor, day: torch.Tensor | None = None) -> torch.Tensor:
    """Negative mean per-day Pearson correlation; pred, y [n]; day int64 [n] (None = one day)."""
    ok = torch.isfinite(y)
    pred, y = pred[ok], y[ok]
    if day is None:
        day = torch.zeros(len(y), dtype=torch.long)
    else:
        day = day[ok]
    _, g = torch.unique(day, return_inverse=True)
    G = int(g.max()) + 1 if len(g) else 0
    if G == 0:
        return pred.sum() * 0.0
    y = y.to(pred.dtype)
    zeros = pred.new_zeros(G)
    cnt = zeros.index_add(0, g, torch.ones_like(y))
    pc = pred - (zeros.index_add(0, g, pred) / cnt)[g]
    yc = y - (zeros.index_add(0, g, y) / cnt)[g]
    cov = zeros.index_add(0, g, pc * yc)
    vp = zeros.index_add(0, g, pc * pc)
    vy = zeros.index_add(0, g, yc * yc)
    corr = cov / (vp * vy).clamp(min=1e-12).sqrt()
    return -corr[cnt > 1].mean()


# ---------------------------------------------------------------- numpy metrics (per day)
# daily_ic / daily_rank_ic are seqalpha.xsection's: the validation IC that stops training and
# the IC a run reports come from the same function.


def icir(ic: np.ndarray) -> float:
    """Mean / std of a daily IC series [T] (NaN days ignored; NaN when fewer than 2 days)."""
    v = ic[np.isfinite(ic)]
    if len(v) < 2 or v.std(ddof=1) == 0:
        return float("nan")
    return float(v.mean() / v.std(ddof=1))


METRICS = ("ic", "rank_ic", "icir", "rank_icir", "loss")


def signal_metric(name: str, scores: np.ndarray, labels: np.ndarray) -> float:
    """Validation metric (higher is better) of scores [T, N] vs labels [T, N]: ic, rank_ic, icir,
    rank_icir, or loss (= minus the MSE over finite pairs)."""
    if name == "ic":
        v = daily_ic(scores, labels)
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    if name == "rank_ic":
        v = daily_rank_ic(scores, labels)
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    if name == "icir":
        return icir(daily_ic(scores, labels))
    if name == "rank_icir":
        return icir(daily_rank_ic(scores, labels))
    if name == "loss":
        ok = np.isfinite(scores) & np.isfinite(labels)
        return -float(np.mean((scores[ok] - labels[ok]) ** 2)) if ok.any() else float("nan")
    raise ConfigError(f"early_stop_metric: unknown metric {name!r}; choose from {METRICS}")
