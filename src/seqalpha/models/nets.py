"""Torch encoders.

Each maps inputs [n, S, f] (or [n, F] for the MLP) to a hidden state [n, out_dim].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from seqalpha.errors import ConfigError


class MLPEncoder(nn.Module):
    """Flattened input [n, ...] -> ReLU layers of sizes `hidden` -> [n, hidden[-1]]."""

    def __init__(self, in_dim: int, hidden: list[int], dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU(), nn.Dropout(dropout)]
            d = h
        self.net = nn.Sequential(*layers)
        self.out_dim = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(len(x), -1))


def _rnn(kind: str, f: int, hidden: int, layers: int, dropout: float) -> nn.Module:
    cls = {"gru": nn.GRU, "lstm": nn.LSTM}[kind]
    return cls(
        f, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
    )


class RNNEncoder(nn.Module):
    """GRU/LSTM over steps [n, S, f]; the last step's output [n, hidden]."""

    def __init__(self, kind: str, f: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.rnn = _rnn(kind, f, hidden, layers, dropout)
        self.out_dim = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0][:, -1]


class AttnRNNEncoder(nn.Module):
    """ALSTM idea: input projection, GRU/LSTM, learnable additive attention over steps;
    [last output, attention-weighted sum] -> [n, 2 * hidden]."""

    def __init__(self, kind: str, f: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(f, hidden), nn.Tanh())
        self.rnn = _rnn(kind, hidden, hidden, layers, dropout)
        self.score = nn.Sequential(
            nn.Linear(hidden, max(hidden // 2, 1)),
            nn.Dropout(dropout),
            nn.Tanh(),
            nn.Linear(max(hidden // 2, 1), 1, bias=False),
        )
        self.out_dim = 2 * hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.rnn(self.proj(x))[0]  # [n, S, H]
        w = torch.softmax(self.score(h), dim=1)  # [n, S, 1]
        return torch.cat([h[:, -1], (w * h).sum(dim=1)], dim=1)


class GRUSelfAttentionEncoder(nn.Module):
    """GRU, then multi-head self-attention over its outputs with a residual and LayerNorm;
    [last step, mean over steps] -> [n, 2 * hidden]."""

    def __init__(self, f: int, hidden: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.rnn = _rnn("gru", f, hidden, layers, dropout)
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(hidden)
        self.out_dim = 2 * hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.rnn(x)[0]
        a = self.attn(h, h, h, need_weights=False)[0]
        z = self.norm(h + a)
        return torch.cat([z[:, -1], z.mean(dim=1)], dim=1)


def sinusoidal_encoding(length: int, d: int) -> torch.Tensor:
    """Fixed positional encoding [length, d]: sin on even, cos on odd channels."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(length, d)
    pe[:, 0::2] = torch.sin(pos * rate)
    pe[:, 1::2] = torch.cos(pos * rate)[:, : d // 2]
    return pe


class TransformerEncoderNet(nn.Module):
    """Linear embedding + positional encoding ("sinusoidal" or "learnable") + Transformer
    encoder layers over steps [n, S, f]; the last step [n, d_model]."""

    def __init__(
        self,
        f: int,
        steps: int,
        d_model: int,
        heads: int,
        layers: int,
        ff: int,
        dropout: float,
        pos_encoding: str,
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(f, d_model)
        if pos_encoding == "learnable":
            self.pos = nn.Parameter(torch.zeros(steps, d_model).normal_(0.0, 0.02))
        else:
            self.register_buffer("pos", sinusoidal_encoding(steps, d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out_dim = d_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.embed(x) + self.pos[: x.shape[1]]
        return self.encoder(z)[:, -1]


class LocalformerEncoderNet(nn.Module):
    """Localformer (pyqlib's `Localformer`): linear embedding + sinusoidal positions; in each
    layer a 1-D convolution over steps (kernel 3, same length) adds local patterns to the
    input of a Transformer encoder layer; a GRU over the result; its last output [n, d_model]."""

    def __init__(
        self, f: int, steps: int, d_model: int, heads: int, layers: int, ff: int, dropout: float
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(f, d_model)
        self.register_buffer("pos", sinusoidal_encoding(steps, d_model), persistent=False)
        self.convs = nn.ModuleList(nn.Conv1d(d_model, d_model, 3, padding=1) for _ in range(layers))
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, heads, ff, dropout, batch_first=True)
            for _ in range(layers)
        )
        self.rnn = _rnn("gru", d_model, d_model, layers, dropout)
        self.out_dim = d_model

    pos: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.embed(x) + self.pos[: x.shape[1]]
        local = torch.zeros_like(z)
        for conv, layer in zip(self.convs, self.layers, strict=True):
            local = conv(z.transpose(1, 2)).transpose(1, 2)
            z = layer(z + local)
        return self.rnn(z + local)[0][:, -1]


class KRNNEncoder(nn.Module):
    """KRNN (pyqlib's `KRNN`): a 1-D convolution over steps (same length) into `cnn_dim`
    channels (an odd `kernel` keeps the length), then `dups` independent GRUs over it whose
    outputs are averaged; the last step [n, hidden]."""

    def __init__(
        self,
        f: int,
        cnn_dim: int,
        kernel: int,
        hidden: int,
        layers: int,
        dups: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(f, cnn_dim, kernel, padding=(kernel - 1) // 2)
        self.rnns = nn.ModuleList(
            _rnn("gru", cnn_dim, hidden, layers, dropout) for _ in range(dups)
        )
        self.out_dim = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return torch.stack([rnn(c)[0][:, -1] for rnn in self.rnns]).mean(dim=0)


class _CausalBlock(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.pad = (k - 1) * dilation
        self.conv1 = nn.Conv1d(cin, cout, k, dilation=dilation)
        self.conv2 = nn.Conv1d(cout, cout, k, dilation=dilation)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [n, C, S]
        y = self.drop(torch.relu(self.conv1(nn.functional.pad(x, (self.pad, 0)))))
        y = self.drop(torch.relu(self.conv2(nn.functional.pad(y, (self.pad, 0)))))
        return torch.relu(y + self.skip(x))


class TCNEncoder(nn.Module):
    """Temporal convolution: causal dilated residual blocks (dilation 2^i) over [n, S, f];
    the last step [n, channels[-1]]."""

    def __init__(self, f: int, channels: list[int], kernel_size: int, dropout: float) -> None:
        super().__init__()
        blocks, c = [], f
        for i, ch in enumerate(channels):
            blocks.append(_CausalBlock(c, ch, kernel_size, 2**i, dropout))
            c = ch
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x.transpose(1, 2))[:, :, -1]


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def run_in_precision(precision: str, fn: Callable[[], Any]) -> Any:
    """fn() under CPU autocast when `precision` is "bf16" (matmuls in bfloat16, e.g. on
    AMX/AVX512-BF16 units); its tensor (or tuple of tensors) returned as float32 either way."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return fn()
    with torch.autocast("cpu", dtype=dtype):
        out = fn()
    return tuple(t.float() for t in out) if isinstance(out, tuple) else out.float()


def _out_dim(encoder: nn.Module) -> int:
    """The width of an encoder's hidden state (its `out_dim`)."""
    d = getattr(encoder, "out_dim", None)
    if not isinstance(d, int):
        raise ConfigError(f"encoder {type(encoder).__name__} has no integer out_dim")
    return d


class _Encoded(nn.Module):
    """A net with an `encoder`; `encode` runs it under CPU autocast when `precision` is "bf16"
    (matmuls in bfloat16, e.g. on AMX/AVX512-BF16 units) and returns float32 either way."""

    precision: str = "fp32"
    encoder: nn.Module

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return run_in_precision(self.precision, lambda: self.encoder(x))


class HeadNet(_Encoded):
    """Encoder + linear head: [n, ...] -> [n, n_out]."""

    def __init__(self, encoder: nn.Module, n_out: int, precision: str = "fp32") -> None:
        super().__init__()
        self.encoder = encoder
        self.precision = precision
        self.head = nn.Linear(_out_dim(encoder), n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(x))


class TRANet(_Encoded):
    """Temporal Routing Adaptor: K linear predictors on a shared encoder, and a router reading
    the encoder state and a GRU summary of each predictor's recent losses [n, hist_len, K]."""

    def __init__(
        self, encoder: nn.Module, num_states: int, router_hidden: int, precision: str = "fp32"
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.precision = precision
        self.predictors = nn.Linear(_out_dim(encoder), num_states)
        self.router_rnn = nn.GRU(num_states, router_hidden, batch_first=True)
        self.router_fc = nn.Linear(_out_dim(encoder) + router_hidden, num_states)

    def route(self, hidden: torch.Tensor, hist: torch.Tensor) -> torch.Tensor:
        """Router logits [n, K] from hidden [n, D] (detached) and loss history [n, L, K]."""
        r = self.router_rnn(hist)[0][:, -1]
        return self.router_fc(torch.cat([hidden.detach(), r], dim=1))

    def forward(self, x: torch.Tensor, hist: torch.Tensor):
        """(all predictions [n, K], router logits [n, K]) of inputs x and loss history."""
        h = self.encode(x)
        return self.predictors(h), self.route(h, hist)
