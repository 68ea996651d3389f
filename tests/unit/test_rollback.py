"""The rollback task reads what the person asked for from the DAG run, and who asked, without a registry."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from tests.conftest import REPO


class FakeRegistry:
    def __init__(self, outcome: Any = None, refuse: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.outcome, self.refuse = outcome, refuse

    def rollback(self, name: str, **kwargs: Any) -> Any:
        self.calls.append({"name": name, **kwargs})
        if self.refuse is not None:
            raise self.refuse
        return self.outcome


def operator(registry: FakeRegistry | None = None, **kwargs: Any) -> Any:
    from mlops_provider.config import PipelineConfig
    from mlops_provider.operators.registry import RollbackOperator

    cfg = PipelineConfig.model_validate(yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text()))
    op = RollbackOperator(task_id="rollback", config=cfg, **kwargs)
    op.mlflow_hook = SimpleNamespace(registry=registry or FakeRegistry())
    return op


def context(conf: dict[str, Any] | None = None, params: dict[str, Any] | None = None, user: str | None = "admin"):
    dag_run = SimpleNamespace(conf=conf or {}, triggering_user_name=user)
    return {
        "dag_run": dag_run,
        "params": {"version": None, "reason": "manual rollback", **(params or {})},
        "run_id": "r1",
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, (None, "manual rollback")),
        ({"version": "3", "reason": "v4 scores everyone 0.9"}, ("3", "v4 scores everyone 0.9")),
        ({"version": 3}, ("3", "manual rollback")),  # -c '{"version": 3}'
        ({"version": "v3"}, ("3", "manual rollback")),  # as the logs spell versions
        ({"version": " ", "reason": ""}, (None, "manual rollback")),
    ],
)
def test_version_and_reason_come_from_the_run_conf(params: dict[str, Any], expected: tuple[Any, str]) -> None:
    assert operator().requested(context(params=params)) == expected


def test_explicit_arguments_win_over_the_run_conf() -> None:
    op = operator(version="2", reason="pinned in the DAG")
    assert op.requested(context(params={"version": "3", "reason": "conf"})) == ("2", "pinned in the DAG")


def test_a_version_that_is_not_a_number_is_refused_before_anything_moves() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    registry = FakeRegistry()
    with pytest.raises(AirflowFailException, match=r"version 'latest' is not a version number.*Nothing moved"):
        operator(registry).execute(context(params={"version": "latest"}))
    assert registry.calls == []


def test_execute_records_who_triggered_the_run_and_logs_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_provider.hooks.registry import Promotion

    outcome = Promotion("churn", "2", "3", True, "v2 passed its gates when registered; replaces v3", kind="rollback")
    registry = FakeRegistry(outcome)
    out = operator(registry).execute(context(params={"reason": "v3 flags everyone"}, user="alice"))
    logged = "".join(capsys.readouterr())
    assert registry.calls == [
        {"name": "churn", "to": None, "reason": "v3 flags everyone", "by": "alice", "run_id": "r1"}
    ]
    assert "churn: champion v3 → v2 (rollback by alice: v3 flags everyone)" in logged
    assert out["champion"] == "2" and out["previous_champion"] == "3" and out["kind"] == "rollback"
    assert "completed" not in out


def test_a_run_that_does_not_say_who_triggered_it_is_recorded_as_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_provider.hooks.registry import Promotion

    registry = FakeRegistry(Promotion("churn", "2", "2", False, kind="rollback"))
    operator(registry).execute(context(user=None))
    logged = "".join(capsys.readouterr())
    assert registry.calls[0]["by"] == "unknown"
    assert "does not say who triggered it" in logged
    assert "churn: champion stays v2 (nothing to roll back" in logged


def test_no_previous_champion_says_how_to_name_a_version() -> None:
    from mlops_provider.hooks.registry import RollbackRefused

    registry = FakeRegistry(
        refuse=RollbackRefused("churn has no previous_champion ... Nothing moved; give the version to restore")
    )
    with pytest.raises(RollbackRefused) as info:
        operator(registry).execute(context())
    assert str(info.value).endswith(
        'give the version to restore: airflow dags trigger churn_rollback -c \'{"version": "N"}\''
    )
