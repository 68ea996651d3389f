"""The ``training`` section: the estimator (from an allow-listed module) and how it is trained."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from mlops_provider.config.rules import rule
from mlops_provider.config.schema_base import CLASS_PATH_RE, FieldProblem, Section

#: Estimator classes may come from these modules unless the deployment allows more in the
#: ``[mlops] allowed_estimator_modules`` Airflow option. A config file can never widen the list.
DEFAULT_ESTIMATOR_MODULES: tuple[str, ...] = ("sklearn",)


class EstimatorConfig(Section):
    """The estimator class and its keyword arguments."""

    class_: str = Field(
        alias="class",
        examples=["sklearn.linear_model.LogisticRegression"],
        description="Dotted path of the estimator class, e.g. sklearn.ensemble.RandomForestClassifier. "
        "Only modules on the allow-list may be named (scikit-learn by default).",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the estimator.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("class_")
    @classmethod
    def _allowed(cls, value: str, info: ValidationInfo) -> str:
        example = "write the module and the class, e.g. sklearn.linear_model.LogisticRegression"
        if "." not in value:
            raise ValueError(f"{value!r} is not a dotted class path; {example}")
        allowed = tuple((info.context or {}).get("allowed_estimator_modules") or DEFAULT_ESTIMATOR_MODULES)
        if not any(value == m or value.startswith(m + ".") for m in allowed):
            raise ValueError(
                f"{value!r} is not in an allowed module (allowed: {', '.join(allowed)}); use an estimator "
                "class from those, e.g. sklearn.ensemble.RandomForestClassifier. An Airflow admin can allow "
                "more modules in the [mlops] allowed_estimator_modules option"
            )
        if not CLASS_PATH_RE.match(value):
            raise ValueError(
                f"{value!r} is not a dotted class path (the last part must be a class name starting with "
                f"an uppercase letter); {example}"
            )
        return value

    @field_validator("params")
    @classmethod
    @rule(
        "training.estimator.params",
        "must not contain `random_state`: every step that takes one gets `training.seed`.",
    )
    def _no_random_state(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "random_state" in value:
            raise FieldProblem(
                "random_state",
                f"random_state {value['random_state']!r} is not allowed here: it is set from training.seed "
                "for every step that takes one; remove it and set training.seed instead",
            )
        return value


class TrainingConfig(Section):
    """How the model is trained and which metric is the headline."""

    estimator: EstimatorConfig = Field(
        description="The estimator class and its parameters.",
        examples=[{"class": "sklearn.linear_model.LogisticRegression", "params": {"C": 1.0}}],
    )
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0, description="Holdout fraction.")
    seed: int = Field(
        default=42, ge=0, le=2**32 - 1, description="Seed for the split and every random_state in the pipeline."
    )
    stratify: bool = Field(default=True, description="Stratify the split on the target (classification).")
    primary_metric: str | None = Field(
        default=None, description="Headline metric; default roc_auc (classification) or rmse (regression)."
    )
