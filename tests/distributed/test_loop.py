"""The full loop in the distributed mode: training, scoring, injected drift, the asset-triggered retraining and
its promotion, with the data, snapshots, predictions and MLflow artifacts on S3 and the tasks on both workers."""

from __future__ import annotations

import json

import pytest

from tests.distributed.conftest import add_model, alerts, run_dag

pytestmark = pytest.mark.distributed


def test_full_loop_runs_on_both_workers_with_everything_on_s3(cluster, tmp_path):
    from mlflow.tracking import MlflowClient

    from mlops_provider.demo.data import write_current, write_labeled
    from mlops_provider.lineage.tagging import REQUIRED_TAGS

    local = add_model(cluster, tmp_path, "dloop", airflow={"retries": 0})
    client = MlflowClient(tracking_uri=cluster.mlflow_uri, registry_uri=cluster.mlflow_uri)
    hosts: dict[str, set[str]] = {}

    def ran(tis: dict) -> None:
        for ti in tis.values():
            if ti["state"] == "success":
                hosts.setdefault(ti["hostname"], set()).add(ti["task_id"])

    run, tis = run_dag(cluster, "dloop_training")
    assert run["state"] == "success", {t: ti["state"] for t, ti in tis.items()}
    ran(tis)
    v1 = client.get_model_version_by_alias("dloop", "champion")
    assert str(v1.version) == "1"
    assert set(REQUIRED_TAGS) <= {k.removeprefix("mlops.") for k in v1.tags}, sorted(v1.tags)
    # the snapshot and the model's artifacts are on S3 (through the MLflow server's artifact proxy)
    assert v1.tags["mlops.data_snapshot"].startswith("s3://mlops/snapshots/dloop/")
    s3 = cluster.s3_client()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mlops", Prefix="mlflow/")["Contents"]]
    assert any(k.endswith("MLmodel") for k in keys), keys[:20]

    # drifted traffic is scored, then more labels of the changed world arrive
    write_current(local, start="2026-08-01", days=1, rows_per_day=2_000, seed=9, drift_from="2026-08-01")
    cluster.upload(local / "churn", "data/dloop")
    run, tis = run_dag(cluster, "dloop_scoring", "2026-08-01T06:00:00+00:00")
    assert run["state"] == "success", {t: ti["state"] for t, ti in tis.items()}
    ran(tis)
    predictions = s3.list_objects_v2(Bucket="mlops", Prefix="data/predictions/dloop/").get("Contents", [])
    assert predictions, "no predictions written to S3"
    write_labeled(local, rows=6_000, start="2026-06-01", days=90, seed=5, drift_from="2026-07-01")
    cluster.upload(local / "churn", "data/dloop")

    run, tis = run_dag(cluster, "dloop_drift", "2026-08-01T07:00:00+00:00")
    assert tis["emit_drift_event"]["state"] == "success", {t: ti["state"] for t, ti in tis.items()}
    ran(tis)

    asset_run = cluster.wait_for_run_of_type("dloop_training", "asset_triggered")
    finished = cluster.wait_for_run("dloop_training", asset_run["dag_run_id"], timeout=900)
    assert finished["state"] == "success"
    ran({ti["task_id"]: ti for ti in cluster.task_instances("dloop_training", asset_run["dag_run_id"])})
    v2 = client.get_model_version_by_alias("dloop", "champion")
    assert str(v2.version) == "2"
    assert json.loads(v2.tags["mlops.trigger"])["run_type"] == "asset_triggered"

    kinds = [a["kind"] for a in alerts(cluster, "dloop")]
    assert kinds == ["promoted", "drift_detected", "retrain_finished"], kinds
    # the work spread over both workers, each named as its own host
    assert set(hosts) == set(cluster.worker_names), {h: sorted(t) for h, t in hosts.items()}
