"""`features.extra_libraries`: beta_quantile beside Alpha158 (or alone) in a run's inputs."""

from __future__ import annotations

import numpy as np
import pytest

from seqalpha.config import config_from_dict
from seqalpha.errors import ConfigError
from seqalpha.features.beta_quantile import beta_quantile_names
from seqalpha.registries import check_components
from seqalpha.train.inputs import build_inputs


def _cfg(market, **features):
    return config_from_dict(
        {
            "data": {"dir": str(market), "universe": "market", "benchmark": "SYN_INDEX"},
            "features": features,
            "model": {"name": "linear"},
            "walkforward": {"schedule": "rolling"},
        }
    )


@pytest.mark.slow  # Alpha158 on the small market: about 7 s
def test_beta_quantile_beside_alpha158(synth_market):
    cfg = _cfg(synth_market, library="alpha158", extra_libraries=["beta_quantile"])
    check_components(cfg)
    inputs = build_inputs(cfg.data, cfg.features, cfg.labels)
    names = list(inputs.feature_names)
    assert names[-9:] == beta_quantile_names() and "KMID" in names
    q = inputs.features[:, :, names.index("BETA_IND60_Q")][inputs.mask]
    assert set(np.unique(q[np.isfinite(q)])) == {0.0, 1.0, 2.0, 3.0, 4.0}
    assert inputs.market is not None and inputs.market.shape == (len(inputs.dates), 4)


def test_beta_quantile_alone_with_cap_weights(synth_market):
    cfg = _cfg(
        synth_market,
        library="none",
        extra_libraries=["beta_quantile"],
        beta={"weighting": "cap", "windows": [30], "buckets": 3},
    )
    check_components(cfg)
    inputs = build_inputs(cfg.data, cfg.features, cfg.labels)
    assert list(inputs.feature_names) == beta_quantile_names([30])


@pytest.mark.parametrize(
    ("features", "match"),
    [
        ({"extra_libraries": ["nope"]}, "unknown library 'nope'"),
        ({"extra_libraries": ["alpha158"]}, "already computed"),
        ({"extra_libraries": ["beta_quantile"], "extra": {"BETA_MKT20": "$close"}}, "names of"),
    ],
)
def test_bad_extra_libraries_are_config_errors(synth_market, features, match):
    with pytest.raises(ConfigError, match=match):
        check_components(_cfg(synth_market, **features))
