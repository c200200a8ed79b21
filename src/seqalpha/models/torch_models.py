"""Torch models behind one interface, all trained by `seqalpha.models.loop.fit_torch`.

Inputs come from `seqalpha.dataset.sequence` (NaN filled with 0). Heads: "regression" (one
output per label column when `multi_label`, the score is column `label_col`) or
"classification" (softmax over bins of label `label_col`; score = expected class value).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from seqalpha.dataset.core import SampleSet
from seqalpha.dataset.sequence import (
    InputSpec,
    _gather_windows,
    day_batches,
    gather_inputs,
    row_batches,
)
from seqalpha.errors import ConfigError, DataError
from seqalpha.models import losses
from seqalpha.models.base import Model
from seqalpha.models.loop import LoopConfig, LoopState, fit_torch, torch_session
from seqalpha.models.nets import (
    AttnRNNEncoder,
    GRUSelfAttentionEncoder,
    HeadNet,
    KRNNEncoder,
    LocalformerEncoderNet,
    MLPEncoder,
    RNNEncoder,
    TCNEncoder,
    TRANet,
    TransformerEncoderNet,
)
from seqalpha.models.registry import register_model


class TorchModel(Model):
    """Shared machinery of the torch zoo: input spec, heads, losses, the loop adapter, save/load."""

    input_kind = "daily_seq"
    PARAMS: ClassVar[dict[str, Any]] = {
        "threads": 2,
        "device": "cpu",
        "epochs": 20,
        "lr": 1e-3,
        "weight_decay": 0.0,
        "grad_clip": 3.0,
        "patience": 5,
        "early_stop_metric": "icir",
        "progress": True,
        "days_per_batch": 1,
        "max_stocks": None,
        "eval_days_per_batch": 16,
        "batch": "day",
        "batch_size": 800,
        "input_kind": None,
        "seq_layout": "window",
        "seq_len": 20,
        "n_fields": 6,
        "head": "regression",
        "multi_label": True,
        "label_col": 0,
        "loss": "auto",
        "label_weights": None,
        "bins": None,
        "class_values": None,
        "dropout": 0.0,
        "checkpoint_dir": None,
        "precision": "fp32",
    }
    CHOICES: ClassVar[dict[str, tuple]] = {
        "device": ("cpu",),
        "head": ("regression", "classification"),
        "loss": ("auto", "mse", "wmse", "ic", "ce"),
        "seq_layout": ("window", "columns"),
        "batch": ("day", "rows"),
        "precision": ("fp32", "bf16"),
        "input_kind": (None, "tabular", "daily_seq", "intraday_seq"),
        "early_stop_metric": losses.METRICS,
    }

    def validate_params(self) -> None:
        p = self.params
        if p["input_kind"] is not None:
            self.input_kind = p["input_kind"]
        name = self.registered_name
        if p["head"] == "classification" and p["loss"] not in ("auto", "ce"):
            raise ConfigError(f"model {name!r}: param 'loss' = {p['loss']!r} needs head=regression")
        if p["head"] == "regression" and p["loss"] == "ce":
            raise ConfigError(f"model {name!r}: param 'loss' = 'ce' needs head=classification")
        if p["bins"] is not None and list(p["bins"]) != sorted(p["bins"]):
            raise ConfigError(f"model {name!r}: param 'bins' must be increasing, got {p['bins']}")
        if p["batch"] == "rows" and p["loss"] == "ic":
            raise ConfigError(
                f"model {name!r}: param 'loss' = 'ic' is a per-day correlation and "
                f"needs batch='day' (whole cross-sections), not batch='rows'"
            )
        if p["dropout"] < 0 or p["dropout"] >= 1:
            raise ConfigError(f"model {name!r}: param 'dropout' = {p['dropout']} outside [0, 1)")
        self.spec = InputSpec(self.input_kind, p["seq_layout"], p["seq_len"], p["n_fields"])
        self.loop_config()  # validates the loop params early

    def loop_config(self) -> LoopConfig:
        p = self.params
        return LoopConfig(
            epochs=p["epochs"],
            lr=p["lr"],
            weight_decay=p["weight_decay"],
            grad_clip=p["grad_clip"],
            patience=p["patience"],
            early_stop_metric=p["early_stop_metric"],
            seed=p["seed"],
            threads=p["threads"],
            progress=p["progress"],
            checkpoint_dir=p["checkpoint_dir"],
        )

    # ------------------------------------------------------------ network
    def build_encoder(self, step_shape: tuple[int, ...]) -> nn.Module:
        raise NotImplementedError

    def build_net(self, step_shape: tuple[int, ...], n_out: int) -> nn.Module:
        return HeadNet(self.build_encoder(step_shape), n_out, self.params["precision"])

    # ------------------------------------------------------------ targets
    def _setup_targets(self, train: SampleSet) -> None:
        """Decide output columns, classes and loss weights from the training labels."""
        p = self.params
        H = train.known_labels().shape[2]
        if not 0 <= p["label_col"] < H:
            raise ConfigError(
                f"model {self.registered_name!r}: param 'label_col' = "
                f"{p['label_col']} but the set has {H} label columns {train.label_names}"
            )
        if p["head"] == "classification":
            bins = p["bins"]
            if bins is None:  # quintile edges of the training label
                t0, t1 = train.rows
                y = train.known_labels()[t0:t1, :, p["label_col"]][train.mask[t0:t1]]
                y = y[np.isfinite(y)]
                if len(y) == 0:
                    raise DataError("classification head: no finite training labels")
                bins = np.quantile(y, [0.2, 0.4, 0.6, 0.8]).tolist()
            C = len(bins) + 1
            cv = p["class_values"]
            if cv is None:
                cv = (np.arange(C) - (C - 1) / 2).tolist()
            if len(cv) != C:
                raise ConfigError(
                    f"model {self.registered_name!r}: param 'class_values' has "
                    f"{len(cv)} values for {C} classes (bins {bins})"
                )
            self.targets: dict[str, Any] = {
                "cols": [p["label_col"]],
                "bins": [float(b) for b in bins],
                "class_values": [float(v) for v in cv],
                "n_out": C,
                "score_col": None,
            }
        else:
            cols = list(range(H)) if p["multi_label"] else [p["label_col"]]
            w = p["label_weights"]
            if w is not None and len(w) != len(cols):
                raise ConfigError(
                    f"model {self.registered_name!r}: param 'label_weights' has "
                    f"{len(w)} values for {len(cols)} label columns"
                )
            self.targets = {
                "cols": cols,
                "n_out": len(cols),
                "score_col": cols.index(p["label_col"]),
                "weights": [float(v) for v in w] if w is not None else None,
            }

    def _loss_name(self) -> str:
        loss = self.params["loss"]
        if loss == "auto":
            return "ce" if self.params["head"] == "classification" else "mse"
        return loss

    def scores_from_output(self, out: torch.Tensor) -> torch.Tensor:
        """Network output [n, n_out] -> scores [n]."""
        if self.params["head"] == "classification":
            cv = torch.tensor(self.targets["class_values"], dtype=out.dtype)
            return torch.softmax(out, dim=1) @ cv
        return out[:, self.targets["score_col"]]

    # ------------------------------------------------------------ loop adapter
    def batches(
        self, data: SampleSet, train: bool, rng: np.random.Generator
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        p = self.params
        if train and p["batch"] == "rows":
            return row_batches(data, rng, p["batch_size"], label_col=p["label_col"])
        if train:
            return day_batches(
                data, True, rng, p["days_per_batch"], p["max_stocks"], label_col=p["label_col"]
            )
        return day_batches(data, False, None, p["eval_days_per_batch"])

    def inputs(self, data: SampleSet, batch: tuple[np.ndarray, np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(gather_inputs(data, self.spec, batch[0], batch[1]))

    def batch_loss(
        self, data: SampleSet, batch: tuple[np.ndarray, np.ndarray], state: LoopState
    ) -> torch.Tensor:
        t, i = batch
        out = self.net(self.inputs(data, batch))
        y = torch.from_numpy(
            np.ascontiguousarray(data.known_labels()[t, i][:, self.targets["cols"]])
        )
        name = self._loss_name()
        if name == "ce":
            yy = y[:, 0].numpy()
            cls = np.digitize(yy, self.targets["bins"]).astype(np.int64)
            cls[~np.isfinite(yy)] = -1
            return losses.cross_entropy(out, torch.from_numpy(cls))
        if name == "ic":
            sc = self.targets["score_col"]
            return losses.ic_loss(out[:, sc], y[:, sc], torch.from_numpy(t))
        if name == "wmse" and self.targets["weights"] is not None:
            return losses.weighted_mse(out, y, torch.tensor(self.targets["weights"]))
        return losses.mse(out, y)

    def predict_scores(self, data: SampleSet) -> np.ndarray:
        t0, t1 = data.rows
        res = np.full((t1 - t0, len(data.instruments)), np.nan, dtype=np.float32)
        self.net.eval()
        with torch.no_grad():
            for b in self.batches(data, False, np.random.default_rng(0)):
                res[b[0] - t0, b[1]] = self.scores_from_output(
                    self.net(self.inputs(data, b))
                ).numpy()
        return res

    def metric_labels(self, data: SampleSet) -> np.ndarray:
        t0, t1 = data.rows
        y = data.known_labels()[t0:t1, :, self.params["label_col"]]
        return np.where(data.mask[t0:t1], y, np.nan)

    # ------------------------------------------------------------ interface
    def fit(self, train: SampleSet, valid: SampleSet | None = None) -> None:
        """Train on day batches of `train`, early-stopping on `valid` (see LoopConfig)."""
        if train.labels is None:
            raise DataError(f"model {self.registered_name!r}: fit needs a labelled train set")
        self._setup_targets(train)
        self.step_shape = tuple(int(s) for s in self.spec.step_shape(train))
        with torch_session(self.params["seed"], self.params["threads"]):
            self.net = self.build_net(self.step_shape, self.targets["n_out"])
        self.result = fit_torch(self, train, valid, self.loop_config())
        self.fitted = True

    def predict(self, data: SampleSet) -> np.ndarray:
        """Scores float32 [t1 - t0, N] aligned to data.dates[t0:t1]; NaN outside the mask."""
        self._require_fitted("predict")
        got = tuple(int(s) for s in self.spec.step_shape(data))
        if got[-1] != self.step_shape[-1]:
            raise DataError(
                f"model {self.registered_name!r}: inputs have {got[-1]} features per "
                f"step, the model was fitted on {self.step_shape[-1]}"
            )
        with torch_session(self.params["seed"], self.params["threads"]):
            return self.predict_scores(data)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return dict(self.net.state_dict())

    def extra_config(self) -> dict[str, Any]:
        return {"step_shape": list(self.step_shape), "targets": self.targets}

    def load_state(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        self.validate_params()
        self.step_shape = tuple(extra["step_shape"])
        self.targets = extra["targets"]
        with torch_session(self.params["seed"], self.params["threads"]):
            self.net = self.build_net(self.step_shape, self.targets["n_out"])
        self.net.load_state_dict(tensors)
        self.net.eval()


def _steps_features(step_shape: tuple[int, ...]) -> tuple[int, int]:
    if len(step_shape) != 2:
        raise ConfigError(
            f"a sequence model needs inputs [steps, features], got {step_shape}; "
            "set input_kind to daily_seq or intraday_seq"
        )
    return step_shape[0], step_shape[1]


def _check_heads(model: TorchModel, width: str) -> None:
    """Attention splits `width` across `num_heads`: a ConfigError unless it divides evenly."""
    if model.params[width] % model.params["num_heads"]:
        raise ConfigError(
            f"model {model.registered_name!r}: param {width!r} must be a multiple of 'num_heads'"
        )


@register_model("mlp")
class MLPModel(TorchModel):
    """Feed-forward net on one day's features [F] (or a flattened sequence)."""

    input_kind = "tabular"
    PARAMS: ClassVar[dict[str, Any]] = {"hidden_sizes": [256, 128], "dropout": 0.0}

    def build_encoder(self, step_shape: tuple[int, ...]) -> nn.Module:
        return MLPEncoder(
            int(np.prod(step_shape)), list(self.params["hidden_sizes"]), self.params["dropout"]
        )


