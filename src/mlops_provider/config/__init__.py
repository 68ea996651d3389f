"""Config layer: YAML -> typed :class:`PipelineConfig`. No Airflow and no heavy imports here."""

from __future__ import annotations

from mlops_provider.config.loader import (
    ConfigError,
    LoadResult,
    Problem,
    config_files,
    config_sha256,
    load_config,
    load_folder,
)
from mlops_provider.config.schema import PipelineConfig

__all__ = [
    "ConfigError",
    "LoadResult",
    "PipelineConfig",
    "Problem",
    "config_files",
    "config_sha256",
    "load_config",
    "load_folder",
]
