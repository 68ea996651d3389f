"""Training data: read the labeled window, make it canonical, keep an immutable content-addressed copy.

The snapshot is the unit of lineage. Its sha256 is computed over the *content* of the table as read
back from the stored parquet file (column names, dtypes and every value, rows in canonical order), so
the same data always gives the same hash, and training always runs on exactly the stored bytes.

- :mod:`~mlops_provider.datasets.reading`: partition files, :class:`DataError` / :class:`PermanentDataError`,
  one kind of value per column across partitions;
- :mod:`~mlops_provider.datasets.window`: the time column, the training window, canonical order, content hash;
- :mod:`~mlops_provider.datasets.snapshots`: content-addressed snapshots, stored once and read back verified;
- :mod:`~mlops_provider.datasets.checks`: the built-in data checks.

Imported only inside task code (it imports pandas).
"""

from __future__ import annotations

from mlops_provider.datasets.checks import builtin_checks
from mlops_provider.datasets.reading import (
    BOOLEANS,
    NUMBERS,
    TEXT,
    TIMES,
    TIMES_TZ,
    DataError,
    PermanentDataError,
    check_columns,
    check_types,
    column_kind,
    read_table,
    resolve_source,
)
from mlops_provider.datasets.snapshots import (
    Snapshot,
    read_snapshot,
    snapshot_uri,
    store_snapshot,
    take_snapshot,
)
from mlops_provider.datasets.window import (
    Partition,
    Window,
    canonical,
    content_sha256,
    read_window,
    select_window,
    to_parquet_bytes,
)

__all__ = [
    "BOOLEANS",
    "NUMBERS",
    "TEXT",
    "TIMES",
    "TIMES_TZ",
    "DataError",
    "Partition",
    "PermanentDataError",
    "Snapshot",
    "Window",
    "builtin_checks",
    "canonical",
    "check_columns",
    "check_types",
    "column_kind",
    "content_sha256",
    "read_snapshot",
    "read_table",
    "read_window",
    "resolve_source",
    "select_window",
    "snapshot_uri",
    "store_snapshot",
    "take_snapshot",
    "to_parquet_bytes",
]
