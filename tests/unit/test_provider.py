"""The package is a provider Airflow discovers: listed, with the mlflow connection type and [mlops] options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _airflow(*args: str) -> str:
    airflow = Path(sys.executable).parent / "airflow"
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    return subprocess.run(
        [str(airflow), *args], capture_output=True, text=True, env=env, check=True, timeout=120
    ).stdout


@pytest.fixture(scope="module")
def providers_list() -> str:
    return _airflow("providers", "list")


def test_airflow_lists_the_provider(providers_list: str) -> None:
    line = next(ln for ln in providers_list.splitlines() if ln.startswith("airflow-provider-mlops"))
    from mlops_provider.get_provider_info import __version__

    assert __version__ in line


def test_mlflow_connection_type_is_registered() -> None:
    hooks = _airflow("providers", "hooks")
    line = next(ln for ln in hooks.splitlines() if ln.startswith("mlflow "))
    assert "mlops_provider.hooks.mlflow.MlflowHook" in line and "mlflow_conn_id" in line


def test_mlops_config_section_is_known_to_airflow() -> None:
    out = _airflow("config", "list", "--section", "mlops", "--include-descriptions")
    for option in (
        "data_root",
        "allowed_data_roots",
        "snapshot_root",
        "allowed_estimator_modules",
        "outbox_path",
        "lock_file",
    ):
        assert option in out
