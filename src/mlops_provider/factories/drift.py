"""``PipelineConfig`` -> the ``<model>_drift`` DAG (built when the model has scoring configured)."""

from __future__ import annotations

from airflow.sdk import DAG, CronTriggerTimetable

from mlops_provider.config import PipelineConfig
from mlops_provider.factories.common import default_args, drift_asset, resolved_config_md
from mlops_provider.factories.training import start_date
from mlops_provider.operators.drift import DriftCheckOperator, EmitDriftEventOperator


def build_drift_dag(config: PipelineConfig, *, source: str | None = None) -> DAG | None:
    """Return ``<model>_drift``: check drift of the served window, then emit the drift Asset if due."""
    if config.scoring.source is None:
        return None
    cron = config.drift.schedule
    with DAG(
        dag_id=config.dag_id("drift"),
        description=f"Drift of {config.model}'s served features and predictions vs the champion's training data",
        schedule=CronTriggerTimetable(cron, timezone="UTC") if cron else None,
        start_date=start_date(config),
        catchup=config.schedule.catchup,
        max_active_runs=1,
        default_args=default_args(config),
        tags=sorted({"mlops", config.model, "drift", *config.airflow.tags}),
        doc_md=(
            f"### {config.model}: drift\n\nCompares the last {config.drift.window_days} day(s) of the prediction "
            f"log with the champion's training snapshot; at a drift share >= {config.drift.drift_share} it emits "
            f"`{config.drift_asset_uri}`, which starts `{config.dag_id('training')}` (brakes: cooldown "
            f"{config.drift.cooldown_hours:g} h, one retrain per episode, circuit breaker after "
            f"{config.drift.max_consecutive_retrains}).\n\n" + resolved_config_md(config, source)
        ),
    ) as dag:
        check = DriftCheckOperator(task_id="check_drift", config=config, prediction_log=config.predictions_root)
        emit = EmitDriftEventOperator(
            task_id="emit_drift_event", config=config, check=check.output, outlets=[drift_asset(config)]
        )
        check >> emit
    return dag
