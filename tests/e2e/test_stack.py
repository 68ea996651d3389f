"""End to end on a real Airflow: scheduler, dag-processor, triggerer and API server as separate processes.

The DAG is triggered with the ``airflow`` CLI, completion is polled through the REST API, and the
outcome is read from the MLflow registry. A broken config dropped next to the good one shows up as an
import error naming its field while the good model's DAG stays available.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import new_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    from mlops_provider.demo.data import write_labeled

    st = new_stack(tmp_path_factory.mktemp("e2e"), shipped_configs=True)
    write_labeled(st.home / "data", rows=20_000, start="2026-06-01", days=90, seed=3)
    st.init()
    st.start()
    try:
        st.wait_ready()
        yield st
    finally:
        stopped = st.stop()
        assert set(stopped) == {"scheduler", "dag-processor", "triggerer", "api-server"}
        assert st.running() == {}


def test_cli_trigger_runs_training_to_a_champion(stack):
    from mlflow.tracking import MlflowClient

    stack.wait_for_dag("churn_training")
    run_id = stack.trigger("churn_training")
    run = stack.wait_for_run("churn_training", run_id, timeout=600)
    states = {ti["task_id"]: ti["state"] for ti in stack.task_instances("churn_training", run_id)}
    assert run["state"] == "success", states
    assert states == dict.fromkeys(["validate_data", "train", "evaluate_gates", "register", "promote"], "success")

    client = MlflowClient(tracking_uri=stack.mlflow_uri, registry_uri=stack.mlflow_uri)
    champion = client.get_model_version_by_alias("churn", "champion")
    assert champion.tags["mlops.airflow_run_id"] == run_id
    assert champion.tags["mlops.airflow_dag_id"] == "churn_training"
    assert json.loads(champion.tags["mlops.trigger"])["run_type"] == "manual"
    reg = stack.xcom("churn_training", run_id, "register")
    assert str(reg["version"]) == str(champion.version)


def test_broken_config_is_an_import_error_and_good_dags_stay(stack):
    configs = stack.dags_folder / "configs"
    bad = yaml.safe_load((configs / "churn.yaml").read_text())
    bad["model"] = "churn_broken"
    bad["gates"]["metrics"][0]["min"] = "high"
    (configs / "churn_broken.yaml").write_text(yaml.safe_dump(bad))

    deadline = time.monotonic() + 180
    errors: list[dict] = []
    while time.monotonic() < deadline:
        out = stack.airflow("dags", "list-import-errors", "--output", "json", check=False).stdout
        line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("[")), "[]")
        errors = json.loads(line)
        if errors:
            break
        time.sleep(3)
    assert len(errors) == 1, errors
    (err,) = errors
    assert Path(err["filepath"]).name == "mlops_config_errors.py"
    assert "churn_broken.yaml" in err["error"]
    assert "gates.metrics[0].min" in err["error"] and "'high'" in err["error"]

    listing = stack.airflow("dags", "list", "--output", "json").stdout
    dag_ids = {d["dag_id"] for d in json.loads(next(ln for ln in reversed(listing.splitlines()) if ln.startswith("[")))}
    assert "churn_training" in dag_ids
    assert "churn_broken_training" not in dag_ids
