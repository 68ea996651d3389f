"""Child-process bodies for the promotion and rollback tests: real processes that race, or die in the middle of a move.

Kept apart from the test module so a spawned child imports only this (not the test session's conftest).
"""

from __future__ import annotations

import os
from typing import Any

#: Every write a promotion makes to the registry, in the client's own method names.
WRITES = (
    "set_registered_model_tag",
    "delete_registered_model_tag",
    "set_registered_model_alias",
    "delete_registered_model_alias",
    "set_model_version_tag",
)


def open_registry(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    from mlops_provider.hooks.locks import alias_lock
    from mlops_provider.hooks.registry import ModelRegistry

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return ModelRegistry(client, alias_lock(uri), lock_timeout=120)


def promote_and_die_after_write(uri: str, name: str, version: str, step: int) -> None:
    """Promote ``version``; the process is killed (``os._exit``, no clean-up) right after write ``step``."""
    registry = open_registry(uri)
    _die_after(registry.client, step)
    registry.promote(name, version, reason="crash test", run_id=f"crash-{step}", check=lambda current: "evidence")
    os._exit(0)  # the promotion has fewer writes than ``step``


def rollback_and_die_after_write(uri: str, name: str, step: int) -> None:
    """Roll ``name`` back to its previous champion; the process is killed right after write ``step``."""
    registry = open_registry(uri)
    _die_after(registry.client, step)
    registry.rollback(name, reason="crash test", by="oncall", run_id=f"rollback-{step}")
    os._exit(0)  # the rollback has fewer writes than ``step``


def _die_after(client: Any, step: int) -> None:
    done = 0

    def dying(method: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            nonlocal done
            result = method(*args, **kwargs)
            done += 1
            if done == step:
                os._exit(137)
            return result

        return call

    for write in WRITES:
        setattr(client, write, dying(getattr(client, write)))


def race(uri: str, names: list[str], version: str, barrier: Any, results: Any) -> None:
    """For each model in ``names``: wait for the other racer, then promote ``version`` at the same moment."""
    registry = open_registry(uri)
    for name in names:
        barrier.wait(timeout=120)
        try:
            promotion = registry.promote(
                name, version, reason="race", run_id=f"racer-{version}", check=lambda current: f"vs {current}"
            )
            results.put((name, version, promotion.as_dict(), None))
        except Exception as exc:
            results.put((name, version, None, f"{type(exc).__name__}: {exc}"))


def trial_or_rollback(uri: str, names: list[str], role: str, barrier: Any, results: Any) -> None:
    """For each model in ``names``: wait for the other racer, then either conclude the passed canary trial of v3
    (``role`` "canary": promote it, compared with v2) or roll the champion back (``role`` "rollback")."""
    registry = open_registry(uri)
    for name in names:
        barrier.wait(timeout=120)
        try:
            if role == "canary":
                move = registry.promote_trial(
                    name, "3", "canary", compared="2", run_id="canary-run", record={}, check=lambda current: "passed"
                )
            else:
                move = registry.rollback(name, reason="race", by="oncall", run_id="rollback-run")
            results.put((name, role, move.as_dict(), None))
        except Exception as exc:
            results.put((name, role, None, f"{type(exc).__name__}: {exc}"))
