"""The brakes on drift-triggered retraining, decided from the episode state and the training runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import yaml

from tests.conftest import REPO

NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)


@pytest.fixture()
def brakes():
    """``decide`` with churn's config (cooldown 6 h, breaker at 2), returning the decision as the check's dict."""
    from mlops_provider.config import PipelineConfig
    from mlops_provider.monitoring.brakes import decide

    raw = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    raw["drift"] = {"cooldown_hours": 6, "max_consecutive_retrains": 2}
    config = PipelineConfig.model_validate(raw).drift

    def decided(*args, **kwargs):
        decision, episode = decide(config, *args, **kwargs)
        return decision.as_dict(), episode

    return decided


def run(started: datetime, finished: bool = True):
    ms = int(started.timestamp() * 1000)
    return SimpleNamespace(info=SimpleNamespace(start_time=ms, end_time=ms + 60_000 if finished else None))


def test_no_drift_no_episode(brakes):
    decision, episode = brakes(False, None, NOW - timedelta(days=3), [], NOW)
    assert decision == {"emit": False, "brake": None, "reason": "no dataset drift"} and episode is None


def test_first_drift_emits_and_opens_an_episode(brakes):
    decision, episode = brakes(True, None, NOW - timedelta(days=3), [], NOW)
    assert decision["emit"] is True
    assert episode["requests"] == [NOW.isoformat(timespec="seconds")] and episode["unresolved"] == 0


def test_cooldown_holds_only_inside_the_window(brakes):
    held, _ = brakes(True, None, NOW - timedelta(hours=5), [], NOW)
    assert held["emit"] is False and held["brake"] == "cooldown" and "5.0 h ago" in held["reason"]
    passed, _ = brakes(True, None, NOW - timedelta(hours=7), [], NOW)
    assert passed["emit"] is True


def test_one_request_per_episode_until_the_retrain_finished(brakes):
    _, episode = brakes(True, None, None, [], NOW - timedelta(hours=1))
    pending = [run(NOW - timedelta(minutes=30), finished=False)]
    held, episode = brakes(True, episode, None, pending, NOW)
    assert held["brake"] == "deduplication" and held["emit"] is False
    # the retrain finished and drift is still there: one unresolved retrain, ask again
    done = [run(NOW - timedelta(minutes=30))]
    again, episode = brakes(True, episode, NOW - timedelta(days=1), done, NOW)
    assert again["emit"] is True and episode["unresolved"] == 1


def test_circuit_breaker_opens_after_k_unresolved_retrains_and_stays_open(brakes):
    t0 = NOW - timedelta(days=2)
    _, episode = brakes(True, None, None, [], t0)
    _, episode = brakes(True, episode, None, [run(t0 + timedelta(hours=1))], t0 + timedelta(hours=8))
    assert episode["unresolved"] == 1
    opened, episode = brakes(True, episode, None, [run(t0 + timedelta(hours=9))], t0 + timedelta(hours=20))
    assert opened["brake"] == "circuit_breaker" and opened["emit"] is False and opened.get("escalate") is True
    assert "2 consecutive drift-triggered retrains (limit 2)" in opened["reason"]
    still, _ = brakes(True, episode, None, [], NOW)
    assert still["brake"] == "circuit_breaker" and not still.get("escalate")


def test_drift_gone_closes_the_episode(brakes):
    _, episode = brakes(True, None, None, [], NOW - timedelta(days=1))
    decision, after = brakes(False, episode, None, [], NOW)
    assert after is None and "closed" in decision["reason"]


def test_a_retrain_that_found_no_new_data_holds_every_later_request_until_a_new_champion(brakes):
    stale = {"champion": "4", "data_sha256": "abc123" + "0" * 58, "at": "2026-09-01T03:00:00+00:00"}
    episode = {"started": "2026-08-31T07:00:00+00:00", "requests": ["2026-08-31T07:00:00+00:00"], "unresolved": 0}
    episode["no_new_data"] = stale
    later = NOW + timedelta(days=2)  # long past the cooldown
    decision, kept = brakes(True, episode, NOW - timedelta(days=1), [run(NOW - timedelta(days=1))], later, "4")
    assert decision["emit"] is False and decision["brake"] == "no_new_data"
    assert "no new labeled rows since v4" in decision["reason"] and "abc123" in decision["reason"]
    assert kept is not None and kept["no_new_data"] == stale
    # a champion trained since (from new data) lifts the brake: retraining can help again
    decision, kept = brakes(True, episode, NOW - timedelta(days=1), [run(NOW - timedelta(days=1))], later, "5")
    assert decision["brake"] != "no_new_data" and kept is not None and "no_new_data" not in kept
    # drift gone closes the episode, flag and all
    decision, kept = brakes(False, episode, NOW, [], later, "4")
    assert kept is None and decision["emit"] is False


def test_cooldown_message_names_the_setting_and_its_value(brakes):
    decision, _ = brakes(True, None, NOW - timedelta(hours=5), [], NOW, "1")
    assert "drift.cooldown_hours = 6" in decision["reason"]


def test_the_decision_is_a_frozen_value_whose_dict_names_escalate_only_when_set():
    import dataclasses

    from mlops_provider.monitoring.brakes import Decision

    held = Decision(emit=False, brake="cooldown", reason="r")
    assert held.as_dict() == {"emit": False, "brake": "cooldown", "reason": "r"}
    assert Decision(False, "circuit_breaker", "r", escalate=True).as_dict()["escalate"] is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        held.emit = True  # type: ignore[misc]


def test_a_budget_hold_holds_the_retrain_and_says_how_to_lift_it(brakes):
    hold = {"month": "2026-09", "projected": 412.5, "budget": 150.0, "hold_at": 2.0}

    decision, episode = brakes(True, None, NOW - timedelta(days=3), [], NOW, "1", budget_hold=hold)

    assert decision["emit"] is False and decision["brake"] == "budget"
    assert "2026-09 is projected at $412.50, over 2 x the $150.00 budget" in decision["reason"]
    assert "raises cost.monthly_budget_usd" in decision["reason"]
    assert episode is not None and episode["requests"] == []  # nothing was asked for
    released, _ = brakes(True, episode, NOW - timedelta(days=3), [], NOW, "1", budget_hold=None)
    assert released["emit"] is True
    last_month = {**hold, "month": "2026-08"}  # NOW is in September: a new month's spend starts from zero
    new_month, _ = brakes(True, episode, NOW - timedelta(days=3), [], NOW, "1", budget_hold=last_month)
    assert new_month["emit"] is True
