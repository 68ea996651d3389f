"""What every DAG of a model shares: its Assets, default_args and the resolved config in its docs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, CronTriggerTimetable, Param

from mlops_provider.config import PipelineConfig
from mlops_provider.config.loader import resolved
from mlops_provider.notifications.alerts import AlertNotifier, RecoveryNotifier

#: The JSON-Schema draft the DAGs' params are written in. Airflow checks a scheduled DAG's params against
#: their schemas on every parse, and jsonschema first checks each schema against its draft's meta-schema:
#: without ``$schema`` that is the latest draft's, assembled from eight vocabularies (0.42 ms a param), while
#: Draft 7's is one document (0.08 ms). The params use nothing newer than Draft 7.
PARAM_SCHEMA_DRAFT = "http://json-schema.org/draft-07/schema#"


def param(default: Any, *, description: str, **schema: Any) -> Param:
    """A DAG param with a JSON schema (``type=...``) in :data:`PARAM_SCHEMA_DRAFT`."""
    return Param(default, description=description, schema={"$schema": PARAM_SCHEMA_DRAFT, **schema})


def cron_timetable(expression: str) -> CronTriggerTimetable:
    """A cron schedule in UTC whose first run is its next time after the DAG is unpaused.

    Airflow's default for a DAG without a start date (``run_immediately`` unset) also runs the latest past
    time at once when it lies within a tenth of the interval: a nightly DAG unpaused at 03:30 would start the
    night's 02:00 run beside the run the user triggers. ``run_immediately=timedelta(0)`` waits for the next
    time; run it now with ``airflow dags trigger`` or a backfill.
    """
    return CronTriggerTimetable(expression, timezone="UTC", run_immediately=timedelta(0))


def drift_asset(config: PipelineConfig) -> Asset:
    """The Asset a drift check emits and the training DAG listens to: ``mlops://<model>/drift``."""
    return Asset(name=f"{config.model}_drift", uri=config.drift_asset_uri)


def predictions_asset(config: PipelineConfig) -> Asset:
    """The Asset each scoring run emits: ``mlops://<model>/predictions``."""
    return Asset(name=f"{config.model}_predictions", uri=config.predictions_asset_uri)


def resolved_config_md(config: PipelineConfig, source: str | None) -> str:
    """The docs every DAG of a model ends with: the config file, its hash and the resolved config."""
    r = resolved(config)
    return (
        f"Config file: `{source or 'n/a'}` · config sha256 `{r.sha256[:12]}`\n\n"
        f"#### Resolved config (defaults merged)\n\n```yaml\n{r.yaml}```\n"
    )


def default_args(config: PipelineConfig) -> dict[str, object]:
    alert = AlertNotifier(model=config.model, slack_conn_id=config.alerting.slack_conn_id)
    return {
        "owner": config.owner,
        "retries": config.airflow.retries,
        "retry_delay": timedelta(minutes=config.airflow.retry_delay_minutes),
        "retry_exponential_backoff": config.airflow.retry_backoff,
        # a failure says so whether Airflow retries it (warning, no incident) or not (error, incident)
        "on_failure_callback": [alert],
        "on_retry_callback": [alert],
    }


def start_date(config: PipelineConfig) -> datetime | None:
    if config.schedule.start_date is None:
        return None
    return datetime.combine(config.schedule.start_date, datetime.min.time(), tzinfo=UTC)


def model_dag(
    config: PipelineConfig,
    kind: str,
    *,
    description: str,
    schedule: Any,
    doc_md: str,
    params: dict[str, Any] | None = None,
) -> DAG:
    """A plain ``airflow.sdk.DAG`` ``<model>_<kind>`` with what every DAG of a model shares."""
    extra = () if kind == "training" else (kind,)
    return DAG(
        dag_id=config.dag_id(kind),
        description=description,
        schedule=schedule,
        start_date=start_date(config),
        catchup=config.schedule.catchup,
        max_active_runs=1,
        default_args=default_args(config),
        tags=sorted({"mlops", config.model, *extra, *config.airflow.tags}),
        doc_md=doc_md,
        params=params,
        on_success_callback=[RecoveryNotifier(model=config.model, slack_conn_id=config.alerting.slack_conn_id)],
    )


def add_cost_report(dag: DAG, config: PipelineConfig) -> None:
    """The DAG's last task, ``cost_report``: downstream of every other task, a teardown so that it runs whatever
    happened before it and never decides the run's state."""
    from mlops_provider.operators.cost import CostReportOperator

    leaves = list(dag.leaves)
    # no failure alert: a failed report does not fail the run, and an alert would say the run stopped
    report = CostReportOperator(task_id="cost_report", config=config, dag=dag, on_failure_callback=None).as_teardown()
    for leaf in leaves:
        leaf >> report
