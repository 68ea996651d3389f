"""The run-time data-root check: real paths (symbolic links followed) inside the data root or an allowed root."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from mlops_provider.paths import DataPathError, DataRoots

SECRET = "TOP-SECRET-ROW-CONTENT"


@pytest.fixture()
def tree(tmp_path: Path) -> dict[str, Path]:
    """data/ (the data root), shared/ (an allowed root), outside/ (neither), with links between them."""
    data, shared, outside = tmp_path / "data", tmp_path / "shared", tmp_path / "outside"
    for folder in (data / "churn" / "labeled", shared / "churn", outside):
        folder.mkdir(parents=True)
    pd.DataFrame({"x": [1, 2]}).to_parquet(data / "churn" / "labeled" / "day1.parquet")
    pd.DataFrame({"x": [SECRET]}).to_parquet(outside / "secret.parquet")
    (data / "escape").symlink_to(outside)  # a folder link out of the data root
    (data / "to_shared").symlink_to(shared)  # a link to an allowed root
    (data / "churn" / "labeled" / "day2.parquet").symlink_to(outside / "secret.parquet")  # a file link out
    return {"data": data, "shared": shared, "outside": outside, "tmp": tmp_path}


def _roots(tree: dict[str, Path], *extra: str) -> DataRoots:
    return DataRoots((str(tree["data"]), *extra))


def test_data_path_error_is_never_retried():
    from airflow.sdk.exceptions import AirflowFailException

    assert issubclass(DataPathError, AirflowFailException)


def test_relative_paths_resolve_inside_the_data_root(tree):
    roots = _roots(tree)
    assert roots.resolve("churn/labeled", "data.source") == str(tree["data"] / "churn" / "labeled")
    assert roots.resolve("churn/../churn/labeled/", "data.source") == str(tree["data"] / "churn" / "labeled")
    assert roots.resolve("predictions/m/date=2026-08-01/predictions.parquet", "scoring.output").startswith(
        str(tree["data"])
    )  # not there yet: writing it is allowed


@pytest.mark.parametrize("value", ["../outside", "churn/../../outside/secret.parquet", "..", "escape/secret.parquet"])
def test_relative_paths_that_leave_the_data_root_are_refused(tree, value):
    with pytest.raises(DataPathError) as info:
        _roots(tree).resolve(value, "data.source")
    text = str(info.value)
    assert f"config field data.source {value!r}" in text
    assert "use a path relative to [mlops] data_root" in text and "[mlops] allowed_data_roots" in text
    assert SECRET not in text


def test_a_link_out_of_the_data_root_is_named_as_such(tree):
    with pytest.raises(DataPathError, match=f"resolves \\(through a symbolic link\\) to {tree['outside']}"):
        _roots(tree).resolve("escape", "scoring.output")


def test_absolute_paths_and_file_uris(tree):
    roots = _roots(tree, str(tree["shared"]))
    assert roots.resolve(str(tree["data"] / "churn"), "data.source") == str(tree["data"] / "churn")
    assert roots.resolve(f"file://{tree['shared']}/churn", "data.source") == str(tree["shared"] / "churn")
    assert roots.resolve("to_shared/churn", "data.source") == str(tree["shared"] / "churn")  # link to allowed root
    for value in (str(tree["outside"] / "secret.parquet"), "/etc/passwd", f"file://{tree['outside']}"):
        with pytest.raises(DataPathError, match="outside the data root"):
            roots.resolve(value, "data.source")
    with pytest.raises(DataPathError, match="not an absolute file:// URI"):
        roots.resolve("file://etc/passwd", "data.source")
    with pytest.raises(DataPathError, match="outside the data root"):
        _roots(tree).resolve(f"{tree['shared']}/churn", "data.source")  # not allowed without the option


def test_a_symlinked_data_root_is_compared_by_its_real_path(tree):
    link = tree["tmp"] / "data-link"
    link.symlink_to(tree["data"])
    roots = DataRoots((str(link),))
    assert roots.resolve("churn/labeled", "data.source") == str(tree["data"] / "churn" / "labeled")
    with pytest.raises(DataPathError):
        roots.resolve("escape", "data.source")


def test_s3_uris_inside_an_s3_data_root_or_allowed_prefix():
    roots = DataRoots(("s3://ml-data/prod", "s3://shared-bucket/ml", "/srv/data"))
    assert roots.resolve("churn/labeled", "data.source") == "s3://ml-data/prod/churn/labeled"
    assert roots.resolve("./.hidden/x", "data.source") == "s3://ml-data/prod/.hidden/x"
    assert roots.resolve("s3://ml-data/prod/churn", "data.source") == "s3://ml-data/prod/churn"
    assert roots.resolve("s3://shared-bucket/ml/x", "scoring.source") == "s3://shared-bucket/ml/x"
    for value in ("s3://ml-data/production/x", "s3://other/ml/x", "s3://ml-data/prod/../secrets/x"):
        with pytest.raises(DataPathError):
            roots.resolve(value, "data.source")
    with pytest.raises(DataPathError, match="climbs out"):
        roots.resolve("../secrets", "data.source")
    with pytest.raises(DataPathError):  # a local data root does not allow s3 URIs by itself
        DataRoots(("/srv/data",)).resolve("s3://ml-data/prod/x", "data.source")


def test_read_table_refuses_a_listed_file_that_links_out_before_reading_anything(tree, monkeypatch):
    from mlops_provider.datasets import read_table
    from mlops_provider.hooks.storage import Storage

    storage = Storage(aws_conn_id=None)
    read: list[str] = []
    real_read = Storage.read_bytes
    monkeypatch.setattr(Storage, "read_bytes", lambda self, uri: read.append(uri) or real_read(self, uri))
    roots = _roots(tree)
    folder = roots.resolve("churn/labeled", "data.source")
    with pytest.raises(DataPathError) as info:
        read_table(folder, "parquet", storage, roots=roots, field="data.source")
    assert read == []  # refused before the first file was opened
    text = str(info.value)
    assert "day2.parquet, found under config field data.source, is a symbolic link to" in text
    assert str(tree["outside"] / "secret.parquet") in text and SECRET not in text
    os.remove(tree["data"] / "churn" / "labeled" / "day2.parquet")
    df, n = read_table(folder, "parquet", storage, roots=roots, field="data.source")
    assert (n, list(df["x"])) == (1, [1, 2])


def test_roots_come_from_the_settings(monkeypatch, tree):
    monkeypatch.setenv("AIRFLOW__MLOPS__DATA_ROOT", str(tree["data"]))
    monkeypatch.setenv("AIRFLOW__MLOPS__ALLOWED_DATA_ROOTS", f"{tree['shared']},s3://b/p")
    assert DataRoots.from_settings().roots == (str(tree["data"]), str(tree["shared"]), "s3://b/p")
