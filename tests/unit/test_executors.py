"""Warm executors: the workers import the heavy libraries, the scheduler side does not.

Each check runs in a fresh interpreter, as the scheduler and the workers do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

HEAVY = ("mlflow", "evidently", "great_expectations", "sklearn", "pandas", "scipy")
WARM_EXECUTOR = "mlops_provider.executors.local.WarmLocalExecutor"


def _run(code: str, **env_vars: str) -> dict[str, Any]:
    env = {**os.environ, **env_vars}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_scheduler_loads_the_warm_executor_without_any_heavy_library() -> None:
    result = _run(
        f"""
        import json, sys
        from airflow.executors.executor_loader import ExecutorLoader
        executor = ExecutorLoader.get_default_executor()
        print(json.dumps({{"executor": type(executor).__name__, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
        """,
        AIRFLOW__CORE__EXECUTOR=WARM_EXECUTOR,
    )
    assert result == {"executor": "WarmLocalExecutor", "heavy": []}


def test_warm_local_executor_workers_import_the_libraries_and_the_scheduler_process_does_not() -> None:
    # The workers are processes the executor starts (forks) from the scheduler; a library they imported
    # shows in their memory map as its compiled extension. The scheduler's own map must not have it.
    result = _run(
        f"""
        import json, os, sys, time
        from mlops_provider.executors.local import WarmLocalExecutor

        def has_pandas(pid):
            with open(f"/proc/{{pid}}/maps") as f:
                return "pandas/_libs" in f.read()

        executor = WarmLocalExecutor(parallelism=2)
        executor.start()
        workers = list(executor.workers)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not all(has_pandas(p) for p in workers):
            time.sleep(0.5)
        result = {{
            "workers": [has_pandas(p) for p in workers],
            "scheduler": has_pandas(os.getpid()),
            "scheduler_modules": [m for m in {HEAVY!r} if m in sys.modules],
        }}
        executor.end()
        print(json.dumps(result))
        """,
        AIRFLOW__MLOPS__WARM_IMPORTS="pandas",
    )
    assert result == {"workers": [True, True], "scheduler": False, "scheduler_modules": []}


def test_warm_up_imports_the_configured_modules_and_skips_one_that_is_missing() -> None:
    result = _run(
        """
        import json, sys
        from mlops_provider.executors.warm import warm_up
        before = "colorsys" in sys.modules
        took = warm_up()
        print(json.dumps({"before": before, "after": "colorsys" in sys.modules, "took": sorted(took)}))
        """,
        AIRFLOW__MLOPS__WARM_IMPORTS="colorsys, no_such_module_here",
    )
    assert result == {"before": False, "after": True, "took": ["colorsys"]}


def test_warm_up_leaves_mlflows_sql_store_ready_for_the_first_query_without_a_connection() -> None:
    # the first MlflowClient call on a SQL tracking URI imported the store and configured SQLAlchemy's
    # mappers in every task (about 1.2 s); a warm worker has done both, and opened no database
    result = _run(
        """
        import json, os
        from mlops_provider.executors.warm import warm_up
        warm_up()
        from sqlalchemy import inspect
        from mlflow.store.model_registry.dbmodels.models import SqlRegisteredModel
        from mlflow.store.tracking.dbmodels.models import SqlRun
        print(json.dumps({
            "configured": [inspect(m).configured for m in (SqlRun, SqlRegisteredModel)],
            "sqlite_open": any(".db" in os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                               if os.path.islink(f"/proc/self/fd/{fd}")),
        }))
        """,
        AIRFLOW__MLOPS__WARM_IMPORTS="mlflow.store.tracking.sqlalchemy_store,mlflow.store.model_registry.sqlalchemy_store",
    )
    assert result == {"configured": [True, True], "sqlite_open": False}


def test_warm_imports_default_to_the_libraries_the_tasks_use(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_provider import settings

    monkeypatch.delenv("AIRFLOW__MLOPS__WARM_IMPORTS", raising=False)
    default = settings.warm_imports()
    for library in ("pandas", "mlflow", "mlflow.store.tracking.sqlalchemy_store", "great_expectations", "skops.io"):
        assert library in default
    assert "evidently" not in default
    monkeypatch.setenv("AIRFLOW__MLOPS__WARM_IMPORTS", "pandas, evidently")
    assert settings.warm_imports() == ("pandas", "evidently")


def test_celery_workers_warm_up_when_celery_starts_them_and_the_config_is_airflows() -> None:
    pytest.importorskip("airflow.providers.celery", reason="the celery extra is not installed")
    result = _run(
        f"""
        import json, sys
        from mlops_provider.executors.celery import CELERY_CONFIG
        from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
        from celery.signals import worker_init
        imported = [m for m in {HEAVY!r} + ("tabnanny",) if m in sys.modules]
        worker_init.send(sender=None)
        print(json.dumps({{
            "same_config": CELERY_CONFIG == DEFAULT_CELERY_CONFIG,
            "on_import": imported,
            "after_worker_init": "tabnanny" in sys.modules,
        }}))
        """,
        AIRFLOW__MLOPS__WARM_IMPORTS="tabnanny",
    )
    assert result == {"same_config": True, "on_import": [], "after_worker_init": True}
