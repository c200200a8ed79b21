"""The one training loop for every torch model: day batches, Adam, gradient clipping,
early stopping on a validation signal metric, best-checkpoint restore, deterministic per seed.

A model plugs in through `TrainAdapter`: it turns a SampleSet into batches, a batch into a loss,
and a SampleSet into scores [t1 - t0, N]; the loop owns optimisation, metrics and checkpoints.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from seqalpha.dataset.core import SampleSet
from seqalpha.errors import ConfigError, DataError
from seqalpha.logs import PROGRESS, eta, fmt_seconds, get_logger
from seqalpha.models.checkpoint import save_checkpoint
from seqalpha.models.losses import METRICS, signal_metric

log = get_logger("train")


@dataclass
class LoopConfig:
    """Optimisation settings shared by all torch models."""

    epochs: int = 20
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 3.0
    patience: int = 5
    early_stop_metric: str = "icir"
    seed: int = 0
    threads: int = 2
    progress: bool = True
    checkpoint_dir: str | None = None  # when set, each new best epoch is saved there as a
    # model checkpoint (`seqalpha.models.checkpoint`) that `load_model` reads

    def __post_init__(self) -> None:
        if self.early_stop_metric not in METRICS:
            raise ConfigError(f"early_stop_metric: {self.early_stop_metric!r} not in {METRICS}")
        if self.epochs < 1:
            raise ConfigError(f"epochs: {self.epochs} < 1")
        if self.threads < 1:
            raise ConfigError(f"threads: {self.threads} < 1")
        if self.lr <= 0:
            raise ConfigError(f"lr: {self.lr} must be > 0")


@dataclass
class LoopState:
    """Where the loop is: epoch (0-based) and global optimiser step."""

    epoch: int = 0
    step: int = 0


@dataclass
class LoopResult:
    """What training produced: best epoch and score, per-epoch history, wall time."""

    best_epoch: int
    best_score: float
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


class TrainAdapter(Protocol):
    """What a torch model provides to the loop."""

    net: torch.nn.Module

    def batches(
        self, data: SampleSet, train: bool, rng: np.random.Generator
    ) -> list[tuple[np.ndarray, np.ndarray]]: ...

    def batch_loss(
        self, data: SampleSet, batch: tuple[np.ndarray, np.ndarray], state: LoopState
    ) -> torch.Tensor: ...

    def predict_scores(self, data: SampleSet) -> np.ndarray: ...

    def metric_labels(self, data: SampleSet) -> np.ndarray: ...

    def checkpoint_config(self, training: dict[str, Any] | None = None) -> dict[str, Any]: ...


@contextlib.contextmanager
def torch_session(seed: int, threads: int) -> Iterator[None]:
    """Seed torch, fix the thread count and enable deterministic algorithms; restored on exit."""
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(int(threads))
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(int(seed))
    try:
        yield
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det)


def _progress(enabled: bool):
    """A rich progress bar, or None when disabled or stdout is not a terminal."""
    if not enabled or not sys.stdout.isatty():
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("epoch {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}  valid {task.fields[valid]}"),
        TimeElapsedColumn(),
        transient=False,
    )


def state_copy(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached in-memory copy of the module's state_dict."""
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _log_epoch(rec: dict[str, float], cfg: LoopConfig, elapsed: float, bar: bool) -> None:
    """One plain line per epoch: k/n, train loss, valid metric, elapsed and ETA (all epochs)."""
    k = int(rec["epoch"]) + 1
    metric = "valid_" + cfg.early_stop_metric
    valid = f"  {metric} {rec[metric]:.4f}" if metric in rec else ""
    log.info(
        "epoch %d/%d  train loss %.4f%s  elapsed %s  ETA %s",
        k,
        cfg.epochs,
        rec["train_loss"],
        valid,
        fmt_seconds(elapsed),
        fmt_seconds(eta(elapsed, k, cfg.epochs)),
        extra=PROGRESS if bar else None,
    )


def fit_torch(
    adapter: TrainAdapter, train: SampleSet, valid: SampleSet | None, cfg: LoopConfig
) -> LoopResult:
    """Train `adapter.net` on day batches of `train`; early-stop on `cfg.early_stop_metric` over
    `valid` (train loss when there is no labelled valid set); restore the best weights."""
    if train.labels is None:
        raise DataError("fit: the train SampleSet has no labels")
    use_valid = valid is not None and valid.labels is not None and valid.n_days > 0
    t_start = time.perf_counter()
    with torch_session(cfg.seed, cfg.threads):
        rng = np.random.default_rng(cfg.seed)
        net = adapter.net
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        state = LoopState()
        best_score, best_epoch, best_state, stale = -np.inf, -1, state_copy(net), 0
        history: list[dict[str, float]] = []
        bar = _progress(cfg.progress)
        ctx = bar if bar is not None else contextlib.nullcontext()
        with ctx:
            task = None
            for epoch in range(cfg.epochs):
                state.epoch = epoch
                batches = adapter.batches(train, True, rng)
                if not batches:
                    raise DataError(f"fit: no training samples with labels in rows {train.rows}")
                if bar is not None:
                    if task is None:
                        task = bar.add_task(
                            "train", total=len(batches), epoch=epoch, loss=0.0, valid="-"
                        )
                    bar.reset(task, total=len(batches), epoch=epoch, loss=0.0, valid="-")
                net.train()
                t_epoch = time.perf_counter()
                total, count = 0.0, 0
                for b in batches:
                    loss = adapter.batch_loss(train, b, state)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    if cfg.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
                    opt.step()
                    state.step += 1
                    total += float(loss.detach()) * len(b[0])
                    count += len(b[0])
                    if bar is not None:
                        bar.update(task, advance=1, loss=total / max(count, 1))
                train_loss = total / max(count, 1)
                rec = {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "train_seconds": time.perf_counter() - t_epoch,
                }
                t_valid = time.perf_counter()
                if use_valid and valid is not None:
                    scores = adapter.predict_scores(valid)
                    score = signal_metric(
                        cfg.early_stop_metric, scores, adapter.metric_labels(valid)
                    )
                    rec["valid_" + cfg.early_stop_metric] = score
                    if cfg.early_stop_metric != "ic":
                        rec["valid_ic"] = signal_metric("ic", scores, adapter.metric_labels(valid))
                    rec["valid_seconds"] = time.perf_counter() - t_valid
                else:
                    score = -train_loss
                history.append(rec)
                if bar is not None:
                    bar.update(task, valid=f"{rec.get('valid_ic', float('nan')):.4f}")
                _log_epoch(rec, cfg, time.perf_counter() - t_start, bar is not None)
                if np.isfinite(score) and score > best_score:
                    best_score, best_epoch, best_state, stale = score, epoch, state_copy(net), 0
                    if cfg.checkpoint_dir is not None:
                        training = {
                            "epoch": epoch,
                            "step": state.step,
                            "score": score,
                            "metric": cfg.early_stop_metric,
                            "history": history,
                        }
                        save_checkpoint(
                            cfg.checkpoint_dir, best_state, adapter.checkpoint_config(training)
                        )
                else:
                    stale += 1
                    if stale >= cfg.patience:
                        break
        net.load_state_dict(best_state)
        net.eval()
    return LoopResult(
        best_epoch=best_epoch,
        best_score=float(best_score),
        history=history,
        seconds=time.perf_counter() - t_start,
    )


__all__ = [
    "LoopConfig",
    "LoopResult",
    "LoopState",
    "TrainAdapter",
    "fit_torch",
    "state_copy",
    "torch_session",
]
