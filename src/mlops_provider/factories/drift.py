"""``PipelineConfig`` -> the ``<model>_drift`` DAG (built when the model has scoring configured)."""

from __future__ import annotations

from airflow.sdk import DAG

from mlops_provider.config import PipelineConfig
from mlops_provider.factories.common import add_cost_report, cron_timetable, drift_asset, model_dag, resolved_config_md
from mlops_provider.operators.drift import DriftCheckOperator, EmitDriftEventOperator, FeatureDriftOperator


def build_drift_dag(config: PipelineConfig, *, source: str | None = None) -> DAG | None:
    """Return ``<model>_drift``: check drift of the served window, then emit the drift Asset if due."""
    if config.scoring.source is None:
        return None
    cron = config.drift.schedule
    with model_dag(
        config,
        "drift",
        description=f"Drift of {config.model}'s served features and predictions vs the champion's training data",
        schedule=cron_timetable(cron) if cron else None,
        doc_md=(
            f"### {config.model}: drift\n\nCompares the last {config.drift.window_days} day(s) of the prediction "
            f"log with the champion's training snapshot; at a drift share >= {config.drift.drift_share} it emits "
            f"`{config.drift_asset_uri}`, which starts `{config.dag_id('training')}` (brakes: cooldown "
            f"{config.drift.cooldown_hours:g} h, one retrain per episode, circuit breaker after "
            f"{config.drift.max_consecutive_retrains}).\n\n" + resolved_config_md(config, source)
        ),
    ) as dag:
        size = config.drift.column_group_size
        feature_results = None
        if size is not None:
            features = config.data.features.all
            groups = [features[i : i + size] for i in range(0, len(features), size)]
            feature_results = FeatureDriftOperator.partial(
                task_id="feature_drift", config=config, prediction_log=config.predictions_root
            ).expand(columns=groups)
        check = DriftCheckOperator(
            task_id="check_drift",
            config=config,
            prediction_log=config.predictions_root,
            feature_results=feature_results.output if feature_results is not None else None,
        )
        emit = EmitDriftEventOperator(
            task_id="emit_drift_event", config=config, check=check.output, outlets=[drift_asset(config)]
        )
        check >> emit
        add_cost_report(dag, config)
    return dag
