"""The incident log: what opens an incident, what adds to it, what resolves it, and `mlops incidents`."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.unit.alerts.cases import BASE_URL, cases


@pytest.fixture()
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW__MLOPS__INCIDENTS_PATH", str(tmp_path / "incidents.jsonl"))
    monkeypatch.setenv("AIRFLOW__MLOPS__OUTBOX_PATH", str(tmp_path / "outbox.jsonl"))
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE_URL)
    monkeypatch.delenv("AIRFLOW_CONN_SLACK_MLOPS", raising=False)
    return tmp_path


def failure(state: str, try_number: int = 1, retries: int = 0, run_id: str = "r1") -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="churn_scoring",
        task_id="score",
        try_number=try_number,
        max_tries=retries,
        task=SimpleNamespace(retries=retries),
        state=state,
    )
    return {"ti": ti, "exception": OSError("disk full"), "run_id": run_id}


def outbox(state: Path) -> list[dict[str, Any]]:
    path = state / "outbox.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def dag_success(run_id: str) -> None:
    """What the dag-processor does when a run of churn_scoring succeeds: call the DAG's success callback."""
    from airflow.sdk import DAG

    from mlops_provider.notifications.alerts import RecoveryNotifier

    dag = DAG("churn_scoring", schedule=None)
    RecoveryNotifier(model="churn", slack_conn_id="slack_mlops")({"dag": dag, "run_id": run_id})


def test_failures_open_one_incident_per_dag_and_the_next_success_resolves_it_with_a_recovered_alert(
    state: Path,
) -> None:
    from mlops_provider.notifications.alerts import AlertNotifier
    from mlops_provider.notifications.incidents import incidents

    notifier = AlertNotifier(model="churn", slack_conn_id="slack_mlops")
    notifier(failure("up_for_retry", 1, 1, "r1"))  # Airflow retries it: no incident yet
    assert incidents("churn") == []
    notifier(failure("failed", 2, 1, "r1"))
    notifier(failure("failed", 1, 0, "r2"))

    (incident,) = incidents("churn")
    assert incident["kind"] == "task_failed"
    assert incident["key"] == "dag:churn_scoring"
    assert incident["run_id"] == "r1"
    assert incident["updates"] == 1
    assert incident["resolved_at"] is None

    dag_success("r3")

    (incident,) = incidents("churn")
    assert incident["resolution"] == "run r3 succeeded"
    last = outbox(state)[-1]
    assert last["kind"] == "recovered"
    assert last["numbers"] == {"dag_id": "churn_scoring", "failures": 2}
    assert last["text"].startswith(":large_green_circle: churn: `churn_scoring` recovered: run `r3` succeeded after 2")
    assert f"{BASE_URL}/dags/churn_scoring/runs/r3" in last["text"]

    dag_success("r4")  # nothing open: a plain success says nothing
    assert outbox(state)[-1] == last


def test_drift_adds_to_one_open_incident_until_drift_is_gone(state: Path) -> None:
    from mlops_provider.notifications.alerts import announce
    from mlops_provider.notifications.incidents import incidents, resolve

    alerts = cases()
    announce(alerts["drift_detected"], None)
    announce(alerts["drift_detected"], None)
    announce(alerts["circuit_open"], None)

    drift, breaker = incidents("churn")
    assert (drift["kind"], drift["updates"], breaker["kind"]) == ("drift_detected", 1, "circuit_open")

    closed = resolve("churn", "drift", "drift is back under the threshold")

    assert {i["kind"] for i in closed} == {"drift_detected", "circuit_open"}
    assert all(i["resolution"] == "drift is back under the threshold" for i in incidents("churn"))
    assert [r["kind"] for r in outbox(state)] == ["drift_detected", "drift_detected", "circuit_open"]


def test_a_rollback_is_recorded_as_done_and_a_promotion_is_no_incident(state: Path) -> None:
    from mlops_provider.notifications.alerts import announce
    from mlops_provider.notifications.incidents import incidents

    alerts = cases()
    announce(alerts["promoted"], None)
    announce(alerts["rolled_back"], None)

    (rollback,) = incidents("churn")
    assert rollback["kind"] == "rolled_back"
    assert rollback["resolved_at"] == rollback["opened_at"]
    assert "v4 → v3" in rollback["summary"]


def test_a_line_cut_short_by_a_crash_costs_only_itself(state: Path) -> None:
    from mlops_provider.notifications.alerts import announce
    from mlops_provider.notifications.incidents import incidents

    announce(cases()["rolled_back"], None)
    with (state / "incidents.jsonl").open("a") as fh:
        fh.write('{"event": "open", "id": "x", "mod')

    assert len(incidents("churn")) == 1


def test_mlops_incidents_lists_newest_first_and_filters_open_ones(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops_provider.cli import main
    from mlops_provider.notifications.alerts import AlertNotifier, announce

    announce(cases()["rolled_back"], None)
    AlertNotifier(model="churn", slack_conn_id=None)(failure("failed"))
    capsys.readouterr()  # the alerts' log lines

    assert main(["incidents", "churn"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"churn: 2 incident(s), 1 open (incident log: {state / 'incidents.jsonl'})"
    assert out.index("task_failed  [OPEN]") < out.index("rolled_back  [resolved")
    assert "churn: task `score` of `churn_scoring` failed in run `r1` (not retried: the task has no retries)." in out

    assert main(["incidents", "churn", "--open", "--json"]) == 0
    (only,) = json.loads(capsys.readouterr().out)
    assert only["kind"] == "task_failed"

    assert main(["incidents", "iris"]) == 0
    assert capsys.readouterr().out.startswith("iris: no incidents recorded")
