"""The training DAG end to end with dag.test(): real Great Expectations, scikit-learn and MLflow (SQLite)."""

from __future__ import annotations

import json

import pytest

from mlops_provider.lineage import REQUIRED_TAGS
from mlops_provider.notifications.incidents import FAILURE_KINDS
from tests.conftest import STATE
from tests.integration.conftest import model_config, task_states

pytestmark = pytest.mark.integration


def versions(client, name):
    return sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))


def alias(client, name, which):
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, which).version)
    except MlflowException:
        return None


def holdout_metrics(client, mv):
    run = client.get_run(mv.run_id)
    return {k: v for k, v in run.data.metrics.items() if k.startswith("holdout_")}


def test_first_run_registers_champion_with_lineage_then_identical_rerun_matches(run_training, mlflow_client):
    cfg = model_config("churn_first")
    dr = run_training(cfg)
    assert dr.state == "success", task_states(dr)

    (v1,) = versions(mlflow_client, "churn_first")
    assert alias(mlflow_client, "churn_first", "champion") == str(v1.version) == "1"
    tags = v1.tags
    for name in REQUIRED_TAGS:
        assert tags.get(f"mlops.{name}"), f"lineage tag mlops.{name} missing on v1"
    assert tags["mlops.seed"] == "42"
    assert tags["mlops.airflow_dag_id"] == "churn_first_training"
    assert tags["mlops.airflow_run_id"] == dr.run_id
    assert len(tags["mlops.data_sha256"]) == 64 and int(tags["mlops.data_rows"]) > 1000
    (training_input,) = mlflow_client.get_run(v1.run_id).inputs.dataset_inputs
    assert training_input.dataset.digest == tags["mlops.data_sha256"][:16]  # the MLflow dataset is the snapshot
    gates = json.loads(tags["mlops.gates"])
    assert {g["gate"] for g in gates} >= {"metric.roc_auc", "champion.roc_auc", "fairness.region.recall"}
    history = json.loads(tags["mlops.promotion"])
    assert history[-1]["from"] is None and history[-1]["to"] == "1"

    # Same code, same data, same config -> same data hash and same metrics; v2 becomes champion.
    dr2 = run_training(cfg)
    assert dr2.state == "success", task_states(dr2)
    v1, v2 = versions(mlflow_client, "churn_first")
    assert v2.tags["mlops.data_sha256"] == v1.tags["mlops.data_sha256"]
    assert v2.tags["mlops.config_sha256"] == v1.tags["mlops.config_sha256"]
    assert holdout_metrics(mlflow_client, v2) == holdout_metrics(mlflow_client, v1)
    assert alias(mlflow_client, "churn_first", "champion") == "2"
    assert alias(mlflow_client, "churn_first", "previous_champion") == "1"
    champion_gate = next(g for g in json.loads(v2.tags["mlops.gates"]) if g["gate"] == "champion.roc_auc")
    assert champion_gate["passed"] and champion_gate["value"] == pytest.approx(0.0, abs=1e-12)


def test_clearly_worse_model_is_stopped_by_champion_gate(run_training, mlflow_client, outbox):
    good = model_config("churn_worse")
    assert run_training(good).state == "success"
    worse = model_config(
        "churn_worse",
        **{
            "training.estimator": {"class": "sklearn.dummy.DummyClassifier", "params": {"strategy": "prior"}},
            "gates.metrics": [],
            "gates.fairness": [],
        },
    )
    dr = run_training(worse)
    states = task_states(dr)
    assert dr.state == "failed"
    assert states["evaluate_gates"] == "failed" and states["register"] == "upstream_failed"
    assert [str(v.version) for v in versions(mlflow_client, "churn_worse")] == ["1"]
    assert alias(mlflow_client, "churn_worse", "champion") == "1"
    (alert,) = [a for a in outbox() if a["model"] == "churn_worse" and a["kind"] in FAILURE_KINDS]
    assert "champion.roc_auc FAILED" in alert["text"]
    assert "vs champion v1" in alert["text"] and "allowed 0.01" in alert["text"]


