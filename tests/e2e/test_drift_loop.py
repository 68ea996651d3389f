"""The closed loop on a real scheduler: drifted scores → drift DAG fires → training runs on the Asset event →
a new champion passes its gates → the next check on the same data finds the drift resolved."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import REPO
from tests.e2e.conftest import new_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def loop_stack(tmp_path_factory: pytest.TempPathFactory):
    from mlops_provider.demo.data import write_labeled

    root = tmp_path_factory.mktemp("loop")
    st = new_stack(root, shipped_configs=False)
    dags = st.dags_folder
    data = root / "world"
    write_labeled(data, rows=12_000, start="2026-06-01", days=60, seed=5)
    cfg = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    cfg.update(model="loop", owner="e2e", airflow={"retries": 0})
    cfg["schedule"] = {"training": None}
    cfg["data"].update(source=str(data / "churn" / "labeled"), window_days=30)
    cfg["scoring"] = {"source": str(data / "churn" / "current") + "/{{ ds }}.parquet", "schedule": None}
    cfg["drift"] = {"schedule": None, "cooldown_hours": 0}
    cfg["gates"]["latency"]["repeats"] = 10
    (dags / "configs" / "loop.yaml").write_text(yaml.safe_dump(cfg))
    # The data lives outside the stack's data root: the deployment allows that folder explicitly.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__MLOPS__ALLOWED_DATA_ROOTS", str(data))
        st.init()
        st.start()
        try:
            st.wait_ready()
            yield st, data
        finally:
            st.stop()


def _run(stack, dag_id, logical_date=None):
    run_id = stack.trigger(dag_id, logical_date)
    run = stack.wait_for_run(dag_id, run_id, timeout=600)
    states = {ti["task_id"]: ti["state"] for ti in stack.task_instances(dag_id, run_id)}
    return run, states, run_id


def test_drift_triggers_retraining_and_the_new_champion_resolves_it(loop_stack):
    from mlflow.tracking import MlflowClient

    from mlops_provider.demo.data import write_current, write_labeled

    stack, data = loop_stack
    client = MlflowClient(tracking_uri=stack.mlflow_uri, registry_uri=stack.mlflow_uri)
    for dag in ("loop_training", "loop_scoring", "loop_drift"):
        stack.wait_for_dag(dag)
    run, states, _ = _run(stack, "loop_training")
    assert run["state"] == "success", states
    assert client.get_model_version_by_alias("loop", "champion").version in (1, "1")

    # customers changed from 2026-08-01 on; the scoring DAG serves them with the champion
    write_current(data, start="2026-08-01", days=1, rows_per_day=2_000, seed=9, drift_from="2026-08-01")
    run, states, _ = _run(stack, "loop_scoring", "2026-08-01T06:00:00+00:00")
    assert run["state"] == "success", states
    # and the labels that keep arriving describe the changed world
    write_labeled(data, rows=12_000, start="2026-06-01", days=90, seed=5, drift_from="2026-07-01")

    run, states, drift_run = _run(stack, "loop_drift", "2026-08-01T07:00:00+00:00")
    assert states == {"check_drift": "success", "emit_drift_event": "success", "cost_report": "success"}, states
    check = stack.xcom("loop_drift", drift_run, "check_drift")
    assert check["dataset_drift"] is True and check["decision"]["emit"] is True
    # the Evidently report is one click away from the task in the UI: the operator's extra link
    import urllib.parse

    links = stack.api(
        f"dags/loop_drift/dagRuns/{urllib.parse.quote(drift_run, safe='')}/taskInstances/check_drift/links"
    )
    assert links["extra_links"]["Drift report"] == check["report_uri"]

    # the Asset event schedules the very same training DAG
    asset_run = stack.wait_for_run_of_type("loop_training", "asset_triggered")
    finished = stack.wait_for_run("loop_training", asset_run["dag_run_id"], timeout=600)
    assert finished["state"] == "success"
    champion = client.get_model_version_by_alias("loop", "champion")
    assert str(champion.version) == "2"
    trigger = json.loads(champion.tags["mlops.trigger"])
    assert trigger["run_type"] == "asset_triggered"
    assert trigger["asset_events"][0]["extra"]["drifted_columns"] == check["drifted_columns"]

    # the new champion's training snapshot is the new reference: same served data, drift resolved
    run, states, again = _run(stack, "loop_drift", "2026-08-01T07:30:00+00:00")
    check2 = stack.xcom("loop_drift", again, "check_drift")
    assert check2["champion_version"] == "2"
    assert check2["dataset_drift"] is False, check2["summary"]
    assert states["emit_drift_event"] == "skipped"

    # what people were told, in order, and what the incident log keeps
    lines = (stack.home / "outbox.jsonl").read_text().splitlines()
    told = [a for a in map(json.loads, filter(None, lines)) if a["model"] == "loop"]
    assert [a["kind"] for a in told] == ["promoted", "drift_detected", "retrain_finished"], [a["text"] for a in told]
    drift = told[1]
    assert drift["numbers"]["retrain"] is True and drift["numbers"]["drifted"] == len(check["drifted_columns"])
    assert "Retraining: triggered" in drift["text"]
    assert f"Drift check run: {stack.api_url}/dags/loop_drift/runs/" in drift["text"]
    assert "retraining after drift finished: new model v2 promoted" in told[2]["text"]
    assert "min after drift was detected" in told[2]["text"]
    events = [json.loads(x) for x in (stack.home / "incidents.jsonl").read_text().splitlines() if x.strip()]
    (opened,) = [e for e in events if e["event"] == "open" and e["model"] == "loop"]
    assert opened["kind"] == "drift_detected"
    (closed,) = [e for e in events if e["event"] == "resolve" and e["id"] == opened["id"]]
    assert closed["resolution"].startswith("drift is back under the threshold")
