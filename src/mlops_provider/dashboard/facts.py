"""What the dashboard and ``mlops status`` know of each model, gathered from where it lives.

* the model configs (``dags/configs/``): which models exist, their primary metric, budget, deploy strategy;
* MLflow: the registry (versions, aliases, the ``mlops.*`` tags: metrics, gates, trial, promotions, the drift
  episode, a budget hold), the ``<model>-monitoring`` runs (one per drift check) and the ``<model>-cost`` runs
  (one per DAG run), through :class:`~mlops_provider.hooks.registry.ModelRegistry` and
  :mod:`mlops_provider.cost.history`;
* Airflow's public REST API (:mod:`.airflow_api`): recent DAG runs and approvals waiting for a person;
* the incident log (:mod:`mlops_provider.notifications.incidents`).

A source that cannot be read leaves its part empty and says so in :attr:`Facts.unavailable`: the page still
shows the rest. :mod:`.health` turns the facts into health states and the views; nothing here decides.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.naming import (
    ALIASES,
    GATES_TAG,
    METRICS_TAG,
    MONITORING_EXPERIMENT_SUFFIX,
    PROMOTION_TAG,
    TRIAL_TAG,
    VERSION_RUN_TAG,
)

if TYPE_CHECKING:
    from mlops_provider.config import PipelineConfig
    from mlops_provider.dashboard.airflow_api import AirflowApi

#: Drift checks read per model for the model page (newest first); the overview reads only the latest.
DRIFT_HISTORY = 1000
#: The model DAGs whose runs count for a model's pipelines.
PIPELINE_KINDS = ("training", "scoring", "drift")
#: Threads asking MLflow at once (one model each).
THREADS = 8


@dataclass
class ModelFacts:
    """One model's raw facts; ``detail`` says whether the model page's history was read."""

    model: str
    config: PipelineConfig
    versions: list[dict[str, Any]] = field(default_factory=list)  # newest first
    model_tags: dict[str, Any] = field(default_factory=dict)  # drift episode, budget hold (parsed)
    drift_checks: list[dict[str, Any]] = field(default_factory=list)  # newest first
    cost_runs: list[dict[str, Any]] = field(default_factory=list)  # this month (overview) or all (detail)
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # DAG kind -> Airflow runs, newest first
    approvals: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    last_training_mlflow: dict[str, Any] | None = None  # when Airflow could not be asked
    detail: bool = False
    unavailable: dict[str, str] = field(default_factory=dict)  # source -> why


@dataclass
class Facts:
    """Every model's facts, when they were read, and the sources that could not be read."""

    models: dict[str, ModelFacts]
    read_at: datetime
    airflow_url: str | None
    tracking_uri: str | None
    unavailable: dict[str, str] = field(default_factory=dict)
    config_errors: list[str] = field(default_factory=list)


def load_configs() -> tuple[dict[str, PipelineConfig], list[str]]:
    """The valid model configs of ``<dags folder>/configs`` by model name, and the broken files' first lines."""
    from mlops_provider import settings
    from mlops_provider.config import load_folder

    result = load_folder(
        settings.dags_folder() / "configs",
        allowed_estimator_modules=settings.allowed_estimator_modules(),
        allowed_data_roots=settings.allowed_data_roots(),
    )
    configs = {cfg.model: cfg for cfg in result.configs.values()}
    return dict(sorted(configs.items())), [str(e).splitlines()[0] for e in result.errors]


def _iso(ms: int | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds") if ms else None


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def read_versions(client: Any, model: str) -> list[dict[str, Any]]:
    """Every version of ``model``, newest first: number, aliases, created, run id, the ``mlops.*`` records."""
    out = []
    for mv in client.search_model_versions(f"name = '{model}'"):
        tags = dict(mv.tags or {})
        out.append(
            {
                "version": str(mv.version),
                "aliases": sorted(a for a in (getattr(mv, "aliases", None) or []) if a in ALIASES),
                "created_at": _iso(mv.creation_timestamp),
                "run_id": mv.run_id,
                "airflow_run_id": tags.get(VERSION_RUN_TAG),
                "metrics": _json(tags.get(METRICS_TAG)) or {},
                "gates": _json(tags.get(GATES_TAG)) or [],
                "trial": _json(tags.get(TRIAL_TAG)),
                "promotions": _json(tags.get(PROMOTION_TAG)) or [],
            }
        )
    return sorted(out, key=lambda v: -int(v["version"]))


def read_drift_checks(client: Any, model: str, limit: int) -> list[dict[str, Any]]:
    """The model's drift checks (``<model>-monitoring`` runs), newest first: when, the share of drifted
    features, the verdict, the prediction score, per-feature scores, thresholds and verdicts."""
    experiment = client.get_experiment_by_name(model + MONITORING_EXPERIMENT_SUFFIX)
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], max_results=limit, order_by=["attributes.start_time DESC"])
    out = []
    for run in runs:
        m = dict(run.data.metrics)
        features = {}
        for key, value in m.items():
            if key.startswith("drift_score."):
                name = key[len("drift_score.") :]
                drifted = m.get(f"drifted.{name}")
                features[name] = {
                    "score": value,
                    "threshold": m.get(f"drift_threshold.{name}"),
                    "drifted": None if drifted is None else bool(drifted),
                }
        verdict = m.get("dataset_drift")
        out.append(
            {
                "at": _iso(run.info.start_time),
                "mlflow_run_id": run.info.run_id,
                "airflow_run_id": run.data.tags.get("mlops.airflow_run_id"),
                "drift_share": m.get("drift_share"),
                "dataset_drift": None if verdict is None else bool(verdict),
                "prediction_drift_score": m.get("prediction_drift_score"),
                "rows": m.get("rows_current"),
                "features": features,
            }
        )
    return out


