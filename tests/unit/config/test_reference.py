"""The committed config reference page is exactly what the schema renders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mlops_provider.config.gx_catalog import GX_EXPECTATIONS
from mlops_provider.config.reference import CROSS_FIELD_RULES, REGENERATE, render_reference
from mlops_provider.config.schema import ALL_METRICS, PipelineConfig

REPO = Path(__file__).resolve().parents[3]
PAGE = REPO / "docs" / "config-reference.md"


def test_committed_page_matches_the_schema():
    assert PAGE.read_text(encoding="utf-8") == render_reference(), (
        f"{PAGE.relative_to(REPO)} is out of date with the config schema; regenerate it with: {REGENERATE}"
    )


def test_every_key_metric_and_expectation_is_listed():
    page = render_reference()
    schema = PipelineConfig.model_json_schema(by_alias=True)
    for section in [schema, *schema["$defs"].values()]:
        for key in section.get("properties", {}):
            assert f"| `{key}` |" in page, key
    for name in [*ALL_METRICS, *GX_EXPECTATIONS]:
        assert f"`{name}`" in page, name


def _has_path(path: str) -> bool:
    """Whether a dotted key path (``[]`` for list items, ``*`` for any key) exists in the schema."""
    schema = PipelineConfig.model_json_schema(by_alias=True)

    def node(ref_or_prop: dict) -> dict:
        for option in [ref_or_prop, *ref_or_prop.get("anyOf", []), ref_or_prop.get("items", {})]:
            ref = option.get("$ref") or option.get("items", {}).get("$ref")
            if ref:
                return schema["$defs"][ref.split("/")[-1]]
        return {}

    level = [schema]
    for part in path.replace("[]", "").split("."):
        props = [p for section in level for name, p in section.get("properties", {}).items() if part in ("*", name)]
        if not props:
            return False
        level = [node(p) for p in props]
    return True


def test_cross_field_rules_name_real_keys():
    for where, _ in CROSS_FIELD_RULES:
        for path in where.split(", "):
            assert _has_path(path), f"CROSS_FIELD_RULES names {path!r}, which the schema does not have"


def test_rendering_imports_nothing_heavy():
    code = (
        "import json, sys\n"
        "from mlops_provider.config.reference import render_reference\n"
        "render_reference()\n"
        "heavy = ('pandas', 'sklearn', 'mlflow', 'great_expectations', 'airflow')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
