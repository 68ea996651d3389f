"""Safe deployment on a real scheduler and triggerer: canary trials judged from the real scoring DAG's traffic,
sabotaged candidates rolled back automatically, and sign-off answered through Airflow's REST API as a person
would from the Required Actions page.

The canary model's config is rewritten between rounds (a healthy estimator, then three sabotaged ones from
tests/fixtures/sabotage.py); each round waits until the dag-processor has parsed the new config.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import REPO
from tests.e2e.conftest import new_stack

pytestmark = pytest.mark.e2e

CANARY = "churn_canary"
SIGNOFF = "churn_signoff"
ROWS_PER_DAY = 400
FRACTION = 0.25
HEALTHY = {"class": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 300}}


def _config(model: str, estimator: dict[str, Any], deploy: dict[str, Any]) -> dict[str, Any]:
    cfg = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    cfg.update(model=model, owner="e2e", airflow={"retries": 0}, deploy=deploy)
    cfg["schedule"] = {"training": None}
    cfg["scoring"] = {"source": "churn/current/{{ ds }}.parquet", "schedule": None}
    cfg["drift"] = {"schedule": None}
    cfg["training"]["estimator"] = estimator
    cfg["gates"]["latency"] = None  # the slow candidate must reach its canary
    return cfg


CANARY_DEPLOY = {
    "strategy": "canary",
    "canary": {
        "fraction": FRACTION,
        "min_rows": 150,
        "min_runs": 2,
        "max_wait_hours": 1,
        "poll_seconds": 2,
        "gates": {
            "max_error_rate": 0.01,
            # per row, wall clock: a healthy canary measured 0.12-0.55 ms (the most on a machine running three test
            # sessions and the demo), the Slow one sleeps 200 ms per call of about 100 rows, 2 ms or more a row
            "max_latency_ms": 1.0,
            # ~200 canary rows against ~600: a healthy canary's normed distance stays well below 0.5, the
            # shifted candidate's is above 2
            "prediction_shift": {"method": "wasserstein", "threshold": 0.5},
            # outcomes arrive for the scored customers (written with each batch here); ~100 labeled canary rows
            # per day: roc_auc differs by chance by up to ~0.1
            "label_metric": {"labels_source": "churn/outcomes", "max_drop": 0.15, "min_labeled_rows": 50},
        },
    },
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    from mlops_provider.demo.data import write_labeled

    st = new_stack(tmp_path_factory.mktemp("deploy"), shipped_configs=False)
    write_labeled(st.home / "data", rows=12_000, start="2026-06-01", days=60, seed=3)
    configs = st.dags_folder / "configs"
    (configs / f"{CANARY}.yaml").write_text(yaml.safe_dump(_config(CANARY, HEALTHY, CANARY_DEPLOY)))
    signoff = {"approval": {"required": True, "timeout_hours": 0.01}}  # 36 s, then "no answer" counts as Reject
    (configs / f"{SIGNOFF}.yaml").write_text(yaml.safe_dump(_config(SIGNOFF, HEALTHY, signoff)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__MLOPS__ALLOWED_ESTIMATOR_MODULES", "tests.fixtures.sabotage")
        mp.setenv("PYTHONPATH", str(REPO))  # the task processes import the sabotaged estimators
        st.init()
        st.start()
        try:
            st.wait_ready()
            yield st
        finally:
            st.stop()


@pytest.fixture(scope="module")
def registry(stack) -> Any:
    from mlflow.tracking import MlflowClient

    from mlops_provider.hooks.registry import ModelRegistry

    return ModelRegistry(MlflowClient(tracking_uri=stack.mlflow_uri, registry_uri=stack.mlflow_uri))


def _states(stack, dag_id: str, run_id: str) -> dict[str, str]:
    return {ti["task_id"]: ti["state"] for ti in stack.task_instances(dag_id, run_id)}


def _wait_task(stack, dag_id: str, run_id: str, task_id: str, state: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = _states(stack, dag_id, run_id)
        if states.get(task_id) == state:
            return
        if states.get(task_id) in ("failed", "upstream_failed", "skipped", "success"):
            raise AssertionError(f"{task_id} ended {states[task_id]} instead of {state}: {states}")
        time.sleep(2)
    raise TimeoutError(f"{task_id} of {dag_id} not {state} after {timeout:.0f} s: {_states(stack, dag_id, run_id)}")


def _parsed_with(stack, dag_id: str, text: str, timeout: float = 180) -> None:
    """Wait until the dag-processor has parsed the config that holds ``text`` (it is in the DAG's docs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if text in (stack.api(f"dags/{dag_id}/details").get("doc_md") or ""):
                return
        except Exception:  # not parsed yet
            pass
        time.sleep(2)
    raise TimeoutError(f"{dag_id} not parsed with {text!r} after {timeout:.0f} s")


def _score(stack, day: str, *, huge_charges: bool = False) -> dict[str, Any]:
    from mlops_provider.demo.data import write_current

    (path,) = write_current(stack.home / "data", start=day, days=1, rows_per_day=ROWS_PER_DAY, seed=int(day[-2:]))
    batch = pd.read_parquet(path)
    # what later happened to these customers: more likely to leave when new, unhappy or on a monthly contract
    risk = 0.1 + 0.3 * (batch["tenure_months"] < 6) + 0.3 * (batch["support_calls"] >= 4)
    risk += 0.2 * (batch["contract"] == "monthly")
    churned = (np.random.default_rng(int(day[-2:])).random(len(batch)) < risk).astype(int)
    outcomes = stack.home / "data" / "churn" / "outcomes" / f"{day}.parquet"
    outcomes.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"customer_id": batch["customer_id"], "churned": churned}).to_parquet(outcomes, index=False)
    if huge_charges:  # 10% of the customers with a value no training row had
        batch = pd.read_parquet(path)
        batch.loc[batch.index % 10 == 0, "monthly_charges"] = 100_000.0
        batch.to_parquet(path, index=False)
    run_id = stack.trigger(f"{CANARY}_scoring", f"{day}T06:00:00+00:00")
    run = stack.wait_for_run(f"{CANARY}_scoring", run_id, timeout=300)
    assert run["state"] == "success", _states(stack, f"{CANARY}_scoring", run_id)
    return dict(stack.xcom(f"{CANARY}_scoring", run_id, "score"))


