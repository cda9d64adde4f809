"""Comments on a case: a thread per case, edits keep the earlier wording, all audited."""
from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone

import pytest
from playwright.sync_api import expect
from rest_framework.test import APIClient

from audit.models import AuditEntry
from tests.support.browser import SCREENSHOTS
from tests.support.factories import DEMO_PASSWORD, signed_in
from triage.models import CaseComment, Score, Transaction

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=dt_timezone.utc)


def _case(sender) -> int:
    txn = Transaction.objects.create(client=sender, event_id="c-1", account_id="acct-1", timestamp=T0, event_type="payment",
                                     amount=120, currency="USD")
    Score.objects.create(transaction=txn, probability=0.6, risk_score=85, tier="high", expected_loss=72,
                         model_version_name="v-test", features={})
    return txn.pk



@pytest.mark.django_db
def test_comments_thread_edit_history_and_audit(reviewer, second_reviewer, api_client_and_key):
    case = _case(api_client_and_key[0])
    rita, sam = signed_in(reviewer), signed_in(second_reviewer)
    first = rita.post(f"/api/cases/{case}/comments", {"body": "  Called the customer: no answer.  "}, format="json")
    assert first.status_code == 201 and first.json()["body"] == "Called the customer: no answer."
    assert sam.post(f"/api/cases/{case}/comments", {"body": "Same device as last week's ring."}, format="json").status_code == 201
    thread = sam.get(f"/api/cases/{case}/comments").json()["results"]
    assert [(c["author"], c["body"]) for c in thread] == [
        ("rita-reviewer", "Called the customer: no answer."), ("sam-reviewer", "Same device as last week's ring.")]

    comment = first.json()["id"]
    edited = rita.patch(f"/api/cases/{case}/comments/{comment}", {"body": "Called the customer: confirmed it was them."}, format="json")
    assert edited.status_code == 200
    assert edited.json()["body"] == "Called the customer: confirmed it was them." and edited.json()["edited_at"]
    assert [h["body"] for h in edited.json()["history"]] == ["Called the customer: no answer."]
    # The same words again change nothing and log nothing.
    assert rita.patch(f"/api/cases/{case}/comments/{comment}", {"body": "Called the customer: confirmed it was them."},
                      format="json").json()["history"] == edited.json()["history"]
    assert list(AuditEntry.objects.filter(object_type="transaction", object_id=str(case)).order_by("id").values_list("action", flat=True)) == [
        "comment", "comment", "comment_edited"]


@pytest.mark.django_db
def test_comment_refusals_name_the_field_and_change_nothing(reviewer, second_reviewer, outsider, api_client_and_key):
    case = _case(api_client_and_key[0])
    rita = signed_in(reviewer)
    blank = rita.post(f"/api/cases/{case}/comments", {"body": "   "}, format="json")
    assert blank.status_code == 400 and blank.json()["errors"][0]["field"] == "body"
    long = rita.post(f"/api/cases/{case}/comments", {"body": "x" * 5001}, format="json")
    assert long.status_code == 400 and "5,000" in long.json()["errors"][0]["message"]
    assert rita.post("/api/cases/999999/comments", {"body": "hello"}, format="json").status_code == 404
    comment = rita.post(f"/api/cases/{case}/comments", {"body": "mine"}, format="json").json()["id"]
    theirs = signed_in(second_reviewer).patch(f"/api/cases/{case}/comments/{comment}", {"body": "not mine"}, format="json")
    assert theirs.status_code == 403
    assert signed_in(outsider).get(f"/api/cases/{case}/comments").status_code == 403
    assert APIClient().get(f"/api/cases/{case}/comments").status_code in (401, 403)
    assert list(CaseComment.objects.values_list("body", flat=True)) == ["mine"]


@pytest.mark.django_db(transaction=True)
def test_a_reviewer_comments_and_edits_on_the_case_page(page, live_server, reviewer, api_client_and_key):
    case = _case(api_client_and_key[0])
    page.goto(f"{live_server.url}/cases/{case}/")
    page.fill("#id_username", reviewer.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#comments")).to_contain_text("No comments yet.")
    page.fill("#comment-body", "<b>Card reported stolen</b> by the bank")
    page.keyboard.press("f")  # typing in the box is not the flag shortcut
    page.click("#comment-form button[type=submit]")
    comment = page.locator("#comments li.comment")
    expect(comment).to_have_count(1)
    expect(comment.locator(".comment-body")).to_have_text("<b>Card reported stolen</b> by the bankf")
    assert Score.objects.get(pk=case).review_status == "open"
    comment.locator("button.edit-comment").click()
    comment.locator("textarea").fill("Card reported stolen by the bank on Nov 19")
    comment.locator("button[type=submit]").click()
    expect(comment.locator(".comment-body")).to_have_text("Card reported stolen by the bank on Nov 19")
    expect(comment.locator("summary")).to_have_text("1 earlier wording")
    expect(page.locator("#comments")).not_to_contain_text("No comments yet.")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("section.comments").screenshot(path=str(SCREENSHOTS / "case-comments.png"))
    assert page.console_errors == []