def read_last_training(client: Any, model: str) -> dict[str, Any] | None:
    """The model's newest MLflow training run (used when Airflow's API cannot be asked)."""
    experiment = client.get_experiment_by_name(model)
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id], max_results=1, order_by=["attributes.start_time DESC"])
    if not runs:
        return None
    info = runs[0].info
    return {
        "started_at": _iso(info.start_time),
        "ended_at": _iso(info.end_time),
        "state": {"FINISHED": "success", "FAILED": "failed", "RUNNING": "running"}.get(info.status, info.status),
        "run_id": runs[0].data.tags.get("mlops.airflow_run_id"),
    }


def _model_facts(client: Any, config: PipelineConfig, detail: bool, now: datetime) -> ModelFacts:
    from mlops_provider.cost.history import cost_runs
    from mlops_provider.cost.model import month_start
    from mlops_provider.hooks.registry import ModelRegistry

    facts = ModelFacts(config.model, config, detail=detail)
    registry = ModelRegistry(client)
    try:
        facts.versions = read_versions(client, config.model)
        facts.model_tags = {
            "drift_episode": registry.drift_episode(config.model),
            "budget_hold": registry.budget_hold(config.model),
        }
    except Exception as exc:
        facts.unavailable["registry"] = f"{type(exc).__name__}: {exc}"[:300]
    try:
        facts.drift_checks = read_drift_checks(client, config.model, DRIFT_HISTORY if detail else 1)
    except Exception as exc:
        facts.unavailable["drift"] = f"{type(exc).__name__}: {exc}"[:300]
    try:
        facts.cost_runs = cost_runs(client, config.model, since=None if detail else month_start(now))
    except Exception as exc:
        facts.unavailable["cost"] = f"{type(exc).__name__}: {exc}"[:300]
    return facts


def gather(
    client: Any,
    configs: dict[str, PipelineConfig],
    airflow: AirflowApi | None,
    *,
    only: str | None = None,
    now: datetime | None = None,
    tracking_uri: str | None = None,
) -> Facts:
    """The facts of every model in ``configs`` (or only of ``only``, with its full history: the model page)."""
    from mlops_provider.dashboard.airflow_api import AirflowUnavailable
    from mlops_provider.notifications.incidents import incidents

    now = now or datetime.now(UTC)
    chosen = {only: configs[only]} if only is not None else configs
    detail = only is not None
    with ThreadPoolExecutor(max_workers=min(THREADS, max(len(chosen), 1))) as pool:
        found = list(pool.map(lambda cfg: _model_facts(client, cfg, detail, now), chosen.values()))
    models = {f.model: f for f in found}
    facts = Facts(models, now, airflow.base_url if airflow else None, tracking_uri)

    try:
        every = incidents()
    except Exception as exc:
        facts.unavailable["incidents"] = f"{type(exc).__name__}: {exc}"[:300]
        every = []
    for item in every:
        if item.get("model") in models:
            models[item["model"]].incidents.append(item)

    dag_ids = {cfg.dag_id(kind): (model, kind) for model, cfg in chosen.items() for kind in PIPELINE_KINDS}
    try:
        if airflow is None:
            raise AirflowUnavailable("no Airflow API address")
        for run in airflow.runs(sorted(dag_ids)):
            owner = dag_ids.get(run.get("dag_id", ""))
            if owner:
                models[owner[0]].runs.setdefault(owner[1], []).append(run)
        training = {chosen[m].dag_id("training"): m for m in chosen}
        for approval in airflow.pending_approvals():
            if approval["dag_id"] in training:
                models[training[approval["dag_id"]]].approvals.append(approval)
    except AirflowUnavailable as exc:
        facts.unavailable["airflow"] = str(exc)
        for f in models.values():
            try:
                f.last_training_mlflow = read_last_training(client, f.model)
            except Exception:
                f.last_training_mlflow = None
    return facts
