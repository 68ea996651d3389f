"""The scoring DAG with dag.test(): champion predictions into a dated prediction log, tagged by version."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from tests.conftest import STATE
from tests.integration.conftest import model_config, task_states

pytestmark = pytest.mark.integration


def test_scoring_writes_prediction_log_with_champion_version(run_training, run_dag, mlflow_client):
    from mlops_provider.demo.data import write_current

    cfg = model_config("churn_scoring", **{"scoring.source": "churn/current/{{ ds }}.parquet"})
    assert run_training(cfg).state == "success"
    write_current(STATE / "data", start="2026-08-01", days=1, rows_per_day=500, seed=3)

    dr = run_dag(cfg, "scoring", logical_date=datetime(2026, 8, 1, 6, tzinfo=UTC))
    assert dr.state == "success", task_states(dr)
    log = pd.read_parquet(STATE / "data" / "predictions" / "churn_scoring" / "date=2026-08-01" / "predictions.parquet")
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
    (alert,) = [a for a in outbox() if a["model"] == "churn_nochamp"]
    assert "has no champion yet" in alert["text"] and "churn_nochamp_training" in alert["text"]
