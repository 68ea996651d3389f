"""The trial and sign-off moves of :class:`~mlops_provider.hooks.registry.ModelRegistry` (its base class here).

A trial (canary or shadow) puts an alias on a version beside the champion, records its outcome on the version
(``mlops.trial``), and ends by promoting it through :meth:`ModelRegistry.promote` or by taking the alias off;
sign-off records its decision (``mlops.approval``). Every move holds the model's alias lock, as promotion and
rollback do. Heavy imports happen inside functions: hooks are imported while DAGs are parsed.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from mlops_provider.naming import APPROVAL_TAG, TRIAL_ALIASES, TRIAL_TAG

if TYPE_CHECKING:
    from mlops_provider.hooks.registry import Promotion

log = logging.getLogger("mlops_provider.hooks.registry")


class TrialMoves:
    """Trials and sign-off; mixed into ``ModelRegistry``, whose lock, lookups and promotion they use."""

    if TYPE_CHECKING:
        client: Any

        def locked(self, name: str) -> AbstractContextManager[list[dict[str, Any]]]: ...
        def alias(self, name: str, alias: str) -> str | None: ...
        def champion(self, name: str) -> str | None: ...
        def promote(
            self, name: str, version: str, *, reason: str, run_id: str | None, check: Callable[[str | None], str]
        ) -> Promotion: ...

    def trial(self, name: str, strategy: str) -> str | None:
        """The version on trial under ``strategy`` (``canary`` or ``shadow``), None when none is."""
        return self.alias(name, TRIAL_ALIASES[strategy])

    def trials(self, name: str, version: str) -> list[dict[str, Any]]:
        """The trial records of one version (``mlops.trial`` tag), oldest first."""
        mv = self.client.get_model_version(name, str(version))
        return list(json.loads((mv.tags or {}).get(TRIAL_TAG, "[]")))

    def start_trial(self, name: str, version: str, strategy: str, *, run_id: str | None) -> tuple[str | None, str, str]:
        """Put ``version`` on trial: alias ``canary`` (or ``shadow``) on it, under the model's lock, and a trial
        record (outcome ``started``, the champion it is compared with, a new ``trial_id``) on the version.

        A retry of the run that started it, while the trial runs, changes nothing and gets the same trial back;
        a re-run after that trial ended starts a new one (a new record: the earlier outcome stays). Another
        version on that trial is replaced, its trial recorded as ``superseded``. Returns (the champion the trial
        is compared with, when it started, its trial id).
        """
        from mlops_provider.hooks.registry import RegistryError, _now

        alias = TRIAL_ALIASES[strategy]
        version = str(version)
        with self.locked(name):
            on_trial = self.alias(name, alias) == version
            for r in reversed(self.trials(name, version)):
                if on_trial and run_id and r.get("run_id") == run_id and r.get("outcome") == "started":
                    return r.get("champion"), str(r["started_at"]), str(r.get("trial_id") or "")
            champion = self.champion(name)
            if champion == version:
                raise RegistryError(
                    f"{name} v{version} already is champion; it cannot go on {strategy} trial against itself"
                )
            before = self.alias(name, alias)
            if before is not None and before != version:
                log.warning("%s: v%s on %s trial is replaced by v%s", name, before, strategy, version)
                self._record_trial(name, before, {"strategy": strategy, "outcome": "superseded", "by": version})
            started_at, trial_id = _now(), uuid.uuid4().hex
            self._record_trial(
                name,
                version,
                {
                    "trial_id": trial_id,
                    "strategy": strategy,
                    "outcome": "started",
                    "champion": champion,
                    "started_at": started_at,
                    "run_id": run_id,
                },
            )
            self.client.set_registered_model_alias(name, alias, version)
        return champion, started_at, trial_id

    def end_trial(self, name: str, version: str, strategy: str, record: dict[str, Any]) -> bool:
        """Take the trial alias off ``version`` if it still has it, then record the trial's outcome on it
        (``mlops.trial``; it completes the record of the same ``trial_id``, else of the same ``run_id``, so a
        retry writes it once). The alias goes first: a move killed in between leaves a version that no longer
        serves with its trial still marked ``started``, never one that serves marked ended. Returns whether the
        alias was removed. The champion is never touched."""
        alias = TRIAL_ALIASES[strategy]
        version = str(version)
        with self.locked(name):
            removed = self.alias(name, alias) == version
            if removed:
                self.client.delete_registered_model_alias(name, alias)
            self._record_trial(name, version, {"strategy": strategy, **record})
        return removed

    def promote_trial(
        self,
        name: str,
        version: str,
        strategy: str,
        *,
        compared: str | None,
        run_id: str | None,
        record: dict[str, Any],
        check: Callable[[str | None], str],
    ) -> Promotion:
        """Make the version whose trial passed the champion, if its evidence still holds at the moment it moves.

        Inside the model's lock (through :meth:`promote`): the version must still hold the trial alias, the
        champion must still be ``compared`` (the one the trial measured it against; a rollback or another
        promotion in between voids the trial), and ``check`` must accept the champion. Then the trial record is
        completed with outcome ``promoted``; when refused, with outcome ``refused`` and the reason, and the
        trial alias is removed. A refused trial never moves the champion.

        :raises PromotionRefused: the evidence does not hold any more.
        """
        from mlops_provider.hooks.registry import PromotionRefused, _v

        alias = TRIAL_ALIASES[strategy]

        def holds(current: str | None) -> str:
            if self.alias(name, alias) != version:
                raise PromotionRefused(
                    f"{name} v{version} is no longer on {strategy} trial (alias {alias} was moved or removed during "
                    f"the trial). Not promoted; champion stays {_v(current)}"
                )
            if current != compared:
                raise PromotionRefused(
                    f"champion of {name} changed during the trial ({_v(compared)} → {_v(current)}, a rollback or "
                    f"another promotion): the trial compared v{version} with {_v(compared)}, so its evidence does not "
                    f"hold against {_v(current)}. Not promoted; champion stays {_v(current)}"
                )
            return check(current)

        try:
            promotion = self.promote(name, version, reason=f"{strategy} trial passed", run_id=run_id, check=holds)
        except PromotionRefused as exc:
            self.end_trial(
                name, version, strategy, {**record, "run_id": run_id, "outcome": "refused", "reason": str(exc)}
            )
            raise
        self.end_trial(name, version, strategy, {**record, "run_id": run_id, "outcome": "promoted"})
        return promotion

    def _record_trial(self, name: str, version: str, record: dict[str, Any]) -> None:
        """Add ``record`` to the version's trial records, merged into the latest record of the same trial
        (``trial_id``, else ``run_id``) if there is one."""
        from mlops_provider.hooks.registry import _now

        records = self.trials(name, version)
        key = "trial_id" if record.get("trial_id") else "run_id"
        mine = next(
            (i for i in range(len(records) - 1, -1, -1) if record.get(key) and records[i].get(key) == record[key]),
            None,
        )
        if mine is None:
            records.append({**record, "at": _now()})
        else:
            records[mine] = {**records[mine], **record, "at": _now()}
        self.client.set_model_version_tag(name, version, TRIAL_TAG, json.dumps(records))

    def record_approval(self, name: str, version: str, decision: dict[str, Any]) -> None:
        """Tag ``version`` with the sign-off decision (``mlops.approval``: decision, by, at, run id)."""
        self.client.set_model_version_tag(name, str(version), APPROVAL_TAG, json.dumps(decision))
