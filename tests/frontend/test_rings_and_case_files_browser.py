"""In headless Chromium: a ring of three accounts decided at once from the network view, the
case file downloaded, due times in the queue, the Reasons page and the dashboard's reasons."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.support.browser import SCREENSHOTS, log_in
from tests.support.cases import make_case
from triage.models import Decision, Disposition, Score, Transaction

pytestmark = pytest.mark.django_db(transaction=True)



def _ring(client):
    now = timezone.now()
    cases = [
        make_case(client, f"r-{i}-{j}", account=f"ring-{i}", device="dev-shared", ip=f"203.0.113.{i}", merchant=f"m-{i}",
                  amount=100.0 * (i + 1) + j, loss=500.0 - 10 * i - j, when=now - timedelta(hours=6 + j))
        for i in range(3) for j in range(2)
    ]
    # Shares only a merchant with the ring: listed, but not ticked.
    by_merchant = make_case(client, "shop-1", account="shopper", device="dev-own", ip="198.51.100.1", merchant="m-0",
                            loss=20.0, when=now - timedelta(hours=1))
    return cases, by_merchant


def test_a_reviewer_decides_a_ring_at_once_and_downloads_the_case_file(page, live_server, reviewer, api_client_and_key,
                                                                        tmp_path):
    cases, by_merchant = _ring(api_client_and_key[0])
    log_in(page, live_server, reviewer, "/queue/?tier=high")
    rows = page.locator("#cases tbody tr")
    expect(rows).to_have_count(4)  # one row per account: three ring accounts and the shopper
    # Six hours old against a 4-hour service level: past due, and said in words.
    first = page.locator(f"#cases tbody tr[data-transaction-id='{cases[0].pk}']")
    expect(first).to_have_class("sla-breached")
    expect(first.locator("td.sla")).to_contain_text("overdue")
    expect(first.locator("td.c4")).to_have_text("ring-0 · 2 alerts")
    expect(page.locator(f"#cases tbody tr[data-transaction-id='{by_merchant.pk}'] td.sla")).to_contain_text("in ")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "queue-due.png"), full_page=True)

    page.goto(f"{live_server.url}/cases/{cases[0].pk}/")
    expect(page.locator("#case-sla")).to_contain_text("Past due: ")
    expect(page.locator("#ring-open")).to_be_visible()
    page.click("#ring-open")
    dialog = page.locator("#ring-dialog")
    expect(dialog).to_be_visible()
    boxes = dialog.locator("#ring-accounts input")
    expect(boxes).to_have_count(4)
    ticked = {b.get_attribute("value") for b in boxes.all() if b.is_checked()}
    assert ticked == {"ring-0", "ring-1", "ring-2"}
    expect(dialog.locator("#ring-summary")).to_have_text("3 accounts, 6 undecided cases.")
    expect(dialog.locator("#ring-reason")).to_have_value("ring")
    page.fill("#ring-note", "one device behind three cards")
    page.screenshot(path=str(SCREENSHOTS / "ring-dialog.png"), full_page=True)
    dialog.locator("#ring-confirm").click()
    expect(page.locator("#message")).to_contain_text("Flagged as fraud: 6 cases of 3 accounts")
    assert set(Score.objects.filter(pk__in=[c.pk for c in cases]).values_list("review_status", flat=True)) == {"flagged"}
    assert Score.objects.get(pk=by_merchant.pk).review_status == "open"
    assert set(Transaction.objects.filter(account_id__startswith="ring-").values_list("is_fraud", flat=True)) == {True}
    expect(page.locator("#case-decisions")).to_contain_text("(Fraud ring (linked accounts))")

    page.fill("#comment-body", "Issuer confirmed all three cards")
    page.click("#comment-form button[type=submit]")
    expect(page.locator("#comments li.comment")).to_have_count(1)
    with page.expect_download() as waiting:
        page.click("#case-file")
    download = waiting.value
    assert download.suggested_filename == f"case-{cases[0].pk}-r-0-0.html"
    html = open(download.path(), encoding="utf-8").read()
    assert "Account ring-0 has 2 events on record" in html
    assert "decided: flag (Fraud ring (linked accounts)) — “one device behind three cards”" in html
    assert "Issuer confirmed all three cards" in html
    # The file stands alone: opened from disk it shows the story and its chart.
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    file_page = page.context.new_page()
    file_page.goto(saved.as_uri())
    expect(file_page.locator("ol.story li").first).to_contain_text("Account ring-0")
    expect(file_page.locator("svg circle")).to_have_count(2)
    file_page.screenshot(path=str(SCREENSHOTS / "case-file.png"), full_page=True)
    file_page.close()
    assert page.console_errors == []


def test_a_manager_adds_and_retires_a_reason_and_sees_reasons_on_the_dashboard(page, live_server, manager, reviewer,
                                                                               api_client_and_key):
    case = make_case(api_client_and_key[0], "e-1", when=timezone.now())
    log_in(page, live_server, manager, "/reasons/")
    table = page.locator("#reasons-table tbody")
    expect(table).to_contain_text("Stolen card or credentials")
    page.select_option("#reason-form select[name=verdict]", "flag")
    page.fill("#reason-form input[name=code]", "friendly_fraud")
    page.fill("#reason-form input[name=label]", "Friendly fraud (chargeback abuse)")
    page.click("#reason-form button[type=submit]")
    expect(page.locator("#reasons-status")).to_have_text("Added friendly_fraud.")
    expect(table).to_contain_text("Friendly fraud (chargeback abuse)")
    page.fill("#reason-form input[name=code]", "friendly_fraud")
    page.fill("#reason-form input[name=label]", "again")
    page.click("#reason-form button[type=submit]")
    expect(page.locator("#reason-errors")).to_contain_text("code: a code with this name exists")
    page.screenshot(path=str(SCREENSHOTS / "reasons.png"), full_page=True)

    # The new reason is offered on the case page, and used.
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    expect(page.locator("#case-title")).to_contain_text("e-1")
    page.keyboard.press("f")
    picker = page.locator("#reason-picker")
    expect(picker).to_contain_text("Friendly fraud (chargeback abuse)")
    picker.locator("button[data-disposition=friendly_fraud]").click()
    expect(page.locator("#case-status")).to_have_text("Flagged as fraud")
    assert Decision.objects.get().disposition_id == "friendly_fraud"

    page.goto(f"{live_server.url}/dashboard/?period=7d")
    chart = page.locator("#reasons-chart svg")
    expect(chart).to_contain_text("Fraud: Friendly fraud (chargeback abuse)")
    expect(page.locator("#team-sla")).to_contain_text("high 0")
    page.locator("#reasons-chart").screenshot(path=str(SCREENSHOTS / "dashboard-reasons.png"))

    page.goto(f"{live_server.url}/reasons/")
    row = page.locator("#reasons-table tbody tr", has_text="friendly_fraud")
    row.locator("button", has_text="Retire").click()
    expect(row).to_contain_text("Retired")
    assert Disposition.objects.get(code="friendly_fraud").active is False
    # The one refusal asked for above (the duplicate code) is the only thing the console reports.
    assert page.console_errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]


def test_a_case_page_decides_the_whole_account_case_or_one_alert(page, live_server, reviewer, api_client_and_key):
    client = api_client_and_key[0]
    now = timezone.now()
    alerts = [make_case(client, f"a-{i}", account="acct-a", loss=300.0 - 100 * i, when=now - timedelta(hours=i + 1))
              for i in range(3)]
    log_in(page, live_server, reviewer, f"/cases/{alerts[0].pk}/")
    card = page.locator("#case-alerts-card")
    expect(card).to_be_visible()
    expect(card.locator("tbody tr")).to_have_count(3)
    expect(page.locator("#case-alerts-summary")).to_contain_text("3 undecided alerts of account acct-a, expected loss 600.00 USD")
    expect(page.locator("#scope-case")).to_have_text("the whole case (3 alerts)")
    page.screenshot(path=str(SCREENSHOTS / "case-account.png"), full_page=True)

    # One alert alone first.
    page.check("#scope input[value=alert]")
    page.keyboard.press("c")
    page.keyboard.press("1")
    expect(page.locator("#message")).to_contain_text("Cleared.")
    assert [Score.objects.get(pk=a.pk).review_status for a in alerts] == ["cleared", "open", "open"]
    page.keyboard.press("u")
    expect(page.locator("#message")).to_contain_text("Decision undone")
    expect(page.locator("#case-status")).to_have_text("Open")

    # Then the whole case, by default.
    page.check("#scope input[value=case]")
    page.keyboard.press("f")
    page.keyboard.press("1")
    expect(page.locator("#message")).to_contain_text("Flagged as fraud (3 alerts of this account)")
    assert [Score.objects.get(pk=a.pk).review_status for a in alerts] == ["flagged"] * 3
    assert set(Transaction.objects.filter(account_id="acct-a").values_list("is_fraud", flat=True)) == {True}
    page.keyboard.press("u")
    expect(page.locator("#message")).to_contain_text("Decision undone (3 alerts)")
    assert [Score.objects.get(pk=a.pk).review_status for a in alerts] == ["open"] * 3
    assert page.console_errors == []
