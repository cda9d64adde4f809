"""Account risk segments and the off-boarding criteria on crafted accounts; decisions audited."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from insights.accounts import account_risk_refresh
from insights.models import AccountRisk
from insights.segments import Criteria, entity_pairs_from_events, profiles_from_events, segment_accounts
from tests.support.insights_worlds import add_event

UTC = timezone.utc
START = datetime(2026, 11, 2, 9, tzinfo=UTC)
CRITERIA = Criteria(max_shared_accounts=5)


def crafted_events() -> list[dict]:
    """Accounts built to meet (or narrowly miss) each criterion."""
    rows: list[dict] = []

    def add(account, n=1, *, score=10, fraud=None, device="", ip="", status="success"):
        for _ in range(n):
            rows.append({
                "account_id": account, "timestamp": START + timedelta(minutes=len(rows)), "amount": 20.0,
                "payment_status": status, "device_id": device or f"dev-{account}", "ip_address": ip or "",
                "is_fraud": fraud, "risk_score": score,
            })

    add("clean", 5)
    add("repeat", 2, score=90, fraud=1.0)
    add("repeat", 3)
    add("ring-a", 1, score=85, fraud=1.0, device="shared-dev")
    add("ring-b", 1, score=70, fraud=1.0, device="shared-dev")
    add("ring-c", 4, device="shared-dev", ip="10.0.0.9")
    add("ring-d", 1, score=60, fraud=1.0, ip="10.0.0.9")
    add("tester", 6, status="failed")
    add("tester", 1, score=88)
    add("mostly-high", 3, score=95)
    add("mostly-high", 1)
    add("noisy-high", 3, score=82)
    add("noisy-high", 17)
    add("devices", 1, device="d1", status="failed")
    add("devices", 1, device="d2", status="failed")
    add("devices", 1, device="d3", status="declined")
    add("devices", 1, device="d4")
    # Six accounts on one café IP, one of them a fraudster: too public to count as a ring link.
    add("cafe-fraud", 1, score=90, fraud=1.0, ip="192.0.2.1")
    for i in range(5):
        add(f"cafe-{i}", 2, ip="192.0.2.1")
    return rows


@pytest.fixture(scope="module")
def segmented() -> pd.DataFrame:
    events = pd.DataFrame(crafted_events())
    profiles = profiles_from_events(events, CRITERIA)
    return segment_accounts(profiles, entity_pairs_from_events(events), CRITERIA).set_index("account_id")


def codes(reasons):
    return {r["code"] for r in reasons}


def test_clean_account_is_low_and_stays(segmented):
    row = segmented.loc["clean"]
    assert row.segment == "low" and not row.offboard and row.points == 0


def test_repeat_fraud_qualifies(segmented):
    row = segmented.loc["repeat"]
    assert row.segment == "high" and row.confirmed_frauds == 2
    assert codes(row.offboard_reasons) == {"repeat_fraud"}
    assert "2 confirmed frauds" in row.offboard_reasons[0]["text"]


def test_ring_members_are_linked_through_shared_devices_and_ips(segmented):
    assert segmented.loc["ring-a", "ring_links"] == 1  # ring-b; ring-c is not flagged
    assert codes(segmented.loc["ring-a", "offboard_reasons"]) == {"fraud_in_ring"}
    hub = segmented.loc["ring-c"]
    assert hub.ring_links == 3 and hub.confirmed_frauds == 0
    assert codes(hub.offboard_reasons) == {"ring_hub"}
    assert "shares a device or IP with 3 flagged accounts" in [r["text"] for r in hub.reasons]


def test_public_networks_are_not_ring_links(segmented):
    assert segmented.loc["cafe-0", "ring_links"] == 0 and not segmented.loc["cafe-0", "offboard"]
    assert segmented.loc["cafe-fraud", "ring_links"] == 0
    assert codes(segmented.loc["cafe-fraud", "offboard_reasons"]) == set()  # one fraud, no ring: watch, not off-board


def test_card_testing_pattern(segmented):
    row = segmented.loc["tester"]
    assert row.failed_payments == 6 and codes(row.offboard_reasons) == {"card_testing"}


def test_mostly_high_risk_qualifies_but_occasional_high_risk_does_not(segmented):
    assert codes(segmented.loc["mostly-high", "offboard_reasons"]) == {"repeated_high_risk"}
    assert segmented.loc["mostly-high", "segment"] == "medium"
    noisy = segmented.loc["noisy-high"]
    assert noisy.high_events == 3 and not noisy.offboard and noisy.segment == "low"


def test_many_devices_and_failed_payments_make_medium_without_offboarding(segmented):
    row = segmented.loc["devices"]
    assert (row.devices, row.failed_payments, row.points) == (4, 3, 2)
    assert row.segment == "medium" and not row.offboard


def test_criteria_are_configurable():
    events = pd.DataFrame(crafted_events())
    strict = Criteria(max_shared_accounts=5, offboard_confirmed_frauds=3)
    result = segment_accounts(profiles_from_events(events, strict), entity_pairs_from_events(events), strict).set_index("account_id")
    assert not result.loc["repeat", "offboard"]


# --------------------------------------------------------------------------- stored data, API


@pytest.fixture
def stored(api_client_and_key, settings):
    settings.INSIGHTS_MAX_SHARED_ACCOUNTS = 5
    client = api_client_and_key[0]
    for i, row in enumerate(crafted_events()):
        tier = "high" if row["risk_score"] >= 80 else "medium" if row["risk_score"] >= 50 else "low"
        add_event(client, f"c{i}", row["timestamp"], account=row["account_id"], amount=row["amount"],
                  is_fraud=None if row["is_fraud"] is None else bool(row["is_fraud"]), score=row["risk_score"], tier=tier,
                  device=row["device_id"], ip=row["ip_address"] or None, payment_status=row["payment_status"])
    return account_risk_refresh()


@pytest.fixture
def as_manager(manager):
    client = APIClient()
    client.force_login(manager)
    return client


def test_stored_accounts_get_the_same_segments(stored, segmented):
    assert stored == len(segmented)
    for account in ("repeat", "ring-c", "tester", "mostly-high", "clean", "devices", "cafe-0"):
        risk = AccountRisk.objects.get(account_id=account)
        assert (risk.segment, risk.offboard, risk.ring_links) == (
            segmented.loc[account, "segment"], bool(segmented.loc[account, "offboard"]), segmented.loc[account, "ring_links"])


def test_segments_and_offboarding_api(stored, as_manager):
    body = as_manager.get("/api/insights/accounts/segments").json()
    by_segment = {s["segment"]: s for s in body["segments"]}
    assert body["accounts"] == stored
    assert by_segment["high"]["accounts"] == AccountRisk.objects.filter(segment="high").count()
    listing = as_manager.get("/api/insights/offboarding").json()
    accounts = [item["account_id"] for item in listing["items"]]
    assert set(accounts) == {"repeat", "ring-a", "ring-b", "ring-c", "tester", "mostly-high"}
    ring_c = next(i for i in listing["items"] if i["account_id"] == "ring-c")
    assert ring_c["reasons"]["offboard"][0]["code"] == "ring_hub"


def test_manager_offboards_and_keeps_accounts_audited(stored, as_manager):
    done = as_manager.post("/api/insights/accounts/ring-c/decision", {"decision": "offboarded", "note": "ring hub"}, format="json")
    assert done.status_code == 200 and done.json()["decision"] == "offboarded"
    as_manager.post("/api/insights/accounts/tester/decision", {"decision": "kept"}, format="json")
    pending = {i["account_id"] for i in as_manager.get("/api/insights/offboarding").json()["items"]}
    assert pending == {"repeat", "ring-a", "ring-b", "mostly-high"}
    kept = as_manager.get("/api/insights/offboarding", {"decision": "kept"}).json()["items"]
    assert [i["account_id"] for i in kept] == ["tester"] and kept[0]["decided_by"] == "mona-manager"
    segments = {s["segment"]: s for s in as_manager.get("/api/insights/accounts/segments").json()["segments"]}
    assert segments["medium"]["offboarded"] == 1  # ring-c: 2 points for its ring links
    assert segments["medium"]["kept"] == 1  # tester: failed payments and one high-risk event
    entry = AuditEntry.objects.get(action="account_offboarded")
    assert entry.object_id == "ring-c" and entry.detail["note"] == "ring hub" and entry.actor.username == "mona-manager"
    # A refresh re-profiles the account but keeps the manager's decision.
    account_risk_refresh()
    assert AccountRisk.objects.get(account_id="ring-c").decision == "offboarded"
    missing = as_manager.post("/api/insights/accounts/nobody/decision", {"decision": "kept"}, format="json")
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "account_id"
    wrong = as_manager.post("/api/insights/accounts/tester/decision", {"decision": "delete"}, format="json")
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["field"] == "decision"


def test_offboarding_csv_export(stored, as_manager):
    response = as_manager.get("/api/insights/offboarding.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {r["account_id"] for r in rows} == {"repeat", "ring-a", "ring-b", "ring-c", "tester", "mostly-high"}
    assert "linked to 3 flagged accounts" in next(r for r in rows if r["account_id"] == "ring-c")["offboard_reasons"]
