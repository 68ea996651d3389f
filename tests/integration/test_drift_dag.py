"""Drift DAG with dag.test(): real Evidently report, verdicts vs the champion's snapshot, Asset events, brakes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import STATE
from tests.integration.conftest import model_config, task_states, xcom

pytestmark = pytest.mark.integration


def drift_events(uri: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri)
            .order_by(AssetEvent.id)
        ).all()
        return [dict(e.extra or {}) for e in rows]


@pytest.fixture(scope="module")
def current_days(example_data):
    from mlops_provider.demo.data import write_current

    # three clean days, then two days where customers' behaviour and mix have changed
    write_current(STATE / "data", start="2026-08-10", days=5, rows_per_day=1_500, seed=21, drift_from="2026-08-13")
    return STATE / "data" / "churn" / "current"


def day(d: str) -> dict:
    return {"logical_date": datetime.fromisoformat(d).replace(hour=7, tzinfo=UTC)}


def test_no_drift_no_event_then_drift_emits_with_extra(run_training, run_dag, current_days, mlflow_client):
    cfg = model_config(
        "churn_drifty", **{"scoring.source": "churn/current/{{ ds }}.parquet", "drift.cooldown_hours": 0}
    )
    assert run_training(cfg).state == "success"
    uri = "mlops://churn_drifty/drift"

    assert run_dag(cfg, "scoring", **day("2026-08-10")).state == "success"
    clean = run_dag(cfg, "drift", **day("2026-08-10"))
    states = task_states(clean)
    assert states == {"check_drift": "success", "emit_drift_event": "skipped", "cost_report": "success"}, states
    check = xcom(clean, "check_drift")
    assert check["dataset_drift"] is False and check["decision"]["reason"] == "no dataset drift"
    assert drift_events(uri) == []

    assert run_dag(cfg, "scoring", **day("2026-08-13")).state == "success"
    drifted = run_dag(cfg, "drift", **day("2026-08-13"))
    assert task_states(drifted) == {"check_drift": "success", "emit_drift_event": "success", "cost_report": "success"}
    check = xcom(drifted, "check_drift")
    assert check["dataset_drift"] is True
    assert {"monthly_charges", "support_calls", "contract"} <= set(check["drifted_columns"])
    (event,) = drift_events(uri)
    assert event["drifted_columns"] == check["drifted_columns"]
    assert event["drift_share"] == check["drift_share"] >= 0.5
    assert event["champion_version"] == "1" and event["report_uri"].endswith("drift_report.html")
    # the Evidently report is a real artifact of a monitoring run
    run_id = event["report_uri"].split("/")[-3]
    assert "drift_report.html" in [a.path for a in mlflow_client.list_artifacts(run_id)]

    # the same drift episode, retrain not finished yet (no training run since): de-duplicated, no 2nd event
    assert run_dag(cfg, "scoring", **day("2026-08-14")).state == "success"
    again = run_dag(cfg, "drift", **day("2026-08-14"))
    assert task_states(again)["emit_drift_event"] == "skipped"
    assert xcom(again, "check_drift")["decision"]["brake"] == "deduplication"
    assert len(drift_events(uri)) == 1


def test_cooldown_holds_a_retrain_back_right_after_training(run_training, run_dag, current_days):
    cfg = model_config("churn_cool", **{"scoring.source": "churn/current/{{ ds }}.parquet", "drift.cooldown_hours": 24})
    assert run_training(cfg).state == "success"
    assert run_dag(cfg, "scoring", **day("2026-08-13")).state == "success"
    dr = run_dag(cfg, "drift", **day("2026-08-13"))
    check = xcom(dr, "check_drift")
    assert check["dataset_drift"] is True
    assert check["decision"]["brake"] == "cooldown" and "within the 24 h cooldown" in check["decision"]["reason"]
    assert task_states(dr)["emit_drift_event"] == "skipped"
    assert drift_events("mlops://churn_cool/drift") == []


def test_wide_tables_fan_out_over_column_groups_with_the_same_verdicts(run_training, run_dag, current_days):
    from airflow.utils.session import create_session

    cfg = model_config("churn_wide", **{"scoring.source": "churn/current/{{ ds }}.parquet"})
    assert run_training(cfg).state == "success"
    assert run_dag(cfg, "scoring", **day("2026-08-13")).state == "success"
    whole = xcom(run_dag(cfg, "drift", **day("2026-08-13")), "check_drift")

    cfg["drift"] = {"column_group_size": 4}
    fanned = run_dag(cfg, "drift", logical_date=datetime(2026, 8, 13, 8, tzinfo=UTC))
    with create_session() as session:
        mapped = sorted(
            ti.map_index for ti in fanned.get_task_instances(session=session) if ti.task_id == "feature_drift"
        )
    assert mapped == [0, 1, 2]  # 10 features in groups of 4
    merged = xcom(fanned, "check_drift")
    assert merged["columns"] == whole["columns"]
    assert merged["drifted_columns"] == whole["drifted_columns"]
    assert merged["drift_share"] == whole["drift_share"] and merged["dataset_drift"] is True
