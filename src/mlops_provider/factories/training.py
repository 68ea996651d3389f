"""``PipelineConfig`` -> the ``<model>_training`` DAG. Pure wiring: no I/O, no heavy imports."""

from __future__ import annotations

from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, BaseOperator

from mlops_provider.config import PipelineConfig
from mlops_provider.factories.common import add_cost_report, cron_timetable, drift_asset, model_dag, resolved_config_md
from mlops_provider.operators.data import ValidateDataOperator
from mlops_provider.operators.deploy import ConcludeTrialOperator, EndTrialOperator, StartTrialOperator
from mlops_provider.operators.gates import EvaluateGatesOperator
from mlops_provider.operators.registry import PromoteModelOperator, RegisterModelOperator
from mlops_provider.operators.training import TrainModelOperator
from mlops_provider.sensors.trial import TrialWindowSensor


def _schedule(config: PipelineConfig) -> AssetOrTimeSchedule | Asset:
    asset = drift_asset(config)
    cron = config.schedule.training
    if cron is None:
        return asset
    return AssetOrTimeSchedule(timetable=cron_timetable(cron), assets=[asset])


def _doc_md(config: PipelineConfig, source: str | None) -> str:
    when = f"cron `{config.schedule.training}` (UTC)" if config.schedule.training else "no cron"
    return (
        f"### {config.model}: training\n\n{config.description}\n\n"
        f"Runs on {when} and on every event of the Asset `{config.drift_asset_uri}`.\n"
        "Tasks: validate data (Great Expectations) → train (scikit-learn, MLflow run) → evaluate gates "
        f"→ register (alias `challenger`) → {_deploy_md(config)}.\n\n" + resolved_config_md(config, source)
    )


def _deploy_md(config: PipelineConfig) -> str:
    deploy = config.deploy
    steps = ["sign-off by a person (`approve`)"] if deploy.approval.required else []
    if deploy.strategy == "direct":
        steps.append("promote (alias `champion`)")
    else:
        what = f"{deploy.canary.fraction:.0%} of the rows" if deploy.strategy == "canary" else "shadow, never served"
        steps += [
            f"{deploy.strategy} trial (alias `{deploy.strategy}`, {what})",
            f"wait for {deploy.canary.min_rows:,} rows in {deploy.canary.min_runs} scoring run(s) (deferred)",
            "promote (alias `champion`) or roll the trial back",
        ]
    return " → ".join(steps)


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
        validate >> train >> gates >> register
        last: BaseOperator = register
        if config.deploy.approval.required:
            from mlops_provider.operators.signoff import SignOffOperator  # only where asked for: ~40 ms to import

            approve = SignOffOperator(task_id="approve", config=config, registration=register.output)
            last >> approve
            last = approve
        strategy = config.deploy.strategy
        if strategy == "direct":
            last >> PromoteModelOperator(task_id="promote", config=config, registration=register.output)
            add_cost_report(dag, config)
            return dag
        start = StartTrialOperator(task_id=f"start_{strategy}", config=config, registration=register.output)
        observe = TrialWindowSensor(task_id=f"observe_{strategy}", config=config, trial=start.output)
        conclude = ConcludeTrialOperator(
            task_id=f"conclude_{strategy}", config=config, registration=register.output, observation=observe.output
        )
        # a teardown: runs whatever happened to observe and conclude, and does not decide the run's state
        end = EndTrialOperator(task_id=f"end_{strategy}", config=config, trial=start.output).as_teardown(setups=start)
        last >> start >> observe >> conclude >> end
        add_cost_report(dag, config)
    return dag
