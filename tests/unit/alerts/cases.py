"""One alert of every kind, built from fixed values: the catalogue test, the Slack payload test and docs/alerts.md.

Failure kinds go through :func:`~mlops_provider.notifications.alerts.failure_alert` from a callback context,
so the path from an exception to the message is what is compared. Links use ``BASE_URL`` as ``[api] base_url``
(the caller sets ``AIRFLOW__API__BASE_URL``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

BASE_URL = "https://airflow.example.com"
RUN = "scheduled__2026-11-26T02:00:00+00:00"
DRIFT_RUN = "asset_triggered__2026-11-26T06:10:00+00:00"


def _ti(dag_id: str, task_id: str, try_number: int, retries: int, state: str) -> Any:
    return SimpleNamespace(
        dag_id=dag_id,
        task_id=task_id,
        try_number=try_number,
        max_tries=retries,
        task=SimpleNamespace(retries=retries),
        state=state,
    )


def cases() -> dict[str, Any]:
    """``{kind: Alert}`` for every kind in the catalogue."""
    from mlops_provider.notifications import catalogue
    from mlops_provider.notifications.alerts import failure_alert
    from mlops_provider.operators.data import DataValidationFailed
    from mlops_provider.operators.gates import GateFailed

    run_link = catalogue.run_url(BASE_URL, "churn_training", RUN)
    drift_link = catalogue.run_url(BASE_URL, "churn_drift", DRIFT_RUN)
    out: dict[str, Any] = {}
    out["task_failed"] = failure_alert(
        {
            "ti": _ti("churn_scoring", "score", 1, 2, "up_for_retry"),
            "exception": TimeoutError("read of s3://ml-data/churn/current/2026-11-26.parquet timed out after 60 s"),
            "run_id": RUN,
        },
        "churn",
    )
    out["validation_failed"] = failure_alert(
        {
            "ti": _ti("churn_training", "validate_data", 1, 1, "failed"),
            "exception": DataValidationFailed(
                "Data validation failed for churn: 2 of 8 expectations failed on 60,000 rows. No model was trained.\n"
                "  - expect_column_values_to_not_be_null(column='usage_minutes'): 1,204 unexpected (2.01%)\n"
                "  - expect_column_values_to_be_between(column='tenure_months', min_value=0, max_value=120): "
                "37 unexpected (0.06%); e.g. [-1, -3, 240]"
            ),
            "run_id": RUN,
        },
        "churn",
    )
    out["gate_failed"] = failure_alert(
        {
            "ti": _ti("churn_training", "evaluate_gates", 1, 1, "failed"),
            "exception": GateFailed(
                "2 of 6 gates failed for churn (MLflow run 5f2c9a1e); the model is not registered and the champion "
                "is unchanged:\n"
                "  - metric.roc_auc = 0.7012 >= 0.75: FAIL\n"
                "  - champion.roc_auc = 0.7012 >= 0.8437 - 0.01 (champion v3): FAIL"
            ),
            "run_id": RUN,
        },
        "churn",
    )
    out["drift_detected"] = catalogue.drift_detected(
        model="churn",
        champion="3",
        drifted=["usage_minutes", "support_calls", "monthly_charges", "tenure_months", "plan", "contract", "region"],
        features=10,
        share=0.7,
        threshold=0.5,
        top=[("usage_minutes", "wasserstein", 0.412), ("support_calls", "wasserstein", 0.305), ("plan", "psi", 0.27)],
        prediction="prediction probability mean shifted +175.0% (prediction chisquare 0.000 DRIFT; probability "
        "wasserstein 0.388 DRIFT)",
        retrain=True,
        brake=None,
        reason="dataset drift: retraining requested",
        link=drift_link,
    )
    out["circuit_open"] = catalogue.circuit_open(
        model="churn",
        retrains=3,
        limit=3,
        share=0.6,
        drifted=["usage_minutes", "plan", "contract"],
        reason="circuit breaker opened: 3 consecutive drift-triggered retrains (limit 3) did not bring drift under "
        "the threshold; retraining cannot fix this one, escalating to a human",
        link=drift_link,
    )
    out["no_new_data"] = catalogue.no_new_data(
        model="churn",
        champion="3",
        snapshot="2f4e9b0c1d2e3f405162738495a6b7c8",
        message="The retrain read the configured window (30 days of current/) again and found the same rows "
        "(snapshot 2f4e9b0c1d2e…; config and code unchanged too).",
        link=catalogue.run_url(BASE_URL, "churn_training", DRIFT_RUN),
    )
    out["retrain_finished"] = catalogue.retrain_finished(
        model="churn",
        version="4",
        previous="3",
        metric="roc_auc",
        value=0.8612,
        previous_value=0.7904,
        drift_started=datetime(2026, 11, 26, 6, 10, 0, tzinfo=UTC),
        deployed_at=datetime(2026, 11, 26, 6, 10, 36, tzinfo=UTC),
        how="promoted",
        link=catalogue.run_url(BASE_URL, "churn_training", DRIFT_RUN),
    )
    out["approval_requested"] = catalogue.approval_requested(
        model="churn",
        version="4",
        champion="3",
        metric="roc_auc",
        value=0.8612,
        champion_value=0.8437,
        gates_passed=6,
        gates=6,
        strategy="canary",
        timeout_hours=24,
        assigned=["alice"],
        link=f"{BASE_URL}/dags/churn_training/runs/{RUN}/tasks/approve/required_actions",
    )
    gates = [
        {"gate": "error_rate", "passed": True, "detail": "0.0000 <= 0.01 (0 of 1,214 rows)"},
        {"gate": "latency_p95_ms", "passed": False, "detail": "p95 41.2 ms per batch > 1.0 ms (champion 0.4 ms)"},
    ]
    out["trial_outcome"] = catalogue.trial_outcome(
        model="churn",
        strategy="canary",
        version="4",
        champion="3",
        promoted=False,
        rows=1214,
        runs=2,
        gates=gates,
        dag_id="churn_training",
        run_id=RUN,
        link=run_link,
    )
    out["promoted"] = catalogue.promoted(
        model="churn",
        version="4",
        previous="3",
        why="gates passed against v3, still champion",
        by=f"DAG run {RUN}",
        link=run_link,
    )
    out["rolled_back"] = catalogue.rolled_back(
        model="churn",
        version="3",
        previous="4",
        why="complaints about v4's scores in the EU region",
        by="alice",
        link=catalogue.run_url(BASE_URL, "churn_rollback", "manual__2026-11-26T09:30:00+00:00"),
    )
    out["recovered"] = catalogue.recovered(
        model="churn",
        dag_id="churn_scoring",
        run_id="scheduled__2026-11-27T01:00:00+00:00",
        failures=2,
        since="2026-11-25T01:04:12+00:00",
        link=catalogue.run_url(BASE_URL, "churn_scoring", "scheduled__2026-11-27T01:00:00+00:00"),
    )
    out["budget_breach"] = catalogue.budget_breach(
        model="churn",
        month="2026-11",
        month_to_date=192.5,
        projected=222.12,
        budget=150.0,
        hold=False,
        hold_at=2.0,
        top=[("churn_training", 160.25), ("churn_scoring", 30.0), ("churn_drift", 2.25)],
        link=catalogue.run_url(BASE_URL, "churn_training", RUN),
    )
    return out


#: The kinds :func:`cases` builds, for parametrizing tests at collection time.
KIND_NAMES = (
    "task_failed",
    "validation_failed",
    "gate_failed",
    "drift_detected",
    "circuit_open",
    "no_new_data",
    "retrain_finished",
    "approval_requested",
    "trial_outcome",
    "promoted",
    "rolled_back",
    "recovered",
    "budget_breach",
)