class _RNNBase(TorchModel):
    kind = "gru"
    PARAMS: ClassVar[dict[str, Any]] = {"hidden_size": 64, "num_layers": 2}

    def build_encoder(self, step_shape: tuple[int, ...]) -> nn.Module:
        _, f = _steps_features(step_shape)
        p = self.params
        return RNNEncoder(self.kind, f, p["hidden_size"], p["num_layers"], p["dropout"])


@register_model("gru")
class GRUModel(_RNNBase):
    """GRU over steps; the last hidden output feeds the head."""

    kind = "gru"


@register_model("lstm")
class LSTMModel(_RNNBase):
    """LSTM over steps; the last hidden output feeds the head."""

    kind = "lstm"


@register_model("alstm")
class ALSTMModel(TorchModel):
    """GRU (or LSTM, `rnn`) with learnable attention over steps (Qlib's ALSTM idea)."""

    PARAMS: ClassVar[dict[str, Any]] = {"hidden_size": 64, "num_layers": 2, "rnn": "gru"}
    CHOICES: ClassVar[dict[str, tuple]] = {"rnn": ("gru", "lstm")}

    def build_encoder(self, step_shape: tuple[int, ...]) -> nn.Module:
        _, f = _steps_features(step_shape)
        p = self.params
        return AttnRNNEncoder(p["rnn"], f, p["hidden_size"], p["num_layers"], p["dropout"])


