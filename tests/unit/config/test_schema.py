"""The pydantic schema: derived values, defaults and the estimator allow-list."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from mlops_provider.config import ConfigError, PipelineConfig, load_config
from mlops_provider.config.schema import DEFAULT_ESTIMATOR_MODULES, FieldProblem


def _validate(data: dict[str, Any], **context: Any) -> PipelineConfig:
    return PipelineConfig.model_validate(data, context=context or None)


def _regression(data: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data["task"] = "regression"
    data["training"]["estimator"]["class"] = "sklearn.ensemble.HistGradientBoostingRegressor"
    del data["training"]["primary_metric"]
    data["gates"] = {"metrics": [{"metric": "rmse", "max": 5.0}]}
    return data


def test_shipped_config_derived_values(churn_data):
    config = _validate(churn_data)
    assert config.model == "churn"
    assert config.primary_metric == "roc_auc"
    assert config.dag_id("training") == "churn_training"
    assert config.dag_id("drift") == "churn_drift"
    assert config.drift_asset_uri == "mlops://churn/drift"
    assert config.data.features.all[:2] == ["tenure_months", "monthly_charges"]
    assert config.training.estimator.class_ == "sklearn.ensemble.HistGradientBoostingClassifier"


def test_primary_metric_defaults_per_task(churn_data):
    data = copy.deepcopy(churn_data)
    del data["training"]["primary_metric"]
    assert _validate(data).primary_metric == "roc_auc"
    assert _validate(_regression(churn_data)).primary_metric == "rmse"
    data["training"]["primary_metric"] = "f1"
    assert _validate(data).primary_metric == "f1"


def test_section_defaults(churn_data):
    data = {k: v for k, v in churn_data.items() if k in {"model", "data", "training"}}
    config = _validate(data)
    assert config.task == "classification"
    assert config.owner == "mlops"
    assert config.schedule.training == "0 2 * * *"
    assert config.schedule.start_date is None
    assert config.schedule.catchup is False
    assert config.training.seed == 42
    assert config.training.test_size == 0.2
    assert config.gates.metrics == [] and config.gates.champion is None
    assert config.airflow.retries == 1
    assert config.alerting.slack_conn_id == "slack_mlops"


def test_regression_keeps_default_stratify_but_rejects_an_explicit_one(churn_data):
    data = _regression(churn_data)
    assert _validate(data).task == "regression"
    data["training"]["stratify"] = True
    with pytest.raises(ValidationError, match="classification only"):
        _validate(data)


def test_expectation_may_be_written_as_a_bare_name(churn_data):
    data = copy.deepcopy(churn_data)
    data["expectations"] = [
        "expect_table_columns_to_match_set",
        {"expect_column_to_exist": {"column": "plan"}},
    ]
    config = _validate(data)
    assert config.expectations[0] == {"expect_table_columns_to_match_set": {}}


def test_config_is_frozen(churn_data):
    config = _validate(churn_data)
    with pytest.raises(ValidationError):
        config.model = "other"  # type: ignore[misc]


def _with_estimator(churn_data: dict[str, Any], class_path: str) -> dict[str, Any]:
    data = copy.deepcopy(churn_data)
    data["training"]["estimator"] = {"class": class_path, "params": {"n_estimators": 10}}
    return data


def test_estimator_allow_list_defaults_to_sklearn(churn_data):
    assert DEFAULT_ESTIMATOR_MODULES == ("sklearn",)
    for class_path in ("xgboost.XGBClassifier", "sklearnx.Forest", "os.system"):
        with pytest.raises(ValidationError, match="is not in an allowed module"):
            _validate(_with_estimator(churn_data, class_path))


def test_allow_list_widened_by_the_deployment_context(churn_data):
    data = _with_estimator(churn_data, "xgboost.XGBClassifier")
    config = _validate(data, allowed_estimator_modules=("sklearn", "xgboost"))
    assert config.training.estimator.class_ == "xgboost.XGBClassifier"
    # the widened list still applies to everything else
    with pytest.raises(ValidationError, match="allowed: sklearn, xgboost"):
        _validate(
            _with_estimator(churn_data, "lightgbm.LGBMClassifier"),
            allowed_estimator_modules=("sklearn", "xgboost"),
        )
    # an allowed module still needs a class name
    with pytest.raises(ValidationError, match="not a dotted class path"):
        _validate(_with_estimator(churn_data, "xgboost.train"), allowed_estimator_modules=("xgboost",))


def test_allow_list_widened_through_load_config(write, churn_text):
    path = write(
        "churn.yaml",
        churn_text.replace("sklearn.ensemble.HistGradientBoostingClassifier", "xgboost.XGBClassifier"),
    )
    with pytest.raises(ConfigError):
        load_config(path)
    assert load_config(path, allowed_estimator_modules=["sklearn", "xgboost"]).model == "churn"


def test_a_config_file_cannot_widen_the_allow_list(churn_data):
    data = copy.deepcopy(churn_data)
    data["allowed_estimator_modules"] = ["xgboost"]
    with pytest.raises(ValidationError, match="allowed_estimator_modules"):
        _validate(data)
    data = _with_estimator(churn_data, "xgboost.XGBClassifier")
    data["training"]["estimator"]["allowed_estimator_modules"] = ["xgboost"]
    with pytest.raises(ValidationError):
        _validate(data)


def test_field_problem_carries_its_path():
    problem = FieldProblem("features.numeric[0]", "bad column")
    assert isinstance(problem, ValueError)
    assert (problem.path, str(problem)) == ("features.numeric[0]", "bad column")


def test_json_schema_forbids_unknown_keys_everywhere():
    schema = PipelineConfig.model_json_schema(by_alias=True)
    assert schema["additionalProperties"] is False
    sections = {name: d for name, d in schema["$defs"].items() if d.get("type") == "object"}
    assert {"DataConfig", "TrainingConfig", "EstimatorConfig", "GatesConfig"} <= set(sections)
    for name, definition in sections.items():
        assert definition.get("additionalProperties") is False, name
    assert "class" in schema["$defs"]["EstimatorConfig"]["properties"]
