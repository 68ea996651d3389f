"""Tracking server credentials from the ``mlflow`` connection: header construction and process-local scope."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from importlib import metadata

import pytest

from mlops_provider.hooks import mlflow_auth
from mlops_provider.hooks.mlflow import MlflowHook
from mlops_provider.hooks.mlflow_auth import ConnectionAuthHeaderProvider, authorization_header

SECRET = "pa:ss-w0rd"


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("uri", "fields", "expected"),
    [
        ("http://mlflow:5000", {"login": "alice", "password": SECRET}, basic("alice", SECRET)),
        ("HTTPS://mlflow.internal", {"login": "alice", "password": SECRET}, basic("alice", SECRET)),
        ("https://mlflow.internal", {"password": "tok-123"}, "Bearer tok-123"),
        ("https://mlflow.internal", {"token": "tok-123"}, "Bearer tok-123"),
        ("https://mlflow.internal", {"login": "alice", "token": "tok-123"}, "Bearer tok-123"),
        ("https://mlflow.internal", {}, None),
        ("sqlite:////tmp/mlflow.db", {"login": "alice", "password": SECRET}, None),
        ("postgresql://u:p@db/mlflow", {"login": "alice", "password": SECRET}, None),
        ("postgresql://u:p@db/mlflow", {"token": "tok-123"}, None),
        ("file:///tmp/mlruns", {"password": SECRET}, None),
    ],
)
def test_authorization_header(uri: str, fields: dict[str, str], expected: str | None) -> None:
    assert authorization_header(uri, **fields) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"login": "alice"}, "a login but no password"),
        ({"password": SECRET, "token": "tok-123"}, "both a password and extra.token"),
    ],
)
def test_ambiguous_credentials_are_rejected_without_echoing_them(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        authorization_header("https://mlflow.internal", **fields)
    assert SECRET not in str(err.value) and "tok-123" not in str(err.value)


def connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> MlflowHook:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "mlflow", **fields}))
    return MlflowHook(mlflow_conn_id=conn_id)


def sent_headers() -> dict[str, str]:
    from mlflow.tracking.request_header.registry import resolve_request_headers

    return resolve_request_headers()


def test_provider_is_registered_once_through_the_entry_point() -> None:
    points = metadata.entry_points(group="mlflow.request_header_provider")
    assert [p.value for p in points if p.name == "mlops"] == [
        "mlops_provider.hooks.mlflow_auth:ConnectionAuthHeaderProvider"
    ]
    from mlflow.tracking.request_header.registry import _request_header_provider_registry

    mlflow_auth.ensure_registered()  # a no-op: the entry point already registered it
    assert sum(isinstance(p, ConnectionAuthHeaderProvider) for p in _request_header_provider_registry) == 1


def test_get_conn_sets_and_clears_process_local_credentials(
    monkeypatch: pytest.MonkeyPatch, mlflow_state: None
) -> None:
    import os

    import mlflow

    with_creds = connection(
        monkeypatch, "mlflow_auth_a", host="mlflow.internal", schema="https", login="alice", password=SECRET
    )
    token = connection(monkeypatch, "mlflow_auth_b", host="mlflow.internal", schema="https", extra={"token": "tok-1"})
    without = connection(monkeypatch, "mlflow_auth_c", host="mlflow.internal", schema="https")
    env_before = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}

    with_creds.get_conn()
    assert mlflow.get_tracking_uri() == "https://mlflow.internal"
    assert sent_headers()["Authorization"] == basic("alice", SECRET)

    token.get_conn()
    assert sent_headers()["Authorization"] == "Bearer tok-1"

    without.get_conn()
    assert "Authorization" not in sent_headers()

    with_creds.get_conn()
    mlflow.set_tracking_uri("http://elsewhere:5000")  # the credentials follow the tracking URI
    assert "Authorization" not in sent_headers()
    assert mlflow_auth.active_tracking_uri() == "https://mlflow.internal"

    # nothing but MLflow's own tracking/registry URI variables was written to the environment
    after = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    assert after == env_before


def test_non_http_tracking_uri_ignores_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = connection(
        monkeypatch,
        "mlflow_auth_sql",
        login="alice",
        password=SECRET,
        extra={"tracking_uri": "postgresql://mlflow@db.internal/mlflow"},
    )
    assert hook.has_credentials and hook._authorization is None
    logged = capsys.readouterr()
    assert "login/password/token ignored" in logged.out + logged.err
    assert SECRET not in logged.out + logged.err


def test_bad_credentials_fail_get_conn_with_the_connection_id(
    monkeypatch: pytest.MonkeyPatch, mlflow_state: None
) -> None:
    hook = connection(monkeypatch, "mlflow_auth_bad", host="mlflow.internal", login="alice")
    with pytest.raises(ValueError, match="MLflow connection 'mlflow_auth_bad': a login but no password"):
        hook.get_conn()
    ok, message = hook.test_connection()
    assert not ok and "login but no password" in message


def test_ui_shows_login_and_password() -> None:
    behaviour = MlflowHook.get_ui_field_behaviour()
    assert "login" not in behaviour["hidden_fields"] and "password" not in behaviour["hidden_fields"]
    assert {"login", "password"} <= behaviour["relabeling"].keys()


def test_hook_module_does_not_import_mlflow() -> None:
    code = "import sys, mlops_provider.hooks.mlflow; print('mlflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False"
