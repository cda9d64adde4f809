"""A newcomer's walk: every page in the menu of a reviewer, a manager and an admin, plus
a case, drawn in a real browser over scored data. Each page is saved as a screenshot and
must show no console error, no "NaN" or "undefined", and no chart count with a milli prefix."""
from __future__ import annotations

import re

import pytest

from tests.support.browser import SCREENSHOTS
from tests.support.factories import DEMO_PASSWORD, _user, event
from triage.models import Score

pytestmark = pytest.mark.django_db(transaction=True)

MILLI = re.compile(r"\d(\.\d+)?[mµu]$")


def _walk(page, live_server, user, role):  # noqa: F811
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    menu = page.locator("header nav a, nav a").evaluate_all("(links) => [...new Set(links.map((a) => a.getAttribute('href')))]")
    case = Score.objects.order_by("-risk_score").values_list("transaction_id", flat=True).first()
    paths = [p for p in menu if p and p.startswith("/")] + [f"/cases/{case}/"] + (["/admin/"] if role == "admin" else [])
    walked = []
    for path in paths:
        page.console_errors.clear()
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        name = path.strip("/").replace("/", "-") or "home"
        page.screenshot(path=str(SCREENSHOTS / f"walk-{role}-{name}.png"), full_page=True)
        body = page.locator("body").inner_text()
        assert "NaN" not in body and "undefined" not in body, (path, body[:500])
        assert page.title(), path
        ticks = [t.strip() for t in page.locator("svg .tick text").all_text_contents()]
        assert not [t for t in ticks if MILLI.search(t)], (path, ticks)
        assert page.console_errors == [], (path, page.console_errors)
        walked.append(path)
    return walked


@pytest.mark.slow
def test_every_page_of_every_role_draws_cleanly(page, live_server, reviewer, manager, service, champion):
    from insights.accounts import account_risk_refresh
    from insights.rollups import rollups_refresh

    batch = [event(event_id=f"walk-{i}", account_id=f"acct-{i % 7}", amount=40 + 37 * i, device_id=f"dev-{i % 5}")
             for i in range(30)]
    assert service.post("/score", batch, format="json").status_code == 200
    rollups_refresh(max_hours=5000)
    account_risk_refresh()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    admin = _user("ada-admin", "admin")
    admin.is_staff = admin.is_superuser = True  # as `demo_setup` makes its admin
    admin.save()
    walked = {}
    for user, role in ((reviewer, "reviewer"), (manager, "manager"), (admin, "admin")):
        walked[role] = _walk(page, live_server, user, role)
        page.context.clear_cookies()
    assert {"/queue/", "/rules/", "/lists/"} <= set(walked["reviewer"])
    assert {"/dashboard/", "/audit/", "/models/", "/keys/"} <= set(walked["manager"])
    assert "/admin/" in walked["admin"]