def _canary_round(stack, estimator: dict[str, Any], days: list[str], **batch: Any) -> tuple[str, dict[str, Any]]:
    """Train with ``estimator``; once its canary waits (deferred), score ``days``; return the training run's state
    and its task states."""
    (stack.dags_folder / "configs" / f"{CANARY}.yaml").write_text(
        yaml.safe_dump(_config(CANARY, estimator, CANARY_DEPLOY))
    )
    _parsed_with(stack, f"{CANARY}_training", estimator["class"])
    run_id = stack.trigger(f"{CANARY}_training")
    _wait_task(stack, f"{CANARY}_training", run_id, "observe_canary", "deferred")
    scored = [_score(stack, day, **batch) for day in days]
    run = stack.wait_for_run(f"{CANARY}_training", run_id, timeout=300)
    return run["state"], {"run_id": run_id, "states": _states(stack, f"{CANARY}_training", run_id), "scored": scored}


def _log(stack, days: list[str]) -> pd.DataFrame:
    root = stack.home / "data" / "predictions" / CANARY
    return pd.concat([pd.read_parquet(root / f"scoring_date={d}" / "predictions.parquet") for d in days])


def test_a_healthy_canary_serves_its_fraction_then_is_promoted(stack, registry):
    stack.wait_for_dag(f"{CANARY}_training")
    first = stack.trigger(f"{CANARY}_training")  # no champion yet: nothing to try it against
    assert stack.wait_for_run(f"{CANARY}_training", first, timeout=600)["state"] == "success"
    assert registry.champion(CANARY) == "1"

    state, run = _canary_round(stack, HEALTHY, ["2026-08-01", "2026-08-02"])

    assert state == "success", run["states"]
    assert registry.champion(CANARY) == "2" and registry.alias(CANARY, "previous_champion") == "1"
    assert registry.trial(CANARY, "canary") is None
    last = registry.history(CANARY)[-1]
    assert (last["from"], last["to"], last["reason"]) == ("1", "2", "canary trial passed")
    assert "canary trial passed against v1" in last["evidence"]
    (trial,) = registry.trials(CANARY, "2")
    assert trial["outcome"] == "promoted" and all(g["passed"] for g in trial["gates"])
    gates = {g["gate"]: g for g in trial["gates"]}
    assert set(gates) == {"window", "error_rate", "latency_p95_ms", "prediction_shift", "label_metric.roc_auc"}
    assert gates["label_metric.roc_auc"]["value"] > 0.5, gates["label_metric.roc_auc"]  # measured, not skipped
    log = _log(stack, ["2026-08-01", "2026-08-02"])
    share = (log["route"] == "canary").mean()
    assert abs(share - FRACTION) < 0.06, share  # ~800 rows split by the entity key's hash
    assert set(log.loc[log["route"] == "canary", "model_version"]) == {2}
    assert set(log.loc[log["route"] == "champion", "model_version"]) == {1}
    observed = stack.xcom(f"{CANARY}_training", run["run_id"], "observe_canary")
    assert observed["window"]["runs"] == 2 and observed["window"]["rows"] == int((log["route"] == "canary").sum())


