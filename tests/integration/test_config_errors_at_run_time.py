"""A config the DAG loader accepts but a task cannot run: the failure names the file, the field and the fix."""

from __future__ import annotations

import pytest

from mlops_provider.notifications.incidents import FAILURE_KINDS
from tests.conftest import STATE
from tests.integration.conftest import model_config, task_states

pytestmark = pytest.mark.integration


def _tries(dag_run, task_id):
    from airflow.utils.session import create_session

    with create_session() as session:
        (ti,) = [ti for ti in dag_run.get_task_instances(session=session) if ti.task_id == task_id]
        return ti.try_number


def test_bad_expectation_argument_fails_validate_data_once_naming_file_field_and_fix(run_training, outbox):
    cfg = model_config("churn_badexp", **{"airflow.retries": 2, "airflow.retry_delay_minutes": 0})
    cfg["expectations"][3] = {
        "expect_column_values_to_be_between": {"column": "tenure_months", "min_value": "zero", "max_value": 120}
    }

    dr = run_training(cfg)
    states = task_states(dr)
    assert dr.state == "failed"
    assert states["validate_data"] == "failed" and states["train"] == "upstream_failed"
    (alert,) = [a for a in outbox() if a["model"] == "churn_badexp" and a["kind"] in FAILURE_KINDS]
    text = alert["text"]
    assert _tries(dr, "validate_data") == 1  # a config error is not retried (retries: 2)
    file = STATE / "dags" / "configs" / "churn_badexp.yaml"
    assert f"DataValidationFailed: Invalid pipeline config {file} (1 problem):" in text
    assert (
        "field 'expectations[3].expect_column_values_to_be_between.min_value': got 'zero'; "
        "ExpectColumnValuesToBeBetween needs min_value to be a number"
    ) in text
    assert "validation errors for" not in text


def test_estimator_param_the_estimator_rejects_fails_train_once_with_the_fix(run_training, outbox):
    cfg = model_config("churn_badparam", **{"airflow.retries": 2, "airflow.retry_delay_minutes": 0})
    cfg["training"]["estimator"]["params"]["max_iter"] = -5

    dr = run_training(cfg)
    states = task_states(dr)
    assert dr.state == "failed" and states["validate_data"] == "success" and states["train"] == "failed"
    assert _tries(dr, "train") == 1  # the config must change first: not retried (retries: 2)
    (alert,) = [a for a in outbox() if a["model"] == "churn_badparam" and a["kind"] in FAILURE_KINDS]
    assert "training.estimator.params rejected by sklearn.ensemble.HistGradientBoostingClassifier" in alert["text"]
    assert "'max_iter' parameter" in alert["text"] and "mlops validate" in alert["text"]
