"""Queue filters as a reviewer meets them: the tabs count what they would list, a wrong
filter is said once over an empty list, Reset empties the address too."""
from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone

import pytest
from playwright.sync_api import expect

from tests.support.browser import SCREENSHOTS
from tests.support.factories import DEMO_PASSWORD, signed_in
from triage.models import Score, Transaction

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=dt_timezone.utc)


def _cases(sender):
    """Five high-tier cases (one of them a login) and three medium ones."""
    rows = [("high", "payment", 900)] * 4 + [("high", "login", 50)] + [("medium", "payment", 30)] * 3
    for i, (tier, event_type, amount) in enumerate(rows):
        txn = Transaction.objects.create(
            client=sender, event_id=f"q-{i}", account_id=f"acct-{i}", timestamp=T0, event_type=event_type,
            amount=amount, currency="USD", device_id=f"dev-{i}")
        Score.objects.create(transaction=txn, probability=0.5, risk_score=90 if tier == "high" else 60, tier=tier,
                             expected_loss=amount / 2, model_version_name="v-test", features={})


@pytest.mark.django_db
def test_tier_counts_follow_the_filters_and_say_so(reviewer, api_client_and_key):
    _cases(api_client_and_key[0])
    client = signed_in(reviewer)
    whole = client.get("/api/queue?tier=high").json()
    assert whole["counts"]["high"] == 5 and whole["counts"]["medium"] == 3 and not whole["counts_filtered"]
    narrowed = client.get("/api/queue?tier=high&event_type=login").json()
    assert narrowed["counts_filtered"] is True
    assert narrowed["counts"] == {"high": 1, "medium": 0, "low": 0, "escalated": 0, "snoozed": 0}
    assert len(narrowed["items"]) == narrowed["counts"]["high"]


@pytest.mark.django_db(transaction=True)
def test_filters_in_the_browser_count_say_errors_once_and_reset_clean(page, live_server, reviewer, api_client_and_key):
    _cases(api_client_and_key[0])
    page.goto(f"{live_server.url}/queue/?tier=high&event_type=login")
    page.fill("#id_username", reviewer.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    rows = page.locator("#cases tbody tr")
    expect(rows).to_have_count(1)
    expect(page.locator("#tier-tabs button.tier-high .count")).to_have_text("1")
    expect(page.locator("#counts-note")).to_be_visible()
    expect(page.locator("#status")).to_have_text("Showing 1 high-tier case that matches the filters.")

    # Amount at least 500 and at most 100: said once, under the filters; no rows of before.
    page.fill("input[name=amount_min]", "500")
    page.fill("input[name=amount_max]", "100")
    page.click("#filters button[type=submit]")
    expect(page.locator("#filter-errors")).to_have_text("Amount ≤: must be at least amount_min")
    expect(rows).to_have_count(0)
    assert "amount_min" not in page.locator("#status").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "queue-filter-error.png"), full_page=True)

    page.click("#filters button[type=reset]")
    expect(rows).to_have_count(5)
    expect(page.locator("#filter-errors")).to_have_text("")
    expect(page.locator("#tier-tabs button.tier-high .count")).to_have_text("5")
    expect(page.locator("#counts-note")).to_be_hidden()
    assert page.url.endswith("/queue/?tier=high")
    page.reload()
    expect(rows).to_have_count(5)
    # The browser logs the refused filter's 400 itself; nothing else may be there.
    assert [e for e in page.console_errors if "status of 400" not in e] == []


@pytest.mark.django_db(transaction=True)
def test_a_case_held_by_another_reviewer_cannot_be_selected_for_bulk(page, live_server, manager, reviewer, api_client_and_key):
    from datetime import timedelta

    from django.utils import timezone

    _cases(api_client_and_key[0])
    held = Score.objects.get(transaction__event_id="q-0")
    held.claimed_by, held.claim_expires_at = reviewer, timezone.now() + timedelta(minutes=10)
    held.save()
    page.goto(f"{live_server.url}/queue/?tier=high")
    page.fill("#id_username", manager.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    rows = page.locator("#cases tbody tr")
    expect(rows).to_have_count(5)
    held_box = page.locator(f"#cases tbody tr[data-transaction-id='{held.pk}'] input.pick")
    expect(held_box).to_be_disabled()
    page.check("#select-all")
    expect(page.locator("#selected-count")).to_have_text("4 cases selected")
    expect(held_box).not_to_be_checked()
    expect(page.locator("#select-all")).to_be_checked()
    assert page.console_errors == []


@pytest.mark.django_db
def test_filtered_tab_counts_stop_at_their_own_cap(reviewer, api_client_and_key, settings):
    _cases(api_client_and_key[0])
    settings.QUEUE_FILTERED_COUNT_CAP = 2
    body = signed_in(reviewer).get("/api/queue", {"tier": "high", "event_type": "payment"}).json()
    assert body["counts_filtered"] and body["count_cap"] == 2
    assert body["counts"]["high"] == 2 and "high" in body["capped"]
    assert signed_in(reviewer).get("/api/queue", {"tier": "high"}).json()["count_cap"] == settings.QUEUE_COUNT_CAP
