"""The typed pipeline config: one YAML file per model, validated with pydantic v2.

:class:`PipelineConfig` is the whole file; its sections live in ``schema_data`` (data), ``schema_training``
(training), ``schema_gates`` (gates) and ``schema_ops`` (schedule, alerting, airflow, scoring, drift), their
shared pieces in ``schema_base``, ``metrics``, ``templates`` and ``data_paths``. Every public name of those
modules is importable from here too. Nothing here imports Airflow or any heavy library: this module is
loaded on every DAG parse.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mlops_provider.config.data_paths import DATA_PATH_FIELDS, data_path_problem, is_s3, local_root, under_root
from mlops_provider.config.gx_catalog import GX_EXPECTATIONS
from mlops_provider.config.metrics import ALL_METRICS, CLASSIFICATION_METRICS, METRIC_KINDS, REGRESSION_METRICS
from mlops_provider.config.rules import rule
from mlops_provider.config.schema_base import (
    CLASS_PATH_RE,
    COLUMN_RE,
    CRON_FIELD_RE,
    CRON_PRESETS,
    MODEL_NAME_RE,
    Column,
    FieldProblem,
    IfUnavailable,
    Section,
    Severity,
)
from mlops_provider.config.schema_cost import CostConfig
from mlops_provider.config.schema_data import DataConfig, FeaturesConfig
from mlops_provider.config.schema_deploy import (
    ApprovalConfig,
    DeployConfig,
    PredictionShiftGate,
    TrialConfig,
    TrialGates,
)
from mlops_provider.config.schema_gates import ChampionGate, FairnessGate, GatesConfig, LatencyGate, MetricGate
from mlops_provider.config.schema_ops import (
    AirflowConfig,
    AlertingConfig,
    ColumnDriftSettings,
    DriftConfig,
    DriftMethod,
    InputChecksConfig,
    NonNumericCheck,
    ScheduleConfig,
    ScoringConfig,
    UnseenCategoriesCheck,
)
from mlops_provider.config.schema_retention import RetentionConfig
from mlops_provider.config.schema_training import DEFAULT_ESTIMATOR_MODULES, EstimatorConfig, TrainingConfig
from mlops_provider.config.templates import ALLOWED_MACROS, TEMPLATED_FIELDS, find_templates, template_problem


def _expectation_item(value: Any) -> Any:
    if isinstance(value, str):
        return {value: {}}
    return value


class PipelineConfig(Section):
    """One model's pipelines."""

    model: str = Field(description="Registered model name; DAG ids are <model>_training and so on.", examples=["churn"])
    owner: str = Field(default="mlops", min_length=1, description="Airflow task owner.")
    description: str = Field(default="", description="Free text, shown in the DAG's docs.")
    task: Literal["classification", "regression"] = Field(
        default="classification", description="Decides the metrics, the split and the estimator kind."
    )
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig, description="When training runs.")
    data: DataConfig = Field(
        description="The labeled training data.",
        examples=[{"source": "churn/labeled", "target": "churned", "features": {"numeric": ["tenure_months"]}}],
    )
    expectations: list[dict[str, dict[str, Any]]] = Field(
        default_factory=list,
        description="Great Expectations checks on the training data, each written as '- expect_name: {arguments}'.",
        examples=[[{"expect_column_values_to_not_be_null": {"column": "customer_id"}}]],
    )
    training: TrainingConfig = Field(
        description="How the model is trained.",
        examples=[{"estimator": {"class": "sklearn.linear_model.LogisticRegression"}}],
    )
    gates: GatesConfig = Field(default_factory=GatesConfig, description="What a new model must pass.")
    alerting: AlertingConfig = Field(default_factory=AlertingConfig, description="Where alerts go.")
    airflow: AirflowConfig = Field(default_factory=AirflowConfig, description="Airflow settings of the DAGs.")
    scoring: ScoringConfig = Field(default_factory=ScoringConfig, description="Batch scoring with the champion.")
    deploy: DeployConfig = Field(
        default_factory=DeployConfig, description="How a version that passed its gates goes live, and sign-off."
    )
    drift: DriftConfig = Field(default_factory=DriftConfig, description="Drift checks and drift-triggered retraining.")
    cost: CostConfig = Field(
        default_factory=CostConfig, description="What a run costs (instance and storage rates), and the monthly budget."
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig,
        description="How long model versions, prediction logs and drift reports are kept (the retention DAG).",
    )

    @model_validator(mode="before")
    @classmethod
    @rule(
        ", ".join(TEMPLATED_FIELDS),
        "the only field that may use templates, and only the date macros listed under [Templates](#templates).",
    )
    def _no_templates(cls, data: Any) -> Any:
        found = list(find_templates(data))
        if found:
            path, message = found[0]
            if len(found) > 1:
                others = ", ".join(p for p, _ in found[1:6]) + (", ..." if len(found) > 6 else "")
                message += f"; {len(found) - 1} more value(s) of this config hold templates too: {others}"
            raise FieldProblem(path, message)
        return data

    @field_validator("model")
    @classmethod
    @rule(
        "model",
        f"matches `{MODEL_NAME_RE.pattern}`: lowercase letters, digits and underscores, starting with a letter. "
        "Two files may not declare the same model.",
    )
    def _model_name(cls, value: str) -> str:
        if not MODEL_NAME_RE.match(value):
            raise ValueError(
                f"{value!r} is not a valid model name; use lowercase letters, digits and underscores, "
                "starting with a letter (at most 63 characters), e.g. 'churn' or 'churn_v2'"
            )
        return value

    @field_validator("expectations", mode="before")
    @classmethod
    def _normalise_expectations(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_expectation_item(v) for v in value]
        return value

    @field_validator("expectations")
    @classmethod
    @rule(
        "expectations[]",
        "one expectation per item, named as in the list below; a bare name (`- expect_x`) means no arguments. "
        "Only the name is checked when a config is loaded: the arguments are checked by Great Expectations "
        "when the `validate_data` task runs.",
    )
    def _known_expectations(cls, value: list[dict[str, dict[str, Any]]]) -> list[dict[str, dict[str, Any]]]:
        import difflib

        for i, item in enumerate(value):
            if len(item) != 1:
                raise FieldProblem(
                    f"[{i}]",
                    f"item {i} has {len(item)} keys ({', '.join(item)}); write one expectation per item, "
                    "e.g. '- expect_column_values_to_not_be_null: {column: customer_id}'",
                )
            (name,) = item
            if name not in GX_EXPECTATIONS:
                close = difflib.get_close_matches(name, GX_EXPECTATIONS, n=3)
                hint = (
                    f"did you mean {' or '.join(repr(c) for c in close)}?"
                    if close
                    else "see the core expectations in the Great Expectations gallery"
                )
                raise FieldProblem(f"[{i}]", f"{name!r} is not a Great Expectations core expectation; {hint}")
        return value

    @model_validator(mode="after")
    @rule(
        "training.primary_metric, gates.*.metric, deploy.canary.gates.label_metric.metric",
        "a metric of the config's `task` (see below).",
    )
    @rule("deploy.canary.gates.label_metric", "needs `data.entity_key` (labels are joined with the log on it).")
    @rule("training.stratify", "`true` is for classification only; a regression config must not set it to `true`.")
    @rule("data.positive_class", "classification only; at training it must be one of the target's labels.")
    @rule("drift.per_column", "its keys must be feature columns (listed under `data.features`).")
    @rule(
        "deploy.strategy",
        "`canary` and `shadow` need `scoring.source` (the trial runs on the scoring DAG's traffic); `canary` also "
        "needs `data.entity_key` (rows are routed by a stable hash of it).",
    )
    def _metrics_match_task(self) -> PipelineConfig:
        valid = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        names = ", ".join(valid)

        def check(metric: str | None, where: str) -> None:
            if metric is not None and metric not in valid:
                raise FieldProblem(where, f"{metric!r} is not a {self.task} metric; use one of {names}")

        check(self.training.primary_metric, "training.primary_metric")
        label_gate = self.deploy.canary.gates.label_metric
        if label_gate is not None:
            check(label_gate.metric, "deploy.canary.gates.label_metric.metric")
            if self.data.entity_key is None:
                raise FieldProblem(
                    "deploy.canary.gates.label_metric",
                    "label_metric joins the labels with the prediction log on data.entity_key, which is not set; set "
                    "data.entity_key, or remove label_metric",
                )
        for i, gate in enumerate(self.gates.metrics):
            check(gate.metric, f"gates.metrics[{i}].metric")
        if self.gates.champion is not None:
            check(self.gates.champion.metric, "gates.champion.metric")
        for i, fgate in enumerate(self.gates.fairness):
            check(fgate.metric, f"gates.fairness[{i}].metric")
        stratify_set = "stratify" in self.training.model_fields_set
        if self.task == "regression" and self.training.stratify and stratify_set:
            raise FieldProblem(
                "training.stratify",
                "stratify: true applies to classification only; remove it (or set false) for regression",
            )
        if self.task == "regression" and self.data.positive_class is not None:
            raise FieldProblem(
                "data.positive_class",
                f"positive_class {self.data.positive_class!r} applies to classification only; remove it for regression",
            )
        features = self.data.features.all
        for col in self.drift.per_column:
            if col not in features:
                raise FieldProblem(
                    f"drift.per_column.{col}",
                    f"{col!r} is not a feature; per_column takes feature columns: {', '.join(features)}",
                )
        strategy = self.deploy.strategy
        if strategy != "direct" and self.scoring.source is None:
            raise FieldProblem(
                "deploy.strategy",
                f"strategy {strategy} tries the new version on the scoring DAG's batches, but scoring.source is not "
                "set, so there is no scoring DAG; set scoring.source, or use strategy: direct",
            )
        if strategy == "canary" and self.data.entity_key is None:
            raise FieldProblem(
                "deploy.strategy",
                "strategy canary routes each row by a stable hash of its entity key, but data.entity_key is not set; "
                "set data.entity_key to the column that identifies a row (e.g. customer_id), or use strategy: shadow",
            )
        return self

    @model_validator(mode="after")
    @rule(
        "retention.prediction_log_days",
        "at least `drift.window_days`: the drift check reads that many days of the prediction log.",
    )
    def _retention_keeps_the_drift_window(self) -> PipelineConfig:
        if self.retention.prediction_log_days < self.drift.window_days:
            raise FieldProblem(
                "retention.prediction_log_days",
                f"prediction_log_days ({self.retention.prediction_log_days}) is shorter than drift.window_days "
                f"({self.drift.window_days}), so retention would remove days the drift check reads; set "
                f"retention.prediction_log_days to {self.drift.window_days} or more",
            )
        return self

    # -- derived values used by factories and operators -----------------------------------------------

    @property
    def primary_metric(self) -> str:
        if self.training.primary_metric:
            return self.training.primary_metric
        return "roc_auc" if self.task == "classification" else "rmse"

    @property
    def drift_asset_uri(self) -> str:
        return f"mlops://{self.model}/drift"

    @property
    def predictions_asset_uri(self) -> str:
        return f"mlops://{self.model}/predictions"

    @property
    def predictions_root(self) -> str:
        return self.scoring.output or f"predictions/{self.model}"

    def dag_id(self, kind: str) -> str:
        return f"{self.model}_{kind}"


