"""Deep factor model (Nakagawa et al. 2018): an MLP from one day's factor exposures [F] to the
forward return, trained on the one loop, explained by layer-wise relevance propagation.

Relevance comes from captum's LRP (`captum.attr.LRP`: the epsilon rule on every `nn.Linear`,
ReLU and Dropout passed through), never from hand-written propagation rules. With `bias`
false (the default) the network is a chain of bias-free Linear + ReLU layers, so the epsilon
rule conserves relevance: a sample's relevances over its factors sum to its score. With biases,
the biases absorb part of the score (`relevance` reports that remainder).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from seqalpha.dataset.core import SampleSet
from seqalpha.dataset.sequence import day_batches
from seqalpha.errors import ConfigError
from seqalpha.models.loop import torch_session
from seqalpha.models.registry import register_model
from seqalpha.models.torch_models import TorchModel


class DeepFactorNet(nn.Sequential):
    """[n, F] -> (Linear -> ReLU -> Dropout) per hidden size -> Linear -> [n, 1]; only layers
    captum's LRP has rules for."""

    def __init__(self, n_in: int, hidden: list[int], dropout: float, bias: bool) -> None:
        layers: list[nn.Module] = []
        d = n_in
        for h in hidden:
            layers += [nn.Linear(d, h, bias=bias), nn.ReLU(), nn.Dropout(dropout)]
            d = h
        layers.append(nn.Linear(d, 1, bias=bias))
        super().__init__(*layers)


@register_model("deep_factor")
class DeepFactorModel(TorchModel):
    """MLP on factor exposures (tabular inputs, one label column), LRP-explainable."""

    input_kind = "tabular"
    PARAMS: ClassVar[dict[str, Any]] = {
        "hidden_sizes": [64, 32],
        "dropout": 0.0,
        "bias": False,
        "lrp_epsilon": 1e-9,
        "batch": "rows",
        "batch_size": 2048,
        "lr": 1e-3,
        "weight_decay": 1e-5,
    }

    def validate_params(self) -> None:
        p = self.params
        if p["input_kind"] not in (None, "tabular"):
            raise ConfigError("model 'deep_factor': param 'input_kind' must be 'tabular'")
        if p["head"] != "regression" or p["loss"] not in ("auto", "mse", "ic"):
            raise ConfigError(
                "model 'deep_factor': only head='regression' with loss 'mse' or 'ic' is supported"
            )
        if p["precision"] != "fp32":
            raise ConfigError("model 'deep_factor': param 'precision' must be 'fp32' (LRP)")
        if not p["hidden_sizes"] or any(int(h) < 1 for h in p["hidden_sizes"]):
            raise ConfigError("model 'deep_factor': param 'hidden_sizes' must be sizes >= 1")
        if p["lrp_epsilon"] <= 0:
            raise ConfigError("model 'deep_factor': param 'lrp_epsilon' must be > 0")
        self.params["multi_label"] = False  # one output: the score LRP explains
        super().validate_params()

    def build_net(self, step_shape: tuple[int, ...], n_out: int) -> nn.Module:
        p = self.params
        hidden = [int(h) for h in p["hidden_sizes"]]
        return DeepFactorNet(int(np.prod(step_shape)), hidden, p["dropout"], p["bias"])

    def relevance(
        self, data: SampleSet
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """LRP relevance of every input factor for every sample of `data.rows` with inputs.

        Returns (relevance float32 [n, F], score float32 [n], (t, i) int64 [n]): relevance[k, f]
        is factor f's share of sample k's score under the epsilon rule; with `bias` false each
        row sums to the score (up to float error)."""
        from captum.attr import LRP
        from captum.attr._utils.lrp_rules import EpsilonRule

        self._require_fitted("relevance")
        rels, scores, ts, is_ = [], [], [], []
        with torch_session(self.params["seed"], self.params["threads"]):
            self.net.eval()
            for layer in self.net.modules():
                if isinstance(layer, nn.Linear):
                    layer.rule = EpsilonRule(epsilon=self.params["lrp_epsilon"])
            lrp = LRP(self.net)
            for t, i in day_batches(data, False, None, self.params["eval_days_per_batch"]):
                x = self.inputs(data, (t, i)).requires_grad_(True)
                with torch.no_grad():
                    scores.append(self.net(x)[:, 0].numpy())
                rels.append(lrp.attribute(x, target=0).detach().numpy())
                ts.append(t)
                is_.append(i)
            for layer in self.net.modules():
                if hasattr(layer, "rule"):
                    del layer.rule
        F = self.step_shape[-1]
        if not rels:
            none = np.zeros(0, dtype=np.int64)
            return np.zeros((0, F), np.float32), np.zeros(0, np.float32), (none, none)
        return (
            np.concatenate(rels).astype(np.float32),
            np.concatenate(scores).astype(np.float32),
            (np.concatenate(ts).astype(np.int64), np.concatenate(is_).astype(np.int64)),
        )