@register_model("gru_self_attention")
class GRUSelfAttentionModel(TorchModel):
    """GRU followed by multi-head self-attention over its outputs."""

    PARAMS: ClassVar[dict[str, Any]] = {"hidden_size": 64, "num_layers": 1, "num_heads": 4}

    def validate_params(self) -> None:
        super().validate_params()
        _check_heads(self, "hidden_size")

    def build_encoder(self, step_shape: tuple[int, ...]) -> nn.Module:
        _, f = _steps_features(step_shape)
        p = self.params
        return GRUSelfAttentionEncoder(
            f, p["hidden_size"], p["num_layers"], p["num_heads"], p["dropout"]
        )


@register_model("transformer")
class TransformerModel(TorchModel):
    """Transformer encoder over steps with sinusoidal or learnable positional encoding."""

    PARAMS: ClassVar[dict[str, Any]] = {
        "d_model": 32,
        "num_heads": 4,
        "num_layers": 2,
        "dim_feedforward": 64,
        "pos_encoding": "learnable",
    }
    CHOICES: ClassVar[dict[str, tuple]] = {"pos_encoding": ("sinusoidal", "learnable")}

    def validate_params(self) -> None:
        super().validate_params()
        _check_heads(self, "d_model")

    def build_encoder(self, step_shape: tuple[int, ...]) -> nn.Module:
        S, f = _steps_features(step_shape)
        p = self.params
        return TransformerEncoderNet(
            f,
            S,
            p["d_model"],
            p["num_heads"],
            p["num_layers"],
            p["dim_feedforward"],
            p["dropout"],
            p["pos_encoding"],
        )


