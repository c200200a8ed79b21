"""build_inputs: intraday features without a minute-bar directory are a one-line ConfigError."""

from pathlib import Path

import pytest

from seqalpha.config import DataConfig, FeaturesConfig, LabelsConfig
from seqalpha.errors import ConfigError
from seqalpha.train.inputs import build_inputs


def test_intraday_library_without_minute_dir_names_the_key(synth_market: Path) -> None:
    data = DataConfig(dir=str(synth_market), universe="all", minute_dir=None)
    with pytest.raises(ConfigError, match=r"data\.minute_dir: not set"):
        build_inputs(data, FeaturesConfig(library="intraday"), LabelsConfig())
