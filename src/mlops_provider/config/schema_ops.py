"""The operating sections: schedule, alerting, Airflow settings, batch scoring, drift."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from mlops_provider.config.data_paths import check_data_path
from mlops_provider.config.schema_base import Section, Severity, check_cron
from mlops_provider.config.templates import ALLOWED_MACROS


class ScheduleConfig(Section):
    """When the DAGs run. Times are UTC."""

    training: str | None = Field(
        default="0 2 * * *",
        description="Cron for the nightly training run (UTC); null to train only on drift or by hand. "
        "The training DAG also runs on every event of the model's drift Asset.",
    )
    start_date: date | None = Field(
        default=None,
        description="First date the schedule applies to; null (default) waits for the next cron time "
        "after the DAG is unpaused instead of running the most recent one at once.",
    )
    catchup: bool = Field(default=False, description="Run missed intervals since start_date.")

    @field_validator("training")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return check_cron(value)


class AlertingConfig(Section):
    """Where operational alerts go (docs/alerts.md)."""

    slack_conn_id: str | None = Field(
        default="slack_mlops",
        description="Airflow connection id of a Slack incoming webhook. When the connection does not "
        "exist, alerts go to the task log and the local outbox file.",
    )


class AirflowConfig(Section):
    """Airflow settings of the model's DAGs."""

    retries: int = Field(
        default=1, ge=0, le=20, description="Task retries (failed data validation and failed gates are never retried)."
    )
    retry_delay_minutes: float = Field(default=5.0, ge=0, le=24 * 60, description="Wait before the first retry.")
    retry_backoff: float = Field(
        default=0,
        ge=0,
        le=10,
        description="Multiplier of the wait after each further retry (Airflow's retry_exponential_backoff): 2 "
        "waits retry_delay_minutes, then twice, then four times as long (with jitter, at most Airflow's "
        "[core] max_retry_delay); 0 waits retry_delay_minutes every time. For outages of a service (MLflow, "
        "S3) that last longer than a first retry.",
    )
    tags: list[str] = Field(default_factory=list, description="Extra DAG tags.", examples=[["churn"]])


_INPUT_CHECK_SEVERITY = (
    "warn scores the batch and logs the breach; fail stops the task before anything is written to the "
    "prediction log (not retried)."
)
_MAX_RATE = (
    "Largest allowed share (0-1) of the batch's rows with such a value, per feature column; above it the "
    "check breaks. 0: any single value breaks it; 1: never."
)


class UnseenCategoriesCheck(Section):
    """Values of a categorical feature the champion never saw in training: its fitted one-hot encoder ignores
    them, so such a row scores as 'none of the known categories'. Nulls are not counted."""

    max_rate: float = Field(default=0.05, ge=0.0, le=1.0, description=_MAX_RATE)
    severity: Severity = Field(default="warn", description=_INPUT_CHECK_SEVERITY)


class NonNumericCheck(Section):
    """Values of a numeric feature that are text but not a number (e.g. 'n/a', 'twelve'): the model would see
    them as missing and impute them. Nulls and blank text are not counted."""

    max_rate: float = Field(default=0.0, ge=0.0, le=1.0, description=_MAX_RATE)
    severity: Severity = Field(default="warn", description=_INPUT_CHECK_SEVERITY)


class InputChecksConfig(Section):
    """Checks of each batch against what the champion was trained on, before it is scored. The counts are always
    recorded (task log, return value, prediction log); the bounds decide between a warning and a failed task."""

    unseen_categories: UnseenCategoriesCheck = Field(
        default_factory=UnseenCategoriesCheck, description="Categorical values the champion never saw in training."
    )
    non_numeric: NonNumericCheck = Field(
        default_factory=NonNumericCheck, description="Text that is not a number in numeric features."
    )


