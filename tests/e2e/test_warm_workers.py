"""The embedded stack's warm workers, seen from outside: a task starts with the heavy libraries already
loaded, and only the executor's workers (and their tasks) hold them, not the scheduler's own process,
the dag-processor, the triggerer or the API server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import new_stack

pytestmark = pytest.mark.e2e

HEAVY = ("pandas", "sklearn", "mlflow", "great_expectations")

PROBE_DAG = f"""
import sys

from airflow.sdk import dag, task


@dag(dag_id="warm_probe", schedule=None)
def warm_probe():
    @task
    def loaded_before_the_task_imports_anything():
        return [m for m in {HEAVY!r} if m in sys.modules]

    loaded_before_the_task_imports_anything()


warm_probe()
"""


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                out.append(int(entry))
    return out


def _tree(pid: int) -> list[int]:
    return [pid, *(p for child in _children(pid) for p in _tree(child))]


def _maps_pandas(pid: int) -> bool:
    try:
        return "pandas/_libs" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:  # exited meanwhile
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_tasks_start_warm_and_only_the_workers_hold_the_libraries(tmp_path: Path) -> None:
    stack = new_stack(tmp_path, shipped_configs=False)
    (stack.dags_folder / "warm_probe.py").write_text(PROBE_DAG)
    stack.init()
    stack.start()
    try:
        stack.wait_ready()
        stack.wait_for_dag("warm_probe")
        run_id = stack.trigger("warm_probe")
        run = stack.wait_for_run("warm_probe", run_id, timeout=600)
        assert run["state"] == "success"
        assert stack.xcom("warm_probe", run_id, "loaded_before_the_task_imports_anything") == list(HEAVY)

        pids = stack.running()
        workers = [p for p in _children(pids["scheduler"]) if "LocalExecutor" in _cmdline(p)]
        assert workers, [_cmdline(p) for p in _children(pids["scheduler"])]
        assert all(_maps_pandas(p) for p in workers)
        assert not _maps_pandas(pids["scheduler"])
        for name in ("dag-processor", "triggerer", "api-server"):
            holding = [_cmdline(p) for p in _tree(pids[name]) if _maps_pandas(p)]
            assert holding == [], f"{name}: {holding}"
    finally:
        stack.stop()
