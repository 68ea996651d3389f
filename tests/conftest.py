"""Test-session environment, set before anything imports Airflow.

Every test run gets its own throw-away state folder: AIRFLOW_HOME (SQLite metadata DB), a dags folder
holding the real loader files, an MLflow SQLite store with local artifacts, and a data root.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STATE = Path(tempfile.mkdtemp(prefix="mlops-tests-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(STATE / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(STATE / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__MLOPS__DATA_ROOT": str(STATE / "data"),
        "AIRFLOW__MLOPS__OUTBOX_PATH": str(STATE / "outbox.jsonl"),
        "AIRFLOW__MLOPS__LOCK_FILE": str(REPO / "uv.lock"),
        "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(
            {
                "conn_type": "mlflow",
                "extra": {
                    "tracking_uri": f"sqlite:///{STATE / 'mlflow.db'}",
                    "artifact_root": str(STATE / "artifacts"),
                    "create_if_missing": True,  # every test session starts from an empty store
                },
            }
        ),
        "GX_ANALYTICS_ENABLED": "false",
        "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
        "NO_PROXY": "127.0.0.1,localhost",
    }
)
(STATE / "dags" / "configs").mkdir(parents=True)
for loader in (REPO / "dags").glob("*.py"):
    shutil.copy(loader, STATE / "dags" / loader.name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def mlflow_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Put MLflow's process-wide tracking/registry URIs and the connection credentials back after a test."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    from mlops_provider.hooks import mlflow_auth

    tracking, registry = tracking_utils._tracking_uri, registry_utils._registry_uri
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # set_tracking_uri exports it; restored at teardown
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    yield
    mlflow_auth.clear_credentials()
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)
    tracking_utils._tracking_uri, registry_utils._registry_uri = tracking, registry


def pytest_sessionfinish(session, exitstatus):
    if exitstatus == 0:
        shutil.rmtree(STATE, ignore_errors=True)
    else:
        print(f"\nTest state kept for inspection: {STATE}")
