"""The ``cost:`` section: the instance the tasks run on, storage, and the model's monthly budget.

The rates themselves live in :mod:`mlops_provider.cost.rates` (a table shipped with the package, its source and
date in docs/cost.md); this section names an instance type from it, or sets the rates outright. Nothing here
imports Airflow or a heavy library.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlops_provider.config.rules import rule
from mlops_provider.config.schema_base import FieldProblem, Section
from mlops_provider.cost.rates import INSTANCE_HOURLY_USD


class CostConfig(Section):
    """What a run costs, and the model's monthly budget (docs/cost.md)."""

    instance_type: str = Field(
        default="m5.large",
        description="Instance type the model's tasks run on; its on-demand hourly rate comes from the rate table "
        "shipped with the package (docs/cost.md) unless hourly_rate_usd is set.",
        examples=["m5.xlarge"],
    )
    pricing: Literal["on_demand", "spot"] = Field(
        default="on_demand",
        description="on_demand: the table's rate; spot: spot prices change by the hour and zone, so "
        "hourly_rate_usd must say what you pay.",
    )
    hourly_rate_usd: float | None = Field(
        default=None, gt=0, le=1000, description="USD per instance hour; overrides the rate table."
    )
    storage_usd_per_gb_month: float | None = Field(
        default=None,
        gt=0,
        le=10,
        description="USD per GB-month of stored artifacts, snapshots and prediction logs; default the table's "
        "S3 Standard rate.",
    )
    monthly_budget_usd: float | None = Field(
        default=None,
        gt=0,
        description="Monthly budget of the model's pipelines; null: no budget. A cost report whose month-to-date "
        "spend, projected to the month's end, is above it sends a budget alert.",
    )
    hold_retrain_at: float = Field(
        default=2.0,
        ge=1.0,
        le=100.0,
        description="A projection above this multiple of the budget also holds drift-triggered retraining until "
        "a person acts (an escalation, as the circuit breaker).",
    )

    cost_explorer_tag: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Cost allocation tag key whose value is the model name on the model's AWS resources; when "
        "set, each cost report also asks AWS Cost Explorer (through the tasks' AWS connection) for the month's "
        "actual spend of those resources, and the budget uses the larger of actual and estimated.",
        examples=["mlops:model"],
    )

    @model_validator(mode="after")
    @rule(
        "cost.instance_type, cost.pricing",
        "an instance type of the shipped rate table (docs/cost.md), or any name with `hourly_rate_usd` set; "
        "`pricing: spot` needs `hourly_rate_usd`.",
    )
    def _rate_known(self) -> CostConfig:
        if self.hourly_rate_usd is not None:
            return self
        if self.pricing == "spot":
            raise FieldProblem(
                "hourly_rate_usd",
                "pricing: spot needs cost.hourly_rate_usd (spot prices change by the hour and zone, so no table "
                "has yours); set it to the price you pay, or use pricing: on_demand",
            )
        if self.instance_type not in INSTANCE_HOURLY_USD:
            known = ", ".join(sorted(INSTANCE_HOURLY_USD))
            raise FieldProblem(
                "instance_type",
                f"instance type {self.instance_type!r} is not in the rate table ({known}); set "
                "cost.hourly_rate_usd to its hourly price, or use one of these",
            )
        return self


__all__ = ["CostConfig"]
