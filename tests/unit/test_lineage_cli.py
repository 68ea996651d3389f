"""``mlops lineage`` on a local MLflow store with hand-written lineage tags (no Airflow, no training)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlops_provider import lineage
from mlops_provider.cli import main

SECTIONS = {"data", "code", "environment", "params", "training", "metrics", "gates", "promotions"}


def _record(version: int) -> dict:
    config = {
        "model": "audit_demo",
        "task": "classification",
        "training": {
            "estimator": {"class": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 20}},
            "seed": 7,
            "test_size": 0.2,
        },
    }
    return {
        "data_sha256": f"{version:064x}",
        "data_rows": "1234",
        "data_snapshot": f"/snapshots/audit_demo/{version:064x}.parquet",
        "data_source": "/data/churn/labeled",
        "data_window": json.dumps({"start": "2026-05-02", "end": "2026-07-30"}),
        "config_sha256": "c" * 64,
        "config": config,
        "package_version": "0.1.0",
        "git_commit": "abc123",
        "lock_sha256": "d" * 64,
        "env": {"python": "3.11.9", "scikit-learn": "1.9.1", "numpy": "2.3.0"},
        "seed": "7",
        "airflow_dag_id": "audit_demo_training",
        "airflow_run_id": f"scheduled__v{version}",
        "trigger": json.dumps({"run_type": "scheduled"}),
        "gates": [
            {"gate": "metric.roc_auc", "value": 0.81, "threshold": 0.75, "passed": True, "severity": "fail"},
            {"gate": "metric.recall", "value": 0.2, "threshold": 0.3, "passed": False, "severity": "warn"},
        ],
        "mlflow_run_id": f"run{version}",
        "metrics": {"roc_auc": 0.81},
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    from mlflow.tracking import MlflowClient

    tmp_path = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("audit_demo")
    for v in (1, 2, 3):
        client.create_model_version("audit_demo", str(tmp_path / f"m{v}"), tags=lineage.tags(_record(v)))
    promotions = {
        "1": [
            {
                "from": None,
                "to": "1",
                "at": "2026-08-01T02:10:00+00:00",
                "reason": "passed all gates",
                "run_id": "scheduled__v1",
            }
        ],
        "2": [
            {
                "from": "1",
                "to": "2",
                "at": "2026-08-08T02:10:00+00:00",
                "reason": "passed all gates",
                "run_id": "scheduled__v2",
            }
        ],
        "3": [
            {
                "from": "2",
                "to": "3",
                "at": "2026-08-15T02:10:00+00:00",
                "reason": "drift retrain",
                "run_id": "asset_triggered__v3",
            }
        ],
    }
    for version, history in promotions.items():
        client.set_model_version_tag("audit_demo", version, "mlops.promotion", json.dumps(history))
    client.set_registered_model_alias("audit_demo", "champion", "3")
    client.set_registered_model_alias("audit_demo", "previous_champion", "2")
    return uri


def test_lineage_json_has_every_section(store, capsys):
    assert main(["lineage", "audit_demo", "2", "--tracking-uri", store, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert SECTIONS <= set(record)
    assert record["version"] == "2" and record["aliases"] == ["previous_champion"]
    assert record["data"] == {
        "rows": 1234,
        "sha256": f"{2:064x}",
        "snapshot": f"/snapshots/audit_demo/{2:064x}.parquet",
        "source": "/data/churn/labeled",
        "window": {"start": "2026-05-02", "end": "2026-07-30"},
    }
    assert record["code"]["package_version"] == "0.1.0" and record["code"]["git_commit"] == "abc123"
    assert record["code"]["config_sha256"] == "c" * 64
    assert record["environment"] == {
        "lock_sha256": "d" * 64,
        "packages": {"python": "3.11.9", "scikit-learn": "1.9.1", "numpy": "2.3.0"},
    }
    assert record["params"] == {
        "estimator": "sklearn.ensemble.RandomForestClassifier",
        "params": {"n_estimators": 20},
        "seed": 7,
        "test_size": 0.2,
    }
    assert record["training"]["trigger"] == {"run_type": "scheduled"}
    assert [g["gate"] for g in record["gates"]] == ["metric.roc_auc", "metric.recall"]
    # promoted by v2's record, replaced by the record kept on v3; v1's promotion is not about v2
    assert [(p["event"], p["from"], p["to"], p["run_id"]) for p in record["promotions"]] == [
        ("promoted", "1", "2", "scheduled__v2"),
        ("replaced", "2", "3", "asset_triggered__v3"),
    ]


def test_lineage_text_names_every_section(store, capsys):
    assert main(["lineage", "audit_demo", "2", "--tracking-uri", store]) == 0
    out = capsys.readouterr().out
    for section in ("Data", "Code", "Environment", "Params", "Training", "Gates", "Promotion history"):
        assert f"\n{section}\n" in out
    assert "window        2026-05-02 .. 2026-07-30" in out
    assert "warn  metric.recall" in out and "threshold 0.3" in out
    assert "2026-08-08T02:10:00+00:00  promoted to champion (replacing v1); DAG run scheduled__v2" in out
    assert "2026-08-15T02:10:00+00:00  replaced as champion by v3; DAG run asset_triggered__v3" in out


def test_lineage_unknown_version_and_missing_store(store, tmp_path, capsys):
    assert main(["lineage", "audit_demo", "9", "--tracking-uri", store]) == 2
    assert "registered model 'audit_demo' has no version 9" in capsys.readouterr().err
    assert main(["lineage", "nope", "1", "--tracking-uri", store]) == 2
    assert "registered model 'nope' does not exist" in capsys.readouterr().err
    missing = tmp_path / "elsewhere" / "mlflow.db"
    assert main(["reproduce", "audit_demo", "1", "--tracking-uri", f"sqlite:///{missing}"]) == 2
    assert f"no MLflow database at {missing}" in capsys.readouterr().err
    assert not missing.exists()


def test_reproduce_without_recorded_config_is_an_error(store, capsys):
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=store, registry_uri=store).delete_model_version_tag("audit_demo", "1", "mlops.config")
    assert main(["reproduce", "audit_demo", "1", "--tracking-uri", store]) == 2
    assert "has no recorded config (tag mlops.config)" in capsys.readouterr().err


def test_cli_and_reproduce_import_nothing_heavy():
    probe = (
        "import sys, mlops_provider.cli, mlops_provider.cli_render, mlops_provider.lineage.audit\n"
        "import mlops_provider.lineage.checks, mlops_provider.lineage.replay\n"
        "print([m for m in ('mlflow', 'sklearn', 'pandas', 'airflow') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
