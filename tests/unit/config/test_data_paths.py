"""The lexical data-root rule, checked when a config loads (no file system access)."""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from mlops_provider.config import ConfigError, PipelineConfig, load_config, load_folder
from mlops_provider.config.schema import data_path_problem, under_root
from tests.unit.config.conftest import WriteFn

ROOTS = ("/srv/data", "/mnt/shared/ml", "s3://ml-data/shared")
FIELDS = ("data.source", "scoring.source", "scoring.output")


def _config(churn_data: dict[str, Any], field: str, value: str) -> dict[str, Any]:
    data = copy.deepcopy(churn_data)
    section, key = field.split(".")
    data.setdefault(section, {})[key] = value
    return data


def _validate(data: dict[str, Any], roots: tuple[str, ...] | None = ROOTS) -> PipelineConfig:
    return PipelineConfig.model_validate(data, context={"allowed_data_roots": roots} if roots is not None else None)


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize(
    "value",
    [
        "churn/labeled",
        "./churn/../churn/labeled",
        "/srv/data/churn/labeled",
        "/srv/data",
        "/mnt/shared/ml/churn",
        "file:///mnt/shared/ml/churn",
        "s3://ml-data/shared/churn/labeled",
    ],
)
def test_paths_inside_the_roots_are_valid(churn_data, field, value):
    _validate(_config(churn_data, field, value))


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("../../../../etc", "climbs out of [mlops] data_root with '..'"),
        ("churn/../../secrets", "it normalises to '../secrets'"),
        ("..", "climbs out"),
        ("/etc/passwd", "is outside the data roots (allowed here: /srv/data, /mnt/shared/ml, s3://ml-data/shared)"),
        ("/srv/data/../../etc/shadow", "is outside the data roots"),
        ("/srv/database/x", "is outside the data roots"),  # a sibling sharing the prefix is not inside
        ("file:///etc/passwd", "is outside the data roots"),
        ("file://etc/passwd", "is not an absolute file:// URI"),
        ("s3://ml-data/other/x", "is outside the data roots"),
        ("s3://ml-data/sharedsecrets/x", "is outside the data roots"),
        ("s3://other-bucket/shared/x", "is outside the data roots"),
        ("s3://ml-data/shared/../private/x", "has a '.' or '..' segment"),
        ("s3:///x", "names no bucket"),
    ],
)
def test_paths_outside_the_roots_name_value_rule_and_fix(churn_data, field, value, fragment):
    with pytest.raises(ValidationError) as info:
        _validate(_config(churn_data, field, value))
    (err,) = info.value.errors()
    assert err["loc"] == tuple(field.split("."))
    message = str(err["ctx"]["error"])
    assert fragment in message, message
    if "outside" in fragment or "climbs" in fragment:
        assert "[mlops] allowed_data_roots" in message


def test_without_roots_only_relative_paths_are_valid(churn_data):
    _validate(_config(churn_data, "data.source", "churn/labeled"), roots=None)
    with pytest.raises(ValidationError, match="no data roots were given to this check"):
        _validate(_config(churn_data, "data.source", "/srv/data/churn"), roots=None)


def test_s3_data_root_allows_its_own_uris(churn_data):
    _validate(_config(churn_data, "data.source", "s3://ml-data/churn/labeled"), roots=("s3://ml-data",))
    with pytest.raises(ValidationError):
        _validate(_config(churn_data, "data.source", "/srv/data/churn"), roots=("s3://ml-data",))


def test_under_root_matches_whole_segments():
    assert under_root("/a/b/c", "/a/b") and under_root("/a/b", "/a/b/") and under_root("/x", "/")
    assert not under_root("/a/bc", "/a/b") and not under_root("/a", "/a/b")
    assert under_root("s3://b/p/x", "s3://b/p") and under_root("s3://b/p/x", "s3://b")
    assert not under_root("s3://b/px", "s3://b/p") and not under_root("s3://b/p/x", "/b/p")
    assert data_path_problem("a/b\x00c", ()) is not None


def test_load_config_and_load_folder_take_the_roots(write: WriteFn, churn_text: str):
    path = write("churn.yaml", churn_text.replace("source: churn/labeled ", "source: /mnt/shared/ml/churn "))
    assert load_config(path, allowed_data_roots=ROOTS).data.source == "/mnt/shared/ml/churn"
    with pytest.raises(ConfigError) as info:
        load_config(path, allowed_data_roots=("/srv/data",))
    (problem,) = info.value.problems
    assert (problem.path, problem.line) == ("data.source", 7)
    assert "'/mnt/shared/ml/churn' is outside the data roots (allowed here: /srv/data)" in str(info.value)
    assert load_folder(path.parent, allowed_data_roots=ROOTS).configs
    assert not load_folder(path.parent, allowed_data_roots=("/srv/data",)).configs  # not served from the cache


def _validate_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "mlops_provider.cli", "validate", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_cli_validate_reads_data_root_and_allowed_data_roots_from_the_airflow_config(write: WriteFn, churn_text):
    path = write("churn.yaml", churn_text.replace("source: churn/labeled ", "source: /mnt/shared/ml/churn "))
    refused = _validate_cli(str(path), env={"AIRFLOW__MLOPS__DATA_ROOT": "/srv/data"})
    assert refused.returncode == 1
    assert "field 'data.source': '/mnt/shared/ml/churn' is outside the data roots (allowed here: /srv/data)" in (
        refused.stderr
    )
    allowed = _validate_cli(
        str(path),
        env={"AIRFLOW__MLOPS__DATA_ROOT": "/srv/data", "AIRFLOW__MLOPS__ALLOWED_DATA_ROOTS": "s3://x, /mnt/shared/ml"},
    )
    assert allowed.returncode == 0, allowed.stderr
    flag = _validate_cli(str(path), "--allow-data-root", "/mnt/shared", env={"AIRFLOW__MLOPS__DATA_ROOT": "/srv/data"})
    assert flag.returncode == 0, flag.stderr


def test_settings_read_allowed_data_roots_once_with_data_root_first(monkeypatch: pytest.MonkeyPatch):
    from mlops_provider import settings

    monkeypatch.setenv("AIRFLOW__MLOPS__DATA_ROOT", "/srv/data/")
    monkeypatch.setenv("AIRFLOW__MLOPS__ALLOWED_DATA_ROOTS", " s3://ml-data/shared/ ,, /mnt/shared/ml,/srv/data")
    assert settings.allowed_data_roots() == ("/srv/data", "s3://ml-data/shared", "/mnt/shared/ml")
    monkeypatch.delenv("AIRFLOW__MLOPS__ALLOWED_DATA_ROOTS")
    assert settings.allowed_data_roots() == ("/srv/data",)
