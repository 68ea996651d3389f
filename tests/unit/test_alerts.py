"""Alert text is masked before it reaches the log, the outbox or Slack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PASSWORD = "pa55-w0rd-for-the-alert-test"


@pytest.fixture()
def outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "outbox.jsonl"
    monkeypatch.setenv("AIRFLOW__MLOPS__OUTBOX_PATH", str(path))
    return path


def test_registered_connection_password_and_url_credentials_are_masked_in_outbox_and_log(
    outbox: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.sdk import BaseHook

    from mlops_provider.notifications.alerts import AlertNotifier, failure_text

    monkeypatch.setenv(
        "AIRFLOW_CONN_SECRET_DB",
        json.dumps({"conn_type": "postgres", "login": "app", "password": PASSWORD, "host": "db.internal"}),
    )
    # What a task does: fetching a connection registers its password with the secrets masker.
    assert BaseHook.get_connection("secret_db").password == PASSWORD
    error = RuntimeError(
        f"could not connect with password {PASSWORD}\nengine postgresql://reporter:hunter2-unregistered@db:5432/x"
    )

    where = AlertNotifier(model="churn", slack_conn_id=None).deliver(failure_text({"exception": error}, "churn"))

    assert where == f"outbox:{outbox}"
    line = outbox.read_text(encoding="utf-8")
    log = capsys.readouterr().out
    for text in (line, log):
        assert PASSWORD not in text and "hunter2-unregistered" not in text
        assert "could not connect with password ***" in text
        assert "postgresql://reporter:***@db:5432/x" in text
    assert json.loads(line)["text"].startswith(":red_circle: churn: task")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("http://user:pw@host/x", "http://user:***@host/x"),
        ("see https://svc:p@ss@api.example.com:8443/v1", "see https://svc:***@api.example.com:8443/v1"),
        ("redis://:only-password@cache:6379/0", "redis://:***@cache:6379/0"),
        ("http://host:8080/path?q=a@b", "http://host:8080/path?q=a@b"),  # a port is not a password
        ("mail me at ops@example.com", "mail me at ops@example.com"),
    ],
)
def test_url_credentials_are_masked_whether_or_not_registered(text: str, masked: str) -> None:
    from mlops_provider.notifications.alerts import mask_text

    assert mask_text(text) == masked
