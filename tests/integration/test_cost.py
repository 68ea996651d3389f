"""The cost report on a real training run (dag.test(), MLflow on SQLite): what it records, and the budget."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import model_config, task_states, xcom

pytestmark = pytest.mark.integration

MODEL = "churn_cost"


def test_a_training_run_is_priced_from_its_tasks_readings_and_recorded_in_mlflow(run_training, mlflow_client, outbox):
    cfg = model_config(MODEL, **{"cost.instance_type": "m5.xlarge", "cost.monthly_budget_usd": 1000.0})
    dr = run_training(cfg)
    assert dr.state == "success", task_states(dr)
    assert task_states(dr)["cost_report"] == "success"

    report = xcom(dr, "cost_report")
    cost = report["cost"]
    readings = [xcom(dr, t, key="mlops_resources") for t in ("validate_data", "train", "evaluate_gates", "register")]
    readings.append(xcom(dr, "promote", key="mlops_resources"))
    assert all(r["wall_seconds"] > 0 and r["peak_memory_mb"] > 50 for r in readings), readings
    assert cost["tasks"] == 5
    assert cost["task_seconds"] == pytest.approx(sum(r["wall_seconds"] for r in readings), abs=0.01)
    assert cost["compute_usd"] == pytest.approx(cost["task_seconds"] / 3600 * 0.192)  # m5.xlarge on demand
    assert cost["storage_usd"] == pytest.approx(cost["stored_bytes"] / 1024**3 * 0.023)
    assert cost["total_usd"] == pytest.approx(cost["compute_usd"] + cost["storage_usd"])
    # what it stored: at least the model, the holdout and the snapshot
    mv = mlflow_client.get_model_version(MODEL, "1")
    snapshot = xcom(dr, "train")["snapshot_uri"]
    from pathlib import Path

    assert cost["stored_bytes"] > Path(snapshot.removeprefix("file://")).stat().st_size > 0

    (run,) = mlflow_client.search_runs(
        [mlflow_client.get_experiment_by_name(f"{MODEL}-cost").experiment_id],
        filter_string=f"tags.`mlops.airflow_run_id` = '{dr.run_id}'",
    )
    assert run.data.tags["mlops.dag_id"] == f"{MODEL}_training"
    assert run.data.metrics["cost_usd_total"] == pytest.approx(cost["total_usd"])
    training = mlflow_client.get_run(mv.run_id).data.metrics
    assert training["cost_usd_compute"] == pytest.approx(cost["compute_usd"])
    assert training["cost_usd_storage"] == pytest.approx(cost["storage_usd"])
    assert report["budget"]["level"] is None
    assert not [a for a in outbox() if a["model"] == MODEL and a["kind"] == "budget_breach"]


def test_far_over_the_budget_alerts_once_holds_retraining_and_lifts_the_hold_when_raised(
    run_training, mlflow_client, outbox, capsys
):
    from mlops_provider.cli import main
    from mlops_provider.hooks.registry import ModelRegistry
    from mlops_provider.notifications.incidents import open_incidents

    model = "churn_budget"
    tiny = model_config(model, **{"cost.monthly_budget_usd": 1e-9})  # any run is far over it
    assert run_training(tiny).state == "success"
    assert run_training(tiny).state == "success"

    breaches = [a for a in outbox() if a["model"] == model and a["kind"] == "budget_breach"]
    assert len(breaches) == 1, [b["text"] for b in breaches]  # the second run's report does not repeat it
    (breach,) = breaches
    assert breach["severity"] == "critical" and breach["numbers"]["hold"] is True
    assert "Drift-triggered retraining is held (over 2 x the budget). A person must act." in breach["text"]
    assert f"{model}_training $" in breach["text"]
    hold = ModelRegistry(mlflow_client).budget_hold(model)
    assert hold is not None and hold["budget"] == 1e-9 and hold["projected"] > 2e-9
    assert open_incidents(model, "budget")

    capsys.readouterr()
    assert main(["cost", model, "--tracking-uri", mlflow_client.tracking_uri]) == 0
    out = capsys.readouterr().out
    assert f"{model}_training" in out and "Drift-triggered retraining HELD since" in out
    assert main(["cost", model, "--json", "--tracking-uri", mlflow_client.tracking_uri]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed["month"]) == 2 and all(r["dag_id"] == f"{model}_training" for r in printed["recent"])

    raised = model_config(model, **{"cost.monthly_budget_usd": 10_000.0})
    assert run_training(raised).state == "success"
    assert ModelRegistry(mlflow_client).budget_hold(model) is None
    assert not open_incidents(model, "budget")


def test_the_budget_counts_the_actual_spend_cost_explorer_reports(run_training, mlflow_client, outbox, monkeypatch):
    """Cost Explorer is moto's standalone server on loopback, reached through the amazon provider's hook and an
    Airflow AWS connection; it answers with a queued month-to-date bill of $120 for the model's tagged resources."""
    from tests.fixtures.moto import MotoServer

    model = "churn_billed"
    cfg = model_config(
        model,
        **{"cost.cost_explorer_tag": "mlops:model", "cost.monthly_budget_usd": 50.0, "cost.hold_retrain_at": 100.0},
    )
    billed = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-28"},
                "Total": {"UnblendedCost": {"Amount": "120.00", "Unit": "USD"}},
                "Groups": [],
                "Estimated": True,
            }
        ]
    }
    with MotoServer() as moto:
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", moto.aws_connection())
        moto.queue_cost_and_usage(billed)
        dr = run_training(cfg)
    assert dr.state == "success", task_states(dr)

    budget = xcom(dr, "cost_report")["budget"]
    assert budget["actual"] == pytest.approx(120.0)
    assert budget["estimated"] < 1.0  # a few seconds of an m5.large: the bill is what counts
    assert budget["month_to_date"] == pytest.approx(120.0) and budget["level"] == "over"
    (run,) = mlflow_client.search_runs(
        [mlflow_client.get_experiment_by_name(f"{model}-cost").experiment_id],
        filter_string=f"tags.`mlops.airflow_run_id` = '{dr.run_id}'",
    )
    assert run.data.metrics["cost_usd_actual_month_to_date"] == pytest.approx(120.0)
    (breach,) = [a for a in outbox() if a["model"] == model and a["kind"] == "budget_breach"]
    assert breach["severity"] == "warning" and "(month to date $120.00)" in breach["text"]
