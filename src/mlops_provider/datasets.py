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
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops_provider.hooks.storage import Storage, join

if TYPE_CHECKING:
    from mlops_provider.config import PipelineConfig
    from mlops_provider.paths import DataRoots


class DataError(RuntimeError):
    """Training data cannot be read or does not match what the config or the lineage says."""


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


def _read_one(data: bytes, fmt: str) -> pd.DataFrame:
    if fmt == "parquet":
        return pd.read_parquet(io.BytesIO(data))
    return pd.read_csv(io.BytesIO(data))


def read_table(
    uri: str, fmt: str, storage: Storage, *, roots: DataRoots | None = None, field: str = "data.source"
) -> tuple[pd.DataFrame, int]:
    """Read a file, or every ``.<fmt>`` file under a folder/prefix (sorted). Returns (frame, n_files).

    With ``roots`` (``uri`` came from config ``field``), every file found under a folder must really lie
    inside the data roots too: a symbolic link out of them is refused before anything is read.
    """
    if storage.is_dir(uri):
        files = storage.list_files(uri, f".{fmt}")
        if not files:
            raise DataError(f"no .{fmt} files under {uri}; check data.source and data.format in the config")
        if roots is not None:
            files = [roots.check_file(f, field) for f in files]
        frames = [_read_one(storage.read_bytes(f), fmt) for f in files]
        return pd.concat(frames, ignore_index=True), len(files)
    if not storage.exists(uri):
        raise DataError(f"training data {uri} does not exist; check data.source and the [mlops] data_root")
    return _read_one(storage.read_bytes(uri), fmt), 1


def check_columns(df: pd.DataFrame, config: PipelineConfig, where: str) -> None:
    data = config.data
    wanted = [data.target, *data.features.all]
    wanted += [c for c in (data.time_column, data.entity_key) if c]
    wanted += [g.slice for g in config.gates.fairness]
    missing = sorted({c for c in wanted if c not in df.columns})
    if missing:
        raise DataError(
            f"{where} lacks column(s) {', '.join(missing)} named in the config; present: "
            f"{', '.join(map(str, df.columns))}"
        )


def select_window(df: pd.DataFrame, config: PipelineConfig) -> tuple[pd.DataFrame, str | None, str | None]:
    """Keep the last ``window_days`` of data, counted back from the newest ``time_column`` value."""
    col = config.data.time_column
    if col is None:
        return df, None, None
    times = pd.to_datetime(df[col], utc=False)
    end = times.max()
    if config.data.window_days is None:
        return df, str(times.min().date()), str(end.date())
    start = end - pd.Timedelta(days=config.data.window_days - 1)
    start = start.normalize()
    keep = times >= start
    return df.loc[keep], str(start.date()), str(end.date())


def canonical(df: pd.DataFrame, config: PipelineConfig) -> pd.DataFrame:
    """Columns in a fixed order and rows sorted, so equal content gives equal bytes and hash."""
    data = config.data
    first = [c for c in (data.entity_key, data.time_column) if c]
    rest = sorted(c for c in df.columns if c not in first)
    df = df[first + rest]
    return df.sort_values(list(df.columns), kind="mergesort", na_position="last").reset_index(drop=True)


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


def snapshot_uri(snapshot_root: str, model: str, sha256: str) -> str:
    return join(snapshot_root, model, f"{sha256}.parquet")


@dataclass(frozen=True)
class Window:
    """The training window of a source, canonical and as it would be stored (nothing written yet)."""

    frame: pd.DataFrame
    stored: bytes
    sha256: str
    source: str
    source_files: int
    start: str | None
    end: str | None


def read_window(config: PipelineConfig, source: str, storage: Storage, *, roots: DataRoots | None = None) -> Window:
    """Read ``source``'s training window and hash it exactly as :func:`take_snapshot` would, without writing.

    ``source`` comes from :func:`resolve_source`; with ``roots`` the files under it are checked as well.
    """
    raw, n_files = read_table(source, config.data.format, storage, roots=roots, field="data.source")
    check_columns(raw, config, f"training data {source}")
    windowed, start, end = select_window(raw, config)
    if windowed.empty:
        raise DataError(f"no rows in the training window of {source}")
    stored = to_parquet_bytes(canonical(windowed, config))
    df = pd.read_parquet(io.BytesIO(stored))
    return Window(df, stored, content_sha256(df), source, n_files, start, end)


def take_snapshot(
    config: PipelineConfig, *, roots: DataRoots, snapshot_root: str, storage: Storage
) -> tuple[Snapshot, pd.DataFrame]:
    """Read the training window (only inside the data roots), store it content-addressed (once), return it."""
    window = read_window(config, resolve_source(config.data.source, roots), storage, roots=roots)
    uri = snapshot_uri(snapshot_root, config.model, window.sha256)
    if not storage.exists(uri):
        storage.write_bytes(uri, window.stored)
    df = window.frame
    snap = Snapshot(
        uri=uri,
        sha256=window.sha256,
        rows=len(df),
        columns=[str(c) for c in df.columns],
        source=window.source,
        source_files=window.source_files,
        window_start=window.start,
        window_end=window.end,
    )
    return snap, df


def read_snapshot(uri: str, expected_sha256: str, storage: Storage) -> pd.DataFrame:
    """Read a snapshot and prove it is the recorded content."""
    if not storage.exists(uri):
        raise DataError(
            f"training snapshot {uri} is missing (expected content sha256 {expected_sha256[:12]}…); it was "
            "deleted or the snapshot store moved. Restore it from backup or point [mlops] snapshot_root "
            "at the store that holds it"
        )
    df = pd.read_parquet(io.BytesIO(storage.read_bytes(uri)))
    actual = content_sha256(df)
    if actual != expected_sha256:
        raise DataError(
            f"training snapshot {uri} has content sha256 {actual[:12]}… but lineage records "
            f"{expected_sha256[:12]}…: the snapshot was altered; do not train or reproduce from it"
        )
    return df
