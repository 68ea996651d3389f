"""The model registry behind :class:`~mlops_provider.hooks.mlflow.MlflowHook`: aliases, promotion, history.

Every move of an alias of one model goes through :class:`ModelRegistry` (a promotion after training, or a
rollback to an earlier champion), and each move is

* **serialized**: it holds the model's alias lock (:func:`~mlops_provider.hooks.locks.alias_lock`) from
  reading the current champion to the last write, so two moves at once cannot both replace the same champion;
* **re-checked**: the evidence (a promotion's ``check``, a rollback target's gates) is checked inside the
  lock against the champion as it is at that moment; a move is refused (:class:`PromotionRefused`,
  :class:`RollbackRefused`) when it does not hold;
* **crash-safe**: the decided move is written first as an intent (tag ``mlops.promotion_intent`` on the
  registered model), then applied step by step with idempotent writes, then the intent is removed. A move
  interrupted at any step (a killed worker, a lost connection) is completed by the next alias move of the
  model, the retry of the same task included, before anything else happens.

Heavy imports (mlflow, sqlalchemy) happen inside functions: hooks are imported while DAGs are parsed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from mlops_provider.hooks.locks import LOCK_TIMEOUT_SECONDS, AliasLock, NoAliasLock
from mlops_provider.hooks.registry_overview import OverviewReads
from mlops_provider.hooks.registry_retention import RetentionMoves
from mlops_provider.hooks.registry_trials import TrialMoves
from mlops_provider.naming import (
    BUDGET_HOLD_TAG,
    CHALLENGER,
    CHAMPION,
    COST_MONTH_TAG,
    DRIFT_EPISODE_TAG,
    GATES_TAG,
    PREVIOUS_CHAMPION,
    PROMOTION_INTENT_TAG,
    PROMOTION_TAG,
    TRIAL_ALIASES,
)

log = logging.getLogger(__name__)


class RegistryError(AirflowFailException):
    """The registry cannot be used as configured; a retry would not help. The message says what to fix."""


class PromotionRefused(RegistryError):
    """The evidence a promotion relies on does not hold against the champion of this moment."""


class RollbackRefused(RegistryError):
    """A rollback has no version to go back to, or that version never passed its gates; nothing moved."""


class RegistryStoreMissing(RegistryError):
    """The connection points at a SQLite store that does not exist (moved, deleted, or a typo)."""


#: ``check(current_champion_version)`` returns the evidence text recorded with the promotion, or raises
#: :class:`PromotionRefused`. It runs inside the model's lock.
Check = Callable[[str | None], str]


#: The fields of a history record (``by``: rollbacks only; ``kind`` is absent from records older than it).
RECORD_KEYS = ("id", "seq", "kind", "from", "to", "at", "reason", "evidence", "by", "run_id")


# -- the registry ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Promotion:
    """Outcome of :meth:`ModelRegistry.promote` or :meth:`ModelRegistry.rollback` (``kind``)."""

    name: str
    champion: str
    previous_champion: str | None
    promoted: bool
    evidence: str = ""
    completed: list[dict[str, Any]] = field(default_factory=list)  # interrupted moves finished first
    kind: str = "promotion"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _not_found(exc: Exception) -> bool:
    """Whether an MLflow error means "no such alias / model" (as opposed to a store that cannot answer)."""
    return getattr(exc, "error_code", None) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ModelRegistry(TrialMoves, RetentionMoves, OverviewReads):
    """Alias lookups, serialized crash-safe promotion and the promotion history of registered models.

    :param client: an ``MlflowClient`` (the hook's).
    :param lock: how alias moves are serialized; lookups and the history need none.
    """

    def __init__(self, client: Any, lock: AliasLock | None = None, lock_timeout: float = LOCK_TIMEOUT_SECONDS) -> None:
        self.client = client
        self._lock = lock
        self.lock_timeout = lock_timeout

    # -- lookups ---------------------------------------------------------------------------------------

    def alias(self, name: str, alias: str) -> str | None:
        """Version the alias points at, None when it is not set (or the model does not exist)."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException as exc:
            if _not_found(exc):
                return None
            raise  # a store that cannot answer must never read as "no champion"

    def champion(self, name: str) -> str | None:
        return self.alias(name, CHAMPION)

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every champion move of ``name`` (``kind`` promotion or rollback), oldest first, from the versions'
        ``mlops.promotion`` tags: each record is kept on the version the move made champion."""
        events: list[dict[str, Any]] = []
        for mv in self.client.search_model_versions(f"name = '{name}'"):
            text = (mv.tags or {}).get(PROMOTION_TAG)
            if not text:
                continue
            try:
                events.extend(json.loads(text))
            except ValueError:
                log.warning("%s v%s: unreadable %s tag ignored", name, mv.version, PROMOTION_TAG)
        # ``seq`` orders promotions made under the lock (clocks of two workers may disagree, and two moves
        # can fall in one second); records written before it existed sort first, by time.
        return sorted(events, key=lambda e: (int(e.get("seq") or 0), str(e.get("at", ""))))

    def pending(self, name: str) -> dict[str, Any] | None:
        """The interrupted (or in-flight) alias move of ``name``, if any."""
        from mlflow.exceptions import MlflowException

        try:
            tags = self.client.get_registered_model(name).tags or {}
        except MlflowException as exc:
            if _not_found(exc):
                return None
            raise
        text = tags.get(PROMOTION_INTENT_TAG)
        if not text:
            return None
        try:
            intent = json.loads(text)
            if not isinstance(intent, dict) or "to" not in intent or "id" not in intent:
                raise ValueError("not an intent record")
        except ValueError:
            raise RegistryError(
                f"model {name!r} has an unreadable {PROMOTION_INTENT_TAG} tag ({text[:80]!r}), so no alias of it can "
                "move safely: check the champion and previous_champion aliases in MLflow, then delete that tag"
            ) from None
        return dict(intent)

    def _model_tag(self, name: str, tag: str) -> dict[str, Any] | None:
        from mlflow.exceptions import MlflowException

        try:
            text = (self.client.get_registered_model(name).tags or {}).get(tag)
        except MlflowException as exc:
            if _not_found(exc):
                return None
            raise
        return dict(json.loads(text)) if text else None

    def _set_model_tag(self, name: str, tag: str, value: dict[str, Any] | None) -> None:
        if value is not None:
            self.client.set_registered_model_tag(name, tag, json.dumps(value))
        elif self._model_tag(name, tag) is not None:
            self.client.delete_registered_model_tag(name, tag)

    def drift_episode(self, name: str) -> dict[str, Any] | None:
        """The open drift episode of ``name`` (retrain requests and the brakes' state), None when none is open."""
        return self._model_tag(name, DRIFT_EPISODE_TAG)

    def set_drift_episode(self, name: str, episode: dict[str, Any] | None) -> None:
        """Record the drift episode of ``name``; ``None`` closes it."""
        self._set_model_tag(name, DRIFT_EPISODE_TAG, episode)

    def budget_hold(self, name: str) -> dict[str, Any] | None:
        """The budget hold on drift-triggered retraining of ``name`` (month, projection, budget), or None."""
        return self._model_tag(name, BUDGET_HOLD_TAG)

    def set_budget_hold(self, name: str, hold: dict[str, Any] | None) -> None:
        """Hold drift-triggered retraining of ``name`` for a budget projection; ``None`` releases it. A model not
        registered yet has nothing to hold."""
        from mlflow.exceptions import MlflowException

        try:
            self._set_model_tag(name, BUDGET_HOLD_TAG, hold)
        except MlflowException as exc:
            if not _not_found(exc):
                raise

    def set_month_cost(self, name: str, month: dict[str, Any]) -> None:
        """Record the month's cost so far on ``name`` (the cost report, after each run). A model not registered
        yet has nowhere to keep it: readers then sum its cost runs."""
        from mlflow.exceptions import MlflowException

        try:
            self._set_model_tag(name, COST_MONTH_TAG, month)
        except MlflowException as exc:
            if not _not_found(exc):
                raise

    # -- versions --------------------------------------------------------------------------------------

    def register(self, name: str, model_uri: str, run_id: str, tags: dict[str, str]) -> tuple[str, bool]:
        """The version of ``name`` made from MLflow run ``run_id``: found if an earlier try created it, created
        otherwise with every tag in the same call. Returns (version, created). A failed creation never leaves
        a registered model without versions behind."""
        import mlflow
        from mlflow.exceptions import MlflowException

        from mlops_provider.lineage import oversized

        existing = self.client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        if existing:
            return str(max(int(v.version) for v in existing)), False
        too_long = oversized(tags)
        if too_long:
            raise RegistryError(
                f"cannot register {name} from run {run_id}: tag(s) {', '.join(too_long)} exceed MLflow's limit "
                "of 100,000 characters. Nothing was registered"
            )
        try:
            self.client.get_registered_model(name)
            model_existed = True
        except MlflowException as exc:
            if not _not_found(exc):
                raise
            model_existed = False
        try:
            return str(mlflow.register_model(model_uri, name, tags=tags).version), True
        except Exception:
            try:
                if not model_existed and not self.client.search_model_versions(f"name = '{name}'"):
                    log.warning("Registering %s failed; deleting the empty registered model it left", name)
                    self.client.delete_registered_model(name)
            except Exception as cleanup:  # the original error is the one to report
                log.warning("Could not check for an empty registered model %s: %s", name, cleanup)
            raise

    # -- alias moves -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[list[dict[str, Any]]]:
        """Hold ``name``'s alias lock; any interrupted move of it is completed first (and yielded)."""
        if self._lock is None:
            raise RegistryError("this registry was opened without an alias lock; it can only read")
        with self._lock.hold(name, self.lock_timeout):
            yield self._complete_pending(name)

    def set_challenger(self, name: str, version: str) -> None:
        if isinstance(self._lock, NoAliasLock):  # no champion can move here, so no move can be pending
            self.client.set_registered_model_alias(name, CHALLENGER, version)
            return
        with self.locked(name):
            self.client.set_registered_model_alias(name, CHALLENGER, version)

    def promote(self, name: str, version: str, *, reason: str, run_id: str | None, check: Check) -> Promotion:
        """Make ``version`` the champion of ``name`` if ``check`` accepts the champion of this moment.

        The champion it replaces becomes ``previous_champion``; ``challenger`` is dropped if it pointed at
        ``version``; a record (from, to, when, why, evidence, run id) is appended to the version's
        ``mlops.promotion`` tag. Promoting the champion again changes nothing.
        """
        version = str(version)
        with self.locked(name) as completed:
            current = self.champion(name)
            finished = next((i for i in completed if str(i.get("to")) == version), None)
            if current == version and finished is not None:  # this very promotion, interrupted, now complete
                return Promotion(name, version, finished.get("from"), True, str(finished.get("evidence")), completed)
            if current == version:
                if not any(str(e.get("to")) == version for e in self.history(name)):
                    log.warning(
                        "%s v%s is champion but no promotion record says why: its alias was moved outside the pipeline",
                        name,
                        version,
                    )
                self._drop_challenger(name, version)
                log.info("%s v%s is already champion; nothing to do", name, version)
                return Promotion(name, version, self.alias(name, PREVIOUS_CHAMPION), False, completed=completed)
            evidence = check(current)
            record = {"kind": "promotion", "from": current, "to": version, "reason": reason, "evidence": evidence}
            self._move(name, {**record, "run_id": run_id})
        log.info(
            "Promoted %s v%s to champion (previous champion: %s) because %s; %s",
            name,
            version,
            f"v{current}" if current else "none",
            reason,
            evidence,
        )
        return Promotion(name, version, current, True, evidence, completed)

    def rollback(self, name: str, *, to: str | None = None, reason: str, by: str, run_id: str | None) -> Promotion:
        """Make ``to`` (default: the ``previous_champion``) the champion of ``name`` again, in one move.

        Inside the model's lock, after any interrupted move is completed: the champion of this moment is read,
        the target resolved and checked (it must have passed its gates once: no failed ``fail`` gate in its
        ``mlops.gates`` tag). The champion it replaces becomes ``previous_champion``; a record with
        ``kind: "rollback"``, ``reason`` and ``by`` (who asked) is appended to the target's ``mlops.promotion``
        tag, through the same intent as a promotion, so a killed rollback is completed by its retry. A retry
        or re-run of the run that rolled back (same ``run_id``) changes nothing; a target that already is
        champion changes nothing either (``promoted`` is False in both cases).

        :raises RollbackRefused: no target, an unknown version, or a version that never passed its gates.
        """
        with self.locked(name) as completed:
            mine = (
                e for e in self.history(name) if run_id and (e.get("kind"), e.get("run_id")) == ("rollback", run_id)
            )
            done = next(mine, None)
            if done is not None:  # this run rolled back already, or its interrupted try was just completed
                moved = any(i.get("id") == done.get("id") for i in completed)
                if not moved:
                    log.info(
                        "%s: run %s already rolled back to v%s at %s; nothing to do",
                        name,
                        run_id,
                        done["to"],
                        done["at"],
                    )
                return Promotion(
                    name, str(done["to"]), done.get("from"), moved, str(done.get("evidence")), completed, "rollback"
                )
            current = self.champion(name)
            target = str(to) if to else self.alias(name, PREVIOUS_CHAMPION)
            if target is None:
                raise RollbackRefused(
                    f"{name} has no {PREVIOUS_CHAMPION} to roll back to (champion is {_v(current)}): no promotion "
                    "has replaced a champion yet. Nothing moved; give the version to restore"
                )
            if target == current:
                log.info("%s v%s is already champion; nothing to roll back, nothing moved", name, target)
                return Promotion(
                    name, target, self.alias(name, PREVIOUS_CHAMPION), False, completed=completed, kind="rollback"
                )
            evidence = self._gates_passed(name, target, current)
            record = {"kind": "rollback", "from": current, "to": target, "reason": reason, "evidence": evidence}
            self._move(name, {**record, "by": by, "run_id": run_id})
        log.info("Rolled %s back from %s to v%s (by %s): %s; %s", name, _v(current), target, by, reason, evidence)
        return Promotion(name, target, current, True, evidence, completed, "rollback")

    def _gates_passed(self, name: str, version: str, current: str | None) -> str:
        """The evidence that ``version`` may serve again, or :class:`RollbackRefused`."""
        from mlflow.exceptions import MlflowException

        stays = f"Nothing moved; champion stays {_v(current)}"
        try:
            tags = self.client.get_model_version(name, version).tags or {}
        except MlflowException as exc:
            if _not_found(exc):
                raise RollbackRefused(f"{name} has no version {version!r}. {stays}") from None
            raise
        if GATES_TAG not in tags:
            raise RollbackRefused(
                f"{name} v{version} has no gate results ({GATES_TAG} tag): it was not registered by the training "
                f"pipeline, so nothing shows it ever passed its gates. {stays}"
            )
        failed = [g for g in json.loads(tags[GATES_TAG]) if not g.get("passed") and g.get("severity") == "fail"]
        if failed:
            raise RollbackRefused(
                f"{name} v{version} failed gate(s) {', '.join(str(g.get('gate')) for g in failed)} when it was "
                f"trained, so it may not serve. {stays}"
            )
        return f"v{version} passed its gates when registered; replaces {_v(current)}"

    def _move(self, name: str, record: dict[str, Any]) -> None:
        """Write the decided move as the intent (numbered after every recorded move), then apply it."""
        seq = max((int(e.get("seq") or 0) for e in self.history(name)), default=0) + 1
        intent = {"id": uuid.uuid4().hex, "seq": seq, "at": _now(), **record}
        self.client.set_registered_model_tag(name, PROMOTION_INTENT_TAG, json.dumps(intent))
        self._apply(name, intent)

    def _complete_pending(self, name: str) -> list[dict[str, Any]]:
        intent = self.pending(name)
        if intent is None:
            return []
        current = self.champion(name)
        applied = (
            current == intent.get("from") and intent.get("from") != intent.get("to") and self._recorded(name, intent)
        )
        if applied or current not in (intent.get("from"), intent.get("to")):
            log.warning(
                "%s: an interrupted %s to v%s (from %s, %s) is abandoned: champion is v%s now, moved outside the "
                "pipeline",
                name,
                intent.get("kind", "promotion"),
                intent.get("to"),
                intent.get("from"),
                intent.get("at"),
                current,
            )
            self.client.delete_registered_model_tag(name, PROMOTION_INTENT_TAG)
            return []
        log.warning(
            "%s: completing an interrupted %s to v%s (from %s, decided %s, run %s)",
            name,
            intent.get("kind", "promotion"),
            intent.get("to"),
            f"v{intent['from']}" if intent.get("from") else "no champion",
            intent.get("at"),
            intent.get("run_id"),
        )
        self._apply(name, intent)
        return [intent]

    def _recorded(self, name: str, intent: dict[str, Any]) -> bool:
        """Whether the intent's history record was written (it got as far as that step)."""
        mv = self.client.get_model_version(name, str(intent["to"]))
        history = json.loads((mv.tags or {}).get(PROMOTION_TAG, "[]"))
        return any(h.get("id") == intent["id"] for h in history)

    def _apply(self, name: str, intent: dict[str, Any]) -> None:
        """Carry out a recorded move; every step can be repeated, so an interrupted one is rolled forward."""
        to, frm = str(intent["to"]), intent.get("from")
        self.client.set_registered_model_alias(name, CHAMPION, to)
        if frm is not None:
            self.client.set_registered_model_alias(name, PREVIOUS_CHAMPION, str(frm))
        mv = self.client.get_model_version(name, to)
        history = json.loads((mv.tags or {}).get(PROMOTION_TAG, "[]"))
        if not any(h.get("id") == intent["id"] for h in history):
            history.append({k: intent[k] for k in RECORD_KEYS if k in intent})
            self.client.set_model_version_tag(name, to, PROMOTION_TAG, json.dumps(history))
        self._drop_challenger(name, to)
        self.client.delete_registered_model_tag(name, PROMOTION_INTENT_TAG)

    def _drop_challenger(self, name: str, version: str) -> None:
        """Take ``challenger`` and the trial aliases off a version that became champion."""
        for alias in (CHALLENGER, *TRIAL_ALIASES.values()):
            if self.alias(name, alias) == version:
                self.client.delete_registered_model_alias(name, alias)


def _v(version: str | None) -> str:
    return f"v{version}" if version else "unset"
