"""AdaRNN (Du et al. 2021): a GRU that learns what stays true across the periods of its history.

Two parts, both on the training window only:

- temporal distribution characterisation (TDC): the training days are cut into `n_splits`
  contiguous periods as unlike each other as possible: among `tdc_candidates` evenly spaced cut
  points, cuts are added greedily, each time the one that most raises the mean pairwise distance
  between the periods' mean inputs (every period keeps at least half its equal share of days).
  `split: equal` cuts into equal parts instead (pyqlib's ADARNN);
- temporal distribution matching (TDM): every training step draws one block of samples from each
  period; besides the prediction loss, the hidden states of every GRU layer at every step are
  matched between the blocks of each pair of periods by a distribution distance (`distance`:
  `mmd`, the squared distance of the means; `coral`, of the covariances; `cosine`, one minus the
  cosine of the means), weighted by an importance [layers, steps] and by `dw`. For the first
  `pre_epoch` epochs the importances are uniform (`pre_alpha: uniform`) or, the paper's, given by
  a gate (`pre_alpha: gate`): per layer and pair of periods, a linear map of the two blocks'
  paired state sequences, batch-normalised, through a sigmoid, averaged over the rows and
  softmaxed over the steps; the gate trains with the network. Afterwards the importances are a
  buffer `alpha`, uniform at first, boosted once per epoch: where a layer/step's distance grew
  over the last epoch its weight is multiplied by 1 + sigmoid(growth), then each layer's weights
  are renormalised to sum to one.

Prediction reads the last layer's last hidden state through a linear head. Boosted weights are
a buffer of the network, saved with it.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from seqalpha.dataset.core import SampleSet
from seqalpha.errors import ConfigError, DataError
from seqalpha.models import losses
from seqalpha.models.loop import LoopState
from seqalpha.models.nets import run_in_precision
from seqalpha.models.registry import register_model
from seqalpha.models.torch_models import TorchModel, _steps_features

DISTANCES = ("mmd", "coral", "cosine")


def period_means(data: SampleSet) -> np.ndarray:
    """Mean input of each training day [t1 - t0, F] over its available samples (NaN ignored)."""
    t0, t1 = data.rows
    x = data.known_features()[t0:t1]
    ok = data.available()[:, :, None] & np.isfinite(x)
    n = ok.sum(axis=1)
    return np.where(n > 0, np.where(ok, x, 0.0).sum(axis=1) / np.maximum(n, 1), 0.0)


def _spread(stats: np.ndarray, cuts: list[int]) -> float:
    """Mean pairwise squared distance between the periods' mean rows."""
    edges = [0, *cuts, len(stats)]
    mu = np.stack([stats[a:b].mean(axis=0) for a, b in itertools.pairwise(edges)])
    d = ((mu[:, None, :] - mu[None, :, :]) ** 2).sum(axis=2)
    k = len(mu)
    return float(d.sum() / (k * (k - 1)))


