"""Factories: ``PipelineConfig`` -> plain Airflow DAGs, and the helpers the ``dags/`` loader calls.

Pure wiring: nothing here reads data, talks to MLflow or imports a heavy library.
"""

from __future__ import annotations

from mlops_provider.factories.common import drift_asset, predictions_asset
from mlops_provider.factories.drift import build_drift_dag
from mlops_provider.factories.loader import PipelineConfigErrors, load_dags, raise_config_errors
from mlops_provider.factories.retention import build_retention_dag
from mlops_provider.factories.rollback import build_rollback_dag
from mlops_provider.factories.scoring import build_scoring_dag
from mlops_provider.factories.training import build_training_dag

__all__ = [
    "PipelineConfigErrors",
    "build_drift_dag",
    "build_retention_dag",
    "build_rollback_dag",
    "build_scoring_dag",
    "build_training_dag",
    "drift_asset",
    "load_dags",
    "predictions_asset",
    "raise_config_errors",
]
