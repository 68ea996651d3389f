"""The browser-test harness itself: a real API server on the session's Airflow DB, and Debian's Chromium
logging in through Airflow's own login form."""

from __future__ import annotations

import struct
import urllib.error
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import ApiServer, logged_in_page, needs_chromium, screenshot

pytestmark = pytest.mark.integration


def status(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_api_server_wants_a_token(api_server: ApiServer) -> None:
    url = f"{api_server.api_url}/api/v2/dags"
    assert status(url) == 401
    assert status(url, "not-a-token") in (401, 403)  # Airflow 3.3 answers 403 to a token it cannot decode
    for user in ("admin", "viewer"):
        assert status(url, api_server.token(user)) == 200, user


@needs_chromium
def test_login_form_opens_the_airflow_ui(api_server: ApiServer, browser: Any) -> None:
    with logged_in_page(browser, api_server, "viewer") as page:
        page.goto("/")
        page.get_by_role("heading", name="Welcome").wait_for()
        nav = [page.get_by_role("link", name=n, exact=True) for n in ("Dags", "Assets")]
        nav += [page.get_by_role("button", name=n, exact=True) for n in ("Browse", "Admin", "User")]
        for item in nav:  # the navigation bar (drawn after the page's heading)
            expect(item).to_be_visible()
        shot = screenshot(page, "airflow-home")

    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1280, 800)
    assert len(png) > 20_000  # a rendered page, not a blank one
