"""Faults in the distributed mode, each during a training run: a worker killed, the MLflow server stopped, S3
unreachable, the scheduler restarted. Each run must still end with exactly one model version, with its whole
lineage, promoted; the outages that fail a task say so in an alert."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.distributed.conftest import add_model, alerts, wait_for_task

pytestmark = pytest.mark.distributed

#: retried with backoff: 10 s, 20 s, 40 s, 80 s after the failures
RETRYING = {"retries": 4, "retry_delay_minutes": 1 / 6, "retry_backoff": 2}


def _one_complete_version(cluster: Any, model: str) -> Any:
    from mlflow.tracking import MlflowClient

    from mlops_provider.lineage.tagging import REQUIRED_TAGS

    client = MlflowClient(tracking_uri=cluster.mlflow_uri, registry_uri=cluster.mlflow_uri)
    versions = client.search_model_versions(f"name='{model}'")
    assert [str(v.version) for v in versions] == ["1"], [(v.version, v.status) for v in versions]
    (version,) = versions
    assert version.status == "READY"
    missing = {f"mlops.{t}" for t in REQUIRED_TAGS} - set(version.tags)
    assert not missing, f"v1 lacks lineage tags {sorted(missing)}"
    assert str(client.get_model_version_by_alias(model, "champion").version) == "1"
    run = client.get_run(version.run_id)
    assert run.info.status == "FINISHED"
    return version


def _wait_for_a_retry(cluster: Any, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
    """The first task instance of the run that failed and waits for its retry."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tis = cluster.task_instances(dag_id, run_id)
        retrying = [t for t in tis if t["state"] in ("up_for_retry", "failed")]
        if retrying:
            return dict(retrying[0])
        time.sleep(1)
    raise TimeoutError(f"no task of {dag_id} {run_id} failed within {timeout:.0f} s of the outage")


def test_a_worker_killed_during_training_leaves_the_task_to_the_other_worker(cluster, tmp_path):
    add_model(cluster, tmp_path, "dkill", airflow=RETRYING)
    run_id = cluster.trigger("dkill_training")
    ti = wait_for_task(cluster, "dkill_training", run_id, "train", "running")
    victim = ti["hostname"]
    assert victim in cluster.worker_names
    cluster.kill(victim)  # the worker, its pool and the task process: as if its machine died
    try:
        run = cluster.wait_for_run("dkill_training", run_id, timeout=900)
    finally:
        cluster.start((victim,))
    tis = {t["task_id"]: t for t in cluster.task_instances("dkill_training", run_id)}
    assert run["state"] == "success", {t: x["state"] for t, x in tis.items()}
    survivor = next(w for w in cluster.worker_names if w != victim)
    assert tis["train"]["try_number"] >= 2 and tis["train"]["hostname"] == survivor
    _one_complete_version(cluster, "dkill")
    # the scheduler failed the silent task for its retry; the alert says it stopped without an error of its own
    told = [a for a in alerts(cluster, "dkill") if a["kind"] == "task_failed"]
    assert told and all(a["numbers"]["retried"] and a["numbers"]["task_id"] == "train" for a in told), told
    assert "stopped without one" in told[0]["text"], told[0]["text"]


def test_the_mlflow_server_stopped_during_a_run_is_waited_for(cluster, tmp_path):
    add_model(cluster, tmp_path, "dmlflow", airflow=RETRYING)
    run_id = cluster.trigger("dmlflow_training")
    wait_for_task(cluster, "dmlflow_training", run_id, "train", "running")
    cluster.stop(processes=("mlflow",))
    try:
        failed = _wait_for_a_retry(cluster, "dmlflow_training", run_id)
    finally:
        cluster.start(("mlflow",))
        cluster.wait_http(f"{cluster.mlflow_uri}/health", "mlflow")
    assert failed["state"] == "up_for_retry", failed
    run = cluster.wait_for_run("dmlflow_training", run_id, timeout=900)
    assert run["state"] == "success"
    _one_complete_version(cluster, "dmlflow")
    told = [a for a in alerts(cluster, "dmlflow") if a["kind"] == "task_failed"]
    assert told, [a["kind"] for a in alerts(cluster, "dmlflow")]
    assert told[0]["numbers"]["retried"] is True and told[0]["numbers"]["task_id"] == failed["task_id"]
    assert f"127.0.0.1:{cluster.mlflow_port}" in told[0]["text"], told[0]["text"]
    assert "Airflow retries it" in told[0]["text"]


def test_s3_unreachable_for_a_while_is_waited_for(cluster, tmp_path):
    add_model(cluster, tmp_path, "ds3", airflow=RETRYING)
    run_id = cluster.trigger("ds3_training")
    # the relay in front of S3 goes before the first task reads the data: refused connections, objects kept
    cluster.stop(processes=("s3",))
    try:
        failed = _wait_for_a_retry(cluster, "ds3_training", run_id)
    finally:
        cluster.start(("s3",))
    assert failed["state"] == "up_for_retry", failed
    run = cluster.wait_for_run("ds3_training", run_id, timeout=900)
    assert run["state"] == "success"
    _one_complete_version(cluster, "ds3")
    told = [a for a in alerts(cluster, "ds3") if a["kind"] == "task_failed"]
    assert told and told[0]["numbers"]["retried"] is True, [a["kind"] for a in alerts(cluster, "ds3")]
    # the task's own S3 read names the endpoint; an upload through MLflow's artifact proxy gets its 500s
    text = told[0]["text"]
    assert f"127.0.0.1:{cluster.s3_port}" in text or "mlflow-artifacts" in text, text


def test_a_scheduler_restarted_mid_run_finishes_the_run(cluster, tmp_path):
    add_model(cluster, tmp_path, "dsched", airflow=RETRYING)
    run_id = cluster.trigger("dsched_training")
    wait_for_task(cluster, "dsched_training", run_id, "train", "running")
    cluster.stop(processes=("scheduler",))
    time.sleep(5)
    cluster.start(("scheduler",))
    run = cluster.wait_for_run("dsched_training", run_id, timeout=900)
    tis = {t["task_id"]: t for t in cluster.task_instances("dsched_training", run_id)}
    assert run["state"] == "success", {t: x["state"] for t, x in tis.items()}
    _one_complete_version(cluster, "dsched")
