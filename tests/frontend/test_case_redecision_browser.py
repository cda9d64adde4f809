"""Re-deciding a decided case says who decided it and asks first."""
from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone

import pytest
from playwright.sync_api import expect

from tests.support.factories import DEMO_PASSWORD
from triage.models import Score, Transaction
from triage.services import decision_record

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=dt_timezone.utc)


@pytest.mark.django_db(transaction=True)
def test_flipping_a_colleagues_decision_names_them_and_asks(page, live_server, reviewer, second_reviewer, api_client_and_key):
    txn = Transaction.objects.create(client=api_client_and_key[0], event_id="r-1", account_id="acct-1", timestamp=T0,
                                     event_type="payment", amount=80, currency="USD")
    Score.objects.create(transaction=txn, probability=0.6, risk_score=85, tier="high", expected_loss=48,
                         model_version_name="v-test", features={})
    decision_record(transaction_id=txn.pk, reviewer=second_reviewer, verdict="clear", disposition="customer_confirmed", note="known customer")

    page.goto(f"{live_server.url}/cases/{txn.pk}/")
    page.fill("#id_username", reviewer.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#case-decisions")).to_contain_text("sam-reviewer")
    asked: list[str] = []

    def answer(dialog, accept):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    page.keyboard.press("f")
    expect(page.get_by_text("Nothing changed.")).to_be_visible()
    assert asked and "already cleared by sam-reviewer" in asked[0]
    assert Score.objects.get(pk=txn.pk).review_status == "cleared"

    page.once("dialog", lambda d: answer(d, True))
    page.keyboard.press("f")
    expect(page.locator("#reason-picker")).to_contain_text("Fraud because:")
    page.keyboard.press("1")
    expect(page.locator("#case-decisions")).to_contain_text("rita-reviewer")
    assert Score.objects.get(pk=txn.pk).review_status == "flagged"
    assert page.console_errors == []
