"""The training DAG factory and the dags/ loader: topology and parse cost, without running anything."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

HEAVY = ("mlflow", "evidently", "great_expectations", "sklearn", "pandas", "scipy")


@pytest.fixture()
def dags_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    shutil.copytree(REPO / "dags", folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


#: The DAGs of the shipped configs (churn, and churn_canary which deploys by canary), sorted.
SHIPPED_DAGS = [
    f"{model}_{kind}"
    for model in ("churn", "churn_canary")
    for kind in ("drift", "retention", "rollback", "scoring", "training")
]


def _parse_in_fresh_interpreter(folder: Path, **env_vars: str) -> dict:
    probe = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "bag = DagBag(dag_folder=sys.argv[1])\n"
        "print(json.dumps({'dags': sorted(bag.dags), 'errors': {k: v for k, v in bag.import_errors.items()},\n"
        f"  'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    )
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **env_vars}
    out = subprocess.run(
        [sys.executable, "-c", probe, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=300,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_parsing_the_dags_folder_imports_no_heavy_library(dags_folder: Path) -> None:
    result = _parse_in_fresh_interpreter(dags_folder)
    assert result["dags"] == sorted(SHIPPED_DAGS)
    assert result["errors"] == {}
    assert result["heavy"] == []


def test_one_broken_config_leaves_the_others_loaded(dags_folder: Path) -> None:
    cfg = yaml.safe_load((dags_folder / "configs" / "churn.yaml").read_text())
    cfg["model"] = "fraud"
    (dags_folder / "configs" / "fraud.yaml").write_text(yaml.safe_dump(cfg))
    cfg["model"] = "broken"
    cfg["training"]["test_size"] = 1.5
    (dags_folder / "configs" / "broken.yaml").write_text(yaml.safe_dump(cfg))

    result = _parse_in_fresh_interpreter(dags_folder)
    assert result["dags"] == [
        *sorted(SHIPPED_DAGS),
        "fraud_drift",
        "fraud_retention",
        "fraud_rollback",
        "fraud_scoring",
        "fraud_training",
    ]
    assert list(map(lambda p: Path(p).name, result["errors"])) == ["mlops_config_errors.py"]
    (message,) = result["errors"].values()
    assert "broken.yaml" in message and "training.test_size" in message and "1.5" in message
    assert "churn.yaml" not in message and "churn_canary.yaml" not in message


def test_the_dag_loader_checks_data_paths_against_the_deployments_allowed_data_roots(
    dags_folder: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    cfg = yaml.safe_load((dags_folder / "configs" / "churn.yaml").read_text())
    cfg.update(model="fraud")
    cfg["data"]["source"] = str(shared / "fraud")
    (dags_folder / "configs" / "fraud.yaml").write_text(yaml.safe_dump(cfg))
    cfg.update(model="leak", description="{{ conn.mlflow_default.password }}")
    (dags_folder / "configs" / "leak.yaml").write_text(yaml.safe_dump(cfg))

    refused = _parse_in_fresh_interpreter(dags_folder, AIRFLOW__MLOPS__ALLOWED_DATA_ROOTS="")
    assert refused["dags"] == sorted(SHIPPED_DAGS)
    (message,) = refused["errors"].values()
    assert f"field 'data.source': '{shared / 'fraud'}' is outside the data roots" in message
    assert "field 'description': '{{ conn.mlflow_default.password }}' contains the template" in message

    allowed = _parse_in_fresh_interpreter(dags_folder, AIRFLOW__MLOPS__ALLOWED_DATA_ROOTS=f"s3://x/y,{shared}")
    assert "fraud_training" in allowed["dags"] and "leak_training" not in allowed["dags"]


def test_a_worker_running_one_task_builds_only_that_dag(dags_folder: Path) -> None:
    cfg = yaml.safe_load((dags_folder / "configs" / "churn.yaml").read_text())
    cfg["model"] = "fraud"
    (dags_folder / "configs" / "fraud.yaml").write_text(yaml.safe_dump(cfg))
    # What Airflow's task runner sets while it parses the file to find the task it is about to run.
    result = _parse_in_fresh_interpreter(
        dags_folder, _AIRFLOW_PARSING_CONTEXT_DAG_ID="fraud_scoring", _AIRFLOW_PARSING_CONTEXT_TASK_ID="score"
    )
    assert result["dags"] == ["fraud_scoring"]
    assert result["errors"] == {}


def test_training_dag_topology_schedule_and_docs() -> None:
    from airflow.sdk import AssetOrTimeSchedule

    from mlops_provider.config import load_config
    from mlops_provider.factories import build_training_dag

    config = load_config(REPO / "dags" / "configs" / "churn.yaml")
    dag = build_training_dag(config, source="dags/configs/churn.yaml")
    assert type(dag).__name__ == "DAG" and type(dag).__module__.startswith("airflow.sdk")
    assert dag.dag_id == "churn_training"
    order = [t.task_id for t in dag.topological_sort()]
    assert order == ["validate_data", "train", "evaluate_gates", "register", "promote", "cost_report"]
    for up, down in itertools.pairwise(order):
        assert up in dag.get_task(down).upstream_task_ids
    report = dag.get_task("cost_report")
    assert report.is_teardown and not report.on_failure_fail_dagrun  # runs whatever happened; never fails the run
    assert set(dag.tags) == {"mlops", "churn"}
    assert isinstance(dag.schedule, AssetOrTimeSchedule)
    assert [a.uri for a in dag.schedule.asset_condition.objects] == ["mlops://churn/drift"]
    assert dag.schedule.timetable.expression == "0 2 * * *"
    task = dag.get_task("train")
    assert task.owner == "ml-platform" and task.retries == 1
    # a failure alerts whether Airflow retries the task (then as a warning) or not
    assert [type(c).__name__ for c in task.on_retry_callback] == ["AlertNotifier"]
    assert [type(c).__name__ for c in task.on_failure_callback] == ["AlertNotifier"]
    backoff = config.model_copy(update={"airflow": config.airflow.model_copy(update={"retry_backoff": 2.0})})
    assert build_training_dag(backoff, source="x").get_task("train").retry_exponential_backoff == 2.0
    # the resolved config (defaults merged) is shown in the DAG's docs
    assert "```yaml" in dag.doc_md and "owner: ml-platform" in dag.doc_md
    assert "HistGradientBoostingClassifier" in dag.doc_md


def test_every_dag_of_a_model_shows_the_resolved_config_rendered_once() -> None:
    from mlops_provider.config import load_config
    from mlops_provider.config.loader import resolved
    from mlops_provider.factories import build_rollback_dag, build_training_dag
    from mlops_provider.factories.common import resolved_config_md

    path = REPO / "dags" / "configs" / "churn.yaml"
    config = load_config(path)
    text = resolved_config_md(config, "dags/configs/churn.yaml")
    assert resolved(config) is resolved(config)  # the same config: rendered once
    for build in (build_training_dag, build_rollback_dag):
        assert (build(config, source="dags/configs/churn.yaml").doc_md or "").endswith(text)
    # another source, or another config object (even an equal one), gets its own text
    assert resolved_config_md(config, "elsewhere.yaml").startswith("Config file: `elsewhere.yaml`")
    changed = config.model_copy(update={"owner": "someone-else"})
    assert "owner: someone-else" in resolved_config_md(changed, "dags/configs/churn.yaml")
    assert resolved_config_md(load_config(path), "dags/configs/churn.yaml") == text


def test_config_without_cron_is_scheduled_by_drift_only() -> None:
    from airflow.sdk import Asset

    from mlops_provider.config import PipelineConfig
    from mlops_provider.factories import build_training_dag

    raw = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    raw["schedule"] = {"training": None}
    dag = build_training_dag(PipelineConfig.model_validate(raw))
    assert isinstance(dag.schedule, Asset) and dag.schedule.uri == "mlops://churn/drift"


def test_rollback_dag_is_manual_with_one_task_and_its_params() -> None:
    from mlops_provider.config import PipelineConfig
    from mlops_provider.factories import build_rollback_dag

    config = PipelineConfig.model_validate(yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text()))
    dag = build_rollback_dag(config, source="dags/configs/churn.yaml")
    assert dag.dag_id == "churn_rollback" and dag.schedule is None
    assert list(dag.task_ids) == ["rollback"]
    assert dag.params["version"] is None and dag.params["reason"] == "manual rollback"
    assert set(dag.tags) == {"mlops", "churn", "rollback"} and dag.owner == config.owner
    assert "airflow dags trigger churn_rollback" in (dag.doc_md or "")


def test_retention_dag_runs_weekly_with_a_dry_run_param_and_ends_with_the_cost_report() -> None:
    from mlops_provider.config import PipelineConfig
    from mlops_provider.factories import build_retention_dag

    raw = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    dag = build_retention_dag(PipelineConfig.model_validate(raw), source="dags/configs/churn.yaml")
    assert dag.dag_id == "churn_retention" and dag.timetable.expression == "0 4 * * 0"
    assert [t.task_id for t in dag.topological_sort()] == ["apply_retention", "cost_report"]
    assert dag.params["dry_run"] is False and dag.params["as_of"] is None
    # a trigger's values are checked against the params' schemas (written in JSON-Schema Draft 7)
    from airflow.sdk.definitions.param import ParamValidationError

    dry_run, as_of = dag.params.get_param("dry_run"), dag.params.get_param("as_of")
    assert dry_run.resolve(True) is True and as_of.resolve("2026-03-01T00:00:00+00:00")
    for param, bad in ((dry_run, "yes"), (as_of, 5)):
        with pytest.raises(ParamValidationError):
            param.resolve(bad)
    assert dry_run.schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert """airflow dags trigger churn_retention -c '{"dry_run": true}'""" in (dag.doc_md or "")
    raw["retention"] = {"schedule": None}
    assert build_retention_dag(PipelineConfig.model_validate(raw)).schedule is None


def test_a_scheduled_dag_unpaused_after_its_time_waits_for_the_next_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Enabled at 02:30, a nightly training DAG (cron 02:00) first runs tomorrow at 02:00, not at once for
    tonight's 02:00 beside the run the user triggers; the same for the scoring and drift crons."""
    from datetime import UTC, datetime

    import airflow.timetables.trigger as trigger
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import TimeRestriction

    from mlops_provider.config import PipelineConfig
    from mlops_provider.factories import build_drift_dag, build_scoring_dag, build_training_dag

    config = PipelineConfig.model_validate(yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text()))
    for build, hour in ((build_training_dag, 2), (build_scoring_dag, 6), (build_drift_dag, 7)):
        now = datetime(2026, 11, 28, hour, 30, tzinfo=UTC)
        monkeypatch.setattr(trigger, "utcnow", lambda now=now: now)
        dag = DagSerialization.from_dict(DagSerialization.to_dict(build(config, source="x")))  # as the scheduler has it
        first = dag.timetable.next_dagrun_info(
            last_automated_data_interval=None, restriction=TimeRestriction(earliest=None, latest=None, catchup=False)
        )
        assert first is not None and first.run_after == datetime(2026, 11, 29, hour, 0, tzinfo=UTC), dag.dag_id
