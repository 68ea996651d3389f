"""Deployment after registration: a canary or shadow trial, and its conclusion (sign-off: ``operators.signoff``).

Every alias move goes through the registry's one home (:class:`~mlops_provider.hooks.registry.ModelRegistry`):
serialized per model, crash-safe, re-checked at the moment ``champion`` moves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from mlops_provider.naming import TRIAL_ALIASES
from mlops_provider.operators.base import MlopsBaseOperator
from mlops_provider.operators.registry import PromoteModelOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class TrialFailed(AirflowFailException):
    """A canary or shadow trial failed its gates (or its window): it was rolled back, the champion stayed.

    ``announced``: the operator sent the ``trial_outcome`` alert with the numbers itself; the failure callback
    then does not send a second one.
    """

    announced: bool = False


def registered_version(registration: Mapping[str, Any] | Any, model: str, task: str) -> str:
    reg = dict(registration or {})
    if not reg.get("version"):
        raise AirflowFailException(
            f"{task}: the register task of this run left no version of {model} (its result is missing); clear the "
            "run from register"
        )
    return str(reg["version"])


# -- trials -------------------------------------------------------------------------------------------------


class StartTrialOperator(PromoteModelOperator):
    """Put the registered version on trial: alias ``canary`` (``deploy.strategy: canary``) or ``shadow``.

    From the next scoring run, a canary serves ``deploy.canary.fraction`` of the rows (chosen by a stable hash
    of the entity key); a shadow scores every row beside the champion, never served. With no champion yet there
    is nothing to try it against: the version is promoted at once (through the same checks as a promotion).

    :return: ``{"version", "strategy", "champion", "started_at", "trial_id", "promoted"}``
    """

    ui_color = "#ffeeba"

    def execute(self, context: Context) -> dict[str, Any]:
        cfg = self.pipeline
        strategy = cfg.deploy.strategy
        version = registered_version(self.registration, self.model_name, f"start_{strategy}")
        registry = self.mlflow_hook.registry
        run_id = context.get("run_id")
        current = registry.champion(self.model_name)
        if current in (None, version):  # nothing to try it against (or a retry after it was promoted so)
            if current is None:
                self.log.info("%s has no champion to try v%s against: promoting it directly", self.model_name, version)
            promotion = super().execute(context)
            return {
                **promotion,
                "version": version,
                "strategy": strategy,
                "champion": version,
                "promoted": True,  # without a trial: observe and conclude have nothing to do
            }
        champion, started_at, trial_id = registry.start_trial(self.model_name, version, strategy, run_id=run_id)
        trial = cfg.deploy.canary
        how = f"{trial.fraction:.0%} of the rows" if strategy == "canary" else "every row, never served"
        self.log.info(
            "%s v%s on %s trial against champion v%s from the next %s run: %s; judged after %s rows in %s run(s), "
            "at most %g h",
            self.model_name,
            version,
            strategy,
            champion,
            cfg.dag_id("scoring"),
            how,
            f"{trial.min_rows:,}",
            trial.min_runs,
            trial.max_wait_hours,
        )
        return {
            "version": version,
            "strategy": strategy,
            "champion": champion,
            "started_at": started_at,
            "trial_id": trial_id,
            "promoted": False,
        }


class ConcludeTrialOperator(PromoteModelOperator):
    """Promote a version whose trial passed; roll back one whose trial failed.

    Pass → the version becomes champion through :meth:`ModelRegistry.promote`, which re-checks inside the
    model's lock that it is still on trial, that the champion is still the one the trial compared it with, and
    that its gates hold (as :class:`PromoteModelOperator` does). Fail → the trial alias is removed (scoring
    serves only the champion from its next run), the version is tagged ``mlops.trial`` with the failed gates and
    their numbers, and the task fails with them (not retried). A failed trial never touches the champion.

    :param observation: output of :class:`~mlops_provider.sensors.trial.TrialWindowSensor` (templated).
    """

    template_fields: Sequence[str] = ("registration", "reason", "observation")
    ui_color = "#c3e6cb"

    def __init__(self, *, observation: Mapping[str, Any] | Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.observation = observation

    def execute(self, context: Context) -> dict[str, Any]:
        obs = dict(self.observation or {})
        if obs.get("promoted"):
            self.log.info("v%s was promoted without a trial (no champion to try it against)", obs.get("version"))
            return obs
        version, strategy, compared = str(obs["version"]), str(obs["strategy"]), obs.get("champion")
        registry = self.mlflow_hook.registry
        record = {
            "trial_id": obs.get("trial_id"),
            "champion": compared,
            "gates": obs.get("gates", []),
            "window": obs.get("window", {}),
        }
        alias = TRIAL_ALIASES[strategy]
        window = obs.get("window", {})
        outcome = {
            "model": self.model_name,
            "strategy": strategy,
            "version": version,
            "champion": compared,
            "rows": int(window.get("rows", 0) or 0),
            "runs": int(window.get("runs", 0) or 0),
            "gates": obs.get("gates", []),
            "dag_id": self.dag_id,
            "run_id": str(context.get("run_id")),
        }
        if not obs.get("passed"):
            removed = registry.end_trial(
                self.model_name,
                version,
                strategy,
                {**record, "run_id": context.get("run_id"), "outcome": "rolled_back"},
            )
            failed = [g for g in obs.get("gates", []) if not g.get("passed")]
            champion = registry.champion(self.model_name)
            from mlops_provider.notifications import catalogue

            self.announce(
                catalogue.trial_outcome(
                    **{**outcome, "champion": champion}, promoted=False, link=self.run_link(context)
                )
            )
            failure = TrialFailed(
                f"{strategy} trial of {self.model_name} v{version} failed: "
                + "; ".join(f"{g['gate']}: {g['detail']}" for g in failed)
                + f". Rolled back automatically: alias {alias} "
                + ("removed" if removed else "was already gone")
                + f"; champion stays v{champion}, and scoring serves only v{champion} from its next run. v{version} "
                "is tagged mlops.trial with these numbers"
            )
            failure.announced = True  # the failure callback does not alert again
            raise failure

        def check(current: str | None) -> str:
            window = obs.get("window", {})
            text = (
                f"{strategy} trial passed against v{current}: {window.get('rows', 0):,} rows in "
                f"{window.get('runs', 0)} scoring run(s)"
            )
            return f"{text}; {self.evidence_holds(version, current)}"

        promotion = registry.promote_trial(
            self.model_name,
            version,
            strategy,
            compared=compared,
            run_id=context.get("run_id"),
            record=record,
            check=check,
        )
        if promotion.promoted:
            self.announce_deployment(
                context,
                version,
                promotion.previous_champion,
                promotion.evidence,
                how=f"promoted after a {strategy} trial ({outcome['rows']:,} rows in {outcome['runs']} scoring runs)",
                trial=outcome,
            )
        out = promotion.as_dict()
        out.pop("completed")
        return out


class EndTrialOperator(MlopsBaseOperator):
    """The trial's teardown: take the trial alias off the version if it still has it when the run ends.

    ``conclude`` ends every trial it decides. When ``observe`` or ``conclude`` could not finish (a defer that
    timed out, a store that stayed unreachable, a task marked failed by hand), this task, run whatever happened
    upstream, removes the alias so the version stops serving from the next scoring run, and records the trial
    as ``aborted``. It changes nothing after a decided trial, and never touches the champion.

    :param trial: output of :class:`StartTrialOperator` (templated).
    """

    template_fields: Sequence[str] = ("trial",)
    ui_color = "#ffeeba"

    def __init__(self, *, trial: Mapping[str, Any] | Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trial = trial

    def execute(self, context: Context) -> dict[str, Any]:
        trial = dict(self.trial or {})
        if not trial or trial.get("promoted"):
            return {"ended": False}
        version, strategy = str(trial["version"]), str(trial["strategy"])
        registry = self.mlflow_hook.registry
        if registry.trial(self.model_name, strategy) != version:
            self.log.info("%s v%s: its %s trial was decided; nothing to end", self.model_name, version, strategy)
            return {"ended": False}
        reason = "the run ended before the trial was decided (observe or conclude did not finish)"
        registry.end_trial(
            self.model_name,
            version,
            strategy,
            {
                "trial_id": trial.get("trial_id"),
                "run_id": context.get("run_id"),
                "outcome": "aborted",
                "reason": reason,
            },
        )
        self.log.warning(
            "%s v%s: %s trial aborted: %s. Alias %s removed; scoring serves only the champion from its next run",
            self.model_name,
            version,
            strategy,
            reason,
            TRIAL_ALIASES[strategy],
        )
        return {"ended": True}
