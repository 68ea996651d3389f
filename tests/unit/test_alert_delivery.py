"""Slack delivery through the real webhook hook against a local receiver: bounded attempts, outbox fallback, no leak.

The receiver is a real HTTP server on 127.0.0.1 and the connection a real Airflow connection (an
``AIRFLOW_CONN_*`` variable) whose URL points at it, so the Slack provider's ``SlackWebhookHook`` makes
real POSTs: nothing of the hook or the Slack SDK is mocked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.slack import TOKEN, TOKEN_PARTS, Receiver
from tests.unit.alerts.cases import KIND_NAMES


def slack_connection(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    """``slack_mlops`` as an operator would set it: endpoint in the host, webhook token as the password."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)  # the Slack SDK would send through it
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_MLOPS",
        json.dumps({"conn_type": "slackwebhook", "host": f"http://127.0.0.1:{port}/services", "password": TOKEN}),
    )


@pytest.fixture()
def outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "outbox.jsonl"
    monkeypatch.setenv("AIRFLOW__MLOPS__OUTBOX_PATH", str(path))
    return path


@pytest.fixture()
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    with Receiver() as running:
        slack_connection(monkeypatch, running.port)
        yield running


def notifier(**timing: Any) -> Any:
    """The notifier, with shorter attempts and pauses than in production unless ``timing`` says otherwise."""
    from mlops_provider.notifications.alerts import AlertNotifier

    alert = AlertNotifier(model="churn")  # slack_mlops
    alert.slack_timeout = timing.get("slack_timeout", 2)
    alert.slack_backoff = timing.get("slack_backoff", 0.0)
    return alert


def outbox_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_when_slack_answers_200_the_alert_is_posted_once_and_the_outbox_stays_empty(
    receiver: Receiver, outbox: Path
) -> None:
    where = notifier().deliver("drift on churn: plan, contract")

    assert where == "slack:slack_mlops"
    assert receiver.posts == [("/services/T000/B000/secret-token-123", {"text": "drift on churn: plan, contract"})]
    assert not outbox.exists()


def test_when_slack_answers_500_every_time_the_alert_goes_to_the_outbox_after_the_bounded_attempts(
    receiver: Receiver, outbox: Path
) -> None:
    receiver.mode = "error"
    alert = notifier()

    where = alert.deliver("task `train` of `churn_training` failed")

    assert alert.slack_attempts == 3
    assert len(receiver.posts) == 3
    assert where == f"outbox:{outbox}"
    (record,) = outbox_lines(outbox)
    assert record["text"] == "task `train` of `churn_training` failed"
    assert record["model"] == "churn" and record["slack_conn_id"] == "slack_mlops"
    assert "Status Code: 500" in record["slack_error"]


def test_when_slack_hangs_each_attempt_times_out_and_the_alert_goes_to_the_outbox(
    receiver: Receiver, outbox: Path
) -> None:
    receiver.mode = "hang"

    where = notifier(slack_timeout=1).deliver("scoring failed")

    assert where == f"outbox:{outbox}"
    (record,) = outbox_lines(outbox)
    assert record["text"] == "scoring failed"
    assert record["slack_error"].startswith(("TimeoutError", "URLError"))


