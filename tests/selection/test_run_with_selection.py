"""A config's `selection:` section reaches every window job of a walk-forward run."""

from __future__ import annotations

import numpy as np

from seqalpha.config import config_from_dict
from seqalpha.train.walkforward import run_walkforward, train_spec


def _cfg(market, selection):
    return config_from_dict(
        {
            "data": {"dir": str(market), "universe": "market", "benchmark": "SYN_INDEX"},
            "features": {
                "library": "none",
                "extra": {"MOM": "$close/Ref($close,10)-1", "REV": "$close/Ref($close,1)-1"},
            },
            "processors": {"features": [{"name": "cs_zscore"}, {"name": "fillna"}]},
            "model": {"name": "linear", "params": {"alpha": 0.1}},
            "walkforward": {
                "schedule": "expanding",
                "train_days": 60,
                "valid_days": 0,
                "step": 20,
            },
            "selection": selection,
            "tracking": {"enabled": False},
        }
    )


def test_selection_changes_the_fits_of_a_run(synth_market, tmp_path):
    plain = _cfg(synth_market, {})
    picked = _cfg(synth_market, {"method": "similar", "period": 10, "k": 2})
    assert train_spec(plain).selection == {}
    assert train_spec(picked).selection["k"] == 2
    a = run_walkforward(plain, tmp_path / "a").predictions
    b = run_walkforward(picked, tmp_path / "b").predictions
    assert np.array_equal(a.mask, b.mask)  # the same test cells, other models
    assert not np.allclose(a.score[a.mask], b.score[b.mask])
