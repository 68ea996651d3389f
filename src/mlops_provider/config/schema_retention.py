"""The ``retention:`` section: how long model versions, prediction logs and drift reports are kept.

The ``<model>_retention`` DAG applies it (docs/retention.md). Nothing here imports Airflow or a heavy library.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from mlops_provider.config.rules import rule
from mlops_provider.config.schema_base import FieldProblem, Section, check_cron


class RetentionConfig(Section):
    """What the retention DAG archives and deletes, and when it runs (docs/retention.md)."""

    schedule: str | None = Field(
        default="0 4 * * 0",
        description="Cron of the retention DAG (UTC); null: only when triggered by hand.",
    )
    keep_last: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="The newest this many versions are always kept, whatever their age.",
    )
    archive_after_days: int = Field(
        default=30,
        ge=1,
        description="A version older than this (days since it was registered) that no alias points at, not "
        "among the newest keep_last and not made by a DAG run still running is archived: its model files are "
        "copied to archive_root and the originals removed.",
    )
    delete_after_days: int = Field(
        default=90,
        ge=2,
        description="An archived version older than this (days since it was registered, like "
        "archive_after_days) is deleted from the registry, with its archive copy. A version is always archived "
        "by one run before a later run deletes it.",
    )
    archive_root: str | None = Field(
        default=None,
        description="Folder or s3:// prefix of the archive copies; default <snapshot root or MLflow artifact "
        "root>/archive/<model>. Each version's copy is under v<version>/.",
        examples=["s3://ml-archive/churn"],
    )
    prediction_log_days: int = Field(
        default=180,
        ge=1,
        description="Prediction log partitions (scoring_date=YYYY-MM-DD) older than this many days are removed.",
    )
    drift_report_days: int = Field(
        default=90,
        ge=1,
        description="Drift-check runs of the <model>-monitoring experiment older than this many days are deleted.",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return check_cron(value)

    @field_validator("archive_root")
    @classmethod
    def _scheme(cls, value: str | None) -> str | None:
        if value is not None and "://" in value and not value.startswith(("s3://", "file://")):
            raise ValueError(f"unsupported scheme in {value!r}; use a local path, file:// or s3:// URI")
        return value

    @model_validator(mode="after")
    @rule(
        "retention.delete_after_days",
        "greater than `retention.archive_after_days` (both count days since the version was registered).",
    )
    def _delete_after_archive(self) -> RetentionConfig:
        if self.delete_after_days <= self.archive_after_days:
            raise FieldProblem(
                "delete_after_days",
                f"delete_after_days ({self.delete_after_days}) must be greater than archive_after_days "
                f"({self.archive_after_days}): a version is archived before it is deleted; raise "
                "retention.delete_after_days or lower retention.archive_after_days",
            )
        return self


__all__ = ["RetentionConfig"]
