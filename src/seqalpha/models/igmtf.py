"""IGMTF (Xu et al. 2021, instance-graph multi-trend forecasting) on a GRU encoder.

A memory holds the hidden states of every training sample, built from the fitted window's own
training rows only (refreshed each epoch, rebuilt with the best weights at the end of fit, and
saved with the model). For each day the model finds the `k_day` training days whose mean hidden
state is most similar (cosine) to that day's, then each stock's `n_neighbor` most similar
instances of those days; their projected states, weighted by similarity, are concatenated with
the stock's own state for the prediction. While training, a day never finds itself in the
memory (its own states would be its nearest neighbours, which no test day has).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from seqalpha.dataset.core import SampleSet
from seqalpha.dataset.sequence import day_batches
from seqalpha.errors import ConfigError, DataError
from seqalpha.models import losses
from seqalpha.models.hist import cosine, day_groups
from seqalpha.models.loop import LoopState, torch_session
from seqalpha.models.nets import RNNEncoder, _Encoded
from seqalpha.models.registry import register_model
from seqalpha.models.torch_models import TorchModel, _steps_features


@dataclass
class Memory:
    """Hidden states of training samples: hidden [M, H] grouped by day (start [D + 1] offsets
    into hidden), each day's mean state [D, H] and its date (day number, int64 [D])."""

    hidden: torch.Tensor
    start: torch.Tensor
    day_mean: torch.Tensor
    day: torch.Tensor

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"memory.{k}": getattr(self, k) for k in ("hidden", "start", "day_mean", "day")}

    @classmethod
    def from_tensors(cls, t: dict[str, torch.Tensor]) -> Memory:
        return cls(*(t[f"memory.{k}"] for k in ("hidden", "start", "day_mean", "day")))


class IGMTFNet(_Encoded):
    """Encoder + two LeakyReLU layers -> state [n, H]; neighbours from a Memory -> score [n]."""

    def __init__(self, encoder: nn.Module, hidden: int, precision: str = "fp32") -> None:
        super().__init__()
        self.encoder = encoder
        self.precision = precision
        H = hidden
        self.lins = nn.Sequential(nn.Linear(H, H), nn.LeakyReLU(), nn.Linear(H, H), nn.LeakyReLU())
        self.project1 = nn.Linear(H, H, bias=False)
        self.project2 = nn.Linear(H, H, bias=False)
        self.out = nn.Linear(2 * H, 1)

    def state(self, x: torch.Tensor) -> torch.Tensor:
        return self.lins(self.encode(x))

    def neighbours(
        self, h: torch.Tensor, memory: Memory, day: int, k_day: int, n_neighbor: int, own: bool
    ) -> torch.Tensor:
        """Aggregated memory states [m, H] for one day's states h [m, H]; `own`: the day itself
        may not be used (training)."""
        sim = cosine(h.mean(dim=0, keepdim=True), memory.day_mean)[0]  # [D]
        if own:
            sim = sim.masked_fill(memory.day == day, -2.0)
        k = min(k_day, int((sim > -2.0).sum()))
        if k == 0:
            return torch.zeros_like(h)
        days = torch.topk(sim, k).indices
        rows = torch.cat(
            [torch.arange(int(memory.start[d]), int(memory.start[d + 1])) for d in days]
        )
        mem = self.project2(memory.hidden[rows])  # [M', H]
        c = cosine(self.project1(h), mem)  # [m, M']
        n = min(n_neighbor, mem.shape[0])
        top = torch.topk(c, n, dim=1)
        return (top.values.unsqueeze(2) * mem[top.indices]).sum(dim=1) / n

    def forward(
        self,
        x: torch.Tensor,
        groups: list[np.ndarray],
        days: np.ndarray,
        memory: Memory,
        k_day: int,
        n_neighbor: int,
        own: bool,
    ) -> torch.Tensor:
        h = self.state(x)
        agg = torch.zeros_like(h)
        for g, d in zip(groups, days, strict=True):
            idx = torch.from_numpy(g)
            agg[idx] = self.neighbours(h[idx], memory, int(d), k_day, n_neighbor, own)
        return self.out(torch.cat([h, agg], dim=1))[:, 0]