def split_periods(
    stats: np.ndarray, k: int, method: str = "tdc", candidates: int = 10
) -> list[int]:
    """Cut points (sorted day offsets) of `k` contiguous periods over the rows of `stats` [D, F].

    `equal`: equal lengths. `tdc`: greedy over `candidates` evenly spaced cut points, each time
    the cut that most raises the mean pairwise distance of the periods' mean rows; no period
    shorter than half of D / k."""
    D = len(stats)
    if k < 2 or D < 2 * k:
        raise DataError(f"adarnn: {D} training days cannot be cut into {k} periods")
    if method == "equal":
        return [round(D * j / k) for j in range(1, k)]
    grid = sorted({round(D * j / candidates) for j in range(1, candidates)} - {0, D})
    shortest = max(1, D // (2 * k))
    cuts: list[int] = []
    for _ in range(k - 1):
        best, best_score = None, -np.inf
        for c in grid:
            if c in cuts:
                continue
            trial = sorted([*cuts, c])
            lengths = np.diff([0, *trial, D])
            if lengths.min() < shortest:
                continue
            score = _spread(stats, trial)
            if score > best_score:
                best, best_score = c, score
        if best is None:  # the grid is too coarse for the length floor: fall back to equal
            return split_periods(stats, k, "equal")
        cuts = sorted([*cuts, best])
    return cuts


def distances(a: torch.Tensor, b: torch.Tensor, kind: str) -> torch.Tensor:
    """Distribution distance per step [S] between two blocks of states a, b [n, S, H]."""
    ma, mb = a.mean(dim=0), b.mean(dim=0)  # [S, H]
    if kind == "mmd":
        return ((ma - mb) ** 2).sum(dim=1)
    if kind == "cosine":
        return 1.0 - nn.functional.cosine_similarity(ma, mb, dim=1, eps=1e-8)
    ca, cb = a - ma, b - mb
    cov_a = torch.einsum("nsh,nsk->shk", ca, ca) / max(len(a) - 1, 1)
    cov_b = torch.einsum("nsh,nsk->shk", cb, cb) / max(len(b) - 1, 1)
    H = a.shape[2]
    return ((cov_a - cov_b) ** 2).sum(dim=(1, 2)) / (4.0 * H * H)  # CORAL


def boost(alpha: torch.Tensor, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """AdaRNN's boosting of the importance weights [layers, steps]: where a distance grew from
    `old` to `new`, multiply its weight by 1 + sigmoid(growth); rows renormalised to sum 1."""
    grew = new > old + 1e-5
    out = torch.where(grew, alpha * (1.0 + torch.sigmoid(new - old)), alpha)
    return out / out.sum(dim=1, keepdim=True)


class AdaRNNNet(nn.Module):
    """Stacked one-layer GRUs [n, S, f] -> every layer's states; a head on the last one."""

    def __init__(
        self,
        f: int,
        hidden: int,
        layers: int,
        steps: int,
        n_out: int,
        precision: str = "fp32",
        gate: bool = False,
    ) -> None:
        super().__init__()
        self.grus = nn.ModuleList(
            nn.GRU(f if k == 0 else hidden, hidden, batch_first=True) for k in range(layers)
        )
        self.head = nn.Linear(hidden, n_out)
        self.precision = precision
        self.alpha: torch.Tensor
        self.register_buffer("alpha", torch.full((layers, steps), 1.0 / steps))
        self.gates = (
            nn.ModuleList(
                nn.Sequential(nn.Linear(2 * steps * hidden, steps), nn.BatchNorm1d(steps))
                for _ in range(layers)
            )
            if gate
            else None
        )

    def gate_weights(self, layer: int, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The gate's importances [S] of one layer's steps for two paired blocks a, b [n, S, H]
        of states: sigmoid of the batch-normalised linear map, mean over rows, softmax over S."""
        if self.gates is None:
            raise ConfigError("adarnn: the network has no gate (pre_alpha is not 'gate')")
        pair = torch.cat([a, b], dim=2).reshape(len(a), -1)
        return torch.softmax(torch.sigmoid(self.gates[layer](pair)).mean(dim=0), dim=0)

    def states(self, x: torch.Tensor) -> list[torch.Tensor]:
        def run() -> tuple[torch.Tensor, ...]:
            out, h = [], x
            for gru in self.grus:
                h = gru(h)[0]
                out.append(h)
            return tuple(out)

        return list(run_in_precision(self.precision, run))  # float32 either way

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.states(x)[-1][:, -1])


@register_model("adarnn")
class AdaRNNModel(TorchModel):
    """AdaRNN on the shared loop: TDC periods of the training days, TDM across them."""

    PARAMS: ClassVar[dict[str, Any]] = {
        "hidden_size": 64,
        "num_layers": 2,
        "n_splits": 2,
        "split": "tdc",
        "tdc_candidates": 10,
        "distance": "mmd",
        "dw": 0.5,
        "pre_epoch": 2,
        "pre_alpha": "uniform",
        "batch": "rows",
        "batch_size": 800,
    }
    CHOICES: ClassVar[dict[str, tuple]] = {
        "split": ("tdc", "equal"),
        "distance": DISTANCES,
        "pre_alpha": ("uniform", "gate"),
    }

    def validate_params(self) -> None:
        super().validate_params()
        p = self.params
        name = self.registered_name
        if p["head"] != "regression" or p["loss"] not in ("auto", "mse"):
            raise ConfigError(f"model {name!r}: only head 'regression' with loss mse")
        if p["batch"] != "rows":
            raise ConfigError(
                f"model {name!r}: param 'batch' must be 'rows': each step draws a block of rows "
                "from every period"
            )
        for key, low in (("n_splits", 2), ("tdc_candidates", 2), ("pre_epoch", 0)):
            if isinstance(p[key], bool) or not isinstance(p[key], int) or p[key] < low:
                raise ConfigError(f"model {name!r}: param {key!r} must be an integer >= {low}")
        if p["batch_size"] < 2 * p["n_splits"]:
            raise ConfigError(
                f"model {name!r}: param 'batch_size' must give every one of the "
                f"{p['n_splits']} periods at least 2 rows per step"
            )
        if not p["dw"] >= 0:
            raise ConfigError(f"model {name!r}: param 'dw' must be >= 0")
        self.params["multi_label"] = False
        self.cuts: list[int] = []

    def build_net(self, step_shape: tuple[int, ...], n_out: int) -> nn.Module:
        S, f = _steps_features(step_shape)
        p = self.params
        return AdaRNNNet(
            f, p["hidden_size"], p["num_layers"], S, n_out, p["precision"], p["pre_alpha"] == "gate"
        )

    @property
    def _net(self) -> AdaRNNNet:
        if not isinstance(self.net, AdaRNNNet):
            raise ConfigError(f"model {self.registered_name!r}: the network is not built")
        return self.net

    def fit(self, train: SampleSet, valid: SampleSet | None = None) -> None:
        """TDC on the training days, then the loop with TDM (see the module docstring)."""
        p = self.params
        self.cuts = split_periods(
            period_means(train), p["n_splits"], p["split"], p["tdc_candidates"]
        )
        self._dist_sum: torch.Tensor | None = None
        self._dist_prev: torch.Tensor | None = None
        self._epoch = -1
        super().fit(train, valid)
        self._dist_sum = self._dist_prev = None

    def extra_config(self) -> dict[str, Any]:
        return {**super().extra_config(), "cuts": list(self.cuts)}

    def load_state(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        super().load_state(tensors, extra)
        self.cuts = list(extra.get("cuts", []))

    # ------------------------------------------------------------ loop adapter
    def batches(
        self, data: SampleSet, train: bool, rng: np.random.Generator
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Training: steps of `n_splits` equal blocks of rows, block k from period k (as many
        steps as the smallest period fills). Prediction: whole days."""
        if not train:
            return super().batches(data, False, rng)
        p = self.params
        t0, t1 = data.rows
        ok = data.available()
        ok &= np.isfinite(data.known_labels()[t0:t1, :, p["label_col"]])
        edges = [0, *self.cuts, t1 - t0]
        block = p["batch_size"] // p["n_splits"]
        rows = []
        for a, b in itertools.pairwise(edges):
            t, i = np.nonzero(ok[a:b])
            order = rng.permutation(len(t))
            rows.append(((t[order] + a + t0).astype(np.int64), i[order].astype(np.int64)))
        steps = min(len(t) for t, _ in rows) // block
        if steps == 0:
            raise DataError(
                f"adarnn: a period of the training window has fewer than {block} samples "
                "(lower batch_size or n_splits)"
            )
        out = []
        for s in range(steps):
            sl = slice(s * block, (s + 1) * block)
            out.append(
                (np.concatenate([t[sl] for t, _ in rows]), np.concatenate([i[sl] for _, i in rows]))
            )
        return out

    def batch_loss(
        self, data: SampleSet, batch: tuple[np.ndarray, np.ndarray], state: LoopState
    ) -> torch.Tensor:
        p = self.params
        net = self._net
        if state.epoch != self._epoch:  # a new epoch: boost alpha from the last two epochs
            last = state.epoch - 1  # boosting compares epochs pre_epoch, pre_epoch + 1, ...
            if self._dist_sum is not None and self._dist_prev is not None and last > p["pre_epoch"]:
                net.alpha.copy_(boost(net.alpha, self._dist_prev, self._dist_sum))
            self._dist_prev, self._dist_sum = self._dist_sum, None
            self._epoch = state.epoch
        t, i = batch
        x = self.inputs(data, batch)
        y = torch.from_numpy(np.ascontiguousarray(data.known_labels()[t, i, p["label_col"]]))
        hs = net.states(x)
        loss = losses.mse(net.head(hs[-1][:, -1])[:, 0], y)
        K = p["n_splits"]
        n = len(t) // K
        pairs = list(itertools.combinations(range(K), 2))
        blocks = [[h[k * n : (k + 1) * n] for k in range(K)] for h in hs]
        per_pair = torch.stack(
            [
                torch.stack([distances(blk[a], blk[b], p["distance"]) for a, b in pairs])
                for blk in blocks
            ]
        )  # [layers, pairs, steps]
        if p["pre_alpha"] == "gate" and state.epoch < p["pre_epoch"]:
            weight = torch.stack(
                [
                    torch.stack([net.gate_weights(layer, blk[a], blk[b]) for a, b in pairs])
                    for layer, blk in enumerate(blocks)
                ]
            )  # the gate's importances, per layer and pair
        else:  # alpha: uniform (1 / steps) until boosting starts after pre_epoch
            weight = net.alpha[:, None, :]
        loss = loss + p["dw"] * (weight * per_pair).sum() / len(pairs)
        d = per_pair.detach().sum(dim=1)  # [layers, steps], summed over the pairs
        self._dist_sum = d if self._dist_sum is None else self._dist_sum + d
        return loss
