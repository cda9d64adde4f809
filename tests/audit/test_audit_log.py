"""The audit log as a manager reads it: details as lines, objects linked to their pages,
no entry for a save that changed nothing, and claims and releases folded into holds."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest

from audit.models import AuditEntry
from audit.services import audit_record
from tests.support.cases import make_case
from tests.support.factories import DEMO_PASSWORD, signed_in

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 10, 1, tzinfo=dt_timezone.utc)



@pytest.fixture
def cases(api_client_and_key):
    sender = api_client_and_key[0]
    return [make_case(sender, f"audit-{i}", loss=900 - i, amount=1000) for i in range(4)]


def _entry(actor, action, case, minutes, **detail):
    """An entry at T0 + minutes, so the order of a hold's claims and releases is known."""
    entry = audit_record(actor=actor, action=action, object_type="transaction", object_id=str(case.pk), detail=detail)
    AuditEntry.objects.filter(pk=entry.pk).update(created_at=T0 + timedelta(minutes=minutes))
    return entry


def _items(client, **params):
    body = client.get("/api/audit", params).json()
    return body, body["items"]


# --------------------------------------------------------------------------- details


def test_details_come_as_readable_lines_changes_as_before_and_after(settings, manager, reviewer, cases):
    settings.REVIEW_COST = 5.0
    as_manager = signed_in(manager)
    as_manager.post("/api/insights/roi/assumptions", {
        "cost_per_review": 8, "friction_cost_per_false_positive": 2, "value_of_unpriced_event": 50}, format="json")
    as_reviewer = signed_in(reviewer)
    as_reviewer.post(f"/api/cases/{cases[0].pk}/claim")
    as_reviewer.post(f"/api/cases/{cases[0].pk}/decision", {"verdict": "flag", "disposition": "stolen_card"}, format="json")

    _, items = _items(as_manager)
    roi = next(i for i in items if i["action"] == "roi_assumptions")
    # Only what changed, as changes: the value of an unpriced event stayed at its default.
    assert roi["detail_lines"] == [
        {"field": "cost per review", "before": "5", "after": "8"},
        {"field": "friction cost per false positive", "before": "15", "after": "2"},
    ]
    decision = next(i for i in items if i["action"] == "decision")
    lines = {line["field"]: line.get("value") for line in decision["detail_lines"]}
    assert lines["verdict"] == "flag" and lines["previous status"] == "open"
    assert "note" not in lines  # an empty note says nothing
    claim = next(i for i in items if i["action"] == "claim")
    expires = next(line["value"] for line in claim["detail_lines"] if line["field"] == "expires at")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", expires)
    assert decision["detail"]["verdict"] == "flag"  # the stored detail is still there for other readers


# --------------------------------------------------------------------------- links


def test_each_entry_links_to_the_page_of_its_object_where_there_is_one(manager, cases):
    from rules.services import draft_get_or_create, list_create

    entity_list = list_create(name="blocked-ips", kind="ip", purpose="block", actor=manager)
    draft = draft_get_or_create(actor=manager)
    audit_record(actor=manager, action="decision", object_type="transaction", object_id=str(cases[1].pk))
    audit_record(actor=manager, action="decision", object_type="transaction", object_id="987654321")
    audit_record(actor=None, action="model_promoted", object_type="model_version", object_id="7", detail={"name": "v-7"})
    audit_record(actor=manager, action="login", object_type="user", object_id=str(manager.pk))

    _, items = _items(signed_in(manager), holds="all")
    by = {(i["action"], i["object_id"]): i for i in items}
    assert by["decision", str(cases[1].pk)]["url"] == f"/cases/{cases[1].pk}/"
    assert by["decision", str(cases[1].pk)]["object_label"] == f"case {cases[1].pk}"
    assert by["decision", "987654321"]["url"] is None  # no such case: no dead link
    assert by["list_create", "blocked-ips"]["url"] == f"/lists/{entity_list.pk}/"
    assert by["rules_draft", str(draft.number)]["url"] == "/rules/"
    assert by["model_promoted", "7"]["url"] == "/models/" and by["model_promoted", "7"]["object_label"] == "model v-7"
    assert by["login", str(manager.pk)]["url"] is None and by["login", str(manager.pk)]["object_label"] == "user mona-manager"


# --------------------------------------------------------------------------- no-op saves


def test_a_save_that_changes_nothing_writes_no_entry(manager):
    as_manager = signed_in(manager)
    values = {"cost_per_review": 8, "friction_cost_per_false_positive": 2, "value_of_unpriced_event": 50}
    for _ in range(3):
        assert as_manager.post("/api/insights/roi/assumptions", values, format="json").status_code == 200
    assert AuditEntry.objects.filter(action="roi_assumptions").count() == 1
    as_manager.post("/api/insights/roi/assumptions", {**values, "cost_per_review": 9}, format="json")
    assert AuditEntry.objects.filter(action="roi_assumptions").count() == 2


