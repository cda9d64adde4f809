"""The managers' dashboard tells the truth about time: periods follow the clock, every panel
counts reviewers' work by decision time, and ages are measured from the event."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from insights.rollups import rollups_refresh
from tests.support.insights_worlds import add_event
from triage.services import decision_record


@pytest.fixture
def as_manager(manager):
    client = APIClient()
    client.force_login(manager)
    return client


def _today():
    return timezone.now().date().isoformat()


# --------------------------------------------------------------------------- 1. the period


def test_the_period_ends_today_and_says_when_the_data_is_older(api_client_and_key, as_manager):
    client = api_client_and_key[0]
    # Morning, so both events (an hour apart) fall on one day whatever the hour now.
    old = (timezone.now() - timedelta(days=45)).replace(hour=8, minute=0, second=0, microsecond=0)
    add_event(client, "old-1", old, amount=20, is_fraud=True, score=90, tier="high")
    add_event(client, "old-2", old + timedelta(hours=1), amount=30, is_fraud=False, score=20, tier="low")
    rollups_refresh()
    body = as_manager.get("/api/insights/trends", {"period": "30d", "tz": "UTC"}).json()
    assert body["period"]["end"] == _today()
    assert body["coverage"]["older_than_period"] is True
    assert body["coverage"]["message"] == f"newest event: {old.date().isoformat()}, older than this period"
    # The same period can still be asked for where the data is.
    body = as_manager.get("/api/insights/heatmap", {"period": "30d", "end": old.date().isoformat()}).json()
    assert sum(c["events"] for c in body["cells"]) == 2 and body["coverage"]["older_than_period"] is False


def test_one_later_event_does_not_move_the_period(api_client_and_key, as_manager):
    client = api_client_and_key[0]
    now = timezone.now()
    for i in range(3):
        add_event(client, f"recent-{i}", now - timedelta(days=5, hours=i), amount=10, is_fraud=i == 0, score=85, tier="high")
    rollups_refresh()
    before = as_manager.get("/api/insights/heatmap", {"period": "30d"}).json()
    # An event posted with a date after everything else (the README's example does this).
    add_event(client, "later", now + timedelta(days=20), amount=99)
    rollups_refresh()
    after = as_manager.get("/api/insights/heatmap", {"period": "30d"}).json()
    assert after["period"] == before["period"] and after["period"]["end"] == _today()
    assert sum(c["events"] for c in after["cells"]) == 3
    assert sum(c["labeled"] for c in after["cells"]) == 3


# --------------------------------------------------------------------------- 2. one time base


def test_decisions_made_now_on_old_events_count_on_every_panel(api_client_and_key, reviewer, as_manager):
    client = api_client_and_key[0]
    # Morning, so the three events (over three hours) fall on one day whatever the hour now.
    old = (timezone.now() - timedelta(days=60)).replace(hour=8, minute=0, second=0, microsecond=0)
    fraud = add_event(client, "old-fraud", old, amount=120, score=92, tier="high", expected_loss=110)
    legit = add_event(client, "old-legit", old + timedelta(hours=2), amount=40, score=88, tier="high", expected_loss=35)
    add_event(client, "old-open", old + timedelta(hours=3), amount=15, score=60, tier="medium", expected_loss=9)
    decision_record(transaction_id=fraud.pk, reviewer=reviewer, verdict="flag", disposition="stolen_card")
    decision_record(transaction_id=legit.pk, reviewer=reviewer, verdict="clear", disposition="customer_confirmed")
    rollups_refresh()
    params = {"period": "30d", "tz": "UTC"}

    team = as_manager.get("/api/insights/team", params).json()
    assert team["time_base"] == "decision time"
    assert team["time_to_decision"]["decisions"] == 2 and team["cases_decided"] == 2
    assert team["decisions"] == [{"day": _today(), "reviewer": "rita-reviewer", "decisions": 2}]

    roi = as_manager.get("/api/insights/roi", params).json()
    assert roi["time_base"] == "decision time"
    assert roi["counts"]["reviews"] == 2 and roi["counts"]["caught"] == 1 and roi["counts"]["false_positives"] == 1
    assert roi["counts"]["caught_amount"] == 120.0

    health = as_manager.get("/api/insights/model-health", params).json()
    high = next(p for p in health["precision"] if p["tier"] == "high")
    assert (high["flagged"], high["cleared"], high["precision"]) == (1, 1, 0.5)

    trends = as_manager.get("/api/insights/trends", params).json()
    assert trends["time_base"]["flagged"] == "decision time"
    assert trends["totals"]["flagged"] == 1
    flagged_days = {(r["day"], r["tier"]) for r in trends["series"] if r["flagged"]}
    assert flagged_days == {(_today(), "high")}

    # The period of the events themselves shows their volume but none of today's work.
    then = {"period": "7d", "tz": "UTC", "end": old.date().isoformat()}
    assert as_manager.get("/api/insights/roi", then).json()["counts"]["reviews"] == 0
    assert as_manager.get("/api/insights/team", then).json()["time_to_decision"]["decisions"] == 0
    assert as_manager.get("/api/insights/trends", then).json()["totals"]["events"] == 3


def test_an_undone_decision_leaves_every_panel(api_client_and_key, reviewer, as_manager):
    from triage.services import decision_undo

    client = api_client_and_key[0]
    txn = add_event(client, "undo-me", timezone.now() - timedelta(days=3), amount=50, score=90, tier="high")
    decision_record(transaction_id=txn.pk, reviewer=reviewer, verdict="flag", disposition="stolen_card")
    decision_undo(transaction_id=txn.pk, reviewer=reviewer)
    params = {"period": "30d"}
    assert as_manager.get("/api/insights/team", params).json()["time_to_decision"]["decisions"] == 0
    assert as_manager.get("/api/insights/roi", params).json()["counts"]["reviews"] == 0


# --------------------------------------------------------------------------- 3. oldest open high case


def test_the_oldest_open_high_case_is_aged_from_its_event(api_client_and_key, as_manager):
    client = api_client_and_key[0]
    now = timezone.now()
    # Scored a moment ago (a replay or a backfill), but the event is three weeks old.
    add_event(client, "weeks-old", now - timedelta(days=21), amount=80, score=95, tier="high", expected_loss=76)
    add_event(client, "fresh", now - timedelta(hours=1), amount=80, score=91, tier="high", expected_loss=73)
    add_event(client, "older-but-low", now - timedelta(days=30), amount=5, score=10, tier="low")
    oldest = as_manager.get("/api/insights/team", {"period": "7d"}).json()["oldest_open_high"]
    assert oldest["measured_from"] == "event time" and oldest["open_high_cases"] == 2
    assert oldest["age_seconds"] == pytest.approx(21 * 86400, abs=120)
    assert oldest["queued_seconds"] < 120


# --------------------------------------------------------------------------- 6. PSI reference


def test_a_freshly_trained_and_promoted_model_has_a_psi_reference(
    api_client_and_key, service, as_manager, django_capture_on_commit_callbacks
):
    from learning.lifecycle import model_version_promote, model_version_register
    from learning.models import DriftReference
    from scoring.store.events import events_load
    from tests.support.factories import small_world, trained_result
    from tests.support.worlds import score_all
    world = small_world()
    events_load(frame=world[world["period"] == "history"], client=api_client_and_key[0])
    # What `manage.py train` does: register the version, promote it.
    with django_capture_on_commit_callbacks(execute=True):
        champion = model_version_promote(version=model_version_register(result=trained_result()), actor=None)
    reference = DriftReference.objects.get(model_version=champion)
    assert reference.rows > 1000 and "score" in reference.bins and reference.bins["features"]

    live = world[world["period"] == "unlabeled"].head(300)
    score_all(service, live)
    drift = as_manager.get("/api/insights/model-health", {"period": "30d"}).json()["drift"]
    assert drift["source"] == "reference" and drift["model_version"] == champion.name
    assert drift["scores"] == 300 and drift["psi"] is not None and drift["status"] in ("stable", "watch", "shifted")


# --------------------------------------------------------------------------- 4. segments


def test_segments_say_what_they_mean_in_the_configured_thresholds(api_client_and_key, as_manager, settings):
    from insights.accounts import account_risk_refresh

    settings.INSIGHTS_HIGH_SCORE = 75
    client = api_client_and_key[0]
    now = timezone.now() - timedelta(days=2)
    # A taken-over customer: one confirmed fraud in the past, low scores since.
    add_event(client, "victim-fraud", now - timedelta(days=20), account="victim", amount=300, is_fraud=True)
    add_event(client, "victim-now", now, account="victim", amount=20, score=12, tier="low")
    # An account the model sees as risky now, with no confirmed fraud: medium.
    for i in range(3):
        add_event(client, f"risky-{i}", now + timedelta(minutes=i), account="risky", amount=50, score=95, tier="high")
    account_risk_refresh()
    body = as_manager.get("/api/insights/accounts/segments").json()
    segments = {s["segment"]: s for s in body["segments"]}
    assert segments["high"]["accounts"] == 1 and segments["medium"]["accounts"] == 1
    # The inversion a newcomer reads as a bug, and the page's explanation of it.
    assert segments["high"]["avg_max_score"] < segments["medium"]["avg_max_score"]
    assert "confirmed fraud" in segments["high"]["meaning"] and "current scores may be low" in segments["high"]["meaning"]
    assert "score ≥ 75" in segments["medium"]["meaning"]
    assert "ring link 2" in body["points"]


# --------------------------------------------------------------------------- 7. a retraining, followed


def _run(**fields):
    from learning.models import TrainingRun

    return TrainingRun.objects.create(trigger="manual", **fields)


def test_a_training_run_says_where_it_stands(as_manager):
    from learning.models import TrainingRun

    queued = _run()
    body = as_manager.get(f"/api/models/runs/{queued.pk}").json()
    assert body["progress"]["stage"] == "queued" and body["verdict"] is None
    started = timezone.now() - timedelta(seconds=75)
    TrainingRun.objects.filter(pk=queued.pk).update(status="running", started_at=started)
    body = as_manager.get(f"/api/models/runs/{queued.pk}").json()
    assert body["progress"]["stage"] == "running"
    assert body["progress"]["elapsed_seconds"] == pytest.approx(75, abs=10)
    assert as_manager.get("/api/models/runs/999999").status_code == 404


def test_a_kept_challenger_better_on_two_metrics_names_the_deciding_one(as_manager, settings):
    settings.RETRAIN_MIN_AP_GAIN = 0.01
    settings.RETRAIN_BRIER_TOLERANCE = 0.002
    reason = ("not better by the required margin: average precision 0.6140 vs 0.6100 (+0.0040, needs +0.0100); "
              "Brier 0.0310 vs 0.0300; calibration error 0.0100 vs 0.0200")
    now = timezone.now()
    run = _run(status="kept", started_at=now - timedelta(seconds=200), finished_at=now, reason=reason,
               champion_metrics={"average_precision": 0.61, "brier": 0.030, "ece": 0.020},
               challenger_metrics={"average_precision": 0.614, "brier": 0.031, "ece": 0.010})
    body = as_manager.get(f"/api/models/runs/{run.pk}").json()
    assert body["progress"]["stage"] == "finished" and body["progress"]["took_seconds"] == pytest.approx(200, abs=1)
    verdict = body["verdict"]
    assert verdict["promoted"] is False and verdict["text"] == reason
    assert verdict["deciding_metric"] == "average precision" and verdict["passed"] is False
    assert verdict["margin"] == pytest.approx(0.004) and verdict["required"] == 0.01
    assert [m["challenger_better"] for m in verdict["metrics"]] == [True, False, True]


def test_worse_calibration_decides_when_the_gain_is_enough(as_manager, settings):
    settings.RETRAIN_MIN_AP_GAIN = 0.01
    settings.RETRAIN_BRIER_TOLERANCE = 0.002
    run = _run(status="kept", started_at=timezone.now(), finished_at=timezone.now(), reason="worse calibrated (Brier score)",
               champion_metrics={"average_precision": 0.60, "brier": 0.030, "ece": 0.02},
               challenger_metrics={"average_precision": 0.65, "brier": 0.035, "ece": 0.02})
    verdict = as_manager.get(f"/api/models/runs/{run.pk}").json()["verdict"]
    assert verdict["deciding_metric"] == "Brier score" and verdict["margin"] == pytest.approx(0.005)
    assert verdict["rule"] == "lose at most" and verdict["passed"] is False


def test_a_period_holding_one_late_event_says_where_the_rest_of_the_data_is(api_client_and_key, as_manager):
    # The demo's generated months end weeks ago; the README's example posts one event since.
    client = api_client_and_key[0]
    old = timezone.now() - timedelta(days=50)
    for i in range(12):
        add_event(client, f"hist-{i}", old + timedelta(hours=i), amount=10)
    add_event(client, "readme", timezone.now() - timedelta(days=3), amount=249.9)
    rollups_refresh()
    coverage = as_manager.get("/api/insights/trends", {"period": "30d", "tz": "UTC"}).json()["coverage"]
    assert coverage["older_than_period"] is False
    assert coverage["events_in_period"] == 1 and coverage["events_before_period"] == 12
    ends = (old + timedelta(hours=11)).date().isoformat()
    assert coverage["older_data_ends"] == ends
    assert coverage["message"] == f"only 1 event in this period; 12 older ones end on {ends}"
