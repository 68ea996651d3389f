"""A model's cost history: the runs of its ``<model>-cost`` MLflow experiment, one per DAG run (the cost
report writes them). The one reader: the cost report (month to date) and ``mlops cost`` go through it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlops_provider.naming import COST_DAG_TAG, COST_EXPERIMENT_SUFFIX, COST_RUN_TAG


def cost_experiment(model: str) -> str:
    return f"{model}{COST_EXPERIMENT_SUFFIX}"


def cost_runs(client: Any, model: str, since: datetime | None = None, limit: int = 50_000) -> list[dict[str, Any]]:
    """The model's cost reports, newest first: ``{"at", "dag_id", "run_id", "metrics"}`` each."""
    experiment = client.get_experiment_by_name(cost_experiment(model))
    if experiment is None:
        return []
    where = f"attributes.start_time >= {int(since.timestamp() * 1000)}" if since else ""
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=where, max_results=limit, order_by=["attributes.start_time DESC"]
    )
    return [_record(r) for r in runs]


def cost_runs_of(
    client: Any, experiments: dict[str, str], since: datetime, limit: int = 50_000
) -> dict[str, list[dict[str, Any]]]:
    """The cost reports since ``since`` of several models at once (one search): ``experiments`` maps each model
    to the id of its ``<model>-cost`` experiment. Newest first per model."""
    out: dict[str, list[dict[str, Any]]] = {model: [] for model in experiments}
    if not experiments:
        return out
    owner = {eid: model for model, eid in experiments.items()}
    runs = client.search_runs(
        list(owner),
        filter_string=f"attributes.start_time >= {int(since.timestamp() * 1000)}",
        max_results=limit,
        order_by=["attributes.start_time DESC"],
    )
    for r in runs:
        out[owner[r.info.experiment_id]].append(_record(r))
    return out


def _record(r: Any) -> dict[str, Any]:
    return {
        "at": datetime.fromtimestamp(r.info.start_time / 1000, tz=UTC).isoformat(timespec="seconds"),
        "dag_id": r.data.tags.get(COST_DAG_TAG, "?"),
        "run_id": r.data.tags.get(COST_RUN_TAG, "?"),
        "metrics": dict(r.data.metrics),
    }


def by_dag(runs: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """USD per DAG over ``runs``, most first."""
    totals: dict[str, float] = {}
    for run in runs:
        totals[run["dag_id"]] = totals.get(run["dag_id"], 0.0) + float(run["metrics"].get("cost_usd_total", 0.0))
    return sorted(totals.items(), key=lambda kv: -kv[1])
