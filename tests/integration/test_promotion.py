"""Promotion keeps its promise under stale re-runs, crashes, races and a vanished store.

The registry is a real MLflow SQLite store; crashes and races are real processes (spawned, killed with
``os._exit`` in the middle of a move, or released together from a barrier).
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from mlops_provider.naming import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, PROMOTION_INTENT_TAG, PROMOTION_TAG
from tests.integration import promotion_workers
from tests.integration.conftest import model_config, task_states

pytestmark = pytest.mark.integration

SPAWN = multiprocessing.get_context("spawn")  # children start clean: no SQLite handle crosses a fork


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments(max_results=1)  # creates the store
    return uri


def new_model(uri: str, name: str, versions: int = 3, champion: str | None = "1") -> Any:
    """A registered model with ``versions`` versions (no artifacts needed to move aliases)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(name)
    for _ in range(versions):
        client.create_model_version(name, source=f"/nowhere/{name}", run_id=None)
    if champion:
        client.set_registered_model_alias(name, CHAMPION, champion)
    return client


def state(client: Any, name: str) -> dict[str, Any]:
    from mlops_provider.hooks.registry import ModelRegistry

    registry = ModelRegistry(client)
    return {
        "champion": registry.alias(name, CHAMPION),
        "previous": registry.alias(name, PREVIOUS_CHAMPION),
        "challenger": registry.alias(name, CHALLENGER),
        "pending": registry.pending(name),
        "history": [(h["from"], h["to"]) for h in registry.history(name)],
    }


def test_a_killed_promotion_is_completed_by_its_retry_whatever_step_it_died_at(store: str) -> None:
    steps = range(1, 7)  # intent, champion, previous_champion, history, challenger, intent cleared
    children = []
    for step in steps:
        client = new_model(store, f"crash_{step}")
        client.set_registered_model_alias(f"crash_{step}", CHALLENGER, "2")
        child = SPAWN.Process(
            target=promotion_workers.promote_and_die_after_write, args=(store, f"crash_{step}", "2", step)
        )
        child.start()
        children.append(child)
    for child in children:
        child.join(timeout=300)
    assert [c.exitcode for c in children] == [137] * 6  # each died right after its write

    for step in steps:
        name = f"crash_{step}"
        registry = promotion_workers.open_registry(store)
        retry = registry.promote(name, "2", reason="crash test", run_id=f"crash-{step}", check=lambda c: "evidence")
        assert retry.previous_champion == "1", (step, retry)
        if step < 6:  # the interrupted move was rolled forward, not decided again
            assert retry.promoted and [c["to"] for c in retry.completed] == ["2"], (step, retry)
        else:  # it had finished: the retry has nothing to do
            assert not retry.promoted and not retry.completed, retry
        after = state(registry.client, name)
        assert after == {
            "champion": "2",
            "previous": "1",
            "challenger": None,
            "pending": None,
            "history": [("1", "2")],  # one record, whatever step the first try died at
        }, (step, after)


def test_an_interrupted_move_is_completed_before_another_model_version_moves(store: str) -> None:
    """The next promotion (another run, another version) finishes the interrupted one first."""
    name = "crash_then_other"
    new_model(store, name)
    child = SPAWN.Process(target=promotion_workers.promote_and_die_after_write, args=(store, name, "2", 2))
    child.start()
    child.join(timeout=300)
    assert child.exitcode == 137
    registry = promotion_workers.open_registry(store)
    assert registry.pending(name)["to"] == "2"

    result = registry.promote(name, "3", reason="later run", run_id="later", check=lambda current: f"vs v{current}")
    assert [c["to"] for c in result.completed] == ["2"]
    assert (result.previous_champion, result.evidence) == ("2", "vs v2")  # checked against the completed champion
    assert state(registry.client, name)["history"] == [("1", "2"), ("2", "3")]


