"""One-step rollback: the rollback DAG puts the previous champion back, scoring serves it, the history says who
and why; a version that never passed its gates is refused; a killed rollback is completed by its retry.

Real Airflow (``dag.test``), a real MLflow SQLite store, real processes killed in the middle of a move.
"""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_provider.naming import CHAMPION, GATES_TAG, PREVIOUS_CHAMPION
from mlops_provider.notifications.incidents import FAILURE_KINDS
from tests.conftest import STATE
from tests.integration import promotion_workers
from tests.integration.conftest import model_config, task_states, xcom

pytestmark = pytest.mark.integration

SPAWN = multiprocessing.get_context("spawn")
MODEL = "churn_rb"
DAY = datetime(2026, 8, 1, 6, tzinfo=UTC)


def config() -> dict[str, Any]:
    return model_config(MODEL, **{"scoring.source": "churn/current/{{ ds }}.parquet", "gates.latency": None})


@pytest.fixture(scope="module")
def two_champions(example_data: Path) -> None:
    """v1 trained and promoted, then v2 trained and promoted over it (previous_champion v1)."""
    from tests.integration.conftest import run_config_dag

    for _ in range(2):
        dr = run_config_dag(config(), "training")
        assert dr.state == "success", task_states(dr)


def registry_state(client: Any, name: str) -> dict[str, Any]:
    from mlops_provider.hooks.registry import ModelRegistry

    registry = ModelRegistry(client)
    return {
        "champion": registry.alias(name, CHAMPION),
        "previous": registry.alias(name, PREVIOUS_CHAMPION),
        "pending": registry.pending(name),
        "history": [(h.get("kind"), h["from"], h["to"]) for h in registry.history(name)],
    }


def test_rollback_dag_restores_the_previous_champion_and_scoring_serves_it(
    two_champions, run_dag, mlflow_client, mlflow_state, capsys
) -> None:
    from mlops_provider.cli import main
    from mlops_provider.demo.data import write_current
    from mlops_provider.hooks.registry import ModelRegistry

    registry = ModelRegistry(mlflow_client)
    assert (registry.champion(MODEL), registry.alias(MODEL, PREVIOUS_CHAMPION)) == ("2", "1")

    dr = run_dag(config(), "rollback", run_conf={"reason": "v2 flags every customer as churning"})
    assert dr.state == "success", task_states(dr)
    assert xcom(dr, "rollback") == {
        "name": MODEL,
        "champion": "1",
        "previous_champion": "2",
        "promoted": True,
        "evidence": "v1 passed its gates when registered; replaces v2",
        "kind": "rollback",
    }
    assert registry_state(mlflow_client, MODEL) == {
        "champion": "1",
        "previous": "2",
        "pending": None,
        "history": [("promotion", None, "1"), ("promotion", "1", "2"), ("rollback", "2", "1")],
    }
    last = registry.history(MODEL)[-1]
    assert last["reason"] == "v2 flags every customer as churning"
    assert last["by"] == "dag_test"  # the DAG run's triggering user (what dag.test() records), not the run id
    assert last["run_id"] == dr.run_id

    write_current(STATE / "data", start="2026-08-01", days=1, rows_per_day=500, seed=3)
    scored = run_dag(config(), "scoring", logical_date=DAY)
    assert scored.state == "success", task_states(scored)
    log = pd.read_parquet(STATE / "data" / "predictions" / MODEL / "scoring_date=2026-08-01" / "predictions.parquet")
    assert set(log["model_version"]) == {1}

    capsys.readouterr()
    assert main(["lineage", MODEL, "1", "--tracking-uri", mlflow_client.tracking_uri]) == 0
    out = capsys.readouterr().out
    assert f"champion again by rollback (replacing v2); DAG run {dr.run_id} by dag_test; reason: v2 flags" in out

    again = run_dag(config(), "rollback", run_conf={"version": "1"})  # already champion: says so, moves nothing
    assert again.state == "success" and xcom(again, "rollback")["promoted"] is False
    assert registry_state(mlflow_client, MODEL)["history"][-1] == ("rollback", "2", "1")


def test_a_version_that_failed_its_gates_is_refused_and_nothing_moves(
    two_champions, run_dag, mlflow_client, mlflow_state, outbox
) -> None:
    from mlops_provider.hooks.registry import ModelRegistry

    champion = ModelRegistry(mlflow_client).champion(MODEL)
    source = mlflow_client.get_model_version(MODEL, champion).source
    bad = mlflow_client.create_model_version(MODEL, source=source, run_id=None).version
    gates = [{"gate": "metric.roc_auc", "value": 0.61, "threshold": 0.75, "passed": False, "severity": "fail"}]
    mlflow_client.set_model_version_tag(MODEL, bad, GATES_TAG, json.dumps(gates))
    before = registry_state(mlflow_client, MODEL)

    dr = run_dag(config(), "rollback", run_conf={"version": str(bad), "reason": "try the other one"})
    assert dr.state == "failed"
    assert registry_state(mlflow_client, MODEL) == before
    (alert,) = [a for a in outbox() if a["model"] == MODEL and a["kind"] in FAILURE_KINDS]
    assert f"{MODEL} v{bad} failed gate(s) metric.roc_auc when it was trained, so it may not serve" in alert["text"]
    assert f"Nothing moved; champion stays v{champion}" in alert["text"]


# -- crash safety: a real process killed right after each write of the move ---------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('rollback-registry') / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments(max_results=1)
    return uri