@register_model("localformer")
class LocalformerModel(TorchModel):
    """Transformer layers whose inputs gain a local convolution, then a GRU (pyqlib's
    Localformer)."""

    PARAMS: ClassVar[dict[str, Any]] = {
        "d_model": 64,
        "num_heads": 2,
        "num_layers": 2,
        "dim_feedforward": 2048,  # pyqlib's (torch's default for an encoder layer)
    }

    def validate_params(self) -> None:
        super().validate_params()
        _check_heads(self, "d_model")

    def build_encoder(self, step_shape: tuple[int, ...]) -> nn.Module:
        S, f = _steps_features(step_shape)
        p = self.params
        return LocalformerEncoderNet(
            f,
            S,
            p["d_model"],
            p["num_heads"],
            p["num_layers"],
            p["dim_feedforward"],
            p["dropout"],
        )


@register_model("krnn")
class KRNNModel(TorchModel):
    """A convolution over steps, then `rnn_dups` GRUs averaged (pyqlib's KRNN)."""

    PARAMS: ClassVar[dict[str, Any]] = {
        "cnn_dim": 64,
        "cnn_kernel_size": 3,
        "hidden_size": 64,
        "num_layers": 2,
        "rnn_dups": 3,
    }

    def validate_params(self) -> None:
        super().validate_params()
        if self.params["cnn_kernel_size"] % 2 == 0:
            raise ConfigError(
                f"model 'krnn': param 'cnn_kernel_size' = {self.params['cnn_kernel_size']} "
                "must be odd (a same-length convolution)"
            )

    def build_encoder(self, step_shape: tuple[int, ...]) -> nn.Module:
        _, f = _steps_features(step_shape)
        p = self.params
        return KRNNEncoder(
            f,
            p["cnn_dim"],
            p["cnn_kernel_size"],
            p["hidden_size"],
            p["num_layers"],
            p["rnn_dups"],
            p["dropout"],
        )