def test_racing_promotions_are_serialized_in_every_round(store: str) -> None:
    rounds = [f"race_{i}" for i in range(20)]
    for name in rounds:
        new_model(store, name)  # v1 champion, no previous_champion yet: the racers both create that alias
    barrier = SPAWN.Barrier(2)
    results = SPAWN.Queue()
    racers = [
        SPAWN.Process(target=promotion_workers.race, args=(store, rounds, version, barrier, results))
        for version in ("2", "3")
    ]
    for racer in racers:
        racer.start()
    outcomes = [results.get(timeout=300) for _ in range(2 * len(rounds))]
    for racer in racers:
        racer.join(timeout=60)

    errors = [o for o in outcomes if o[3]]
    assert errors == []
    registry = promotion_workers.open_registry(store)
    for name in rounds:
        first, second = sorted((o[2] for o in outcomes if o[0] == name), key=lambda p: p["previous_champion"] != "1")
        # one replaced v1, the other replaced the one in between: no update is lost
        assert first["previous_champion"] == "1" and first["promoted"], name
        assert second["previous_champion"] == first["champion"] and second["promoted"], name
        assert second["evidence"] == f"vs {first['champion']}", name  # checked against the champion of its moment
        final = state(registry.client, name)
        assert final["champion"] == second["champion"] and final["previous"] == first["champion"], name
        assert final["history"] == [("1", first["champion"]), (first["champion"], second["champion"])], name
        assert final["pending"] is None


def test_a_vanished_sqlite_store_is_refused_not_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_provider.hooks.mlflow import MlflowHook
    from mlops_provider.hooks.registry import RegistryStoreMissing

    db = tmp_path / "moved" / "mlflow.db"
    extra = {"tracking_uri": f"sqlite:///{db}", "artifact_root": str(tmp_path / "artifacts")}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_GONE", json.dumps({"conn_type": "mlflow", "extra": extra}))
    with pytest.raises(RegistryStoreMissing) as info:
        MlflowHook("mlflow_gone").get_conn()
    assert f"MLflow tracking store {db} of connection 'mlflow_gone' does not exist" in str(info.value)
    assert '"create_if_missing": true' in str(info.value)
    assert not db.exists() and not db.parent.exists()  # nothing was created in its place

    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_FIRST",
        json.dumps({"conn_type": "mlflow", "extra": {**extra, "create_if_missing": True}}),
    )
    db.parent.mkdir()
    MlflowHook("mlflow_first").get_conn().search_experiments(max_results=1)
    assert db.is_file()
    MlflowHook("mlflow_gone").get_conn()  # the store exists now: the strict connection accepts it


def test_a_stale_promote_cannot_replace_a_better_champion(run_dag, example_data, mlflow_client, mlflow_state) -> None:
    """Run A makes v1 champion; run B registers v2 but does not promote; run C makes v3 champion; then B's
    promote is run again (cleared, retried or `airflow tasks test`): v2 must not replace v3."""
    from mlops_provider.config import PipelineConfig
    from mlops_provider.hooks.registry import PromotionRefused
    from mlops_provider.operators.registry import PromoteModelOperator

    weak = {"class": "sklearn.dummy.DummyClassifier", "params": {"strategy": "prior"}}
    lenient = {"gates.metrics": [], "gates.fairness": [], "gates.latency": None}
    a = model_config("churn_stale", **{"training.estimator": weak, **lenient})
    assert run_dag(a, "training").state == "success"
    dr_b = run_dag(a, "training", mark_success_pattern="^promote$")  # B: registered, never promoted
    assert task_states(dr_b)["register"] == "success"
    c = model_config("churn_stale", **lenient)  # C: the real model, clearly better
    assert run_dag(c, "training").state == "success"
    registry = promotion_workers.open_registry(mlflow_client.tracking_uri)
    assert registry.champion("churn_stale") == "3"

    stale = PromoteModelOperator(
        task_id="promote", config=PipelineConfig.model_validate(c), registration={"version": "2"}
    )
    with pytest.raises(PromotionRefused) as info:
        stale.execute({"run_id": dr_b.run_id})
    text = str(info.value)
    assert "churn_stale v2 was gated against v1, but champion is v3 now" in text
    assert "champion.roc_auc FAILED: challenger 0.5000 vs champion v3" in text
    assert "Not promoted; champion stays v3" in text
    assert registry.champion("churn_stale") == "3" and registry.alias("churn_stale", PREVIOUS_CHAMPION) == "1"
    history = json.loads(mlflow_client.get_model_version("churn_stale", "3").tags[PROMOTION_TAG])
    assert [(h["from"], h["to"]) for h in registry.history("churn_stale")] == [(None, "1"), ("1", "3")]
    assert history[-1]["evidence"] == "gates passed against v1, still champion"
    assert registry.pending("churn_stale") is None and PROMOTION_INTENT_TAG not in (
        mlflow_client.get_registered_model("churn_stale").tags or {}
    )


