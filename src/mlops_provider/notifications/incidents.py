"""The incident log: every failure, drift episode, circuit-breaker opening, budget breach and rollback, and when
it ended.

Slack scrolls away; this log stays. Each alert that reports an incident is tracked here (:func:`track`), by
:func:`~mlops_provider.notifications.alerts.announce`, so nothing else writes it: a failed task (not retried)
opens an incident for its DAG, which the DAG's next successful run resolves (the ``recovered`` alert); a drift
check that finds drift opens the model's drift incident, or adds to it while the episode lasts, and the check
that finds drift gone resolves it; an escalation (circuit breaker, no new data) opens its own; a budget breach opens
the month's budget incident, which a cost report back under the budget resolves; a rollback is recorded as
opened and resolved at once.

The log is a JSON-lines file (``[mlops] incidents_path``): one line per event (``open``, ``update``,
``resolve``), appended, never rewritten, so concurrent tasks cannot lose each other's lines.
:func:`incidents` folds the lines into one record per incident; ``mlops incidents <model>`` prints them.
Stdlib only: DAG-level callbacks run it in the dag-processor.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_provider.notifications.catalogue import Alert

#: Kinds of alert from a failed task: each opens (or adds to) the incident of its DAG.
FAILURE_KINDS = ("task_failed", "validation_failed", "gate_failed", "trial_outcome")
#: Kinds with an incident key of their own, resolved when drift is gone.
DRIFT_KEYS = {"drift_detected": "drift", "circuit_open": "drift:circuit_breaker", "no_new_data": "drift:no_new_data"}


def _path() -> Path:
    from mlops_provider import settings

    return settings.incidents_path()


def _append(line: dict[str, Any]) -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, default=str) + "\n")


def _lines() -> Iterator[dict[str, Any]]:
    path = _path()
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            try:
                yield json.loads(raw)
            except ValueError:  # a line cut short by a crash: the rest still counts
                continue


def incidents(model: str | None = None) -> list[dict[str, Any]]:
    """Every incident (of ``model``), oldest first: ``{"id", "model", "kind", "key", "opened_at", "summary",
    "action", "numbers", "dag_id", "run_id", "updates", "last_at", "resolved_at", "resolution"}``."""
    found: dict[str, dict[str, Any]] = {}
    for line in _lines():
        if model is not None and line.get("model") != model:
            continue
        event, ident = line.get("event"), str(line.get("id"))
        if event == "open":
            found[ident] = {
                **{k: line.get(k) for k in ("id", "model", "kind", "key", "summary", "action", "numbers")},
                **{"dag_id": line.get("dag_id"), "run_id": line.get("run_id")},
                "opened_at": line.get("at"),
                "updates": 0,
                "last_at": line.get("at"),
                "resolved_at": None,
                "resolution": None,
            }
        elif ident in found and event == "update":
            found[ident]["updates"] += 1
            found[ident]["last_at"] = line.get("at")
            found[ident]["action"] = line.get("action") or found[ident]["action"]
        elif ident in found and event == "resolve":
            found[ident]["resolved_at"] = line.get("at")
            found[ident]["resolution"] = line.get("resolution")
    return list(found.values())


def open_incidents(model: str, prefix: str) -> list[dict[str, Any]]:
    """The model's unresolved incidents whose key is ``prefix`` or starts with ``prefix:``."""
    return [
        i
        for i in incidents(model)
        if i["resolved_at"] is None and (i["key"] == prefix or str(i["key"]).startswith(f"{prefix}:"))
    ]


def resolve(model: str, prefix: str, resolution: str, at: datetime | None = None) -> list[dict[str, Any]]:
    """Resolve the model's open incidents under ``prefix``; returns them (as they were before)."""
    when = (at or datetime.now(UTC)).isoformat(timespec="seconds")
    found = open_incidents(model, prefix)
    for incident in found:
        _append({"event": "resolve", "id": incident["id"], "model": model, "at": when, "resolution": resolution})
    return found


def _open(alert: Alert, key: str, when: str, *, resolution: str | None = None) -> str:
    numbers = dict(alert.numbers)
    for current in open_incidents(alert.model, key):
        if current["key"] == key:  # still going: one incident, one more event
            _append(
                {
                    "event": "update",
                    "id": current["id"],
                    "model": alert.model,
                    "at": when,
                    "kind": alert.kind,
                    "action": alert.next,
                    "run_id": numbers.get("run_id"),
                }
            )
            return str(current["id"])
    ident = f"{when[:10]}-{secrets.token_hex(3)}"
    _append(
        {
            "event": "open",
            "id": ident,
            "model": alert.model,
            "kind": alert.kind,
            "key": key,
            "at": when,
            "summary": alert.headline,
            "action": alert.next,
            "numbers": numbers,
            "dag_id": numbers.get("dag_id"),
            "run_id": numbers.get("run_id"),
        }
    )
    if resolution is not None:
        _append({"event": "resolve", "id": ident, "model": alert.model, "at": when, "resolution": resolution})
    return ident


def track(alert: Alert, at: datetime | None = None) -> str | None:
    """Record what ``alert`` says in the incident log; returns the incident's id, None when it is no incident.

    A ``trial_outcome`` counts only when the trial failed (it comes from the failed task), a failure only when
    Airflow does not retry it (a retry may still succeed).
    """
    when = (at or datetime.now(UTC)).isoformat(timespec="seconds")
    numbers = alert.numbers
    if alert.kind in FAILURE_KINDS:
        if numbers.get("retried") or numbers.get("promoted"):
            return None
        return _open(alert, f"dag:{numbers.get('dag_id')}", when)
    if alert.kind in DRIFT_KEYS:
        if alert.kind == "drift_detected" and not numbers.get("retrain") and numbers.get("brake") == "deduplication":
            return None  # a retrain is on its way: the incident is open already
        return _open(alert, DRIFT_KEYS[alert.kind], when)
    if alert.kind == "budget_breach":
        level = "hold" if numbers.get("hold") else "over"
        return _open(alert, f"budget:{numbers.get('month')}:{level}", when)
    if alert.kind == "rolled_back":
        return _open(alert, f"rollback:{numbers.get('version')}", when, resolution="rolled back (done)")
    return None
