"""``mlops`` command line, called in-process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlops_provider.cli import main
from mlops_provider.config import config_files

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "dags" / "configs"
CORPUS = REPO / "tests" / "fixtures" / "bad_configs"


def test_validate_shipped_configs(capsys):
    assert main(["validate", str(SHIPPED)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    files = config_files(SHIPPED)
    assert files and len(lines) == len(files)
    for line, file in zip(lines, files, strict=True):
        assert line.startswith(f"ok  {file}: model ")
    assert "churn (classification)" in out
    assert err == ""


def test_validate_one_file(capsys):
    assert main(["validate", str(SHIPPED / "churn.yaml")]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith(f"ok  {SHIPPED / 'churn.yaml'}: model churn")


def test_validate_folder_with_a_bad_file(tmp_path, capsys):
    for path in SHIPPED.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    bad = tmp_path / "zz_fraud.yaml"
    bad.write_text(
        (SHIPPED / "churn.yaml")
        .read_text()
        .replace("model: churn", "model: fraud")
        .replace("test_size: 0.2", "test_size: 1.5")
    )
    assert main(["validate", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert f"ok  {tmp_path / 'churn.yaml'}" in out and out.count("\n") == 2  # churn and churn_canary
    assert f"ok  {tmp_path / 'churn_canary.yaml'}" in out and "deploy canary 20%" in out
    assert str(bad) not in out
    assert f"Invalid pipeline config {bad} (1 problem)" in err
    assert "field 'training.test_size': got 1.5; must be > 0.0 and < 1.0" in err
    assert err.rstrip().endswith("1 invalid config file(s), 2 valid")


def test_validate_bad_file_directly(capsys):
    path = CORPUS / "bad_cron.yaml"
    assert main(["validate", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"Invalid pipeline config {path}" in err
    assert "line 6, field 'schedule.training'" in err


def test_validate_allow_module(tmp_path, capsys):
    path = tmp_path / "churn.yaml"
    path.write_text(
        (SHIPPED / "churn.yaml")
        .read_text()
        .replace("sklearn.ensemble.HistGradientBoostingClassifier", "xgboost.XGBClassifier")
    )
    assert main(["validate", str(path)]) == 1
    assert "allowed: sklearn" in capsys.readouterr().err
    assert main(["validate", "--allow-module", "xgboost", str(path)]) == 0
    assert "estimator xgboost.XGBClassifier" in capsys.readouterr().out


def test_validate_missing_path(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope")]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_validate_empty_folder(tmp_path, capsys):
    assert main(["validate", str(tmp_path)]) == 1
    assert "no config files found" in capsys.readouterr().err


def test_schema_is_json_and_closed(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False
    assert {"model", "data", "training"} <= set(schema["required"])
    sections = {name: d for name, d in schema["$defs"].items() if d.get("type") == "object"}
    assert len(sections) >= 10
    for name, definition in sections.items():
        assert definition.get("additionalProperties") is False, name


def test_unknown_command_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "usage: mlops" in capsys.readouterr().err


def test_output_piped_into_a_reader_that_stops_early_ends_quietly():
    """`mlops schema | head -1`: the reader has gone before the output is written; no traceback, exit 0."""
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "r, w = os.pipe(); os.close(r); os.dup2(w, 1)  # stdout: a pipe whose reader has already gone\n"
        "from mlops_provider.cli import main\n"
        "sys.exit(main(['schema']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 0
