"""The ``data`` section: where the labeled training data lives and what its columns mean."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mlops_provider.config.data_paths import check_data_path
from mlops_provider.config.rules import rule
from mlops_provider.config.schema_base import Column, FieldProblem, Section


class FeaturesConfig(Section):
    """Feature columns by kind: numeric ones are median-imputed and scaled, categorical ones one-hot encoded."""

    numeric: list[Column] = Field(
        default_factory=list, description="Numeric feature columns.", examples=[["tenure_months"]]
    )
    categorical: list[Column] = Field(
        default_factory=list, description="Categorical feature columns.", examples=[["plan"]]
    )

    @model_validator(mode="after")
    @rule("data.features", "at least one column in `numeric` or `categorical`; a column appears once across both.")
    def _non_empty_and_unique(self) -> FeaturesConfig:
        if not self.numeric and not self.categorical:
            raise FieldProblem(
                "",
                "no feature columns; list at least one column under data.features.numeric or "
                "data.features.categorical, e.g. 'numeric: [tenure_months]'",
            )
        seen: dict[str, str] = {}
        for where, col in self.located():
            if col in seen:
                raise FieldProblem(
                    where,
                    f"column {col!r} is listed twice (first as {seen[col]}); each feature belongs to exactly "
                    "one of numeric or categorical, remove one",
                )
            seen[col] = where
        return self

    def located(self) -> list[tuple[str, str]]:
        """``(path relative to features, column)`` for every feature, in order."""
        return [
            *((f"numeric[{i}]", c) for i, c in enumerate(self.numeric)),
            *((f"categorical[{i}]", c) for i, c in enumerate(self.categorical)),
        ]

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]


class DataConfig(Section):
    """Where the labeled training data lives and what its columns mean."""

    source: str = Field(
        min_length=1,
        examples=["churn/labeled", "s3://ml-data/churn/labeled"],
        description="Labeled training data: a file, or a folder of csv/parquet partitions. A relative path "
        "is resolved against the [mlops] data_root Airflow option and must stay inside it; an absolute path, "
        "file:// or s3:// URI must lie under data_root or a root in [mlops] allowed_data_roots. s3:// URIs are "
        "read through the aws connection. Not templated.",
    )
    format: Literal["csv", "parquet"] = Field(default="parquet", description="File format of the source.")
    target: Column = Field(description="The label column.", examples=["churned"])
    features: FeaturesConfig = Field(
        description="Feature columns by kind.",
        examples=[{"numeric": ["tenure_months"], "categorical": ["plan"]}],
    )
    time_column: Column | None = Field(default=None, description="Event time column; needed for window_days.")
    entity_key: Column | None = Field(default=None, description="Entity id column (never a feature).")
    positive_class: StrictBool | StrictInt | StrictFloat | StrictStr | None = Field(
        default=None,
        examples=["wet", 1, True],
        description="Positive class of a binary classification target (a single label value). Null infers it: "
        "the one yes-like label (1, True, yes, true, positive, pos, y; case-insensitive), else the minority class. "
        "At training it must be one of the target's labels.",
    )
    window_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Train on the last N days of labeled data, counted back from the newest time_column "
        "value in the source. Null trains on everything.",
    )
    recent_partitions: int = Field(
        default=1,
        ge=0,
        le=1000,
        description="Built-in check before training: a feature with no value in the newest N partitions of the "
        "training window (the column absent from their files, or empty) stops the run, as its feed has probably "
        "stopped. A partition is the folder holding files under data.source (e.g. date=2026-07-30/), or a file "
        "directly in it; partitions are ordered by the newest time_column value of their rows in the window "
        "(without time_column, by path). 0 turns this check off. The other built-in checks (a feature with no "
        "value in the whole window, a target with empty values) are always on.",
    )

    @field_validator("positive_class", mode="before")
    @classmethod
    def _scalar_label(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str | bool | int | float):
            raise ValueError(
                f"positive_class must be one label value (a string, number or boolean), not a "
                f"{type(value).__name__}; e.g. 'positive_class: wet', or remove it to infer the positive class"
            )
        return value

    @field_validator("source")
    @classmethod
    def _source_scheme(cls, value: str, info: ValidationInfo) -> str:
        if "://" in value and not value.startswith(("s3://", "file://")):
            scheme = value.split("://", 1)[0]
            raise ValueError(f"unsupported scheme {scheme!r} in {value!r}; use a local path, file:// or s3:// URI")
        check_data_path(value, info)
        return value

    @model_validator(mode="after")
    @rule("data.target, data.entity_key, data.time_column", "none of them may also be a feature (leakage).")
    @rule("data.window_days", "needs `data.time_column`.")
    def _columns_consistent(self) -> DataConfig:
        located = self.features.located()
        for name, col in (
            ("target", self.target),
            ("entity_key", self.entity_key),
            ("time_column", self.time_column),
        ):
            where = next((w for w, c in located if c == col), None)
            if col is not None and where is not None:
                raise FieldProblem(
                    f"features.{where}",
                    f"column {col!r} is the data.{name} and must not also be a feature (leakage); "
                    f"remove it from data.features.{where.split('[')[0]}",
                )
        if self.window_days is not None and self.time_column is None:
            raise FieldProblem(
                "window_days",
                f"window_days {self.window_days} needs data.time_column (the event time column, e.g. "
                "'time_column: event_date') to know which rows fall in the window; set it, or remove "
                "window_days to train on all rows",
            )
        return self
