"""Reviewer workbench API: queue filters, next case and claims, undo, bulk, case data, audit, roles."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from tests.support.cases import T0, make_case
from tests.support.factories import signed_in
from triage.models import Decision, Score, Transaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def sender(api_client_and_key):
    return api_client_and_key[0]


@pytest.fixture
def cases(sender):
    return [
        make_case(sender, "h1", loss=900, amount=1000, account="alice", when=T0),
        make_case(sender, "h2", loss=500, amount=600, account="bob", when=T0 + timedelta(days=1), event_type="purchase"),
        make_case(sender, "h3", loss=700, amount=800, account="carol", when=T0 + timedelta(days=2)),
        make_case(sender, "m1", tier="medium", loss=50, amount=90, account="alice", when=T0 + timedelta(days=2)),
        make_case(sender, "l1", tier="low", loss=1, amount=20, account="dave", when=T0 + timedelta(days=3)),
    ]


def _ids(body):
    return [item["event_id"] for item in body["items"]]


# --------------------------------------------------------------------------- queue


def test_queue_orders_by_expected_loss_and_counts_tiers(reviewer, cases):
    body = signed_in(reviewer).get("/api/queue", {"tier": "high"}).json()
    assert _ids(body) == ["h1", "h3", "h2"]
    assert body["counts"] == {"high": 3, "medium": 1, "low": 1, "escalated": 0, "snoozed": 0}
    assert body["capped"] == []


def test_queue_filters_narrow_the_list_and_the_tier_counts_with_it(reviewer, cases):
    client = signed_in(reviewer)
    by_date = client.get("/api/queue", {"tier": "high", "date_from": "2026-11-21", "date_to": "2026-11-21"}).json()
    assert _ids(by_date) == ["h2"]
    assert by_date["counts"] == {"high": 1, "medium": 0, "low": 0, "escalated": 0, "snoozed": 0} and by_date["has_more"] is False
    assert by_date["counts_filtered"] is True
    assert _ids(client.get("/api/queue", {"amount_min": "650", "amount_max": "900"}).json()) == ["h3"]
    assert _ids(client.get("/api/queue", {"event_type": "purchase"}).json()) == ["h2"]
    assert _ids(client.get("/api/queue", {"account": "alice"}).json()) == ["h1"]
    assert _ids(client.get("/api/queue", {"account": "alice", "tier": "medium"}).json()) == ["m1"]
    page = client.get("/api/queue", {"limit": 2}).json()
    assert _ids(page) == ["h1", "h3"] and page["has_more"] is True
    assert _ids(client.get("/api/queue", {"q": "h3"}).json()) == ["h3"]
    assert _ids(client.get("/api/queue", {"q": "bob"}).json()) == ["h2"]


def test_escalated_cases_leave_the_tier_lists_for_their_own_list(reviewer, cases):
    desk = signed_in(reviewer)
    desk.post(f"/api/cases/{cases[1].pk}/decision", {"verdict": "escalate", "note": "needs the bank's answer"}, format="json")
    desk.post(f"/api/cases/{cases[3].pk}/decision", {"verdict": "escalate", "note": "second opinion"}, format="json")
    high = desk.get("/api/queue", {"tier": "high"}).json()
    assert "h2" not in _ids(high) and high["counts"]["escalated"] == 2
    escalated = desk.get("/api/queue", {"status": "escalated"}).json()
    assert escalated["status"] == "escalated"
    assert _ids(escalated) == ["h2", "m1"]  # every tier, highest expected loss first
    assert {item["review_status"] for item in escalated["items"]} == {"escalated"}
    narrowed = desk.get("/api/queue", {"status": "escalated", "account": "alice"}).json()
    assert _ids(narrowed) == ["m1"]
    assert desk.get("/api/queue", {"status": "parked"}).status_code == 400


def test_queue_counts_stop_at_the_cap(reviewer, cases, settings):
    settings.QUEUE_COUNT_CAP = 2
    body = signed_in(reviewer).get("/api/queue").json()
    assert body["counts"]["high"] == 2 and body["capped"] == ["high"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"amount_min": "lots"}, "amount_min"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_from": "2026-11-22", "date_to": "2026-11-20"}, "date_to"),
        ({"amount_min": "10", "amount_max": "5"}, "amount_max"),
        ({"tier": "urgent"}, "tier"),
        ({"since": "not-a-time"}, "since"),
        ({"limit": "0"}, "limit"),
    ],
)
def test_bad_queue_filters_are_400_naming_the_field(reviewer, cases, params, field):
    response = signed_in(reviewer).get("/api/queue", params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_polling_with_since_marks_new_cases(reviewer, sender, cases):
    client = signed_in(reviewer)
    as_of = client.get("/api/queue").json()["as_of"]
    make_case(sender, "h-new", loss=1000, amount=2000, account="erin")
    body = client.get("/api/queue", {"since": as_of}).json()
    assert body["new_count"] == 1
    assert [i["event_id"] for i in body["items"] if i["is_new"]] == ["h-new"]


def test_the_new_count_is_of_the_list_being_looked_at(reviewer, sender, cases):
    client = signed_in(reviewer)
    as_of = client.get("/api/queue").json()["as_of"]
    make_case(sender, "h-new", loss=1000, amount=2000, account="erin")
    make_case(sender, "l-new", tier="low", loss=1, amount=5, account="erin")
    make_case(sender, "l-new-2", tier="low", loss=2, amount=6, account="frank")
    assert client.get("/api/queue", {"since": as_of, "tier": "high"}).json()["new_count"] == 1
    assert client.get("/api/queue", {"since": as_of, "tier": "low"}).json()["new_count"] == 2
    assert client.get("/api/queue", {"since": as_of, "status": "escalated"}).json()["new_count"] == 0


# --------------------------------------------------------------------------- next case and claims


def test_next_case_claims_top_case_and_others_see_who_holds_it(reviewer, second_reviewer, cases):
    first = signed_in(reviewer).post("/api/queue/next").json()["case"]
    assert first["event_id"] == "h1" and first["claimed_by"] == reviewer.username
    second = signed_in(second_reviewer).post("/api/queue/next").json()["case"]
    assert second["event_id"] == "h3"
    listed = {i["event_id"]: i["claimed_by"] for i in signed_in(second_reviewer).get("/api/queue").json()["items"]}
    assert listed == {"h1": reviewer.username, "h3": second_reviewer.username, "h2": None}
    claims = AuditEntry.objects.filter(action="claim").values_list("actor__username", "object_id")
    assert set(claims) == {(reviewer.username, str(cases[0].pk)), (second_reviewer.username, str(cases[2].pk))}


def test_next_case_releases_the_previous_claim_and_honours_filters(reviewer, cases):
    client = signed_in(reviewer)
    client.post("/api/queue/next")
    nxt = client.post("/api/queue/next?account=alice&tier=medium").json()["case"]
    assert nxt["event_id"] == "m1"
    assert Score.objects.filter(claimed_by=reviewer).count() == 1
    assert AuditEntry.objects.filter(action="claim_released", object_id=str(cases[0].pk)).exists()


def test_next_case_skips_the_case_being_left(reviewer, cases):
    desk = signed_in(reviewer)
    first = desk.post("/api/queue/next").json()["case"]
    again = desk.post(f"/api/queue/next?skip={first['transaction_id']}").json()["case"]
    assert again["transaction_id"] != first["transaction_id"]
    assert Score.objects.get(pk=first["transaction_id"]).claimed_by is None  # back in the queue


def test_next_case_when_queue_is_empty(reviewer, sender):
    body = signed_in(reviewer).post("/api/queue/next").json()
    assert body["case"] is None and "clear" in body["message"]


def test_expired_claim_can_be_taken_by_someone_else(reviewer, second_reviewer, cases):
    signed_in(reviewer).post("/api/queue/next")
    Score.objects.filter(pk=cases[0].pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
    assert signed_in(reviewer).get("/api/queue").json()["items"][0]["claimed_by"] is None
    taken = signed_in(second_reviewer).post("/api/queue/next").json()["case"]
    assert taken["event_id"] == "h1" and taken["claimed_by"] == second_reviewer.username
    entry = AuditEntry.objects.filter(action="claim", actor=second_reviewer).get()
    assert entry.detail["took_over_expired_claim_of"] == reviewer.username


def test_decision_on_a_case_held_by_another_reviewer_is_409(reviewer, second_reviewer, cases):
    signed_in(reviewer).post("/api/queue/next")
    response = signed_in(second_reviewer).post(f"/api/cases/{cases[0].pk}/decision", {"verdict": "flag", "disposition": "stolen_card"}, format="json")
    assert response.status_code == 409
    assert reviewer.username in response.json()["errors"][0]["message"]
    assert not Decision.objects.exists()


def test_opening_a_case_claims_it_unless_someone_holds_it(reviewer, second_reviewer, cases):
    assert signed_in(reviewer).post(f"/api/cases/{cases[1].pk}/claim").json()["claimed_by"] == reviewer.username
    refused = signed_in(second_reviewer).post(f"/api/cases/{cases[1].pk}/claim")
    assert refused.status_code == 409 and reviewer.username in refused.json()["errors"][0]["message"]
    assert signed_in(reviewer).delete(f"/api/cases/{cases[1].pk}/claim").status_code == 204
    assert signed_in(second_reviewer).post(f"/api/cases/{cases[1].pk}/claim").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_pressing_next_together_get_different_cases(reviewer, second_reviewer, sender):
    for i in range(6):
        make_case(sender, f"c{i}", loss=100 + i, account=f"acct-{i}")
    barrier = threading.Barrier(2)
    taken: dict[str, str] = {}

    def press(user):
        try:
            client = signed_in(user)
            barrier.wait()
            taken[user.username] = client.post("/api/queue/next").json()["case"]["event_id"]
        finally:
            connection.close()

    threads = [threading.Thread(target=press, args=(u,)) for u in (reviewer, second_reviewer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(taken) == 2 and len(set(taken.values())) == 2
    assert set(taken.values()) <= {"c5", "c4"}
    assert Score.objects.filter(claimed_by__isnull=False).count() == 2


# --------------------------------------------------------------------------- decisions and undo


def test_undo_restores_status_and_label_and_is_audited(reviewer, cases):
    client = signed_in(reviewer)
    txn = cases[0]
    assert client.post(f"/api/cases/{txn.pk}/decision", {"verdict": "flag", "disposition": "stolen_card", "expected_status": "open"}, format="json").status_code == 201
    txn.refresh_from_db()
    assert txn.is_fraud is True and txn.label_source == "review" and txn.label_known_at is not None
    response = client.post(f"/api/cases/{txn.pk}/undo")
    assert response.status_code == 200 and response.json()["review_status"] == "open"
    txn.refresh_from_db()
    assert txn.is_fraud is None and txn.label_source == "" and txn.label_known_at is None
    assert txn.score.review_status == "open" and txn.score.claimed_by == reviewer
    assert Decision.objects.get().undone_at is not None
    assert AuditEntry.objects.filter(action="decision_undone", object_id=str(txn.pk)).exists()


def test_undo_after_the_window_is_refused(reviewer, cases, settings):
    client = signed_in(reviewer)
    client.post(f"/api/cases/{cases[0].pk}/decision", {"verdict": "clear", "disposition": "customer_confirmed"}, format="json")
    Decision.objects.update(created_at=timezone.now() - timedelta(seconds=settings.UNDO_SECONDS + 1))
    response = client.post(f"/api/cases/{cases[0].pk}/undo")
    assert response.status_code == 409 and "undone for" in response.json()["errors"][0]["message"]
    cases[0].refresh_from_db()
    assert cases[0].is_fraud is False


def test_a_later_decision_wins_and_blocks_the_earlier_undo(reviewer, second_reviewer, cases):
    url = f"/api/cases/{cases[0].pk}/decision"
    signed_in(reviewer).post(url, {"verdict": "escalate", "note": "second opinion"}, format="json")
    assert signed_in(second_reviewer).post(url, {"verdict": "flag", "disposition": "stolen_card", "expected_status": "escalated"}, format="json").status_code == 201
    refused = signed_in(reviewer).post(f"/api/cases/{cases[0].pk}/undo")
    assert refused.status_code == 409 and second_reviewer.username in refused.json()["errors"][0]["message"]
    cases[0].refresh_from_db()
    assert cases[0].is_fraud is True
    assert list(Decision.objects.order_by("created_at").values_list("verdict", flat=True)) == ["escalate", "flag"]
    assert AuditEntry.objects.filter(action="decision").count() == 2


# --------------------------------------------------------------------------- bulk


def test_manager_bulk_flags_selected_cases(manager, cases):
    ids = [cases[1].pk, cases[2].pk]
    response = signed_in(manager).post("/api/cases/bulk", {"verdict": "flag", "disposition": "stolen_card", "transaction_ids": ids, "note": "ring"}, format="json")
    assert response.status_code == 201 and sorted(response.json()["decided"]) == sorted(ids)
    assert set(Transaction.objects.filter(pk__in=ids).values_list("is_fraud", flat=True)) == {True}
    assert AuditEntry.objects.filter(action="bulk_decision", actor=manager).exists()


def test_bulk_is_all_or_nothing_and_reports_each_conflict(manager, reviewer, cases):
    signed_in(reviewer).post("/api/queue/next")  # holds h1
    signed_in(reviewer).post(f"/api/cases/{cases[3].pk}/decision", {"verdict": "clear", "disposition": "customer_confirmed"}, format="json")
    ids = [cases[0].pk, cases[1].pk, cases[3].pk, 999999]
    response = signed_in(manager).post("/api/cases/bulk", {"verdict": "clear", "disposition": "customer_confirmed", "transaction_ids": ids}, format="json")
    assert response.status_code == 409
    reported = {e["transaction_id"]: e["message"] for e in response.json()["errors"]}
    assert set(reported) == {cases[0].pk, cases[3].pk, 999999}
    assert reviewer.username in reported[cases[0].pk] and "already cleared" in reported[cases[3].pk]
    assert Score.objects.get(pk=cases[1].pk).review_status == "open"
    assert Decision.objects.count() == 1


def test_bulk_needs_the_manager_role_and_valid_input(reviewer, manager, cases):
    body = {"verdict": "flag", "disposition": "stolen_card", "transaction_ids": [cases[0].pk]}
    assert signed_in(reviewer).post("/api/cases/bulk", body, format="json").status_code == 403
    bad = signed_in(manager).post("/api/cases/bulk", {"verdict": "escalate", "transaction_ids": []}, format="json")
    assert bad.status_code == 400
    assert {e["field"] for e in bad.json()["errors"]} == {"verdict", "transaction_ids"}


# --------------------------------------------------------------------------- case data


def test_case_api_has_every_field_score_and_decisions(reviewer, cases):
    body = signed_in(reviewer).get(f"/api/cases/{cases[0].pk}").json()
    assert body["event"]["event_id"] == "h1" and body["event"]["merchant_id"] == "m-1"
    assert set(body["event"]) >= {"ip_address", "device_id", "latitude", "session_duration", "attributes"}
    assert body["score"]["tier"] == "high" and body["score"]["model_version"] == "v-test"
    assert body["explanation_status"] == "pending" and body["decisions"] == []
    assert signed_in(reviewer).get("/api/cases/999999").status_code == 404


def test_history_shows_failed_payments_device_changes_and_decisions(reviewer, sender, cases):
    make_case(sender, "a-old", account="alice", when=T0 - timedelta(days=3), device="dev-0", status="failed")
    signed_in(reviewer).post(f"/api/cases/{cases[3].pk}/decision", {"verdict": "clear", "disposition": "customer_confirmed"}, format="json")
    body = signed_in(reviewer).get(f"/api/cases/{cases[0].pk}/history").json()
    assert [e["event_id"] for e in body["events"]] == ["a-old", "h1", "m1"]
    assert [e["payment_failed"] for e in body["events"]] == [True, False, False]
    assert [e["device_changed"] for e in body["events"]] == [False, True, False]
    assert body["summary"]["events"] == 3 and body["summary"]["failed_payments"] == 1
    assert body["summary"]["state"] == "cleared"
    assert body["decisions"][0]["verdict"] == "clear"


def test_network_links_accounts_sharing_devices_with_their_state(reviewer, sender, cases):
    make_case(sender, "ring-1", account="mallory", device="dev-1", ip="198.51.100.1", merchant="m-9")
    ring = make_case(sender, "ring-2", account="trent", device="dev-9", ip="203.0.113.9", merchant="m-9")
    Transaction.objects.filter(account_id="mallory").update(is_fraud=True)
    body = signed_in(reviewer).get(f"/api/cases/{cases[0].pk}/network").json()
    accounts = {n["label"]: n for n in body["nodes"] if n["kind"] == "account"}
    assert accounts["alice"]["center"] is True
    assert accounts["mallory"]["state"] == "fraud" and accounts["trent"]["state"] == "unknown"
    assert accounts["trent"]["latest_case"] == ring.pk
    kinds = {(link["kind"], link["target"]) for link in body["links"]}
    assert ("device", "account:mallory") in kinds and ("ip", "account:trent") in kinds


def test_the_case_shows_fraud_confirmed_under_another_client(reviewer, sender, cases):
    """The whole record: history imported by another source (with its chargebacks) and
    linked accounts known only there show on the case, with where each event came from."""
    from accounts.services import import_source_get_or_create

    history = import_source_get_or_create(name="chargeback-history")
    for index, account in enumerate(("alice", "eve", "eve")):
        Transaction.objects.create(
            client=history, event_id=f"imp-{index}", account_id=account, timestamp=T0 - timedelta(days=5 - index),
            event_type="payment", amount=50, currency="USD", device_id="dev-1", is_fraud=True,
            label_known_at=T0 - timedelta(days=1), label_source="import",
        )
    desk = signed_in(reviewer)
    body = desk.get(f"/api/cases/{cases[0].pk}/history").json()
    assert body["summary"]["known_fraud"] == 1 and body["summary"]["state"] == "fraud"
    imported = [e for e in body["events"] if e["event_id"] == "imp-0"]
    assert imported and imported[0]["client"] == "chargeback-history" and imported[0]["label_source"] == "import"
    network = desk.get(f"/api/cases/{cases[0].pk}/network").json()
    accounts = {n["label"]: n for n in network["nodes"] if n["kind"] == "account"}
    assert accounts["eve"]["state"] == "fraud" and accounts["eve"]["events"] == 2


def test_network_is_capped_and_bounded_in_time(reviewer, sender, cases, settings):
    settings.NETWORK_MAX_NODES = 6
    for i in range(10):
        make_case(sender, f"share-{i}", account=f"acct-s{i}", device="dev-1")
    make_case(sender, "ancient", account="old-friend", device="dev-1", when=T0 - timedelta(days=200))
    body = signed_in(reviewer).get(f"/api/cases/{cases[0].pk}/network").json()
    assert len(body["nodes"]) <= 6 and body["truncated"] is True
    assert "old-friend" not in {n["label"] for n in body["nodes"]}


# --------------------------------------------------------------------------- audit


def test_audit_api_filters_and_paginates(manager, reviewer, cases):
    client = signed_in(reviewer)
    client.post("/api/queue/next")
    client.post(f"/api/cases/{cases[1].pk}/decision", {"verdict": "clear", "disposition": "customer_confirmed"}, format="json")
    audit = signed_in(manager)
    decisions = audit.get("/api/audit", {"actor": reviewer.username, "action": "decision"}).json()
    assert decisions["total"] == 1 and decisions["items"][0]["object_id"] == str(cases[1].pk)
    by_object = audit.get("/api/audit", {"object_id": str(cases[0].pk)}).json()
    assert {i["action"] for i in by_object["items"]} == {"claim"}
    page = audit.get("/api/audit", {"page_size": 2, "page": 2}).json()
    assert page["page"] == 2 and len(page["items"]) <= 2 and page["pages"] == -(-page["total"] // 2)
    assert "login" in page["actions"]
    today = timezone.now().date()
    assert audit.get("/api/audit", {"date_to": str(today - timedelta(days=1))}).json()["total"] == 0
    assert audit.get("/api/audit", {"date_from": "soon"}).status_code == 400


def test_reviewers_and_keys_cannot_read_the_audit_log(reviewer, service, cases):
    assert signed_in(reviewer).get("/api/audit").status_code == 403
    assert service.get("/api/audit").status_code in (401, 403)


# --------------------------------------------------------------------------- pages and roles


def test_pages_check_roles(client, reviewer, manager, outsider, cases):
    case_url = f"/cases/{cases[0].pk}/"
    assert client.get("/queue/").status_code == 302  # anonymous: to the login page
    client.force_login(outsider)
    assert client.get("/queue/").status_code == 403 and client.get(case_url).status_code == 403
    client.force_login(reviewer)
    assert client.get("/queue/").status_code == 200 and client.get(case_url).status_code == 200
    assert client.get("/audit/").status_code == 403
    client.force_login(manager)
    assert client.get("/audit/").status_code == 200


def test_an_api_key_opens_no_page_and_no_reviewer_api(api_client_and_key, cases, client):
    key = api_client_and_key[1]
    for url in ("/queue/", f"/cases/{cases[0].pk}/", "/audit/"):
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 302 and "/login/" in response["Location"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/queue").status_code in (401, 403)
    assert api.post("/api/queue/next").status_code in (401, 403)
    assert api.get(f"/api/cases/{cases[0].pk}").status_code in (401, 403)
