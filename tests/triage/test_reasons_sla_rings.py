"""Disposition codes on every decision, service levels per tier, ring decisions, case files."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from tests.support.cases import make_case
from tests.support.factories import signed_in
from triage.models import Decision, Score, Transaction

pytestmark = pytest.mark.django_db


def _decide(desk, txn, **body):
    return desk.post(f"/api/cases/{txn.pk}/decision", body, format="json")


# --------------------------------------------------------------------------- reasons


def test_a_flag_or_clear_without_a_valid_reason_is_refused_and_nothing_is_written(api_client_and_key, reviewer):
    txn = make_case(api_client_and_key[0], "e-1")
    desk = signed_in(reviewer)
    refusals = {
        "missing": ({"verdict": "flag"}, "is required to flag"),
        "unknown": ({"verdict": "flag", "disposition": "bad_vibes"}, "'bad_vibes' is not a disposition code"),
        "other verdict": ({"verdict": "flag", "disposition": "customer_confirmed"}, "is a reason to clear, not to flag"),
        "escalation": ({"verdict": "escalate", "disposition": "stolen_card", "note": "issuer to confirm"}, "an escalation carries no disposition"),
    }
    for name, (body, words) in refusals.items():
        response = _decide(desk, txn, **body)
        assert response.status_code == 400, name
        error = response.json()["errors"][0]
        assert error["field"] == "disposition" and words in error["message"], (name, error)
    assert "stolen_card" in _decide(desk, txn, verdict="flag").json()["errors"][0]["message"]  # the codes are named
    assert not Decision.objects.exists()
    assert Transaction.objects.get(pk=txn.pk).is_fraud is None
    assert Score.objects.get(pk=txn.pk).review_status == "open"

    done = _decide(desk, txn, verdict="flag", disposition="account_takeover")
    assert done.status_code == 201 and done.json()["disposition"] == "account_takeover"
    case = desk.get(f"/api/cases/{txn.pk}").json()
    assert case["decisions"][0]["disposition"] == {"code": "account_takeover", "label": "Account takeover"}
    entry = AuditEntry.objects.get(action="decision")
    assert entry.detail["disposition"] == "account_takeover"
    # An escalation needs no code.
    other = make_case(api_client_and_key[0], "e-2")
    assert _decide(desk, other, verdict="escalate", note="card issuer to confirm").status_code == 201


def test_managers_keep_the_list_retired_codes_stay_on_decisions_and_are_no_longer_offered(api_client_and_key, reviewer, manager):
    txn = make_case(api_client_and_key[0], "e-1")
    desk, boss = signed_in(reviewer), signed_in(manager)
    listed = desk.get("/api/dispositions").json()["results"]
    assert {d["code"] for d in listed if d["verdict"] == "flag"} >= {"stolen_card", "account_takeover", "first_party", "ring"}
    assert desk.post("/api/dispositions", {"code": "friendly", "verdict": "flag", "label": "Friendly fraud"},
                     format="json").status_code == 403
    made = boss.post("/api/dispositions", {"code": "friendly", "verdict": "flag", "label": "Friendly fraud"}, format="json")
    assert made.status_code == 201 and made.json()["active"] is True
    again = boss.post("/api/dispositions", {"code": "friendly", "verdict": "clear", "label": "x"}, format="json")
    assert again.status_code == 400 and again.json()["errors"][0]["field"] == "code"
    bad = boss.post("/api/dispositions", {"code": "has spaces", "verdict": "maybe", "label": ""}, format="json")
    assert {e["field"] for e in bad.json()["errors"]} == {"code", "verdict", "label"}

    assert _decide(desk, txn, verdict="flag", disposition="friendly").status_code == 201
    assert desk.patch("/api/dispositions/friendly", {"active": False}, format="json").status_code == 403
    assert boss.patch("/api/dispositions/friendly", {"active": False}, format="json").status_code == 200
    assert "friendly" not in {d["code"] for d in desk.get("/api/dispositions").json()["results"]}
    assert "friendly" in {d["code"] for d in desk.get("/api/dispositions?all=true").json()["results"]}
    later = make_case(api_client_and_key[0], "e-2")
    refused = _decide(desk, later, verdict="flag", disposition="friendly")
    assert refused.status_code == 400 and "retired" in refused.json()["errors"][0]["message"]
    assert Decision.objects.get(transaction=txn).disposition_id == "friendly"  # kept on the decision
    assert boss.patch("/api/dispositions/nope", {"active": False}, format="json").status_code == 404
    assert set(AuditEntry.objects.filter(object_type="disposition").values_list("action", flat=True)) == {
        "disposition_created", "disposition_changed"}


def test_bulk_decisions_carry_a_reason_too(api_client_and_key, manager):
    cases = [make_case(api_client_and_key[0], f"e-{i}", account=f"a-{i}") for i in range(2)]
    boss = signed_in(manager)
    ids = [c.pk for c in cases]
    refused = boss.post("/api/cases/bulk", {"verdict": "clear", "transaction_ids": ids}, format="json")
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "disposition"
    assert not Decision.objects.exists()
    done = boss.post("/api/cases/bulk", {"verdict": "clear", "transaction_ids": ids, "disposition": "test_traffic"}, format="json")
    assert done.status_code == 201
    assert list(Decision.objects.values_list("disposition_id", flat=True)) == ["test_traffic", "test_traffic"]


def test_the_dashboard_breaks_decisions_down_by_reason_and_counts_cases_past_due(api_client_and_key, reviewer, manager):
    client = api_client_and_key[0]
    now = timezone.now()
    desk = signed_in(reviewer)
    for i, code in enumerate(["stolen_card", "stolen_card", "ring"]):
        assert _decide(desk, make_case(client, f"f-{i}", account=f"a-{i}", when=now), verdict="flag", disposition=code).status_code == 201
    assert _decide(desk, make_case(client, "c-0", when=now), verdict="clear", disposition="known_pattern").status_code == 201
    make_case(client, "late-high", tier="high", when=now - timedelta(hours=5))       # due after 4 h: late
    make_case(client, "fresh-high", tier="high", when=now - timedelta(hours=1))
    make_case(client, "late-medium", tier="medium", when=now - timedelta(hours=30))  # due after 24 h: late
    make_case(client, "old-low", tier="low", when=now - timedelta(hours=30))         # due after 72 h

    team = signed_in(manager).get("/api/insights/team?period=7d").json()
    reasons = {(r["verdict"], r["code"]): r["decisions"] for r in team["dispositions"]}
    assert reasons == {("flag", "stolen_card"): 2, ("flag", "ring"): 1, ("clear", "known_pattern"): 1}
    assert {t: team["sla"][t]["breached"] for t in ("high", "medium", "low")} == {"high": 1, "medium": 1, "low": 0}
    assert team["sla"]["high"]["hours"] == 4.0


# --------------------------------------------------------------------------- service levels


def test_queue_rows_and_the_case_say_when_they_are_due(api_client_and_key, reviewer, settings):
    settings.CASE_SLA_HOURS = {"high": 4.0, "medium": 24.0, "low": 72.0}
    client = api_client_and_key[0]
    now = timezone.now()
    late = make_case(client, "late", account="a-late", loss=300, when=now - timedelta(hours=6))
    soon = make_case(client, "soon", account="a-soon", loss=200, when=now - timedelta(hours=3, minutes=30))
    fresh = make_case(client, "fresh", account="a-fresh", loss=100, when=now - timedelta(minutes=10))
    desk = signed_in(reviewer)
    items = {i["event_id"]: i for i in desk.get("/api/queue?tier=high").json()["items"]}
    assert {k: items[k]["sla_state"] for k in items} == {"late": "breached", "soon": "due_soon", "fresh": "on_time"}
    due = items["late"]["sla_due_at"]
    assert due.startswith((late.timestamp + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"))
    case = desk.get(f"/api/cases/{soon.pk}").json()
    assert case["sla"]["state"] == "due_soon" and case["sla"]["hours"] == 4.0
    assert _decide(desk, fresh, verdict="clear", disposition="customer_confirmed").status_code == 201
    assert desk.get(f"/api/cases/{fresh.pk}").json()["sla"]["state"] == ""  # decided: no longer due
    # An alert is due when its account's case is: from the case's first alert.
    joined = make_case(client, "joined", account="a-late", loss=50, when=now - timedelta(minutes=5))
    assert desk.get(f"/api/cases/{joined.pk}").json()["sla"]["state"] == "breached"


# --------------------------------------------------------------------------- rings


def _ring(client):
    """Three accounts sharing one device, each with open cases; one outsider on its own device."""
    cases = []
    for i in range(3):
        for j in range(2):
            cases.append(make_case(client, f"r-{i}-{j}", account=f"ring-{i}", device="dev-shared", ip=f"203.0.113.{i}",
                                   merchant=f"m-{i}", when=timezone.now() - timedelta(hours=j)))
    outsider = make_case(client, "x-1", account="loner", device="dev-own", ip="198.51.100.1", merchant="m-9")
    return cases, outsider


def test_a_ring_is_decided_at_once_all_or_nothing_and_audited(api_client_and_key, reviewer, second_reviewer):
    cases, outsider = _ring(api_client_and_key[0])
    desk = signed_in(reviewer)
    network = desk.get(f"/api/cases/{cases[0].pk}/network").json()
    accounts = {n["label"]: n for n in network["nodes"] if n["kind"] == "account"}
    assert set(accounts) == {"ring-0", "ring-1", "ring-2"}
    assert accounts["ring-1"]["open_cases"] == 2 and accounts["ring-1"]["via"] == ["device"]
    url = f"/api/cases/{cases[0].pk}/network/decision"
    body = {"verdict": "flag", "disposition": "ring", "accounts": ["ring-0", "ring-1", "ring-2"], "note": "one device"}

    stranger = desk.post(url, {**body, "accounts": ["ring-0", "loner"]}, format="json")
    assert stranger.status_code == 400 and stranger.json()["errors"][0]["field"] == "accounts"
    assert "loner" in stranger.json()["errors"][0]["message"]
    no_reason = desk.post(url, {**body, "disposition": ""}, format="json")
    assert no_reason.status_code == 400 and no_reason.json()["errors"][0]["field"] == "disposition"

    # A colleague holds one of the cases: nothing is written, and the case is named.
    held = cases[3]
    assert signed_in(second_reviewer).post(f"/api/cases/{held.pk}/claim").status_code == 200
    refused = desk.post(url, body, format="json")
    assert refused.status_code == 409
    assert [e["transaction_id"] for e in refused.json()["errors"]] == [held.pk]
    assert not Decision.objects.exists()
    signed_in(second_reviewer).delete(f"/api/cases/{held.pk}/claim")

    done = desk.post(url, body, format="json")
    assert done.status_code == 201, done.content
    assert sorted(done.json()["decided"]) == sorted(c.pk for c in cases)
    assert set(Score.objects.filter(pk__in=[c.pk for c in cases]).values_list("review_status", flat=True)) == {"flagged"}
    assert set(Transaction.objects.filter(account_id__startswith="ring-").values_list("is_fraud", flat=True)) == {True}
    assert Score.objects.get(pk=outsider.pk).review_status == "open"
    entry = AuditEntry.objects.get(action="ring_decision")
    assert entry.detail["accounts"] == ["ring-0", "ring-1", "ring-2"] and len(entry.detail["transaction_ids"]) == 6
    assert set(Decision.objects.values_list("disposition_id", flat=True)) == {"ring"}


def test_a_ring_with_more_cases_than_the_cap_is_refused(api_client_and_key, reviewer, settings):
    settings.RING_MAX_CASES = 5
    cases, _ = _ring(api_client_and_key[0])
    response = signed_in(reviewer).post(f"/api/cases/{cases[0].pk}/network/decision", {
        "verdict": "flag", "disposition": "ring", "accounts": ["ring-0", "ring-1", "ring-2"]}, format="json")
    assert response.status_code == 409 and "more than 5 undecided cases" in response.json()["errors"][0]["message"]
    assert not Decision.objects.exists()


# --------------------------------------------------------------------------- case files


def test_the_case_file_tells_the_story_in_words_and_is_audited(api_client_and_key, reviewer, outsider):
    client = api_client_and_key[0]
    earlier = make_case(client, "before", account="acct-7", amount=40.0, when=timezone.now() - timedelta(days=2))
    Transaction.objects.filter(pk=earlier.pk).update(is_fraud=True, label_source="import")
    txn = make_case(client, "the-case", account="acct-7", amount=1234.5, device="dev-<b>9</b>")
    desk = signed_in(reviewer)
    desk.post(f"/api/cases/{txn.pk}/comments", {"body": "Bank says the card was <i>stolen</i>"}, format="json")
    _decide(desk, txn, verdict="flag", disposition="stolen_card", note="confirmed by issuer")

    response = desk.get(f"/cases/{txn.pk}/file")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="case-{txn.pk}-the-case.html"'
    html = response.content.decode()
    assert "Account acct-7 has 2 events on record" in html
    assert "known labels: 2 fraud, 0 legitimate" in html  # the imported label and this decision
    assert "payment of 1,234.50 USD from device dev-&lt;b&gt;9&lt;/b&gt;" in html  # escaped, never markup
    assert "decided: flag (Stolen card or credentials) — “confirmed by issuer”" in html
    assert "Bank says the card was &lt;i&gt;stolen&lt;/i&gt;" in html
    assert html.count("<circle") == 2 and "<script" not in html and "<link" not in html  # self-contained
    assert AuditEntry.objects.filter(action="case_file_exported", object_id=str(txn.pk)).exists()
    assert signed_in(outsider).get(f"/cases/{txn.pk}/file").status_code in (302, 403)
    assert desk.get("/cases/999999/file").status_code == 404
