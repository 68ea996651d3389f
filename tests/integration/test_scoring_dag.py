"""The scoring DAG with dag.test(): champion predictions into a dated prediction log, tagged by version."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_provider.notifications.incidents import FAILURE_KINDS
from tests.conftest import STATE
from tests.integration.conftest import model_config, run_config_dag, task_states, xcom

pytestmark = pytest.mark.integration

LOG_FILE = "predictions.parquet"


def test_scoring_writes_prediction_log_with_champion_version(run_training, run_dag, mlflow_client):
    from mlops_provider.demo.data import write_current

    cfg = model_config("churn_scoring", **{"scoring.source": "churn/current/{{ ds }}.parquet"})
    assert run_training(cfg).state == "success"
    write_current(STATE / "data", start="2026-08-01", days=1, rows_per_day=500, seed=3)

    dr = run_dag(cfg, "scoring", logical_date=datetime(2026, 8, 1, 6, tzinfo=UTC))
    assert dr.state == "success", task_states(dr)
    log = pd.read_parquet(STATE / "data" / "predictions" / "churn_scoring" / "scoring_date=2026-08-01" / LOG_FILE)
    current = pd.read_parquet(STATE / "data" / "churn" / "current" / "2026-08-01.parquet")
    assert len(log) == len(current) == 500
    assert set(log.columns) >= {
        "entity_key",
        "prediction",
        "score",
        "model_version",
        "latency_ms",
        "scored_at",
        "feature.tenure_months",
        "feature.contract",
    }
    champion = mlflow_client.get_model_version_by_alias("churn_scoring", "champion").version
    assert set(log["model_version"]) == {int(champion)}
    assert log["score"].between(0, 1).all() and set(log["prediction"]) <= {0, 1}
    assert list(log["entity_key"]) == list(current["customer_id"].astype(str))


def test_scoring_without_champion_fails_and_says_what_to_do(run_dag, example_data, outbox):
    cfg = model_config("churn_nochamp", **{"scoring.source": "churn/current/{{ ds }}.parquet"})
    dr = run_dag(cfg, "scoring", logical_date=datetime(2026, 8, 1, 6, tzinfo=UTC))
    assert dr.state == "failed"
    (alert,) = [a for a in outbox() if a["model"] == "churn_nochamp" and a["kind"] in FAILURE_KINDS]
    assert "has no champion yet" in alert["text"] and "churn_nochamp_training" in alert["text"]


# -- input checks, scoring errors, and a log that reads back with plain pandas ------------------------------

INPUTS = "churn_inputs"
BAD_DAY_ROWS = 400


_run = run_config_dag  # for module-scoped fixtures


def _at(day: str) -> dict[str, Any]:
    return {"logical_date": datetime.fromisoformat(day).replace(hour=6, tzinfo=UTC)}


def _inputs_config(**overrides: Any) -> dict[str, Any]:
    return model_config(
        INPUTS, **{"scoring.source": f"{INPUTS}/current/{{{{ ds }}}}.parquet", "gates.latency": None, **overrides}
    )


@pytest.fixture(scope="module")
def inputs_champion(example_data: Path) -> None:
    """A champion of the churn model under the name churn_inputs (trained once for this module)."""
    dr = _run(_inputs_config(), "training")
    assert dr.state == "success", task_states(dr)


def write_bad_batch(day: str) -> pd.DataFrame:
    """A day's batch where 10% of `contract` values were never seen in training ('weekly', 'daily') and
    5% of `tenure_months` are text ('twelve', 'n/a'), the rest of that column numbers written as text."""
    from mlops_provider.demo.data import generate_current

    df = generate_current(day, rows=BAD_DAY_ROWS, seed=5)
    df["contract"] = df["contract"].astype(object)
    df.loc[0:29, "contract"] = "weekly"
    df.loc[30:39, "contract"] = "daily"
    df["tenure_months"] = df["tenure_months"].astype(str)
    df.loc[40:54, "tenure_months"] = "twelve"
    df.loc[55:59, "tenure_months"] = "n/a"
    path = STATE / "data" / INPUTS / "current" / f"{day}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)
    return df


def test_unseen_categories_and_text_in_numeric_column_are_counted_and_logged_on_warn(inputs_champion):
    write_bad_batch("2026-08-11")

    dr = _run(_inputs_config(), "scoring", **_at("2026-08-11"))  # default input_checks: severity warn

    assert dr.state == "success", task_states(dr)
    result = xcom(dr, "score")
    checks = result["input_checks"]
    assert checks["unseen_categories"]["columns"] == {
        "contract": {"count": 40, "rate": 0.1, "examples": ["weekly", "daily"], "breached": True}
    }
    assert checks["non_numeric"]["columns"] == {
        "tenure_months": {"count": 20, "rate": 0.05, "examples": ["twelve", "n/a"], "breached": True}
    }
    assert checks["rows_with_issues"] == 60
    assert checks["breaches"] == ["unseen_categories.contract", "non_numeric.tenure_months"]
    partition = STATE / "data" / "predictions" / INPUTS / "scoring_date=2026-08-11"
    summary = json.loads((partition / "_input_checks.json").read_text())
    assert summary["non_numeric"]["columns"] == checks["non_numeric"]["columns"]
    assert summary["date"] == "2026-08-11" and summary["rows"] == BAD_DAY_ROWS
    log = pd.read_parquet(partition / LOG_FILE)
    assert len(log) == BAD_DAY_ROWS
    assert int((log["input_issues"] > 0).sum()) == 60 and set(log["input_issues"]) == {0, 1}
    # numeric features are logged as the model got them: numbers, text that is not one is empty
    assert log["feature.tenure_months"].dtype == "float64"
    tenure = log["feature.tenure_months"]
    assert tenure.iloc[40:60].isna().all() and tenure.iloc[60:].notna().all()
    assert list(log["feature.contract"].iloc[:2]) == ["weekly", "weekly"]


def test_input_checks_with_severity_fail_stop_the_batch_and_write_nothing(inputs_champion, outbox):
    write_bad_batch("2026-08-12")
    cfg = _inputs_config(**{"scoring.input_checks": {"non_numeric": {"max_rate": 0.01, "severity": "fail"}}})

    dr = _run(cfg, "scoring", **_at("2026-08-12"))

    assert dr.state == "failed"
    (alert,) = [a for a in outbox() if a["model"] == INPUTS and a["kind"] in FAILURE_KINDS]
    text = alert["text"]
    assert "InputCheckFailed" in text
    assert str(STATE / "data" / INPUTS / "current" / "2026-08-12.parquet") in text
    assert "'tenure_months'" in text and "(5.0%)" in text and "max_rate 1.0%" in text
    assert "'twelve', 'n/a'" in text
    assert "scoring.input_checks.non_numeric.max_rate" in text and "Nothing was written" in text
    assert "'contract'" not in text  # unseen categories stay a warning in this config
    assert not (STATE / "data" / "predictions" / INPUTS / "scoring_date=2026-08-12").exists()


def test_missing_scoring_batch_names_the_batch_and_the_field(inputs_champion, outbox):
    dr = _run(_inputs_config(), "scoring", **_at("2026-08-13"))

    assert dr.state == "failed"
    (alert,) = [a for a in outbox() if a["model"] == INPUTS and a["kind"] in FAILURE_KINDS]
    text = alert["text"]
    assert f"scoring batch for 2026-08-13 {STATE / 'data' / INPUTS / 'current' / '2026-08-13.parquet'}" in text
    assert "does not exist; check scoring.source" in text
    assert "training data" not in text and "data.source" not in text


def test_prediction_log_reads_back_with_pandas_when_the_time_column_is_date(airflow_db, run_dag):
    from mlops_provider.demo.data import generate_current, generate_labeled
    from mlops_provider.operators.drift import DriftCheckOperator

    model = "churn_datecol"
    labeled = generate_labeled(rows=10_000, start="2026-06-01", days=60, seed=11).rename(columns={"event_date": "date"})
    (STATE / "data" / model / "labeled").mkdir(parents=True, exist_ok=True)
    labeled.to_parquet(STATE / "data" / model / "labeled" / "part-0.parquet", index=False)
    days = ["2026-08-01", "2026-08-02"]
    batches = []
    for i, day in enumerate(days):
        batch = generate_current(day, rows=300, seed=20 + i).rename(columns={"event_date": "date"})
        (STATE / "data" / model / "current").mkdir(parents=True, exist_ok=True)
        batch.to_parquet(STATE / "data" / model / "current" / f"{day}.parquet", index=False)
        batches.append(batch)
    cfg = model_config(
        model,
        **{
            "data.source": f"{model}/labeled",
            "data.time_column": "date",
            "scoring.source": f"{model}/current/{{{{ ds }}}}.parquet",
            "gates.latency": None,
            "drift.window_days": 3,
        },
    )
    assert run_dag(cfg, "training").state == "success"
    for day in days:
        dr = run_dag(cfg, "scoring", **_at(day))
        assert dr.state == "success", task_states(dr)

    root = STATE / "data" / "predictions" / model
    log = pd.read_parquet(root)  # every date, plain pandas, no arguments

    assert len(log) == 600
    assert sorted(set(log["scoring_date"].astype(str))) == days
    expected = pd.concat(batches, ignore_index=True)
    assert sorted(pd.to_datetime(log["date"]).tolist()) == sorted(pd.to_datetime(expected["date"]).tolist())
    assert sorted(log["entity_key"]) == sorted(expected["customer_id"].astype(str))

    # the drift check's reader finds these dates, and a date logged in the earlier date=<ds> layout too
    legacy = root / "date=2026-07-31"
    legacy.mkdir(exist_ok=True)
    (legacy / LOG_FILE).write_bytes((root / "scoring_date=2026-08-01" / LOG_FILE).read_bytes())
    check = DriftCheckOperator(task_id="drift_check", config=cfg, prediction_log=f"predictions/{model}")
    window, found = check._current_window("2026-08-02")
    assert found == ["2026-07-31", *days] and len(window) == 900
