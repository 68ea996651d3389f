"""``WarmLocalExecutor``: Airflow's LocalExecutor whose workers import the heavy libraries first.

``[core] executor = mlops_provider.executors.local.WarmLocalExecutor``. The scheduler starts the
workers; each worker imports ``[mlops] warm_imports`` (:mod:`mlops_provider.executors.warm`) once,
then runs tasks exactly as LocalExecutor's workers do, each in a process forked from it. The scheduler
itself never imports them.
"""

from __future__ import annotations

import logging
import multiprocessing
from typing import TYPE_CHECKING, Any

from airflow.executors import local_executor
from airflow.executors.local_executor import LocalExecutor


def _run_warm_worker(**kwargs: Any) -> None:
    """A LocalExecutor worker that warms up before it reads its first task."""
    from mlops_provider.executors.warm import warm_up

    try:
        warm_up()
    except Exception:  # never lose a worker to its warm-up: it runs tasks cold instead
        logging.getLogger(__name__).exception("warm imports failed; this worker runs its tasks without them")
    local_executor._run_worker(**kwargs)


class WarmLocalExecutor(LocalExecutor):
    """LocalExecutor whose worker processes import ``[mlops] warm_imports`` before they take tasks."""

    def _spawn_worker(self) -> None:
        # LocalExecutor._spawn_worker (Airflow 3.3) with the worker entry point swapped.
        p = multiprocessing.Process(
            target=_run_warm_worker,
            kwargs={
                "logger_name": self.log.name,
                "input": self.activity_queue,
                "output": self.result_queue,
                "unread_messages": self._unread_messages,
                "team_conf": self.conf,
            },
        )
        p.start()
        if TYPE_CHECKING:
            assert p.pid
        self.workers[p.pid] = p
