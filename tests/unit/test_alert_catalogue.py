"""The alert catalogue: every kind rendered from fixed values, compared with checked-in text and Slack blocks.

A change of wording shows here as a diff of ``tests/unit/alerts/expected/``. To accept one on purpose:
``UPDATE_EXPECTED=1 pytest tests/unit/test_alert_catalogue.py``, review the diff, and copy the new texts into
docs/alerts.md (checked below).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.unit.alerts.cases import BASE_URL, cases

EXPECTED = Path(__file__).parent / "alerts" / "expected"


@pytest.fixture()
def alerts(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE_URL)
    return cases()


def _check(path: Path, actual: str) -> None:
    if os.environ.get("UPDATE_EXPECTED"):
        path.write_text(actual, encoding="utf-8")
    assert path.is_file(), f"no expected text for {path.stem}: run with UPDATE_EXPECTED=1 and review it"
    assert actual == path.read_text(encoding="utf-8")


def test_every_kind_has_a_case(alerts: dict[str, Any]) -> None:
    from mlops_provider.notifications.catalogue import KINDS
    from tests.unit.alerts.cases import KIND_NAMES

    assert sorted(alerts) == sorted(KINDS) == sorted(KIND_NAMES)
    assert all(alert.kind == kind for kind, alert in alerts.items())


@pytest.mark.parametrize("kind", sorted(json.loads((EXPECTED / "kinds.json").read_text())))
def test_each_kind_renders_the_checked_in_text_and_blocks(alerts: dict[str, Any], kind: str) -> None:
    alert = alerts[kind]

    assert alert.kind == kind
    _check(EXPECTED / f"{kind}.txt", alert.text() + "\n")
    _check(EXPECTED / f"{kind}.blocks.json", json.dumps(alert.blocks(), indent=2) + "\n")


def test_the_checked_in_kinds_are_the_catalogue() -> None:
    from mlops_provider.notifications.catalogue import KINDS

    assert json.loads((EXPECTED / "kinds.json").read_text()) == sorted(KINDS)


def test_every_alert_says_what_happens_next_and_links_where_to_look(alerts: dict[str, Any]) -> None:
    for kind, alert in alerts.items():
        assert alert.headline.startswith("churn: "), kind
        assert alert.next, kind
        assert alert.link and alert.link.startswith(BASE_URL), kind
        assert alert.blocks()[-1]["elements"][0]["url"] == alert.link, kind


def test_the_docs_show_every_kind_as_the_catalogue_renders_it() -> None:
    from tests.conftest import REPO

    page = (REPO / "docs" / "alerts.md").read_text(encoding="utf-8")
    for path in sorted(EXPECTED.glob("*.txt")):
        assert f"### `{path.stem}`" in page, path.stem
        assert f"```text\n{path.read_text(encoding='utf-8')}```" in page, f"docs/alerts.md: {path.stem} differs"


def test_without_a_base_url_there_is_no_link_and_no_button(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_provider.notifications.alerts import failure_alert

    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "")
    alert = failure_alert({"exception": RuntimeError("boom"), "run_id": "r1"}, "churn")

    assert alert.link is None
    assert "Log:" not in alert.text()
    assert all(block["type"] != "actions" for block in alert.blocks())


def test_a_long_detail_is_cut_to_what_slack_accepts_in_one_block() -> None:
    from mlops_provider.notifications.catalogue import Alert

    alert = Alert(kind="gate_failed", model="m", severity="error", headline="m: x", details=("y" * 5000,))

    (_, details) = alert.blocks()
    assert len(details["text"]["text"]) <= 3000
    assert details["text"]["text"].endswith("… (see the link)```")
    assert alert.text().endswith("y" * 100)  # the text (outbox, task log) keeps all of it
