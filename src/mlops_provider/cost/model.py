"""The cost model: a run's compute and storage in USD, and the month's projection against the budget.

Pure arithmetic on plain values, so that it can be checked by hand (tests/unit/test_cost.py):

* compute = the run's task seconds (wall clock of every task of ours, summed) / 3600 * the hourly rate;
* storage = the bytes the run left behind (its MLflow artifacts, its training snapshot, its prediction-log
  partition, its drift report) / 2^30 * the rate per GB-month: what keeping them costs for a month;
* per 1,000 predictions (scoring runs) = total / predictions * 1000;
* projection = month-to-date / days elapsed * days in the month, the days elapsed counted as at least one so
  that a month's first run does not project a month of its first hour.
"""

from __future__ import annotations

import calendar
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.cost.rates import INSTANCE_HOURLY_USD, SOURCE, STORAGE_USD_PER_GB_MONTH

if TYPE_CHECKING:
    from mlops_provider.config.schema_cost import CostConfig

GIB = 1024**3


@dataclass(frozen=True)
class Rates:
    hourly_usd: float
    storage_usd_per_gb_month: float
    source: str


def rates(config: CostConfig) -> Rates:
    """The rates a config asks for: its own where set, else the shipped table's."""
    hourly = config.hourly_rate_usd
    storage = config.storage_usd_per_gb_month
    parts = []
    if hourly is None:
        hourly = INSTANCE_HOURLY_USD[config.instance_type]  # the config validated that it is there
        parts.append(f"{config.instance_type} on demand")
    else:
        parts.append(f"{config.instance_type} {config.pricing.replace('_', '-')} at cost.hourly_rate_usd")
    if storage is None:
        storage = STORAGE_USD_PER_GB_MONTH
    else:
        parts.append("storage at cost.storage_usd_per_gb_month")
    uses_table = config.hourly_rate_usd is None or config.storage_usd_per_gb_month is None
    return Rates(float(hourly), float(storage), "; ".join(parts) + (f" ({SOURCE})" if uses_table else ""))


@dataclass(frozen=True)
class RunCost:
    tasks: int
    task_seconds: float
    cpu_seconds: float
    peak_memory_mb: float
    stored_bytes: int
    predictions: int | None
    compute_usd: float
    storage_usd: float
    total_usd: float
    per_1k_predictions_usd: float | None

    def metrics(self) -> dict[str, float]:
        """The MLflow metrics of a cost report."""
        out = {
            "cost_usd_total": self.total_usd,
            "cost_usd_compute": self.compute_usd,
            "cost_usd_storage": self.storage_usd,
            "cost_task_seconds": self.task_seconds,
            "cost_cpu_seconds": self.cpu_seconds,
            "cost_peak_memory_mb": self.peak_memory_mb,
            "cost_stored_bytes": float(self.stored_bytes),
        }
        if self.predictions is not None:
            out["cost_predictions"] = float(self.predictions)
        if self.per_1k_predictions_usd is not None:
            out["cost_usd_per_1k_predictions"] = self.per_1k_predictions_usd
        return out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_cost(usages: list[dict[str, Any]], stored_bytes: int, predictions: int | None, rate: Rates) -> RunCost:
    """What one DAG run cost, from its tasks' readings (``wall_seconds``, ``cpu_seconds``, ``peak_memory_mb``)."""
    seconds = sum(float(u.get("wall_seconds") or 0) for u in usages)
    compute = seconds / 3600 * rate.hourly_usd
    storage = stored_bytes / GIB * rate.storage_usd_per_gb_month
    total = compute + storage
    per_1k = total / predictions * 1000 if predictions else None
    return RunCost(
        tasks=len(usages),
        task_seconds=round(seconds, 3),
        cpu_seconds=round(sum(float(u.get("cpu_seconds") or 0) for u in usages), 3),
        peak_memory_mb=max((float(u.get("peak_memory_mb") or 0) for u in usages), default=0.0),
        stored_bytes=int(stored_bytes),
        predictions=predictions,
        compute_usd=compute,
        storage_usd=storage,
        total_usd=total,
        per_1k_predictions_usd=per_1k,
    )


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def projection(month_to_date: float, now: datetime) -> float:
    """The month's spend if it goes on as it went so far (see the module docstring)."""
    elapsed_days = max((now - month_start(now)).total_seconds() / 86400, 1.0)
    days = calendar.monthrange(now.year, now.month)[1]
    return month_to_date / elapsed_days * days


@dataclass(frozen=True)
class BudgetVerdict:
    """``level``: None (within budget or no budget), ``over`` (projection above the budget) or ``hold`` (above
    ``hold_retrain_at`` * the budget: drift-triggered retraining is held)."""

    month: str
    month_to_date: float
    projected: float
    budget: float | None
    hold_at: float
    level: str | None
    estimated: float = 0.0
    actual: float | None = None


def budget_verdict(
    config: CostConfig, month_to_date: float, now: datetime, actual: float | None = None
) -> BudgetVerdict:
    """``month_to_date``: the month's estimated spend (the cost reports); ``actual``: what AWS Cost Explorer
    billed for the model's tagged resources, when asked. The larger of the two is projected: the estimate misses
    what the tasks do not measure, the bill lags by up to a day."""
    estimated = month_to_date
    month_to_date = max(estimated, actual) if actual is not None else estimated
    projected = projection(month_to_date, now)
    budget = config.monthly_budget_usd
    level = None
    if budget is not None and projected > budget:
        level = "hold" if projected > budget * config.hold_retrain_at else "over"
    return BudgetVerdict(
        now.strftime("%Y-%m"), month_to_date, projected, budget, config.hold_retrain_at, level, estimated, actual
    )
