"""Health states and the views built on them: the one place the dashboard and ``mlops status`` decide.

Pure functions of :class:`~mlops_provider.dashboard.facts.Facts`: :func:`assess` gives a model's state and every
reason behind it, :func:`overview` the overview page's rows (and ``mlops status``), :func:`model_page` the model
page. The JSON endpoints return exactly these dicts; the HTML pages and the terminal render them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_provider.naming import CANARY, CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, SHADOW

if TYPE_CHECKING:
    from mlops_provider.dashboard.facts import Facts, ModelFacts


@dataclass(frozen=True)
class State:
    name: str
    attention: bool  # a person should look: `mlops status` exits non-zero
    meaning: str


#: Most pressing first: a model shows the first state that applies; the others are listed as reasons.
STATES = (
    State("circuit_breaker_open", True, "drift-triggered retraining stopped after retrains that did not help"),
    State("degraded", True, "the latest run of one of its pipelines failed, or it has no champion after training"),
    State("over_budget", True, "the month's projected cost is above cost.monthly_budget_usd"),
    State("awaiting_approval", True, "a candidate waits for a person's sign-off"),
    State("drifting", True, "the latest drift check found drift and no retrain is under way"),
    State("retraining", False, "a training run is under way"),
    State("canary", False, "a new version is on trial (canary or shadow) beside the champion"),
    State("new", False, "configured, never trained yet"),
    State("healthy", False, "none of the above"),
)
BY_NAME = {s.name: s for s in STATES}
TRIGGERS = {"scheduled": "schedule", "backfill": "schedule", "asset_triggered": "drift", "manual": "manual"}
RUNNING = ("queued", "running")


def _ts(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _duration(start: str | None, end: str | None) -> float | None:
    a, b = _ts(start), _ts(end)
    return (b - a).total_seconds() if a and b else None


def alias_version(f: ModelFacts, alias: str) -> dict[str, Any] | None:
    return next((v for v in f.versions if alias in v["aliases"]), None)


def _primary(f: ModelFacts, version: dict[str, Any] | None) -> tuple[str, float | None]:
    metric = str(f.config.training.primary_metric)
    value = (version or {}).get("metrics", {}).get(metric)
    return metric, float(value) if isinstance(value, int | float) else None


def _promoted_at(version: dict[str, Any] | None) -> str | None:
    promotions = (version or {}).get("promotions") or []
    return promotions[-1].get("at") if promotions else None


def _run_view(run: dict[str, Any], base_url: str | None) -> dict[str, Any]:
    from mlops_provider.notifications.catalogue import run_url

    return {
        "run_id": run.get("dag_run_id"),
        "dag_id": run.get("dag_id"),
        "state": run.get("state"),
        "trigger": TRIGGERS.get(str(run.get("run_type")), str(run.get("run_type"))),
        "started_at": run.get("start_date") or run.get("run_after"),
        "ended_at": run.get("end_date"),
        "duration_s": _duration(run.get("start_date"), run.get("end_date")),
        "url": run_url(base_url, str(run.get("dag_id")), run.get("dag_run_id")),
    }


def last_training(f: ModelFacts, base_url: str | None) -> dict[str, Any] | None:
    runs = f.runs.get("training") or []
    if runs:
        return _run_view(runs[0], base_url)
    if f.last_training_mlflow:
        t = f.last_training_mlflow
        return {
            "run_id": t.get("run_id"),
            "dag_id": f.config.dag_id("training"),
            "state": t.get("state"),
            "trigger": None,
            "started_at": t.get("started_at"),
            "ended_at": t.get("ended_at"),
            "duration_s": _duration(t.get("started_at"), t.get("ended_at")),
            "url": None,
        }
    return None


def month_cost(f: ModelFacts, now: datetime) -> dict[str, Any]:
    from mlops_provider.cost.model import budget_verdict, month_start

    start = month_start(now)
    record = f.month_cost or {}
    actual = None
    if record and not f.detail:  # the cost report's record of the month: this month's, or none this month yet
        current = record.get("month") == now.strftime("%Y-%m")
        spent = float(record.get("estimated_usd") or 0.0) if current else 0.0
        actual = record.get("actual_usd") if current else None
    else:
        spent = sum(
            float(r["metrics"].get("cost_usd_total", 0.0)) for r in f.cost_runs if (_ts(r.get("at")) or start) >= start
        )
    verdict = budget_verdict(f.config.cost, spent, now, actual)
    hold = (f.model_tags or {}).get("budget_hold") or {}
    return {
        "month": verdict.month,
        "month_to_date_usd": round(verdict.month_to_date, 6),
        "actual_usd": verdict.actual,
        "projected_usd": round(verdict.projected, 6),
        "budget_usd": verdict.budget,
        "level": verdict.level,
        "retrain_held": bool(hold) and hold.get("month") == verdict.month,
    }


def assess(f: ModelFacts, now: datetime) -> tuple[str, list[str]]:
    """The model's health state (see :data:`STATES`) and every reason found, most pressing first."""
    found: dict[str, list[str]] = {}

    def add(state: str, reason: str) -> None:
        found.setdefault(state, []).append(reason)

    episode = (f.model_tags or {}).get("drift_episode") or {}
    if episode.get("breaker_open"):
        add(
            "circuit_breaker_open",
            f"circuit breaker open since {episode.get('breaker_opened')}: {episode.get('unresolved')} "
            "drift-triggered retrains did not bring drift under the threshold",
        )
    for kind in ("training", "scoring", "drift"):
        # the run that finished last, whatever its date: a backfill of past days that succeeds after today's
        # scheduled run failed is the pipeline's latest word
        runs = sorted(
            (r for r in f.runs.get(kind) or [] if r.get("state") not in RUNNING),
            key=lambda r: str(r.get("end_date") or r.get("start_date") or ""),
            reverse=True,
        )
        if runs and runs[0].get("state") == "failed":
            add("degraded", f"latest {kind} run {runs[0].get('dag_run_id')} failed")
    champion = alias_version(f, CHAMPION)
    finished = [r for r in f.runs.get("training") or [] if r.get("state") not in RUNNING]
    mlflow_run = f.last_training_mlflow or {}
    trained = bool(f.versions) or bool(finished) or mlflow_run.get("state") not in (None, "running")
    if champion is None and trained and not any(v for v in f.versions if v["aliases"]):
        add("degraded", "no champion: no version has passed its gates yet")
    for incident in f.incidents:
        if incident.get("resolved_at") is None and incident.get("kind") in ("task_failed", "validation_failed"):
            add("degraded", f"open incident: {incident.get('summary')}")
    cost = month_cost(f, now)
    if cost["level"] is not None:
        add(
            "over_budget",
            f"projected ${cost['projected_usd']:,.2f} this month against a budget of ${cost['budget_usd']:,.2f}"
            + ("; drift-triggered retraining held" if cost["retrain_held"] else ""),
        )
    for approval in f.approvals:
        add("awaiting_approval", f"{approval.get('subject') or 'sign-off'} (run {approval.get('run_id')})")
    training_now = [r for r in f.runs.get("training") or [] if r.get("state") in RUNNING]
    latest = f.drift_checks[0] if f.drift_checks else None
    trial = alias_version(f, CANARY) or alias_version(f, SHADOW)
    promoted = _ts(_promoted_at(champion))
    checked = _ts((latest or {}).get("at"))
    if latest and latest.get("dataset_drift") and not (promoted and checked and promoted > checked):
        share = latest.get("drift_share")
        text = f"drift in {share:.0%} of features at the check of {latest['at']}" if share is not None else "drift"
        if training_now or trial:
            add("retraining" if training_now else "canary", text + ", a new version is under way")
        else:
            add("drifting", text)
    for run in training_now:
        add(
            "retraining", f"training run {run.get('dag_run_id')} {run.get('state')} ({_run_view(run, None)['trigger']})"
        )
    if trial:
        which = CANARY if CANARY in trial["aliases"] else SHADOW
        add("canary", f"v{trial['version']} on {which} trial")
    if not trained and champion is None:
        add("new", "no training run yet")
    for state in STATES:
        if state.name in found:
            reasons = [r for s in STATES for r in found.get(s.name, [])]
            return state.name, reasons
    return "healthy", []


