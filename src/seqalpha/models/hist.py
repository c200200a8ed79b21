"""HIST (Xu et al. 2021): a GRU encoder, a predefined-concept module, a hidden-concept module on
its residual and an individual module; the three forecasts are summed.

Predefined concepts are industries read from data files, point in time: the Shenwan industry in
force on each date (`cn_meta/industry_sw_pit.csv`, never a later vintage), each member weighted
by its market cap of that date (`seqalpha.data.reference.industry_and_size`; a synthetic store's
daily `industry` and `mktcap` fields). A stock with no industry on a date (code -1) belongs to
no concept that day: it adds nothing to any concept's representation, but still reads the
concepts through its similarity to them like every stock. A member with no market cap that day
counts with the median cap of the day's members (equal weights when none is known).

The hidden-concept module links each stock to its most similar other stock of the day. HIST
measures that similarity on the residual hidden states (`links: hidden`, the paper's). With
`links: comovement` (an extension) it is measured on the inputs instead: the cosine of two stocks'
input sequences, each field standardised over the window, i.e. the mean correlation of their
paths (co-movement); the concepts still aggregate the residual hidden states. Stocks that move
together are linked even when the encoder has not learned to make their hidden states alike.
`link_window` measures that co-movement over a longer trailing window of the day-row inputs, and
`link_k` links each stock to its k most similar stocks (the paper: 1).

In the paper a stock reads every concept through a softmax of its similarity to them
(`read: similarity`), so a member's own concept is only one of many in the mix. With
`read: membership` a member reads its own predefined concept (a stock without one still reads them
by similarity) and, in the hidden-concept module, the stocks it linked to.

The cross-sectional modules work on whole days: training uses day batches (`batch: day`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from seqalpha.dataset.core import SampleSet
from seqalpha.dataset.sequence import day_batches, gather_inputs
from seqalpha.errors import ConfigError, DataError
from seqalpha.models import losses
from seqalpha.models.loop import LoopState
from seqalpha.models.nets import RNNEncoder, _Encoded
from seqalpha.models.registry import register_model
from seqalpha.models.torch_models import TorchModel, _steps_features


def day_groups(t: np.ndarray) -> list[np.ndarray]:
    """Positions of each distinct day of a batch's date index t [n], days in order."""
    order = np.argsort(t, kind="stable")
    _, start = np.unique(t[order], return_index=True)
    return np.split(order, start[1:])


