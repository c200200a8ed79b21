"""Second-order learning (RESEARCH.md): linear models fitted over successive training spans, and
an LSTM with attention over their parameter history that produces the current parameters.

fit: the training rows are cut into spans of `span` days (backwards from the last); a ridge
regression per span gives a parameter history theta_1..theta_M ([F + 1]: coefficients and
intercept). The meta-network reads the last `history` parameter vectors (standardised), runs an
LSTM over them, attends over its outputs with a learned query, and outputs a correction to
their mean: theta_hat_j = mean(theta_{j-history..j-1}) + head(context). It is trained so that
theta_hat_j fits span j (mean squared error through the span's moments X'X/n, X'y/n, y'y/n).
predict: the linear model theta_hat of the last `history` spans of the training range, so a
prediction at t reads only the features of t and parameters fitted on training labels.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from seqalpha.dataset.core import SampleSet
from seqalpha.dataset.tabular import sample_index, scatter_scores
from seqalpha.errors import ConfigError, DataError
from seqalpha.models.base import Model
from seqalpha.models.registry import register_model


class ParamHistoryNet(nn.Module):
    """LSTM + attention over a parameter history [B, L, P] -> parameter correction [B, P]."""

    def __init__(self, n_params: int, hidden: int):
        super().__init__()
        self.lstm = nn.LSTM(n_params, hidden, batch_first=True)
        self.key = nn.Linear(hidden, hidden)
        self.query = nn.Parameter(torch.zeros(hidden))
        self.head = nn.Linear(hidden, n_params)
        nn.init.zeros_(self.head.weight)  # starts at the mean of the history
        nn.init.zeros_(self.head.bias)

    def forward(self, hist: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(hist)  # [B, L, H]
        score = torch.tanh(self.key(out)) @ self.query  # [B, L]
        att = torch.softmax(score, dim=1)
        context = (att.unsqueeze(-1) * out).sum(dim=1)  # [B, H]
        return self.head(context)


def span_moments(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(X'X/n, X'y/n, y'y/n) of rows X [n, P] (constant column included) and labels y [n]."""
    n = float(len(y))
    return X.T @ X / n, X.T @ y / n, float(y @ y / n)


@register_model("second_order")
class SecondOrderModel(Model):
    """Linear models per training span + an LSTM/attention meta-model of their parameters."""

    input_kind = "tabular"
    PARAMS: ClassVar[dict[str, Any]] = {
        "span": 20,
        "history": 6,
        "alpha": 1.0,  # ridge penalty of each span's linear model (on standardised features)
        "hidden": 16,
        "epochs": 200,
        "lr": 0.01,
        "threads": 1,
        "label_col": 0,
    }

    def validate_params(self) -> None:
        p = self.params
        for k in ("span", "history", "hidden", "epochs", "threads"):
            if p[k] < 1:
                raise ConfigError(f"model 'second_order': param {k!r} = {p[k]} < 1")
        if p["span"] < 2:
            raise ConfigError("model 'second_order': param 'span' must be >= 2 days")
        if p["alpha"] < 0 or p["lr"] <= 0:
            raise ConfigError("model 'second_order': params 'alpha' >= 0 and 'lr' > 0")

    def _rows(self, data: SampleSet, t0: int, t1: int):
        """X [n, F + 1] (NaN as 0, constant column) and y [n] of labelled rows of days t0..t1."""
        sub = data.with_rows(t0, t1)
        t, i = sample_index(sub, require_label=True, label_col=self.params["label_col"])
        X = np.nan_to_num(data.known_features()[t, i].astype(np.float64), nan=0.0)
        X = np.hstack([X, np.ones((len(X), 1))])
        y = data.known_labels()[t, i, self.params["label_col"]].astype(np.float64)
        return X, y

    def fit(self, train: SampleSet, valid: SampleSet | None = None) -> None:
        p = self.params
        t0, t1 = train.rows
        bounds = list(range(t1, t0, -p["span"]))[::-1]  # span ends, oldest first
        spans = [(max(t0, e - p["span"]), e) for e in bounds]
        thetas, moments = [], []
        for a, b in spans:
            X, y = self._rows(train, a, b)
            if len(y) < X.shape[1]:
                continue  # too few rows to fit this span
            G, c, yy = span_moments(X, y)
            pen = p["alpha"] * np.eye(len(c))
            pen[-1, -1] = 0.0  # no penalty on the intercept
            thetas.append(np.linalg.solve(G + pen + 1e-9 * np.eye(len(c)), c))
            moments.append((G, c, yy))
        if not thetas:
            raise DataError(f"second_order: no span with enough labelled rows in {train.rows}")
        theta = np.stack(thetas)  # [M, P]
        L = min(p["history"], len(theta))
        self.theta_now = self._meta_fit(theta, moments, L)
        self.fitted = True

    def _meta_fit(self, theta: np.ndarray, moments, L: int) -> np.ndarray:
        """Train the meta-network on the parameter history; the parameters for the next span."""
        p = self.params
        M, P = theta.shape
        mu = theta.mean(axis=0)
        sd = theta.std(axis=0) + 1e-8
        z = torch.as_tensor((theta - mu) / sd, dtype=torch.float32)
        targets = list(range(L, M))
        hist_now = z[M - L :].unsqueeze(0)
        if not targets:  # too short a history to learn from: the mean of the spans
            return theta[M - L :].mean(axis=0)
        threads = torch.get_num_threads()
        torch.set_num_threads(p["threads"])
        try:
            torch.manual_seed(p["seed"])
            net = ParamHistoryNet(P, p["hidden"])
            opt = torch.optim.Adam(net.parameters(), lr=p["lr"])
            hist = torch.stack([z[j - L : j] for j in targets])  # [J, L, P]
            base = torch.as_tensor(theta, dtype=torch.float64)
            mean_prev = torch.stack([base[j - L : j].mean(dim=0) for j in targets])  # [J, P]
            sdt = torch.as_tensor(sd, dtype=torch.float64)
            G = torch.as_tensor(np.stack([moments[j][0] for j in targets]))
            c = torch.as_tensor(np.stack([moments[j][1] for j in targets]))
            yy = torch.as_tensor([moments[j][2] for j in targets], dtype=torch.float64)
            for _ in range(p["epochs"]):
                opt.zero_grad()
                th = mean_prev + net(hist).double() * sdt  # [J, P]
                mse = torch.einsum("jp,jpq,jq->j", th, G, th) - 2 * (th * c).sum(1) + yy
                loss = (mse / yy.clamp_min(1e-12)).mean()
                loss.backward()
                opt.step()
            with torch.no_grad():
                delta = net(hist_now).double()[0].numpy() * sd
        finally:
            torch.set_num_threads(threads)
        return theta[M - L :].mean(axis=0) + delta

    def predict(self, data: SampleSet) -> np.ndarray:
        """Scores float32 [t1 - t0, N]: features of each day times the current parameters."""
        self._require_fitted("predict")
        t, i = sample_index(data, require_label=False)
        X = np.nan_to_num(data.known_features()[t, i].astype(np.float64), nan=0.0)
        return scatter_scores(data, (t, i), X @ self.theta_now[:-1] + self.theta_now[-1])

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"theta": torch.from_numpy(np.asarray(self.theta_now, dtype=np.float64))}

    def load_state(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        self.theta_now = tensors["theta"].numpy()
