"""Alert text is masked before it reaches the log, the outbox or Slack, and says truly whether Airflow retries."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

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


def task_instance(try_number: int, retries: int, state: str | None, max_tries: int | None = None) -> Any:
    """What a failure callback's context holds as ``ti``: the try, the tries Airflow allows, the state it decided."""
    return SimpleNamespace(
        dag_id="churn_training",
        task_id="evaluate_gates",
        try_number=try_number,
        max_tries=retries if max_tries is None else max_tries,
        task=SimpleNamespace(retries=retries),
        state=state,
        log_url=None,
    )


def alert(exc: BaseException, ti: Any) -> str:
    from mlops_provider.notifications.alerts import failure_text

    return failure_text({"ti": ti, "exception": exc, "run_id": "scheduled__2026-11-26T02:00:00+00:00"}, "churn")


def _fail_exceptions() -> list[BaseException]:
    from airflow.sdk.exceptions import AirflowFailException

    from mlops_provider.operators.data import DataValidationFailed
    from mlops_provider.operators.gates import GateFailed
    from mlops_provider.paths import DataPathError

    return [
        GateFailed("1 of 6 gates failed for churn"),
        DataValidationFailed("1 of 8 expectations failed"),
        DataPathError("config field data.source resolves outside the data roots"),
        AirflowFailException("labels do not fit"),
    ]


@pytest.mark.parametrize("exc", _fail_exceptions(), ids=lambda e: type(e).__name__)
def test_a_failure_airflow_never_retries_says_so_instead_of_a_try_count(exc: BaseException) -> None:
    text = alert(exc, task_instance(try_number=1, retries=1, state="failed"))

    first = text.splitlines()[0]
    kind = {"GateFailed": "the new model failed its gates: ", "DataValidationFailed": "data validation failed: "}
    assert first == (
        f":red_circle: churn: {kind.get(type(exc).__name__, '')}task `evaluate_gates` of `churn_training` failed in "
        "run `scheduled__2026-11-26T02:00:00+00:00` (not retried: a retry would fail the same way; this needs a change "
        "in data, model or config)."
    )
    assert "of 2" not in text
    assert text.splitlines()[-1].startswith("Next: the run stops here")


def test_a_retryable_failure_with_tries_left_says_which_try_and_that_a_retry_follows() -> None:
    text = alert(ConnectionError("MLflow at http://mlflow:5000 did not answer"), task_instance(1, 2, "up_for_retry"))

    assert (
        "failed in run `scheduled__2026-11-26T02:00:00+00:00` on try 1 of 3; Airflow retries it (try 2 of 3)." in text
    )
    assert text.startswith(":large_orange_circle: churn:")
    assert "ConnectionError: MLflow at http://mlflow:5000 did not answer" in text
    assert text.splitlines()[-1] == "Next: Airflow runs it again after the retry delay; nothing downstream ran yet."


def test_a_retryable_failure_on_its_last_try_says_no_retries_are_left() -> None:
    text = alert(ConnectionError("MLflow did not answer"), task_instance(3, 2, "failed"))

    assert "failed in run `scheduled__2026-11-26T02:00:00+00:00` on try 3 of 3 (no retries left)." in text
    assert "retries it" not in text and text.startswith(":red_circle:")


def test_a_task_without_retries_says_it_is_not_retried() -> None:
    text = alert(ConnectionError("MLflow did not answer"), task_instance(1, 0, "failed"))

    assert "failed in run `scheduled__2026-11-26T02:00:00+00:00` (not retried: the task has no retries)." in text
    assert "try 1 of 1" not in text


def test_a_cleared_task_counts_its_tries_from_the_task_instance() -> None:
    # Cleared after two failed tries with retries=1: Airflow allows tries 3 and 4 (max_tries 3).
    text = alert(ConnectionError("MLflow did not answer"), task_instance(3, 1, "up_for_retry", max_tries=3))

    assert "on try 3 of 4; Airflow retries it (try 4 of 4)." in text


