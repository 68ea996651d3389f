"""The package is a provider Airflow discovers: listed, with the mlflow connection type and [mlops] options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _airflow(*args: str) -> str:
    airflow = Path(sys.executable).parent / "airflow"
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    return subprocess.run(
        [str(airflow), *args], capture_output=True, text=True, env=env, check=True, timeout=120
    ).stdout


@pytest.fixture(scope="module")
def providers_list() -> str:
    return _airflow("providers", "list")


def test_airflow_lists_the_provider(providers_list: str) -> None:
    line = next(ln for ln in providers_list.splitlines() if ln.startswith("airflow-provider-mlops"))
    from mlops_provider.get_provider_info import __version__

    assert __version__ in line


def test_mlflow_connection_type_is_registered() -> None:
    hooks = _airflow("providers", "hooks")
    line = next(ln for ln in hooks.splitlines() if ln.startswith("mlflow "))
    assert "mlops_provider.hooks.mlflow.MlflowHook" in line and "mlflow_conn_id" in line


def test_mlops_config_section_is_known_to_airflow() -> None:
    out = _airflow("config", "list", "--section", "mlops", "--include-descriptions")
    for option in (
        "data_root",
        "allowed_data_roots",
        "snapshot_root",
        "allowed_estimator_modules",
        "outbox_path",
        "lock_file",
    ):
        assert option in out


def test_the_mlops_options_table_in_the_docs_is_rendered_from_the_provider_metadata() -> None:
    from mlops_provider.get_provider_info import get_provider_info, options_table
    from tests.conftest import REPO

    page = (REPO / "docs" / "getting-started.md").read_text()
    assert options_table() in page, "regenerate: python -m mlops_provider.get_provider_info"
    for name in get_provider_info()["config"]["mlops"]["options"]:
        assert f"``{name}``" not in (REPO / "src" / "mlops_provider" / "settings.py").read_text().split('"""')[1]


def test_the_readme_layout_names_every_module_of_the_package() -> None:
    """Each module is named under its own package's entry (``  config/`` and the lines indented below it)."""
    import re

    from tests.conftest import REPO

    text = (REPO / "README.md").read_text()
    layout = text.split("## Layout", 1)[1].split("```", 2)[1]
    sections: dict[str, str] = {}
    current = ""
    for line in layout.splitlines():
        entry = re.match(r"^  (\w+/|\w+\.py)", line)
        if entry:
            current = entry.group(1).rstrip("/") if entry.group(1).endswith("/") else ""
        sections[current] = sections.get(current, "") + line + "\n"
    package = REPO / "src" / "mlops_provider"
    missing = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).parts
        if path.name == "__init__.py":
            if len(parts) > 1 and parts[0] not in sections:
                missing.append(parts[0] + "/")
            continue
        where = parts[0] if len(parts) > 1 else ""
        if not re.search(rf"(?<![\w.]){re.escape(path.name)}", sections.get(where, "")):
            missing.append("/".join(parts))
    assert not missing, f"README layout does not name: {missing}"
