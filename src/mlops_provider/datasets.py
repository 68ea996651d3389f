"""Training data: read the labeled window, make it canonical, keep an immutable content-addressed copy.

The snapshot is the unit of lineage. Its sha256 is computed over the *content* of the table as read
back from the stored parquet file (column names, dtypes and every value, rows in canonical order), so
the same data always gives the same hash, and training always runs on exactly the stored bytes.

Imported only inside task code (it imports pandas).
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from airflow.sdk.exceptions import AirflowFailException

from mlops_provider.hooks.storage import Storage, join

if TYPE_CHECKING:
    from mlops_provider.config import PipelineConfig
    from mlops_provider.paths import DataRoots


class DataError(RuntimeError):
    """Training data cannot be read or does not match what the config or the lineage says.

    Raised as is only when the data is not there (yet): a missing file, a folder with no files. Airflow retries
    that, as the data may still arrive. Everything a retry cannot fix is a :class:`PermanentDataError`.
    """


class PermanentDataError(DataError, AirflowFailException):
    """The data is there but cannot be used as it is (wrong types, no usable time column, an altered or lost
    snapshot). Not retried: the same data fails the same way; the message names the file, column and fix."""


@dataclass(frozen=True)
class Snapshot:
    uri: str
    sha256: str
    rows: int
    columns: list[str]
    source: str
    source_files: int
    window_start: str | None
    window_end: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_source(source: str, roots: DataRoots, field: str = "data.source") -> str:
    """A config path (``field``) as the location to read or write: relative paths are taken from the data root.

    Refuses (:class:`~mlops_provider.paths.DataPathError`, not retried) anything whose real path lies outside
    the data root and the allowed data roots; local paths come back as real paths.
    """
    return roots.resolve(source, field)


def _read_one(data: bytes, fmt: str, name: str) -> pd.DataFrame:
    from pyarrow.lib import ArrowException

    if not data or (fmt == "parquet" and data.startswith(b"PAR1") and not data.endswith(b"PAR1")):
        # a file still being written looks like this: retried, not failed for good
        raise DataError(
            f"file {name} is {'empty' if not data else 'incomplete (no parquet footer)'}: it may still be being "
            "written, so the task is retried; if it stays so, replace it with a complete file or move it out of "
            "the source"
        )

    try:
        if fmt == "parquet":
            return pd.read_parquet(io.BytesIO(data))
        return pd.read_csv(io.BytesIO(data))
    except (ValueError, OSError, ArrowException) as exc:  # pandas' parsers and pyarrow: not a valid file
        why = str(exc).splitlines()[0].rstrip(".") if str(exc) else type(exc).__name__
        raise PermanentDataError(
            f"file {name} cannot be read as {fmt}: {why}; replace it with a valid {fmt} file or move it out "
            "of the source, then trigger a new run"
        ) from None


def _read_files(
    uri: str, fmt: str, storage: Storage, roots: DataRoots | None, field: str, what: str
) -> list[tuple[str, pd.DataFrame]]:
    """``(file, frame)`` of a file, or of every ``.<fmt>`` file under a folder/prefix (sorted by path)."""
    if storage.is_dir(uri):
        files = storage.list_files(uri, f".{fmt}")
        if not files:
            fmt_field = f"{field.rpartition('.')[0] or 'data'}.format"
            raise DataError(f"no .{fmt} files under {what} {uri}; check {field} and {fmt_field} in the config")
        if roots is not None:
            files = [roots.check_file(f, field) for f in files]
        return [(f, _read_one(storage.read_bytes(f), fmt, f)) for f in files]
    if not storage.exists(uri):
        raise DataError(f"{what} {uri} does not exist; check {field} and the [mlops] data_root")
    return [(uri, _read_one(storage.read_bytes(uri), fmt, uri))]


def read_table(
    uri: str,
    fmt: str,
    storage: Storage,
    *,
    roots: DataRoots | None = None,
    field: str = "data.source",
    what: str = "training data",
) -> tuple[pd.DataFrame, int]:
    """Read a file, or every ``.<fmt>`` file under a folder/prefix (sorted). Returns (frame, n_files).

    With ``roots`` (``uri`` came from config ``field``), every file found under a folder must really lie
    inside the data roots too: a symbolic link out of them is refused before anything is read. ``what``
    names the data in error messages (e.g. "scoring batch for 2026-08-01").

    A missing file or an empty folder raises :class:`DataError` (retried: the data may still arrive); a file
    that is not valid ``fmt`` raises :class:`PermanentDataError` naming it. Columns are not checked for one
    type across files here (scoring judges text in numeric features itself); :func:`read_window` does that.
    """
    parts = _read_files(uri, fmt, storage, roots, field, what)
    return pd.concat([df for _, df in parts], ignore_index=True), len(parts)


#: What a column of one partition holds, as said in messages.
NUMBERS, TEXT, BOOLEANS = "numbers", "text", "true/false values"
TIMES, TIMES_TZ = "dates/times without a time zone", "dates/times with a time zone"


def _kind_of_value(value: Any) -> str:
    import datetime as dt
    import numbers

    if isinstance(value, str):
        return TEXT
    if isinstance(value, bool | np.bool_):
        return BOOLEANS
    if isinstance(value, numbers.Number):
        return NUMBERS
    if isinstance(value, dt.datetime):
        return TIMES_TZ if value.tzinfo is not None else TIMES
    if isinstance(value, dt.date):
        return TIMES
    return f"{type(value).__name__} values"


def column_kind(values: pd.Series) -> str | None:
    """What ``values`` (one column of one partition) hold: numbers, text, ...; None when every value is null."""
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        kind = TIMES_TZ
    elif pd.api.types.is_datetime64_dtype(dtype):
        kind = TIMES
    elif pd.api.types.is_bool_dtype(dtype):
        kind = BOOLEANS
    elif pd.api.types.is_numeric_dtype(dtype):
        kind = NUMBERS
    else:
        present = values.dropna()
        return _kind_of_value(present.iloc[0]) if len(present) else None
    return kind if values.notna().any() else None


def _example(values: pd.Series, kind: str, usual: str) -> Any:
    """A value of ``values`` (of ``kind``) to quote: for text among numbers, one that is not a number."""
    present = values.dropna()
    if kind == TEXT and usual == NUMBERS:
        not_numbers = present[pd.to_numeric(present, errors="coerce").isna()]
        if len(not_numbers):
            present = not_numbers
    value = present.iloc[0]
    return value.item() if isinstance(value, np.generic) else value


def _names(items: list[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_types(
    parts: list[tuple[str, pd.DataFrame]],
    source: str,
    only: Sequence[str] | None = None,
    numeric: Sequence[str] = (),
) -> None:
    """Every column (of ``only``, when given) holds one kind of value across the partitions, else
    :class:`PermanentDataError`.

    The kind most partitions hold is taken as the column's (ties: the first one's), except for the
    ``numeric`` features, which must hold numbers wherever they hold anything; the message names the first
    partition that holds something else, the column, a value and what the other partitions hold.
    Partitions where the column is absent or null do not count.
    """
    columns = dict.fromkeys(c for _, df in parts for c in df.columns if only is None or c in only)
    for col in columns:
        if len({str(df[col].dtype) for _, df in parts if col in df.columns}) < 2:
            continue  # one dtype everywhere: one kind (text against numbers shows as object against a number dtype)
        kinds = [(name, df[col], column_kind(df[col])) for name, df in parts if col in df.columns]
        seen = [(name, values, kind) for name, values, kind in kinds if kind is not None]
        counts = Counter(kind for _, _, kind in seen)
        if len(counts) < 2:
            continue
        first = {kind: i for i, (_, _, kind) in reversed(list(enumerate(seen)))}
        usual = max(counts, key=lambda k: (counts[k], -first[k]))
        if col in numeric and NUMBERS in counts:
            usual = NUMBERS  # a numeric feature: text is the anomaly, however many partitions hold it
        odd = [(i, name, values, kind) for i, (name, values, kind) in enumerate(seen) if kind != usual]
        i, name, values, kind = odd[0]
        others = "earlier partitions" if first[usual] < i else "the other partitions"
        more = (
            f" ({len(odd) - 1} more partition(s) do too: {_names([n for _, n, _, _ in odd[1:]])})"
            if len(odd) > 1
            else ""
        )
        raise PermanentDataError(
            f"partition {name}: column {col} holds {kind} ({_example(values, kind, usual)!r}) where {others} "
            f"hold {usual}{more}; fix the file so that the column holds {usual} (leave a missing value empty), "
            f"or move it out of {source}, then trigger a new run"
        )


def check_columns(df: pd.DataFrame, config: PipelineConfig, where: str) -> None:
    data = config.data
    wanted = [data.target, *data.features.all]
    wanted += [c for c in (data.time_column, data.entity_key) if c]
    wanted += [g.slice for g in config.gates.fairness]
    missing = sorted({c for c in wanted if c not in df.columns})
    if missing:
        raise PermanentDataError(
            f"{where} lacks column(s) {', '.join(missing)} named in the config; present: "
            f"{', '.join(map(str, df.columns))}"
        )


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


def snapshot_uri(snapshot_root: str, model: str, sha256: str) -> str:
    return join(snapshot_root, model, f"{sha256}.parquet")


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


def store_snapshot(config: PipelineConfig, window: Window, *, snapshot_root: str, storage: Storage) -> Snapshot:
    """Store ``window`` content-addressed under ``snapshot_root`` (once: an existing snapshot is the same bytes)."""
    uri = snapshot_uri(snapshot_root, config.model, window.sha256)
    if not storage.exists(uri):
        storage.write_bytes(uri, window.stored)
    df = window.frame
    return Snapshot(
        uri=uri,
        sha256=window.sha256,
        rows=len(df),
        columns=[str(c) for c in df.columns],
        source=window.source,
        source_files=window.source_files,
        window_start=window.start,
        window_end=window.end,
    )


def take_snapshot(
    config: PipelineConfig, *, roots: DataRoots, snapshot_root: str, storage: Storage
) -> tuple[Snapshot, pd.DataFrame]:
    """Read the training window (only inside the data roots), store it content-addressed (once), return it."""
    window = read_window(config, resolve_source(config.data.source, roots), storage, roots=roots)
    return store_snapshot(config, window, snapshot_root=snapshot_root, storage=storage), window.frame


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


def read_snapshot(uri: str, expected_sha256: str, storage: Storage) -> pd.DataFrame:
    """Read a snapshot and prove it is the recorded content."""
    if not storage.exists(uri):
        raise PermanentDataError(
            f"training snapshot {uri} is missing (expected content sha256 {expected_sha256[:12]}…); it was "
            "deleted or the snapshot store moved. Restore it from backup or point [mlops] snapshot_root "
            "at the store that holds it"
        )
    df = pd.read_parquet(io.BytesIO(storage.read_bytes(uri)))
    actual = content_sha256(df)
    if actual != expected_sha256:
        raise PermanentDataError(
            f"training snapshot {uri} has content sha256 {actual[:12]}… but lineage records "
            f"{expected_sha256[:12]}…: the snapshot was altered; do not train or reproduce from it"
        )
    return df