@pytest.mark.parametrize(
    ("dag_id", "next_line"),
    [
        ("churn_training", "nothing downstream (registration, promotion) happened; the champion is unchanged."),
        ("churn_scoring", "no predictions were written for this run; the champion keeps serving."),
        ("churn_drift", "no drift verdict and no drift event for this run; no retrain was requested."),
    ],
)
def test_the_next_line_speaks_of_what_the_failed_dag_does(dag_id: str, next_line: str) -> None:
    ti = task_instance(1, 0, "failed")
    ti.dag_id = dag_id
    text = alert(RuntimeError("boom"), ti)
    assert text.splitlines()[-1] == f"Next: the run stops here; {next_line}"


# -- delivery -------------------------------------------------------------------------------------------


def outbox_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_without_a_slack_connection_each_alert_is_appended_to_the_outbox_as_one_json_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import datetime, timedelta

    from mlops_provider.notifications.alerts import AlertNotifier

    path = tmp_path / "not" / "yet" / "outbox.jsonl"  # its folder is created on the first alert
    monkeypatch.setenv("AIRFLOW__MLOPS__OUTBOX_PATH", str(path))
    monkeypatch.delenv("AIRFLOW_CONN_SLACK_MLOPS", raising=False)
    notifier = AlertNotifier(model="churn")  # slack_mlops, which does not exist here

    first = notifier.deliver("drift on churn:\nplan, contract")
    second = AlertNotifier(model="fraud", slack_conn_id=None).deliver("second alert")

    assert first == second == f"outbox:{path}"
    records = outbox_lines(path)
    assert [{k: r[k] for k in ("model", "slack_conn_id", "text")} for r in records] == [
        {"model": "churn", "slack_conn_id": "slack_mlops", "text": "drift on churn:\nplan, contract"},
        {"model": "fraud", "slack_conn_id": None, "text": "second alert"},
    ]
    at = datetime.fromisoformat(records[0]["at"])
    assert at.utcoffset() == timedelta(0)
    assert abs(datetime.now(at.tzinfo) - at) < timedelta(minutes=5)


def test_as_a_callback_the_notifier_renders_its_templated_text_into_the_outbox(outbox: Path) -> None:
    from mlops_provider.notifications.alerts import AlertNotifier

    notifier = AlertNotifier(model="churn", slack_conn_id=None, text="{{ ti.task_id }} of {{ run_id }} needs a look")

    notifier({"ti": task_instance(1, 0, "failed"), "run_id": "manual__2026-11-26"})

    (record,) = outbox_lines(outbox)
    assert record["text"] == "evaluate_gates of manual__2026-11-26 needs a look"


def test_as_a_callback_without_text_the_outbox_gets_the_failure_summary(outbox: Path) -> None:
    from mlops_provider.notifications.alerts import AlertNotifier
    from mlops_provider.operators.gates import GateFailed

    context = {"ti": task_instance(1, 1, "failed"), "exception": GateFailed("1 of 6 gates failed"), "run_id": "r1"}

    AlertNotifier(model="churn", slack_conn_id=None)(context)

    (record,) = outbox_lines(outbox)
    assert record["text"].splitlines() == [
        ":red_circle: churn: the new model failed its gates: task `evaluate_gates` of `churn_training` failed in "
        "run `r1` (not retried: a retry "
        "would fail the same way; this needs a change in data, model or config).",
        "GateFailed: 1 of 6 gates failed",
        "Next: the run stops here; nothing downstream (registration, promotion) happened; the champion is unchanged.",
    ]


def test_with_a_slack_connection_the_alert_goes_to_slack_and_not_to_the_outbox(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    from mlops_provider.notifications.alerts import AlertNotifier

    sent: list[tuple[str, str]] = []
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_ALERTS_TEST",
        json.dumps({"conn_type": "slackwebhook", "password": "T000/B000/XXXX"}),
    )
    monkeypatch.setattr(
        SlackWebhookHook, "send", lambda self, **kw: sent.append((self.slack_webhook_conn_id, kw["text"]))
    )

    where = AlertNotifier(model="churn", slack_conn_id="slack_alerts_test").deliver("see http://u:secret@host/x")

    assert where == "slack:slack_alerts_test"
    assert sent == [("slack_alerts_test", "see http://u:***@host/x")]  # masked before it leaves
    assert not outbox.exists()
