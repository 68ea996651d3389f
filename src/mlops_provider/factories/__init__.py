"""Factories: ``PipelineConfig`` -> plain Airflow DAGs, and the helpers the ``dags/`` loader calls.

Pure wiring: nothing here reads data, talks to MLflow or imports a heavy library.
"""

from __future__ import annotations

from mlops_provider.factories.loader import PipelineConfigErrors, load_dags, raise_config_errors
from mlops_provider.factories.training import build_training_dag, drift_asset

__all__ = ["PipelineConfigErrors", "build_training_dag", "drift_asset", "load_dags", "raise_config_errors"]
