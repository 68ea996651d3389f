"""The hand-written DAG of docs/operators.md runs end to end with dag.test() and registers a champion."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, STATE
from tests.integration.conftest import task_states, xcom

pytestmark = pytest.mark.integration

EXAMPLES = REPO / "docs" / "examples"


@pytest.fixture()
def deployed_example(example_data: Path) -> Iterator[Path]:
    """The example DAG file and its config, dropped into the test dags folder as a user would (``dag.test()``
    runs only DAGs of a configured bundle); removed afterwards so other tests' DAG bags do not see it."""
    folder = STATE / "dags" / "docs_examples"
    folder.mkdir()
    try:
        for name in ("example_training_dag.py", "churn_weekly.yaml"):
            shutil.copy(EXAMPLES / name, folder / name)
        yield folder / "example_training_dag.py"
    finally:
        shutil.rmtree(folder)


def test_the_docs_example_dag_trains_gates_registers_and_promotes_a_champion(
    deployed_example: Path, example_data: Path, mlflow_client: Any
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    assert example_data == STATE / "data" / "churn" / "labeled"  # the example's data.source, under the data root
    bag = DagBag(dag_folder=str(deployed_example))
    assert bag.import_errors == {}
    dag = bag.dags["churn_weekly_training"]

    dr = dag.test()

    states = task_states(dr)
    assert dr.state == "success", states
    assert states == dict.fromkeys(["validate_data", "train", "evaluate_gates", "register", "promote"], "success")
    registered = xcom(dr, "register")
    promoted = xcom(dr, "promote")
    assert registered["name"] == "churn_weekly" and registered["created"] is True
    assert promoted["promoted"] is True and str(promoted["champion"]) == str(registered["version"])
    champion = mlflow_client.get_model_version_by_alias("churn_weekly", "champion")
    assert str(champion.version) == str(registered["version"])
    assert champion.tags["mlops.airflow_dag_id"] == "churn_weekly_training"
    history = json.loads(champion.tags["mlops.promotion"])
    assert history[-1]["to"] == str(registered["version"])
    assert history[-1]["reason"] == f"weekly retrain, DAG run {dr.run_id}"  # the templated reason, rendered