def overview_row(f: ModelFacts, base_url: str | None, now: datetime) -> dict[str, Any]:
    """One model's line of the overview (and of ``mlops status``)."""
    state, reasons = assess(f, now)
    champion = alias_version(f, CHAMPION)
    metric, value = _primary(f, champion)
    latest = f.drift_checks[0] if f.drift_checks else None
    return {
        "model": f.model,
        "description": f.config.description,
        "health": state,
        "attention": BY_NAME[state].attention,
        "reasons": reasons,
        "champion": None
        if champion is None
        else {
            "version": champion["version"],
            "metric": metric,
            "value": value,
            "promoted_at": _promoted_at(champion),
        },
        "last_training": last_training(f, base_url),
        "drift": None
        if latest is None
        else {"at": latest["at"], "share": latest.get("drift_share"), "detected": latest.get("dataset_drift")},
        "cost": month_cost(f, now),
        "deploy": f.config.deploy.strategy,
        "unavailable": dict(f.unavailable),
    }


def overview(facts: Facts) -> dict[str, Any]:
    """The overview: every model's row, the sources that could not be read, when it was read."""
    rows = [overview_row(f, facts.airflow_url, facts.read_at) for f in facts.models.values()]
    return {
        "read_at": facts.read_at.isoformat(timespec="seconds"),
        "models": rows,
        "attention": [r["model"] for r in rows if r["attention"]],
        "unavailable": dict(facts.unavailable),
        "config_errors": list(facts.config_errors),
    }


