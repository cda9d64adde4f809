"""A reviewer works cases in headless Chromium: next case, reasons, history, network, keyboard, undo, conflict."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import SCREENSHOTS, log_in
from tests.support.factories import DEMO_PASSWORD, event
from triage.models import Decision, Score, Transaction

pytestmark = pytest.mark.django_db(transaction=True)



def _ring(service):
    """Accounts sharing one device and IP, one already known as fraud, with some history."""
    batch = []
    for i in range(4):
        for j in range(3):
            batch.append(event(
                event_id=f"ring-{i}-{j}", account_id=f"ring-acct-{i}", amount=80.0 * (j + 1) + 400 * i,
                timestamp=f"2026-11-{18 + j}T1{i}:00:00Z", device_id="dev-shared" if j == 2 else f"dev-{i}",
                ip_address="198.51.100.7", payment_status="failed" if j == 1 else "success",
            ))
    results = service.post("/score", batch, format="json").json()["results"]
    Transaction.objects.filter(account_id="ring-acct-1").update(is_fraud=True, label_source="import")
    return results


def _tier_count(page, tier):
    text = page.locator(f"#queue-counts span[data-tier={tier}]").inner_text()
    return int(re.sub(r"[^0-9]", "", text))


def test_reviewer_takes_next_case_flags_with_keyboard_and_undoes(page, live_server, reviewer, second_reviewer, service, champion):
    from rest_framework.test import APIClient

    _ring(service)
    colleague = APIClient()
    colleague.login(username=second_reviewer.username, password=DEMO_PASSWORD)
    held = colleague.post("/api/queue/next").json()["case"]
    log_in(page, live_server, reviewer)
    expect(page.locator("#cases tbody tr").first).to_be_visible()
    expect(page.locator(f"#cases tbody tr[data-transaction-id='{held['transaction_id']}']")).to_contain_text(
        f"{second_reviewer.username} until"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "queue.png"), full_page=True)

    # A newly scored event shows up without a reload.
    service.post("/score", event(event_id="late-arrival", account_id="ring-acct-3", amount=2500.0,
                                 timestamp="2026-11-21T09:00:00Z", device_id="dev-shared"), format="json")
    expect(page.locator("#new-cases")).to_contain_text("1 new case", timeout=15_000)
    # The notice adds up over polls until the reviewer marks them seen.
    service.post("/score", event(event_id="later-arrival", account_id="ring-acct-3", amount=2600.0,
                                 timestamp="2026-11-21T09:05:00Z", device_id="dev-shared"), format="json")
    expect(page.locator("#new-cases")).to_contain_text("2 new cases", timeout=15_000)
    page.screenshot(path=str(SCREENSHOTS / "queue-new-cases.png"))
    page.locator("#new-cases button").click()
    expect(page.locator("#new-cases")).to_be_hidden()

    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"/cases/\d+/$"))
    case_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    score = Score.objects.get(pk=case_id)
    assert score.claimed_by == reviewer
    assert case_id != held["transaction_id"]
    free = Score.objects.filter(review_status="open", tier=score.tier).exclude(claimed_by=second_reviewer)
    assert free.order_by("-expected_loss").first().pk == case_id  # the top case nobody else holds
    expect(page.locator("#claim")).to_contain_text("Yours until")

    # Why: a signed bar chart drawn with the explanation's reasons.
    reasons = page.locator("#reasons-chart svg g.reason")
    expect(reasons.first).to_be_visible()
    first_reason = score.explanation["contributions"][0]["text"][:20]
    expect(page.locator("#reasons-chart svg")).to_contain_text(first_reason)
    # History timeline and linked accounts network, drawn with data.
    expect(page.locator("#timeline svg g.event")).to_have_count(Transaction.objects.filter(account_id=score.transaction.account_id).count())
    expect(page.locator("#network-chart svg .node.account")).to_have_count(4)
    expect(page.locator("#network-chart svg .node.state-fraud")).to_have_count(1)
    expect(page.locator("#network-chart svg")).to_contain_text("device dev-shared")
    page.screenshot(path=str(SCREENSHOTS / "case.png"), full_page=True)

    tier = score.tier
    before = _tier_count(page, tier)
    page.check("#scope input[value=alert]")  # this alert alone: the account has others
    page.keyboard.press("f")
    expect(page.locator("#reason-picker")).to_contain_text("Stolen card or credentials")
    page.keyboard.press("2")  # the second fraud reason
    expect(page.locator("#case-status")).to_have_text("Flagged as fraud")
    expect(page.locator("#queue-counts span[data-tier=" + tier + "]")).not_to_contain_text(str(before))
    assert _tier_count(page, tier) == before - 1
    decision = Decision.objects.get(transaction_id=case_id)
    assert decision.verdict == "flag" and decision.reviewer == reviewer
    assert decision.disposition_id == "account_takeover"
    expect(page.locator("#case-decisions")).to_contain_text("(Account takeover)")
    assert Transaction.objects.get(pk=case_id).is_fraud is True

    page.keyboard.press("u")
    expect(page.locator("#case-status")).to_have_text("Open")
    expect(page.locator("#message")).to_contain_text("undone")
    assert _tier_count(page, tier) == before
    decision.refresh_from_db()
    assert decision.undone_at is not None and Transaction.objects.get(pk=case_id).is_fraud is None

    # Clicking a linked account opens that account's latest case.
    neighbour = page.locator("#network-chart svg .node.openable").first
    account = re.search(r"account (\S+) \(", neighbour.get_attribute("aria-label")).group(1)
    latest = Transaction.objects.filter(account_id=account, score__isnull=False).order_by("-pk").first()
    neighbour.focus()  # the graph's nodes keep settling; Enter opens as a click does
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/cases/{latest.pk}/$"))
    expect(page.locator("#case-title")).to_contain_text(latest.event_id)
    assert page.console_errors == []


def test_second_reviewer_sees_the_case_taken_and_a_conflict_message(page, live_server, reviewer, second_reviewer, service, champion):
    _ring(service)
    log_in(page, live_server, reviewer)
    # Rows drawn means queue.js has run and the button has its handler.
    expect(page.locator("#cases tbody tr").first).to_be_visible()
    page.click("#next-case")
    expect(page).to_have_url(re.compile(r"/cases/\d+/$"))
    case_url = page.url

    other = page.context.browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    log_in(other, live_server, second_reviewer, path=case_url.replace(live_server.url, ""))
    expect(other.locator("#claim")).to_contain_text(f"Taken by {reviewer.username}")
    other.keyboard.press("c")
    expect(other.locator("#reason-picker")).to_be_visible()
    other.keyboard.press("1")
    expect(other.locator("#message")).to_contain_text("Conflict")
    expect(other.locator("#message")).to_contain_text(reviewer.username)
    assert not Decision.objects.exists()
    other.goto(f"{live_server.url}/queue/?tier={Score.objects.get(claimed_by=reviewer).tier}")
    expect(other.locator("#cases tbody tr.taken")).to_contain_text(reviewer.username)
    assert page.console_errors == []


def test_manager_bulk_flags_with_confirmation_and_reads_the_audit_log(page, live_server, manager, reviewer, service, champion):
    _ring(service)
    # Each account's case sits in the tab of its highest tier: take the tab with the most
    # (four accounts over three tiers: at least two).
    order = ["high", "medium", "low"]
    top: dict[str, str] = {}
    for account, tier in Score.objects.values_list("transaction__account_id", "tier"):
        top[account] = min(top.get(account, "low"), tier, key=order.index)
    tier = max(order, key=lambda t: list(top.values()).count(t))
    log_in(page, live_server, manager, path=f"/queue/?tier={tier}")
    rows = page.locator("#cases tbody tr")
    expect(rows.first).to_be_visible()
    count = rows.count()
    rows.nth(0).locator("input.pick").check()
    rows.nth(1).locator("input.pick").check()
    expect(page.locator("#selected-count")).to_have_text("2 cases selected")
    # Each row is an account's case: the bulk decision covers every open alert of both.
    accounts = [rows.nth(i).get_attribute("data-account") for i in (0, 1)]
    alerts = Score.objects.filter(review_status="open", transaction__account_id__in=accounts).count()
    assert alerts > 2
    page.click("#bulk-flag")
    expect(page.locator("#bulk-dialog")).to_be_visible()
    expect(page.locator("#bulk-summary")).to_contain_text(f"2 accounts' cases ({alerts} alerts)")
    page.fill("#bulk-note", "shared device ring")
    expect(page.locator("#bulk-confirm")).to_be_disabled()  # not without a reason
    page.select_option("#bulk-reason", "stolen_card")
    page.click("#bulk-confirm")
    expect(page.locator("#status")).to_contain_text(f"Flagged as fraud: {alerts} alerts")
    expect(rows).to_have_count(count - 2)
    assert Decision.objects.filter(verdict="flag", disposition="stolen_card", note="shared device ring").count() == alerts
    assert not Score.objects.filter(review_status="open", transaction__account_id__in=accounts).exists()

    page.goto(f"{live_server.url}/audit/")
    table = page.locator("#audit-table tbody")
    expect(table).to_contain_text("bulk_decision")
    page.select_option("select[name=action]", "decision")
    page.click("#audit-filters button[type=submit]")
    expect(page.locator("#page-info")).to_contain_text(f"{alerts} entries")
    page.select_option("select[name=action]", "")
    page.click("#audit-filters button[type=submit]")
    expect(table).to_contain_text("login")
    page.screenshot(path=str(SCREENSHOTS / "audit.png"), full_page=True)
    assert page.console_errors == []


def test_case_page_shows_data_as_text_never_as_html(page, live_server, reviewer, service, champion):
    body = service.post("/score", event(event_id="<img src=x onerror=alert(1)>", account_id="<b>bold</b>",
                                        device_id="<i>dev</i>"), format="json").json()
    case_id = Transaction.objects.get(event_id=body["event_id"]).pk
    log_in(page, live_server, reviewer, path=f"/cases/{case_id}/")
    expect(page.locator("#event-fields")).to_contain_text("<b>bold</b>")
    expect(page.locator("#network-chart svg")).to_contain_text("<b>bold</b>")
    assert page.locator("main img, main b, main i").count() == 0
    assert page.console_errors == []


def test_pending_explanation_shows_pending_then_the_chart(page, live_server, reviewer, service, champion):
    from scoring.services import explanations_compute

    service.post("/score", event(event_id="slow-reasons"), format="json")
    txn = Transaction.objects.get(event_id="slow-reasons")
    Score.objects.filter(pk=txn.pk).update(explanation=None, explanation_status="pending", explained_at=None)
    log_in(page, live_server, reviewer, path=f"/cases/{txn.pk}/")
    expect(page.locator("#why-status")).to_contain_text("pending")
    assert page.locator("#reasons-chart svg").count() == 0
    assert explanations_compute(transaction_ids=[txn.pk]) == 1
    expect(page.locator("#reasons-chart svg g.reason").first).to_be_visible(timeout=10_000)
    expect(page.locator("#reasons li").first).to_contain_text("risk")
    assert page.console_errors == []


def test_an_escalation_with_a_reason_is_found_in_its_tab_assigned_by_a_manager_and_decided_by_the_assignee(
        page, live_server, reviewer, second_reviewer, manager, service, champion):
    _ring(service)
    log_in(page, live_server, reviewer)
    expect(page.locator("#cases tbody tr").first).to_be_visible()
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"/cases/\d+/$"))
    case_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    expect(page.locator("#claim")).to_contain_text("Yours until")
    # An escalation says why: the dialog will not send without a reason.
    page.keyboard.press("e")
    expect(page.locator("#escalate-dialog")).to_be_visible()
    expect(page.locator("#escalate-confirm")).to_be_disabled()
    expect(page.locator("#escalate-assignee option")).to_contain_text([re.compile("a manager assigns it"), re.compile(second_reviewer.username)])
    page.fill("#escalate-reason", "shared device with a known fraud account; needs the issuer's answer")
    page.click("#escalate-confirm")
    expect(page.locator("#message")).to_contain_text("scalated", timeout=10_000)
    assert Score.objects.get(pk=case_id).review_status == "escalated"
    assert Decision.objects.filter(transaction_id=case_id, verdict="escalate").get().note.startswith("shared device")

    # Escalating from the case page escalates the account's whole case.
    account = Score.objects.get(pk=case_id).transaction.account_id
    escalated = Score.objects.filter(review_status="escalated")
    assert escalated.count() > 1 and set(escalated.values_list("transaction__account_id", flat=True)) == {account}
    page.goto(f"{live_server.url}/queue/")
    tab = page.locator("#tier-tabs button.tier-escalated")
    expect(tab).to_contain_text(f"Escalated {escalated.count()}")
    page.keyboard.press("4")
    expect(page).to_have_url(re.compile(r"tier=escalated"))
    row = page.locator(f"#cases tbody tr[data-account='{account}']")
    expect(row).to_be_visible()
    expect(page.locator("#cases tbody tr")).to_have_count(1)
    page.screenshot(path=str(SCREENSHOTS / "queue-escalated.png"), full_page=True)

    # A manager opens it from the tab and assigns it to a colleague.
    boss = page.context.browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(boss, live_server, manager, path="/queue/?tier=escalated")
    boss.locator(f"#cases tbody tr[data-account='{account}'] a.open-case").click()
    expect(boss.locator("#assign-open")).to_be_visible()
    boss.keyboard.press("a")
    expect(boss.locator("#assign-dialog")).to_be_visible()
    expect(boss.locator("#assign-to option")).to_contain_text([re.compile("Nobody"), re.compile(second_reviewer.username)])
    boss.select_option("#assign-to", second_reviewer.username)
    boss.fill("#assign-note", "you handled this issuer last week")
    boss.screenshot(path=str(SCREENSHOTS / "case-assign.png"), full_page=True)
    boss.click("#assign-confirm")
    expect(boss.locator("#message")).to_contain_text(f"Assigned to {second_reviewer.username}")
    expect(boss.locator("#assignment")).to_contain_text(f"Assigned to {second_reviewer.username}")
    assert set(escalated.values_list("assigned_to__username", flat=True)) == {second_reviewer.username}
    boss.close()

    # The one who escalated sees whose it is and cannot decide it from the row.
    page.reload()
    row = page.locator(f"#cases tbody tr[data-account='{account}']")
    expect(row).to_contain_text(f"assigned to {second_reviewer.username}")
    expect(row.locator("button.flag")).to_be_disabled()

    # The assignee finds it under "assigned to me" and decides it with a reason code.
    mine = page.context.browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(mine, live_server, second_reviewer, path="/queue/?tier=escalated&assignee=me")
    expect(mine.locator("#cases tbody tr")).to_have_count(1)
    expect(mine.locator("#cases tbody tr")).to_contain_text("assigned to you")
    mine.locator("#cases tbody tr a.open-case").click()
    expect(mine.locator("#assignment")).to_contain_text("Assigned to you")
    mine.keyboard.press("f")
    expect(mine.locator("#reason-picker")).to_be_visible()
    mine.locator("#reason-picker button[data-disposition='ring']").click()
    expect(mine.locator("#message")).to_contain_text("Flagged as fraud", timeout=10_000)
    assert Score.objects.get(pk=case_id).review_status == "flagged"
    decision = Decision.objects.filter(transaction_id=case_id, undone_at=None).order_by("-created_at").first()
    assert decision.reviewer == second_reviewer and decision.disposition_id == "ring"
    assert page.console_errors == []
    mine.close()


def test_a_snoozed_case_waits_in_its_tab_and_can_be_woken(page, live_server, reviewer, service, champion):
    _ring(service)
    top = Score.objects.filter(review_status="open").order_by("-expected_loss", "transaction_id").first()
    account = top.transaction.account_id
    log_in(page, live_server, reviewer, path=f"/cases/{top.pk}/")
    expect(page.locator("#snooze-open")).to_be_visible()
    page.keyboard.press("s")
    expect(page.locator("#snooze-dialog")).to_be_visible()
    page.click("#snooze-dialog button[data-hours='24']")
    page.fill("#snooze-note", "customer calls back tomorrow")
    page.click("#snooze-confirm")
    expect(page.locator("#message")).to_contain_text("Snoozed until")
    expect(page.locator("#case-status")).to_have_text("Snoozed")
    expect(page.locator("#assignment")).to_contain_text("snoozed until")
    expect(page.locator("#comments")).to_contain_text("customer calls back tomorrow")
    snoozed = Score.objects.filter(review_status="snoozed")
    assert set(snoozed.values_list("transaction__account_id", flat=True)) == {account}
    wakes = snoozed.first().snoozed_until
    assert 23.9 * 3600 < (wakes - snoozed.first().scored_at).total_seconds() < 24.1 * 3600 + 600

    page.goto(f"{live_server.url}/queue/")
    expect(page.locator("#tier-tabs button.tier-snoozed")).to_contain_text(f"Snoozed {snoozed.count()}")
    expect(page.locator(f"#cases tbody tr[data-account='{account}']")).to_have_count(0)
    page.keyboard.press("5")
    expect(page).to_have_url(re.compile(r"tier=snoozed"))
    row = page.locator(f"#cases tbody tr[data-account='{account}']")
    expect(row).to_contain_text("snoozed until")
    page.screenshot(path=str(SCREENSHOTS / "queue-snoozed.png"), full_page=True)
    row.locator("a.open-case").click()
    page.click("#wake")
    expect(page.locator("#message")).to_contain_text("open again")
    expect(page.locator("#case-status")).to_have_text("Open")
    assert not Score.objects.filter(review_status="snoozed").exists()
    assert page.console_errors == []


def test_looking_is_not_taking_and_next_moves_on(page, live_server, reviewer, service, champion):
    _ring(service)
    top = Score.objects.filter(review_status="open").order_by("-expected_loss", "transaction_id").first()
    log_in(page, live_server, reviewer, path=f"/cases/{top.pk}/")
    expect(page.locator("#claim")).to_contain_text("Nobody holds this case")
    expect(page.locator("#take")).to_be_visible()
    page.wait_for_timeout(500)  # whatever the page does on load has happened
    assert Score.objects.get(pk=top.pk).claimed_by is None
    page.keyboard.press("t")
    expect(page.locator("#claim")).to_contain_text("Yours until")
    expect(page.locator("#take")).to_be_hidden()
    assert Score.objects.get(pk=top.pk).claimed_by == reviewer
    # Next hands over another case and puts this one back in the queue.
    page.keyboard.press("n")
    expect(page).not_to_have_url(re.compile(rf"/cases/{top.pk}/$"))
    expect(page).to_have_url(re.compile(r"/cases/\d+/$"))
    following = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert Score.objects.get(pk=following).claimed_by == reviewer
    assert Score.objects.get(pk=top.pk).claimed_by is None
    assert page.console_errors == []


def test_a_decision_from_a_queue_row_can_be_undone_from_the_queue(page, live_server, reviewer, service, champion):
    _ring(service)
    log_in(page, live_server, reviewer)
    row = page.locator("#cases tbody tr").first
    expect(row).to_be_visible()
    case_id = int(row.get_attribute("data-transaction-id"))
    row.locator("button.clear").click()
    row.locator("select.reason").select_option("customer_confirmed")
    expect(page.locator("#undo-bar")).to_contain_text("Cleared")
    assert Score.objects.get(pk=case_id).review_status == "cleared"
    page.screenshot(path=str(SCREENSHOTS / "queue-undo.png"))
    page.locator("#undo-bar button").click()
    expect(page.locator("#status")).to_contain_text("open again")
    expect(page.locator(f"#cases tbody tr[data-transaction-id='{case_id}']")).to_be_visible()
    assert Score.objects.get(pk=case_id).review_status == "open"
    assert Decision.objects.get(transaction_id=case_id).undone_at is not None
    assert page.console_errors == []
