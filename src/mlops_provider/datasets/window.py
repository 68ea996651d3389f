"""The training window: event times, the last ``window_days`` days, canonical order and the content hash."""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlops_provider.datasets.reading import (
    DataError,
    PermanentDataError,
    _read_files,
    check_columns,
    check_types,
)
from mlops_provider.hooks.storage import Storage

if TYPE_CHECKING:
    from mlops_provider.config import PipelineConfig
    from mlops_provider.paths import DataRoots


def _event_times(values: pd.Series, col: str, where: str, name_of_row: Callable[[int], str] | None) -> pd.Series:
    """``values`` of ``data.time_column`` as timestamps; a value that is not one names its file and the fix."""
    try:
        return pd.to_datetime(values, utc=False)
    except (ValueError, TypeError, OverflowError):
        try:
            bad = values.notna().to_numpy() & pd.to_datetime(values, errors="coerce", utc=False).isna().to_numpy()
        except (ValueError, TypeError, OverflowError):
            bad = values.notna().to_numpy()
        row = int(np.argmax(bad))
        value = values.iloc[row]
        place = f"partition {name_of_row(row)}" if name_of_row is not None else where
        raise PermanentDataError(
            f"column {col} (data.time_column) holds {value!r} in {place}, which does not read as a date/time like "
            "its other values; write every value as a date (YYYY-MM-DD) or an ISO 8601 timestamp, the same way in "
            "every file (all with a time zone or all without), then trigger a new run"
        ) from None


def _window_mask(
    df: pd.DataFrame, config: PipelineConfig, where: str, name_of_row: Callable[[int], str] | None = None
) -> tuple[np.ndarray | None, pd.Series | None, str | None, str | None]:
    """Rows of ``df`` in the training window (None: all), the event times, and the window's first and last day.

    The window is the last ``window_days`` days counted back from the newest ``time_column`` value. A time
    column with no value at all (empty, or all NaT) raises :class:`PermanentDataError`.
    """
    data = config.data
    col = data.time_column
    if col is None:
        return None, None, None, None
    times = _event_times(df[col], col, where, name_of_row)
    if not times.notna().any():
        counted = "" if data.window_days is None else " and the training window (data.window_days) counts back from it"
        remedy = (
            "data.window_days and data.time_column, to train on every row" if data.window_days else "data.time_column"
        )
        raise PermanentDataError(
            f"column {col} (data.time_column) of {where} holds no date/time: it is empty in all {len(df):,} rows, so "
            f"there is no newest event time{counted}. Fill it in at the source, or remove {remedy}; then trigger a "
            "new run"
        )
    end = times.max()
    if data.window_days is None:
        return None, times, str(times.min().date()), str(end.date())
    start = (end - pd.Timedelta(days=data.window_days - 1)).normalize()
    return (times >= start).to_numpy(), times, str(start.date()), str(end.date())


def select_window(df: pd.DataFrame, config: PipelineConfig) -> tuple[pd.DataFrame, str | None, str | None]:
    """Keep the last ``window_days`` of data, counted back from the newest ``time_column`` value."""
    keep, _, start, end = _window_mask(df, config, "the training data")
    return (df if keep is None else df.loc[keep]), start, end


def _canonical_order(df: pd.DataFrame, config: PipelineConfig) -> pd.DataFrame:
    data = config.data
    first = [c for c in (data.entity_key, data.time_column) if c]
    rest = sorted(c for c in df.columns if c not in first)
    df = df[first + rest]
    return df.sort_values(list(df.columns), kind="mergesort", na_position="last")


def canonical(df: pd.DataFrame, config: PipelineConfig) -> pd.DataFrame:
    """Columns in a fixed order and rows sorted, so equal content gives equal bytes and hash."""
    return _canonical_order(df, config).reset_index(drop=True)


