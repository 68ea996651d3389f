"""The Evidently adapter: Evidently renders the HTML drift report people read; the verdicts come from the engine.

The fast engine (:mod:`mlops_provider.monitoring.engine`) decides every drift verdict, on the full data.
Evidently's ``DataDriftPreset`` renders the HTML report, on a deterministic sample of each side (see
:func:`report_sample`). :func:`evidently_drift` runs the preset with the same settings and parses its
verdicts into the engine's :class:`DriftResult`, so the two can be compared column by column.

Reading a snapshot: each column's verdict is the ``"Value Drift for column <name>"`` entry of
``snapshot.dict()["tests"]``: status ``FAIL`` means drift; ``metric_config.params`` carries ``column``,
``method`` (the test's display name when Evidently chose it, e.g. "Wasserstein distance (normed)") and
``threshold``; the score is the ``value`` of the metric with the same id in ``snapshot.dict()["metrics"]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_provider.monitoring.engine import (
    CATEGORICAL,
    METHOD_BY_DISPLAY_NAME,
    NUMERIC,
    ColumnDrift,
    DriftResult,
    build_result,
    check_columns,
    split_per_column,
)


def evidently_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    *,
    method: str | None = None,
    threshold: float | None = None,
    per_column: dict[str, dict] | None = None,
    drift_share: float = 0.5,
) -> tuple[DriftResult, Any]:
    """Run Evidently's ``DataDriftPreset`` with the same settings; return its verdicts and the snapshot."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = check_columns(reference, current, numeric, categorical)
    names = [c for c, _ in columns]
    per_method, per_threshold = split_per_column(per_column)
    definition = DataDefinition(numerical_columns=list(numeric), categorical_columns=list(categorical))

    def dataset(df: pd.DataFrame) -> Any:
        frame = df if list(df.columns) == names else df[names]
        return Dataset.from_pandas(frame, data_definition=definition)

    preset = DataDriftPreset(
        columns=names,
        method=method,
        threshold=threshold,
        per_column_method=per_method or None,
        per_column_threshold=per_threshold or None,
        drift_share=drift_share,
    )
    snapshot = Report([preset], include_tests=True).run(dataset(current), dataset(reference))
    return parse_snapshot(snapshot, numeric, categorical, drift_share, len(reference), len(current)), snapshot


def parse_snapshot(
    snapshot: Any,
    numeric: list[str],
    categorical: list[str],
    drift_share: float,
    rows_reference: int,
    rows_current: int,
) -> DriftResult:
    """Per-column verdicts of a ``DataDriftPreset`` snapshot (``include_tests=True``) as a :class:`DriftResult`."""
    data = snapshot.dict()
    values = {m["id"]: m["value"] for m in data["metrics"]}
    kinds = {**{c: NUMERIC for c in numeric}, **{c: CATEGORICAL for c in categorical}}
    found: dict[str, ColumnDrift] = {}
    for test in data["tests"]:
        config = test["metric_config"]
        params = config["params"]
        kind_of_metric = params.get("type", "")
        if not kind_of_metric.endswith(":ValueDrift"):
            continue
        if test["status"] not in ("FAIL", "SUCCESS"):
            raise RuntimeError(f"Evidently could not test drift of column '{params['column']}': {test['description']}")
        column = params["column"]
        found[column] = ColumnDrift(
            column=column,
            kind=kinds.get(column, ""),
            method=METHOD_BY_DISPLAY_NAME.get(params["method"], params["method"]),
            threshold=float(params["threshold"]),
            score=float(values[config["metric_id"]]),
            drifted=test["status"] == "FAIL",
        )
    missing = [c for c in kinds if c not in found]
    if missing:
        raise RuntimeError(f"No drift verdict in the Evidently snapshot for columns {missing}")
    return build_result([found[c] for c in kinds], drift_share, rows_reference, rows_current)


def save_html(snapshot: Any, path: str | Path) -> Path:
    """Write the snapshot's HTML report to ``path`` (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(path))
    return path


def report_sample(df: pd.DataFrame, max_rows: int = 50_000, seed: int = 0) -> pd.DataFrame:
    """A deterministic sample of at most ``max_rows`` rows, in the original row order, for the HTML report."""
    if len(df) <= max_rows:
        return df
    rng = np.random.default_rng(seed)
    positions = np.sort(rng.choice(len(df), size=max_rows, replace=False))
    return df.iloc[positions]
