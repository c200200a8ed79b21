"""Multi-horizon label sets: `make_labels(panel, LabelSpec(...)) -> (names, y [T, N, H])`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from seqalpha import xsection as xs
from seqalpha.data.minute import MinuteBars
from seqalpha.data.panel import Panel
from seqalpha.errors import ConfigError, DataError
from seqalpha.labels.classes import CLASS_PRESETS, classify
from seqalpha.labels.returns import (
    excess,
    forward_bar_volatility,
    forward_return,
    risk_adjusted,
)

LABEL_KINDS = ("raw", "excess", "zscore", "rank", "risk_adjusted", "class3", "class5")


@dataclass(frozen=True)
class LabelSpec:
    """What to predict: horizons (days), kind, offset (days from t to the return's start close).

    kind: raw | excess (over `benchmark` or the universe mean) | zscore (`xsection.zscore`,
    ddof 1) | rank (`xsection.rank_centred`: percentile rank - 0.5, over the universe) |
    risk_adjusted (return / realized vol of the horizon's intraday bars; needs bars) | class3 |
    class5 (classes of the excess return, see `classify`).
    benchmark: an instrument code in the panel (e.g. `SH000300`) or None (universe mean).
    """

    horizons: Sequence[int] = (1,)
    kind: str = "raw"
    offset: int = 1
    benchmark: str | None = None
    price_field: str = "close"
    names: Sequence[str] | None = field(default=None)

    def __post_init__(self) -> None:
        hs = list(self.horizons)
        if not hs or any(not isinstance(h, (int, np.integer)) or h < 1 for h in hs):
            raise ConfigError(
                f"LabelSpec.horizons must be a non-empty list of integers >= 1, got {hs}"
            )
        if len(set(hs)) != len(hs):
            raise ConfigError(f"LabelSpec.horizons has duplicates: {hs}")
        if self.kind not in LABEL_KINDS:
            raise ConfigError(
                f"LabelSpec.kind {self.kind!r} is unknown; known: {list(LABEL_KINDS)}"
            )
        if not isinstance(self.offset, (int, np.integer)) or self.offset < 0:
            raise ConfigError(f"LabelSpec.offset must be an integer >= 0, got {self.offset!r}")
        if self.names is not None and len(self.names) != len(hs):
            raise ConfigError(
                f"LabelSpec.names has {len(self.names)} entries for {len(hs)} horizons"
            )
        object.__setattr__(self, "horizons", tuple(int(h) for h in hs))

    def label_names(self) -> list[str]:
        """One name per horizon, e.g. `zscore_5d`."""
        if self.names is not None:
            return list(self.names)
        return [f"{self.kind}_{h}d" for h in self.horizons]

    @property
    def max_lookahead(self) -> int:
        """Days after t that a label at t reads (for embargoes between splits)."""
        return self.offset + max(self.horizons)


def day_sumsq_on_panel(bars: MinuteBars, panel: Panel) -> np.ndarray:
    """Per-day sum of squared within-day bar log returns on the panel grid [T, N] (NaN: no bars)."""
    from seqalpha.features.intraday import bar_log_returns

    r = bar_log_returns(bars)  # [D, B, N]
    have = np.any(np.isfinite(r), axis=1)
    ss = np.where(have, np.nansum(r.astype(np.float64) ** 2, axis=1), np.nan)  # [D, N]
    T, N = panel.shape
    out = np.full((T, N), np.nan)
    ti = np.searchsorted(panel.dates, bars.dates)
    ok_t = (ti < T) & (panel.dates[np.minimum(ti, T - 1)] == bars.dates)
    pos = {c: i for i, c in enumerate(panel.instruments.tolist())}
    ni = np.array([pos.get(str(c), -1) for c in bars.instruments], dtype=np.int64)
    ok_n = ni >= 0
    if not ok_t.any() or not ok_n.any():
        raise DataError("risk_adjusted labels: the bars share no date or instrument with the panel")
    out[np.ix_(ti[ok_t], ni[ok_n])] = ss[np.ix_(ok_t, ok_n)]
    return out


def make_labels(
    panel: Panel, spec: LabelSpec, bars: MinuteBars | None = None
) -> tuple[list[str], np.ndarray]:
    """Labels for every horizon of `spec`: (names [H], y float32 [T, N, H]).

    NaN outside the universe; cross-sectional kinds use universe members only.
    """
    if spec.price_field not in panel:
        raise DataError(
            f"make_labels: the panel has no field {spec.price_field!r}; it has {panel.field_names}"
        )
    close = panel[spec.price_field]
    uni = panel.universe
    bench_close = None
    if spec.benchmark is not None:
        codes = panel.instruments.tolist()
        if spec.benchmark not in codes:
            raise ConfigError(
                f"LabelSpec.benchmark {spec.benchmark!r} is not an instrument of the panel"
            )
        bench_close = close[:, codes.index(spec.benchmark)]
    sumsq = None
    if spec.kind == "risk_adjusted":
        if bars is None:
            raise ConfigError("LabelSpec.kind 'risk_adjusted' needs intraday bars (bars=...)")
        sumsq = day_sumsq_on_panel(bars, panel)
    T, N = panel.shape
    y = np.full((T, N, len(spec.horizons)), np.nan, dtype=np.float32)
    for j, h in enumerate(spec.horizons):
        ret = forward_return(close, h, spec.offset)
        ret[~uni] = np.nan
        if spec.kind == "raw":
            lab = ret
        elif spec.kind == "zscore":
            lab = xs.zscore(ret, uni)
        elif spec.kind == "rank":
            lab = xs.rank_centred(ret, uni)
        elif spec.kind == "risk_adjusted":
            if sumsq is None:
                raise ConfigError("LabelSpec.kind 'risk_adjusted' needs intraday bars (bars=...)")
            lab = risk_adjusted(ret, forward_bar_volatility(sumsq, h, spec.offset))
        else:
            b = None if bench_close is None else forward_return(bench_close, h, spec.offset)
            lab = excess(ret, b, uni)
            if spec.kind in CLASS_PRESETS:
                lab, _ = classify(lab, spec.kind)
        lab = np.asarray(lab, dtype=np.float32)
        lab[~uni] = np.nan
        y[:, :, j] = lab
    return spec.label_names(), y
