"""``mlops reproduce`` and ``mlops lineage`` against versions registered by the real training DAG."""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pytest

from mlops_provider.cli import main
from tests.conftest import STATE
from tests.integration.conftest import model_config, task_states

pytestmark = pytest.mark.integration

URI = f"sqlite:///{STATE / 'mlflow.db'}"


def train(run_training, cfg) -> None:
    dr = run_training(cfg)
    assert dr.state == "success", task_states(dr)


def aliases(client, name) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}


def version_numbers(client, name) -> list[str]:
    return sorted(str(v.version) for v in client.search_model_versions(f"name = '{name}'"))


def reproduce(capsys, model, version, *extra):
    capsys.readouterr()  # drop what training printed
    code = main(["reproduce", model, str(version), "--tracking-uri", URI, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def holdout_metrics(client, name, version):
    run = client.get_run(client.get_model_version(name, str(version)).run_id)
    return {k: v for k, v in run.data.metrics.items() if k.startswith("holdout_") and k != "holdout_rows"}


def test_reproduce_is_identical_and_touches_neither_registry_nor_aliases(run_training, mlflow_client, capsys):
    name = "churn_repro_same"
    train(run_training, model_config(name))
    before = (aliases(mlflow_client, name), version_numbers(mlflow_client, name))
    assert before[0] == {"champion": "1"}

    code, out, err = reproduce(capsys, name, 1)

    assert code == 0, out + err
    assert "IDENTICAL: churn_repro_same v1 reproduces exactly" in out
    assert "same split as the original run" in out
    assert "labels differ, max |predict_proba diff| 0" in out
    assert "  ok    data " in out and "  ok    source " in out and "  ok    config " in out
    assert "  ok    env " in out and "WARN" not in out
    assert len(out.splitlines()) < 40, "the report must fit on one screen"
    assert (aliases(mlflow_client, name), version_numbers(mlflow_client, name)) == before

    # the replay is logged in its own experiment, with the same metrics as the registered run
    exp = mlflow_client.get_experiment_by_name(f"{name}-reproduce")
    (run,) = mlflow_client.search_runs([exp.experiment_id])
    assert run.data.tags["mlops.reproduces"] == f"{name}/1"
    assert run.data.tags["mlops.identical"] == "true"
    replayed = {k: v for k, v in run.data.metrics.items() if k.startswith("holdout_")}
    assert replayed == holdout_metrics(mlflow_client, name, 1)
    assert all(v == 0 for k, v in run.data.metrics.items() if k.startswith("diff_holdout_"))


def test_source_moved_on_is_a_note_and_the_snapshot_is_used(run_training, mlflow_client, capsys):
    from mlops_provider.demo.data import generate_labeled

    name = "churn_repro_moved"
    source = STATE / "data" / "repro_moved" / "labeled.parquet"
    source.parent.mkdir(parents=True, exist_ok=True)
    generate_labeled(rows=10_000, start="2026-06-01", days=60, seed=11).to_parquet(source, index=False)
    train(run_training, model_config(name, **{"data.source": "repro_moved/labeled.parquet"}))

    # new labeled data arrives behind the same path after training
    generate_labeled(rows=10_000, start="2026-06-15", days=60, seed=12).to_parquet(source, index=False)
    code, out, err = reproduce(capsys, name, 1)

    assert code == 0, out + err
    assert f"note  source   source moved on: {source} now holds window 2026-05-16..2026-08-13, 10,000 rows" in out
    assert "The replay uses the snapshot" in out
    assert "IDENTICAL" in out


def test_missing_snapshot_is_a_clear_error(run_training, mlflow_client, capsys):
    name = "churn_repro_lost"
    train(run_training, model_config(name))
    tags = mlflow_client.get_model_version(name, "1").tags
    snapshot, sha = tags["mlops.data_snapshot"], tags["mlops.data_sha256"]
    Path(snapshot).unlink()

    code, out, err = reproduce(capsys, name, 1)

    assert code == 2
    assert out == ""
    assert f"training snapshot {snapshot} is missing" in err
    assert f"expected content sha256: {sha}" in err
    assert "Restore it from backup or point [mlops] snapshot_root at the store that holds it" in err
    # the shared source has not changed, so the snapshot can be rebuilt from it
    assert "The source still holds exactly that content" in err
    assert mlflow_client.get_experiment_by_name(f"{name}-reproduce") is None


def test_changed_package_version_is_flagged_before_retraining(run_training, mlflow_client, capsys):
    name = "churn_repro_env"
    train(run_training, model_config(name))
    env = json.loads(mlflow_client.get_model_version(name, "1").tags["mlops.env"])
    env["scikit-learn"] = "0.99.0"
    mlflow_client.set_model_version_tag(name, "1", "mlops.env", json.dumps(env, sort_keys=True))

    code, out, err = reproduce(capsys, name, 1)

    current = metadata.version("scikit-learn")
    warning = f"  WARN  env      scikit-learn 0.99.0 → {current} (recorded → current): results may differ"
    assert warning in out, out
    assert out.index(warning) < out.index("Retrained ")
    # the same code and data still give the same model here; the report says so and keeps the warning
    assert code == 0, out + err
    assert "despite 1 lineage warning(s) above" in out


def test_a_different_outcome_exits_1_with_the_numbers(run_training, mlflow_client, capsys):
    name = "churn_repro_differs"
    train(run_training, model_config(name))
    # someone edited the recorded config: the replay trains another model than the registered one
    config = json.loads(mlflow_client.get_model_version(name, "1").tags["mlops.config"])
    config["training"]["estimator"]["params"]["max_iter"] = 20
    mlflow_client.set_model_version_tag(name, "1", "mlops.config", json.dumps(config))

    code, out, err = reproduce(capsys, name, 1)

    assert code == 1, out + err
    assert "  WARN  config   the recorded config validates to sha256" in out
    assert "DIFFERENT: churn_repro_differs v1 does not reproduce:" in out
    assert re.search(r"  - roc_auc: recorded 0\.\d+, reproduced 0\.\d+ \(diff [+-]\d.*\) \(primary metric\)", out), out
    assert re.search(r"  - [1-9][\d,]* of 2,000 predicted labels differ; max \|predict_proba diff\| 0\.\d", out), out
    assert "Possible causes:\n  - config: the recorded config validates" in out
    assert aliases(mlflow_client, name) == {"champion": "1"}


def test_randomized_estimator_trains_the_same_twice_and_reproduces(run_training, mlflow_client, capsys):
    name = "churn_repro_forest"
    cfg = model_config(
        name,
        **{
            "training.estimator": {
                "class": "sklearn.ensemble.RandomForestClassifier",
                "params": {"n_estimators": 20, "max_features": "sqrt", "min_samples_leaf": 5, "n_jobs": 2},
            },
            "gates.fairness": [],
        },
    )
    train(run_training, cfg)
    train(run_training, cfg)
    assert version_numbers(mlflow_client, name) == ["1", "2"]
    v1, v2 = holdout_metrics(mlflow_client, name, 1), holdout_metrics(mlflow_client, name, 2)
    assert v1 and v1 == v2
    champion_before = aliases(mlflow_client, name)

    code, out, err = reproduce(capsys, name, 1)

    assert code == 0, out + err
    assert "IDENTICAL" in out
    assert aliases(mlflow_client, name) == champion_before == {"champion": "2", "previous_champion": "1"}


def test_lineage_prints_the_whole_record(run_training, mlflow_client, capsys):
    name = "churn_repro_audit"
    train(run_training, model_config(name))
    capsys.readouterr()
    assert main(["lineage", name, "1", "--tracking-uri", URI, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["data"]["window"] == {"start": "2026-05-02", "end": "2026-07-30"}
    assert record["data"]["rows"] > 1000 and len(record["data"]["sha256"]) == 64
    assert record["params"]["estimator"] == "sklearn.ensemble.HistGradientBoostingClassifier"
    assert record["params"]["seed"] == 42
    assert record["environment"]["packages"]["scikit-learn"] == metadata.version("scikit-learn")
    assert {g["gate"] for g in record["gates"]} >= {"metric.roc_auc", "fairness.region.recall"}
    (promotion,) = record["promotions"]
    assert promotion["event"] == "promoted" and promotion["to"] == "1" and promotion["from"] is None
    assert promotion["run_id"] == record["training"]["airflow_run_id"]

    assert main(["lineage", name, "1", "--tracking-uri", URI]) == 0
    text = capsys.readouterr().out
    for section in ("Data", "Code", "Environment", "Params", "Gates", "Promotion history"):
        assert f"\n{section}\n" in text
    assert "window        2026-05-02 .. 2026-07-30" in text
    assert "promoted to champion (replacing no champion)" in text

    assert main(["lineage", name, "9", "--tracking-uri", URI]) == 2
    assert f"registered model {name!r} has no version 9" in capsys.readouterr().err