def content_sha256(df: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    header = [[str(c), str(t)] for c, t in zip(df.columns, df.dtypes, strict=True)]
    digest.update(json.dumps(header).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def to_parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    return buf.getvalue()


def _parquet_bytes(df: pd.DataFrame, source: str) -> bytes:
    """The window as parquet; a column pyarrow cannot store in one type is named, with the fix."""
    from pyarrow.lib import ArrowException

    try:
        return to_parquet_bytes(df)
    except (ArrowException, ValueError, TypeError) as exc:
        found = re.search(r"Conversion failed for column (.+?) with type", str(exc))
        col = found.group(1) if found else "?"
        why = str(exc.args[0] if exc.args else exc).splitlines()[0]
        raise PermanentDataError(
            f"the training window of {source} cannot be stored: column {col} holds values of different types "
            f"({why}); make every file of the source hold one type in that column, then trigger a new run"
        ) from None


@dataclass(frozen=True)
class Partition:
    """Files of the source that belong together: the folder holding them (``date=2026-07-30``) or, for a file
    directly in the source folder (or a source that is one file), that file. Paths are relative to the source."""

    name: str
    files: tuple[str, ...]
    #: The columns of each of ``files``.
    columns: tuple[frozenset[str], ...]
    #: Rows of the partition in the training window.
    rows: int


@dataclass(frozen=True, eq=False)
class Window:
    """The training window of a source, canonical and as it would be stored (nothing written yet)."""

    frame: pd.DataFrame
    stored: bytes
    sha256: str
    source: str
    source_files: int
    start: str | None
    end: str | None
    #: The partitions with rows in the window, oldest first: by the newest ``time_column`` value of their rows in
    #: the window, then by name (without a time column, by name).
    partitions: tuple[Partition, ...] = ()
    #: For each row of ``frame``, the index of its partition in ``partitions``.
    row_partition: np.ndarray | None = None


def _relative(file: str, source: str) -> str:
    root = source.rstrip("/") + "/"
    return file[len(root) :] if file.startswith(root) else posixpath.basename(file)


def read_window(config: PipelineConfig, source: str, storage: Storage, *, roots: DataRoots | None = None) -> Window:
    """Read ``source``'s training window and hash it exactly as :func:`take_snapshot` would, without writing.

    ``source`` comes from :func:`resolve_source`; with ``roots`` the files under it are checked as well.
    Data that cannot make a window (a file that is not valid, a column of different types in different files,
    a time column that is not one, a column the config names missing everywhere) raises
    :class:`PermanentDataError`; a missing source or one without rows, :class:`DataError`.
    """
    data = config.data
    where = f"training data {source}"
    parts = _read_files(source, data.format, storage, roots, "data.source", "training data")
    raw = pd.concat([df for _, df in parts], ignore_index=True)
    check_columns(raw, config, where)
    if raw.empty:
        raise DataError(f"{where} holds no rows: its {len(parts)} file(s) are empty; check the job that writes it")
    file_of_row = np.repeat(np.arange(len(parts)), [len(df) for _, df in parts])
    keep, times, start, end = _window_mask(raw, config, where, lambda row: parts[file_of_row[row]][0])
    if keep is not None:
        raw, file_of_row = raw.loc[keep], file_of_row[keep]
        times = None if times is None else times.loc[keep]
    if raw.empty:
        raise DataError(f"no rows in the training window of {source}")
    # one kind of value per column the model reads, across the files with rows in the window (an old file
    # outside the window, or a column the config does not name, cannot break training)
    in_window = [parts[i] for i in np.unique(file_of_row)]
    wanted = [data.target, *data.features.all, *([data.time_column] if data.time_column else [])]
    check_types(in_window, source, wanted, data.features.numeric)

    # Partitions: the folder of each file (or the file), ordered by their newest event time in the window.
    relative = [_relative(name, source) for name, _ in parts]
    keys = [posixpath.dirname(r) or r for r in relative]
    index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    names = list(index)
    part_of_file = np.array([index[k] for k in keys])
    part_of_row = part_of_file[file_of_row]
    files_of: dict[int, list[int]] = {}
    for f in np.unique(file_of_row):  # files with rows in the window, in path order
        files_of.setdefault(int(part_of_file[f]), []).append(int(f))
    newest: dict[int, int] = {}
    if times is not None:
        ns = pd.to_datetime(times, utc=True).astype("int64").to_numpy()  # NaT: the smallest int64
        newest = {int(p): int(v) for p, v in pd.Series(ns).groupby(part_of_row).max().items()}
    present = sorted(files_of, key=lambda p: (newest.get(p, np.iinfo("int64").min), names[p]))
    position = np.full(len(names), -1)
    position[present] = np.arange(len(present))
    rows_of = np.bincount(part_of_row, minlength=len(names))
    partitions = tuple(
        Partition(
            name=names[p],
            files=tuple(relative[f] for f in files_of[p]),
            columns=tuple(frozenset(map(str, parts[f][1].columns)) for f in files_of[p]),
            rows=int(rows_of[p]),
        )
        for p in present
    )

    ordered = _canonical_order(raw.reset_index(drop=True), config)  # index: row positions before sorting
    stored = _parquet_bytes(ordered.reset_index(drop=True), source)
    df = pd.read_parquet(io.BytesIO(stored))
    row_partition = position[part_of_row][ordered.index.to_numpy()]
    return Window(df, stored, content_sha256(df), source, len(parts), start, end, partitions, row_partition)
