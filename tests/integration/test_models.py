"""Models people actually have, end to end with dag.test(): multiclass text labels, binary text labels,
a classifier without predict_proba, and regression. Each test writes its own small data set under the
data root (the churn example stays as it is)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import STATE
from tests.integration.conftest import task_states, xcom

pytestmark = pytest.mark.integration

DAY = "2026-08-01"


def write_data(model: str, kind: str, rows: int = 3_000, seed: int = 5) -> None:
    """``<model>/labeled.parquet`` and one day of current rows ``<model>/current/<DAY>.parquet``."""
    rng = np.random.default_rng(seed)

    def frame(n: int, offset: int) -> pd.DataFrame:
        df = pd.DataFrame(
            {
                "row_id": np.arange(offset, offset + n),
                "x1": rng.normal(size=n),
                "x2": rng.normal(size=n),
                "grp": rng.choice(["a", "b", "c"], size=n),
            }
        )
        noise = rng.normal(scale=0.3, size=n)
        if kind == "multiclass":
            df["label"] = np.select([df.x1 + noise > 0.5, df.x1 + noise < -0.5], ["sun", "rain"], "cloud")
        elif kind == "wetdry":
            df["label"] = np.where(df.x1 + noise > 0.8, "wet", "dry")  # "wet" is the minority
        else:
            df["label"] = 3 * df.x1 - 2 * df.x2 + noise
        return df

    folder = STATE / "data" / model
    (folder / "current").mkdir(parents=True, exist_ok=True)
    frame(rows, 0).to_parquet(folder / "labeled.parquet", index=False)
    frame(600, rows).drop(columns="label").to_parquet(folder / "current" / f"{DAY}.parquet", index=False)


def config(model: str, task: str, estimator: str, gates: dict[str, Any], **data: Any) -> dict[str, Any]:
    return {
        "model": model,
        "task": task,
        "data": {
            "source": f"{model}/labeled.parquet",
            "format": "parquet",
            "target": "label",
            "entity_key": "row_id",
            "features": {"numeric": ["x1", "x2"], "categorical": ["grp"]},
            **data,
        },
        "expectations": [{"expect_table_row_count_to_be_between": {"min_value": 100}}],
        "training": {"estimator": {"class": estimator}, **({"stratify": False} if task == "regression" else {})},
        "scoring": {"source": f"{model}/current/{{{{ ds }}}}.parquet"},
        "drift": {"window_days": 1, "cooldown_hours": 0},
        "airflow": {"retries": 0},
        "gates": gates,
    }


def when() -> dict[str, Any]:
    return {"logical_date": datetime.fromisoformat(DAY).replace(hour=7, tzinfo=UTC)}


def prediction_log(model: str) -> pd.DataFrame:
    return pd.read_parquet(STATE / "data" / "predictions" / model / f"scoring_date={DAY}" / "predictions.parquet")


def _gates(client: Any, run_id: str) -> list[dict[str, Any]]:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(run_id, "gates.json", tmp)
        return json.loads(Path(path).read_text())["results"]


def test_multiclass_text_labels_train_gate_champion_score_and_drift(airflow_db, run_dag, mlflow_client):
    model = "weather_multi"
    write_data(model, "multiclass")
    cfg = config(
        model,
        "classification",
        "sklearn.linear_model.LogisticRegression",
        {
            "metrics": [{"metric": "roc_auc", "min": 0.8}, {"metric": "f1", "min": 0.6}],
            "champion": {"metric": "f1_weighted", "max_drop": 0.01},
            "fairness": [{"slice": "grp", "metric": "recall", "max_gap": 0.3}],
        },
    )
    dr = run_dag(cfg, "training")
    assert dr.state == "success", task_states(dr)
    train = xcom(dr, "train")
    assert train["target_kind"] == "multiclass" and train["classes"] == ["cloud", "rain", "sun"]
    assert set(train["metrics"]) >= {"roc_auc", "f1", "f1_weighted", "balanced_accuracy", "log_loss", "accuracy"}
    assert all(np.isfinite(v) for v in train["metrics"].values())
    assert "average_precision" in train["unavailable_metrics"]  # binary only: reported, never NaN
    run = mlflow_client.get_run(train["mlflow_run_id"])
    assert run.data.tags["mlops.target_kind"] == "multiclass" and run.info.status == "FINISHED"

    again = run_dag(cfg, "training")  # the champion comparison on a multiclass metric
    assert again.state == "success", task_states(again)
    champion = next(g for g in xcom(again, "evaluate_gates")["results"] if g["gate"] == "champion.f1_weighted")
    assert champion["passed"] and not champion["skipped"] and champion["value"] == pytest.approx(0.0, abs=1e-12)
    fairness = next(g for g in xcom(again, "evaluate_gates")["results"] if g["gate"] == "fairness.grp.recall")
    assert fairness["value"] is not None and fairness["passed"]

    assert run_dag(cfg, "scoring", **when()).state == "success"
    log = prediction_log(model)
    assert set(log["prediction"]) <= {"cloud", "rain", "sun"}
    probas = log[["proba.cloud", "proba.rain", "proba.sun"]].to_numpy()
    assert np.allclose(probas.sum(axis=1), 1.0)
    assert np.allclose(log["probability"], probas.max(axis=1))
    best = np.array(["cloud", "rain", "sun"])[probas.argmax(axis=1)]
    assert (log["prediction"].to_numpy() == best).all()

    drift = run_dag({**cfg, "drift": {**cfg["drift"], "min_rows": 100}}, "drift", **when())
    assert task_states(drift)["check_drift"] == "success", task_states(drift)
    check = xcom(drift, "check_drift")
    compared = {c["column"]: c["kind"] for c in check["prediction_columns"]}
    assert compared == {
        "prediction": "categorical",
        "proba.cloud": "numeric",
        "proba.rain": "numeric",
        "proba.sun": "numeric",
    }
    assert check["prediction"]["column"] == "prediction"


def test_binary_text_labels_positive_class_inferred_or_configured(airflow_db, run_dag, mlflow_client):
    model = "weather_wet"
    write_data(model, "wetdry")
    gates = {"metrics": [{"metric": "roc_auc", "min": 0.8}, {"metric": "recall", "min": 0.3}]}
    cfg = config(model, "classification", "sklearn.linear_model.LogisticRegression", gates)
    dr = run_dag(cfg, "training")
    assert dr.state == "success", task_states(dr)
    train = xcom(dr, "train")
    assert train["target_kind"] == "binary" and train["positive_class"] == "wet"
    assert mlflow_client.get_run(train["mlflow_run_id"]).data.tags["mlops.positive_class"] == "wet"

    assert run_dag(cfg, "scoring", **when()).state == "success"
    log = prediction_log(model)
    assert np.allclose(log["score"], log["proba.wet"]) and set(log["prediction"]) <= {"wet", "dry"}

    # the other class, set in config: recall is now about "dry"
    dry = run_dag(
        config(model, "classification", "sklearn.linear_model.LogisticRegression", gates, positive_class="dry"),
        "training",
    )
    assert dry.state == "success", task_states(dry)
    assert xcom(dry, "train")["positive_class"] == "dry"
    assert xcom(dry, "train")["metrics"]["recall"] > train["metrics"]["recall"]

    # a positive class that is not a label: a clear error, and the attempt's MLflow run is not left RUNNING
    bad = run_dag(
        config(model, "classification", "sklearn.linear_model.LogisticRegression", gates, positive_class="damp"),
        "training",
    )
    assert bad.state == "failed"
    assert task_states(bad)["train"] == "failed"
    run_id = xcom(bad, "validate_data")["mlflow_run_id"]
    assert mlflow_client.get_run(run_id).info.status == "FAILED"


def test_classifier_without_predict_proba_gates_fail_or_skip_as_configured(airflow_db, run_dag, mlflow_client):
    model = "weather_ridge"
    write_data(model, "multiclass")
    estimator = "sklearn.linear_model.RidgeClassifier"
    strict = config(model, "classification", estimator, {"metrics": [{"metric": "roc_auc", "min": 0.7}]})
    dr = run_dag(strict, "training")
    assert dr.state == "failed" and task_states(dr)["evaluate_gates"] == "failed", task_states(dr)
    train = xcom(dr, "train")
    assert "roc_auc" not in train["metrics"] and "predict_proba" in train["unavailable_metrics"]["roc_auc"]
    (gate,) = _gates(mlflow_client, train["mlflow_run_id"])
    assert not gate["passed"] and "not available" in gate["detail"] and "if_unavailable: skip" in gate["detail"]

    lenient = config(
        model,
        estimator=estimator,
        task="classification",
        gates={
            "metrics": [
                {"metric": "roc_auc", "min": 0.7, "if_unavailable": "skip"},
                {"metric": "accuracy", "min": 0.6},
            ],
            "champion": {"max_drop": 0.01, "if_unavailable": "skip"},  # primary metric roc_auc
            "fairness": [{"slice": "grp", "metric": "log_loss", "max_gap": 0.5, "if_unavailable": "skip"}],
        },
    )
    ok = run_dag(lenient, "training")
    assert ok.state == "success", task_states(ok)
    results = {g["gate"]: g for g in _gates(mlflow_client, xcom(ok, "train")["mlflow_run_id"])}
    assert results["metric.roc_auc"]["skipped"] and results["metric.roc_auc"]["comparator"] == "skipped"
    assert "SKIPPED (if_unavailable: skip)" in results["metric.roc_auc"]["detail"]
    assert results["fairness.grp.log_loss"]["skipped"]
    assert results["metric.accuracy"]["passed"] and not results["metric.accuracy"]["skipped"]

    assert run_dag(lenient, "scoring", **when()).state == "success"
    log = prediction_log(model)
    assert log["score"].isna().all() and set(log["prediction"]) <= {"cloud", "rain", "sun"}


def test_regression_train_gates_champion_score_and_drift(airflow_db, run_dag, mlflow_client):
    model = "demand_reg"
    write_data(model, "regression")
    cfg = config(
        model,
        "regression",
        "sklearn.linear_model.Ridge",
        {
            "metrics": [{"metric": "r2", "min": 0.8}, {"metric": "rmse", "max": 1.0}],
            "champion": {"metric": "mae", "max_drop": 0.01},
            "fairness": [{"slice": "grp", "metric": "mae", "max_gap": 0.2}],
        },
    )
    dr = run_dag(cfg, "training")
    assert dr.state == "success", task_states(dr)
    train = xcom(dr, "train")
    assert train["target_kind"] == "regression" and set(train["metrics"]) == {"r2", "rmse", "mae"}
    again = run_dag(cfg, "training")
    assert again.state == "success", task_states(again)
    champion = next(g for g in xcom(again, "evaluate_gates")["results"] if g["gate"] == "champion.mae")
    assert champion["passed"] and champion["value"] == pytest.approx(0.0, abs=1e-12)

    assert run_dag(cfg, "scoring", **when()).state == "success"
    log = prediction_log(model)
    assert log["prediction"].dtype.kind == "f" and log["score"].isna().all()

    drift = run_dag({**cfg, "drift": {**cfg["drift"], "min_rows": 100}}, "drift", **when())
    assert task_states(drift)["check_drift"] == "success", task_states(drift)
    check = xcom(drift, "check_drift")
    assert [c["column"] for c in check["prediction_columns"]] == ["prediction"]
    assert check["prediction"]["mean_reference"] is not None and np.isfinite(check["prediction"]["mean_shift"])
