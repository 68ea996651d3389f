"""Bytes in and out of local folders and S3, behind one small interface.

S3 goes through the amazon provider's ``S3Hook`` (connection ``aws_default`` unless told otherwise),
so credentials and endpoints (``endpoint_url`` in the connection extra, e.g. a moto server) live in
the Airflow connection.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def _local(uri: str) -> Path:
    return Path(uri[len("file://") :] if uri.startswith("file://") else uri)


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


class Storage:
    """Read, write and list objects by URI: local paths, ``file://`` or ``s3://``."""

    def __init__(self, aws_conn_id: str | None = "aws_default") -> None:
        self.aws_conn_id = aws_conn_id

    @cached_property
    def s3(self) -> S3Hook:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id)

    def exists(self, uri: str) -> bool:
        if is_s3(uri):
            bucket, key = self.s3.parse_s3_url(uri)
            return bool(self.s3.check_for_key(key, bucket_name=bucket))
        return _local(uri).exists()

    def read_bytes(self, uri: str) -> bytes:
        if is_s3(uri):
            bucket, key = self.s3.parse_s3_url(uri)
            obj = self.s3.get_key(key, bucket_name=bucket)
            return bytes(obj.get()["Body"].read())
        return _local(uri).read_bytes()

    def write_bytes(self, uri: str, data: bytes) -> None:
        if is_s3(uri):
            bucket, key = self.s3.parse_s3_url(uri)
            self.s3.load_bytes(data, key=key, bucket_name=bucket, replace=True)
            return
        path = _local(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a reader never sees half a file

    def delete(self, uri: str) -> None:
        """Remove one file; a file that is not there is fine."""
        if is_s3(uri):
            bucket, key = self.s3.parse_s3_url(uri)
            self.s3.delete_objects(bucket=bucket, keys=[key])
            return
        _local(uri).unlink(missing_ok=True)

    def size(self, uri: str) -> int:
        """Bytes stored at ``uri``: a file, or every file under a folder or prefix; 0 when nothing is there."""
        if is_s3(uri):
            bucket, key = self.s3.parse_s3_url(uri)
            if key and self.s3.check_for_key(key, bucket_name=bucket):
                return int(self.s3.head_object(key, bucket_name=bucket)["ContentLength"])
            found = self.s3.get_file_metadata(key.rstrip("/") + "/", bucket_name=bucket) or []
            return sum(int(f.get("Size", 0)) for f in found)
        path = _local(uri)
        if path.is_file():
            return path.stat().st_size
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return 0

    def is_dir(self, uri: str) -> bool:
        if is_s3(uri):
            return uri.endswith("/") or not self.exists(uri)
        return _local(uri).is_dir()

    def list_files(self, uri: str, suffix: str) -> list[str]:
        """Files under a folder/prefix ending in ``suffix``, sorted by URI (deterministic order)."""
        if is_s3(uri):
            bucket, prefix = self.s3.parse_s3_url(uri.rstrip("/") + "/")
            keys = self.s3.list_keys(bucket_name=bucket, prefix=prefix) or []
            return sorted(f"s3://{bucket}/{k}" for k in keys if k.endswith(suffix))
        root = _local(uri)
        return sorted(str(p) for p in root.rglob(f"*{suffix}") if p.is_file() and not p.name.startswith("."))
