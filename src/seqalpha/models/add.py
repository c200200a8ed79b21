"""ADD (Tang et al. 2020, Augmented Disentanglement Distillation) on GRU encoders.

Two encoders split a stock's sequence into an excess representation (predicts the stock's
cross-sectionally standardised return) and a market representation (predicts the market's
direction: the day's mean label in terciles of the training days). Adversarial heads behind
gradient reversal try to predict the market from the excess representation and the excess
return from the market one, so that each representation sheds the other's information; a
decoder reconstructs the input sequence from both. Two parts that pyqlib's ADD leaves out:

- dynamic self-distillation: from the second epoch the excess head also learns from a teacher,
  the network itself one epoch earlier (refreshed every epoch); the target is
  (1 - a) * label + a * teacher, with a = `distill` * (1 - `distill_rho` ** epoch) growing as
  the teacher improves;
- augmentation: a sample's excess representation is decoded together with the market
  representation of a stock on another day of the batch; the new sequence keeps the stock's
  excess target and takes that day's market class (weight `augment`). A random share
  `augment_share` of each batch's samples is augmented: the swapped sequences are encoded again
  by both encoders, so augmenting every sample would nearly double a step's cost.

ADD reads raw labels (no cross-sectional label processor): it normalises the excess target per
day itself (`target`: `zscore`, or `rank` = Qlib's CSRankNorm of the day, as pyqlib's ADD learns
from) and needs the day mean for the market label.
"""

from __future__ import annotations

import copy
import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from seqalpha import xsection as xs
from seqalpha.dataset.core import SampleSet
from seqalpha.dataset.sequence import day_batches
from seqalpha.errors import ConfigError, DataError
from seqalpha.models import losses
from seqalpha.models.hist import day_groups
from seqalpha.models.loop import LoopState
from seqalpha.models.nets import RNNEncoder, run_in_precision
from seqalpha.models.registry import register_model
from seqalpha.models.torch_models import TorchModel, _steps_features


class _Reverse(torch.autograd.Function):
    """Identity forward; gradient times -alpha backward (gradient reversal)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.alpha * grad, None


def reverse_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """x unchanged; the gradient flowing back through it is multiplied by -alpha."""
    return _Reverse.apply(x, alpha)


class _BatchNorm(nn.BatchNorm1d):
    """Batch norm that normalises a one-row training batch with its running statistics (the
    batch statistics of one row are undefined)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and len(x) < 2:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)


def _head(d: int, out: int) -> nn.Sequential:
    """Linear, batch norm, tanh, linear (pyqlib's ADD heads)."""
    return nn.Sequential(nn.Linear(d, d), _BatchNorm(d), nn.Tanh(), nn.Linear(d, out))


