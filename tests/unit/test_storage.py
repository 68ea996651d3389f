"""Storage (hooks/storage.py): bytes in and out of local folders and S3 by URI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_provider.hooks.storage import Storage, is_s3, join


def test_join_and_is_s3() -> None:
    assert join("s3://bucket/root/", "/churn/", "abc.parquet") == "s3://bucket/root/churn/abc.parquet"
    assert join("/data", "m", "x") == "/data/m/x"
    assert is_s3("s3://bucket/key") and not is_s3("/data/s3://x") and not is_s3("file:///data")


# -- local ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["", "file://"], ids=["path", "file-uri"])
def test_local_write_creates_folders_and_reads_back_the_same_bytes(tmp_path: Path, scheme: str) -> None:
    storage = Storage()
    uri = f"{scheme}{tmp_path}/a/b/snapshot.parquet"

    assert not storage.exists(uri)
    storage.write_bytes(uri, b"first")
    storage.write_bytes(uri, b"second, longer")  # replaces

    assert storage.exists(uri)
    assert storage.read_bytes(uri) == b"second, longer"
    assert (tmp_path / "a" / "b" / "snapshot.parquet").read_bytes() == b"second, longer"
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["snapshot.parquet"]  # no temp file left
    assert storage.is_dir(f"{scheme}{tmp_path}/a") and not storage.is_dir(uri)


def test_local_read_of_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Storage().read_bytes(str(tmp_path / "missing.parquet"))


def test_local_list_files_is_recursive_sorted_filtered_and_skips_hidden_files(tmp_path: Path) -> None:
    for name in ["date=2026-07-02/part-1.parquet", "date=2026-07-01/part-0.parquet", "b.parquet", "a.csv"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "date=2026-07-02" / ".part-2.parquet.tmp").write_bytes(b"half")
    (tmp_path / "date=2026-07-02" / ".hidden.parquet").write_bytes(b"x")
    (tmp_path / "folder.parquet").mkdir()  # a folder named like a file is not a file

    files = Storage().list_files(str(tmp_path), ".parquet")

    assert files == [
        str(tmp_path / "b.parquet"),
        str(tmp_path / "date=2026-07-01" / "part-0.parquet"),
        str(tmp_path / "date=2026-07-02" / "part-1.parquet"),
    ]
    assert Storage().list_files(str(tmp_path), ".csv") == [str(tmp_path / "a.csv")]
    assert Storage().list_files(str(tmp_path / "date=2026-07-03"), ".parquet") == []


# -- S3 (moto) ------------------------------------------------------------------------------------------

BUCKET = "mlops-storage-test"


@pytest.fixture(scope="module")
def s3() -> Iterator[Storage]:
    pytest.importorskip("moto")
    import boto3
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            mp.setenv(key, value)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
            yield Storage(aws_conn_id=None)  # no Airflow connection: boto3's credentials, here moto's


def test_s3_write_read_exists(s3: Storage) -> None:
    uri = f"s3://{BUCKET}/snapshots/churn/abc.parquet"

    assert not s3.exists(uri)
    s3.write_bytes(uri, b"one")
    s3.write_bytes(uri, b"two")

    assert s3.exists(uri)
    assert s3.read_bytes(uri) == b"two"
    assert not s3.is_dir(uri)  # an object is not a prefix
    assert s3.is_dir(f"s3://{BUCKET}/snapshots/churn") and s3.is_dir(f"s3://{BUCKET}/snapshots/churn/")


def test_s3_list_files_under_a_prefix_sorted_and_filtered(s3: Storage) -> None:
    for key in ["labeled/date=2026-07-02/p.parquet", "labeled/date=2026-07-01/p.parquet", "labeled/x.csv"]:
        s3.write_bytes(f"s3://{BUCKET}/{key}", b"x")
    s3.write_bytes(f"s3://{BUCKET}/labeled-old/p.parquet", b"x")  # same leading characters, other prefix

    files = s3.list_files(f"s3://{BUCKET}/labeled", ".parquet")

    assert files == [
        f"s3://{BUCKET}/labeled/date=2026-07-01/p.parquet",
        f"s3://{BUCKET}/labeled/date=2026-07-02/p.parquet",
    ]
    assert s3.list_files(f"s3://{BUCKET}/nothing-here/", ".parquet") == []
