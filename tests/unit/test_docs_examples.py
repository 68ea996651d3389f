"""The example DAG of docs/operators.md is a real file: the docs show it word for word, and it builds the DAG."""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO

EXAMPLE = REPO / "docs" / "examples" / "example_training_dag.py"
DOC = REPO / "docs" / "operators.md"
MARKER = "howto_operator_training"
HEAVY = ("mlflow", "evidently", "great_expectations", "sklearn", "pandas", "scipy", "numpy", "pyarrow")


def between_markers(path: Path, marker: str) -> str:
    text = path.read_text(encoding="utf-8")
    start, end = f"# [START {marker}]\n", f"# [END {marker}]\n"
    assert text.count(start) == 1 and text.count(end) == 1, f"{path} needs exactly one START/END {marker} pair"
    return text.split(start, 1)[1].split(end, 1)[0]


def doc_block(section: str) -> str:
    """The (one) python code block of the docs section headed ``section``."""
    text = DOC.read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```$", body, flags=re.DOTALL | re.MULTILINE)
    assert len(blocks) == 1, f"expected one python block under '## {section}', found {len(blocks)}"
    return blocks[0]


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_training_dag", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_block_is_the_example_file_between_its_markers() -> None:
    snippet = between_markers(EXAMPLE, MARKER)

    assert doc_block("A hand-written DAG") == snippet
    assert snippet.startswith('"""Churn, retrained every Monday')
    assert snippet.rstrip().endswith("validate >> train >> gates >> register >> promote")


def test_the_example_builds_the_weekly_training_dag_with_the_lifecycle_in_order() -> None:
    from airflow.sdk import DAG

    from mlops_provider.notifications.alerts import AlertNotifier

    dag = load_example().dag

    assert type(dag) is DAG
    assert dag.dag_id == "churn_weekly_training"
    assert dag.max_active_runs == 1
    assert set(dag.tags) == {"mlops", "churn_weekly"}
    assert dag.schedule == "0 3 * * 1"
    # the chain, plus train -> register from register reading train's output
    downstream = {
        "validate_data": {"train"},
        "train": {"evaluate_gates", "register"},
        "evaluate_gates": {"register"},
        "register": {"promote"},
        "promote": set(),
    }
    assert {task_id: task.downstream_task_ids for task_id, task in dag.task_dict.items()} == downstream
    assert [t.task_id for t in dag.topological_sort()] == list(downstream)

    register = dag.get_task("register")
    assert (register.training.operator.task_id, register.gates.operator.task_id) == ("train", "evaluate_gates")
    assert dag.get_task("train").dataset.operator.task_id == "validate_data"
    promote = dag.get_task("promote")
    assert promote.registration.operator.task_id == "register"
    assert promote.reason == "weekly retrain, DAG run {{ run_id }}"
    for task in dag.tasks:
        assert task.retries == 1
        assert task.pipeline.model == "churn_weekly"
        (callback,) = task.on_failure_callback
        assert isinstance(callback, AlertNotifier) and callback.model == "churn_weekly"


def test_parsing_the_example_imports_no_heavy_library() -> None:
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('example', {str(EXAMPLE)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        f"print(json.dumps({{'dag': module.dag.dag_id, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"dag": "churn_weekly_training", "heavy": []}


@pytest.mark.parametrize("path", sorted((REPO / "docs" / "examples").glob("*.py")), ids=lambda p: p.name)
def test_every_example_file_is_shown_in_the_docs(path: Path) -> None:
    markers = re.findall(r"^# \[START (\w+)\]$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert markers, f"{path.name} has no [START ...] marker, so no docs page shows it"
    docs = "".join(p.read_text(encoding="utf-8") for p in (REPO / "docs").rglob("*.md"))
    for marker in markers:
        assert between_markers(path, marker) in docs, f"{path.name} [{marker}] is not in docs/*.md word for word"


CANARY_EXAMPLE = REPO / "docs" / "examples" / "churn_canary.yaml"


def test_the_deployment_page_shows_the_canary_example_word_for_word() -> None:
    page = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert f"```yaml\n{CANARY_EXAMPLE.read_text(encoding='utf-8')}```" in page


def test_the_canary_example_builds_sign_off_then_the_canary_trial() -> None:
    from mlops_provider.config import load_config
    from mlops_provider.factories.training import build_training_dag

    config = load_config(CANARY_EXAMPLE)
    dag = build_training_dag(config, source=str(CANARY_EXAMPLE))
    chain = ["register", "approve", "start_canary", "observe_canary", "conclude_canary"]
    for upstream, downstream in itertools.pairwise(chain):
        assert downstream in dag.get_task(upstream).downstream_task_ids, (upstream, downstream)
    assert "promote" not in dag.task_dict
    approve = dag.get_task("approve")
    assert approve.response_timeout.total_seconds() == 24 * 3600 and approve.defaults == ["Reject"]
    assert approve.assigned_users == [{"id": "alice", "name": "alice"}, {"id": "bob", "name": "bob"}]
    assert dag.get_task("observe_canary").trial.operator.task_id == "start_canary"
