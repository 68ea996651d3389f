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
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_provider.hooks.registry_overview import iso_ms
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
    month_cost: dict[str, Any] | None = None  # the registry's record of the month so far (cost report)
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


def read_drift_checks(client: Any, experiment_id: str | None, limit: int) -> list[dict[str, Any]]:
    """A model's drift checks (the runs of its ``<model>-monitoring`` experiment), newest first: when, the share
    of drifted features, the verdict, the prediction score, per-feature scores, thresholds and verdicts."""
    if experiment_id is None:
        return []
    runs = client.search_runs([experiment_id], max_results=limit, order_by=["attributes.start_time DESC"])
    return [_check(run) for run in runs]


def _check(run: Any) -> dict[str, Any]:
    """One drift check run as the dashboard shows it."""
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
    return {
        "at": iso_ms(run.info.start_time),
        "mlflow_run_id": run.info.run_id,
        "airflow_run_id": run.data.tags.get("mlops.airflow_run_id"),
        "drift_share": m.get("drift_share"),
        "dataset_drift": None if verdict is None else bool(verdict),
        "prediction_drift_score": m.get("prediction_drift_score"),
        "rows": m.get("rows_current"),
        "features": features,
    }


#: How far back the overview's one search for the latest drift checks looks; a model whose latest check is older
#: is asked on its own.
RECENT_CHECKS_HOURS = 36


def latest_drift_checks(client: Any, experiments: dict[str, str], now: datetime) -> dict[str, dict[str, Any]]:
    """Each model's latest drift check (``experiments``: model -> its monitoring experiment id): one search over
    the checks of the last :data:`RECENT_CHECKS_HOURS` hours of every model, then one search per model that had
    none in that time."""
    if not experiments:
        return {}
    owner = {eid: model for model, eid in experiments.items()}
    since = int((now - timedelta(hours=RECENT_CHECKS_HOURS)).timestamp() * 1000)
    out: dict[str, dict[str, Any]] = {}
    runs = client.search_runs(
        list(owner),
        filter_string=f"attributes.start_time >= {since}",
        max_results=50_000,
        order_by=["attributes.start_time DESC"],
    )
    for run in runs:
        model = owner[run.info.experiment_id]
        if model not in out:
            out[model] = _check(run)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        rest = [m for m in experiments if m not in out]
        found = pool.map(lambda m: read_drift_checks(client, experiments[m], 1), rest)
        for model, checks in zip(rest, found, strict=True):
            if checks:
                out[model] = checks[0]
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
        "started_at": iso_ms(info.start_time),
        "ended_at": iso_ms(info.end_time),
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
            f.month_cost = state.get("month_cost")
    except Exception as exc:
        failed("registry", exc)
    try:
        experiments = experiment_ids(client)
    except Exception as exc:
        failed("mlflow", exc)
        experiments = {}
    try:  # cost: the model page reads the model's whole history; the overview, the month so far, which the
        # registry keeps (``month_cost``) for every model whose cost report ran since that record existed
        since = datetime(1970, 1, 1, tzinfo=UTC) if detail else month_start(now)
        wanted = [m for m, f in models.items() if detail or not f.month_cost]
        ids = {m: experiments[cost_experiment(m)] for m in wanted if cost_experiment(m) in experiments}
        for name, runs in cost_runs_of(client, ids, since).items():
            models[name].cost_runs = runs
    except Exception as exc:
        failed("cost", exc)

    monitoring = {m: experiments.get(m + MONITORING_EXPERIMENT_SUFFIX) for m in models}
    if detail:
        for name, f in models.items():
            try:
                f.drift_checks = read_drift_checks(client, monitoring[name], DRIFT_HISTORY)
            except Exception as exc:
                f.unavailable["drift"] = f"{type(exc).__name__}: {exc}"[:300]
    else:
        try:  # the latest check of every model: one search over the recent checks, then one per model left
            latest = latest_drift_checks(client, {m: e for m, e in monitoring.items() if e}, now)
            for name, check in latest.items():
                models[name].drift_checks = [check]
        except Exception as exc:
            failed("drift", exc)

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
