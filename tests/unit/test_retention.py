"""The retention plan: what is kept and why, what is archived, what is deleted (no MLflow, no Airflow)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlops_provider.config.schema_retention import RetentionConfig
from mlops_provider.retention import VersionFacts, expired_partitions, expired_runs, plan_versions

NOW = datetime(2026, 11, 1, tzinfo=UTC)
CFG = RetentionConfig(keep_last=3, archive_after_days=30, delete_after_days=90)


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def registry(n: int = 10, age_of_newest: int = 1, **extra: dict) -> list[VersionFacts]:
    """``n`` versions, one registered every 10 days, v<n> ``age_of_newest`` days ago; ``extra``: per version."""
    return [
        VersionFacts(
            version=str(v),
            created=days_ago(age_of_newest + 10 * (n - v)),
            bytes=1000 * v,
            **extra.get(f"v{v}", {}),  # type: ignore[arg-type]
        )
        for v in range(1, n + 1)
    ]


def actions(decisions) -> dict[str, str]:
    return {d.version: d.action for d in decisions}


def test_old_versions_are_archived_newer_and_the_newest_n_are_kept() -> None:
    plan = plan_versions(registry(), CFG, NOW)  # ages: v10 1 day, v9 11, v8 21, v7 31, ... v1 91
    assert [d.version for d in plan] == [str(v) for v in range(10, 0, -1)]  # newest first
    by = {d.version: d for d in plan}
    assert [(by[v].action, by[v].reason) for v in ("10", "9", "8")] == [("keep", "one of the newest 3 versions")] * 3
    assert {v for v, a in actions(plan).items() if a == "archive"} == {"1", "2", "3", "4", "5", "6", "7"}
    assert (by["7"].reason, by["7"].bytes, by["7"].age_days) == ("older than 30 days", 7000, 31.0)
    fewer = {d.version: d for d in plan_versions(registry(), RetentionConfig(keep_last=2), NOW)}
    assert (fewer["8"].action, fewer["8"].reason) == ("keep", "too new: archived after 30 days")


def test_an_alias_on_an_old_version_keeps_it_whatever_its_age() -> None:
    versions = registry(
        v1={"aliases": ("previous_champion",)},
        v2={"aliases": ("shadow", "canary"), "archived_at": days_ago(60)},
    )
    by = {d.version: d for d in plan_versions(versions, CFG, NOW)}
    assert (by["1"].action, by["1"].reason) == ("keep", "alias previous_champion points at it")
    assert (by["2"].action, by["2"].reason) == ("keep", "alias canary, shadow points at it")  # archived, not deleted
    assert by["3"].action == "archive"


def test_a_version_whose_dag_run_is_still_running_or_unknown_is_kept() -> None:
    versions = registry(
        v1={"made_by": "churn_training/manual_1", "run_state": "running"},
        v2={"made_by": "churn_training/manual_2", "run_state": "queued"},
        v3={"made_by": "churn_training/gone", "run_lookup_error": "DagRunNotFound: no such run"},
        v4={"made_by": "churn_training/manual_4", "run_state": "success"},
    )
    by = {d.version: d for d in plan_versions(versions, CFG, NOW)}
    assert by["1"].reason == "its DAG run churn_training/manual_1 is still running"
    assert by["2"].reason == "its DAG run churn_training/manual_2 is still queued"
    assert by["3"].action == "keep"
    assert by["3"].reason == (
        "the state of its DAG run churn_training/gone could not be looked up: DagRunNotFound: no such run"
    )
    assert by["4"].action == "archive"


def test_an_archived_version_is_deleted_only_once_older_than_delete_after_days() -> None:
    versions = registry(
        v1={"archived_at": days_ago(40)},  # 91 days old
        v2={"archived_at": days_ago(40)},  # 81 days old
    )
    by = {d.version: d for d in plan_versions(versions, CFG, NOW)}
    assert (by["1"].action, by["1"].reason) == ("delete", "archived 2026-09-22; older than 90 days")
    assert (by["2"].action, by["2"].reason) == ("keep", "archived 2026-09-22; deleted from 2026-11-10")
    # an old version not archived yet is archived first, never deleted in the same run
    assert plan_versions(registry(v1={}), CFG, NOW)[-1].action == "archive"


def test_archive_then_delete_as_time_passes() -> None:
    (v1, *_) = registry(n=4)  # v1: 31 days old
    assert plan_versions([v1], RetentionConfig(keep_last=1), NOW)[0].action == "keep"  # the newest one
    versions = registry(n=4)
    first = actions(plan_versions(versions, CFG, NOW))
    assert first["1"] == "archive"
    archived = [v if v.version != "1" else VersionFacts("1", v.created, archived_at=NOW) for v in versions]
    later = NOW + timedelta(days=60)
    assert actions(plan_versions(archived, CFG, later))["1"] == "delete"
    assert actions(plan_versions(archived, CFG, NOW + timedelta(days=30)))["1"] == "keep"


def test_planning_changes_nothing_it_is_given() -> None:
    versions = registry(v1={"aliases": ("champion",)})
    before = list(versions)
    plan_versions(versions, CFG, NOW)
    plan_versions(versions, CFG, NOW)
    assert versions == before


def test_prediction_log_days_and_drift_runs_past_their_retention() -> None:
    names = ["scoring_date=2026-04-30", "date=2026-05-02", "scoring_date=2026-05-05", "_tmp", "scoring_date=x"]
    assert expired_partitions(names, 180, NOW) == ["scoring_date=2026-04-30", "date=2026-05-02"]
    runs = [("b", days_ago(91)), ("a", days_ago(120)), ("c", days_ago(89))]
    assert expired_runs(runs, 90, NOW) == ["a", "b"]


def test_a_run_airflow_does_not_know_is_not_running_but_a_failed_lookup_keeps_the_version(monkeypatch) -> None:
    from types import SimpleNamespace

    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    from mlops_provider.operators.retention import RetentionOperator

    class Relayed(Exception):  # what the task sees when its supervisor relays the API server's answer
        def __init__(self, status: int | None) -> None:
            super().__init__("API_SERVER_ERROR")
            self.error = SimpleNamespace(detail={"status_code": status})

    def answer(outcome):
        def get_dagrun_state(dag_id: str, run_id: str):
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        monkeypatch.setattr(RuntimeTaskInstance, "get_dagrun_state", staticmethod(get_dagrun_state))
        return RetentionOperator.run_state("churn_training", "manual__1")

    assert answer("running") == ("running", None)
    assert answer(Relayed(404)) == ("not found", None)
    assert answer(Relayed(503)) == (None, "Relayed: API_SERVER_ERROR")
    assert answer(ConnectionError("refused")) == (None, "ConnectionError: refused")


def test_a_retry_after_a_crash_reuses_the_complete_copy_and_finishes_the_archive(tmp_path, monkeypatch) -> None:
    import json

    import yaml

    from mlops_provider.config import PipelineConfig
    from mlops_provider.naming import ARCHIVE_MANIFEST
    from mlops_provider.operators.retention import RetentionOperator
    from tests.conftest import REPO

    raw = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    raw["retention"] = {"archive_root": str(tmp_path / "archive")}
    op = RetentionOperator(task_id="apply_retention", config=PipelineConfig.model_validate(raw))
    originals = tmp_path / "models" / "v3"
    originals.mkdir(parents=True)
    (originals / "MLmodel").write_text("flavors: {}")
    copy = tmp_path / "archive" / "v3"  # the earlier try copied the files and wrote the manifest, then died
    copy.mkdir(parents=True)
    (copy / "MLmodel").write_text("flavors: {}")
    (copy / ARCHIVE_MANIFEST).write_text(json.dumps({"source": str(originals), "files": ["MLmodel"], "bytes": 11}))

    marked = []

    class Registry:
        def archive_version(self, name: str, version: str, record: dict) -> None:
            marked.append((name, version, record))

    def no_download(*args, **kwargs):
        raise AssertionError("a complete copy must not be downloaded again")

    monkeypatch.setattr("mlflow.artifacts.download_artifacts", no_download)
    note = op.archive(Registry(), "3", str(originals), [], NOW)
    assert note == f"copied to {copy}; originals removed"
    assert not originals.exists() and (copy / "MLmodel").is_file()
    ((name, version, record),) = marked
    assert (name, version) == ("churn", "3")
    assert record == {
        "at": "2026-11-01T00:00:00+00:00",
        "uri": str(copy),
        "bytes": 11,
        "source": str(originals),
        "originals_removed": True,
    }
    # files another version also uses are left where they are
    shared = tmp_path / "models" / "shared"
    shared.mkdir()
    (tmp_path / "archive" / "v4").mkdir()
    (tmp_path / "archive" / "v4" / ARCHIVE_MANIFEST).write_text(json.dumps({"bytes": 5}))
    assert op.archive(Registry(), "4", str(shared), ["9"], NOW).endswith(
        "originals left in place: v9 use the same files"
    )
    assert shared.exists() and marked[-1][2]["originals_removed"] is False
