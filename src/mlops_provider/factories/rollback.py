"""``PipelineConfig`` -> the ``<model>_rollback`` DAG: the champion goes back one step, when a person asks."""

from __future__ import annotations

from airflow.sdk import DAG

from mlops_provider.config import PipelineConfig
from mlops_provider.factories.common import model_dag, param, resolved_config_md
from mlops_provider.operators.registry import RollbackOperator


def build_rollback_dag(config: PipelineConfig, *, source: str | None = None) -> DAG:
    """Return ``<model>_rollback``: unscheduled, one task ``rollback``; params ``version`` and ``reason``."""
    dag_id = config.dag_id("rollback")
    with model_dag(
        config,
        "rollback",
        description=f"Put {config.model}'s previous champion (or a given version) back as champion",
        schedule=None,
        doc_md=(
            f"### {config.model}: rollback\n\nManual only: `airflow dags trigger {dag_id}` makes "
            f"`models:/{config.model}@previous_champion` the champion again; "
            f'`-c \'{{"version": "3", "reason": "..."}}\'` restores a given version (it must have passed '
            "its gates when trained). The replaced champion becomes `previous_champion`; the move is recorded "
            "in the promotion history with the reason and the user who triggered the run. Scoring serves the "
            "restored version from its next run.\n\n" + resolved_config_md(config, source)
        ),
        params={
            "version": param(
                None, type=["null", "string", "integer"], description="Version to restore; empty: the previous champion"
            ),
            "reason": param("manual rollback", type="string", description="Why; kept in the history"),
        },
    ) as dag:
        RollbackOperator(task_id="rollback", config=config)
    return dag
