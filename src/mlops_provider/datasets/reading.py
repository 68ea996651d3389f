"""Reading partition files, with errors that name the file and the fix; one kind of value per column."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from airflow.sdk.exceptions import AirflowFailException

from mlops_provider.hooks.storage import Storage

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
