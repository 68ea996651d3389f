"""The prediction log: where scoring writes each day's predictions and what a reader finds there.

Scoring (:class:`~mlops_provider.operators.scoring.ScoreBatchOperator`) writes it; the drift check
(:mod:`mlops_provider.monitoring.window`) and analysts read it. Nothing heavy is imported.
"""

from __future__ import annotations

from typing import Any

PREDICTION_COLUMNS = ("entity_key", "prediction", "score", "model_version", "latency_ms", "scored_at")
#: Which version a row was meant for (``champion``, ``canary`` or ``shadow``), whether its prediction was served
#: (shadow rows never are), and why the version meant for it could not score it (empty when it did). A canary
#: row the canary failed is served by the champion: ``model_version`` is always who produced ``prediction``.
ROUTE_COLUMN, SERVED_COLUMN, ERROR_COLUMN = "route", "served", "error"
SERVING_COLUMNS = (ROUTE_COLUMN, SERVED_COLUMN, ERROR_COLUMN)
#: Partition key of the prediction log, ``<root>/scoring_date=<ds>/``. It is not a column of the files and no
#: data column is logged under a bare name except the time column, so ``pandas.read_parquet(<root>)`` works
#: whatever the time column is called (a partition key equal to a column name cannot be read back).
PARTITION_KEY = "scoring_date"
#: Partition key of logs written by earlier releases (``<root>/date=<ds>/``); readers still find those.
LEGACY_PARTITION_KEY = "date"
LOG_FILE = "predictions.parquet"
#: The input-check summary of a date, next to its log file. The leading underscore makes parquet readers
#: (pyarrow, so pandas, Spark, DuckDB) skip it when they read the log root.
INPUT_CHECKS_FILE = "_input_checks.json"
#: Per-row column of the log: how many of the row's features held an unseen category or non-numeric text.
ISSUES_COLUMN = "input_issues"
#: Log columns with a fixed name: the time column may not take one of them.
RESERVED_COLUMNS = (*PREDICTION_COLUMNS, *SERVING_COLUMNS, "probability", ISSUES_COLUMN, PARTITION_KEY)
#: Who served a date and the trial beside it (versions, rows, errors, time), next to its log; the trigger that
#: waits for a trial's window reads only these.
SERVING_FILE = "_serving.json"
#: A shadow version's predictions of a date (``served`` false), next to the served log. The leading underscore
#: keeps them out of ``pandas.read_parquet(<root>)``: reading the log root gives what was served.
SHADOW_LOG_FILE = "_shadow.parquet"


def prediction_partition(root: str, ds: str) -> str:
    from mlops_provider.hooks.storage import join

    return join(root, f"{PARTITION_KEY}={ds}")


def prediction_log_uri(root: str, ds: str) -> str:
    """Where scoring writes the log of ``ds``: ``<root>/scoring_date=<ds>/predictions.parquet``."""
    from mlops_provider.hooks.storage import join

    return join(prediction_partition(root, ds), LOG_FILE)


def prediction_log_uris(root: str, ds: str) -> tuple[str, str]:
    """Where a reader looks for the log of ``ds``, in order: the current layout, then the ``date=<ds>``
    layout of logs written before the partition key was renamed."""
    from mlops_provider.hooks.storage import join

    return prediction_log_uri(root, ds), join(root, f"{LEGACY_PARTITION_KEY}={ds}", LOG_FILE)


def input_checks_uri(root: str, ds: str) -> str:
    """The input-check summary of ``ds``: ``<root>/scoring_date=<ds>/_input_checks.json``."""
    from mlops_provider.hooks.storage import join

    return join(prediction_partition(root, ds), INPUT_CHECKS_FILE)


def serving_uri(root: str, ds: str) -> str:
    """The serving summary of ``ds``: ``<root>/scoring_date=<ds>/_serving.json``."""
    from mlops_provider.hooks.storage import join

    return join(prediction_partition(root, ds), SERVING_FILE)


def shadow_log_uri(root: str, ds: str) -> str:
    """A shadow version's predictions of ``ds``: ``<root>/scoring_date=<ds>/_shadow.parquet``."""
    from mlops_provider.hooks.storage import join

    return join(prediction_partition(root, ds), SHADOW_LOG_FILE)


def served_rows(log: Any) -> Any:
    """The rows of a prediction log whose prediction was served (every row of logs without a ``served`` column)."""
    if SERVED_COLUMN not in log.columns:
        return log
    return log[log[SERVED_COLUMN].astype(bool)].reset_index(drop=True)
