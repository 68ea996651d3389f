"""Celery configuration whose workers import the heavy libraries before the prefork pool starts.

``[celery] celery_config_options = mlops_provider.executors.celery.CELERY_CONFIG``: Airflow's default
Celery configuration, unchanged, plus a ``worker_init`` handler. Celery sends ``worker_init`` in the
worker's main process before it forks its pool, so the pool processes, and the task processes the
task SDK forks from them, start with ``[mlops] warm_imports`` loaded, and share those pages. The
scheduler (CeleryExecutor) imports this module too, but never receives ``worker_init``.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

CELERY_CONFIG: dict[str, Any] = dict(DEFAULT_CELERY_CONFIG)


@worker_init.connect(weak=False)
def _warm_up_worker(**_: Any) -> None:
    from mlops_provider.executors.warm import warm_up

    warm_up()
