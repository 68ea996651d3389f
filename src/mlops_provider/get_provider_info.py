"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

The ``[mlops]`` options are described here once: Airflow shows them (``airflow config list``), and the
table in docs/getting-started.md is rendered from them (``python -m mlops_provider.get_provider_info``;
a unit test compares). :mod:`mlops_provider.settings` reads them.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _option(description: str, example: str) -> dict[str, Any]:
    return {"description": description, "version_added": "0.1.0", "type": "string", "example": example, "default": ""}


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
        "extra-links": ["mlops_provider.operators.drift.DriftReportLink"],
        "notifications": ["mlops_provider.notifications.alerts.AlertNotifier"],
        "config": {
            "mlops": {
                "description": "Deployment settings of airflow-provider-mlops.",
                "options": {
                    "data_root": _option(
                        "Base folder or s3:// prefix for relative data.source, scoring.source and scoring.output "
                        "paths in model configs; a relative path must stay inside it. "
                        "Empty: the worker's current directory.",
                        "/opt/mlops/data",
                    ),
                    "allowed_data_roots": _option(
                        "Comma-separated local folders and/or s3://bucket/prefix roots, besides data_root, under "
                        "which configs may name data with an absolute path, a file:// or an s3:// URI. "
                        "Empty: data_root only.",
                        "/mnt/shared/ml,s3://ml-data/shared",
                    ),
                    "snapshot_root": _option(
                        "Where content-addressed training snapshots are kept (folder or s3:// prefix). "
                        "Empty: `<artifact_root of the MLflow connection>/snapshots`; one of the two must be set.",
                        "s3://ml-artifacts/snapshots",
                    ),
                    "allowed_estimator_modules": _option(
                        "Comma-separated modules, besides sklearn, whose estimator classes configs may name.",
                        "lightgbm,xgboost",
                    ),
                    "outbox_path": _option(
                        "File alerts are appended to when the Slack connection does not exist or Slack delivery fails. "
                        "Empty: $AIRFLOW_HOME/mlops_outbox.jsonl.",
                        "/var/log/airflow/mlops_outbox.jsonl",
                    ),
                    "incidents_path": _option(
                        "File the incident log is appended to: failures, drift episodes, circuit-breaker openings, "
                        "rollbacks, each with when it was resolved (mlops incidents <model>). "
                        "Empty: $AIRFLOW_HOME/mlops_incidents.jsonl.",
                        "/var/log/airflow/mlops_incidents.jsonl",
                    ),
                    "api_url": _option(
                        "Address of Airflow's REST API that the dashboard (inside the api-server) and mlops status "
                        "read DAG runs and pending approvals from, with the caller's own credentials. "
                        "Empty: [api] base_url, else http://localhost:<[api] port>.",
                        "http://airflow-apiserver:8080",
                    ),
                    "warm_imports": _option(
                        "Comma-separated modules that the worker processes of the warm executors "
                        "(mlops_provider.executors.local.WarmLocalExecutor; the Celery configuration "
                        "mlops_provider.executors.celery.CELERY_CONFIG) import once, before they take tasks, so "
                        "every task process forked from them starts with them loaded. Other executors ignore it. "
                        "Empty: Airflow's task runner, the DAG loader, pandas, pyarrow, scipy, scikit-learn, "
                        "MLflow (with its SQL stores), skops and Great Expectations (not Evidently).",
                        "pandas,sklearn.ensemble,mlflow.sklearn,great_expectations,evidently",
                    ),
                    "parse_cache_dir": _option(
                        "Folder where the DAG loader keeps what reading each good config produced (the validated "
                        "config as JSON, its resolved YAML and hash), keyed by the file's content, defaults.yaml, the "
                        "allowed modules and data roots and the provider's code, so that the next parse of an "
                        "unchanged config skips reading its YAML; the config is validated again on every parse. "
                        "off: read every config on every parse. Empty: $AIRFLOW_HOME/mlops_parse_cache.",
                        "/opt/airflow/mlops_parse_cache",
                    ),
                    "lock_file": _option(
                        "Dependency lock file whose sha256 is recorded on every model version. "
                        "Empty: the first uv.lock in the dags folder or its parents.",
                        "/opt/airflow/uv.lock",
                    ),
                },
            }
        },
    }


def options_table() -> str:
    """The ``[mlops]`` options as the markdown table of docs/getting-started.md."""
    options = get_provider_info()["config"]["mlops"]["options"]
    rows = ["| Option | Meaning | Example |", "|---|---|---|"]
    rows += [f"| `{name}` | {o['description']} | `{o['example']}` |" for name, o in options.items()]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(options_table(), end="")
