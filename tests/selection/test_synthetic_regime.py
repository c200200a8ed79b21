"""The synthetic market's regime footprint (`SynthConfig.regime_dispersion`)."""

from __future__ import annotations

import numpy as np

from seqalpha.data import load_panel
from seqalpha.data.synthetic import SynthConfig, generate_market


def _returns(path, dispersion: float) -> np.ndarray:
    cfg = SynthConfig(
        n_stocks=40,
        n_days=120,
        seed=3,
        bar_minutes=120,
        minute_days=0,
        regime_duration=20.0,
        regime_dispersion=dispersion,
    )
    generate_market(path, cfg)
    close = load_panel(path, ["close"])["close"][:, :40].astype(np.float64)
    return close[1:] / close[:-1] - 1


def test_regime_dispersion_scales_idiosyncratic_returns_in_one_regime(tmp_path):
    base = _returns(tmp_path / "a", 1.0)
    wide = _returns(tmp_path / "b", 2.0)
    ratio = np.nanstd(wide, axis=1) / np.nanstd(base, axis=1)
    # days of regime +1 are about twice as dispersed, days of regime -1 unchanged
    assert (np.abs(ratio - 1) < 0.05).mean() > 0.2
    assert (ratio > 1.5).mean() > 0.2
