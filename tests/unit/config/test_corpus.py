"""Every malformed config in tests/fixtures/bad_configs/ gives one problem a person can act on.

The expected field path, line and message fragments of each file are in expected.yaml next to them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from mlops_provider.config import ConfigError, load_config, load_folder
from tests.unit.config.conftest import CORPUS

EXPECTED_FILE = CORPUS / "expected.yaml"
EXPECTED: dict[str, dict] = yaml.safe_load(EXPECTED_FILE.read_text(encoding="utf-8"))
CASES = sorted(p for p in CORPUS.glob("*.yaml") if p != EXPECTED_FILE)


def test_corpus_has_enough_cases_and_every_case_is_expected():
    assert len(CASES) >= 30
    assert {p.name for p in CASES} == set(EXPECTED)
    for name, spec in EXPECTED.items():
        assert set(spec) == {"path", "line", "contains"}, name
        assert spec["contains"], name


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_bad_config_names_file_line_field_and_fix(path: Path):
    expected = EXPECTED[path.name]
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    text = str(err)

    assert err.file == str(path)
    assert str(path) in text
    assert len(err.problems) == 1, text  # one defect per file, reported once
    (problem,) = err.problems
    assert problem.path == expected["path"], text
    assert problem.line == expected["line"], text
    assert problem.source is None  # the corpus folder has no defaults.yaml
    assert f"line {expected['line']}" in text
    if expected["path"]:
        assert f"field '{expected['path']}'" in text
    else:
        assert "field '" not in text
    for fragment in expected["contains"]:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    assert f"mlops validate {path}" in text


def test_python_tag_is_never_constructed(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the YAML loader constructed a python object")

    monkeypatch.setattr(os, "system", boom)
    with pytest.raises(ConfigError, match="is not allowed"):
        load_config(CORPUS / "python_object_tag.yaml")


def test_load_folder_reports_every_corpus_case_without_raising(tmp_path: Path):
    for path in CASES:
        shutil.copy(path, tmp_path / path.name)
    result = load_folder(tmp_path)
    assert result.configs == {}
    assert sorted(Path(e.file).name for e in result.errors) == [p.name for p in CASES]
