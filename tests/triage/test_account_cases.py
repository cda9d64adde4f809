"""Cases per account: the queue lists one row per account, a decision covers the whole case."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from tests.support.cases import make_case
from tests.support.factories import signed_in
from triage.models import Decision, Score, Transaction

pytestmark = pytest.mark.django_db


def _world(client):
    now = timezone.now()
    a = [make_case(client, "a-1", account="acct-a", tier="high", loss=400.0, when=now - timedelta(hours=1)),
         make_case(client, "a-2", account="acct-a", tier="high", loss=50.0, when=now - timedelta(hours=7)),
         make_case(client, "a-3", account="acct-a", tier="low", loss=5.0, when=now - timedelta(hours=2))]
    b = make_case(client, "b-1", account="acct-b", tier="high", loss=300.0, when=now - timedelta(hours=1))
    c = make_case(client, "c-1", account="acct-c", tier="low", loss=9.0, when=now - timedelta(hours=1))
    return a, b, c


def _queue(desk, **params):
    return desk.get("/api/queue", {"view": "accounts", **params}).json()


def test_the_queue_lists_one_row_per_account_with_its_case(api_client_and_key, reviewer):
    a, b, c = _world(api_client_and_key[0])
    desk = signed_in(reviewer)
    high = _queue(desk, tier="high")
    assert [i["account_id"] for i in high["items"]] == ["acct-a", "acct-b"]
    first = high["items"][0]
    assert first["transaction_id"] == a[0].pk  # the account's costliest alert stands for it
    assert first["alerts"] == 3 and first["alert_ids"] == sorted(x.pk for x in a)
    assert first["case_expected_loss"] == pytest.approx(455.0) and first["case_max_risk_score"] == 90
    # Due from its first alert (7 h old against 4 h for high): past due, though its top alert is fresh.
    assert first["first_alert_at"].startswith(a[1].timestamp.strftime("%Y-%m-%dT%H:%M"))
    assert first["sla_state"] == "breached"
    assert high["items"][1]["alerts"] == 1 and high["items"][1]["sla_state"] == "on_time"
    # An account sits in the tab of its highest tier only.
    assert [i["account_id"] for i in _queue(desk, tier="low")["items"]] == ["acct-c"]
    # Pages are of accounts.
    second = _queue(desk, tier="high", limit=1, offset=1)
    assert [i["account_id"] for i in second["items"]] == ["acct-b"] and second["has_more"] is False
    assert _queue(desk, tier="high", limit=1)["has_more"] is True
    # One row per event is still there for whoever asks.
    assert len(desk.get("/api/queue", {"tier": "high"}).json()["items"]) == 3


def test_a_new_alert_joins_the_open_case(api_client_and_key, reviewer):
    a, _, _ = _world(api_client_and_key[0])
    desk = signed_in(reviewer)
    make_case(api_client_and_key[0], "a-4", account="acct-a", tier="medium", loss=20.0)
    row = _queue(desk, tier="high")["items"][0]
    assert row["account_id"] == "acct-a" and row["alerts"] == 4
    case = desk.get(f"/api/cases/{a[0].pk}").json()
    assert [x["event_id"] for x in case["case_alerts"]] == ["a-1", "a-2", "a-4", "a-3"]  # costliest first


def test_deciding_the_case_decides_every_alert_and_one_undo_takes_them_back(api_client_and_key, reviewer):
    a, b, _ = _world(api_client_and_key[0])
    desk = signed_in(reviewer)
    response = desk.post(f"/api/cases/{a[0].pk}/decision", {"verdict": "flag", "disposition": "account_takeover",
                                                            "scope": "case", "expected_status": "open"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["decided"] == sorted(x.pk for x in a)
    assert set(Score.objects.filter(pk__in=[x.pk for x in a]).values_list("review_status", flat=True)) == {"flagged"}
    assert set(Transaction.objects.filter(account_id="acct-a").values_list("is_fraud", flat=True)) == {True}
    assert Score.objects.get(pk=b.pk).review_status == "open"
    assert len(set(Decision.objects.values_list("group", flat=True))) == 1
    entry = AuditEntry.objects.get(action="case_decision")
    assert entry.object_id == "acct-a" and sorted(entry.detail["transaction_ids"]) == sorted(x.pk for x in a)
    assert [i["account_id"] for i in _queue(desk, tier="high")["items"]] == ["acct-b"]

    undo = desk.post(f"/api/cases/{a[0].pk}/undo")
    assert undo.status_code == 200 and undo.json()["undone_alerts"] == 3
    assert set(Score.objects.filter(pk__in=[x.pk for x in a]).values_list("review_status", flat=True)) == {"open"}
    assert set(Transaction.objects.filter(account_id="acct-a").values_list("is_fraud", flat=True)) == {None}
    assert _queue(desk, tier="high")["items"][0]["alerts"] == 3


def test_one_alert_can_still_be_decided_alone(api_client_and_key, reviewer):
    a, _, _ = _world(api_client_and_key[0])
    desk = signed_in(reviewer)
    response = desk.post(f"/api/cases/{a[2].pk}/decision", {"verdict": "clear", "disposition": "known_pattern"}, format="json")
    assert response.status_code == 201 and response.json()["decided"] == [a[2].pk]
    assert _queue(desk, tier="high")["items"][0]["alerts"] == 2


def test_a_case_with_an_alert_a_colleague_holds_is_refused_whole(api_client_and_key, reviewer, second_reviewer):
    a, _, _ = _world(api_client_and_key[0])
    assert signed_in(second_reviewer).post(f"/api/cases/{a[1].pk}/claim").status_code == 200
    desk = signed_in(reviewer)
    response = desk.post(f"/api/cases/{a[0].pk}/decision", {"verdict": "flag", "disposition": "stolen_card",
                                                            "scope": "case"}, format="json")
    assert response.status_code == 409
    assert second_reviewer.username in response.json()["errors"][0]["message"]
    assert not Decision.objects.exists()
    assert set(Transaction.objects.filter(account_id="acct-a").values_list("is_fraud", flat=True)) == {None}


def test_escalated_cases_are_grouped_by_account_too(api_client_and_key, reviewer):
    a, b, _ = _world(api_client_and_key[0])
    desk = signed_in(reviewer)
    for alert in (a[0], a[1], b):
        assert desk.post(f"/api/cases/{alert.pk}/decision", {"verdict": "escalate", "note": "issuer"}, format="json").status_code == 201
    rows = _queue(desk, status="escalated")["items"]
    assert [(r["account_id"], r["alerts"]) for r in rows] == [("acct-a", 2), ("acct-b", 1)]
    bad = desk.get("/api/queue", {"view": "events"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "view"


def test_accounts_of_a_higher_tier_are_skipped_however_many_come_first(api_client_and_key, reviewer):
    # The medium tier's 30 costliest alerts belong to accounts with a high alert (their case is
    # in the high tab); the page must still find the medium-only accounts behind them, in order.
    client = api_client_and_key[0]
    for i in range(30):
        make_case(client, f"hm-{i}", account=f"both-{i}", tier="medium", loss=1000.0 - i)
        make_case(client, f"hh-{i}", account=f"both-{i}", tier="high", loss=5.0)
    for i in range(4):
        make_case(client, f"m-{i}", account=f"medium-{i}", tier="medium", loss=100.0 - i)
    desk = signed_in(reviewer)
    first = _queue(desk, tier="medium", limit=3)
    assert [i["account_id"] for i in first["items"]] == ["medium-0", "medium-1", "medium-2"] and first["has_more"]
    rest = _queue(desk, tier="medium", limit=3, offset=3)
    assert [i["account_id"] for i in rest["items"]] == ["medium-3"] and not rest["has_more"]
    assert len(_queue(desk, tier="high", limit=50)["items"]) == 30
