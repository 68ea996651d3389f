"""Bad training data stops the training DAG at validate_data, before anything is trained or registered."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_provider.notifications.incidents import FAILURE_KINDS
from tests.conftest import STATE
from tests.integration.conftest import model_config, task_states

pytestmark = pytest.mark.integration


def test_a_feature_empty_in_the_whole_window_stops_the_run_at_validate_data(run_training, mlflow_client, outbox):
    """No expectation in the config mentions usage_minutes: the built-in check catches it."""
    from mlops_provider.demo.data import generate_labeled

    df = generate_labeled(rows=3_000, start="2026-06-01", days=30, seed=5)
    df["usage_minutes"] = np.nan  # the feed that fills it broke before this window
    folder = STATE / "data" / "nullfeature" / "labeled"
    for day, part in df.groupby(df["event_date"].dt.date):
        path = folder / f"date={day.isoformat()}" / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        part.to_parquet(path, index=False)
    cfg = model_config(
        "churn_nullfeature",
        **{
            "data.source": "nullfeature/labeled",
            "airflow.retries": 2,
            "airflow.retry_delay_minutes": 0,
            "gates.latency": None,  # never reached
        },
    )

    dr = run_training(cfg)
    states = task_states(dr)
    assert dr.state == "failed"
    assert states["validate_data"] == "failed" and states["train"] == "upstream_failed"
    assert mlflow_client.search_model_versions("name = 'churn_nullfeature'") == []
    (alert,) = [a for a in outbox() if a["model"] == "churn_nullfeature" and a["kind"] in FAILURE_KINDS]
    text = alert["text"]
    assert "not retried" in text  # the same data fails the same way
    assert "1 of 20 built-in checks failed on 3,000 rows. No model was trained." in text
    assert "feature usage_minutes has no value in the training window" in text
    assert "remove usage_minutes from data.features.numeric" in text
    (run,) = mlflow_client.search_runs(
        [mlflow_client.get_experiment_by_name("churn_nullfeature").experiment_id],
        filter_string=f"tags.`mlops.airflow_run_id` = '{dr.run_id}'",
    )
    assert run.info.status == "FAILED" and run.data.tags["mlops.data_validation"] == "failed"
