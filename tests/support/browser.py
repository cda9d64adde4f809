"""Pytest plugin: one headless Chromium for the whole run, a fresh context and page per test.

Tests that take `page` are marked `browser` (run `-m "not browser"` to leave them out). The
page collects console errors in `page.console_errors`; screenshots go to `SCREENSHOTS`.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium():
    """One browser for the run: starting Chromium costs more than most page tests."""
    assert Path(CHROMIUM).exists(), "Chromium is missing: apt-get install chromium (.ci/run does this)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    """A page in a context of its own (no cookies or storage shared between tests)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.console_errors = errors
    yield page
    # Playwright's sync API switches the context the test body runs in, so the body's
    # database connections are not those the test database's teardown closes: close
    # them here, still in that context.
    connections.close_all()
    context.close()


def log_in(page, live_server, user, path="/queue/"):
    """Open `path` and sign in as `user` on the login page it leads to (demo password)."""
    from tests.support.factories import DEMO_PASSWORD

    page.goto(f"{live_server.url}{path}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
