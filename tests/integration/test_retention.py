"""The retention DAG on a real MLflow store: 32 versions of a model, an alias on an old one, a dry run that
changes nothing, a run that archives, and a run weeks later (``as_of``) that deletes.

Real Airflow (``dag.test``), the MLflow SQLite store of the integration suite, local artifact folders.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlops_provider.naming import ARCHIVE_MANIFEST, ARCHIVED_TAG, CHAMPION, PREVIOUS_CHAMPION
from tests.conftest import STATE
from tests.integration.conftest import model_config, task_states, xcom

pytestmark = pytest.mark.integration

MODEL = "churn_ret"
VERSIONS = 32
ARCHIVE = STATE / "artifacts" / "archive" / MODEL
PREDICTIONS = STATE / "data" / "predictions" / MODEL
FIRST_RUN = datetime(2026, 11, 2, 4, tzinfo=UTC)


def config() -> dict[str, Any]:
    return model_config(MODEL, **{"retention.keep_last": 5, "retention.schedule": None})


def snapshot(client: Any) -> dict[str, Any]:
    """Every version with its tags and aliases, the archive folder, the prediction log days, the drift runs."""
    versions = {str(mv.version): (mv.source, dict(mv.tags)) for mv in client.search_model_versions(f"name = '{MODEL}'")}
    experiment = client.get_experiment_by_name(f"{MODEL}-monitoring")
    return {
        "versions": versions,
        "aliases": client.get_registered_model(MODEL).aliases,
        "archive": sorted(str(p.relative_to(ARCHIVE)) for p in ARCHIVE.rglob("*")) if ARCHIVE.exists() else [],
        "logs": sorted(p.name for p in PREDICTIONS.iterdir()),
        "drift_runs": sorted(r.info.run_id for r in client.search_runs([experiment.experiment_id])),
        "sources": sorted(str(p) for p in (STATE / "model-copies").rglob("*")),
    }


@pytest.fixture(scope="module")
def registry_of_32(airflow_db: Path) -> dict[str, Any]:
    """One small model logged once, copied into 32 folders, each registered as a version of MODEL; v2 is
    previous_champion and v32 champion; v3 says a DAG run Airflow does not know made it. Plus prediction log
    days and drift-check runs, old and new."""
    import mlflow
    import numpy as np
    from mlflow.tracking import MlflowClient
    from sklearn.linear_model import LogisticRegression

    uri = f"sqlite:///{STATE / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    mlflow.set_tracking_uri(uri)
    experiment = client.create_experiment(MODEL, artifact_location=str(STATE / "artifacts" / MODEL))
    X, y = np.arange(20.0).reshape(-1, 1), np.array([0, 1] * 10)
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model")
    logged = Path(mlflow.artifacts.download_artifacts(artifact_uri=info.model_uri, dst_path=str(STATE / "logged")))
    client.create_registered_model(MODEL)
    for v in range(1, VERSIONS + 1):
        folder = STATE / "model-copies" / f"v{v}"
        shutil.copytree(logged, folder)
        client.create_model_version(MODEL, source=str(folder), run_id=None)
    client.set_registered_model_alias(MODEL, PREVIOUS_CHAMPION, "2")
    client.set_registered_model_alias(MODEL, CHAMPION, str(VERSIONS))
    client.set_model_version_tag(MODEL, "3", "mlops.airflow_dag_id", f"{MODEL}_training")
    client.set_model_version_tag(MODEL, "3", "mlops.airflow_run_id", "manual__cleaned_up_long_ago")
    # v4 was made by the (first) retention run itself: while that run runs, v4 must be kept
    client.set_model_version_tag(MODEL, "4", "mlops.airflow_dag_id", f"{MODEL}_retention")
    client.set_model_version_tag(MODEL, "4", "mlops.airflow_run_id", f"manual__{FIRST_RUN.isoformat()}")

    now = datetime.now(UTC)
    for days_ago in (300, 250, 10, 1):
        day = (now - timedelta(days=days_ago)).date().isoformat()
        (PREDICTIONS / f"scoring_date={day}").mkdir(parents=True)
        (PREDICTIONS / f"scoring_date={day}" / "predictions.parquet").write_bytes(b"x" * 1000)
    monitoring = client.create_experiment(f"{MODEL}-monitoring")
    for days_ago in (200, 5):
        run = client.create_run(monitoring, start_time=int((now - timedelta(days=days_ago)).timestamp() * 1000))
        client.set_terminated(run.info.run_id)
    return {"client": client, "now": now}


def by_version(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["version"]: d for d in result["versions"]}


def test_dry_run_then_archive_then_delete_weeks_later(registry_of_32, run_dag, mlflow_state) -> None:
    client, now = registry_of_32["client"], registry_of_32["now"]
    before = snapshot(client)
    in_40_days = (now + timedelta(days=40)).isoformat()

    # 1. dry run, as if 40 days had passed: the plan with sizes, and nothing changes
    dry = run_dag(
        config(),
        "retention",
        logical_date=FIRST_RUN,
        run_after=FIRST_RUN,
        run_conf={"dry_run": True, "as_of": in_40_days},
    )
    assert dry.state == "success", task_states(dry)
    plan = xcom(dry, "apply_retention")
    assert plan["dry_run"] is True and plan["archive_root"] == str(ARCHIVE)
    decided = by_version(plan)
    assert len(decided) == VERSIONS
    assert (decided["2"]["action"], decided["2"]["reason"]) == ("keep", "alias previous_champion points at it")
    assert (decided["32"]["action"], decided["32"]["reason"]) == ("keep", "alias champion points at it")
    assert [decided[str(v)]["reason"] for v in range(28, 32)] == ["one of the newest 5 versions"] * 4
    running = f"{MODEL}_retention/manual__{FIRST_RUN.isoformat()}"
    assert (decided["4"]["action"], decided["4"]["reason"]) == ("keep", f"its DAG run {running} is still running")
    archived = {v for v, d in decided.items() if d["action"] == "archive"}
    assert archived == {str(v) for v in (1, 3, *range(5, 28))}  # v3: its run is gone from Airflow, not running
    assert all(decided[v]["bytes"] and decided[v]["bytes"] > 100 for v in archived)  # sizes of the model files
    assert [p["partition"] for p in plan["prediction_logs"]] == sorted(before["logs"])[:2]
    assert all(p["bytes"] == 1000 for p in plan["prediction_logs"])
    assert len(plan["drift_runs"]) == 1
    assert snapshot(client) == before

    # 2. the same, for real: old unaliased versions archived (tag, copy, originals removed); the rest untouched
    real = run_dag(config(), "retention", run_conf={"as_of": in_40_days})
    assert real.state == "success", task_states(real)
    archived.add("4")  # the run that made it has finished
    after = snapshot(client)
    assert set(after["versions"]) == set(before["versions"])  # nothing deleted yet
    for v in archived:
        record = json.loads(after["versions"][v][1][ARCHIVED_TAG])
        assert record["uri"] == str(ARCHIVE / f"v{v}") and record["bytes"] == decided[v]["bytes"]
        assert (ARCHIVE / f"v{v}" / "MLmodel").is_file() and (ARCHIVE / f"v{v}" / ARCHIVE_MANIFEST).is_file()
        assert not (STATE / "model-copies" / f"v{v}").exists()
    for v in {"2", *map(str, range(28, 33))}:
        assert after["versions"][v] == before["versions"][v]
        assert (STATE / "model-copies" / f"v{v}" / "MLmodel").is_file()
    assert after["aliases"] == before["aliases"]
    assert after["logs"] == sorted(before["logs"])[2:] and len(after["drift_runs"]) == 1

    # an archived copy is a whole MLflow model: it loads and predicts
    import mlflow

    model = mlflow.pyfunc.load_model(str(ARCHIVE / "v1"))
    assert len(model.predict([[1.0], [15.0]])) == 2

    # 3. run again at the same time: nothing is archived twice
    again = run_dag(config(), "retention", run_conf={"as_of": in_40_days})
    assert again.state == "success", task_states(again)
    assert not [d for d in xcom(again, "apply_retention")["versions"] if d["action"] != "keep"]
    assert snapshot(client) == after

    # 4. 100 days on: the archived versions are deleted with their copies; aliased and newest still there
    late = run_dag(config(), "retention", run_conf={"as_of": (now + timedelta(days=100)).isoformat()})
    assert late.state == "success", task_states(late)
    gone = {v for v, d in by_version(xcom(late, "apply_retention")).items() if d["action"] == "delete"}
    assert gone == archived
    final = snapshot(client)
    assert set(final["versions"]) == {"2", *map(str, range(28, 33))}
    assert final["archive"] == [] and final["aliases"] == before["aliases"]
