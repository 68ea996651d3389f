"""docker-compose.yaml, .env.example, the Dockerfile and docs/deploy-compose.md agree with each other.

No Docker engine runs here: the file is validated by ``docker-compose config`` (it only parses and interpolates)
when that command exists, and its content is checked below.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
DOC = REPO / "docs" / "deploy-compose.md"

RUNS_ONCE = {"airflow-init"}
REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")  # ${VAR}, ${VAR:-x}, ${VAR:?x}; not $${VAR}
ONLY_A_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?][^}]*)?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|ACCESS_KEY|TOKEN|REDISCLI_AUTH")
URL_PASSWORD = re.compile(r"://[^:/@\s]*:([^@\s]+)@")
JSON_PASSWORD = re.compile(r'"(?:password|token)":\s*"([^"]*)"')


def services() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def airflow_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services().items() if name.startswith("airflow-")}


def documented_variables() -> set[str]:
    return {m.group(1) for m in re.finditer(r"^([A-Z_][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE)}


def test_docker_compose_config_accepts_the_file() -> None:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose is not installed (.ci/run installs Debian's package); the checks below still run")
    result = subprocess.run(
        [exe, "-f", str(COMPOSE), "--env-file", str(ENV_EXAMPLE), "config", "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_every_service_in_the_docs_table_exists() -> None:
    table = DOC.read_text().split("## Services", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\| `([a-z0-9-]+)` \|", table, re.MULTILINE))
    assert named == set(services()), "docs/deploy-compose.md's services table and docker-compose.yaml differ"
    for required in ("postgres", "redis", "minio", "mlflow", "airflow-apiserver", "airflow-scheduler"):
        assert required in named


def test_long_running_services_have_a_healthcheck_and_a_restart_policy() -> None:
    for name, service in services().items():
        if name in RUNS_ONCE:
            assert "restart" not in service, f"{name} runs once and must not be restarted"
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("restart") in ("always", "unless-stopped"), f"{name} has no restart policy"


def test_dependencies_wait_for_health_or_completion() -> None:
    conditions = {"service_healthy", "service_completed_successfully"}
    for name, service in services().items():
        for dependency, how in (service.get("depends_on") or {}).items():
            assert how.get("condition") in conditions, f"{name} -> {dependency}: {how}"
    for name in airflow_services().keys() - RUNS_ONCE:
        after = services()[name]["depends_on"]
        assert after["airflow-init"]["condition"] == "service_completed_successfully", name
        assert after["postgres"]["condition"] == "service_healthy", name


def test_airflow_services_share_the_jwt_settings_and_the_execution_api() -> None:
    shared = {
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API_AUTH__JWT_ISSUER",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW_CONN_MLFLOW_DEFAULT",
        "AIRFLOW_CONN_AWS_DEFAULT",
    }
    envs = {name: environment(s) for name, s in airflow_services().items()}
    assert len(envs) >= 7
    for key in shared:
        values = {name: env.get(key) for name, env in envs.items()}
        assert len(set(values.values())) == 1 and None not in values.values(), f"{key} differs: {values}"
    for name, env in envs.items():
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/", name
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW_JWT_SECRET"), name
        assert env["AIRFLOW__MLOPS__DATA_ROOT"].startswith("s3://"), name


def test_there_are_two_celery_workers() -> None:
    workers = [name for name, s in services().items() if s.get("command") == "celery worker"]
    assert sorted(workers) == ["airflow-worker-1", "airflow-worker-2"]


def test_only_the_celery_workers_warm_up_the_heavy_libraries() -> None:
    option = "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"
    for name, service in airflow_services().items():
        value = environment(service).get(option)
        if service.get("command") == "celery worker":
            assert value == "mlops_provider.executors.celery.CELERY_CONFIG", name
            assert importlib.util.find_spec(value.rpartition(".")[0]) is not None, value
        else:  # the scheduler publishes with Airflow's own (equal) settings and never imports the hook
            assert value is None, name


def test_mlflow_server_uses_postgres_and_s3() -> None:
    mlflow = services()["mlflow"]
    assert mlflow["command"][:2] == ["mlflow", "server"] and "--serve-artifacts" in mlflow["command"]
    env = environment(mlflow)
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://mlflow:${MLFLOW_DB_PASSWORD")
    assert env["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
    init = (REPO / "deploy" / "postgres-init.sh").read_text()
    assert "CREATE DATABASE mlflow" in init
    assert any("postgres-init.sh" in v for v in services()["postgres"]["volumes"])


def test_no_literal_secret() -> None:
    text = COMPOSE.read_text()
    for service in services().values():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key) and not key.endswith(("_FILE", "_ISSUER")):
                assert ONLY_A_REFERENCE.fullmatch(value), f"{key} holds {value!r}, not a ${{VAR}} from .env"
    for pattern in (URL_PASSWORD, JSON_PASSWORD):
        for match in pattern.finditer(text):
            assert ONLY_A_REFERENCE.fullmatch(match.group(1)), f"literal secret in {match.group(0)!r}"


def test_every_variable_is_documented_in_env_example_and_used() -> None:
    used = set(REFERENCE.findall(COMPOSE.read_text()))
    documented = documented_variables()
    assert used, "no ${VAR} found"
    assert not used - documented, f"not in .env.example: {sorted(used - documented)}"
    assert not documented - used, f"in .env.example but unused: {sorted(documented - used)}"
    lines = ENV_EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[A-Z_][A-Z0-9_]*=", line):
            above = next(prev for prev in reversed(lines[:i]) if not re.match(r"^[A-Z_][A-Z0-9_]*=", prev))
            assert above.startswith("#"), f"{line.split('=')[0]} has no comment"
        if SECRET_NAME.search(line.split("=")[0]) and "=" in line and not line.startswith("#"):
            assert line.endswith("=CHANGE_ME"), f"a secret in .env.example: {line}"
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()


def test_dockerfile_uses_the_locked_airflow_and_uv() -> None:
    lock = (REPO / "uv.lock").read_text()
    airflow = re.search(r'^name = "apache-airflow"\nversion = "([^"]+)"', lock, re.MULTILINE)
    assert airflow is not None
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f"FROM apache/airflow:{airflow.group(1)}-python3.11" in dockerfile
    uv = re.search(r"^UV_VERSION := (\S+)", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert uv is not None and f"ghcr.io/astral-sh/uv:{uv.group(1)} " in dockerfile
    assert "--frozen" in dockerfile and "--extra celery" in dockerfile
    assert re.search(r'^name = "apache-airflow-providers-celery"$', lock, re.MULTILINE)


def test_the_distributed_mode_tested_here_has_the_compose_files_settings(tmp_path: Path) -> None:
    """tests/distributed runs :class:`Cluster` on this machine's PostgreSQL, Redis and a loopback S3: it must set
    every Airflow, connection and [mlops] variable the compose file gives the Airflow services, with the same
    meaning (executor, drivers, broker, the shared JWT secret and issuer, the connections' shape)."""
    import json

    from mlops_provider.demo.cluster import Cluster

    (tmp_path / "state" / "secrets").mkdir(parents=True)
    (tmp_path / "state" / "secrets" / "redis_db").write_text("3")  # as init() would pick it: no Redis needed here
    ours = Cluster(home=tmp_path / "state", dags_folder=tmp_path / "dags").settings()
    compose = environment(yaml.safe_load(COMPOSE.read_text())["x-airflow-common"])
    # the lock file is found next to the dags folder here; the image has no checkout, so compose names it
    wanted = {k for k in compose if k.startswith(("AIRFLOW", "MLOPS_", "GX_", "MLFLOW_"))} - {
        "AIRFLOW__MLOPS__LOCK_FILE"
    }
    assert sorted(wanted - set(ours)) == []
    assert ours["AIRFLOW__CORE__EXECUTOR"] == compose["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for key in (
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CELERY__BROKER_URL",
    ):
        assert ours[key].split("://")[0] == compose[key].split("://")[0], key
    for key in ("AIRFLOW_CONN_MLFLOW_DEFAULT", "AIRFLOW_CONN_AWS_DEFAULT"):
        assert set(json.loads(ours[key])["extra"]) == set(json.loads(compose[key])["extra"]), key
    assert ours["AIRFLOW__MLOPS__DATA_ROOT"].startswith("s3://") and compose["AIRFLOW__MLOPS__DATA_ROOT"].startswith(
        "s3://"
    )
