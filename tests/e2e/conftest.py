"""Helpers for the end-to-end tests: a fresh embedded stack per test module."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.conftest import REPO, free_port


def new_stack(root: Path, *, shipped_configs: bool) -> Any:
    """A stack whose dags folder holds the real loader files (and the shipped configs if asked)."""
    from mlops_provider.demo.stack import Stack

    dags = root / "dags"
    (dags / "configs").mkdir(parents=True)
    for f in (REPO / "dags").glob("*.py"):
        shutil.copy(f, dags / f.name)
    if shipped_configs:
        for f in (REPO / "dags" / "configs").glob("*.yaml"):
            shutil.copy(f, dags / "configs" / f.name)
    return Stack(home=root / "state", dags_folder=dags, port=free_port())
