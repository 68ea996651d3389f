"""Deployment settings from the provider's ``[mlops]`` Airflow config section.

Options (``AIRFLOW__MLOPS__<OPTION>`` in the environment works as usual):

``data_root``                 base folder (or s3:// prefix) for relative ``data.source``, ``scoring.source``
                              and ``scoring.output`` paths; default the current working directory. A relative
                              config path must stay inside it.
``allowed_data_roots``        comma-separated local folders (or file:// URIs) and/or ``s3://bucket/prefix``
                              roots where configs may also name data with an absolute path or URI; default
                              none (data_root only). Checked when a config loads and, on the real path with
                              symlinks followed, when a task reads or writes.
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
    # AIRFLOW__MLOPS__<OPTION> wins over every other source in Airflow's configuration too: reading it
    # directly spares command-line tools (mlops validate) the cost of importing Airflow.
    value = os.environ.get(f"AIRFLOW__MLOPS__{option.upper()}")
    if value is None:
        from airflow.sdk import conf

        value = conf.get("mlops", option, fallback=None)
    return value if value not in (None, "") else fallback


def dags_folder() -> Path:
    from airflow.sdk import conf

    return Path(conf.get("core", "dags_folder", fallback=os.getcwd()))


def data_root() -> str:
    return get("data_root") or os.getcwd()


def allowed_data_roots() -> tuple[str, ...]:
    """Where a config may name data: ``data_root`` first, then the ``[mlops] allowed_data_roots`` entries.

    The one reading of the option: the DAG loader and ``mlops validate`` pass it to config validation, and
    tasks check real paths against it (:mod:`mlops_provider.paths`).
    """
    extra = [r.strip() for r in (get("allowed_data_roots") or "").split(",") if r.strip()]
    roots = [data_root(), *extra]
    return tuple(dict.fromkeys(r.rstrip("/") if r.rstrip("/") else r for r in roots))


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
