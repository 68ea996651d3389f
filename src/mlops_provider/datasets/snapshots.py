"""Snapshots: the training window stored content-addressed, and read back only when its hash still matches."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops_provider.datasets.reading import PermanentDataError, resolve_source
from mlops_provider.datasets.window import Window, content_sha256, read_window
from mlops_provider.hooks.storage import Storage, join

if TYPE_CHECKING:
    from mlops_provider.config import PipelineConfig
    from mlops_provider.paths import DataRoots


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


def snapshot_uri(snapshot_root: str, model: str, sha256: str) -> str:
    return join(snapshot_root, model, f"{sha256}.parquet")


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