def test_actions_that_are_not_saves_are_always_logged(manager, cases):
    before = AuditEntry.objects.count()
    assert audit_record(actor=manager, action="decision", object_type="transaction", object_id=str(cases[0].pk),
                        detail={"verdict": "clear", "disposition": "customer_confirmed"}) is not None
    assert audit_record(actor=manager, action="login") is not None
    # A re-cut that lands on the same thresholds still re-tiered cases and settled alerts.
    same = {"high": 0.8, "medium": 0.3}
    assert audit_record(actor=manager, action="tiers_recut", detail={"before": same, "after": same, "scores": 900})
    assert AuditEntry.objects.count() == before + 3


# --------------------------------------------------------------------------- holds


def test_claims_and_releases_fold_into_holds_and_decisions_stay(manager, reviewer, second_reviewer, cases):
    a, b = cases[0], cases[1]
    _entry(reviewer, "claim", a, 0, how="next")
    _entry(reviewer, "claim_released", a, 2)
    _entry(reviewer, "claim", a, 3, how="open")
    _entry(reviewer, "claim_released", a, 5)
    _entry(reviewer, "claim", b, 6, how="next")
    _entry(second_reviewer, "claim", a, 7, how="open")  # someone else's hold on the same case
    _entry(reviewer, "decision", b, 8, verdict="flag", disposition="stolen_card")
    _entry(reviewer, "claim", b, 9, how="open")  # after the decision: a new hold
    as_manager = signed_in(manager)

    body, items = _items(as_manager, holds="collapsed", object_type="transaction")
    assert body["holds"] == "collapsed" and body["total"] == 5 and body["holds_folded"] == 3
    assert [(i["action"], i["object_id"]) for i in items] == [
        ("claim", str(b.pk)), ("decision", str(b.pk)), ("claim", str(a.pk)), ("claim", str(b.pk)), ("claim", str(a.pk)),
    ]
    held = items[-1]["hold"]
    assert held["entries"] == 4 and held["how"] == "next"
    assert held["claimed_at"].startswith("2026-11-20T10:01") and held["released_at"].startswith("2026-11-20T10:06")
    assert items[3]["hold"]["released_at"] is None  # ended by the decision, not by a release
    assert items[1]["hold"] is None

    everything, _ = _items(as_manager, object_type="transaction")
    assert everything["total"] == 8 and everything["holds"] == "all"
    # Filtering by an action asks for those entries: none are folded away.
    releases, _ = _items(as_manager, holds="collapsed", action="claim_released")
    assert releases["total"] == 2 and releases["holds_folded"] == 0


def test_pages_of_folded_holds_add_up(manager, reviewer, cases):
    for n, case in enumerate(cases):
        _entry(reviewer, "claim", case, 10 * n, how="next")
        _entry(reviewer, "claim_released", case, 10 * n + 1)
        _entry(reviewer, "decision", case, 10 * n + 2, verdict="clear", disposition="customer_confirmed")
    as_manager = signed_in(manager)
    seen, page = [], 1
    while True:
        body, items = _items(as_manager, holds="collapsed", object_type="transaction", page_size=3, page=page)
        seen += [i["id"] for i in items]
        if page >= body["pages"]:
            break
        page += 1
    assert body["total"] == 8 and body["pages"] == 3 and len(seen) == len(set(seen)) == 8


# --------------------------------------------------------------------------- the page


@pytest.mark.django_db(transaction=True)
def test_the_page_shows_lines_links_and_holds_as_text(page, live_server, manager, reviewer, cases):
    from playwright.sync_api import expect

    a = cases[0]
    _entry(reviewer, "claim", a, 0, how="next")
    _entry(reviewer, "claim_released", a, 2)
    _entry(reviewer, "decision", a, 3, verdict="flag", disposition="stolen_card", note="<b>ring</b>")
    audit_record(actor=manager, action="roi_assumptions", object_type="roi_assumptions", object_id="1",
                 detail={"before": {"cost_per_review": 5.0}, "after": {"cost_per_review": 8.0}})

    page.goto(f"{live_server.url}/audit/")
    page.fill("#id_username", manager.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    table = page.locator("#audit-table tbody")
    expect(table.locator("tr", has_text="cost per review")).to_contain_text("cost per review: 5 → 8")
    decision = table.locator("tr.action-decision")
    expect(decision).to_contain_text("note: <b>ring</b>")  # data shown as text, never as markup
    assert decision.locator("b").count() == 0
    expect(decision.locator("a")).to_have_attribute("href", f"/cases/{a.pk}/")
    held = table.locator("tr.hold")
    expect(held).to_have_count(1)
    expect(held.locator("td.action")).to_have_text("held")
    expect(held.locator("td.object a")).to_have_text(f"case {a.pk}")
    expect(held.locator("td.detail")).to_contain_text("claimed 10:01:00 UTC, released 10:03:00 UTC")
    expect(page.locator("#holds-note")).to_contain_text("1 claim or release entry folded")
    expect(table.locator("td.when").first).to_contain_text("UTC")

    page.click("#holds-toggle")
    expect(table.locator("tr.hold")).to_have_count(0)
    expect(table.locator("tr", has_text="claim_released")).to_have_count(1)
    page.click("#holds-toggle")
    expect(table.locator("tr.hold")).to_have_count(1)
    page.screenshot(path="/tmp/audit.png", full_page=True)
    assert page.console_errors == []
