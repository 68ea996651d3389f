"""The dashboard's data, once: the pages, their JSON and ``mlops status`` all call :func:`overview_data` and
:func:`model_data`, which gather the facts (:mod:`.facts`) and judge them (:mod:`.health`).

The plugin keeps what it built in a :class:`Cache` for at most :data:`MAX_AGE_S` seconds, per user (Airflow may
show users different DAG runs), so a page is never more than a minute behind and a second visit within that
minute costs nothing. Pages say when their data was read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

#: Longest a cached answer is served. A minute is the promise; half of it leaves room for the time reading takes.
MAX_AGE_S = 30.0


class UnknownModel(LookupError):
    """No valid config in the configs folder defines this model."""


def mlflow_client() -> tuple[Any, str | None]:
    from mlops_provider.hooks.mlflow import MlflowHook

    hook = MlflowHook()
    return hook.get_conn(), hook.tracking_uri


def overview_data(airflow: Any, *, client: Any = None, tracking_uri: str | None = None) -> dict[str, Any]:
    """Every configured model's health row (see :func:`mlops_provider.dashboard.health.overview`)."""
    from mlops_provider.dashboard import facts, health

    if client is None:
        client, tracking_uri = mlflow_client()
    configs, errors = facts.load_configs()
    found = facts.gather(client, configs, airflow, tracking_uri=tracking_uri)
    found.config_errors = errors
    return health.overview(found)


def model_data(model: str, airflow: Any, *, client: Any = None, tracking_uri: str | None = None) -> dict[str, Any]:
    """One model's page (see :func:`mlops_provider.dashboard.health.model_page`)."""
    from mlops_provider.dashboard import facts, health

    configs, _ = facts.load_configs()
    if model not in configs:
        known = ", ".join(configs) or "none"
        raise UnknownModel(f"no model {model!r} in the configs folder (configured models: {known})")
    if client is None:
        client, tracking_uri = mlflow_client()
    found = facts.gather(client, configs, airflow, only=model, tracking_uri=tracking_uri)
    return health.model_page(found, model)


class Cache:
    """Answers by key for at most ``max_age`` seconds; one build per key at a time (others wait for it)."""

    def __init__(self, max_age: float = MAX_AGE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age, self.clock = max_age, clock
        self._items: dict[Any, tuple[float, Any]] = {}
        self._locks: dict[Any, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: Any, build: Callable[[], Any]) -> Any:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            hit = self._items.get(key)
            if hit is not None and self.clock() - hit[0] < self.max_age:
                return hit[1]
            started = self.clock()  # the answer is as old as the moment reading began
            value = build()
            with self._guard:
                self._items[key] = (started, value)
                if len(self._items) > 512:  # many users and models: drop the oldest
                    for old in sorted(self._items, key=lambda k: self._items[k][0])[:256]:
                        self._items.pop(old, None)
            return value
