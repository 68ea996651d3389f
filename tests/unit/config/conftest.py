"""Fixtures for the config-layer tests: the shipped example config and a helper to write config folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "dags" / "configs"
CORPUS = REPO / "tests" / "fixtures" / "bad_configs"


@pytest.fixture
def churn_text() -> str:
    """The shipped churn.yaml, a complete valid config."""
    return (SHIPPED / "churn.yaml").read_text(encoding="utf-8")


@pytest.fixture
def churn_data(churn_text: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(churn_text)
    return data


WriteFn = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> WriteFn:
    """``write(name, text)`` puts a file in a fresh config folder and returns its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write