def test_when_slack_is_unreachable_the_alert_goes_to_the_outbox(outbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import free_port

    slack_connection(monkeypatch, free_port())  # nothing listens there

    where = notifier().deliver("drift check failed")

    assert where == f"outbox:{outbox}"
    (record,) = outbox_lines(outbox)
    assert record["text"] == "drift check failed" and record["slack_error"]


def test_as_a_callback_a_failing_slack_does_not_fail_the_callback(receiver: Receiver, outbox: Path) -> None:
    receiver.mode = "error"
    alert = notifier()
    alert.text = "{{ run_id }} needs a look"

    alert({"run_id": "manual__2026-11-26"})  # raises nothing

    (record,) = outbox_lines(outbox)
    assert record["text"] == "manual__2026-11-26 needs a look" and record["slack_error"]


@pytest.mark.parametrize("secrets_masker", ["on", "off"])
@pytest.mark.parametrize("mode", ["ok", "error", "hang"])
def test_the_webhook_token_is_in_no_log_record_outbox_line_or_return_value(
    receiver: Receiver,
    outbox: Path,
    mode: str,
    secrets_masker: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if secrets_masker == "off":  # the token is masked even where Airflow's masker did not register it
        import importlib

        for module in ("airflow.sdk._shared.secrets_masker", "airflow._shared.secrets_masker"):
            monkeypatch.setattr(importlib.import_module(module), "redact", lambda value, *a, **kw: value)
    receiver.mode = mode
    caplog.set_level(logging.DEBUG)

    where = notifier(slack_timeout=1).deliver("alert for the leak check")

    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    captured = capsys.readouterr()
    written = outbox.read_text(encoding="utf-8") if outbox.exists() else ""
    for text in (logged, captured.out, captured.err, written, where):
        for part in TOKEN_PARTS:
            assert part not in text
    everything = logged + captured.out + captured.err
    assert "alert for the leak check" in everything  # the log was captured: the checks above saw it
    if mode != "ok":
        assert "Slack delivery of the churn alert through connection 'slack_mlops' failed after" in everything
        assert "***" in written or mode == "hang"  # the error page quoted the token: masked


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_each_kind_of_alert_reaches_slack_as_blocks_with_its_text_as_the_fallback(
    receiver: Receiver, outbox: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    from tests.unit.alerts.cases import BASE_URL, cases

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE_URL)
    alert = cases()[kind]

    assert notifier().deliver(alert) == "slack:slack_mlops"

    ((path, payload),) = receiver.posts
    assert path == "/services/T000/B000/secret-token-123"
    assert payload == {"text": alert.text(), "blocks": alert.blocks()}
    assert not outbox.exists()


def test_an_alert_slack_refuses_lands_in_the_outbox_with_its_kind_and_numbers_and_no_token(
    receiver: Receiver, outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.alerts.cases import BASE_URL, cases

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE_URL)
    receiver.mode = "error"
    alert = cases()["drift_detected"]

    where = notifier().deliver(alert)

    assert where == f"outbox:{outbox}"
    (record,) = outbox_lines(outbox)
    assert record["kind"] == "drift_detected"
    assert record["numbers"] == {
        "champion": "3",
        "drifted": 7,
        "features": 10,
        "share": 0.7,
        "retrain": True,
        "brake": None,
    }
    assert record["text"] == alert.text()
    assert "Status Code: 500" in record["slack_error"]
    raw = outbox.read_text()
    assert not any(part in raw for part in TOKEN_PARTS)


def test_a_registered_secret_is_masked_in_every_part_of_an_alert_slack_and_the_incident_log_get(
    receiver: Receiver, outbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk import BaseHook

    from mlops_provider.notifications.alerts import announce
    from mlops_provider.notifications.catalogue import Alert

    secret = 'pa"ss\\word-9f3k'  # a quote and a backslash: written differently once JSON-encoded
    monkeypatch.setenv("AIRFLOW__MLOPS__INCIDENTS_PATH", str(tmp_path / "incidents.jsonl"))
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "postgres", "password": secret, "host": "db.internal"})
    )
    assert BaseHook.get_connection("warehouse").password == secret  # registers it with the masker
    alert = Alert(
        kind="task_failed",
        model="churn",
        severity="error",
        headline=f"churn: login with {secret} refused",
        details=(f"error: {secret}",),
        next=f"rotate {secret}",
        numbers={"dag_id": "churn_scoring", "note": secret},
    )

    assert announce(alert, "slack_mlops") == "slack:slack_mlops"

    ((_, payload),) = receiver.posts
    assert secret not in json.dumps(payload) and secret not in str(payload)
    assert "***" in payload["blocks"][0]["text"]["text"]
    incidents = (tmp_path / "incidents.jsonl").read_text()
    assert secret not in incidents and json.dumps(secret)[1:-1] not in incidents
