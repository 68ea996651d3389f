"""The distributed mode on this machine: one cluster (CeleryExecutor on PostgreSQL and Redis, two Celery workers,
an MLflow tracking server on PostgreSQL with artifacts on S3, moto's S3) for the whole test session.

It needs PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379 (`.ci/run` makes sure both run). Each test
uses a model of its own, with its data uploaded to the cluster's S3. Everything the cluster starts is stopped,
its databases dropped and its Redis database emptied at the end.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, free_port

pytestmark = pytest.mark.distributed


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import socket

    from mlops_provider.demo.cluster import Cluster

    for what, port in (("PostgreSQL", 5432), ("Redis", 6379)):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=3).close()
        except OSError:
            pytest.fail(f"{what} is not listening on 127.0.0.1:{port}: the distributed tests need it (see .ci/run)")
    root = tmp_path_factory.mktemp("cluster")
    dags = root / "dags"
    (dags / "configs").mkdir(parents=True)
    for f in (REPO / "dags").glob("*.py"):
        shutil.copy(f, dags / f.name)
    cl = Cluster(home=root / "state", dags_folder=dags, port=free_port())
    try:
        cl.init()
        cl.start()
        cl.wait_ready()
        cl.wait_workers()
        yield cl
    finally:
        cl.destroy()


def add_model(cluster: Any, tmp: Path, model: str, *, rows: int = 6_000, days: int = 60, **overrides: Any) -> Path:
    """Write ``model``'s labeled data (the example generator) to the cluster's S3 and its config to the dags
    folder; the local copy of the data (for writing more of it later) is returned."""
    from mlops_provider.demo.data import write_labeled

    local = tmp / model
    write_labeled(local, rows=rows, start="2026-06-01", days=days, seed=5)
    cluster.upload(local / "churn", f"data/{model}")
    cfg = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    cfg.update(model=model, owner="distributed")
    cfg["schedule"] = {"training": None}
    cfg["data"].update(source=f"{model}/labeled", window_days=30)
    cfg["expectations"][0] = {"expect_table_row_count_to_be_between": {"min_value": 500}}
    cfg["scoring"] = {"source": f"{model}/current/{{{{ ds }}}}.parquet", "schedule": None}
    cfg["drift"] = {"schedule": None, "cooldown_hours": 0}
    cfg["gates"]["latency"]["repeats"] = 10
    for key, value in overrides.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    (cluster.dags_folder / "configs" / f"{model}.yaml").write_text(yaml.safe_dump(cfg))
    for dag in (f"{model}_training", f"{model}_scoring", f"{model}_drift"):
        cluster.wait_for_dag(dag)
    return local


def run_dag(cluster: Any, dag_id: str, logical_date: str | None = None, timeout: float = 900) -> tuple[dict, dict]:
    run_id = cluster.trigger(dag_id, logical_date)
    run = cluster.wait_for_run(dag_id, run_id, timeout=timeout)
    return run, {ti["task_id"]: ti for ti in cluster.task_instances(dag_id, run_id)}


def wait_for_task(cluster: Any, dag_id: str, run_id: str, task_id: str, state: str, timeout: float = 600) -> dict:
    """The task instance once it is in ``state`` (and has a host, for ``running``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ti = next(t for t in cluster.task_instances(dag_id, run_id) if t["task_id"] == task_id)
        if ti["state"] == state and (state != "running" or ti.get("hostname")):
            return dict(ti)
        if ti["state"] in ("success", "failed") and ti["state"] != state:
            raise AssertionError(f"{dag_id}.{task_id} ended {ti['state']} while waiting for {state}")
        time.sleep(1)
    raise TimeoutError(f"{dag_id}.{task_id} not {state} after {timeout:.0f} s")


def alerts(cluster: Any, model: str) -> list[dict[str, Any]]:
    path = cluster.home / "outbox.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [a for a in map(json.loads, filter(None, lines)) if a.get("model") == model]
