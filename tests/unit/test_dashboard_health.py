"""Health states and the dashboard's figures, judged from facts as the sources give them (no I/O here)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_provider.config import PipelineConfig
from mlops_provider.dashboard import health
from mlops_provider.dashboard.facts import Facts, ModelFacts
from mlops_provider.dashboard.service import Cache

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _config(**overrides: Any) -> PipelineConfig:
    data = copy.deepcopy(yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text()))
    data.update(overrides)
    return PipelineConfig.model_validate(data)


def _version(n: int, aliases: list[str], auc: float, promoted: str | None = None) -> dict[str, Any]:
    return {
        "version": str(n),
        "aliases": aliases,
        "created_at": "2026-11-01T00:00:00+00:00",
        "run_id": f"r{n}",
        "airflow_run_id": f"manual__{n}",
        "metrics": {"roc_auc": auc},
        "gates": [{"gate": "metric.roc_auc", "value": auc, "threshold": 0.75, "op": ">=", "passed": True}],
        "trial": None,
        "promotions": [{"kind": "promotion", "to": str(n), "at": promoted, "seq": n}] if promoted else [],
    }


def _run(kind: str, state: str, run_type: str = "scheduled", start: str = "2026-11-20T06:00:00Z") -> dict[str, Any]:
    return {
        "dag_id": f"churn_{kind}",
        "dag_run_id": f"{run_type}__{start}",
        "run_type": run_type,
        "state": state,
        "start_date": start,
        "end_date": None if state in ("queued", "running") else "2026-11-20T06:04:30Z",
    }


def _healthy(**changes: Any) -> ModelFacts:
    f = ModelFacts("churn", _config())
    f.versions = [_version(2, ["champion"], 0.83, "2026-11-10T00:00:00+00:00"), _version(1, ["previous_champion"], 0.8)]
    f.runs = {"training": [_run("training", "success")], "scoring": [_run("scoring", "success")]}
    f.drift_checks = [
        {
            "at": "2026-11-20T07:00:00+00:00",
            "drift_share": 0.1,
            "dataset_drift": False,
            "features": {},
            "mlflow_run_id": "m1",
        }
    ]
    for key, value in changes.items():
        setattr(f, key, value)
    return f


CASES = {
    "healthy": {},
    "new": {"versions": [], "runs": {}, "drift_checks": []},
    "circuit_breaker_open": {
        "model_tags": {"drift_episode": {"breaker_open": True, "breaker_opened": "2026-11-19", "unresolved": 3}}
    },
    "degraded": {"runs": {"training": [_run("training", "success")], "scoring": [_run("scoring", "failed")]}},
    "awaiting_approval": {
        "approvals": [{"dag_id": "churn_training", "run_id": "manual__x", "task_id": "approve", "subject": "Promote?"}]
    },
    "drifting": {"drift_checks": [{"at": "2026-11-20T07:00:00+00:00", "drift_share": 0.7, "dataset_drift": True}]},
    "retraining": {
        "runs": {"training": [_run("training", "running", "asset_triggered"), _run("training", "success")]},
        "drift_checks": [{"at": "2026-11-20T07:00:00+00:00", "drift_share": 0.7, "dataset_drift": True}],
    },
    # the first training of a new model: under way, not degraded for want of a champion
    "first_training": {
        "versions": [],
        "runs": {"training": [_run("training", "running", "manual")]},
        "drift_checks": [],
    },
    "canary": {
        "versions": [
            _version(3, ["canary", "challenger"], 0.84),
            _version(2, ["champion"], 0.83, "2026-11-10T00:00:00+00:00"),
        ]
    },
}


EXPECTED = {"first_training": "retraining"}


@pytest.mark.parametrize("case", list(CASES))
def test_each_state_comes_from_its_facts_with_a_reason(case: str) -> None:
    got, reasons = health.assess(_healthy(**CASES[case]), NOW)
    state = EXPECTED.get(case, case)
    assert got == state, reasons
    assert bool(reasons) == (state != "healthy")
    row = health.overview_row(_healthy(**CASES[case]), "http://airflow", NOW)
    assert row["attention"] == health.BY_NAME[state].attention


def test_over_budget_from_the_month_s_cost_reports_and_the_most_pressing_state_wins() -> None:
    cfg = _config(cost={"monthly_budget_usd": 10.0})
    spend = [
        {
            "at": "2026-11-05T00:00:00+00:00",
            "dag_id": "churn_training",
            "run_id": "x",
            "metrics": {"cost_usd_total": 9.0},
        }
    ]
    f = _healthy(config=cfg, cost_runs=spend)
    state, reasons = health.assess(f, NOW)
    assert state == "over_budget"  # $9 in 19.5 days projects to ~$13.8 for November
    assert "against a budget of $10.00" in reasons[0]
    f.runs = {"training": [_run("training", "failed")]}
    state, reasons = health.assess(f, NOW)
    assert state == "degraded" and any("budget" in r for r in reasons)  # still listed, below the failure


def test_drift_found_before_the_champion_was_promoted_is_about_the_old_champion() -> None:
    checks = [{"at": "2026-11-09T07:00:00+00:00", "drift_share": 0.7, "dataset_drift": True, "features": {}}]
    assert health.assess(_healthy(drift_checks=checks), NOW)[0] == "healthy"  # v2 promoted 11-10
    checks[0]["at"] = "2026-11-11T07:00:00+00:00"
    assert health.assess(_healthy(drift_checks=checks), NOW)[0] == "drifting"


def test_the_run_that_finished_last_counts_not_the_latest_date() -> None:
    failed_today = _run("scoring", "failed", start="2026-11-20T06:00:00Z")
    failed_today["end_date"] = "2026-11-20T06:10:00Z"
    backfill = _run("scoring", "success", "backfill", start="2026-11-20T06:20:00Z")  # an older date, run later
    backfill["end_date"] = "2026-11-20T06:25:00Z"
    assert health.assess(_healthy(runs={"scoring": [failed_today, backfill]}), NOW)[0] == "healthy"
    backfill["end_date"] = "2026-11-20T06:05:00Z"
    assert health.assess(_healthy(runs={"scoring": [failed_today, backfill]}), NOW)[0] == "degraded"


def test_a_failure_followed_by_a_success_is_not_degraded_and_a_running_run_does_not_hide_a_failure() -> None:
    ok_after = [
        _run("scoring", "success", start="2026-11-20T06:00:00Z"),
        _run("scoring", "failed", start="2026-11-19T06:00:00Z"),
    ]
    assert health.assess(_healthy(runs={"scoring": ok_after}), NOW)[0] == "healthy"
    running_after = [_run("scoring", "running"), _run("scoring", "failed", start="2026-11-19T06:00:00Z")]
    assert health.assess(_healthy(runs={"scoring": running_after}), NOW)[0] == "degraded"


def test_the_overview_row_shows_champion_metric_last_training_and_drift() -> None:
    row = health.overview_row(_healthy(), "http://airflow:8080", NOW)
    assert row["champion"] == {
        "version": "2",
        "metric": "roc_auc",
        "value": 0.83,
        "promoted_at": "2026-11-10T00:00:00+00:00",
    }
    train = row["last_training"]
    assert train["trigger"] == "schedule" and train["duration_s"] == 270 and train["state"] == "success"
    assert train["url"] == "http://airflow:8080/dags/churn_training/runs/scheduled__2026-11-20T06%3A00%3A00Z"
    assert row["drift"] == {"at": "2026-11-20T07:00:00+00:00", "share": 0.1, "detected": False}


def test_deployment_frequency_and_lead_time_from_drift_to_champion() -> None:
    history = [
        {"kind": "promotion", "to": "1", "at": "2026-10-01T00:00:00+00:00"},
        {"kind": "promotion", "to": "2", "at": "2026-11-16T10:00:00+00:00"},  # drift found 11-16 07:00 -> 3 h
        {"kind": "rollback", "to": "1", "at": "2026-11-17T00:00:00+00:00"},
        {"kind": "promotion", "to": "3", "at": "2026-11-18T00:00:00+00:00"},  # no drift found since the last one
    ]
    checks = [
        {"at": "2026-11-15T07:00:00+00:00", "dataset_drift": False},
        {"at": "2026-11-16T07:00:00+00:00", "dataset_drift": True},
        {"at": "2026-11-16T09:00:00+00:00", "dataset_drift": True},
    ]
    weeks = health.weekly_promotions(history, NOW, weeks=3)
    assert weeks == [
        {"week": "2026-11-02", "promotions": 0},
        {"week": "2026-11-09", "promotions": 0},
        {"week": "2026-11-16", "promotions": 2},  # the rollback does not count
    ]
    assert health.lead_times(history, checks) == [
        {
            "version": "2",
            "drift_at": "2026-11-16T07:00:00+00:00",
            "promoted_at": "2026-11-16T10:00:00+00:00",
            "hours": 3.0,
        }
    ]


def test_the_model_page_joins_training_runs_with_their_cost() -> None:
    f = _healthy(
        detail=True,
        cost_runs=[
            {
                "at": "x",
                "dag_id": "churn_training",
                "run_id": "scheduled__2026-11-20T06:00:00Z",
                "metrics": {"cost_usd_total": 0.012},
            }
        ],
    )
    page = health.model_page(Facts({"churn": f}, NOW, "http://airflow", None), "churn")
    assert page["training_runs"][0]["cost_usd"] == 0.012
    assert [v["alias"] for v in page["versions"]] == ["champion", "previous_champion"]
    assert page["candidate"]["version"] == "2" and page["candidate"]["gates"][0]["gate"] == "metric.roc_auc"


def test_the_cache_never_serves_an_answer_older_than_its_max_age() -> None:
    clock = [0.0]
    built: list[int] = []
    cache = Cache(max_age=30, clock=lambda: clock[0])

    def build() -> int:
        built.append(1)
        clock[0] += 2  # reading takes time: the answer's age counts from when reading began
        return len(built)

    assert cache.get("k", build) == 1
    clock[0] = 29.5
    assert cache.get("k", build) == 1  # 29.5 s after reading began
    clock[0] = 30.0
    assert cache.get("k", build) == 2
    assert cache.get("other", build) == 3  # per key


def test_the_docs_table_of_states_is_the_code_s() -> None:
    doc = (REPO / "docs" / "dashboard.md").read_text()
    rows = [f"| `{s.name}` | {'yes' if s.attention else 'no'} | {s.meaning} |" for s in health.STATES]
    table = doc[doc.index("| state | attention | means |") :].split("\n\n")[0]
    assert table.splitlines()[2:] == rows
