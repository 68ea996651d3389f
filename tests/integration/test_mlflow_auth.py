"""Credentials of the ``mlflow`` connection against a real MLflow tracking server with basic auth."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mlops_provider.hooks.mlflow import MlflowHook
from tests.conftest import free_port

pytestmark = pytest.mark.integration

ADMIN = "admin"
ADMIN_PASSWORD = "Adm1n-pw-for-tests"
WRONG_PASSWORD = "not-the-Adm1n-pw"
STARTUP_TIMEOUT = 90


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, Any]]:
    """``mlflow server --app-name basic-auth`` on a free local port, with its stores in a temp dir."""
    tmp = Path(tempfile.mkdtemp(prefix="mlops-mlflow-auth-"))
    (tmp / "basic_auth.ini").write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{tmp / 'basic_auth.db'}\n"
        f"admin_username = {ADMIN}\n"
        f"admin_password = {ADMIN_PASSWORD}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n"
        "auth_cache_ttl_seconds = 300\n"  # skip repeated PBKDF2 checks of the right password
    )
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(tmp / "basic_auth.ini"),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "mlops-tests-csrf-key",  # the server's own setting
    }
    log = (tmp / "server.log").open("wb")
    cmd = [
        str(Path(sys.executable).parent / "mlflow"), "server", "--app-name", "basic-auth",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}",
        "--artifacts-destination", str(tmp / "artifacts"),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def log_tail() -> str:
        return (tmp / "server.log").read_text(errors="replace")[-3000:]

    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log_tail()}")
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not up after {STARTUP_TIMEOUT}s:\n{log_tail()}")
            time.sleep(0.25)
        yield {"url": url, "host": "127.0.0.1", "port": port, "tmp": tmp}
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(autouse=True)
def fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # a dead server fails at once


def hook_for(monkeypatch: pytest.MonkeyPatch, server: dict[str, Any], conn_id: str, **fields: Any) -> MlflowHook:
    conn = {"conn_type": "mlflow", "host": server["host"], "port": server["port"], "schema": "http", **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return MlflowHook(mlflow_conn_id=conn_id)


def test_login_password_reach_the_server_for_client_and_fluent_calls(
    server: dict[str, Any], monkeypatch: pytest.MonkeyPatch, mlflow_state: None
) -> None:
    import mlflow

    hook = hook_for(monkeypatch, server, "mlflow_basic_auth", login=ADMIN, password=ADMIN_PASSWORD)
    assert hook.test_connection() == (True, f"MLflow reachable at {server['url']}")

    experiment_id = hook.ensure_experiment("auth-check")  # MlflowClient: lookup, then create
    assert hook.ensure_experiment("auth-check") == experiment_id
    assert hook.get_conn().get_experiment(experiment_id).name == "auth-check"

    with mlflow.start_run(experiment_id=experiment_id) as run:  # fluent API, as the operators use it
        mlflow.log_metric("auc", 0.91)
        mlflow.log_text("hello", "notes/hello.txt")  # proxied artifact upload (mlflow-artifacts:)

    stored = requests.get(
        f"{server['url']}/api/2.0/mlflow/runs/get",
        params={"run_id": run.info.run_id},
        auth=(ADMIN, ADMIN_PASSWORD),
        timeout=30,
    ).json()["run"]
    assert stored["data"]["metrics"][0]["key"] == "auc"
    assert stored["info"]["status"] == "FINISHED"
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/hello.txt") == "hello"


def test_wrong_password_fails_with_401_and_keeps_it_secret(
    server: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    mlflow_state: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlflow.exceptions import MlflowException

    hook = hook_for(monkeypatch, server, "mlflow_wrong_password", login=ADMIN, password=WRONG_PASSWORD)
    with pytest.raises(MlflowException, match="401") as err:
        hook.ensure_experiment("auth-check-wrong")
    assert "not authenticated" in str(err.value)

    ok, message = hook.test_connection()
    assert not ok and "401" in message

    logged = capsys.readouterr()
    for text in (str(err.value), message, logged.out, logged.err):
        assert WRONG_PASSWORD not in text and ADMIN_PASSWORD not in text


def test_connection_without_credentials_clears_them(
    server: dict[str, Any], monkeypatch: pytest.MonkeyPatch, mlflow_state: None
) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    with_creds = hook_for(monkeypatch, server, "mlflow_with_creds", login=ADMIN, password=ADMIN_PASSWORD)
    without = hook_for(monkeypatch, server, "mlflow_no_creds")

    with_creds.get_conn().search_experiments(max_results=1)

    client = without.get_conn()
    with pytest.raises(MlflowException, match="401"):
        client.search_experiments(max_results=1)
    with pytest.raises(MlflowException, match="401"):
        mlflow.search_experiments(max_results=1)
    # the credentialed hook's client, used without get_conn, no longer has them either
    with pytest.raises(MlflowException, match="401"):
        with_creds._client.search_experiments(max_results=1)

    with_creds.get_conn().search_experiments(max_results=1)  # applying it again brings them back
