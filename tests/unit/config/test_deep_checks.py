"""``mlops validate`` catches what would only fail when a task runs; the validate-data task says the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_provider.cli import main

from .conftest import SHIPPED

CHURN = (SHIPPED / "churn.yaml").read_text(encoding="utf-8")


def _config(folder: Path, *replacements: tuple[str, str], name: str = "churn.yaml") -> Path:
    """The shipped churn config with text replaced (each replacement must apply), in ``folder``."""
    text = CHURN
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _line(path: Path, fragment: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def _validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["validate", *args])
    out, err = capsys.readouterr()
    return code, out, err


PARAMS = "params: {max_iter: 150, learning_rate: 0.08, max_leaf_nodes: 31}"


def test_estimator_parameter_values_the_estimator_rejects(tmp_path, capsys):
    path = _config(tmp_path, (PARAMS, 'params: {max_iter: -5, learning_rate: "fast", max_leaf_nodes: 31}'))
    code, out, err = _validate(capsys, str(path))
    assert code == 1
    assert out == ""
    line = _line(path, "max_iter: -5")
    assert f"Invalid pipeline config {path} (2 problems)" in err
    assert (
        f"line {line}, field 'training.estimator.params.max_iter': got -5; HistGradientBoostingClassifier needs "
        "max_iter to be an int in the range [1, inf); change it, or remove it to use the default (100)"
    ) in err
    assert (
        f"line {line}, field 'training.estimator.params.learning_rate': got 'fast'; HistGradientBoostingClassifier "
        "needs learning_rate to be a float in the range (0.0, inf)"
    ) in err
    assert "their runs would fail on these fields" in err
    assert err.rstrip().endswith("1 invalid config file(s), 0 valid")


def test_unknown_estimator_parameter_names_the_closest_one(tmp_path, capsys):
    path = _config(tmp_path, (PARAMS, "params: {max_iter: 150, learning_rat: 0.08, max_leaf_nodes: 31}"))
    code, _, err = _validate(capsys, str(path))
    assert code == 1
    assert (
        f"line {_line(path, 'learning_rat:')}, field 'training.estimator.params.learning_rat': "
        "HistGradientBoostingClassifier has no parameter 'learning_rat'; did you mean 'learning_rate'? remove it"
    ) in err


def test_regressor_for_a_classification_task(tmp_path, capsys):
    path = _config(
        tmp_path,
        (
            "class: sklearn.ensemble.HistGradientBoostingClassifier",
            "class: sklearn.ensemble.HistGradientBoostingRegressor",
        ),
    )
    code, _, err = _validate(capsys, str(path))
    assert code == 1
    assert (
        f"line {_line(path, 'class: sklearn')}, field 'training.estimator.class': "
        "sklearn.ensemble.HistGradientBoostingRegressor is a regressor, but task is classification; use a classifier "
        "such as sklearn.ensemble.HistGradientBoostingClassifier, or set task: regression"
    ) in err


def test_classifier_for_a_regression_task(tmp_path, capsys):
    path = tmp_path / "prices.yaml"
    path.write_text(
        "model: prices\n"
        "task: regression\n"
        "data:\n"
        "  source: prices/labeled\n"
        "  target: price\n"
        "  features: {numeric: [rooms, area]}\n"
        "training:\n"
        "  estimator:\n"
        "    class: sklearn.linear_model.LogisticRegression\n"
    )
    code, _, err = _validate(capsys, str(path))
    assert code == 1
    assert (
        "line 9, field 'training.estimator.class': sklearn.linear_model.LogisticRegression is a classifier, but task "
        "is regression; use a regressor such as sklearn.linear_model.Ridge, or set task: classification"
    ) in err


EXPECTATION = "- expect_column_values_to_be_between: {column: tenure_months, min_value: 0, max_value: 120}"


def test_expectation_argument_great_expectations_rejects(tmp_path, capsys):
    path = _config(
        tmp_path,
        (EXPECTATION, "- expect_column_values_to_be_between: {column: tenure_months, min_value: zero, max_value: 120}"),
    )
    code, _, err = _validate(capsys, str(path))
    assert code == 1
    assert (
        f"line {_line(path, 'min_value: zero')}, field 'expectations[3].expect_column_values_to_be_between.min_value': "
        "got 'zero'; ExpectColumnValuesToBeBetween needs min_value to be a number, a date (YYYY-MM-DD) or a date-time"
    ) in err
    assert "change the value of min_value" in err
    assert "validation errors for" not in err  # one sentence per argument, not GX's raw error


def test_expectation_unknown_and_missing_arguments(tmp_path, capsys):
    path = _config(
        tmp_path,
        (EXPECTATION, "- expect_column_values_to_be_between: {column: tenure_months, min: 0, max_value: 120}"),
        ("- expect_column_values_to_be_unique: {column: customer_id}", "- expect_column_values_to_be_unique: {}"),
    )
    code, _, err = _validate(capsys, str(path))
    assert code == 1
    assert "(2 problems)" in err
    assert (
        "field 'expectations[2].expect_column_values_to_be_unique.column': ExpectColumnValuesToBeUnique needs the "
        "argument 'column', which is missing; add it"
    ) in err
    assert (
        "field 'expectations[3].expect_column_values_to_be_between.min': ExpectColumnValuesToBeBetween has no "
        "argument 'min'; did you mean 'min_value'? remove it"
    ) in err


def test_fairness_slice_that_is_not_a_declared_column_is_noted_not_refused(tmp_path, capsys):
    # the data may well have it (a run checks): a note, not an error that would fail CI on a working config
    path = _config(tmp_path, ("slice: region", "slice: gendr"), ("categorical: [", "categorical: [gender, "))
    code, out, err = _validate(capsys, str(path))
    assert (code, err) == (0, "")
    assert "not checked: gates.fairness[0].slice 'gendr' is not a column this config declares" in out
    assert "did you mean 'gender'?" in out
    assert "declare it with '- expect_column_to_exist: {column: gendr}' under expectations" in out


def test_fairness_slice_declared_by_an_expectation_is_valid(tmp_path, capsys):
    path = _config(
        tmp_path,
        ("slice: region", "slice: gender"),
        ("expectations:\n", "expectations:\n  - expect_column_to_exist: {column: gender}\n"),
    )
    code, out, err = _validate(capsys, str(path))
    assert (code, err) == (0, "")
    assert out.startswith(f"ok  {path}: model churn")


def test_bad_value_inherited_from_defaults_names_the_defaults_line(tmp_path, capsys):
    (tmp_path / "defaults.yaml").write_text("training:\n  estimator:\n    params: {tol: -1}\n")
    path = _config(tmp_path, (PARAMS, "params: {max_iter: 150}"))
    code, _, err = _validate(capsys, str(tmp_path))
    assert code == 1
    assert (
        f"line 3 of {tmp_path / 'defaults.yaml'}, field 'training.estimator.params.tol': got -1; "
        "HistGradientBoostingClassifier needs tol to be a float in the range [0.0, inf)"
    ) in err
    assert f"Invalid pipeline config {path}" in err


def test_estimator_of_a_package_not_installed_here_is_reported_as_not_checked(tmp_path, capsys):
    path = _config(tmp_path, ("sklearn.ensemble.HistGradientBoostingClassifier", "xgboost.XGBClassifier"))
    code, out, err = _validate(capsys, "--allow-module", "xgboost", str(path))
    assert (code, err) == (0, "")
    assert "    not checked: training.estimator: package 'xgboost' of xgboost.XGBClassifier is not installed" in out


def test_shipped_configs_pass_the_deep_checks(capsys):
    code, out, err = _validate(capsys, str(SHIPPED))
    assert (code, err) == (0, "")
    assert "not checked" not in out


def test_run_time_expectation_error_names_file_line_argument_and_fix(tmp_path):
    """The validate-data task turns GX's raw error into the same sentence, and does not retry."""
    import pandas as pd
    from airflow.sdk.exceptions import AirflowFailException

    from mlops_provider.config import load_config
    from mlops_provider.operators.data import DataValidationFailed, run_expectations

    path = _config(
        tmp_path,
        (EXPECTATION, "- expect_column_values_to_be_between: {column: tenure_months, min_value: zero, max_value: 120}"),
    )
    expectations = list(load_config(path).expectations)  # what the task gets
    with pytest.raises(DataValidationFailed) as caught:
        run_expectations(pd.DataFrame({"tenure_months": [1, 2]}), expectations, "s", config_file=str(path))
    assert isinstance(caught.value, AirflowFailException)
    text = str(caught.value)
    assert text.startswith(f"Invalid pipeline config {path} (1 problem):")
    assert (
        f"line {_line(path, 'min_value: zero')}, field 'expectations[3].expect_column_values_to_be_between.min_value': "
        "got 'zero'; ExpectColumnValuesToBeBetween needs min_value to be a number"
    ) in text
    assert "validation errors for" not in text
    assert f"a retry fails the same way. Fix the config, check it with: mlops validate {path}" in text