def comovement_keys(x: torch.Tensor) -> torch.Tensor:
    """Keys [n, S * f] of input sequences x [n, S, f]: each field standardised over the steps,
    so that the cosine of two keys is the mean correlation of their fields' paths."""
    z = x - x.mean(dim=1, keepdim=True)
    z = z / z.std(dim=1, correction=0, keepdim=True).clamp(min=1e-6)  # one step: zeros
    return z.flatten(1)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity matrix [m, k] of rows a [m, H] and b [k, H]."""
    a = a / a.norm(dim=1, keepdim=True).clamp(min=1e-6)
    b = b / b.norm(dim=1, keepdim=True).clamp(min=1e-6)
    return a @ b.t()


class HISTNet(_Encoded):
    """Encoder -> predefined-concept, hidden-concept and individual modules -> summed forecast.

    `forward(x [n, S, f], groups, code [n], weight [n])` -> scores [n]; `groups` lists the
    positions of each day (the concept modules act within a day's cross-section). `links`:
    what the hidden-concept module's similarity reads, `hidden` (residual states) or
    `comovement` (the inputs' paths).
    """

    def __init__(
        self,
        encoder: nn.Module,
        hidden: int,
        sim_scale: float,
        precision: str = "fp32",
        links: str = "hidden",
        read: str = "similarity",
        link_k: int = 1,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.precision = precision
        self.links = links
        self.read = read
        self.link_k = link_k
        H = hidden

        def lin() -> nn.Linear:
            return nn.Linear(H, H)

        self.ps, self.ps_back, self.ps_fore = lin(), lin(), lin()
        self.hs, self.hs_back, self.hs_fore = lin(), lin(), lin()
        self.indi = lin()
        self.out = nn.Linear(H, 1)
        self.act = nn.LeakyReLU()
        # softmax over cosine similarities in [-1, 1] is nearly flat over hundreds of concepts;
        # a learnable scale (initialised at `sim_scale`) lets the modules sharpen it
        self.log_scale = nn.Parameter(torch.tensor(float(np.log(sim_scale))))

    def predefined(self, h: torch.Tensor, code: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Shared information [m, H] from the day's predefined concepts (zeros when none)."""
        member = code >= 0
        if not bool(member.any()):
            return torch.zeros_like(h)
        _, inv = torch.unique(code[member], return_inverse=True)
        rows = torch.nonzero(member)[:, 0]
        W = h.new_zeros(len(h), int(inv.max()) + 1)
        W[rows, inv] = w[member]
        W = W / W.sum(dim=0, keepdim=True).clamp(min=1e-12)  # cap-weighted mean of members
        concepts = W.t() @ h  # [K, H]
        if self.read == "similarity":
            return self.read_by_similarity(h, concepts)
        # membership: a member reads its own concept; the others read them by similarity
        shared = h.new_zeros(h.shape).index_put((rows,), concepts[inv])
        if not bool(member.all()):
            outside = torch.nonzero(~member)[:, 0]
            shared = shared.index_put((outside,), self.read_by_similarity(h[outside], concepts))
        return shared

    def read_by_similarity(self, h: torch.Tensor, concepts: torch.Tensor) -> torch.Tensor:
        """Each row of h [n, H] reads the concepts [K, H] through a softmax of its (scaled)
        cosine similarity to them."""
        att = torch.softmax(self.log_scale.exp() * cosine(h, concepts), dim=1)
        return att @ concepts

    def hidden_concepts(self, r: torch.Tensor, key: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden-concept information [m, H] from residuals r [m, H]: each stock joins the concepts
        of its `link_k` most similar other stocks of the day (1: the paper's); a stock reads the
        concepts by similarity, or (`read: membership`) reads the stocks it linked to, weighted
        by a softmax of their similarity. Similarity is measured between the rows of `key`
        [m, d] (default: r itself)."""
        m = len(r)
        if m < 2:
            return torch.zeros_like(r)
        key = r if key is None else key
        eye = torch.eye(m, dtype=torch.bool)
        sim = cosine(key, key).masked_fill(eye, -2.0)
        top, best = sim.topk(min(self.link_k, m - 1), dim=1)  # [m, k] the most similar others
        if self.read == "membership":
            att = torch.softmax(self.log_scale.exp() * top, dim=1)
            return (att[:, :, None] * r[best]).sum(dim=1)
        link = r.new_zeros(m, m).scatter(1, best, top)
        keep = torch.zeros(m, dtype=torch.bool)
        keep[best.flatten()] = True  # concepts someone joined
        concepts = (link.t() @ r + r)[keep]  # concept j: stock j plus the stocks that chose it
        concept_keys = concepts if key is r else (link.t() @ key + key)[keep]
        att = torch.softmax(self.log_scale.exp() * cosine(key, concept_keys), dim=1)
        return att @ concepts

    def forward(
        self,
        x: torch.Tensor,
        groups: list[np.ndarray],
        code: torch.Tensor,
        w: torch.Tensor,
        link_x: torch.Tensor | None = None,
    ) -> torch.Tensor:
        h = self.encode(x)
        shared = torch.zeros_like(h)
        for g in groups:
            idx = torch.from_numpy(g)
            shared[idx] = self.predefined(h[idx], code[idx], w[idx])
        p = self.ps(shared)
        r = h - self.ps_back(p)
        key = None
        if self.links == "comovement":  # the inputs' paths, or a longer window of them
            key = comovement_keys(x if link_x is None else link_x)
        hid = torch.zeros_like(r)
        for g in groups:
            idx = torch.from_numpy(g)
            hid[idx] = self.hidden_concepts(r[idx], None if key is None else key[idx])
        q = self.hs(hid)
        indi = r - self.hs_back(q)
        total = self.act(self.ps_fore(p)) + self.act(self.hs_fore(q)) + self.act(self.indi(indi))
        return self.out(total)[:, 0]


@register_model("hist")
class HISTModel(TorchModel):
    """HIST on a GRU encoder; concepts = point-in-time industries weighted by market cap.

    `concept_dir`: the Qlib store of the run (its `cn_meta` sibling, or `meta_dir`, holds the
    industry and market cap files; a synthetic store holds `industry`/`mktcap` fields).
    `concepts: none` switches the predefined-concept module off (every stock has no industry).
    """

    PARAMS: ClassVar[dict[str, Any]] = {
        "hidden_size": 64,
        "num_layers": 2,
        "concepts": "industry",
        "concept_dir": None,
        "meta_dir": None,
        "industry_level": "l1",
        "taxonomy": "sw2021",
        "concept_weight": "mktcap",
        "sim_scale": 10.0,
        "links": "hidden",
        "read": "similarity",
        "link_k": 1,
        "link_window": 0,
    }
    CHOICES: ClassVar[dict[str, tuple]] = {
        "concepts": ("industry", "none"),
        "industry_level": ("l1", "l2", "l3"),
        "taxonomy": ("asis", "sw2021"),
        "concept_weight": ("mktcap", "equal"),
        "links": ("hidden", "comovement"),
        "read": ("similarity", "membership"),
    }

    def validate_params(self) -> None:
        super().validate_params()
        p = self.params
        name = self.registered_name
        if p["head"] != "regression" or p["loss"] not in ("auto", "mse", "ic"):
            raise ConfigError(f"model {name!r}: only head 'regression' with loss mse or ic")
        if p["batch"] != "day":
            raise ConfigError(
                f"model {name!r}: param 'batch' must be 'day': the concept modules read "
                "whole cross-sections of a day"
            )
        if p["concepts"] == "industry" and not p["concept_dir"]:
            raise ConfigError(
                f"model {name!r}: param 'concept_dir' must name the Qlib store whose industries "
                "and market caps define the concepts (or set concepts: none)"
            )
        if not p["sim_scale"] > 0:
            raise ConfigError(f"model {name!r}: param 'sim_scale' must be > 0")
        for key, low in (("link_k", 1), ("link_window", 0)):
            if isinstance(p[key], bool) or not isinstance(p[key], int) or p[key] < low:
                raise ConfigError(f"model {name!r}: param {key!r} must be an integer >= {low}")
        if p["link_window"] and (
            p["links"] != "comovement"
            or self.input_kind != "daily_seq"
            or p["seq_layout"] != "window"
        ):
            raise ConfigError(
                f"model {name!r}: param 'link_window' needs links: comovement on day-row "
                "sequences (input_kind: daily_seq, seq_layout: window)"
            )
        self.params["multi_label"] = False
        self._concept_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def build_net(self, step_shape: tuple[int, ...], n_out: int) -> nn.Module:
        _, f = _steps_features(step_shape)
        p = self.params
        enc = RNNEncoder("gru", f, p["hidden_size"], p["num_layers"], p["dropout"])
        return HISTNet(
            enc,
            p["hidden_size"],
            p["sim_scale"],
            p["precision"],
            p["links"],
            p["read"],
            p["link_k"],
        )

    # ------------------------------------------------------------ concepts
    def concept_arrays(self, data: SampleSet) -> tuple[np.ndarray, np.ndarray]:
        """(industry code int32 [T, N], -1 none; member weight float32 [T, N]) on data's grid."""
        first = data.dates[0].item() if len(data.dates) else None
        key = (first, len(data.dates), hash(data.instruments.tobytes()))
        if key not in self._concept_cache:
            self._concept_cache = {key: self._load_concepts(data)}
        return self._concept_cache[key]

    def _load_concepts(self, data: SampleSet) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        T, N = data.mask.shape
        if p["concepts"] == "none":
            return np.full((T, N), -1, np.int32), np.ones((T, N), np.float32)
        from seqalpha.config import resolve_path
        from seqalpha.data.panel import Panel
        from seqalpha.data.reference import industry_and_size

        store = Path(resolve_path(str(p["concept_dir"])))
        if not (store / "calendars").is_dir():
            raise DataError(f"model 'hist': param 'concept_dir' = {store} is not a Qlib store")
        meta = resolve_path(str(p["meta_dir"])) if p["meta_dir"] else None
        panel = Panel(data.dates, data.instruments)
        code, cap = industry_and_size(
            store, panel, meta, level=p["industry_level"], taxonomy=p["taxonomy"]
        )
        return code.astype(np.int32), self._weights(code, cap)

    def _weights(self, code: np.ndarray, cap: np.ndarray) -> np.ndarray:
        """Member weights: market cap (a missing cap -> the day's median member cap) or 1."""
        if self.params["concept_weight"] == "equal":
            return np.ones(code.shape, np.float32)
        cap = np.where((code >= 0) & np.isfinite(cap) & (cap > 0), cap, np.nan).astype(np.float64)
        known = np.isfinite(cap).any(axis=1)
        med = np.ones(len(cap))
        if known.any():
            med[known] = np.nanmedian(cap[known], axis=1)
        w = np.where(np.isfinite(cap), cap, med[:, None])
        return (w / med[:, None]).astype(np.float32)  # scale-free: each day's median is 1

    # ------------------------------------------------------------ loop adapter
    def _forward(self, data: SampleSet, batch: tuple[np.ndarray, np.ndarray]) -> torch.Tensor:
        t, i = batch
        code, w = self.concept_arrays(data)
        link_x = None
        if self.params["link_window"]:
            spec = dataclasses.replace(self.spec, seq_len=self.params["link_window"])
            link_x = torch.from_numpy(gather_inputs(data, spec, t, i))
        return self.net(
            self.inputs(data, batch),
            day_groups(t),
            torch.from_numpy(code[t, i].astype(np.int64)),
            torch.from_numpy(w[t, i]),
            link_x,
        )

    def batch_loss(
        self, data: SampleSet, batch: tuple[np.ndarray, np.ndarray], state: LoopState
    ) -> torch.Tensor:
        t, i = batch
        pred = self._forward(data, batch)
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
                res[b[0] - t0, b[1]] = self._forward(data, b).numpy()
        return res