@register_model("igmtf")
class IGMTFModel(TorchModel):
    """IGMTF: a GRU state plus its nearest training instances (of the most similar training
    days) from a memory built on the window's own training rows only."""

    PARAMS: ClassVar[dict[str, Any]] = {
        "hidden_size": 64,
        "num_layers": 2,
        "k_day": 10,
        "n_neighbor": 10,
    }

    def validate_params(self) -> None:
        super().validate_params()
        p = self.params
        name = self.registered_name
        if p["head"] != "regression" or p["loss"] not in ("auto", "mse", "ic"):
            raise ConfigError(f"model {name!r}: only head 'regression' with loss mse or ic")
        if p["batch"] != "day":
            raise ConfigError(
                f"model {name!r}: param 'batch' must be 'day': a day's mean state picks its "
                "neighbour days"
            )
        if p["k_day"] < 1 or p["n_neighbor"] < 1:
            raise ConfigError(f"model {name!r}: params 'k_day' and 'n_neighbor' must be >= 1")
        self.params["multi_label"] = False
        self.memory: Memory | None = None

    def build_net(self, step_shape: tuple[int, ...], n_out: int) -> nn.Module:
        _, f = _steps_features(step_shape)
        p = self.params
        enc = RNNEncoder("gru", f, p["hidden_size"], p["num_layers"], p["dropout"])
        return IGMTFNet(enc, p["hidden_size"], p["precision"])

    @property
    def _net(self) -> IGMTFNet:
        if not isinstance(self.net, IGMTFNet):
            raise ConfigError(f"model {self.registered_name!r}: the network is not built")
        return self.net

    # ------------------------------------------------------------ memory
    def build_memory(self, train: SampleSet) -> Memory:
        """States of every sample of train's rows (and nothing else), grouped by day."""
        hidden, counts, days = [], [], []
        was_training = self.net.training
        self.net.eval()
        with torch.no_grad():
            for t, i in day_batches(train, False, None, self.params["eval_days_per_batch"]):
                h = self._net.state(self.inputs(train, (t, i)))
                for g in day_groups(t):
                    hidden.append(h[torch.from_numpy(g)])
                    counts.append(len(g))
                    days.append(int(train.dates[t[g[0]]].astype(np.int64)))
        self.net.train(was_training)
        if not hidden:
            raise DataError(f"model 'igmtf': no training samples in rows {train.rows}")
        hid = torch.cat(hidden)
        start = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
        mean = torch.stack([h.mean(dim=0) for h in hidden])
        return Memory(hid, start, mean, torch.tensor(days, dtype=torch.int64))

    def fit(self, train: SampleSet, valid: SampleSet | None = None) -> None:
        """Train with the memory refreshed every epoch; finally rebuild it with the best
        weights (the memory the predictions read)."""
        super().fit(train, valid)
        with torch_session(self.params["seed"], self.params["threads"]):
            self.memory = self.build_memory(train)

    def batches(
        self, data: SampleSet, train: bool, rng: np.random.Generator
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        if train:  # once per epoch: the memory with the current weights
            self.memory = self.build_memory(data)
        return super().batches(data, train, rng)

    def _forward(
        self, data: SampleSet, batch: tuple[np.ndarray, np.ndarray], own: bool
    ) -> torch.Tensor:
        if self.memory is None:
            raise DataError("model 'igmtf': no training memory (fit or load the model first)")
        t, _ = batch
        groups = day_groups(t)
        days = np.array([int(data.dates[t[g[0]]].astype(np.int64)) for g in groups])
        p = self.params
        return self._net(
            self.inputs(data, batch), groups, days, self.memory, p["k_day"], p["n_neighbor"], own
        )

    def batch_loss(
        self, data: SampleSet, batch: tuple[np.ndarray, np.ndarray], state: LoopState
    ) -> torch.Tensor:
        t, i = batch
        pred = self._forward(data, batch, own=True)
        y = torch.from_numpy(
            np.ascontiguousarray(data.known_labels()[t, i, self.params["label_col"]])
        )
        if self._loss_name() == "ic":
            return losses.ic_loss(pred, y, torch.from_numpy(t))
        return losses.mse(pred, y)

    def predict_scores(self, data: SampleSet) -> np.ndarray:
        t0, t1 = data.rows
        res = np.full((t1 - t0, len(data.instruments)), np.nan, dtype=np.float32)
        self.net.eval()
        with torch.no_grad():
            for b in day_batches(data, False, None, self.params["eval_days_per_batch"]):
                res[b[0] - t0, b[1]] = self._forward(data, b, own=False).numpy()
        return res

    # ------------------------------------------------------------ checkpoint
    def state_tensors(self) -> dict[str, torch.Tensor]:
        if self.memory is None:
            raise DataError("model 'igmtf': no training memory to save")
        return {**super().state_tensors(), **self.memory.tensors()}

    def load_state(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        mem = {k: v for k, v in tensors.items() if k.startswith("memory.")}
        weights = {k: v for k, v in tensors.items() if not k.startswith("memory.")}
        super().load_state(weights, extra)
        self.memory = Memory.from_tensors(mem) if mem else None
