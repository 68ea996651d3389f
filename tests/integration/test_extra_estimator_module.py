"""An estimator module the deployment allows ([mlops] allowed_estimator_modules) works at parse and at run time."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import STATE
from tests.integration.conftest import model_config, task_states

pytestmark = pytest.mark.integration

MODULE = "tests.fixtures.extra_estimators"


def _config() -> dict:
    cfg = model_config("churn_extra")
    cfg["training"]["estimator"] = {"class": f"{MODULE}.PlainLogit", "params": {"max_iter": 300}}
    cfg["gates"]["metrics"] = [{"metric": "roc_auc", "min": 0.6}]
    return cfg


def test_a_module_the_deployment_does_not_allow_is_an_import_error_naming_the_option(airflow_db, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.delenv("AIRFLOW__MLOPS__ALLOWED_ESTIMATOR_MODULES", raising=False)
    (STATE / "dags" / "configs" / "churn_extra.yaml").write_text(yaml.safe_dump(_config()))
    try:
        bag = DagBag(dag_folder=str(STATE / "dags"))
        assert "churn_extra_training" not in bag.dags
        errors = "\n".join(bag.import_errors.values())
        assert "churn_extra.yaml" in errors and "allowed_estimator_modules" in errors
    finally:
        (STATE / "dags" / "configs" / "churn_extra.yaml").unlink()


def test_an_allowed_module_parses_trains_and_is_promoted(run_training, mlflow_client, monkeypatch):
    monkeypatch.setenv("AIRFLOW__MLOPS__ALLOWED_ESTIMATOR_MODULES", MODULE)
    dr = run_training(_config())
    assert dr.state == "success", task_states(dr)
    champion = mlflow_client.get_model_version_by_alias("churn_extra", "champion")
    params = mlflow_client.get_run(champion.run_id).data.params
    assert params["estimator"] == f"{MODULE}.PlainLogit"


def test_a_hand_written_dag_with_a_dict_config_validates_as_the_loader_does(airflow_db, monkeypatch):
    from mlops_provider.operators.training import TrainModelOperator

    monkeypatch.setenv("AIRFLOW__MLOPS__ALLOWED_ESTIMATOR_MODULES", MODULE)
    op = TrainModelOperator(task_id="train", config=_config(), dataset={})
    assert op.pipeline.training.estimator.class_ == f"{MODULE}.PlainLogit"
    assert op.allowed_estimator_modules() == ("sklearn", MODULE)
