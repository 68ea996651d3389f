"""Registry plumbing that needs no store: which lock serializes alias moves, and secrets in store URIs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_provider.hooks.locks import FileAliasLock, NoAliasLock, SqlAdvisoryLock, alias_lock, sqlite_path


def test_sqlite_store_locks_in_a_folder_next_to_the_database(tmp_path: Path) -> None:
    lock = alias_lock(f"sqlite:///{tmp_path}/mlflow.db")
    assert isinstance(lock, FileAliasLock) and lock.folder == tmp_path / "mlflow.db.locks"
    assert sqlite_path("sqlite:///relative.db") == Path("relative.db")
    assert sqlite_path("sqlite:///:memory:") is None and sqlite_path("postgresql://db/x") is None


def test_database_stores_lock_in_the_database_and_lock_uri_wins(tmp_path: Path) -> None:
    assert isinstance(alias_lock("postgresql://mlflow@db/mlflow"), SqlAdvisoryLock)
    assert isinstance(alias_lock("mysql+pymysql://mlflow@db/mlflow"), SqlAdvisoryLock)
    shared = alias_lock("https://mlflow.internal", lock_uri=f"file://{tmp_path}/locks")
    assert isinstance(shared, FileAliasLock) and shared.folder == tmp_path / "locks"
    assert isinstance(alias_lock("https://mlflow.internal", lock_uri=str(tmp_path)), FileAliasLock)


def test_tracking_server_without_lock_uri_refuses_alias_moves() -> None:
    lock = alias_lock("https://mlflow.internal")
    assert isinstance(lock, NoAliasLock)
    assert "set extra.lock_uri of the MLflow connection" in lock.reason


def test_file_lock_excludes_a_second_holder_until_released(tmp_path: Path) -> None:
    from mlops_provider.hooks.locks import RegistryLockTimeout

    lock = FileAliasLock(tmp_path)
    with lock.hold("m", timeout=1):
        with pytest.raises(RegistryLockTimeout):  # flock is per open file: a second open waits
            with lock.hold("m", timeout=0.2):
                pass
        with lock.hold("other", timeout=0.2):
            pass
    with lock.hold("m", timeout=0.2):
        pass


def test_passwords_inside_store_uris_are_masked_in_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    from mlops_provider.hooks.mlflow import MlflowHook

    extra = {"tracking_uri": "http://alice:tr4ck-pw@mlflow.internal:5000", "lock_uri": "postgresql://u:l0ck-pw@db/x"}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_URIPW", json.dumps({"conn_type": "mlflow", "extra": extra}))
    hook = MlflowHook("mlflow_uripw")
    assert hook.tracking_uri.endswith("mlflow.internal:5000")
    text = str(redact(f"request to {hook.tracking_uri} failed; lock {extra['lock_uri']}"))
    assert "tr4ck-pw" not in text and "l0ck-pw" not in text and "***" in text


@pytest.mark.parametrize(
    ("code", "missing"),
    [("RESOURCE_DOES_NOT_EXIST", True), ("INVALID_PARAMETER_VALUE", True), ("TEMPORARILY_UNAVAILABLE", False)],
)
def test_only_not_found_reads_as_no_champion(code: str, missing: bool) -> None:
    """A store that cannot answer (SQLite locked, a server down) must never look like "no champion yet"."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos import databricks_pb2

    from mlops_provider.hooks.registry import ModelRegistry

    class Client:
        def get_model_version_by_alias(self, name: str, alias: str) -> None:
            raise MlflowException("store says no", error_code=getattr(databricks_pb2, code))

    registry = ModelRegistry(Client())
    if missing:
        assert registry.champion("m") is None
    else:
        with pytest.raises(MlflowException):
            registry.champion("m")


def test_prediction_metric_names_are_made_valid_for_mlflow() -> None:
    from mlops_provider.operators.drift import _metric_name

    assert _metric_name("prediction_drift_score.proba.late (30d)+") == "prediction_drift_score.proba.late _30d__"


@pytest.mark.parametrize("missing", ["training", "gates"])
def test_register_run_on_its_own_says_which_result_is_missing_and_is_not_retried(missing: str) -> None:
    import yaml
    from airflow.sdk.exceptions import AirflowFailException

    from mlops_provider.config import PipelineConfig
    from mlops_provider.operators.registry import RegisterModelOperator
    from tests.conftest import REPO

    cfg = PipelineConfig.model_validate(yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text()))
    results = {"training": {"mlflow_run_id": "r1"}, "gates": {"passed": True, "results": []}}
    results[missing] = None  # what the task sees when it runs without its upstream's XCom (tasks test, cleared alone)
    op = RegisterModelOperator(task_id="register", config=cfg, **results)
    upstream = "train" if missing == "training" else "evaluate_gates"
    with pytest.raises(AirflowFailException, match=f"no result from {upstream}.*Clear the DAG run"):
        op.execute({})
