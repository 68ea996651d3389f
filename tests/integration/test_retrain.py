"""Retrains that cannot change anything, and lineage that does not fit in a tag."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tests.conftest import STATE
from tests.integration.conftest import model_config, task_states, xcom

pytestmark = pytest.mark.integration


def _training_task(model: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(STATE / "dags"))
    dag = bag.dags[f"{model}_training"]
    return dag, dag.get_task("train")


def _drift_context(dag, asset_uri: str) -> dict:
    """What the task sees when the model's drift Asset started the run."""
    from airflow.sdk import Asset

    event = SimpleNamespace(extra={"drift_share": 0.7, "champion_version": "1"})
    return {
        "dag": dag,
        "run_id": "asset_triggered__2026-09-01T07:00:00+00:00",
        "dag_run": SimpleNamespace(run_type="asset_triggered"),
        "triggering_asset_events": {Asset(name=asset_uri, uri=asset_uri): [event]},
    }


def test_a_drift_retrain_on_the_champions_own_data_registers_nothing_and_escalates(run_training, mlflow_client, outbox):
    from airflow.sdk.exceptions import AirflowSkipException

    from mlops_provider.config import PipelineConfig

    cfg = model_config("churn_same")
    first = run_training(cfg)
    assert first.state == "success", task_states(first)
    dataset = xcom(first, "validate_data")
    dag, train = _training_task("churn_same")
    uri = PipelineConfig.model_validate(cfg).drift_asset_uri
    # the retrain's own MLflow run (validate_data opens one per DAG run), on the same window: same snapshot
    experiment = mlflow_client.get_experiment_by_name("churn_same").experiment_id
    retrain_run = mlflow_client.create_run(experiment).info.run_id
    train.dataset = {**dataset, "mlflow_run_id": retrain_run}

    # a changed snapshot (new labeled rows) lets the retrain go ahead
    other = {**dataset, "mlflow_run_id": retrain_run, "data_sha256": "f" * 64}
    train.dataset = other
    train.refuse_unchanged_retrain(_drift_context(dag, uri), retrain_run)  # returns: the data changed
    # a run that the drift Asset did not start is never held back
    train.dataset = {**dataset, "mlflow_run_id": retrain_run}
    manual = {"dag": dag, "run_id": "manual__x", "dag_run": SimpleNamespace(run_type="manual")}
    train.refuse_unchanged_retrain(manual, retrain_run)

    with pytest.raises(AirflowSkipException) as raised:
        train.execute(_drift_context(dag, uri))
    message = str(raised.value)
    assert "drift persists, but there are no new labeled rows since v1" in message
    assert dataset["data_sha256"][:12] in message and "retraining cannot fix this" in message

    assert [str(v.version) for v in mlflow_client.search_model_versions("name = 'churn_same'")] == ["1"]
    episode = json.loads(mlflow_client.get_registered_model("churn_same").tags["mlops.drift_episode"])
    assert episode["no_new_data"]["champion"] == "1"
    assert episode["no_new_data"]["data_sha256"] == dataset["data_sha256"]
    run = mlflow_client.get_run(retrain_run)
    assert run.info.status == "KILLED" and run.data.tags["mlops.retrain_outcome"] == "no_new_data"
    alerts = [a for a in outbox() if "no new labeled rows" in a["text"]]
    assert len(alerts) == 1 and alerts[0]["model"] == "churn_same"


def test_a_config_too_long_for_a_tag_is_kept_as_an_artifact(run_training, mlflow_client):
    from mlops_provider.lineage.audit import audit_record

    notes = " ".join(f"Feature note {i}: collected by the billing export, refreshed nightly." for i in range(2_000))
    assert len(notes) > 100_000
    cfg = model_config("churn_bigcfg", description=notes)
    dr = run_training(cfg)
    assert dr.state == "success", task_states(dr)
    (v1,) = mlflow_client.search_model_versions("name = 'churn_bigcfg'")
    assert "mlops.config" not in v1.tags and len(v1.tags["mlops.config_sha256"]) == 64
    recorded = audit_record(mlflow_client, "churn_bigcfg", 1)["code"]["config"]
    assert recorded["description"] == notes and recorded["model"] == "churn_bigcfg"


def test_a_failed_registration_leaves_no_empty_registered_model(airflow_db, mlflow_client):
    from mlflow.exceptions import MlflowException

    from mlops_provider.hooks.mlflow import MlflowHook
    from mlops_provider.hooks.registry import RegistryError

    registry = MlflowHook(mlflow_conn_id="mlflow_default").registry
    experiment = mlflow_client.create_experiment("churn_empty_runs")
    run_id = mlflow_client.create_run(experiment).info.run_id
    with pytest.raises(RegistryError, match="exceed MLflow's limit"):
        registry.register("churn_empty", f"runs:/{run_id}/model", run_id, {"mlops.config": "x" * 100_001})
    with pytest.raises(Exception):  # noqa: B017 - whatever MLflow raises for a model that has no logged files
        registry.register("churn_empty", "models:/m-0123456789abcdef0123456789abcdef", run_id, {})
    with pytest.raises(MlflowException, match=r"RESOURCE_DOES_NOT_EXIST|not found|does not exist"):
        mlflow_client.get_registered_model("churn_empty")
