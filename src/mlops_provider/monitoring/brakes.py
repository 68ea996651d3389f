"""The brakes on drift-triggered retraining, as one pure function of the drift episode and the training runs.

The episode state lives on the registered model's tag ``mlops.drift_episode`` (read and written by the
registry hook); :func:`decide` only reads it and returns the new state.

* cooldown: no drift-triggered retrain within ``cooldown_hours`` of the last training run;
* de-duplication: one retrain request per drift episode until that retrain has finished;
* circuit breaker: after ``max_consecutive_retrains`` retrains in one episode that did not bring drift
  under the threshold, stop emitting and escalate to a human with the numbers;
* no new data: a drift-triggered retrain of this episode found nothing new to learn from; hold every
  later request until a new champion is trained or the episode closes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_provider.config.schema import DriftConfig


@dataclass(frozen=True)
class Decision:
    """Whether to ask for a retrain, and if not, which brake held it back and why.

    :param emit: emit the drift Asset event (ask for a retrain).
    :param brake: the brake that held the retrain back, or None.
    :param reason: the decision in words (goes to the log, the summary and the skip message).
    :param escalate: a person must look (the circuit breaker just opened).
    """

    emit: bool
    brake: str | None
    reason: str
    escalate: bool = False

    def as_dict(self) -> dict[str, Any]:
        """``{"emit", "brake", "reason"}``, plus ``"escalate": True`` only when set (the check's XCom shape)."""
        out: dict[str, Any] = {"emit": self.emit, "brake": self.brake}
        if self.escalate:
            out["escalate"] = True
        out["reason"] = self.reason
        return out


def new_episode(now: datetime) -> dict[str, Any]:
    """The state of a drift episode that starts at ``now``: no retrain requested yet, breaker closed."""
    return {"started": now.isoformat(timespec="seconds"), "requests": [], "unresolved": 0, "breaker_open": False}


def with_no_new_data(
    episode: dict[str, Any] | None, champion: str, data_sha256: str, now: datetime, run_id: str | None
) -> dict[str, Any]:
    """``episode`` (a new one when None) recording that a retrain found champion ``champion``'s own snapshot:
    :func:`decide` then holds retrains back (brake ``no_new_data``) until the champion changes."""
    state = dict(episode or new_episode(now))
    state["no_new_data"] = {
        "champion": champion,
        "data_sha256": data_sha256,
        "at": now.isoformat(timespec="seconds"),
        "airflow_run_id": run_id,
    }
    return state


def decide(
    config: DriftConfig,
    drifted: bool,
    episode: Mapping[str, Any] | None,
    last_training: datetime | None,
    runs: Sequence[Any],
    now: datetime,
    champion: str | None = None,
    budget_hold: Mapping[str, Any] | None = None,
) -> tuple[Decision, dict[str, Any] | None]:
    """The brakes. Returns (decision, new episode state or None when the episode is over).

    :param config: the model's ``drift`` config section.
    :param drifted: the check found dataset drift.
    :param episode: the open drift episode (the ``mlops.drift_episode`` tag), None when none is open.
    :param last_training: when the last training run of the model started, None when there is none.
    :param runs: the model's recent training runs (MLflow runs: ``info.start_time``/``info.end_time`` in ms).
    :param now: the time of the check.
    :param champion: the champion version the check used.
    :param budget_hold: the model's budget hold (the ``mlops.budget_hold`` tag), None when there is none.
    """
    if not drifted:
        if episode:
            return (
                Decision(
                    emit=False,
                    brake=None,
                    reason="drift is back under the threshold; the drift "
                    f"episode that started {episode['started']} is closed",
                ),
                None,
            )
        return Decision(emit=False, brake=None, reason="no dataset drift"), None
    state: dict[str, Any] = dict(episode or new_episode(now))
    if state.get("breaker_open"):
        return (
            Decision(
                emit=False,
                brake="circuit_breaker",
                reason=f"circuit breaker open since "
                f"{state.get('breaker_opened')}: {state['unresolved']} drift-triggered retrains did not "
                "bring drift under the threshold; a human must look (see the runbook), then close the "
                "episode",
            ),
            state,
        )
    if budget_hold and budget_hold.get("month") == now.strftime("%Y-%m"):  # a new month starts from zero
        projected, budget = float(budget_hold.get("projected", 0)), float(budget_hold.get("budget", 0))
        hold_at = float(budget_hold.get("hold_at", 0))
        return (
            Decision(
                emit=False,
                brake="budget",
                reason=f"budget: {budget_hold.get('month')} is projected at ${projected:,.2f}, over {hold_at:g} x "
                f"the ${budget:,.2f} budget; drift-triggered retraining is held until a person raises "
                "cost.monthly_budget_usd or the spend falls (docs/cost.md, 'Budget exceeded')",
            ),
            state,
        )
    stale = state.get("no_new_data")
    if stale and champion is not None and str(stale.get("champion")) != str(champion):
        state.pop("no_new_data")  # a newer champion since: new data came in, retraining can help again
    elif stale:
        return (
            Decision(
                emit=False,
                brake="no_new_data",
                reason=f"drift persists, but there are no new labeled rows since v{stale.get('champion')} "
                f"(snapshot {str(stale.get('data_sha256', ''))[:12]}…, found by the retrain of "
                f"{stale.get('at')}); retraining cannot fix this, a person was alerted. No retrain is requested "
                "until a new champion is trained from new data or the episode is closed (docs/runbooks/drift.md)",
            ),
            state,
        )
    if state["requests"]:
        requested = datetime.fromisoformat(state["requests"][-1])
        finished = [
            r for r in runs if r.info.end_time and datetime.fromtimestamp(r.info.start_time / 1000, tz=UTC) >= requested
        ]
        if not finished:
            return (
                Decision(
                    emit=False,
                    brake="deduplication",
                    reason="a retrain for this drift episode was "
                    f"requested at {state['requests'][-1]} and has not finished; not asking again",
                ),
                state,
            )
        state["unresolved"] = int(state.get("unresolved", 0)) + 1
        if state["unresolved"] >= config.max_consecutive_retrains:
            state["breaker_open"] = True
            state["breaker_opened"] = now.isoformat(timespec="seconds")
            return (
                Decision(
                    emit=False,
                    brake="circuit_breaker",
                    escalate=True,
                    reason=f"circuit breaker opened: {state['unresolved']} consecutive drift-triggered "
                    f"retrains (limit {config.max_consecutive_retrains}) did not bring drift under the "
                    "threshold; retraining cannot fix this one, escalating to a human",
                ),
                state,
            )
    if last_training is not None and now - last_training < timedelta(hours=config.cooldown_hours):
        hours = (now - last_training).total_seconds() / 3600
        default = "" if "cooldown_hours" in config.model_fields_set else ", the default"
        return (
            Decision(
                emit=False,
                brake="cooldown",
                reason=f"cooldown: the last training started "
                f"{hours:.1f} h ago, within the {config.cooldown_hours:g} h cooldown (drift.cooldown_hours = "
                f"{config.cooldown_hours:g}{default}); "
                "no retrain yet (lower drift.cooldown_hours to retrain sooner)",
            ),
            state,
        )
    state["requests"] = [*state["requests"], now.isoformat(timespec="seconds")]
    return Decision(emit=True, brake=None, reason="dataset drift: retraining requested"), state
