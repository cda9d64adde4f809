"""Work states: escalation with a reason and an assignee, managers assigning, snoozing until a
time, and round-robin assignment to the reviewers on shift."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from tests.support.cases import make_case
from tests.support.factories import signed_in
from triage import tasks, workflow
from triage.models import CaseComment, Decision, Score

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(api_client_and_key):
    client = api_client_and_key[0]
    now = timezone.now()
    return {
        "a1": make_case(client, "a-1", account="acct-a", tier="high", loss=400.0, when=now - timedelta(hours=1)),
        "a2": make_case(client, "a-2", account="acct-a", tier="medium", loss=40.0, when=now - timedelta(hours=2)),
        "b1": make_case(client, "b-1", account="acct-b", tier="high", loss=300.0, when=now - timedelta(hours=1)),
        "c1": make_case(client, "c-1", account="acct-c", tier="high", loss=200.0, when=now - timedelta(hours=1)),
    }


def _status(txn) -> Score:
    return Score.objects.select_related("assigned_to").get(pk=txn.pk)


def _escalate(desk, txn, **body):
    return desk.post(f"/api/cases/{txn.pk}/decision", {"verdict": "escalate", **body}, format="json")


# --------------------------------------------------------------------------- escalation


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "note"),
        ({"note": "   "}, "note"),
        ({"note": "issuer to confirm", "assignee": "nobody-by-that-name"}, "assignee"),
        ({"note": "issuer to confirm", "assignee": "oscar-outsider"}, "assignee"),  # no reviewer role
    ],
)
def test_an_escalation_needs_a_reason_and_a_real_assignee(reviewer, outsider, world, body, field):
    response = _escalate(signed_in(reviewer), world["a1"], **body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert _status(world["a1"]).review_status == "open" and not Decision.objects.exists()


def test_only_an_escalation_names_an_assignee(reviewer, second_reviewer, world):
    response = signed_in(reviewer).post(
        f"/api/cases/{world['a1'].pk}/decision",
        {"verdict": "flag", "disposition": "stolen_card", "assignee": second_reviewer.username}, format="json",
    )
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "assignee"


def test_an_escalation_with_an_assignee_is_theirs_to_decide(reviewer, second_reviewer, manager, world):
    desk = signed_in(reviewer)
    response = _escalate(desk, world["a1"], note="card issuer to confirm", assignee=second_reviewer.username, scope="case")
    assert response.status_code == 201, response.content
    for key in ("a1", "a2"):  # the account's whole case
        score = _status(world[key])
        assert score.review_status == "escalated" and score.assigned_to == second_reviewer
    escalated = desk.get("/api/queue", {"status": "escalated", "view": "accounts"}).json()
    assert [(i["account_id"], i["assigned_to"], i["alerts"]) for i in escalated["items"]] == [("acct-a", second_reviewer.username, 2)]
    entry = AuditEntry.objects.filter(action="decision", object_id=str(world["a1"].pk)).get()
    assert entry.detail["note"] == "card issuer to confirm" and entry.detail["assignee"] == second_reviewer.username

    # Someone else cannot decide it; the assignee can.
    refused = desk.post(f"/api/cases/{world['a1'].pk}/decision",
                        {"verdict": "clear", "disposition": "customer_confirmed", "expected_status": "escalated"}, format="json")
    assert refused.status_code == 409 and second_reviewer.username in refused.json()["errors"][0]["message"]
    decided = signed_in(second_reviewer).post(
        f"/api/cases/{world['a1'].pk}/decision",
        {"verdict": "flag", "disposition": "stolen_card", "expected_status": "escalated", "scope": "case"}, format="json",
    )
    assert decided.status_code == 201 and decided.json()["decided"] == sorted([world["a1"].pk, world["a2"].pk])
    assert _status(world["a1"]).review_status == "flagged"


def test_a_manager_decides_a_case_assigned_to_someone_else(reviewer, second_reviewer, manager, world):
    _escalate(signed_in(reviewer), world["b1"], note="looks like a ring", assignee=second_reviewer.username)
    response = signed_in(manager).post(
        f"/api/cases/{world['b1'].pk}/decision",
        {"verdict": "flag", "disposition": "ring", "expected_status": "escalated"}, format="json",
    )
    assert response.status_code == 201, response.content


def test_undoing_an_escalation_takes_the_assignment_back(reviewer, second_reviewer, world):
    desk = signed_in(reviewer)
    _escalate(desk, world["b1"], note="second opinion", assignee=second_reviewer.username)
    assert desk.post(f"/api/cases/{world['b1'].pk}/undo").status_code == 200
    score = _status(world["b1"])
    assert score.review_status == "open" and score.assigned_to is None and score.claimed_by == reviewer


# --------------------------------------------------------------------------- assignment


def test_managers_assign_reassign_and_unassign_a_case(reviewer, second_reviewer, manager, world):
    boss = signed_in(manager)
    url = f"/api/cases/{world['a1'].pk}/assign"
    response = boss.post(url, {"assignee": reviewer.username, "note": "you know this merchant"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["assigned_to"] == reviewer.username and body["transaction_ids"] == sorted([world["a1"].pk, world["a2"].pk])
    assert _status(world["a2"]).assigned_to == reviewer  # the whole account's case

    # A reviewer's "assigned to me" list, and cases assigned to nobody.
    mine = signed_in(reviewer).get("/api/queue", {"tier": "high", "assignee": "me"}).json()
    assert [i["event_id"] for i in mine["items"]] == ["a-1"] and mine["items"][0]["assigned_to"] == reviewer.username
    theirs = signed_in(second_reviewer).get("/api/queue", {"tier": "high", "assignee": "me"}).json()
    assert theirs["items"] == [] and theirs["counts"]["high"] == 0
    nobody = signed_in(reviewer).get("/api/queue", {"tier": "high", "assignee": "-"}).json()
    assert [i["event_id"] for i in nobody["items"]] == ["b-1", "c-1"]

    # The others cannot take it; its assignee can.
    assert signed_in(second_reviewer).post(f"/api/cases/{world['a1'].pk}/claim").status_code == 409
    assert signed_in(reviewer).post(f"/api/cases/{world['a1'].pk}/claim").status_code == 200

    # Reassigned: the old holder's claim goes, the new assignee may take it.
    moved = boss.post(url, {"assignee": second_reviewer.username}, format="json")
    assert moved.status_code == 200
    score = _status(world["a1"])
    assert score.assigned_to == second_reviewer and score.claimed_by is None
    assert signed_in(second_reviewer).post(f"/api/cases/{world['a1'].pk}/claim").status_code == 200
    entry = AuditEntry.objects.filter(action="case_assigned").order_by("-pk").first()
    assert entry.detail["assignee"] == second_reviewer.username and entry.detail["previous"] == [reviewer.username]

    cleared = boss.post(url, {"assignee": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["assigned_to"] is None
    assert AuditEntry.objects.filter(action="case_unassigned").exists()


def test_assigning_is_for_managers_and_names_real_reviewers(reviewer, manager, world):
    url = f"/api/cases/{world['b1'].pk}/assign"
    assert signed_in(reviewer).post(url, {"assignee": reviewer.username}, format="json").status_code == 403
    unknown = signed_in(manager).post(url, {"assignee": "ghost"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "assignee"
    assert signed_in(manager).post("/api/cases/999999/assign", {"assignee": reviewer.username}, format="json").status_code == 404
    assert _status(world["b1"]).assigned_to is None


def test_a_decided_case_is_not_assigned(reviewer, manager, world):
    signed_in(reviewer).post(f"/api/cases/{world['c1'].pk}/decision", {"verdict": "clear", "disposition": "customer_confirmed"}, format="json")
    response = signed_in(manager).post(f"/api/cases/{world['c1'].pk}/assign", {"assignee": reviewer.username}, format="json")
    assert response.status_code == 409


def test_next_case_hands_out_my_assigned_cases_first_and_never_someone_elses(reviewer, second_reviewer, manager, world):
    boss = signed_in(manager)
    boss.post(f"/api/cases/{world['c1'].pk}/assign", {"assignee": reviewer.username}, format="json")
    boss.post(f"/api/cases/{world['a1'].pk}/assign", {"assignee": second_reviewer.username}, format="json")
    # c-1 (200) is below b-1 (300) and a-1 (400) by expected loss, but it is rita's.
    first = signed_in(reviewer).post("/api/queue/next").json()["case"]
    assert first["event_id"] == "c-1"
    second = signed_in(reviewer).post(f"/api/queue/next?skip={first['transaction_id']}").json()["case"]
    assert second["event_id"] == "b-1"  # a-1 is sam's


# --------------------------------------------------------------------------- snooze


@pytest.mark.parametrize("hours, field", [(-1, "until"), (24 * 31, "until")])
def test_a_snooze_ends_in_the_next_thirty_days(reviewer, world, hours, field):
    until = (timezone.now() + timedelta(hours=hours)).isoformat()
    response = signed_in(reviewer).post(f"/api/cases/{world['b1'].pk}/snooze", {"until": until}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == field
    assert _status(world["b1"]).review_status == "open"


def test_a_bad_snooze_time_is_a_400_naming_the_field(reviewer, world):
    response = signed_in(reviewer).post(f"/api/cases/{world['b1'].pk}/snooze", {"until": "after lunch"}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "until"


def test_a_snoozed_case_leaves_the_queue_and_comes_back_open(reviewer, world):
    desk = signed_in(reviewer)
    until = timezone.now() + timedelta(hours=2)
    response = desk.post(f"/api/cases/{world['a1'].pk}/snooze",
                         {"until": until.isoformat(), "note": "customer calls back at 3"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["review_status"] == "snoozed" and len(response.json()["transaction_ids"]) == 2
    high = desk.get("/api/queue", {"tier": "high"}).json()
    assert "a-1" not in [i["event_id"] for i in high["items"]] and high["counts"]["snoozed"] == 2
    snoozed = desk.get("/api/queue", {"status": "snoozed"}).json()
    assert [i["event_id"] for i in snoozed["items"]] == ["a-1", "a-2"] and snoozed["items"][0]["snoozed_until"]
    # What it waits on is in the case's comments.
    assert "customer calls back at 3" in CaseComment.objects.get(transaction_id=world["a1"].pk).body
    # Not handed out by "Next" while snoozed.
    assert desk.post("/api/queue/next").json()["case"]["event_id"] == "b-1"

    # Its time comes: the minute's task opens it again.
    assert tasks.wake_snoozed_cases() == "woke 0"
    Score.objects.filter(pk__in=[world["a1"].pk, world["a2"].pk]).update(snoozed_until=timezone.now() - timedelta(seconds=1))
    assert tasks.wake_snoozed_cases() == "woke 2"
    score = _status(world["a1"])
    assert score.review_status == "open" and score.snoozed_until is None
    assert AuditEntry.objects.filter(action="snooze_ended").exists()


def test_a_snooze_can_be_ended_early_and_a_snoozed_case_decided(reviewer, world):
    desk = signed_in(reviewer)
    until = (timezone.now() + timedelta(days=1)).isoformat()
    desk.post(f"/api/cases/{world['b1'].pk}/snooze", {"until": until}, format="json")
    woken = desk.delete(f"/api/cases/{world['b1'].pk}/snooze", {}, format="json")
    assert woken.status_code == 200 and woken.json()["review_status"] == "open"
    assert desk.delete(f"/api/cases/{world['b1'].pk}/snooze", {}, format="json").status_code == 409  # not snoozed
    desk.post(f"/api/cases/{world['c1'].pk}/snooze", {"until": until}, format="json")
    decided = desk.post(f"/api/cases/{world['c1'].pk}/decision",
                        {"verdict": "clear", "disposition": "customer_confirmed", "expected_status": "snoozed"}, format="json")
    assert decided.status_code == 201
    assert _status(world["c1"]).review_status == "cleared" and _status(world["c1"]).snoozed_until is None


def test_only_an_open_case_nobody_else_holds_is_snoozed(reviewer, second_reviewer, world):
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    signed_in(second_reviewer).post(f"/api/cases/{world['b1'].pk}/claim")
    held = signed_in(reviewer).post(f"/api/cases/{world['b1'].pk}/snooze", {"until": until}, format="json")
    assert held.status_code == 409 and second_reviewer.username in held.json()["errors"][0]["message"]
    _escalate(signed_in(reviewer), world["c1"], note="issuer")
    escalated = signed_in(reviewer).post(f"/api/cases/{world['c1'].pk}/snooze", {"until": until}, format="json")
    assert escalated.status_code == 409


# --------------------------------------------------------------------------- shifts and round-robin


def test_round_robin_gives_each_on_shift_reviewer_cases_in_turn(reviewer, second_reviewer, manager, world, settings):
    settings.AUTO_ASSIGN_TIERS = ["high"]
    assert signed_in(reviewer).put("/api/me/shift", {"on_shift": True}, format="json").json() == {"on_shift": True}
    signed_in(second_reviewer).put("/api/me/shift", {"on_shift": True}, format="json")
    assert tasks.assign_open_cases() == "assigned 3"
    owners = {key: _status(txn).assigned_to.username for key, txn in world.items()}
    # A case is an account: a-2 goes with a-1. Three accounts over two reviewers: 2 and 1.
    assert owners["a1"] == owners["a2"]
    assert sorted([owners["a1"], owners["b1"], owners["c1"]].count(u.username) for u in (reviewer, second_reviewer)) == [1, 2]
    assert tasks.assign_open_cases() == "assigned 0"  # nothing left unassigned
    listed = {r["username"]: r for r in signed_in(reviewer).get("/api/reviewers").json()["results"]}
    assert listed[reviewer.username]["on_shift"] and listed[manager.username]["on_shift"] is False
    assert listed[reviewer.username]["assigned"] + listed[second_reviewer.username]["assigned"] == 4


def test_round_robin_skips_reviewers_off_shift_and_is_off_by_default(reviewer, second_reviewer, world, settings):
    signed_in(reviewer).put("/api/me/shift", {"on_shift": True}, format="json")
    settings.AUTO_ASSIGN_TIERS = []
    assert tasks.assign_open_cases() == "assigned 0"
    settings.AUTO_ASSIGN_TIERS = ["high"]
    signed_in(reviewer).put("/api/me/shift", {"on_shift": False}, format="json")
    assert signed_in(reviewer).get("/api/me/shift").json() == {"on_shift": False}
    assert tasks.assign_open_cases() == "assigned 0"
    signed_in(second_reviewer).put("/api/me/shift", {"on_shift": True}, format="json")
    assert tasks.assign_open_cases() == "assigned 3"
    assert set(Score.objects.exclude(assigned_to=None).values_list("assigned_to__username", flat=True)) == {second_reviewer.username}
    assert AuditEntry.objects.filter(action="shift_ended", object_id=reviewer.username).exists()


def test_round_robin_leaves_a_case_someone_is_working(reviewer, second_reviewer, world, settings):
    settings.AUTO_ASSIGN_TIERS = ["high"]
    signed_in(second_reviewer).post(f"/api/cases/{world['b1'].pk}/claim")
    workflow.shift_set(user=reviewer, on_shift=True)
    tasks.assign_open_cases()
    assert _status(world["b1"]).assigned_to is None
    assert _status(world["c1"]).assigned_to == reviewer
