"""Test-session environment, set before anything imports Airflow.

Every test run gets its own throw-away state folder: AIRFLOW_HOME (SQLite metadata DB), a dags folder
holding the real loader files, an MLflow SQLite store with local artifacts, and a data root.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

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


def pytest_sessionfinish(session, exitstatus):
    if exitstatus == 0:
        shutil.rmtree(STATE, ignore_errors=True)
    else:
        print(f"\nTest state kept for inspection: {STATE}")
