"""Deployment settings: the one reader of the provider's ``[mlops]`` Airflow config section.

The options and what they mean are described once, in :mod:`mlops_provider.get_provider_info` (Airflow
shows them with ``airflow config list``; docs/getting-started.md renders them as a table). Each option
has one function here, and every caller (DAG loader, operators, CLI, replay) goes through it.
``AIRFLOW__MLOPS__<OPTION>`` in the environment works as usual.
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


def allowed_estimator_modules() -> tuple[str, ...]:
    """Modules configs may take estimators from: ``sklearn``, then the ``[mlops] allowed_estimator_modules``
    entries. The one reading of the option: the DAG loader, the operators, ``mlops validate`` and replay."""
    from mlops_provider.config.schema import DEFAULT_ESTIMATOR_MODULES

    extra = [m.strip() for m in (get("allowed_estimator_modules") or "").split(",") if m.strip()]
    return tuple(dict.fromkeys((*DEFAULT_ESTIMATOR_MODULES, *extra)))


def validation_context() -> dict[str, tuple[str, ...]]:
    """What validating a config needs from the deployment: the allowed estimator modules and data roots
    (``PipelineConfig.model_validate(raw, context=validation_context())``)."""
    return {"allowed_estimator_modules": allowed_estimator_modules(), "allowed_data_roots": allowed_data_roots()}


def warm_imports() -> tuple[str, ...]:
    """Modules the warm executors' workers import before they take tasks (:mod:`mlops_provider.executors`):
    the ``[mlops] warm_imports`` entries, else :data:`mlops_provider.executors.warm.DEFAULT_WARM_IMPORTS`."""
    configured = tuple(m.strip() for m in (get("warm_imports") or "").split(",") if m.strip())
    if configured:
        return configured
    from mlops_provider.executors.warm import DEFAULT_WARM_IMPORTS

    return DEFAULT_WARM_IMPORTS


def parse_cache_dir() -> Path | None:
    """Where the DAG loader keeps good configs' reads between parses (:mod:`mlops_provider.config.parse_cache`):
    the ``[mlops] parse_cache_dir`` option, ``off`` for nowhere, empty for ``$AIRFLOW_HOME/mlops_parse_cache``."""
    configured = get("parse_cache_dir")
    if configured is not None and configured.strip().lower() in ("off", "none", "false"):
        return None
    home = os.environ.get("AIRFLOW_HOME", str(Path.home() / "airflow"))
    return Path(configured or Path(home) / "mlops_parse_cache")


def outbox_path() -> Path:
    home = os.environ.get("AIRFLOW_HOME", str(Path.home() / "airflow"))
    return Path(get("outbox_path") or Path(home) / "mlops_outbox.jsonl")


def incidents_path() -> Path:
    home = os.environ.get("AIRFLOW_HOME", str(Path.home() / "airflow"))
    return Path(get("incidents_path") or Path(home) / "mlops_incidents.jsonl")


def ui_base_url() -> str | None:
    """The Airflow UI's address for links in alerts: ``[api] base_url``, None when it is not set."""
    value = os.environ.get("AIRFLOW__API__BASE_URL")
    if value is None:
        from airflow.sdk import conf

        value = conf.get("api", "base_url", fallback=None)
    return value or None


def airflow_api_url() -> str:
    """Where the dashboard and ``mlops status`` ask Airflow's REST API: ``[mlops] api_url``, else
    ``[api] base_url``, else ``http://localhost:<[api] port>``."""
    configured = get("api_url") or ui_base_url()
    if configured:
        return configured.rstrip("/")
    port = os.environ.get("AIRFLOW__API__PORT")
    if port is None:
        from airflow.sdk import conf

        port = conf.get("api", "port", fallback="8080")
    return f"http://localhost:{port}"


def lock_file() -> Path | None:
    configured = get("lock_file")
    if configured:
        return Path(configured)
    folder = dags_folder().resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / "uv.lock").is_file():
            return candidate / "uv.lock"
    return None
