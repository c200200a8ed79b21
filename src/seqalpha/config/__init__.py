"""The pipeline configuration: the schema (`schema`) and its loading (`loading`).

At the bottom of the package: nothing here imports a stage. Registered names are checked
against the stage registries by `seqalpha.registries`.
"""

from seqalpha.config.loading import (
    apply_overrides,
    config_from_dict,
    config_hash,
    config_to_dict,
    dump_config,
    load_config,
    parse_yaml,
    repo_root,
    resolve_path,
    validation_message,
)
from seqalpha.config.schema import (
    PREDICTION_SECTIONS,
    BacktestConfig,
    BaselineSpec,
    DataConfig,
    DateRange,
    ExecutorConfig,
    FeaturesConfig,
    LabelsConfig,
    ModelConfig,
    PipelineConfig,
    PortfolioConfig,
    ProcessorsConfig,
    ProcessorSpec,
    RegisteredName,
    Section,
    SyntheticSpec,
    TrackingConfig,
    WalkForwardConfig,
)

__all__ = [
    "PREDICTION_SECTIONS",
    "BacktestConfig",
    "BaselineSpec",
    "DataConfig",
    "DateRange",
    "ExecutorConfig",
    "FeaturesConfig",
    "LabelsConfig",
    "ModelConfig",
    "PipelineConfig",
    "PortfolioConfig",
    "ProcessorSpec",
    "ProcessorsConfig",
    "RegisteredName",
    "Section",
    "SyntheticSpec",
    "TrackingConfig",
    "WalkForwardConfig",
    "apply_overrides",
    "config_from_dict",
    "config_hash",
    "config_to_dict",
    "dump_config",
    "load_config",
    "parse_yaml",
    "repo_root",
    "resolve_path",
    "validation_message",
]
