"""Queue and decisions: roles, ordering, labels, conflicts, audit."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from tests.support.factories import DEMO_PASSWORD, event
from triage.models import Decision, Transaction

pytestmark = pytest.mark.django_db


def _login(user) -> APIClient:
    client = APIClient()
    client.login(username=user.username, password=DEMO_PASSWORD)
    return client


@pytest.fixture
def scored(service, champion):
    batch = [event(event_id=f"e{i}", account_id=f"a{i}", amount=10 ** i) for i in range(4)]
    return service.post("/score", batch, format="json").json()["results"]


def test_queue_lists_open_cases_by_expected_loss(reviewer, scored):
    body = _login(reviewer).get("/api/queue", {"tier": "low"}).json()
    losses = [item["expected_loss"] for item in body["items"]]
    assert losses == sorted(losses, reverse=True)
    assert sum(n for tier, n in body["counts"].items() if tier not in ("escalated", "snoozed")) == 4


def test_outsider_and_anonymous_see_nothing(outsider, scored):
    assert APIClient().get("/api/queue").status_code in (401, 403)
    assert _login(outsider).get("/api/queue").status_code == 403


def test_flag_stores_decision_label_and_audit(reviewer, scored):
    target = scored[0]
    txn = Transaction.objects.get(event_id=target["event_id"])
    response = _login(reviewer).post(
        f"/api/cases/{txn.pk}/decision", {"verdict": "flag", "disposition": "stolen_card", "note": "stolen card", "expected_status": "open"}, format="json"
    )
    assert response.status_code == 201, response.content
    txn.refresh_from_db()
    assert txn.is_fraud is True and txn.label_source == "review"
    assert txn.score.review_status == "flagged"
    decision = Decision.objects.get()
    assert decision.reviewer == reviewer and decision.model_version_name == target["model_version"]
    assert AuditEntry.objects.filter(action="decision", object_id=str(txn.pk)).exists()


def test_second_reviewer_gets_a_conflict(reviewer, second_reviewer, scored):
    txn = Transaction.objects.get(event_id=scored[1]["event_id"])
    url = f"/api/cases/{txn.pk}/decision"
    assert _login(reviewer).post(url, {"verdict": "clear", "disposition": "customer_confirmed", "expected_status": "open"}, format="json").status_code == 201
    late = _login(second_reviewer).post(url, {"verdict": "flag", "disposition": "stolen_card", "expected_status": "open"}, format="json")
    assert late.status_code == 409
    assert "already cleared" in late.json()["errors"][0]["message"]
    txn.refresh_from_db()
    assert txn.is_fraud is False
    assert Decision.objects.count() == 1


def test_unknown_verdict_is_a_400_naming_the_field(reviewer, scored):
    txn = Transaction.objects.get(event_id=scored[0]["event_id"])
    response = _login(reviewer).post(f"/api/cases/{txn.pk}/decision", {"verdict": "maybe"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "verdict"


def test_decision_without_csrf_token_is_refused(reviewer, scored):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username=reviewer.username, password=DEMO_PASSWORD)
    txn = Transaction.objects.get(event_id=scored[0]["event_id"])
    assert client.post(f"/api/cases/{txn.pk}/decision", {"verdict": "flag", "disposition": "stolen_card"}, format="json").status_code == 403


def test_login_is_audited(reviewer, client):
    client.post("/login/", {"username": reviewer.username, "password": DEMO_PASSWORD})
    assert AuditEntry.objects.filter(action="login", actor=reviewer).exists()
