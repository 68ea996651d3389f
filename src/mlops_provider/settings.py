"""Deployment settings from the provider's ``[mlops]`` Airflow config section.

Options (``AIRFLOW__MLOPS__<OPTION>`` in the environment works as usual):

``data_root``                 base folder (or s3:// prefix) for relative ``data.source`` paths; default
                              the current working directory.
``snapshot_root``             where content-addressed training snapshots are kept (local folder or
                              s3:// prefix); default ``<artifact_root of the MLflow connection>/snapshots``.
``allowed_estimator_modules`` comma-separated modules besides ``sklearn`` that configs may name.
``outbox_path``               file alerts are appended to when no Slack connection exists; default
                              ``$AIRFLOW_HOME/mlops_outbox.jsonl``.
``lock_file``                 the dependency lock whose hash is recorded as lineage; default the first
                              ``uv.lock`` found in the dags folder or its parents.
"""

from __future__ import annotations

import os
from pathlib import Path


def get(option: str, fallback: str | None = None) -> str | None:
    from airflow.sdk import conf

    value = conf.get("mlops", option, fallback=None)
    return value if value not in (None, "") else fallback


def dags_folder() -> Path:
    from airflow.sdk import conf

    return Path(conf.get("core", "dags_folder", fallback=os.getcwd()))


def data_root() -> str:
    return get("data_root") or os.getcwd()


def outbox_path() -> Path:
    home = os.environ.get("AIRFLOW_HOME", str(Path.home() / "airflow"))
    return Path(get("outbox_path") or Path(home) / "mlops_outbox.jsonl")


def lock_file() -> Path | None:
    configured = get("lock_file")
    if configured:
        return Path(configured)
    folder = dags_folder().resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / "uv.lock").is_file():
            return candidate / "uv.lock"
    return None