def promoted_twice(uri: str, name: str) -> Any:
    """v1 then v2 promoted through the registry (both with passed gates): champion v2, previous v1."""
    registry = promotion_workers.open_registry(uri)
    registry.client.create_registered_model(name)
    for version in ("1", "2"):
        registry.client.create_model_version(name, source=f"/nowhere/{name}", run_id=None)
        registry.client.set_model_version_tag(name, version, GATES_TAG, "[]")
        registry.promote(name, version, reason="trained", run_id=f"train-{version}", check=lambda current: "ok")
    return registry


def test_a_killed_rollback_is_completed_by_its_retry_whatever_write_it_died_after(store: str) -> None:
    steps = range(1, 6)  # intent, champion, previous_champion, history record, intent cleared
    for step in steps:
        promoted_twice(store, f"rb_crash_{step}")
    children = [
        SPAWN.Process(target=promotion_workers.rollback_and_die_after_write, args=(store, f"rb_crash_{step}", step))
        for step in steps
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=300)
    assert [c.exitcode for c in children] == [137] * 5

    for step in steps:
        name = f"rb_crash_{step}"
        registry = promotion_workers.open_registry(store)
        if step < 5:
            assert registry.pending(name) is not None, step  # died in the middle: the move is half done
        retry = registry.rollback(name, reason="crash test", by="oncall", run_id=f"rollback-{step}")
        assert (retry.champion, retry.previous_champion, retry.kind) == ("1", "2", "rollback"), (step, retry)
        assert retry.promoted == (step < 5), (step, retry)  # after the last write there was nothing left to do
        after = registry_state(registry.client, name)
        assert after == {
            "champion": "1",
            "previous": "2",
            "pending": None,
            "history": [("promotion", None, "1"), ("promotion", "1", "2"), ("rollback", "2", "1")],
        }, (step, after)
        (record,) = [h for h in registry.history(name) if h.get("kind") == "rollback"]
        assert (record["by"], record["reason"], record["run_id"]) == ("oncall", "crash test", f"rollback-{step}")


def test_rollback_without_previous_champion_or_with_a_version_never_gated_is_refused(store: str) -> None:
    from mlops_provider.hooks.registry import RollbackRefused

    registry = promotion_workers.open_registry(store)
    name = "rb_refused"
    registry.client.create_registered_model(name)
    registry.client.create_model_version(name, source=f"/nowhere/{name}", run_id=None)
    registry.client.set_model_version_tag(name, "1", GATES_TAG, "[]")
    registry.promote(name, "1", reason="trained", run_id="t1", check=lambda current: "ok")
    with pytest.raises(RollbackRefused, match="has no previous_champion to roll back to \\(champion is v1\\)"):
        registry.rollback(name, reason="r", by="oncall", run_id="x1")
    registry.client.create_model_version(name, source=f"/nowhere/{name}", run_id=None)  # v2: no gate results
    with pytest.raises(RollbackRefused, match="v2 has no gate results"):
        registry.rollback(name, to="2", reason="r", by="oncall", run_id="x2")
    with pytest.raises(RollbackRefused, match="has no version '9'"):
        registry.rollback(name, to="9", reason="r", by="oncall", run_id="x3")
    assert registry_state(registry.client, name) == {
        "champion": "1",
        "previous": None,
        "pending": None,
        "history": [("promotion", None, "1")],
    }


def test_a_canary_promotion_racing_a_rollback_ends_coherent_in_every_round(store: str) -> None:
    """v2 champion (v1 before it), v3 on canary with a passed trial compared with v2: the canary's promotion and
    a person's rollback start at the same moment, 20 times. Whichever moves first, the other sees its result."""
    import multiprocessing

    from mlops_provider.naming import CANARY

    spawn = multiprocessing.get_context("spawn")
    rounds = [f"canary_race_{i}" for i in range(20)]
    for name in rounds:
        registry = promoted_twice(store, name)
        registry.client.create_model_version(name, source=f"/nowhere/{name}", run_id=None)
        registry.client.set_model_version_tag(name, "3", GATES_TAG, "[]")
        assert registry.start_trial(name, "3", "canary", run_id="canary-run")[0] == "2"
    barrier, results = spawn.Barrier(2), spawn.Queue()
    racers = [
        spawn.Process(target=promotion_workers.trial_or_rollback, args=(store, rounds, role, barrier, results))
        for role in ("canary", "rollback")
    ]
    for racer in racers:
        racer.start()
    outcomes = [results.get(timeout=300) for _ in range(2 * len(rounds))]
    for racer in racers:
        racer.join(timeout=60)

    registry = promotion_workers.open_registry(store)
    for name in rounds:
        mine = {role: (move, error) for n, role, move, error in outcomes if n == name}
        (canary, canary_error), (rollback, rollback_error) = mine["canary"], mine["rollback"]
        assert rollback_error is None, rollback_error
        history = [(h["kind"], h["from"], h["to"]) for h in registry.history(name)]
        (trial,) = registry.trials(name, "3")
        if canary_error is None:  # the canary moved first; the rollback then undid it
            assert canary["champion"] == "3" and rollback["previous_champion"] == "3"
            assert history[-2:] == [("promotion", "2", "3"), ("rollback", "3", "2")], history
            assert trial["outcome"] == "promoted"
        else:  # the rollback moved first; the canary's evidence (measured against v2) no longer held
            assert "PromotionRefused" in canary_error and "changed during the trial (v2 → v1" in canary_error
            assert history[-1] == ("rollback", "2", "1") and ("promotion", "2", "3") not in history, history
            assert trial["outcome"] == "refused"
        last = registry.history(name)[-1]
        assert registry.champion(name) == last["to"] and registry.alias(name, "previous_champion") == last["from"]
        assert registry.alias(name, CANARY) is None and registry.pending(name) is None, name