def test_data_breaking_an_expectation_stops_before_training(run_training, mlflow_client, outbox):

    from mlops_provider.demo.data import generate_labeled

    df = generate_labeled(rows=3_000, start="2026-06-01", days=30, seed=5)
    df.loc[df.index[:40], "tenure_months"] = -5  # impossible tenure
    target = STATE / "data" / "broken" / "labeled.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(target, index=False)
    cfg = model_config("churn_baddata", **{"data.source": "broken/labeled.parquet"})

    dr = run_training(cfg)
    states = task_states(dr)
    assert dr.state == "failed"
    assert states["validate_data"] == "failed" and states["train"] == "upstream_failed"
    assert versions(mlflow_client, "churn_baddata") == []
    (alert,) = [a for a in outbox() if a["model"] == "churn_baddata" and a["kind"] in FAILURE_KINDS]
    assert "1 of 8 expectations failed" in alert["text"]
    assert "expect_column_values_to_be_between(column='tenure_months'" in alert["text"]
    assert "40 unexpected" in alert["text"]


def test_data_source_linked_out_of_the_data_root_fails_without_retry_or_reading(run_training, mlflow_client, outbox):
    """A path that passes the config check (relative, no '..') but leads out through a symbolic link."""
    from mlops_provider.demo.data import generate_labeled

    outside = STATE / "outside_data_root" / "labeled"
    outside.mkdir(parents=True, exist_ok=True)
    df = generate_labeled(rows=2_000, start="2026-06-01", days=30, seed=9)
    df["plan"] = "OUTSIDE-ONLY-MARKER"  # would show up in the data, the snapshot or a message if it were read
    df.to_parquet(outside / "part.parquet", index=False)
    link = STATE / "data" / "sneaky"
    if not link.exists():
        link.symlink_to(outside.parent)
    cfg = model_config(
        "churn_sneaky",
        **{"data.source": "sneaky/labeled", "airflow.retries": 2, "airflow.retry_delay_minutes": 0},
    )

    dr = run_training(cfg)
    states = task_states(dr)
    assert dr.state == "failed"
    assert states["validate_data"] == "failed" and states["train"] == "upstream_failed"
    (alert,) = [a for a in outbox() if a["model"] == "churn_sneaky" and a["kind"] in FAILURE_KINDS]
    text = alert["text"]
    assert "(not retried: a retry would fail the same way" in text  # failed for good on the first try
    assert "try 1 of 3" not in text
    assert "DataPathError: config field data.source 'sneaky/labeled' resolves (through a symbolic link) to" in text
    assert "[mlops] allowed_data_roots" in text
    assert "OUTSIDE-ONLY-MARKER" not in text
    assert not (STATE / "artifacts" / "snapshots" / "churn_sneaky").exists()  # nothing was read or stored
    assert versions(mlflow_client, "churn_sneaky") == []


def test_fairness_gap_above_limit_stops_with_the_gap(run_training, mlflow_client, outbox):
    cfg = model_config(
        "churn_unfair",
        **{"gates.fairness": [{"slice": "region", "metric": "recall", "max_gap": 0.001, "min_rows": 30}]},
    )
    dr = run_training(cfg)
    assert dr.state == "failed"
    assert versions(mlflow_client, "churn_unfair") == []
    (alert,) = [a for a in outbox() if a["model"] == "churn_unfair" and a["kind"] in FAILURE_KINDS]
    assert "fairness.region.recall FAILED: recall gap" in alert["text"]
    assert "allowed 0.001" in alert["text"]


def test_retried_register_task_keeps_one_version(run_training, mlflow_client):
    cfg = model_config("churn_retry")
    dr = run_training(cfg)
    assert dr.state == "success"
    (v1,) = versions(mlflow_client, "churn_retry")

    # A retry or a cleared task runs execute() again with the same upstream results.
    from mlops_provider.config import PipelineConfig
    from mlops_provider.operators.registry import RegisterModelOperator

    run = mlflow_client.get_run(v1.run_id)
    training = {
        "mlflow_run_id": v1.run_id,
        "model_uri": v1.source,
        "metrics": {},
        "rows": 1,
        "snapshot_uri": run.data.tags["mlops.data_snapshot"],
        "data_sha256": "x",
    }
    op = RegisterModelOperator(
        task_id="register",
        config=PipelineConfig.model_validate(cfg),
        training=training,
        gates={"passed": True, "results": []},
    )

    class _Dag:
        dag_id = "churn_retry_training"

    result = op.execute({"dag": _Dag(), "run_id": dr.run_id})
    assert result == {"name": "churn_retry", "version": "1", "mlflow_run_id": v1.run_id, "created": False}
    assert [str(v.version) for v in versions(mlflow_client, "churn_retry")] == ["1"]
    # and the version that exists carries its lineage: nothing untagged was left behind
    assert all(v.tags.get("mlops.data_sha256") for v in versions(mlflow_client, "churn_retry"))