@register_model("tcn")
class TCNModel(TorchModel):
    """Temporal convolutional network: causal dilated residual blocks."""

    PARAMS: ClassVar[dict[str, Any]] = {"channels": [32, 32, 32], "kernel_size": 3}

    def build_encoder(self, step_shape: tuple[int, ...]) -> nn.Module:
        _, f = _steps_features(step_shape)
        return TCNEncoder(
            f, list(self.params["channels"]), self.params["kernel_size"], self.params["dropout"]
        )


def sinkhorn(cost: torch.Tensor, epsilon: float, iters: int = 3) -> torch.Tensor:
    """Entropy-regularised optimal transport plan [n, K] for cost [n, K]: rows sum to 1,
    columns to about n / K (uniform predictor marginals); computed in log space."""
    with torch.no_grad():
        logp = -cost / epsilon
        for _ in range(iters):
            logp = logp - torch.logsumexp(logp, dim=0, keepdim=True)
            logp = logp - torch.logsumexp(logp, dim=1, keepdim=True)
        return logp.exp()


@register_model("tra")
class TRAModel(TorchModel):
    """Temporal Routing Adaptor (Lin et al., KDD 2021) on a GRU/LSTM/ALSTM encoder.

    K predictors share the encoder; a router reads the encoder state and each sample's history
    of the K predictors' losses (dates up to t - `history_delay`, when those labels are known).
    `history_delay` defaults to the data's `label_reach` (offset + horizon; 2 when the set does
    not say); a smaller value than the reach would read unrealized labels and is refused.
    Training adds the Sinkhorn OT assignment as an auxiliary loss weighted by
    lamb * rho ** epoch. Single label column (`label_col`), regression head only.
    """

    PARAMS: ClassVar[dict[str, Any]] = {
        "hidden_size": 64,
        "num_layers": 2,
        "backbone": "gru",
        "num_states": 3,
        "hist_len": 10,
        "history_delay": None,
        "router_hidden": 16,
        "lamb": 1.0,
        "rho": 0.9,
        "tau": 1.0,
        "sinkhorn_epsilon": 0.01,
        "inference": "weighted",
        "memory": "sample",
        "gumbel": True,
        "assigned_fit": 0.0,
    }
    CHOICES: ClassVar[dict[str, tuple]] = {
        "backbone": ("gru", "lstm", "alstm"),
        "inference": ("weighted", "argmax"),
        "memory": ("sample", "market"),
    }

    def validate_params(self) -> None:
        super().validate_params()
        p = self.params
        if p["head"] != "regression" or p["loss"] not in ("auto", "mse"):
            raise ConfigError("model 'tra': only head='regression' with loss 'mse' is supported")
        if (
            p["num_states"] < 1
            or p["hist_len"] < 1
            or (p["history_delay"] is not None and p["history_delay"] < 1)
        ):
            raise ConfigError(
                "model 'tra': params 'num_states', 'hist_len', 'history_delay' must be >= 1"
            )
        if p["memory"] == "market" and p["batch"] == "day" and p["days_per_batch"] < 2:
            raise ConfigError(
                "model 'tra': memory 'market' assigns whole days to predictors and "
                "needs param 'days_per_batch' >= 2 (or batch 'rows')"
            )
        self.params["multi_label"] = False

    def build_net(self, step_shape: tuple[int, ...], n_out: int) -> nn.Module:
        _, f = _steps_features(step_shape)
        p = self.params
        if p["backbone"] == "alstm":
            enc: nn.Module = AttnRNNEncoder(
                "gru", f, p["hidden_size"], p["num_layers"], p["dropout"]
            )
        else:
            enc = RNNEncoder(p["backbone"], f, p["hidden_size"], p["num_layers"], p["dropout"])
        return TRANet(enc, p["num_states"], p["router_hidden"], p["precision"])

    @property
    def _tra(self) -> TRANet:
        """The fitted network as a TRANet (its predictors, encoder and router)."""
        if not isinstance(self.net, TRANet):
            raise ConfigError(f"model {self.registered_name!r}: the network is not fitted")
        return self.net

    def _delay(self, data: SampleSet) -> int:
        """Days between a sample and the newest loss its router may read: `history_delay`, or
        the set's label reach; ConfigError when the given delay would read unrealized labels."""
        given = self.params["history_delay"]
        if given is None:
            return data.label_reach if data.label_reach > 0 else 2
        if given < data.label_reach:
            raise ConfigError(
                f"model 'tra': param 'history_delay' = {given} is shorter than the label reach "
                f"({data.label_reach} days): the router would read labels not yet realized"
            )
        return int(given)

    def _hist(self, memory: np.ndarray, t: np.ndarray, i: np.ndarray) -> torch.Tensor:
        """Loss history [n, hist_len, K] ending at t - delay (zeros where unknown); with
        memory "market", `memory` is the day-level history [T, 1, K] and every stock reads it."""
        if self.params["memory"] == "market":
            i = np.zeros_like(i)
        h = _gather_windows(memory, t - self.delay, i, self.params["hist_len"])
        return torch.from_numpy(np.nan_to_num(h, nan=0.0))

    @staticmethod
    def _day_means(memory: np.ndarray) -> np.ndarray:
        """[T, N, K] per-sample losses -> [T, 1, K] cross-sectional means (NaN: no sample)."""
        n = np.isfinite(memory).sum(axis=1, keepdims=True)
        total = np.nansum(memory, axis=1, keepdims=True)
        return np.where(n > 0, total / np.maximum(n, 1), np.nan).astype(np.float32)

    @staticmethod
    def _centred(day_means: np.ndarray) -> np.ndarray:
        """Day means minus their mean over the K predictors: which predictor did better."""
        return day_means - day_means.mean(axis=2, keepdims=True)

    @classmethod
    def _spread(cls, day_means: np.ndarray) -> float:
        """Standard deviation of the centred day means (0 when there is none yet)."""
        m = cls._centred(day_means)
        return float(np.nanstd(m)) if np.isfinite(m).any() else 0.0

    @classmethod
    def _relative(cls, day_means: np.ndarray, scale: float) -> np.ndarray:
        """Centred day means divided by `scale`, the spread of the training memory: the router
        reads which predictor did relatively better at a scale a GRU picks up (raw differences
        are ~1e-2), and no later day changes an earlier input."""
        m = cls._centred(day_means)
        return (m / scale if scale > 0 else m).astype(np.float32)

    def _memory_for_router(self, memory: np.ndarray) -> np.ndarray:
        if self.params["memory"] == "market":
            return self._relative(self._day_means(memory), self.memory_scale)
        return memory

    def extra_config(self) -> dict[str, Any]:
        return {**super().extra_config(), "memory_scale": self.memory_scale}

    def load_state(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        super().load_state(tensors, extra)
        self.memory_scale = float(extra.get("memory_scale", 0.0))

    def _prob(self, logits: torch.Tensor, train: bool = False) -> torch.Tensor:
        """Routing probabilities; in training, Gumbel-softmax samples when `gumbel` (the
        paper's exploration, which lets the predictors specialise)."""
        if train and self.params["gumbel"]:
            return torch.nn.functional.gumbel_softmax(logits, tau=self.params["tau"], dim=1)
        return torch.softmax(logits / self.params["tau"], dim=1)

    def _assignment(self, L: torch.Tensor, t: np.ndarray) -> torch.Tensor:
        """Sinkhorn sample-to-predictor plan [n, K] from the normalised losses L [n, K]; with
        memory "market" whole days are assigned, from the day's mean loss per predictor."""
        eps = self.params["sinkhorn_epsilon"]
        if self.params["memory"] != "market":
            return sinkhorn(L, eps)
        days, inv = np.unique(t, return_inverse=True)
        idx = torch.from_numpy(inv.astype(np.int64))
        count = torch.bincount(idx, minlength=len(days)).to(L.dtype)[:, None]
        Ld = torch.zeros(len(days), L.shape[1], dtype=L.dtype).index_add_(0, idx, L) / count
        Ld = Ld - Ld.min(dim=1, keepdim=True).values
        Ld = Ld / (Ld.mean() + 1e-12)  # scale-free: epsilon acts on relative day losses
        return sinkhorn(Ld, eps)[idx]

    def fit(self, train: SampleSet, valid: SampleSet | None = None) -> None:
        """Train encoder, predictors and router; the loss memory is indexed like train.mask."""
        self.delay = self._delay(train)
        self.memory = np.full((*train.mask.shape, self.params["num_states"]), np.nan, np.float32)
        super().fit(train, valid)  # `batches` fills day_memory and memory_scale each epoch
        del self.memory, self.day_memory

    def batches(
        self, data: SampleSet, train: bool, rng: np.random.Generator
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The loop asks for the training batches once per epoch: refresh the loss memory of
        every training sample with the current predictors first, so that the router learns from
        a coherent history instead of losses left by older weights."""
        if train:
            self._refresh_memory(data)
        return super().batches(data, train, rng)

    def _refresh_memory(self, data: SampleSet) -> None:
        p = self.params
        self.net.eval()
        with torch.no_grad():
            for t, i in day_batches(
                data, True, None, p["eval_days_per_batch"], label_col=p["label_col"]
            ):
                pr = self._tra.predictors(self._tra.encode(self.inputs(data, (t, i))))
                y = torch.from_numpy(
                    np.ascontiguousarray(data.known_labels()[t, i, p["label_col"]])
                )
                L = (pr - y[:, None]).pow(2)
                self.memory[t, i] = (L - L.min(dim=1, keepdim=True).values).numpy()
        self.day_memory = self._day_means(self.memory)
        self.memory_scale = self._spread(self.day_memory)
        self.net.train()

    def batch_loss(
        self, data: SampleSet, batch: tuple[np.ndarray, np.ndarray], state: LoopState
    ) -> torch.Tensor:
        t, i = batch
        p = self.params
        router_mem = (
            self._relative(self.day_memory, self.memory_scale)
            if p["memory"] == "market"
            else self.memory
        )
        preds, logits = self.net(self.inputs(data, batch), self._hist(router_mem, t, i))
        y = torch.from_numpy(np.ascontiguousarray(data.known_labels()[t, i, p["label_col"]]))
        prob = self._prob(logits, train=True)
        loss = losses.mse((preds * prob).sum(dim=1), y)
        L = (preds.detach() - y[:, None]).pow(2)
        L = L - L.min(dim=1, keepdim=True).values  # normalised per sample, >= 0
        self.memory[t, i] = L.numpy()
        if p["memory"] == "market":
            days = np.unique(t)
            self.day_memory[days] = self._day_means(self.memory[days])
        P = self._assignment(L, t)
        lamb = p["lamb"] * p["rho"] ** state.epoch
        reg = (torch.log(prob.clamp(min=1e-12)) * P).sum(dim=1).mean()
        if p["assigned_fit"] > 0:
            # each sample (day) also trains the predictor the plan assigns it to
            loss = loss + lamb * p["assigned_fit"] * losses.mse((preds * P).sum(dim=1), y)
        return loss - lamb * reg

    def predict_scores(self, data: SampleSet) -> np.ndarray:
        """Two passes: all predictors over the rows and their history (to rebuild the loss memory
        from labels already known), then the router on that memory."""
        p = self.params
        t0, t1 = data.rows
        self.delay = self._delay(data)
        h0 = max(0, t0 - self.delay - p["hist_len"] + 1)
        ext = data.with_rows(h0, t1)
        K = p["num_states"]
        memory = np.full((*data.mask.shape, K), np.nan, np.float32)
        hidden, allp, index = [], [], []
        self.net.eval()
        with torch.no_grad():
            for b in day_batches(ext, False, None, p["eval_days_per_batch"]):
                h = self._tra.encode(self.inputs(ext, b))
                pr = self._tra.predictors(h)
                if data.labels is not None:
                    y = torch.from_numpy(
                        np.ascontiguousarray(data.labels[b[0], b[1], p["label_col"]])
                    )
                    L = (pr - y[:, None]).pow(2)
                    memory[b[0], b[1]] = (L - L.min(dim=1, keepdim=True).values).numpy()
                keep = b[0] >= t0
                if keep.any():
                    k = torch.from_numpy(keep)
                    hidden.append(h[k])
                    allp.append(pr[k])
                    index.append((b[0][keep], b[1][keep]))
            res = np.full((t1 - t0, len(data.instruments)), np.nan, dtype=np.float32)
            router_mem = self._memory_for_router(memory)
            for h, pr, (t, i) in zip(hidden, allp, index, strict=False):
                prob = self._prob(self._tra.route(h, self._hist(router_mem, t, i)))
                if p["inference"] == "argmax":
                    s = pr.gather(1, prob.argmax(dim=1, keepdim=True))[:, 0]
                else:
                    s = (pr * prob).sum(dim=1)
                res[t - t0, i] = s.numpy()
        return res