def weekly_promotions(history: Sequence[dict[str, Any]], now: datetime, weeks: int = 12) -> list[dict[str, Any]]:
    """Promotions per ISO week (Monday) over the last ``weeks`` weeks, oldest first; rollbacks not counted."""
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [monday - timedelta(weeks=i) for i in range(weeks - 1, -1, -1)]
    counts = dict.fromkeys(starts, 0)
    for event in history:
        at = _ts(event.get("at"))
        if at is None or event.get("kind", "promotion") != "promotion":
            continue
        week = (at - timedelta(days=at.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        if week in counts:
            counts[week] += 1
    return [{"week": w.date().isoformat(), "promotions": n} for w, n in counts.items()]


def lead_times(history: Sequence[dict[str, Any]], checks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drift detected → new champion: for each promotion, the first check that found drift after the promotion
    before it; promotions with no drift found in between are not drift-led and are left out."""
    promotions = sorted(
        (e for e in history if e.get("kind", "promotion") == "promotion" and _ts(e.get("at"))),
        key=lambda e: _ts(e["at"]),  # type: ignore[arg-type,return-value]
    )
    detections = sorted((at, c) for c in checks if c.get("dataset_drift") and (at := _ts(c.get("at"))) is not None)
    out, previous = [], None
    for event in promotions:
        at = _ts(event["at"])
        assert at is not None
        first = next((d for d, _ in detections if (previous is None or d > previous) and d <= at), None)
        if first is not None:
            out.append(
                {
                    "version": event.get("to"),
                    "drift_at": first.isoformat(timespec="seconds"),
                    "promoted_at": event["at"],
                    "hours": round((at - first).total_seconds() / 3600, 3),
                }
            )
        previous = at
    return out


def _latest_trial(records: Any) -> dict[str, Any]:
    """The newest record of a version's ``mlops.trial`` tag (a list, oldest first; a lone dict in old tags)."""
    if isinstance(records, list):
        records = records[-1] if records else {}
    return dict(records) if isinstance(records, dict) else {}


def _gates_view(version: dict[str, Any] | None) -> list[dict[str, Any]]:
    keys = ("gate", "value", "threshold", "op", "passed", "severity", "detail")
    return [{k: g.get(k) for k in keys if k in g} for g in (version or {}).get("gates") or []]


def model_page(facts: Facts, model: str) -> dict[str, Any]:
    """The model page's data: its overview row plus versions, gates, drift, deployments, runs, incidents."""
    f = facts.models[model]
    now = facts.read_at
    base = facts.airflow_url
    history = sorted(
        (e for v in f.versions for e in v.get("promotions") or []), key=lambda e: (int(e.get("seq") or 0), e.get("at"))
    )
    roles = []
    for alias in (CHAMPION, CHALLENGER, CANARY, SHADOW, PREVIOUS_CHAMPION):
        v = alias_version(f, alias)
        if v is not None:
            metric, value = _primary(f, v)
            roles.append(
                {
                    "alias": alias,
                    "version": v["version"],
                    "metric": metric,
                    "value": value,
                    "metrics": v["metrics"],
                    "created_at": v["created_at"],
                    "promoted_at": _promoted_at(v),
                    "mlflow_run_id": v["run_id"],
                    "airflow_run_id": v["airflow_run_id"],
                }
            )
    candidate = f.versions[0] if f.versions else None
    trial = next((v for v in f.versions if v.get("trial")), None)
    cost_by_run = {r["run_id"]: r for r in f.cost_runs}
    training_runs = []
    for run in f.runs.get("training") or []:
        view = _run_view(run, base)
        cost = cost_by_run.get(view["run_id"])
        view["cost_usd"] = float(cost["metrics"].get("cost_usd_total", 0.0)) if cost else None
        training_runs.append(view)
    latest = f.drift_checks[0] if f.drift_checks else None
    return {
        **overview_row(f, base, now),
        "read_at": now.isoformat(timespec="seconds"),
        "versions": roles,
        "all_versions": [
            {k: v[k] for k in ("version", "aliases", "created_at", "run_id")} | {"metrics": v["metrics"]}
            for v in f.versions
        ],
        "candidate": None
        if candidate is None
        else {"version": candidate["version"], "aliases": candidate["aliases"], "gates": _gates_view(candidate)},
        "trial": None if trial is None else {"version": trial["version"], **_latest_trial(trial["trial"])},
        "drift_threshold": f.config.drift.drift_share,
        "drift_history": [
            {k: c.get(k) for k in ("at", "drift_share", "dataset_drift", "prediction_drift_score", "mlflow_run_id")}
            for c in reversed(f.drift_checks)
        ],
        "drift_features": None
        if latest is None
        else {
            "at": latest["at"],
            "mlflow_run_id": latest["mlflow_run_id"],
            "features": sorted(
                ({"feature": k, **v} for k, v in latest["features"].items()), key=lambda x: -(x["score"] or 0)
            ),
        },
        "deployments": {
            "history": history,
            "per_week": weekly_promotions(history, now),
            "lead_times": lead_times(history, f.drift_checks),
        },
        "training_runs": training_runs,
        "pipeline_runs": {k: [_run_view(r, base) for r in (f.runs.get(k) or [])[:20]] for k in ("scoring", "drift")},
        "incidents": list(reversed(f.incidents)),
        "costs": [{"at": r["at"], "dag_id": r["dag_id"], "run_id": r["run_id"], **r["metrics"]} for r in f.cost_runs],
    }
