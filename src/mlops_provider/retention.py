"""What the retention DAG does, decided without touching anything: a pure plan from facts and the config.

:func:`plan_versions` takes every version of a model as :class:`VersionFacts` (its number, when it was
registered, the aliases on it, when it was archived, the state of the Airflow run that made it) and returns a
:class:`Decision` per version: ``keep`` (with the reason), ``archive`` or ``delete``. The rules, in order:

1. a version an alias points at is kept (champion, previous_champion, challenger, canary, shadow);
2. a version made by a DAG run that is still queued or running is kept; so is one whose run state could not
   be looked up (the reason says why);
3. the newest ``keep_last`` versions are kept;
4. an archived version registered more than ``delete_after_days`` ago is deleted; one archived earlier is kept;
5. a version registered more than ``archive_after_days`` ago is archived; a newer one is kept.

A version is never archived and deleted by the same run. :func:`expired_partitions` and :func:`expired_runs`
pick the prediction log days and the drift-check runs past their retention. Nothing here imports MLflow,
Airflow or a heavy library; :class:`~mlops_provider.operators.retention.RetentionOperator` gathers the facts
and carries the plan out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from mlops_provider.config.schema_retention import RetentionConfig

Action = Literal["keep", "archive", "delete"]
#: Airflow DAG run states in which the run may still use the versions it made.
ACTIVE_RUN_STATES = ("queued", "running")
_PARTITION_RE = re.compile(r"^(?:scoring_date|date)=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class VersionFacts:
    """What retention knows of one model version."""

    version: str
    created: datetime
    aliases: tuple[str, ...] = ()
    archived_at: datetime | None = None
    #: the Airflow run that trained it (``dag_id/run_id``), None when no DAG run made it
    made_by: str | None = None
    #: that run's state, as Airflow reports it; None when there is no run or the lookup failed
    run_state: str | None = None
    #: why the run's state could not be looked up, when it could not
    run_lookup_error: str | None = None
    bytes: int | None = None


@dataclass(frozen=True)
class Decision:
    version: str
    action: Action
    reason: str
    bytes: int | None = None
    age_days: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _age_days(created: datetime, now: datetime) -> float:
    return round((now - created).total_seconds() / 86400, 1)


def plan_versions(versions: Iterable[VersionFacts], config: RetentionConfig, now: datetime) -> list[Decision]:
    """One decision per version, newest first (see the module docstring for the rules)."""
    ordered = sorted(versions, key=lambda v: int(v.version), reverse=True)
    newest = {v.version for v in ordered[: config.keep_last]}
    decisions = []
    for v in ordered:
        age = _age_days(v.created, now)

        def decide(action: Action, reason: str, v: VersionFacts = v, age: float = age) -> Decision:
            return Decision(v.version, action, reason, v.bytes, age)

        if v.aliases:
            decisions.append(decide("keep", f"alias {', '.join(sorted(v.aliases))} points at it"))
        elif v.made_by and v.run_lookup_error:
            decisions.append(
                decide("keep", f"the state of its DAG run {v.made_by} could not be looked up: {v.run_lookup_error}")
            )
        elif v.made_by and v.run_state in ACTIVE_RUN_STATES:
            decisions.append(decide("keep", f"its DAG run {v.made_by} is still {v.run_state}"))
        elif v.version in newest:
            decisions.append(decide("keep", f"one of the newest {config.keep_last} versions"))
        elif v.archived_at is not None:
            if v.created <= now - timedelta(days=config.delete_after_days):
                decisions.append(
                    decide("delete", f"archived {v.archived_at:%Y-%m-%d}; older than {config.delete_after_days} days")
                )
            else:
                due = v.created + timedelta(days=config.delete_after_days)
                decisions.append(decide("keep", f"archived {v.archived_at:%Y-%m-%d}; deleted from {due:%Y-%m-%d}"))
        elif v.created <= now - timedelta(days=config.archive_after_days):
            decisions.append(decide("archive", f"older than {config.archive_after_days} days"))
        else:
            decisions.append(decide("keep", f"too new: archived after {config.archive_after_days} days"))
    return decisions


def partition_date(name: str) -> str | None:
    """The day of a prediction log partition folder (``scoring_date=YYYY-MM-DD`` or the older ``date=``)."""
    found = _PARTITION_RE.match(name)
    return found.group(1) if found else None


def expired_partitions(names: Iterable[str], days: int, now: datetime) -> list[str]:
    """The partition folder names whose day is more than ``days`` days before ``now``'s day, oldest first."""
    cutoff = (now - timedelta(days=days)).date().isoformat()
    dated = [(d, n) for n in names if (d := partition_date(n)) is not None]
    return [n for d, n in sorted(dated) if d < cutoff]


def expired_runs(runs: Iterable[tuple[str, datetime]], days: int, now: datetime) -> list[str]:
    """Ids of the runs (``(run_id, started)``) that started more than ``days`` days before ``now``."""
    cutoff = now - timedelta(days=days)
    return [run_id for run_id, started in sorted(runs, key=lambda r: r[1]) if started < cutoff]
