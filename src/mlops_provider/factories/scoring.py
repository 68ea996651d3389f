"""``PipelineConfig`` -> the ``<model>_scoring`` DAG (built only when ``scoring.source`` is set)."""

from __future__ import annotations

from airflow.sdk import DAG

from mlops_provider.config import PipelineConfig
from mlops_provider.factories.common import (
    add_cost_report,
    cron_timetable,
    model_dag,
    predictions_asset,
    resolved_config_md,
)
from mlops_provider.operators.scoring import ScoreBatchOperator


def build_scoring_dag(config: PipelineConfig, *, source: str | None = None) -> DAG | None:
    """Return ``<model>_scoring``: score the day's current data with the champion, log predictions."""
    if config.scoring.source is None:
        return None
    cron = config.scoring.schedule
    with model_dag(
        config,
        "scoring",
        description=f"Batch predictions of {config.model} with the champion",
        schedule=cron_timetable(cron) if cron else None,
        doc_md=(
            f"### {config.model}: scoring\n\nScores `{config.scoring.source}` with "
            f"`models:/{config.model}@champion` and writes the prediction log under "
            f"`{config.predictions_root}/scoring_date=<ds>/`; emits `{config.predictions_asset_uri}`.\n\n"
            + resolved_config_md(config, source)
        ),
    ) as dag:
        ScoreBatchOperator(
            task_id="score",
            config=config,
            source=config.scoring.source,
            prediction_log=config.predictions_root,
            outlets=[predictions_asset(config)],
        )
        add_cost_report(dag, config)
    return dag
