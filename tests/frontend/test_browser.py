"""A reviewer logs in, sees the queue drawn with data, flags a case, and it is stored."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser import SCREENSHOTS
from tests.support.factories import DEMO_PASSWORD, event
from triage.models import Decision


@pytest.mark.django_db(transaction=True)
def test_reviewer_flags_a_case_from_the_queue(page, live_server, reviewer, service, champion):
    batch = [event(event_id=f"e{i}", account_id=f"a{i}", amount=50 * (i + 1)) for i in range(3)]
    tiers = {r["tier"] for r in service.post("/score", batch, format="json").json()["results"]}
    tier = "high" if "high" in tiers else "medium" if "medium" in tiers else "low"

    page.goto(f"{live_server.url}/queue/?tier={tier}")
    page.fill("#id_username", reviewer.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    rows = page.locator("#cases tbody tr")
    expect(rows.first).to_be_visible()
    expect(page.locator("#tier-chart svg rect")).to_have_count(3)
    count_before = rows.count()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "queue-flag.png"), full_page=True)

    event_id = rows.first.locator("td").nth(5).inner_text()
    rows.first.locator("button.flag").click()
    # Every flag says why: the row offers the fraud reasons, and choosing one decides.
    reasons = rows.first.locator("select.reason")
    expect(reasons).to_be_focused()
    expect(reasons.locator("option")).to_contain_text(["Fraud because…", "Stolen card or credentials"])
    assert Decision.objects.count() == 0
    reasons.select_option("stolen_card")
    expect(page.locator("#undo-bar")).to_contain_text(f"Flagged {event_id}")  # with its Undo button
    expect(rows).to_have_count(count_before - 1)
    decision = Decision.objects.get()
    assert decision.verdict == "flag" and decision.reviewer == reviewer
    assert decision.disposition_id == "stolen_card"
    assert decision.transaction.event_id == event_id
    assert page.console_errors == []


@pytest.mark.django_db(transaction=True)
def test_data_is_shown_as_text_never_as_html(page, live_server, reviewer, service, champion):
    service.post("/score", event(event_id="<img src=x onerror=alert(1)>", account_id="<b>bold</b>"), format="json")
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", reviewer.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    for tier in ("high", "medium", "low"):
        page.click(f"#tier-tabs button.tier-{tier}")
        if page.locator("#cases tbody tr").count():
            break
    expect(page.locator("#cases tbody td", has_text="<b>bold</b>")).to_be_visible()
    assert page.locator("#cases tbody img, #cases tbody b").count() == 0
