"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-mlops",
        "name": "MLOps",
        "description": "DAG factories, operators and hooks for the MLOps lifecycle: validate data, train, "
        "evaluate gates, register, promote, check drift.",
        "versions": [__version__],
        "hooks": [],
        "connection-types": [
            {
                "hook-class-name": "mlops_provider.hooks.mlflow.MlflowHook",
                "connection-type": "mlflow",
            }
        ],
        "config": {},
    }
