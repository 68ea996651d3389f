"""Warm-up of an executor's worker process: import the heavy libraries before the first task is forked.

The modules are ``[mlops] warm_imports`` (:func:`mlops_provider.settings.warm_imports`), by default
:data:`DEFAULT_WARM_IMPORTS`: what the training, scoring and drift tasks import. Only imports happen
here: no connection, client, Python thread or file is opened, so there is nothing a fork could
duplicate (every library in the default list was checked to start no Python thread on import; a module
that does is named in the worker's log, as the thread would not survive into the task). numpy's and
scipy's OpenBLAS start native threads when loaded and start them again in a forked child; OpenMP
(scikit-learn) is loaded but not used, which keeps it usable in the child.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import threading
import time
from collections.abc import Iterable

log = logging.getLogger(__name__)

DEFAULT_WARM_IMPORTS: tuple[str, ...] = (
    # what every task process imports before the operator runs: the task runner and the DAG loader
    "airflow.sdk.execution_time.task_runner",
    "mlops_provider.factories",
    # the libraries the operators import inside execute
    "pandas",
    "pyarrow.parquet",
    "scipy.stats",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.preprocessing",
    "sklearn.impute",
    "mlflow",
    "mlflow.sklearn",
    "mlflow.models",
    "mlflow.data.pandas_dataset",
    # MLflow's SQL stores (a tracking URI of sqlite://, postgresql://, ...): about 1.2 s to import on the first
    # MlflowClient call, paid by every task that uses MLflow; an HTTP tracking server does not need them
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "skops.io",
    "great_expectations",
)
"""The default of ``[mlops] warm_imports``. Evidently is left out: it is the slowest import of all and
only drift reports use it; add ``evidently`` to the option where drift checks run often."""


def _configure_orm_mappers() -> None:
    """Finish SQLAlchemy's mapper configuration for the ORM classes imported so far (MLflow's stores, Airflow's
    models): pure in-memory work (about 0.4 s for MLflow's) that every task would otherwise repeat on its
    first query. It opens no connection. Skipped when SQLAlchemy was not imported."""
    import sys

    if "sqlalchemy.orm" not in sys.modules:
        return
    try:
        sys.modules["sqlalchemy.orm"].configure_mappers()
    except Exception as exc:  # a mapper that cannot be configured fails where it is used, in its task
        log.warning("warm imports: SQLAlchemy mappers could not be configured (%s)", exc)


def warm_up(modules: Iterable[str] | None = None) -> dict[str, float]:
    """Import ``modules`` (default: ``[mlops] warm_imports``) in this process; seconds taken per module.

    A module that fails to import is logged and skipped: the tasks that need it import it themselves
    (and fail there, with the task's own error). Afterwards the objects made so far are frozen out of
    the garbage collector (:func:`gc.freeze`), so a forked task's collections do not touch, and copy,
    the pages they live on. SQLAlchemy's mappers of the ORM classes imported are configured first.
    """
    from mlops_provider import settings
    from mlops_provider.operators.base import quiet_library_noise

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    quiet_library_noise()
    names = tuple(settings.warm_imports() if modules is None else modules)
    threads_before = set(threading.enumerate())
    took: dict[str, float] = {}
    for name in names:
        start = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception as exc:  # a missing optional library must not stop the worker
            log.warning("warm imports: %s could not be imported (%s); tasks will import it themselves", name, exc)
            continue
        took[name] = time.perf_counter() - start
    _configure_orm_mappers()
    started = [t.name for t in set(threading.enumerate()) - threads_before]
    if started:
        log.warning(
            "warm imports started threads %s: threads do not survive the fork into a task process; "
            "remove the module that starts them from [mlops] warm_imports",
            started,
        )
    gc.collect()
    gc.freeze()
    log.info("warm imports: %d modules in %.1f s (pid %d)", len(took), sum(took.values()), os.getpid())
    return took
