"""A tiny SampleSet with a planted signal, for tests and examples (not a market simulator).

signal "linear": label = 0.6 x0[t] - 0.4 x1[t] (today's features);
signal "sequential": label = mean of x0 over the last 5 days - 0.5 x1[t - 3] (needs history);
signal "intraday": label = mean of bar feature 0 over the last 2 days' bars.
Labels are standardised signal + `noise` x N(0, 1); column h (h >= 1) adds independent noise.
"""

from __future__ import annotations

import numpy as np

from seqalpha.dataset.core import SampleSet
from seqalpha.errors import ConfigError


def toy_sample_set(
    T: int = 60,
    N: int = 40,
    F: int = 6,
    signal: str = "linear",
    noise: float = 0.5,
    n_labels: int = 2,
    bars: int = 0,
    bar_fields: int = 2,
    mask_rate: float = 0.9,
    nan_rate: float = 0.01,
    seed: int = 0,
    lookback: int = 1,
) -> SampleSet:
    """SampleSet over T days x N stocks: features [T, N, F], optional bars [T, N, bars, bar_fields],
    labels [T, N, n_labels], mask with about `mask_rate` True, rows = all dates."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, F)).astype(np.float32)
    b = rng.standard_normal((T, N, bars, bar_fields)).astype(np.float32) if bars else None
    if signal == "linear":
        s = 0.6 * x[:, :, 0] - 0.4 * x[:, :, 1]
    elif signal == "sequential":
        c = np.cumsum(np.concatenate([np.zeros((1, N)), x[:, :, 0]]), axis=0)
        m5 = np.stack([(c[t + 1] - c[max(0, t - 4)]) / 5.0 for t in range(T)])
        lag = np.concatenate([np.zeros((3, N)), x[:-3, :, 1]])
        s = m5 - 0.5 * lag
    elif signal == "intraday":
        if b is None:  # bars == 0
            raise ConfigError("toy_sample_set: signal 'intraday' needs bars > 0")
        d = b[:, :, :, 0].mean(axis=2)
        s = (d + np.concatenate([np.zeros((1, N)), d[:-1]])) / 2
    else:
        raise ConfigError(f"toy_sample_set: unknown signal {signal!r}")
    s = (s - s.mean()) / s.std()
    labels = np.stack(
        [s + noise * (1 + h) * rng.standard_normal((T, N)) for h in range(n_labels)], axis=-1
    ).astype(np.float32)
    mask = rng.random((T, N)) < mask_rate
    labels[rng.random(labels.shape) < nan_rate] = np.nan
    x[rng.random(x.shape) < nan_rate] = np.nan
    dates = np.datetime64("2020-01-01") + np.arange(T).astype("timedelta64[D]")
    return SampleSet(
        dates=dates,
        instruments=np.array([f"S{k:04d}" for k in range(N)]),
        features=x,
        bars=b,
        labels=labels,
        mask=mask,
        rows=(0, T),
        feature_names=[f"x{k}" for k in range(F)],
        label_names=[f"y{h}" for h in range(n_labels)],
        lookback=lookback,
    )