class ScoringConfig(Section):
    """Batch scoring with the champion: the <model>_scoring DAG exists when ``source`` is set."""

    source: str | None = Field(
        default=None,
        description="Current (unlabeled) data to score, templated by the run's date, e.g. "
        "'churn/current/{{ ds }}.parquet'; the only config field that may use the date macros: "
        + ", ".join(ALLOWED_MACROS)
        + ". Relative paths are taken from [mlops] data_root and must stay inside it; s3:// works too, "
        "under data_root or a root in [mlops] allowed_data_roots.",
        examples=["churn/current/{{ ds }}.parquet"],
    )
    format: Literal["csv", "parquet"] = Field(default="parquet", description="File format of the source.")
    schedule: str | None = Field(
        default="0 6 * * *", description="Cron of the scoring DAG (UTC); null to score only when triggered."
    )
    output: str | None = Field(
        default=None,
        description="Root of the prediction log (parquet partitioned by scoring_date=YYYY-MM-DD, readable "
        "with pandas.read_parquet(<root>)); default 'predictions/<model>' under [mlops] data_root. Same path "
        "rules as scoring.source; not templated.",
    )
    input_checks: InputChecksConfig = Field(
        default_factory=InputChecksConfig,
        description="Unseen categories and non-numeric values in each batch: counted, logged, and "
        "warn or fail above a bound.",
        examples=[
            {
                "unseen_categories": {"max_rate": 0.05, "severity": "warn"},
                "non_numeric": {"max_rate": 0.0, "severity": "fail"},
            }
        ],
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return check_cron(value)

    @field_validator("source", "output")
    @classmethod
    def _scheme(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and "://" in value and not value.startswith(("s3://", "file://")):
            raise ValueError(f"unsupported scheme in {value!r}; use a local path, file:// or s3:// URI")
        return check_data_path(value, info)


DriftMethod = Literal["ks", "chisquare", "z", "wasserstein", "psi", "jensenshannon"]


class ColumnDriftSettings(Section):
    """Method and threshold for one column (Evidently's meaning of each)."""

    method: DriftMethod | None = Field(default=None, description="Statistical test or distance for this column.")
    threshold: float | None = Field(
        default=None,
        gt=0,
        description="p-value (ks, chisquare, z: drift below it) or distance (psi, "
        "wasserstein, jensenshannon: drift at or above it).",
    )


class DriftConfig(Section):
    """The <model>_drift DAG: Evidently-compatible drift of served features and predictions vs the champion."""

    schedule: str | None = Field(default="0 7 * * *", description="Cron of the drift check (UTC); null for manual.")
    window_days: int = Field(
        default=1, ge=1, le=90, description="Days of the prediction log compared, ending at the run's date."
    )
    method: DriftMethod | None = Field(
        default=None,
        description="Method for every feature; default Evidently's choice per column (by "
        "reference size and column kind).",
    )
    threshold: float | None = Field(
        default=None, gt=0, description="Threshold for every feature; default the method's Evidently default."
    )
    per_column: dict[str, ColumnDriftSettings] = Field(
        default_factory=dict, description="Method/threshold per feature column, overriding method/threshold."
    )
    drift_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Dataset drift when at least this share of features drift; that is what can trigger a retrain.",
    )
    prediction_method: DriftMethod | None = Field(default=None, description="Method for the prediction score.")
    prediction_threshold: float | None = Field(default=None, gt=0, description="Threshold for the prediction score.")
    cooldown_hours: float = Field(
        default=24,
        ge=0,
        le=24 * 90,
        description="No drift-triggered retrain within this many hours of the last training.",
    )
    max_consecutive_retrains: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Circuit breaker: after this many drift-triggered retrains in one "
        "episode that did not bring drift under the threshold, stop retraining and escalate to a human.",
    )
    report_rows: int = Field(
        default=50_000, ge=1000, le=1_000_000, description="Rows sampled (per side) into the Evidently HTML report."
    )
    report_columns: int | None = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Features shown in the Evidently HTML report: the drifted ones first (most drifted first), "
        "then the others in config order, up to this many. Evidently takes about 0.1 s per column on a core, "
        "the verdicts are computed for every feature whatever this says. null: every feature.",
    )
    min_rows: int = Field(default=200, ge=1, description="Fewer rows in the window than this: no verdict.")
    column_group_size: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="Wide tables: check the features in groups of this many "
        "columns, one mapped task per group (dynamic task mapping); null checks all in one task.",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return check_cron(value)
