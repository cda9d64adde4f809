"""The linked-accounts graph of an account on a device shared by dozens of accounts."""
from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from playwright.sync_api import expect

from tests.support.browser import SCREENSHOTS
from tests.support.factories import DEMO_PASSWORD
from triage.models import Score, Transaction

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=dt_timezone.utc)


@pytest.mark.django_db(transaction=True)
def test_a_crowded_network_is_grouped_by_shared_entity_and_shows_all_on_request(page, live_server, reviewer, api_client_and_key):
    sender = api_client_and_key[0]
    # 40 accounts on one shop terminal (two of them confirmed fraud), one account on a phone
    # shared with this account only.
    for i in range(40):
        Transaction.objects.create(client=sender, event_id=f"hub-{i}", account_id=f"shopper-{i:02d}", timestamp=T0 - timedelta(hours=i),
                                   event_type="payment", amount=20, currency="USD", device_id="dev-terminal",
                                   is_fraud=True if i < 2 else None)
    Transaction.objects.create(client=sender, event_id="pair-1", account_id="sibling", timestamp=T0 - timedelta(days=1),
                               event_type="login", device_id="dev-phone")
    Transaction.objects.create(client=sender, event_id="own-1", account_id="me", timestamp=T0 - timedelta(days=2),
                               event_type="login", device_id="dev-phone")
    case = Transaction.objects.create(client=sender, event_id="case-1", account_id="me", timestamp=T0, event_type="payment",
                                      amount=300, currency="USD", device_id="dev-terminal")
    Score.objects.create(transaction=case, probability=0.7, risk_score=90, tier="high", expected_loss=210,
                         model_version_name="v-test", features={})

    page.goto(f"{live_server.url}/cases/{case.pk}/")
    page.fill("#id_username", reviewer.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    chart = page.locator("#network-chart")
    expect(page.locator("#network-status")).to_contain_text("41 accounts")
    groups = chart.locator(".node.group")
    expect(groups).to_have_count(1)
    expect(groups.first.locator("text")).to_have_text("40 · 2 ▲")
    assert "40 accounts on device dev-terminal: 2 ▲ fraud" in groups.first.locator("title").text_content()
    expect(chart.locator(".node.account")).to_have_count(2)  # this account and the one on the shared phone
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".network").screenshot(path=str(SCREENSHOTS / "network-grouped.png"))

    page.click("#network-chart button.network-toggle")
    expect(chart.locator(".node.account")).to_have_count(42)
    expect(chart.locator(".node.group")).to_have_count(0)
    # Only this account and the entities carry labels: forty names would sit on each other.
    labels = chart.locator(".node.account .node-label").all_text_contents()
    assert labels == ["me"]
    page.locator(".network").screenshot(path=str(SCREENSHOTS / "network-all.png"))
    page.click("#network-chart button.network-toggle")
    expect(chart.locator(".node.group")).to_have_count(1)
    assert page.console_errors == []
