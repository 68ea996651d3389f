"""Integration fixtures: a migrated Airflow DB, example data, and a helper that runs a model's DAG."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, STATE
from tests.fixtures.browser import api_server, browser  # noqa: F401  (fixtures of the browser tests)

BASE_CONFIG = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run([str(bin_dir / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    return STATE


@pytest.fixture(scope="session")
def example_data(airflow_db: Path) -> Path:
    """Labeled churn partitions (10k rows over 60 days) under the data root, shared by all tests."""
    from mlops_provider.demo.data import write_labeled

    write_labeled(STATE / "data", rows=10_000, start="2026-06-01", days=60, seed=11)
    return STATE / "data" / "churn" / "labeled"


def model_config(model: str, **overrides: Any) -> dict[str, Any]:
    """The shipped churn config under another model name, with dotted-key overrides."""
    cfg = copy.deepcopy(BASE_CONFIG)
    cfg["model"] = model
    cfg["airflow"] = {"retries": 0}
    cfg["gates"]["latency"]["repeats"] = 10
    for dotted, value in overrides.items():
        node = cfg
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return cfg


@pytest.fixture()
def outbox() -> Callable[[], list[dict[str, Any]]]:
    path = STATE / "outbox.jsonl"
    start = path.stat().st_size if path.exists() else 0

    def read() -> list[dict[str, Any]]:
        if not path.exists():
            return []
        with path.open() as fh:
            fh.seek(start)
            return [json.loads(line) for line in fh if line.strip()]

    return read


@pytest.fixture()
def run_training(example_data: Path) -> Callable[[dict[str, Any]], Any]:
    """Write the config into the dags folder's configs/ and run its training DAG with ``dag.test()``."""

    def run(config: dict[str, Any]) -> Any:
        from airflow.dag_processing.dagbag import DagBag

        (STATE / "dags" / "configs" / f"{config['model']}.yaml").write_text(yaml.safe_dump(config))
        bag = DagBag(dag_folder=str(STATE / "dags"))
        dag_id = f"{config['model']}_training"
        assert dag_id in bag.dags, bag.import_errors
        return bag.dags[dag_id].test()

    return run


def run_config_dag(config: dict[str, Any], kind: str, **test_kwargs: Any) -> Any:
    """Write the config and run one of its DAGs (``kind``: training, scoring, ...) with ``dag.test()``."""
    from airflow.dag_processing.dagbag import DagBag

    (STATE / "dags" / "configs" / f"{config['model']}.yaml").write_text(yaml.safe_dump(config))
    bag = DagBag(dag_folder=str(STATE / "dags"))
    dag_id = f"{config['model']}_{kind}"
    assert dag_id in bag.dags, bag.import_errors
    return bag.dags[dag_id].test(**test_kwargs)


@pytest.fixture()
def run_dag(airflow_db: Path) -> Callable[..., Any]:
    """:func:`run_config_dag` once the Airflow database is migrated."""
    return run_config_dag


def task_states(dag_run: Any) -> dict[str, str]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances(session=session)}


def xcom(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    """The value a task of ``dag_run`` pushed under ``key`` (its return value by default)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key=key)
            .one()
        )
        return json.loads(row.value) if isinstance(row.value, str) else row.value


@pytest.fixture(scope="session")
def mlflow_client(airflow_db: Path) -> Any:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{STATE / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)
