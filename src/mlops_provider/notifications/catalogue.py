"""Every operational event the platform speaks of, as one :class:`Alert` each: plain text and Slack blocks.

An alert says what happened, the numbers, and what happens next, with a link to the run, the task log or
the page where a person acts. The builders here are pure functions of plain values (no Airflow context, no
registry): the operators and callbacks gather the values, :func:`announce
<mlops_provider.notifications.alerts.announce>` delivers the alert and records the incident. A catalogue
test renders each kind from fixed values and compares with checked-in text (``tests/unit/alerts/``), and
``docs/alerts.md`` shows the same examples.

Stdlib only: this module is imported by DAG files' callbacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

#: Each kind of alert, what it is for. The catalogue test renders every one.
KINDS: Mapping[str, str] = {
    "task_failed": "a task failed: which, the error, try k of n, whether Airflow retries it, what happens next",
    "validation_failed": "training data failed its checks: each failed expectation with its unexpected count",
    "gate_failed": "a trained model failed its gates: each failed gate, value against threshold",
    "drift_detected": "a drift check found dataset drift: share, top features, prediction shift, retrain or brake",
    "circuit_open": "escalation: drift-triggered retrains did not help and the circuit breaker opened",
    "no_new_data": "escalation: a drift-triggered retrain found no new labeled data and trained nothing",
    "retrain_finished": "a drift-triggered retrain deployed a new champion: metric against the old one, time taken",
    "approval_requested": "a version waits for a person's sign-off, with the link to the Required Actions page",
    "trial_outcome": "a canary or shadow trial ended: promoted, or rolled back with the gate that failed",
    "promoted": "a version became champion: from, to, why, by which run",
    "rolled_back": "the champion went back a step: from, to, why, by whom",
    "recovered": "a DAG succeeded again after failed runs",
    "budget_breach": "the month's projected cost is over the model's budget; far over, retraining is held",
}

_ICONS = {"info": ":large_green_circle:", "warning": ":large_orange_circle:", "error": ":red_circle:"}
_ICONS["critical"] = ":rotating_light:"

#: Slack's limit for the text of one section block, with room for the code fence.
_SECTION_LIMIT = 2900


@dataclass(frozen=True)
class Alert:
    """One message. ``text()`` for the task log, the outbox and Slack's fallback; ``blocks()`` for Slack.

    :param kind: one of :data:`KINDS`.
    :param severity: ``info``, ``warning``, ``error`` or ``critical`` (a person must act).
    :param headline: one line: the model, what happened, the main numbers.
    :param details: further lines with numbers (failed gates, drifted features ...).
    :param next: what happens next, or what a person should do.
    :param link: where to look or act; ``link_label`` names it.
    :param numbers: the figures of the headline and details, for the outbox and the incident log.
    """

    kind: str
    model: str
    severity: str
    headline: str
    details: tuple[str, ...] = ()
    next: str = ""
    link: str | None = None
    link_label: str = "Run"
    numbers: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.severity not in _ICONS:
            raise ValueError(f"unknown severity {self.severity!r}; known: {', '.join(_ICONS)}")

    def text(self) -> str:
        lines = [f"{_ICONS[self.severity]} {self.headline}", *self.details]
        if self.next:
            lines.append(f"Next: {self.next}")
        if self.link:
            lines.append(f"{self.link_label}: {self.link}")
        return "\n".join(lines)

    def blocks(self) -> list[dict[str, Any]]:
        """Slack Block Kit: the headline, the details as a code block, what next, a button to the link."""
        out: list[dict[str, Any]] = [_section(f"{_ICONS[self.severity]} *{self.headline}*")]
        if self.details:
            body = "\n".join(self.details)
            if len(body) > _SECTION_LIMIT:
                body = body[: _SECTION_LIMIT - 30] + "\n… (see the link)"
            out.append(_section(f"```{body}```"))
        if self.next:
            out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(f"*Next:* {self.next}")}]})
        if self.link:
            button = {"type": "button", "text": {"type": "plain_text", "text": self.link_label}, "url": self.link}
            out.append({"type": "actions", "elements": [button]})
        return out

    def record(self) -> dict[str, Any]:
        """The outbox's fields for this alert (besides when, model and the delivery)."""
        return {"kind": self.kind, "severity": self.severity, "numbers": dict(self.numbers)}


