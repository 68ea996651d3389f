"""``PipelineConfig`` -> the ``<model>_training`` DAG. Pure wiring: no I/O, no heavy imports."""

from __future__ import annotations

from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, CronTriggerTimetable

from mlops_provider.config import PipelineConfig
from mlops_provider.factories.common import drift_asset, model_dag, resolved_config_md
from mlops_provider.operators.data import ValidateDataOperator
from mlops_provider.operators.gates import EvaluateGatesOperator
from mlops_provider.operators.registry import PromoteModelOperator, RegisterModelOperator
from mlops_provider.operators.training import TrainModelOperator


def _schedule(config: PipelineConfig) -> AssetOrTimeSchedule | Asset:
    asset = drift_asset(config)
    cron = config.schedule.training
    if cron is None:
        return asset
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(cron, timezone="UTC"), assets=[asset])


def _doc_md(config: PipelineConfig, source: str | None) -> str:
    when = f"cron `{config.schedule.training}` (UTC)" if config.schedule.training else "no cron"
    return (
        f"### {config.model}: training\n\n{config.description}\n\n"
        f"Runs on {when} and on every event of the Asset `{config.drift_asset_uri}`.\n"
        "Tasks: validate data (Great Expectations) → train (scikit-learn, MLflow run) → evaluate gates "
        "→ register (alias `challenger`) → promote (alias `champion`).\n\n" + resolved_config_md(config, source)
    )


def build_training_dag(config: PipelineConfig, *, source: str | None = None) -> DAG:
    """Return the plain ``airflow.sdk.DAG`` ``<model>_training`` for one model config."""
    with model_dag(
        config,
        "training",
        description=f"Train, gate, register and promote {config.model}",
        schedule=_schedule(config),
        doc_md=_doc_md(config, source),
    ) as dag:
        validate = ValidateDataOperator(task_id="validate_data", config=config)
        train = TrainModelOperator(task_id="train", config=config, dataset=validate.output)
        gates = EvaluateGatesOperator(task_id="evaluate_gates", config=config, training=train.output)
        register = RegisterModelOperator(task_id="register", config=config, training=train.output, gates=gates.output)
        promote = PromoteModelOperator(task_id="promote", config=config, registration=register.output)
        validate >> train >> gates >> register >> promote
    return dag
