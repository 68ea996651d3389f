"""Wait for a canary or shadow trial's observation window in the triggerer, without a worker slot.

The trigger reads only the small serving summaries (``_serving.json``) scoring writes next to each date's
prediction log, never a parquet file, and of a local log only those written since the trial began: the
triggerer runs many triggers in one event loop, so each look is a few small reads in a thread. It fires
once the trial has ``min_rows`` rows in ``min_runs`` scoring runs, or when ``deadline`` passes without them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class TrialWindowTrigger(BaseTrigger):
    """Fire when the trial of ``version`` has its window, or at ``deadline``.

    :param prediction_root: the model's prediction log root, resolved (a local path or ``s3://`` URI).
    :param version: the version on trial.
    :param since: ISO time the trial began; summaries written before it do not count.
    :param deadline: ISO time after which the trigger fires with ``status: timeout``.
    :param poll_seconds: how often to look.
    :param aws_conn_id: connection for an ``s3://`` root.
    """

    def __init__(
        self,
        *,
        prediction_root: str,
        version: str,
        since: str,
        min_rows: int,
        min_runs: int,
        deadline: str,
        poll_seconds: float,
        aws_conn_id: str | None = "aws_default",
    ) -> None:
        super().__init__()
        self.prediction_root = prediction_root
        self.version = str(version)
        self.since = since
        self.min_rows = int(min_rows)
        self.min_runs = int(min_runs)
        self.deadline = deadline
        self.poll_seconds = float(poll_seconds)
        self.aws_conn_id = aws_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "prediction_root": self.prediction_root,
                "version": self.version,
                "since": self.since,
                "min_rows": self.min_rows,
                "min_runs": self.min_runs,
                "deadline": self.deadline,
                "poll_seconds": self.poll_seconds,
                "aws_conn_id": self.aws_conn_id,
            },
        )

    def window(self) -> dict[str, Any]:
        """The trial's window so far, from the serving summaries under the root."""
        from mlops_provider.hooks.storage import Storage, is_s3
        from mlops_provider.predictions import SERVING_FILE
        from mlops_provider.trials import count_window

        storage = Storage(aws_conn_id=self.aws_conn_id)
        summaries = []
        # local files written before the trial began are not read at all (their scored_at would say so anyway);
        # on S3 every summary is read: one small GET per scored date and look
        cutoff = datetime.fromisoformat(self.since).timestamp() - 60
        if storage.exists(self.prediction_root) or storage.is_dir(self.prediction_root):
            for uri in storage.list_files(self.prediction_root, SERVING_FILE):
                if not is_s3(uri) and Path(uri).stat().st_mtime < cutoff:
                    continue
                try:
                    summaries.append(json.loads(storage.read_bytes(uri)))
                except (OSError, ValueError) as exc:  # a summary being replaced, or damaged: the next look retries
                    self.log.warning("Skipping unreadable serving summary %s: %s", uri, exc)
        return count_window(summaries, self.version, self.since)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = datetime.fromisoformat(self.deadline)
        while True:
            window = await asyncio.to_thread(self.window)
            ready = window["rows"] >= self.min_rows and window["runs"] >= self.min_runs
            now = datetime.now(UTC)
            if ready or now >= deadline:
                status = "ready" if ready else "timeout"
                self.log.info(
                    "Trial of v%s: %s rows in %s run(s) (need %s in %s): %s",
                    self.version,
                    window["rows"],
                    window["runs"],
                    self.min_rows,
                    self.min_runs,
                    status,
                )
                yield TriggerEvent({"status": status, **window, "at": now.isoformat()})
                return
            await asyncio.sleep(max(0.0, min(self.poll_seconds, (deadline - now).total_seconds())))