@pytest.mark.parametrize(
    ("sabotage", "gate", "days", "batch"),
    [
        ("RaisesOnSomeRows", "error_rate", ["2026-08-03", "2026-08-04", "2026-08-05"], {"huge_charges": True}),
        ("Slow", "latency_p95_ms", ["2026-08-06", "2026-08-07", "2026-08-08"], {}),
        ("Shifted", "prediction_shift", ["2026-08-09", "2026-08-10", "2026-08-11"], {}),
    ],
)
def test_a_sabotaged_canary_is_rolled_back_naming_its_gate_and_the_champion_stays(
    stack, registry, sabotage, gate, days, batch
):
    days, next_day = days[:2], days[2]
    champion = registry.champion(CANARY)
    assert champion is not None, "runs after the healthy canary"
    estimator = {"class": f"tests.fixtures.sabotage.{sabotage}", "params": {"max_iter": 300}}

    state, run = _canary_round(stack, estimator, days, **batch)

    assert state == "failed" and run["states"]["conclude_canary"] == "failed", run["states"]
    candidate = str(run["scored"][0]["trial"]["version"])
    assert registry.champion(CANARY) == champion and registry.trial(CANARY, "canary") is None
    (trial,) = registry.trials(CANARY, candidate)
    failed = [g["gate"] for g in trial["gates"] if not g["passed"]]
    assert trial["outcome"] == "rolled_back" and failed == [gate], trial["gates"]
    observed = stack.xcom(f"{CANARY}_training", run["run_id"], "observe_canary")
    assert observed["passed"] is False and gate in observed["summary"]
    outbox = [json.loads(x) for x in (stack.home / "outbox.jsonl").read_text().splitlines() if x.strip()]
    told = [a for a in outbox if a["model"] == CANARY]
    alert = told[-1]
    assert alert["kind"] == "trial_outcome" and alert["numbers"]["promoted"] is False, alert
    assert f"canary trial of v{candidate} failed on {gate} (" in alert["text"], alert["text"]
    assert f"rolled back automatically; champion stays v{champion}." in alert["text"]
    assert not [a for a in told if "task `conclude_canary`" in a["text"]]  # one message for the event

    after = _score(stack, next_day)  # the next scoring run: the champion alone
    assert after["trial"] is None and str(after["model_version"]) == champion


# -- sign-off ------------------------------------------------------------------------------------------------


def _hitl(stack, run_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    quoted = urllib.parse.quote(run_id, safe="")
    path = f"dags/{SIGNOFF}_training/dagRuns/{quoted}/taskInstances/approve/-1/hitlDetails"
    return dict(stack.api(path, method="PATCH" if body else "GET", body=body))


def _awaiting_sign_off(stack) -> str:
    stack.wait_for_dag(f"{SIGNOFF}_training")
    run_id = stack.trigger(f"{SIGNOFF}_training")
    _wait_task(stack, f"{SIGNOFF}_training", run_id, "approve", "awaiting_input")
    # A person reads the request first. An answer before the scheduler has processed the executor's event for
    # the parked try races Airflow 3.3: the scheduler sees "success" for a task already queued again to resume,
    # and marks it failed (seen in CI with answers 0.4 s and, on a loaded machine, 5 s after the pause). So the
    # answer waits for the scheduler's "TaskInstance Finished" line of that try.
    scheduler_log = stack.home / "logs" / "scheduler.log"
    deadline = time.monotonic() + 180
    while f"task_id=approve, run_id={run_id}," not in scheduler_log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the scheduler did not process the parked try of approve in {run_id}")
        time.sleep(1)
    time.sleep(1)
    return run_id


def test_sign_off_approved_rejected_and_timed_out(stack, registry):
    from mlops_provider.naming import APPROVAL_TAG

    def decision(version: str) -> dict[str, Any]:
        return json.loads(registry.client.get_model_version(SIGNOFF, version).tags[APPROVAL_TAG])

    # approved: the request shows the candidate and its gates; the answer deploys it
    run_id = _awaiting_sign_off(stack)
    request = _hitl(stack, run_id)
    assert request["subject"] == f"Deploy {SIGNOFF} v1?"
    assert "| metric.roc_auc | 0.8" in request["body"] and "| 0.75 | pass |" in request["body"]
    assert "first deployment" in request["body"]
    _hitl(stack, run_id, {"chosen_options": ["Approve"], "params_input": {}})
    assert stack.wait_for_run(f"{SIGNOFF}_training", run_id, timeout=300)["state"] == "success"
    assert _states(stack, f"{SIGNOFF}_training", run_id)["promote"] == "success"
    assert registry.champion(SIGNOFF) == "1"
    assert decision("1")["decision"] == "approved" and decision("1")["by"] == "admin"

    # rejected: not deployed, the champion stays
    run_id = _awaiting_sign_off(stack)
    assert "**Replaces champion:** v1" in _hitl(stack, run_id)["body"]
    _hitl(stack, run_id, {"chosen_options": ["Reject"], "params_input": {}})
    assert stack.wait_for_run(f"{SIGNOFF}_training", run_id, timeout=300)["state"] == "success"
    assert _states(stack, f"{SIGNOFF}_training", run_id)["promote"] == "skipped"
    assert registry.champion(SIGNOFF) == "1"
    assert decision("2")["decision"] == "rejected" and decision("2")["by"] == "admin"

    # no answer within timeout_hours: counts as Reject, recorded as timed out
    run_id = _awaiting_sign_off(stack)
    assert stack.wait_for_run(f"{SIGNOFF}_training", run_id, timeout=300)["state"] == "success"
    assert _states(stack, f"{SIGNOFF}_training", run_id)["promote"] == "skipped"
    assert registry.champion(SIGNOFF) == "1"
    assert decision("3")["decision"] == "timed_out" and decision("3")["by"] is None
