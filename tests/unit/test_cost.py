"""The cost model against hand-computed figures, the rate table's use by configs, and the task meter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest


def cost_config(**values):
    from mlops_provider.config.schema_cost import CostConfig

    return CostConfig(**values)


def test_a_run_is_priced_as_task_hours_times_the_rate_plus_stored_gib_months():
    from mlops_provider.cost.model import rates, run_cost

    rate = rates(cost_config(instance_type="m5.xlarge"))
    usages = [
        {"wall_seconds": 1800.0, "cpu_seconds": 900.0, "peak_memory_mb": 512.0},
        {"wall_seconds": 1800.0, "cpu_seconds": 100.0, "peak_memory_mb": 1024.0},
    ]

    cost = run_cost(usages, stored_bytes=10 * 1024**3, predictions=50_000, rate=rate)

    # 3,600 task seconds = 1 h at $0.192 (m5.xlarge on demand); 10 GiB at $0.023 per GB-month
    assert cost.compute_usd == pytest.approx(0.192)
    assert cost.storage_usd == pytest.approx(0.23)
    assert cost.total_usd == pytest.approx(0.422)
    assert cost.per_1k_predictions_usd == pytest.approx(0.422 / 50)
    assert (cost.tasks, cost.task_seconds, cost.cpu_seconds, cost.peak_memory_mb) == (2, 3600.0, 1000.0, 1024.0)
    assert cost.metrics()["cost_usd_total"] == pytest.approx(0.422)
    assert "m5.xlarge on demand" in rate.source and "2026-11-01" in rate.source


def test_the_configs_own_rates_win_and_a_run_without_predictions_has_no_per_1k_figure():
    from mlops_provider.cost.model import rates, run_cost

    rate = rates(cost_config(instance_type="x9.custom", hourly_rate_usd=0.5, storage_usd_per_gb_month=0.05))
    cost = run_cost([{"wall_seconds": 720.0}], stored_bytes=512 * 1024**2, predictions=None, rate=rate)

    assert cost.compute_usd == pytest.approx(0.1)  # 0.2 h x $0.5
    assert cost.storage_usd == pytest.approx(0.025)  # 0.5 GiB x $0.05
    assert cost.per_1k_predictions_usd is None and "cost_usd_per_1k_predictions" not in cost.metrics()
    assert rate.source == "x9.custom on-demand at cost.hourly_rate_usd; storage at cost.storage_usd_per_gb_month"


@pytest.mark.parametrize(
    ("now", "month_to_date", "projected"),
    [
        (datetime(2026, 11, 16, tzinfo=UTC), 100.0, 200.0),  # 15 days of 30
        (datetime(2026, 11, 1, 6, tzinfo=UTC), 10.0, 300.0),  # a quarter day counts as one day
        (datetime(2026, 2, 15, tzinfo=UTC), 70.0, 140.0),  # 14 days of 28
    ],
)
def test_the_projection_runs_the_month_to_date_on_to_the_months_end(now, month_to_date, projected):
    from mlops_provider.cost.model import projection

    assert projection(month_to_date, now) == pytest.approx(projected)


@pytest.mark.parametrize(("month_to_date", "level"), [(70.0, None), (100.0, "over"), (160.0, "hold")])
def test_the_budget_verdict_is_over_above_the_budget_and_hold_above_its_multiple(month_to_date, level):
    from mlops_provider.cost.model import budget_verdict

    config = cost_config(monthly_budget_usd=150.0, hold_retrain_at=2.0)
    verdict = budget_verdict(config, month_to_date, datetime(2026, 11, 16, tzinfo=UTC))  # x2 to the month's end

    assert verdict.level == level and verdict.month == "2026-11"
    assert verdict.projected == pytest.approx(month_to_date * 2)


def test_without_a_budget_there_is_no_verdict():
    from mlops_provider.cost.model import budget_verdict

    assert budget_verdict(cost_config(), 1e6, datetime(2026, 11, 16, tzinfo=UTC)).level is None


def test_the_meter_reads_the_seconds_and_memory_this_process_used():
    from mlops_provider.cost.usage import Meter

    meter = Meter.start()
    ballast = bytearray(64 * 1024 * 1024)  # touch 64 MiB
    total = sum(i * i for i in range(2_000_000))
    reading = meter.reading()

    assert total > 0 and len(ballast) > 0
    assert reading["cpu_seconds"] > 0.05
    assert reading["wall_seconds"] >= reading["cpu_seconds"] * 0.5
    assert reading["peak_memory_mb"] > 64
