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

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.naming import MONITORING_EXPERIMENT_SUFFIX

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


def read_drift_checks(client: Any, experiment_id: str | None, limit: int) -> list[dict[str, Any]]:
    """A model's drift checks (the runs of its ``<model>-monitoring`` experiment), newest first: when, the share
    of drifted features, the verdict, the prediction score, per-feature scores, thresholds and verdicts."""
    if experiment_id is None:
        return []
    runs = client.search_runs([experiment_id], max_results=limit, order_by=["attributes.start_time DESC"])
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


def experiment_ids(client: Any) -> dict[str, str]:
    """Every active experiment's id by name (one paged search: a model has three or four)."""
    out: dict[str, str] = {}
    token = None
    while True:
        page = client.search_experiments(max_results=1000, page_token=token)
        out.update({e.name: e.experiment_id for e in page})
        token = getattr(page, "token", None)
        if not token:
            return out


def read_last_training(client: Any, experiment_id: str | None) -> dict[str, Any] | None:
    """The newest run of a model's MLflow training experiment (when Airflow shows no recent training run)."""
    if experiment_id is None:
        return None
    runs = client.search_runs([experiment_id], max_results=1, order_by=["attributes.start_time DESC"])
    if not runs:
        return None
    info = runs[0].info
    return {
        "started_at": _iso(info.start_time),
        "ended_at": _iso(info.end_time),
        "state": {"FINISHED": "success", "FAILED": "failed", "RUNNING": "running"}.get(info.status, info.status),
        "run_id": runs[0].data.tags.get("mlops.airflow_run_id"),
    }


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
    from mlops_provider.cost.history import cost_experiment, cost_runs_of
    from mlops_provider.cost.model import month_start
    from mlops_provider.dashboard.airflow_api import MODEL_PAGE_DAYS, OVERVIEW_DAYS, AirflowUnavailable
    from mlops_provider.hooks.registry import ModelRegistry
    from mlops_provider.notifications.incidents import incidents

    now = now or datetime.now(UTC)
    chosen = {only: configs[only]} if only is not None else configs
    detail = only is not None
    models = {name: ModelFacts(name, cfg, detail=detail) for name, cfg in chosen.items()}
    facts = Facts(models, now, airflow.base_url if airflow else None, tracking_uri)

    def failed(source: str, exc: Exception) -> None:
        facts.unavailable[source] = f"{type(exc).__name__}: {exc}"[:300]

    try:  # the registry: two searches for every model at once
        registered = ModelRegistry(client).overview_many(list(chosen))
        for name, f in models.items():
            state = registered.get(name) or {}
            f.versions = state.get("versions", [])
            f.model_tags = {"drift_episode": state.get("drift_episode"), "budget_hold": state.get("budget_hold")}
    except Exception as exc:
        failed("registry", exc)
    try:
        experiments = experiment_ids(client)
    except Exception as exc:
        failed("mlflow", exc)
        experiments = {}
    try:  # cost: one search (the model page: the model's whole history)
        since = datetime(1970, 1, 1, tzinfo=UTC) if detail else month_start(now)
        ids = {m: experiments[cost_experiment(m)] for m in chosen if cost_experiment(m) in experiments}
        for name, runs in cost_runs_of(client, ids, since).items():
            models[name].cost_runs = runs
    except Exception as exc:
        failed("cost", exc)

    def drift(f: ModelFacts) -> None:  # the latest check (overview) or the history (model page), per model
        monitoring = experiments.get(f.model + MONITORING_EXPERIMENT_SUFFIX)
        try:
            f.drift_checks = read_drift_checks(client, monitoring, DRIFT_HISTORY if detail else 1)
        except Exception as exc:
            f.unavailable["drift"] = f"{type(exc).__name__}: {exc}"[:300]

    with ThreadPoolExecutor(max_workers=min(THREADS, max(len(models), 1))) as pool:
        list(pool.map(drift, models.values()))

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
        days = MODEL_PAGE_DAYS if detail else OVERVIEW_DAYS
        for run in airflow.runs(sorted(dag_ids), days, now):
            owner = dag_ids.get(run.get("dag_id", ""))
            if owner:
                models[owner[0]].runs.setdefault(owner[1], []).append(run)
        training = {chosen[m].dag_id("training"): m for m in chosen}
        for approval in airflow.pending_approvals():
            if approval["dag_id"] in training:
                models[training[approval["dag_id"]]].approvals.append(approval)
    except AirflowUnavailable as exc:
        facts.unavailable["airflow"] = str(exc)
    for f in models.values():  # no training run within the days asked (or Airflow not asked): MLflow's last one
        if not f.runs.get("training"):
            try:
                f.last_training_mlflow = read_last_training(client, experiments.get(f.model))
            except Exception:
                f.last_training_mlflow = None
    return facts