POSTGRES = "postgresql://root@127.0.0.1:5432/test"  # the machines' PostgreSQL (trust auth), as in the scale-out mode


def test_postgres_advisory_lock_serializes_alias_moves_across_connections() -> None:
    """A PostgreSQL registry (or ``lock_uri``) locks with an advisory lock: one holder per model at a time."""
    import threading

    from mlops_provider.hooks.locks import RegistryLockTimeout, SqlAdvisoryLock, alias_lock

    lock = alias_lock("postgresql://mlflow@db.internal/mlflow", lock_uri=POSTGRES)
    assert isinstance(lock, SqlAdvisoryLock)
    held, release, outcome = threading.Event(), threading.Event(), {}

    def holder() -> None:
        with lock.hold("pg_model", timeout=10):
            held.set()
            release.wait(timeout=30)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(timeout=30)
    with pytest.raises(RegistryLockTimeout) as info:  # same model, another connection: must wait
        with lock.hold("pg_model", timeout=0.5):
            outcome["entered"] = True
    assert "another alias move of model 'pg_model' held its lock" in str(info.value)
    with lock.hold("other_model", timeout=5):  # other models are not blocked
        outcome["other"] = True
    release.set()
    thread.join(timeout=30)
    with lock.hold("pg_model", timeout=5):  # released with the holder's block
        outcome["after"] = True
    assert outcome == {"other": True, "after": True}


def test_a_tracking_server_without_lock_uri_never_moves_champion() -> None:
    from mlops_provider.hooks.locks import alias_lock
    from mlops_provider.hooks.registry import ModelRegistry, RegistryError

    registry = ModelRegistry(client=None, lock=alias_lock("https://mlflow.internal"))
    with pytest.raises(RegistryError) as info:
        registry.promote("m", "2", reason="x", run_id=None, check=lambda current: "ok")
    assert "set extra.lock_uri of the MLflow connection" in str(info.value)


def test_an_applied_intent_is_not_replayed_over_a_manual_rollback(store: str) -> None:
    """A move that had written its history record but died before clearing its intent, then a person rolled
    champion back by hand: the next move must not redo the old promotion."""
    name = "rolled_back"
    client = new_model(store, name)
    registry = promotion_workers.open_registry(store)
    registry.promote(name, "2", reason="first", run_id="r1", check=lambda current: "ok")
    (record,) = registry.history(name)
    intent = {k: record[k] for k in ("id", "seq", "from", "to", "at", "reason", "evidence", "run_id")}
    client.set_registered_model_tag(name, PROMOTION_INTENT_TAG, json.dumps(intent))  # the clear never happened
    client.set_registered_model_alias(name, CHAMPION, "1")  # a person rolled back in the MLflow UI

    result = registry.promote(name, "3", reason="next", run_id="r2", check=lambda current: f"vs v{current}")
    assert result.completed == [] and result.previous_champion == "1" and result.evidence == "vs v1"
    assert state(client, name)["history"] == [("1", "2"), ("1", "3")] and registry.pending(name) is None


def test_without_a_champion_gate_a_stale_run_still_cannot_replace_a_newer_champion(mlflow_client, mlflow_state):
    from mlops_provider.config import PipelineConfig
    from mlops_provider.hooks.registry import PromotionRefused
    from mlops_provider.naming import GATES_CHAMPION_TAG, GATES_TAG
    from mlops_provider.operators.registry import PromoteModelOperator

    name = "stale_no_gate"
    mlflow_client.create_registered_model(name)
    for gated_against in ("none", "1", "1"):
        mv = mlflow_client.create_model_version(name, source=f"/nowhere/{name}", run_id=None)
        mlflow_client.set_model_version_tag(name, mv.version, GATES_TAG, "[]")
        mlflow_client.set_model_version_tag(name, mv.version, GATES_CHAMPION_TAG, gated_against)
    mlflow_client.set_registered_model_alias(name, CHAMPION, "3")  # v3 was promoted after v2's gates ran
    op = PromoteModelOperator(
        task_id="promote",
        config=PipelineConfig.model_validate(model_config(name, **{"gates.champion": None})),
        registration={"version": "2"},
    )
    with pytest.raises(PromotionRefused) as info:
        op.evidence_holds("2", "3")
    assert "A stale run never replaces a newer champion" in str(info.value)
    assert op.evidence_holds("3", "2") == "gates passed; no champion gate configured"  # newer over older: fine
