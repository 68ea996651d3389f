"""Config layer: YAML -> typed :class:`PipelineConfig`. No Airflow and no heavy imports here.

Modules: ``loader`` (load_config, load_folder, defaults merge, config_sha256) reads with ``yamlsafe`` (size
limits, safe tags, YAML errors), places problems with ``locate`` (field path <-> line) and words pydantic's
errors with ``errors``; ``problems`` holds Problem and ConfigError. ``schema`` is PipelineConfig, its sections
in ``schema_data``, ``schema_training``, ``schema_gates`` and ``schema_ops`` on ``schema_base``, ``metrics``,
``templates`` and ``data_paths``; validators register their cross-field rules in ``rules``, which
``reference`` renders into docs/config-reference.md. ``deep`` (with ``deep_estimator`` and ``deep_gx``) holds
the validate-time checks that import scikit-learn and Great Expectations lazily.
"""

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
