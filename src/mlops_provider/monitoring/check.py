"""The steps of one drift check, shared by the drift operators: the config's settings for the engine, feature
drift (whole or merged from column groups), prediction drift against the champion's holdout scores, the
Evidently report, and the one-line summary.

Light at import time: the engine, the Evidently adapter and pandas are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_provider.monitoring import DriftInputError

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import PipelineConfig
    from mlops_provider.monitoring.engine import ColumnDrift, DriftResult


def drift_settings(config: PipelineConfig, columns: list[str]) -> dict[str, Any]:
    """The config's drift settings for ``columns``, as compute_drift/evidently_drift keyword arguments."""
    per_column = {k: v.model_dump(exclude_none=True) for k, v in config.drift.per_column.items() if k in columns}
    return {
        "numeric": [c for c in config.data.features.numeric if c in columns],
        "categorical": [c for c in config.data.features.categorical if c in columns],
        "method": config.drift.method,
        "threshold": config.drift.threshold,
        "per_column": per_column or None,
        "drift_share": config.drift.drift_share,
    }


def feature_drift(config: PipelineConfig, snapshot: pd.DataFrame, log: pd.DataFrame, columns: list[str]) -> DriftResult:
    """Drift of the served ``columns`` of the prediction log against the champion's training snapshot."""
    from mlops_provider.monitoring.engine import compute_drift
    from mlops_provider.monitoring.window import served_features

    return compute_drift(snapshot, served_features(log, columns), **drift_settings(config, columns))


def merge_groups(parts: Iterable[Mapping[str, Any]], version: str, drift_share: float) -> DriftResult:
    """One feature verdict from the column groups checked by mapped tasks (each checked against ``version``).

    :raises DriftInputError: when a group used another champion than ``version``.
    """
    from mlops_provider.monitoring.engine import merge_results

    parts = list(parts)
    stale = {p["champion_version"] for p in parts} - {version}
    if stale:
        raise DriftInputError(
            f"column groups were checked against champion v{', v'.join(sorted(stale))} but the champion "
            f"is now v{version}; re-run the DAG run so every group uses the same reference"
        )
    return merge_results(parts, drift_share)


def require_prediction_columns(
    config: PipelineConfig, log: pd.DataFrame, columns: Sequence[str], version: str, days: Sequence[str]
) -> None:
    """:raises DriftInputError: when the prediction log lacks prediction columns the champion produces."""
    absent = [c for c in columns if c not in log.columns]
    if absent:
        raise DriftInputError(
            f"the prediction log lacks column(s) {', '.join(absent)} that champion v{version}'s predictions "
            f"have; re-run {config.dag_id('scoring')} for {', '.join(days)} with the current champion"
        )


@dataclass
class PredictionDrift:
    """Drift of the predictions: every prediction column's verdict, the main one, and the mean shift of the
    main numeric prediction column (``main_column``; None for a multiclass model)."""

    columns: list[ColumnDrift]
    main: ColumnDrift
    main_column: str | None
    mean_reference: float | None
    mean_current: float | None
    mean_shift: float

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.main.__dict__,
            "mean_reference": self.mean_reference,
            "mean_current": self.mean_current,
            "mean_shift": self.mean_shift,
        }

    def text(self) -> str:
        """How the predictions moved, in words: the mean shift of the main numeric prediction column, and the
        per-column verdicts (predicted class distribution, class probabilities)."""
        parts = [f"{c.column} {c.method} {c.score:.3f}{' DRIFT' if c.drifted else ''}" for c in self.columns]
        head = (
            f"prediction {self.main_column} mean shifted {self.mean_shift:+.1%}" if self.main_column else "predictions"
        )
        return f"{head} ({'; '.join(parts)})"


def prediction_drift(
    config: PipelineConfig, holdout: pd.DataFrame, log: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> PredictionDrift:
    """Drift of the logged predictions against the champion's scores on its holdout. Only the champion's rows
    count: rows a canary served during a trial are the canary's predictions, judged by its trial gates.

    Binary -> the positive-class score; multiclass -> the predicted class (categorical) and each class
    probability; regression -> the predicted value (see ``modeling.drift_columns``).
    """
    from mlops_provider.monitoring.engine import compute_drift

    columns = [*categorical, *numeric]
    settings = {
        k: v
        for k, v in (("method", config.drift.prediction_method), ("threshold", config.drift.prediction_threshold))
        if v is not None
    }
    from mlops_provider.predictions import ROUTE_COLUMN
    from mlops_provider.trials import ROUTE_CHAMPION

    if ROUTE_COLUMN in log.columns:
        log = log[log[ROUTE_COLUMN] == ROUTE_CHAMPION]
    current = log[columns].copy()
    for c in numeric:
        current[c] = current[c].astype("float64")
    results = compute_drift(
        holdout[columns],
        current,
        numeric,
        categorical,
        # drift.prediction_method/threshold are for numeric prediction columns; the predicted class of a
        # multiclass model uses the default categorical method
        per_column={c: settings for c in numeric} if settings else None,
    ).columns
    main = next((c for c in results if c.column == "prediction"), results[0])
    main_column = numeric[0] if numeric and not categorical else None
    ref_mean = float(holdout[main_column].astype("float64").mean()) if main_column else None
    cur_mean = float(current[main_column].mean()) if main_column else None
    shift = (cur_mean - ref_mean) / ref_mean if main_column and ref_mean and cur_mean is not None else 0.0
    return PredictionDrift(results, main, main_column, ref_mean, cur_mean, shift)


def most_drifted_first(features: DriftResult) -> list[ColumnDrift]:
    """The drifted columns, the furthest past its threshold first, whichever way the method reads (a p-value
    below it, a distance above it)."""
    return sorted(
        (c for c in features.columns if c.drifted),
        key=lambda c: -(c.score / c.threshold if c.score >= c.threshold else c.threshold / max(c.score, 1e-12)),
    )


def report_columns(config: PipelineConfig, features: DriftResult) -> list[str]:
    """The features the HTML report shows: all, or (``drift.report_columns``) the drifted ones first, most drifted
    first, then the others in config order."""
    limit = config.drift.report_columns
    names = [c.column for c in features.columns]
    if limit is None or len(names) <= limit:
        return names
    drifted = [c.column for c in most_drifted_first(features)]
    return (drifted + [n for n in names if n not in set(drifted)])[:limit]


def drift_report(config: PipelineConfig, snapshot: pd.DataFrame, log: pd.DataFrame, columns: list[str]) -> Any:
    """The Evidently snapshot whose HTML report people read, on a deterministic sample of each side, of
    ``columns`` (see :func:`report_columns`)."""
    from mlops_provider.monitoring.evidently import evidently_drift, report_sample
    from mlops_provider.monitoring.window import served_features

    n = config.drift.report_rows
    _, snap = evidently_drift(
        report_sample(snapshot, n), report_sample(served_features(log, columns), n), **drift_settings(config, columns)
    )
    return snap


def summary(
    config: PipelineConfig, features: DriftResult, prediction: PredictionDrift, version: str, reason: str
) -> str:
    """The check in one line (task log, XCom ``summary``, escalation alert)."""
    return (
        f"{config.model}: {len(features.drifted_columns)} of {len(features.columns)} features drifted "
        f"(share {features.drift_share:.0%}, threshold {config.drift.drift_share:.0%}: "
        f"{'DRIFT' if features.dataset_drift else 'no dataset drift'}); "
        f"{prediction.text()} from the champion v{version} baseline; "
        f"{reason}"
    )