__all__ = [
    "ALLOWED_MACROS",
    "ALL_METRICS",
    "CLASSIFICATION_METRICS",
    "CLASS_PATH_RE",
    "COLUMN_RE",
    "CRON_FIELD_RE",
    "CRON_PRESETS",
    "DATA_PATH_FIELDS",
    "DEFAULT_ESTIMATOR_MODULES",
    "METRIC_KINDS",
    "MODEL_NAME_RE",
    "REGRESSION_METRICS",
    "TEMPLATED_FIELDS",
    "AirflowConfig",
    "AlertingConfig",
    "ApprovalConfig",
    "ChampionGate",
    "Column",
    "ColumnDriftSettings",
    "CostConfig",
    "DataConfig",
    "DeployConfig",
    "DriftConfig",
    "DriftMethod",
    "EstimatorConfig",
    "FairnessGate",
    "FeaturesConfig",
    "FieldProblem",
    "GatesConfig",
    "IfUnavailable",
    "InputChecksConfig",
    "LatencyGate",
    "MetricGate",
    "NonNumericCheck",
    "PipelineConfig",
    "PredictionShiftGate",
    "RetentionConfig",
    "ScheduleConfig",
    "ScoringConfig",
    "Severity",
    "TrainingConfig",
    "TrialConfig",
    "TrialGates",
    "UnseenCategoriesCheck",
    "data_path_problem",
    "find_templates",
    "is_s3",
    "local_root",
    "template_problem",
    "under_root",
]
