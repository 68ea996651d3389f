"""The built-in data checks every training window gets, with or without ``expectations`` in the config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops_provider.datasets.reading import _names

if TYPE_CHECKING:
    from mlops_provider.config import PipelineConfig
    from mlops_provider.datasets.window import Window


def _has_value(values: pd.Series, numeric: bool) -> pd.Series:
    """Which values training can use: for a numeric feature, numbers (text is read as missing)."""
    if numeric:
        try:
            return pd.to_numeric(values, errors="coerce").notna()
        except (TypeError, ValueError):
            pass
    return values.notna()


def builtin_checks(window: Window, config: PipelineConfig) -> dict[str, Any]:
    """The checks every training window gets, with or without ``expectations`` in the config.

    - ``feature_has_values`` (each feature): it has a value somewhere in the window. For a numeric feature only
      numbers count: training reads text there as missing.
    - ``feature_in_newest_partitions`` (each feature): it has a value in the newest ``data.recent_partitions``
      partitions of the window (see :class:`Window`), i.e. its feed has not stopped. Not evaluated when that
      is 0, when the window has no older partition, or for a feature already failing ``feature_has_values``.
    - ``target_has_labels``: no row of the window has an empty target.

    Returns ``{"evaluated", "failed", "failures": [{"check", "column", "rows", "partitions", "message"}]}``
    (``rows``: the rows in question; ``partitions``: the partitions or files named).
    """
    data = config.data
    df, parts = window.frame, window.partitions
    row_part = window.row_partition if window.row_partition is not None else np.zeros(len(df), dtype=int)
    total = len(df)
    span = f"{window.start}..{window.end}, " if window.start else ""
    scope = f"the training window ({span}{total:,} rows in {len(parts)} partition(s))"
    failures: list[dict[str, Any]] = []
    evaluated = 0

    def fail(check: str, column: str, rows: int, names: list[str], message: str) -> None:
        failures.append({"check": check, "column": column, "rows": int(rows), "partitions": names, "message": message})

    recent = data.recent_partitions if 0 < data.recent_partitions < len(parts) else 0
    in_recent = row_part >= len(parts) - recent
    for kind, columns in (("numeric", data.features.numeric), ("categorical", data.features.categorical)):
        for col in columns:
            values = df[col]
            usable = _has_value(values, kind == "numeric").to_numpy()
            text = values[values.notna().to_numpy() & ~usable]
            evaluated += 1
            if not usable.any():
                if not any(col in cols for p in parts for cols in p.columns):
                    how = "no file in the window has the column"
                elif len(text):
                    how = f"its {len(text):,} values are text (e.g. {text.iloc[0]!r}), which training reads as missing"
                else:
                    how = "it is empty in every row"
                fail(
                    "feature_has_values",
                    col,
                    total,
                    [p.name for p in parts],
                    f"feature {col} has no value in {scope}: {how}. A model cannot learn from it. Fix the job that "
                    f"fills it (and the files it wrote), or remove {col} from data.features.{kind} if the data "
                    "will not have it; then trigger a new run",
                )
                continue
            if not recent:
                continue
            evaluated += 1
            if usable[in_recent].any():
                continue
            newest = parts[len(parts) - recent :]
            absent = [f for p in newest for f, cols in zip(p.files, p.columns, strict=True) if col not in cols]
            empty = [f for p in newest for f, cols in zip(p.files, p.columns, strict=True) if col in cols]
            reasons = []
            if absent:
                reasons.append(f"the column is absent from {_names(absent, 5)}")
            if empty:
                rows = int((in_recent & values.notna().to_numpy()).sum()) if kind == "numeric" else 0
                what = f"text in {rows:,} rows and empty in the others" if rows else "empty in every row"
                reasons.append(f"it is {what} of {_names(empty, 5)}")
            label = (
                f"the newest partition of the window ({newest[0].name})"
                if recent == 1
                else f"the newest {recent} partitions of the window ({_names([p.name for p in newest], 5)})"
            )
            earlier = int(usable[~in_recent].sum())
            fail(
                "feature_in_newest_partitions",
                col,
                int(in_recent.sum()),
                [p.name for p in newest],
                f"feature {col} has no value in {label}: {'; '.join(reasons)}. The {len(parts) - recent} earlier "
                f"partition(s) hold {earlier:,} values of it, so the feed that fills it has probably stopped: fix "
                f"it and rewrite those partitions, or, if {col} is gone for good, remove it from "
                f"data.features.{kind}; then trigger a new run (data.recent_partitions sets how many partitions "
                "this looks at)",
            )

    evaluated += 1
    empty_target = df[data.target].isna().to_numpy()
    if empty_target.any():
        count = int(empty_target.sum())
        per_part = np.bincount(row_part[empty_target], minlength=len(parts))
        named = [f"{parts[i].name} ({int(n):,})" for i, n in enumerate(per_part) if n]
        fail(
            "target_has_labels",
            data.target,
            count,
            [parts[i].name for i, n in enumerate(per_part) if n],
            f"target {data.target} is empty in {count:,} of {total:,} rows ({100 * count / total:.2f}%) of the "
            f"training window, in {len(named)} partition(s): {_names(named, 5)}. A row without a label can be "
            "neither learned from nor scored against: drop such rows from data.source (it should hold labeled rows "
            "only) or label them, then trigger a new run",
        )
    return {"evaluated": evaluated, "failed": len(failures), "failures": failures}
