"""The ``gates`` section: what a new model must pass before it is registered."""

from __future__ import annotations

from pydantic import Field, model_validator

from mlops_provider.config.metrics import ALL_METRICS
from mlops_provider.config.rules import rule
from mlops_provider.config.schema_base import (
    IF_UNAVAILABLE,
    SEVERITY,
    Column,
    FieldProblem,
    IfUnavailable,
    Section,
    Severity,
)


class MetricGate(Section):
    """A bound on one holdout metric of the new model."""

    metric: str = Field(description="Holdout metric name.", examples=["roc_auc"])
    min: float | None = Field(default=None, description="Fail when the metric is below this.")
    max: float | None = Field(default=None, description="Fail when the metric is above this.")
    severity: Severity = Field(default="fail", description=SEVERITY)
    if_unavailable: IfUnavailable = Field(default="fail", description=IF_UNAVAILABLE)

    @model_validator(mode="after")
    @rule("gates.metrics[]", "at least one of `min` and `max`, and `min <= max`.")
    def _bound(self) -> MetricGate:
        if self.min is None and self.max is None:
            higher = ALL_METRICS.get(self.metric, True)
            example = "min: 0.75 (higher is better)" if higher else "max: 0.5 (lower is better)"
            raise FieldProblem(
                "",
                f"gate on {self.metric!r} has neither min nor max; set at least one, e.g. {example}",
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise FieldProblem(
                "min",
                f"min {self.min} is greater than max {self.max}, so no value could pass; "
                "lower min or raise max (min <= max)",
            )
        return self


class ChampionGate(Section):
    """The new model against the current champion, both scored on the new model's holdout."""

    metric: str | None = Field(default=None, description="Metric compared; default training.primary_metric.")
    max_drop: float = Field(ge=0.0, description="Largest allowed worsening against the champion on the same holdout.")
    severity: Severity = Field(default="fail", description=SEVERITY)
    if_unavailable: IfUnavailable = Field(default="fail", description=IF_UNAVAILABLE)


class LatencyGate(Section):
    """Prediction latency of the new model on holdout rows (predict_proba when it has one): the p95 of the CPU
    time of each call, with prediction single-threaded, so other processes on the worker do not change it.
    Warm-up calls first; a measurement over the limit is taken again (up to 3 rounds) and the best round counts."""

    p95_ms_per_row: float | None = Field(
        default=None, gt=0, description="Limit on the p95 of one single-row predict call (ms of CPU time)."
    )
    p95_ms_per_batch: float | None = Field(
        default=None, gt=0, description="Limit on the p95 of one predict call on batch_size rows (ms of CPU time)."
    )
    batch_size: int = Field(default=1000, ge=1, le=1_000_000, description="Rows per batch for p95_ms_per_batch.")
    repeats: int = Field(
        default=100,
        ge=5,
        le=10_000,
        description="Timed single-row calls per round; fewer than 50 count as 50 (a p95 of fewer calls is close to "
        "their maximum). The batch measurement makes repeats/5 calls per round (at least 20).",
    )
    severity: Severity = Field(default="fail", description=SEVERITY)

    @model_validator(mode="after")
    @rule("gates.latency", "at least one of `p95_ms_per_row` and `p95_ms_per_batch`.")
    def _bound(self) -> LatencyGate:
        if self.p95_ms_per_row is None and self.p95_ms_per_batch is None:
            raise ValueError(
                "latency gate has no threshold; set p95_ms_per_row (e.g. 25), p95_ms_per_batch "
                "(e.g. 250) or both, or remove gates.latency"
            )
        return self


class FairnessGate(Section):
    """The gap of one metric between the best and the worst group of a column, on the holdout."""

    slice: Column = Field(description="Column whose values define the groups.", examples=["region"])
    metric: str = Field(default="recall", description="Metric computed per group.")
    max_gap: float = Field(ge=0.0, description="Largest allowed gap between the best and worst group.")
    min_rows: int = Field(default=30, ge=1, description="Groups with fewer holdout rows are not compared.")
    severity: Severity = Field(default="fail", description=SEVERITY)
    if_unavailable: IfUnavailable = Field(default="fail", description=IF_UNAVAILABLE)


class GatesConfig(Section):
    """Checks a new model must pass before it is registered. No gates: every trained model is registered."""

    metrics: list[MetricGate] = Field(default_factory=list, description="Bounds on holdout metrics.")
    champion: ChampionGate | None = Field(
        default=None, description="Comparison with the current champion; null for none."
    )
    latency: LatencyGate | None = Field(default=None, description="Prediction latency limits; null for none.")
    fairness: list[FairnessGate] = Field(
        default_factory=list, description="Largest allowed metric gaps between groups."
    )