def _cut(text: str, limit: int = _SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text)}}


# -- links ------------------------------------------------------------------------------------------------


def run_url(base_url: str | None, dag_id: str, run_id: str | None) -> str | None:
    """The Airflow UI page of a DAG run (the DAG's page without a run id), or None without ``[api] base_url``."""
    if not base_url:
        return None
    url = f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}"
    return f"{url}/runs/{quote(run_id, safe='')}" if run_id else url


def task_url(base_url: str | None, dag_id: str, run_id: str | None, task_id: str) -> str | None:
    """The Airflow UI page of a task instance (its log), or None without ``[api] base_url`` or a run id."""
    run = run_url(base_url, dag_id, run_id) if run_id else None
    return f"{run}/tasks/{quote(task_id, safe='')}" if run else None


# -- the kinds ------------------------------------------------------------------------------------------


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "n/a" if value is None else str(value)


def _v(version: Any) -> str:
    return f"v{version}" if version not in (None, "") else "none"


def failed_task(
    *,
    kind: str,
    model: str,
    dag_id: str,
    task_id: str,
    run_id: str,
    outcome: str,
    retried: bool,
    error: str,
    lines: Sequence[str],
    next: str,
    link: str | None,
) -> Alert:
    """A failed task (``task_failed``), or the typed failures with their own kind: ``validation_failed`` (the
    lines are the failed expectations with counts) and ``gate_failed`` (the failed gates, value vs threshold).

    :param outcome: the try and retry wording of :func:`~mlops_provider.notifications.alerts.retry_outcome`.
    :param error: the exception's class name, or ``""``.
    """
    what = {
        "task_failed": "",
        "validation_failed": "data validation failed: ",
        "gate_failed": "the new model failed its gates: ",
    }[kind] + f"task `{task_id}` of `{dag_id}` failed"
    first, *rest = list(lines) or ["no exception text (see the task log)"]
    return Alert(
        kind=kind,
        model=model,
        severity="warning" if retried else "error",
        headline=f"{model}: {what} in run `{run_id}`{outcome}.",
        details=(f"{error + ': ' if error else ''}{first}", *rest),
        next=next,
        link=link,
        link_label="Log",
        numbers={"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "retried": retried},
    )


def drift_detected(
    *,
    model: str,
    champion: str,
    drifted: Sequence[str],
    features: int,
    share: float,
    threshold: float,
    top: Iterable[tuple[str, str, float]],
    prediction: str,
    retrain: bool,
    brake: str | None,
    reason: str,
    link: str | None,
) -> Alert:
    """Dataset drift found by a check: how much, where, and whether a retrain was asked for or held back.

    :param top: the drifted features to name, ``(column, method, score)`` each.
    """
    top_text = ", ".join(f"{column} ({method} {score:.3g})" for column, method, score in top)
    if retrain:
        nxt = (
            "retraining triggered automatically: the training DAG runs from this drift event, then gates, "
            "registration and deployment as usual; you hear again when the new model is deployed."
        )
    else:
        nxt = f"no retraining: held back by the {brake} brake: {reason}."
    return Alert(
        kind="drift_detected",
        model=model,
        severity="warning",
        headline=f"{model}: {len(drifted)} of {features} features drifted from the champion {_v(champion)} "
        f"baseline (share {share:.0%}, threshold {threshold:.0%}).",
        details=(
            f"Top drifted: {top_text or 'none'}",
            f"Predictions: {prediction}",
            f"Retraining: {'triggered' if retrain else f'held back ({brake})'}",
        ),
        next=nxt,
        link=link,
        link_label="Drift check run",
        numbers={
            "champion": champion,
            "drifted": len(drifted),
            "features": features,
            "share": round(share, 4),
            "retrain": retrain,
            "brake": brake,
        },
    )


def circuit_open(
    *, model: str, retrains: int, limit: int, share: float, drifted: Sequence[str], reason: str, link: str | None
) -> Alert:
    """Escalation: the breaker opened; no retrain is asked for again until a person closes the episode."""
    return Alert(
        kind="circuit_open",
        model=model,
        severity="critical",
        headline=f"{model}: circuit breaker open: {retrains} drift-triggered retrains in a row (limit {limit}) did "
        "not bring drift under the threshold. A person must act.",
        details=(f"Drift now: share {share:.0%}, drifted {', '.join(drifted) or 'none'}", f"Why: {reason}"),
        next="no more automatic retrains for this episode. Look at the drift report and the data, fix the cause "
        "(data, features, config), then close the episode (docs/runbooks/drift.md, 'Circuit breaker open').",
        link=link,
        link_label="Drift check run",
        numbers={"retrains": retrains, "limit": limit, "share": round(share, 4)},
    )


def no_new_data(*, model: str, champion: str, snapshot: str, message: str, link: str | None) -> Alert:
    """Escalation: a drift-triggered retrain found the champion's own data and trained nothing."""
    return Alert(
        kind="no_new_data",
        model=model,
        severity="critical",
        headline=f"{model}: drift persists, but there are no new labeled rows since champion {_v(champion)}: "
        "retraining cannot fix this. A person must act.",
        details=(message,),
        next="land newer labeled data, change the config (features, window), or accept the drift "
        "(docs/runbooks/drift.md); drift checks hold retrains back until then.",
        link=link,
        numbers={"champion": champion, "snapshot": snapshot[:12]},
    )


def retrain_finished(
    *,
    model: str,
    version: str,
    previous: str | None,
    metric: str,
    value: float | None,
    previous_value: float | None,
    drift_started: datetime | None,
    deployed_at: datetime,
    how: str,
    link: str | None,
) -> Alert:
    """A drift-triggered retrain put a new champion in place: its metric against the old one, drift → champion."""
    minutes = (deployed_at - drift_started).total_seconds() / 60 if drift_started else None
    later = f" {minutes:.1f} min after drift was detected" if minutes is not None else ""
    return Alert(
        kind="retrain_finished",
        model=model,
        severity="info",
        headline=f"{model}: retraining after drift finished: new model {_v(version)} {how}{later}.",
        details=(f"{metric}: {_num(value)} for {_v(version)} against {_num(previous_value)} for {_v(previous)}",),
        next=f"scoring serves {_v(version)} from its next run, and the next drift check compares against it.",
        link=link,
        numbers={
            "version": version,
            "previous": previous,
            "metric": metric,
            "value": value,
            "previous_value": previous_value,
            "minutes": None if minutes is None else round(minutes, 1),
        },
    )


def approval_requested(
    *,
    model: str,
    version: str,
    champion: str | None,
    metric: str,
    value: float | None,
    champion_value: float | None,
    gates_passed: int,
    gates: int,
    strategy: str,
    timeout_hours: float,
    assigned: Sequence[str],
    link: str | None,
) -> Alert:
    """A version waits for sign-off; the link opens the request on the Required Actions page."""
    against = f" against {_num(champion_value)} for champion {_v(champion)}" if champion else " (no champion yet)"
    who = f" Assigned to: {', '.join(assigned)}." if assigned else ""
    return Alert(
        kind="approval_requested",
        model=model,
        severity="warning",
        headline=f"{model}: {_v(version)} waits for sign-off before it deploys by {strategy}.",
        details=(f"{metric}: {_num(value)}{against}", f"Gates passed: {gates_passed} of {gates}"),
        next=f"approve or reject on the Required Actions page within {timeout_hours:g} h; no answer counts as "
        f"reject and nothing deploys.{who}",
        link=link,
        link_label="Required Actions",
        numbers={"version": version, "champion": champion, "timeout_hours": timeout_hours},
    )


def trial_outcome(
    *,
    model: str,
    strategy: str,
    version: str,
    champion: str | None,
    promoted: bool,
    rows: int,
    runs: int,
    gates: Sequence[Mapping[str, Any]],
    dag_id: str,
    run_id: str,
    link: str | None,
) -> Alert:
    """A trial ended. ``gates``: ``{"gate", "passed", "detail"}`` each, as the trial sensor records them."""
    failed = [g for g in gates if not g.get("passed")]
    seen = f"{rows:,} rows in {runs} scoring run(s)"
    if promoted:
        headline = f"{model}: {strategy} trial of {_v(version)} passed ({seen}): {_v(version)} is champion, "
        headline += f"replacing {_v(champion)}."
        nxt = f"scoring serves {_v(version)} to every row from its next run."
    else:
        names = ", ".join(str(g.get("gate")) for g in failed) or "a gate"
        headline = f"{model}: {strategy} trial of {_v(version)} failed on {names} ({seen}): rolled back "
        headline += f"automatically; champion stays {_v(champion)}."
        nxt = (
            f"scoring serves only {_v(champion)} from its next run. {_v(version)} is tagged mlops.trial with these "
            "numbers (docs/runbooks/bad-model-in-production.md)."
        )
    return Alert(
        kind="trial_outcome",
        model=model,
        severity="info" if promoted else "error",
        headline=headline,
        details=tuple(f"{'pass' if g.get('passed') else 'FAIL'} {g.get('gate')}: {g.get('detail')}" for g in gates),
        next=nxt,
        link=link,
        numbers={
            "version": version,
            "champion": champion,
            "promoted": promoted,
            "rows": rows,
            "runs": runs,
            "dag_id": dag_id,
            "run_id": run_id,
        },
    )


def promoted(*, model: str, version: str, previous: str | None, why: str, by: str, link: str | None) -> Alert:
    """A version became champion by direct promotion."""
    return Alert(
        kind="promoted",
        model=model,
        severity="info",
        headline=f"{model}: champion {_v(previous)} → {_v(version)}.",
        details=(f"Why: {why}", f"By: {by}"),
        next=f"scoring serves {_v(version)} from its next run; `airflow dags trigger {model}_rollback` "
        f"brings back {_v(previous)}."
        if previous
        else f"scoring serves {_v(version)} from its next run.",
        link=link,
        numbers={"version": version, "previous": previous},
    )


def rolled_back(*, model: str, version: str, previous: str | None, why: str, by: str, link: str | None) -> Alert:
    """The champion went back to an earlier version (the rollback DAG)."""
    return Alert(
        kind="rolled_back",
        model=model,
        severity="warning",
        headline=f"{model}: rolled back: champion {_v(previous)} → {_v(version)}, asked by {by}.",
        details=(f"Why: {why}",),
        next=f"scoring serves {_v(version)} from its next run; {_v(previous)} stays registered "
        "(docs/runbooks/bad-model-in-production.md).",
        link=link,
        numbers={"version": version, "previous": previous, "by": by},
    )


def recovered(*, model: str, dag_id: str, run_id: str, failures: int, since: str | None, link: str | None) -> Alert:
    """A DAG run succeeded after failures of the same DAG (the incidents it closes)."""
    when = f" since {since}" if since else ""
    return Alert(
        kind="recovered",
        model=model,
        severity="info",
        headline=f"{model}: `{dag_id}` recovered: run `{run_id}` succeeded after {failures} failure(s){when}.",
        next=f"nothing to do; the failures stay in the incident log (`mlops incidents {model}`).",
        link=link,
        numbers={"dag_id": dag_id, "failures": failures},
    )


def budget_breach(
    *,
    model: str,
    month: str,
    month_to_date: float,
    projected: float,
    budget: float,
    hold: bool,
    hold_at: float,
    top: Sequence[tuple[str, float]],
    link: str | None,
) -> Alert:
    """The month's projection is over the budget; ``hold``: over ``hold_at`` x the budget, retraining is held.

    :param top: where the month's money went: ``(DAG id, USD)``, most first.
    """
    where = ", ".join(f"{dag} ${usd:,.2f}" for dag, usd in top) or "n/a"
    headline = (
        f"{model}: cost of {month} projected at ${projected:,.2f}, over the ${budget:,.2f} budget "
        f"(month to date ${month_to_date:,.2f})."
    )
    if hold:
        headline += f" Drift-triggered retraining is held (over {hold_at:g} x the budget). A person must act."
        nxt = (
            "raise cost.monthly_budget_usd or cut the spend (schedules, instance type, window); the hold lifts at "
            f"the first cost report projected under {hold_at:g} x the budget (docs/cost.md, 'Budget exceeded')."
        )
    else:
        nxt = (
            f"nothing is held yet; over {hold_at:g} x the budget, drift-triggered retraining is held. "
            f"`mlops cost {model}` shows every run's cost (docs/cost.md, 'Budget exceeded')."
        )
    return Alert(
        kind="budget_breach",
        model=model,
        severity="critical" if hold else "warning",
        headline=headline,
        details=(f"Month to date by DAG: {where}",),
        next=nxt,
        link=link,
        numbers={
            "month": month,
            "month_to_date": round(month_to_date, 4),
            "projected": round(projected, 4),
            "budget": budget,
            "hold": hold,
        },
    )
