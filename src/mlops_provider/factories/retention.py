"""``PipelineConfig`` -> the ``<model>_retention`` DAG: old versions archived then deleted, old logs removed."""

from __future__ import annotations

from airflow.sdk import DAG

from mlops_provider.config import PipelineConfig
from mlops_provider.factories.common import add_cost_report, model_dag, param, resolved_config_md
from mlops_provider.operators.retention import RetentionOperator


def build_retention_dag(config: PipelineConfig, *, source: str | None = None) -> DAG:
    """Return ``<model>_retention``: on ``retention.schedule`` (or by hand), task ``apply_retention``; params
    ``dry_run`` and ``as_of``."""
    dag_id = config.dag_id("retention")
    r = config.retention
    with model_dag(
        config,
        "retention",
        description=f"Archive and delete {config.model}'s old versions, prediction logs and drift reports",
        schedule=r.schedule,
        doc_md=(
            f"### {config.model}: retention\n\nKeeps the newest {r.keep_last} versions and every version an alias "
            f"points at or a running DAG run made; archives other versions older than {r.archive_after_days} days "
            f"and deletes archived ones older than {r.delete_after_days} days; removes prediction log days older "
            f"than {r.prediction_log_days} days and drift-check runs older than {r.drift_report_days} days "
            f"(docs/retention.md). `airflow dags trigger {dag_id} -c '{{\"dry_run\": true}}'` logs the plan with "
            "sizes and changes nothing.\n\n" + resolved_config_md(config, source)
        ),
        params={
            "dry_run": param(False, type="boolean", description="Only log what would be done; change nothing"),
            "as_of": param(
                None,
                type=["null", "string"],
                description="Act as at this ISO time (rehearse the policy, best with dry_run); empty: now",
            ),
        },
    ) as dag:
        RetentionOperator(task_id="apply_retention", config=config)
    add_cost_report(dag, config)
    return dag