class StatesEncoder(RNNEncoder):
    """GRU over steps [n, S, f]; the final hidden states of all its layers, side by side
    [n, layers * hidden] (pyqlib's ADD representation)."""

    def __init__(self, f: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__("gru", f, hidden, layers, dropout)
        self.out_dim = layers * hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h_n = self.rnn(x)[1]  # [layers, n, hidden]
        return h_n.permute(1, 0, 2).reshape(len(x), -1)


class ADDNet(nn.Module):
    """Excess and market GRU encoders (each representation: the final states of all layers),
    their heads, adversarial heads and a GRU decoder."""

    def __init__(
        self, f: int, steps: int, hidden: int, layers: int, dropout: float, precision: str
    ) -> None:
        super().__init__()
        self.precision = precision
        self.steps = steps
        self.enc_excess = StatesEncoder(f, hidden, layers, dropout)
        self.enc_market = StatesEncoder(f, hidden, layers, dropout)
        d = self.enc_excess.out_dim
        self.pred_excess, self.adv_excess = _head(d, 1), _head(d, 1)
        self.pred_market, self.adv_market = _head(d, 3), _head(d, 3)
        self.dec_init = nn.Linear(2 * d, hidden)
        self.dec = nn.GRU(1, hidden, batch_first=True)
        self.dec_out = nn.Linear(hidden, f)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(excess [n, D], market [n, D]) representations (bf16 autocast when asked)."""
        return run_in_precision(self.precision, lambda: (self.enc_excess(x), self.enc_market(x)))

    def decode(self, e: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Reconstructed sequence [n, S, f] (bf16 autocast when asked, float32 out): the GRU
        decoder starts from both representations (its initial state, as in pyqlib's ADD) and
        unrolls `steps` steps without input (pyqlib feeds back its own previous output one step
        at a time; a representation repeated as the input of every step costs twice as much)."""

        def run() -> torch.Tensor:
            h0 = torch.tanh(self.dec_init(torch.cat([e, m], dim=1))).unsqueeze(0)
            blank = e.new_zeros(len(e), self.steps, 1)
            return self.dec_out(self.dec(blank, h0)[0])

        return run_in_precision(self.precision, run)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores [n]: the excess head (the market encoder is not run)."""
        e = run_in_precision(self.precision, lambda: self.enc_excess(x))
        return self.pred_excess(e)[:, 0]


@register_model("add")
class ADDModel(TorchModel):
    """ADD: disentangled excess/market GRU encoders with adversarial heads, reconstruction,
    dynamic self-distillation and market-swap augmentation (see the module docstring)."""

    PARAMS: ClassVar[dict[str, Any]] = {
        "hidden_size": 64,
        "num_layers": 2,
        "days_per_batch": 4,
        "mu": 0.05,
        "gamma": 0.1,
        "gamma_clip": 0.4,
        "distill": 0.5,
        "distill_rho": 0.5,
        "augment": 0.5,
        "augment_share": 0.25,
        "target": "zscore",
    }
    CHOICES: ClassVar[dict[str, tuple]] = {"target": ("zscore", "rank")}

    def validate_params(self) -> None:
        super().validate_params()
        p = self.params
        name = self.registered_name
        if p["head"] != "regression" or p["loss"] not in ("auto", "mse"):
            raise ConfigError(f"model {name!r}: only head 'regression' with loss 'mse'")
        for k in ("mu", "gamma", "gamma_clip", "augment"):
            if p[k] < 0:
                raise ConfigError(f"model {name!r}: param {k!r} = {p[k]} must be >= 0")
        for k in ("distill", "distill_rho", "augment_share"):
            if not 0 <= p[k] <= 1:
                raise ConfigError(f"model {name!r}: param {k!r} = {p[k]} outside [0, 1]")
        if p["augment"] > 0 and p["batch"] == "day" and p["days_per_batch"] < 2:
            raise ConfigError(
                f"model {name!r}: param 'augment' swaps market representations between days "
                "and needs 'days_per_batch' >= 2 (or augment: 0)"
            )
        self.params["multi_label"] = False
        self.teacher: ADDNet | None = None

    def build_net(self, step_shape: tuple[int, ...], n_out: int) -> nn.Module:
        S, f = _steps_features(step_shape)
        p = self.params
        return ADDNet(f, S, p["hidden_size"], p["num_layers"], p["dropout"], p["precision"])

    @property
    def _net(self) -> ADDNet:
        if not isinstance(self.net, ADDNet):
            raise ConfigError(f"model {self.registered_name!r}: the network is not built")
        return self.net

    # ------------------------------------------------------------ labels
    def _market_labels(self, train: SampleSet) -> None:
        """Day means of the raw label [T], the excess target [T, N] (the label normalised over
        its whole day, `target`; NaN on a day with one label or no spread) and the tercile edges
        of the training days' means."""
        col = self.params["label_col"]
        y = np.where(train.mask, train.known_labels()[:, :, col], np.nan)
        known = np.isfinite(y)
        n = known.sum(axis=1)
        self.day_mean = np.where(n > 0, np.nansum(y, axis=1) / np.maximum(n, 1), np.nan)
        normalise = xs.rank_norm if self.params["target"] == "rank" else xs.zscore
        self.excess = normalise(y, known)
        t0, t1 = train.rows
        m = self.day_mean[t0:t1]
        m = m[np.isfinite(m)]
        if len(m) < 3 or np.std(m) < 1e-4 * float(np.nanstd(y[t0:t1])):
            raise ConfigError(
                "model 'add': the training labels have no day-to-day mean (cross-sectionally "
                "normalised?); ADD needs raw labels for its market label: drop the cs_* label "
                "processor (ADD normalises the excess target itself)"
            )
        self.edges = np.quantile(m, [1 / 3, 2 / 3])

    def fit(self, train: SampleSet, valid: SampleSet | None = None) -> None:
        """Train; the teacher of the distillation is refreshed at each epoch's start."""
        self._market_labels(train)
        self.teacher = None
        self._epoch = -1
        super().fit(train, valid)
        self.teacher = None

    def batches(
        self, data: SampleSet, train: bool, rng: np.random.Generator
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        if train:
            self._epoch += 1
            if self._epoch >= 1 and self.params["distill"] > 0:
                self.teacher = copy.deepcopy(self._net).eval()
                for q in self.teacher.parameters():
                    q.requires_grad_(False)
            self._rng = np.random.default_rng(rng.integers(2**32))
        return super().batches(data, train, rng)

    # ------------------------------------------------------------ loss
    def batch_loss(
        self, data: SampleSet, batch: tuple[np.ndarray, np.ndarray], state: LoopState
    ) -> torch.Tensor:
        t, i = batch
        p = self.params
        net = self._net
        x = self.inputs(data, batch)
        groups = day_groups(t)
        # excess target: the label normalised over its whole day (also with `batch: rows`)
        y_t = torch.from_numpy(self.excess[t, i].astype(np.float32))
        mkt = torch.from_numpy(np.digitize(self.day_mean[t], self.edges).astype(np.int64))
        alpha = min(p["gamma_clip"], 2.0 / (1.0 + math.exp(-p["gamma"] * state.epoch)) - 1.0)

        e, m = net.encode(x)
        target = y_t
        if self.teacher is not None:
            a = p["distill"] * (1.0 - p["distill_rho"] ** state.epoch)
            with torch.no_grad():
                soft = self.teacher(x)
            target = (1 - a) * y_t + a * soft
        loss = losses.mse(net.pred_excess(e)[:, 0], target)
        loss = loss + F.cross_entropy(net.pred_market(m), mkt)
        loss = loss + losses.mse(net.adv_excess(reverse_grad(m, alpha))[:, 0], y_t)
        loss = loss + F.cross_entropy(net.adv_market(reverse_grad(e, alpha)), mkt)
        loss = loss + p["mu"] * F.mse_loss(net.decode(e, m), x)
        if p["augment"] > 0 and p["augment_share"] > 0 and len(groups) > 1:
            src, j = self._other_day(groups, p["augment_share"])
            with torch.no_grad():
                x_aug = net.decode(e[src], m[j])
            e2, m2 = net.encode(x_aug)
            aug = losses.mse(net.pred_excess(e2)[:, 0], target.detach()[src])
            aug = aug + F.cross_entropy(net.pred_market(m2), mkt[j])
            loss = loss + p["augment"] * aug
        return loss

    def _other_day(
        self, groups: list[np.ndarray], share: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A random share of the batch's samples (positions `src`, at least one) and, for each,
        a random sample of another day of the batch (positions `j`)."""
        n = sum(len(g) for g in groups)
        day = np.empty(n, dtype=np.int64)
        for k, g in enumerate(groups):
            day[g] = k
        src = np.sort(self._rng.choice(n, max(1, round(share * n)), replace=False))
        shift = self._rng.integers(1, len(groups))  # every day reads day (k + shift) mod D
        j = np.empty(len(src), dtype=np.int64)
        for k in range(len(groups)):
            at = day[src] == k
            other = groups[(k + shift) % len(groups)]
            j[at] = other[self._rng.integers(0, len(other), int(at.sum()))]
        return torch.from_numpy(src), torch.from_numpy(j)

    def predict_scores(self, data: SampleSet) -> np.ndarray:
        t0, t1 = data.rows
        res = np.full((t1 - t0, len(data.instruments)), np.nan, dtype=np.float32)
        self.net.eval()
        with torch.no_grad():
            for b in day_batches(data, False, None, self.params["eval_days_per_batch"]):
                res[b[0] - t0, b[1]] = self.net(self.inputs(data, b)).numpy()
        return res

    def extra_config(self) -> dict[str, Any]:
        return {**super().extra_config(), "market_edges": [float(v) for v in self.edges]}

    def load_state(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        super().load_state(tensors, extra)
        if "market_edges" not in extra:
            raise DataError("model 'add': checkpoint config lacks 'market_edges'")
        self.edges = np.asarray(extra["market_edges"])
