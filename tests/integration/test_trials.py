"""Canary and shadow trials with dag.test(): routing in the real scoring DAG, the window's timeout, shadow rows.

The whole story on a real scheduler and triggerer (a healthy canary promoted, sabotaged ones rolled back,
sign-off answered through the REST API) is in tests/e2e/test_deploy.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import STATE
from tests.integration.conftest import model_config, run_config_dag, task_states, xcom

pytestmark = pytest.mark.integration

MODEL = "churn_trial"
DAYS = ["2026-10-01", "2026-10-02"]
ROWS = 600


def _config(strategy: str = "canary", **overrides: Any) -> dict[str, Any]:
    return model_config(
        MODEL,
        **{
            "scoring.source": "churn/current/{{ ds }}.parquet",
            "gates.latency": None,
            "deploy.strategy": strategy,
            "deploy.canary": {
                "fraction": 0.2,
                "min_rows": 100,
                "min_runs": 2,
                "max_wait_hours": 0.002,  # 7 s: nobody scores during a dag.test() of the training DAG
                "poll_seconds": 1,
                "gates": {"prediction_shift": {"method": "wasserstein", "threshold": 0.5}},
            },
            **overrides,
        },
    )


def _at(day: str) -> dict[str, Any]:
    return {"logical_date": datetime.fromisoformat(day).replace(hour=6, tzinfo=UTC)}


def _registry() -> Any:
    from mlops_provider.hooks.mlflow import MlflowHook

    return MlflowHook().registry


@pytest.fixture(scope="module")
def two_versions(example_data: Path) -> dict[str, Any]:
    """v1 champion (no champion to try it against: promoted directly), v2 whose canary got no traffic."""
    from mlops_provider.demo.data import write_current

    write_current(STATE / "data", start=DAYS[0], days=len(DAYS), rows_per_day=ROWS, seed=17)
    first = run_config_dag(_config(), "training")
    assert first.state == "success", task_states(first)
    second = run_config_dag(_config(), "training")
    return {"first": first, "second": second}


def test_the_first_version_is_promoted_without_a_trial(two_versions, mlflow_client):
    first = two_versions["first"]
    states = task_states(first)
    tasks = ["validate_data", "train", "evaluate_gates", "register", "start_canary", "observe_canary"]
    assert states == dict.fromkeys([*tasks, "conclude_canary", "end_canary", "cost_report"], "success")
    start = xcom(first, "start_canary")
    assert start["promoted"] is True and start["champion"] == start["version"] == "1"
    assert start["previous_champion"] is None and "no champion to compare with" in start["evidence"]
    assert xcom(first, "end_canary") == {"ended": False}


def test_a_canary_without_traffic_times_out_is_rolled_back_and_never_touches_the_champion(two_versions, mlflow_client):
    second = two_versions["second"]
    assert second.state == "failed"
    states = task_states(second)
    assert states["observe_canary"] == "success" and states["conclude_canary"] == "failed", states
    assert states["end_canary"] == "success" and xcom(second, "end_canary") == {"ended": False}  # already ended
    observed = xcom(second, "observe_canary")
    assert observed["passed"] is False and observed["version"] == "2" and observed["champion"] == "1"
    (window,) = [g for g in observed["gates"] if g["gate"] == "window"]
    assert window["passed"] is False and "0 rows in 0 scoring run(s) (need 100 in 2)" in window["detail"]

    registry = _registry()
    assert registry.champion(MODEL) == "1"
    assert registry.trial(MODEL, "canary") is None
    (record,) = registry.trials(MODEL, "2")
    assert record["outcome"] == "rolled_back" and record["champion"] == "1" and record["strategy"] == "canary"
    assert record["started_at"] <= record["at"]
    run = mlflow_client.get_run(mlflow_client.get_model_version(MODEL, "2").run_id)
    assert run.data.metrics["trial.window"] == 0.0
    from mlops_provider.cli_render import render_audit
    from mlops_provider.lineage.audit import audit_record

    story = render_audit(audit_record(mlflow_client, MODEL, "2"))  # what `mlops lineage churn_trial 2` prints
    assert "Trial           canary against v1: rolled_back at" in story
    assert "FAIL  window" in story and "never promoted to champion" in story
    lines = (STATE / "outbox.jsonl").read_text().splitlines()  # written while the module's fixture ran
    alerts = [a for a in map(json.loads, filter(None, lines)) if a["model"] == MODEL]
    (outcome,) = [a for a in alerts if a["kind"] == "trial_outcome"]  # the failure callback does not repeat it
    assert outcome["text"].startswith(":red_circle: churn_trial: canary trial of v2 failed on window (0 rows in 0")
    assert "rolled back automatically; champion stays v1." in outcome["text"]
    assert "FAIL window:" in outcome["text"]
    assert not [a for a in alerts if "task `conclude_canary`" in a["text"]]


def test_scoring_routes_the_canary_fraction_by_a_stable_hash_and_the_gates_read_the_log(two_versions):
    from mlops_provider import trials
    from mlops_provider.config import PipelineConfig

    registry = _registry()
    champion, started, _ = registry.start_trial(MODEL, "2", "canary", run_id="test-routing")
    assert champion == "1"
    try:
        for day in DAYS:
            dr = run_config_dag(_config(), "scoring", **_at(day))
            assert dr.state == "success", task_states(dr)
            assert xcom(dr, "score")["trial"]["version"] == 2
        root = STATE / "data" / "predictions" / MODEL
        log = pd.concat(
            [pd.read_parquet(root / f"scoring_date={d}" / "predictions.parquet").assign(scoring_date=d) for d in DAYS],
            ignore_index=True,
        )
    finally:
        registry.end_trial(MODEL, "2", "canary", {"run_id": "test-routing", "outcome": "ended by the test"})

    assert len(log) == ROWS * len(DAYS) and log["served"].all()
    canary = log["route"] == "canary"
    assert 0.15 < canary.mean() < 0.25, canary.mean()  # fraction 0.2
    # the same entity goes to the same version: the route is the hash's verdict, row by row
    assert canary.tolist() == trials.to_canary(MODEL, log["entity_key"], 0.2)
    assert set(log.loc[canary, "model_version"]) == {2} and set(log.loc[~canary, "model_version"]) == {1}
    assert (log["error"] == "").all()

    summaries = [json.loads((root / f"scoring_date={d}" / "_serving.json").read_text()) for d in DAYS]
    window = trials.count_window(summaries, "2", started)
    assert window == {"rows": int(canary.sum()), "errors": 0, "runs": 2, "dates": DAYS}
    gates = {g.gate: g for g in trials.evaluate(log, PipelineConfig.model_validate(_config()), "canary")}
    assert gates["error_rate"].passed and gates["error_rate"].value == 0.0
    assert gates["prediction_shift"].passed, gates["prediction_shift"].detail


def test_shadow_rows_are_logged_beside_and_never_change_a_served_row(two_versions):
    registry = _registry()
    day = DAYS[0]
    partition = STATE / "data" / "predictions" / MODEL / f"scoring_date={day}"
    volatile = ["scored_at", "latency_ms"]

    registry.start_trial(MODEL, "2", "shadow", run_id="test-shadow")
    try:
        dr = run_config_dag(_config("shadow"), "scoring", **_at(day))
        assert dr.state == "success", task_states(dr)
        with_shadow = pd.read_parquet(partition / "predictions.parquet")
        shadow = pd.read_parquet(partition / "_shadow.parquet")
        whole_log = pd.read_parquet(partition.parent)  # the log root, as an analyst reads it
    finally:
        registry.end_trial(MODEL, "2", "shadow", {"run_id": "test-shadow", "outcome": "ended by the test"})
    assert (partition / "_shadow.parquet").exists()
    assert "shadow" not in set(whole_log["route"]) and whole_log["served"].all()  # _shadow.parquet is skipped
    dr = run_config_dag(_config("shadow"), "scoring", **_at(day))  # the same day again, with no shadow
    assert dr.state == "success", task_states(dr)
    without = pd.read_parquet(partition / "predictions.parquet")

    pd.testing.assert_frame_equal(with_shadow.drop(columns=volatile), without.drop(columns=volatile))
    assert not (partition / "_shadow.parquet").exists()  # removed: no stale shadow rows beside the new log
    assert len(shadow) == ROWS and not shadow["served"].any() and set(shadow["route"]) == {"shadow"}
    assert set(shadow["model_version"]) == {2} and list(shadow["entity_key"]) == list(with_shadow["entity_key"])
