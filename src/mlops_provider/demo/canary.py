"""The demo's canary round: ``churn_canary`` (dags/configs/churn_canary.yaml) puts its new version on a canary
that serves 20% of two days of scoring traffic, then promotes it or rolls it back on the trial gates."""

from __future__ import annotations

import time
from typing import Any

from mlops_provider.demo.stack import Stack

MODEL = "churn_canary"
DAGS = (f"{MODEL}_training", f"{MODEL}_scoring")


def _say(text: str = "") -> None:
    print(text, flush=True)


def _registry(stack: Stack) -> Any:
    from mlflow.tracking import MlflowClient

    from mlops_provider.hooks.registry import ModelRegistry

    return ModelRegistry(MlflowClient(tracking_uri=stack.mlflow_uri, registry_uri=stack.mlflow_uri))


def first_version(stack: Stack) -> str | None:
    """Trigger the first training of the model when it has no champion yet (with nothing to compare a canary
    with, its first version is promoted directly); returns that run's id, None when a champion exists."""
    stack.wait_for_dag(f"{MODEL}_training")
    if _registry(stack).champion(MODEL) is not None:
        return None
    return stack.trigger(f"{MODEL}_training")


def _task_state(stack: Stack, run_id: str, task_id: str) -> str | None:
    for ti in stack.task_instances(f"{MODEL}_training", run_id):
        if ti["task_id"] == task_id:
            return ti.get("state")
    return None


def canary_round(stack: Stack, first_run: str | None, days: tuple[str, ...]) -> tuple[list[str], bool]:
    """Train a new version, let it serve as canary on ``days`` of scoring, and report the trial's numbers."""
    registry = _registry(stack)
    if first_run is not None:
        run = stack.wait_for_run(f"{MODEL}_training", first_run)
        if run["state"] != "success":
            return [f"{MODEL}: its first training run {first_run} {run['state']}; no canary round"], False
    before = registry.champion(MODEL)
    run_id = stack.trigger(f"{MODEL}_training")
    _say(f"== Canary: {MODEL}_training run {run_id} trains a new version to try beside champion v{before}")
    deadline = time.monotonic() + 600
    state = _task_state(stack, run_id, "observe_canary")
    while state != "deferred" and time.monotonic() < deadline:
        if state in ("success", "failed", "upstream_failed", "skipped"):
            break
        time.sleep(3)
        state = _task_state(stack, run_id, "observe_canary")
    if state != "deferred":
        run = stack.wait_for_run(f"{MODEL}_training", run_id)
        return [
            f"{MODEL}: training run {run_id} {run['state']} before its canary started (task states in the UI)"
        ], False
    candidate = registry.trial(MODEL, "canary")
    _say(
        f"  v{candidate} is on canary (alias canary); observe_canary waits deferred in the triggerer. Scoring "
        f"{', '.join(days)}: 20% of the customers go to v{candidate}, the rest to v{before}"
    )
    from mlops_provider.demo.run import _backfill

    _backfill(stack, f"{MODEL}_scoring", days[0], days[-1])
    run = stack.wait_for_run(f"{MODEL}_training", run_id)
    observed = stack.xcom(f"{MODEL}_training", run_id, "observe_canary") or {}
    window = observed.get("window", {})
    lines = [
        f"Canary ({MODEL}): v{candidate} served {window.get('rows', 0):,} rows in {window.get('runs', 0)} scoring "
        f"runs beside champion v{before}:"
    ]
    for gate in observed.get("gates", []):
        lines.append(f"  {'pass' if gate['passed'] else 'FAIL'} {gate['gate']:<16} {gate['detail']}")
    after = registry.champion(MODEL)
    if run["state"] == "success" and after == candidate:
        lines.append(f"  → promoted: champion v{after}, previous champion v{before}")
    else:
        lines.append(f"  → rolled back automatically: champion stays v{after}; the alert says which gate failed")
    return lines, run["state"] == "success"
