"""How the model had scored what reviewers decided, broken down by reason code."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser import SCREENSHOTS, log_in
from tests.support.cases import make_case
from tests.support.factories import signed_in
from triage.services import decision_record, decision_undo


def _decided(client, reviewer):
    # Stolen cards the model put high; first-party fraud it put low; one false alarm high.
    for i in range(3):
        txn = make_case(client, f"s-{i}", account=f"a-s{i}", tier="high")
        decision_record(transaction_id=txn.pk, reviewer=reviewer, verdict="flag", disposition="stolen_card")
    for i in range(2):
        txn = make_case(client, f"f-{i}", account=f"a-f{i}", tier="low")
        decision_record(transaction_id=txn.pk, reviewer=reviewer, verdict="flag", disposition="first_party")
    txn = make_case(client, "c-0", account="a-c0", tier="high")
    decision_record(transaction_id=txn.pk, reviewer=reviewer, verdict="clear", disposition="customer_confirmed")
    # Escalations say nothing yet, and an undone decision no longer stands.
    txn = make_case(client, "e-0", account="a-e0", tier="high")
    decision_record(transaction_id=txn.pk, reviewer=reviewer, verdict="escalate", note="issuer")
    txn = make_case(client, "u-0", account="a-u0", tier="medium")
    decision_record(transaction_id=txn.pk, reviewer=reviewer, verdict="flag", disposition="stolen_card")
    decision_undo(transaction_id=txn.pk, reviewer=reviewer)


@pytest.mark.django_db
def test_each_reason_says_how_the_model_had_tiered_its_cases(api_client_and_key, reviewer, manager):
    _decided(api_client_and_key[0], reviewer)
    body = signed_in(manager).get("/api/models/by-reason").json()
    by_code = {r["code"]: r for r in body["reasons"]}
    assert set(by_code) == {"stolen_card", "first_party", "customer_confirmed"}
    assert by_code["stolen_card"]["cases"] == 3 and by_code["stolen_card"]["tiers"]["high"] == 1.0
    assert by_code["first_party"]["tiers"] == {"high": 0.0, "medium": 0.0, "low": 1.0}
    assert by_code["first_party"]["median_risk_score"] == 10.0
    assert by_code["customer_confirmed"]["verdict"] == "clear" and by_code["customer_confirmed"]["tiers"]["high"] == 1.0
    assert signed_in(reviewer).get("/api/models/by-reason").status_code == 403
    bad = signed_in(manager).get("/api/models/by-reason", {"days": "forever"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "days"


@pytest.mark.django_db(transaction=True)
def test_the_models_page_draws_the_reasons(page, live_server, manager, reviewer, api_client_and_key):
    _decided(api_client_and_key[0], reviewer)
    log_in(page, live_server, manager, path="/models/")
    rows = page.locator("#by-reason tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#by-reason")).to_contain_text("First-party fraud")
    expect(rows.filter(has_text="First-party")).to_contain_text("100 %")
    expect(page.locator("#by-reason-chart svg g.reason")).to_have_count(3)
    expect(page.locator("#by-reason-summary")).to_contain_text("6 cases")
    page.locator("#by-reason-chart").screenshot(path=str(SCREENSHOTS / "models-by-reason.png"))
    assert page.console_errors == []
