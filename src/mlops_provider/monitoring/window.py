"""The current window of a drift check: the prediction log of the last ``drift.window_days`` days."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from mlops_provider.monitoring import DriftInputError

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import PipelineConfig
    from mlops_provider.hooks.storage import Storage


def window_dates(ds: str, days: int) -> list[str]:
    """The ``days`` dates ending at ``ds``, oldest first."""
    end = date.fromisoformat(ds)
    return [(end - timedelta(days=i)).isoformat() for i in range(days - 1, -1, -1)]


def served_features(log: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The prediction log with its ``feature.<column>`` values under the feature names."""
    return log.rename(columns={f"feature.{c}": c for c in columns})


def current_window(
    prediction_log: str, ds: str, config: PipelineConfig, storage: Storage
) -> tuple[pd.DataFrame, list[str]]:
    """The prediction log of the window ending at ``ds`` and the dates found in it.

    :param prediction_log: root of the prediction log.
    :raises DriftInputError: when no date of the window has a log.
    """
    import io

    import pandas as pd

    from mlops_provider.datasets import resolve_source
    from mlops_provider.paths import DataRoots
    from mlops_provider.predictions import prediction_log_uris, served_rows

    roots = DataRoots.from_settings()  # every file read must really lie inside the data roots (not retried)
    root = resolve_source(prediction_log, roots, "scoring.output")
    frames, days = [], []
    for day in window_dates(ds, config.drift.window_days):
        for candidate in prediction_log_uris(prediction_log, day):  # scoring_date=, then legacy date=
            uri = resolve_source(candidate, roots, "scoring.output")
            if storage.exists(uri):
                # what was served: a shadow version's rows are not what the model's users got
                frames.append(served_rows(pd.read_parquet(io.BytesIO(storage.read_bytes(uri)))))
                days.append(day)
                break
    if not frames:
        raise DriftInputError(
            f"no prediction log under {root} for {', '.join(window_dates(ds, config.drift.window_days))}; "
            f"run {config.dag_id('scoring')} for those dates first"
        )
    return pd.concat(frames, ignore_index=True), days
