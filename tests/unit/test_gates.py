"""The gate functions of operators/gates.py on given numbers: metric bounds and the champion comparison."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_provider.config import PipelineConfig
from mlops_provider.operators.gates import GateResult, champion_gate, metric_gates


def config(task: str = "classification", **gates: Any) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "model": "m",
            "task": task,
            "data": {"source": "m/labeled.parquet", "target": "label", "features": {"numeric": ["x"]}},
            "training": {
                "estimator": {
                    "class": "sklearn.linear_model.LogisticRegression"
                    if task == "classification"
                    else "sklearn.linear_model.Ridge"
                },
                **({"stratify": False} if task == "regression" else {}),
            },
            "gates": gates,
        }
    )


# -- metric_gates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "passed"),
    [(0.75, True), (0.7501, True), (0.7499, False), (0.2, False)],
)
def test_a_min_bound_passes_at_and_above_it(value: float, passed: bool) -> None:
    (gate,) = metric_gates(config(metrics=[{"metric": "roc_auc", "min": 0.75}]), {"roc_auc": value})

    assert (gate.gate, gate.passed, gate.value, gate.threshold, gate.comparator) == (
        "metric.roc_auc",
        passed,
        value,
        0.75,
        ">=",
    )
    assert gate.detail == f"holdout roc_auc {value:.4f}, required >= 0.75"
    assert gate.line().startswith("metric.roc_auc passed: " if passed else "metric.roc_auc FAILED: ")
    assert not gate.skipped


@pytest.mark.parametrize(("value", "passed"), [(0.5, True), (0.4, True), (0.5001, False)])
def test_a_max_bound_passes_at_and_below_it(value: float, passed: bool) -> None:
    (gate,) = metric_gates(config("regression", metrics=[{"metric": "rmse", "max": 0.5}]), {"rmse": value})

    assert (gate.passed, gate.threshold, gate.comparator) == (passed, 0.5, "<=")
    assert gate.detail == f"holdout rmse {value:.4f}, required <= 0.5"


@pytest.mark.parametrize(("value", "passed"), [(0.6, True), (0.8, True), (0.7, True), (0.59, False), (0.81, False)])
def test_both_bounds_pass_only_between_them(value: float, passed: bool) -> None:
    (gate,) = metric_gates(config(metrics=[{"metric": "accuracy", "min": 0.6, "max": 0.8}]), {"accuracy": value})

    assert gate.passed is passed
    assert (gate.threshold, gate.comparator) == (0.6, ">=")  # the min is reported as the threshold
    assert gate.detail.endswith("required >= 0.6 and <= 0.8")


def test_a_warn_gate_that_does_not_pass_is_a_warning_not_a_failure() -> None:
    (gate,) = metric_gates(config(metrics=[{"metric": "recall", "min": 0.3, "severity": "warn"}]), {"recall": 0.1})

    assert (gate.passed, gate.severity) == (False, "warn")
    assert gate.line() == "metric.recall warning: holdout recall 0.1000, required >= 0.3"


@pytest.mark.parametrize("metrics", [{}, {"roc_auc": float("nan")}], ids=["missing", "nan"])
def test_a_missing_or_nan_metric_fails_the_gate_with_the_reason(metrics: dict[str, float]) -> None:
    cfg = config(metrics=[{"metric": "roc_auc", "min": 0.75}])

    (gate,) = metric_gates(cfg, metrics, {"roc_auc": "the model has no predict_proba"})
    (unexplained,) = metric_gates(cfg, metrics)

    assert (gate.passed, gate.skipped, gate.value, gate.comparator) == (False, False, None, "unavailable")
    assert gate.detail == (
        "holdout roc_auc not available: the model has no predict_proba; required >= 0.75 "
        "(set if_unavailable: skip on this gate to skip it instead)"
    )
    assert unexplained.detail.startswith("holdout roc_auc not available: it was not computed; required >= 0.75")


def test_a_missing_metric_is_skipped_when_the_gate_says_if_unavailable_skip() -> None:
    cfg = config(metrics=[{"metric": "roc_auc", "min": 0.75, "if_unavailable": "skip"}])

    (gate,) = metric_gates(cfg, {"roc_auc": float("nan")}, {"roc_auc": "no probabilities"})

    assert (gate.passed, gate.skipped, gate.comparator) == (True, True, "skipped")
    assert (
        gate.line() == "metric.roc_auc SKIPPED (if_unavailable: skip): holdout roc_auc not available: no probabilities"
    )


def test_every_metric_gate_gets_one_result_in_config_order() -> None:
    cfg = config(metrics=[{"metric": "recall", "min": 0.3}, {"metric": "roc_auc", "min": 0.75}])

    results = metric_gates(cfg, {"roc_auc": 0.8, "recall": 0.2})

    assert [(r.gate, r.passed) for r in results] == [("metric.recall", False), ("metric.roc_auc", True)]
    assert metric_gates(config(), {"roc_auc": 0.1}) == []


# -- champion_gate --------------------------------------------------------------------------------------


def gate(cfg: PipelineConfig, challenger: float | None, champion: float | None, version: str | None) -> GateResult:
    result = champion_gate(cfg, challenger, champion, version)
    assert result is not None
    return result


@pytest.mark.parametrize(
    ("challenger", "champion", "drop", "passed"),
    [
        (0.85, 0.80, -0.05, True),  # better
        (0.80, 0.80, 0.0, True),  # equal
        (0.79, 0.80, 0.01, True),  # a drop of exactly max_drop
        (0.78, 0.80, 0.02, False),  # a drop beyond it
    ],
)
def test_higher_is_better_metric_drops_when_the_challenger_is_lower(
    challenger: float, champion: float, drop: float, passed: bool
) -> None:
    result = gate(config(champion={"metric": "roc_auc", "max_drop": 0.01}), challenger, champion, "3")

    assert result.gate == "champion.roc_auc"
    assert result.value == pytest.approx(drop)
    assert (result.passed, result.threshold, result.comparator, result.skipped) == (passed, 0.01, "<=", False)
    assert result.detail == (
        f"challenger {challenger:.4f} vs champion v3 {champion:.4f} on the same holdout: drop {drop:+.4f}, allowed 0.01"
    )


@pytest.mark.parametrize(
    ("challenger", "champion", "drop", "passed"),
    [
        (0.40, 0.50, -0.10, True),  # lower error: better
        (0.55, 0.50, 0.05, True),  # worse, within max_drop
        (0.70, 0.50, 0.20, False),  # higher error beyond max_drop
    ],
)
def test_lower_is_better_metric_drops_when_the_challenger_is_higher(
    challenger: float, champion: float, drop: float, passed: bool
) -> None:
    cfg = config("regression", champion={"metric": "rmse", "max_drop": 0.1})

    result = gate(cfg, challenger, champion, "7")

    assert result.gate == "champion.rmse"
    assert result.value == pytest.approx(drop)
    assert result.passed is passed


def test_the_champion_gate_compares_the_primary_metric_when_it_names_none() -> None:
    cfg = config("regression", champion={"max_drop": 0.0})

    result = gate(cfg, 1.0, 2.0, "1")

    assert (result.gate, result.passed) == ("champion.rmse", True)  # rmse: 1.0 is better than 2.0
    assert result.value == pytest.approx(-1.0)


def test_without_a_champion_the_gate_is_skipped_and_passes() -> None:
    result = gate(config(champion={"metric": "roc_auc", "max_drop": 0.01}), 0.8312, None, None)

    assert (result.passed, result.skipped, result.comparator, result.value) == (True, True, "skipped", None)
    assert result.line() == (
        "champion.roc_auc skipped: no champion yet, so nothing to compare against (challenger 0.8312)"
    )


def test_a_champion_that_could_not_be_scored_fails_the_gate() -> None:
    cfg = config(champion={"metric": "roc_auc", "max_drop": 0.01})

    result = champion_gate(cfg, 0.8, None, "4", "model file is missing")

    assert result is not None
    assert (result.passed, result.value) == (False, None)
    assert result.detail == "champion v4 could not be scored on this holdout: model file is missing"


def test_no_champion_gate_in_the_config_gives_no_result() -> None:
    assert champion_gate(config(), 0.8, 0.9, "1") is None
