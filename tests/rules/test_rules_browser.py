"""A manager writes, checks, backtests, shadows, activates and rolls back a rule in Chromium;
a block list blocks; the case page shows the hit; a reviewer can read but not change."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from rules.models import RuleSetVersion
from tests.support.browser import SCREENSHOTS, log_in
from tests.support.factories import DEMO_PASSWORD, event
from triage.models import Transaction

pytestmark = pytest.mark.django_db(transaction=True)



def _history(service):
    """Twenty stored payments: big German ones are the fraud, with labels known now."""
    batch = [event(event_id=f"h-{i}", account_id=f"acct-{i % 5}", amount=1500.0 if i % 4 == 0 else 40.0 + i,
                   country="DE" if i % 2 == 0 else "FR", timestamp=f"2026-11-{10 + i // 4:02d}T1{i % 4}:00:00Z")
             for i in range(20)]
    service.post("/score", batch, format="json")
    Transaction.objects.filter(event_id__in=[f"h-{i}" for i in (0, 4, 8)]).update(is_fraud=True, label_source="import")
    Transaction.objects.filter(event_id="h-12").update(is_fraud=False, label_source="import")


def test_manager_writes_backtests_shadows_activates_and_rolls_back_a_rule(page, live_server, manager, service, champion):
    _history(service)
    log_in(page, live_server, manager, "/rules/")
    expect(page.locator("h1")).to_have_text("Rules")

    # A syntax error is shown under the character it is about, as typed and on saving.
    page.fill("input[name=name]", "big-german-payments")
    page.fill("#condition", "amount >> 1000 and country == 'DE'")
    expect(page.locator("#condition-error pre.pointer")).to_have_text(re.compile(r"amount >> 1000.*\n\s{8}\^"), timeout=5000)
    page.select_option("select[name=action]", "block")
    page.fill("input[name=reason]", "German payment above 1,000")
    page.click("#rule-form button[type=submit]")
    expect(page.locator("#condition-error p")).to_have_text(re.compile(r"^unexpected '>'; expected .*a name, a number.* \(character 9\)$"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "rules-syntax-error.png"), full_page=True)
    assert not RuleSetVersion.objects.exists()

    page.fill("#condition", "amount > 1000 and country == 'DE'")
    expect(page.locator("#condition-check")).to_contain_text("Condition checks out: reads amount, country")
    page.click("#rule-form button[type=submit]")
    expect(page.locator("#draft .rule-table")).to_contain_text("big-german-payments")

    # Backtest on the stored history: 5 hits (h-0, 4, 8, 12, 16), 4 labeled, 3 fraud.
    page.click("#backtest-draft")
    expect(page).to_have_url(re.compile(r"/rules/backtests/\d+/$"))
    total = page.locator("#rule-figures tbody tr.total")
    expect(total).to_contain_text("5", timeout=15_000)
    cells = total.locator("td").all_inner_texts()
    assert cells[2:8] == ["5", "1.0", "4", "3", "75.0%", "100.0%"], cells
    assert cells[8] == "4,500"  # money caught: three fraud payments of 1,500
    expect(page.locator("#by-day svg rect.bar-fraud").first).to_be_attached()
    expect(page.locator("#examples tbody tr")).to_have_count(5)
    page.screenshot(path=str(SCREENSHOTS / "rules-backtest.png"), full_page=True)

    # Shadow: live traffic is not acted on, would-be hits are counted.
    page.goto(f"{live_server.url}/rules/")
    page.click("#shadow-draft")
    expect(page.locator("#shadow-title")).to_contain_text("In shadow: version 1")
    body = service.post("/score", event(event_id="live-1", amount=2000.0), format="json").json()
    assert body["action"] is None
    page.reload()
    expect(page.locator("#shadow-results tbody tr").first).to_contain_text("big-german-payments")
    assert page.locator("#shadow-results tbody tr").first.locator("td").nth(2).inner_text() == "1"

    page.click("#activate-shadow")
    expect(page.locator("#active-title")).to_have_text("Active: version 1")
    body = service.post("/score", event(event_id="live-2", amount=2500.0), format="json").json()
    assert body["action"] == "block" and body["tier"] == "high"
    assert body["rules"][0]["reason"] == "German payment above 1,000"

    # The case page says what the rule did.
    page.goto(f"{live_server.url}/cases/{Transaction.objects.get(event_id='live-2').pk}/")
    expect(page.locator("#rule-hits")).to_contain_text("German payment above 1,000")
    expect(page.locator("#rule-outcome")).to_contain_text("The event was blocked")
    page.screenshot(path=str(SCREENSHOTS / "case-rule-hit.png"), full_page=True)

    # A second version replaces the action; rollback brings version 1 back.
    page.goto(f"{live_server.url}/rules/")
    page.fill("input[name=name]", "tiny-payments")
    page.fill("#condition", "amount < 1")
    page.select_option("select[name=action]", "tier_medium")
    page.click("#rule-form button[type=submit]")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#activate-draft")
    expect(page.locator("#active-title")).to_have_text("Active: version 2")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#rollback")
    expect(page.locator("#active-title")).to_have_text("Active: version 1")
    expect(page.locator(".notice")).to_contain_text("version 1 is active again")
    page.screenshot(path=str(SCREENSHOTS / "rules.png"), full_page=True)


def test_a_device_put_on_a_block_list_in_the_page_is_blocked(page, live_server, manager, service, champion, tmp_path):
    log_in(page, live_server, manager, "/lists/")
    page.fill("#list-form input[name=name]", "stolen-phones")
    page.select_option("#list-form select[name=kind]", "device")
    page.select_option("#list-form select[name=purpose]", "block")
    page.click("#list-form button[type=submit]")
    expect(page.locator("h1")).to_contain_text("stolen-phones")
    page.fill("#entry-form input[name=value]", "dev-1")
    page.fill("#entry-form input[name=reason]", "reported stolen")
    page.click("#entry-form button[type=submit]")
    expect(page.locator("#entries")).to_contain_text("dev-1")

    upload = tmp_path / "phones.csv"
    upload.write_text("value,reason,expires_at\ndev-2,chargeback,\n,empty,\ndev-3,x,soon\n")
    page.set_input_files("#upload-form input[type=file]", str(upload))
    page.click("#upload-form button[type=submit]")
    expect(page.locator("#upload-report")).to_contain_text("1 added, 0 updated, 2 refused")
    expect(page.locator("#upload-report table")).to_contain_text("'soon' is not a date or time")
    page.screenshot(path=str(SCREENSHOTS / "list.png"), full_page=True)

    body = service.post("/score", event(event_id="phone-1", amount=5.0), format="json").json()
    assert body["action"] == "block" and body["tier"] == "high"
    assert body["rules"][0]["reason"] == "device dev-1 is on the block list 'stolen-phones': reported stolen"
    assert service.post("/score", event(event_id="phone-2", device_id="dev-9"), format="json").json()["action"] is None


def test_a_reviewer_reads_rules_and_lists_but_cannot_change_them(page, live_server, reviewer, manager, client):
    log_in(page, live_server, reviewer, "/rules/")
    expect(page.locator("h1")).to_have_text("Rules")
    expect(page.locator("#rule-form")).to_have_count(0)
    page.goto(f"{live_server.url}/lists/")
    expect(page.locator("#list-form")).to_have_count(0)
    client.login(username=reviewer.username, password=DEMO_PASSWORD)
    assert client.post("/rules/draft/rules", {"name": "x", "condition": "amount > 1", "action": "block"}).status_code == 403
    assert client.post("/lists/new", {"name": "x", "kind": "device", "purpose": "block"}).status_code == 403
    assert client.post("/api/rules/check", {"condition": "amount > 1"}, content_type="application/json").status_code == 403
    assert not RuleSetVersion.objects.exists()
