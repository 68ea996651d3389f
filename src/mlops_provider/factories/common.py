"""What every DAG of a model shares: its Assets, default_args and the resolved config in its docs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from airflow.sdk import DAG, Asset

from mlops_provider.config import PipelineConfig
from mlops_provider.config.loader import dump_sha256
from mlops_provider.notifications.alerts import AlertNotifier, RecoveryNotifier


def drift_asset(config: PipelineConfig) -> Asset:
    """The Asset a drift check emits and the training DAG listens to: ``mlops://<model>/drift``."""
    return Asset(name=f"{config.model}_drift", uri=config.drift_asset_uri)


def predictions_asset(config: PipelineConfig) -> Asset:
    """The Asset each scoring run emits: ``mlops://<model>/predictions``."""
    return Asset(name=f"{config.model}_predictions", uri=config.predictions_asset_uri)


#: (id(config), source) -> (config, text): every DAG of a model shows the same resolved config, rendered once.
#: The config is kept beside its text, so an id reused by a later object never matches (configs are frozen).
_RESOLVED_MD: dict[tuple[int, str | None], tuple[PipelineConfig, str]] = {}
_RESOLVED_MD_MAX = 4096


def resolved_config_md(config: PipelineConfig, source: str | None) -> str:
    key = (id(config), source)
    hit = _RESOLVED_MD.get(key)
    if hit is not None and hit[0] is config:
        return hit[1]
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: this runs on every parse
    dump = config.model_dump(mode="json", by_alias=True)
    resolved = yaml.dump(dump, Dumper=dumper, sort_keys=False, width=100)
    text = (
        f"Config file: `{source or 'n/a'}` · config sha256 `{dump_sha256(dump)[:12]}`\n\n"
        f"#### Resolved config (defaults merged)\n\n```yaml\n{resolved}```\n"
    )
    if len(_RESOLVED_MD) >= _RESOLVED_MD_MAX:
        _RESOLVED_MD.clear()
    _RESOLVED_MD[key] = (config, text)
    return text


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
