"""Heatmap, trends and ROI against numbers worked out by hand; rollups against a rebuild."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from rest_framework.test import APIClient

from insights.models import DirtyHour, HourlyRollup
from insights.rollups import ROLLUP_KEY, ROLLUP_VALUES, rollups_rebuild, rollups_refresh
from insights.stats import roi_figures, wilson_interval
from ml.psi import psi
from tests.support.insights_worlds import add_event, hand_counted_world
from triage.models import Transaction
from triage.services import decision_record

UTC = timezone.utc
# The hand-counted world ends on Tuesday 2026-11-17 (UTC); periods end today unless told.
WORLD_END = "2026-11-17"


@pytest.fixture
def world(api_client_and_key):
    events = hand_counted_world(api_client_and_key[0])
    rollups_refresh()
    return events


@pytest.fixture
def as_manager(manager):
    client = APIClient()
    client.force_login(manager)
    return client


def cell(body, dow, hour):
    return next(c for c in body["cells"] if c["day_of_week"] == dow and c["hour"] == hour)


def test_wilson_interval_matches_the_textbook_value():
    # 1 of 2: centre 0.5, half-width 1.96·sqrt(0.125 + 0.2401) / 2.9208 = 0.40548
    low, high = wilson_interval(1, 2)
    assert low == pytest.approx(0.0945, abs=1e-4) and high == pytest.approx(0.9055, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_psi_is_zero_for_equal_histograms_and_grows_with_shift():
    assert psi([10, 20, 70], [1, 2, 7]) == pytest.approx(0.0)
    # (0.5-0.1)·ln5 + (0.5-0.9)·ln(5/9) = 0.6438 + 0.2351
    assert psi([1, 9], [5, 5]) == pytest.approx(0.8789, abs=1e-3)


def test_heatmap_counts_and_rates_in_utc(world, as_manager):
    body = as_manager.get("/api/insights/heatmap", {"period": "7d", "tz": "UTC", "end": WORLD_END}).json()
    monday_10 = cell(body, 1, 10)
    assert (monday_10["events"], monday_10["labeled"], monday_10["fraud"]) == (3, 2, 1)
    assert monday_10["fraud_rate"] == 0.5
    assert monday_10["ci_low"] == pytest.approx(0.0945, abs=1e-4)
    tuesday_23 = cell(body, 2, 23)
    assert (tuesday_23["events"], tuesday_23["labeled"], tuesday_23["fraud"]) == (2, 2, 2)
    assert sum(c["events"] for c in body["cells"]) == 5
    assert cell(body, 3, 0)["fraud_rate"] is None


def test_heatmap_moves_with_the_time_zone(world, as_manager):
    # Tokyo is UTC+9: Monday 10:xx UTC is Monday 19:xx; Tuesday 23:xx UTC is Wednesday 08:xx.
    body = as_manager.get("/api/insights/heatmap", {"period": "7d", "tz": "Asia/Tokyo", "end": "2026-11-18"}).json()
    assert cell(body, 1, 19)["events"] == 3
    assert cell(body, 3, 8)["events"] == 2
    assert cell(body, 1, 10)["events"] == 0
    # New York in November is UTC−5: Monday 05:xx and Tuesday 18:xx.
    body = as_manager.get("/api/insights/heatmap", {"period": "7d", "tz": "America/New_York", "end": WORLD_END}).json()
    assert cell(body, 1, 5)["events"] == 3 and cell(body, 2, 18)["events"] == 2


def test_daily_trends_by_tier(world, as_manager):
    body = as_manager.get("/api/insights/trends", {"period": "7d", "tz": "UTC", "end": WORLD_END}).json()
    assert body["period"] == {"start": "2026-11-11", "end": "2026-11-17", "tz": "UTC"}
    rows = {(r["day"], r["tier"]): r for r in body["series"]}
    assert rows[("2026-11-16", "high")]["flagged"] == 1
    assert rows[("2026-11-16", "high")]["money_at_risk"] == 90.0
    assert rows[("2026-11-16", "medium")]["confirmed_fraud"] == 0
    assert rows[("2026-11-17", "unscored")]["confirmed_fraud"] == 1
    assert rows[("2026-11-17", "high")]["money_at_risk"] == 40.0
    assert body["totals"] == {"events": 5, "flagged": 2, "confirmed_fraud": 3, "money_at_risk": 136.5}
    # In Tokyo the Tuesday-evening events fall on Wednesday the 18th.
    body = as_manager.get("/api/insights/trends", {"period": "7d", "tz": "Asia/Tokyo", "end": "2026-11-18"}).json()
    assert body["period"]["end"] == "2026-11-18"
    assert {r["day"] for r in body["series"]} == {"2026-11-16", "2026-11-18"}


def test_roi_from_the_hand_counted_world(world, as_manager):
    # Stopped: 100 (priced) + 1 × 50 (unpriced) = 150. Reviews: 3 × 5 = 15. Friction: 1 × 15 = 15.
    # Net: 150 − 15 − 15 = 120. ROI: 120 / 30 = 4.
    saved = as_manager.post("/api/insights/roi/assumptions", {
        "cost_per_review": 5, "friction_cost_per_false_positive": 15, "value_of_unpriced_event": 50}, format="json")
    assert saved.status_code == 200
    body = as_manager.get("/api/insights/roi", {"period": "30d"}).json()
    assert body["money_stopped"] == 150.0
    assert body["review_cost"] == 15.0 and body["friction_cost"] == 15.0
    assert body["net_savings"] == 120.0 and body["roi"] == 4.0
    assert body["counts"]["caught"] == 2 and body["counts"]["false_positives"] == 1
    assert body["assumptions"]["updated_by"] == "mona-manager"


def test_roi_assumption_change_is_audited_and_validated(world, as_manager):
    from audit.models import AuditEntry

    bad = as_manager.post("/api/insights/roi/assumptions", {
        "cost_per_review": -1, "friction_cost_per_false_positive": 15, "value_of_unpriced_event": 50}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "cost_per_review"
    as_manager.post("/api/insights/roi/assumptions", {
        "cost_per_review": 8, "friction_cost_per_false_positive": 2, "value_of_unpriced_event": 0}, format="json")
    entry = AuditEntry.objects.get(action="roi_assumptions")
    assert entry.actor.username == "mona-manager" and entry.detail["after"]["cost_per_review"] == 8
    assert roi_figures(caught_amount=100, caught_unpriced=1, reviews=3, false_positives=1, cost_per_review=8,
                       friction_cost_per_false_positive=2, value_of_unpriced_event=0)["net_savings"] == 74.0
    assert as_manager.get("/api/insights/roi", {"period": "30d"}).json()["net_savings"] == 74.0


def test_model_health_precision_per_tier(world, as_manager):
    body = as_manager.get("/api/insights/model-health", {"period": "30d"}).json()
    precision = {p["tier"]: p for p in body["precision"]}
    assert precision["high"]["precision"] == 1.0 and precision["high"]["flagged"] == 2
    assert precision["medium"]["precision"] == 0.0 and precision["medium"]["cleared"] == 1
    assert precision["low"]["precision"] is None
    days = {d["day"]: d["bands"] for d in body["score_distribution"]}
    assert days["2026-11-16"][9] == 1 and days["2026-11-16"][6] == 1 and days["2026-11-16"][1] == 1
    assert body["drift"]["psi"] is None and "no reference" in body["drift"]["message"]


def _snapshot():
    return sorted(tuple(row) for row in HourlyRollup.objects.values_list(*ROLLUP_KEY, *ROLLUP_VALUES))


def test_incremental_rollups_equal_a_full_recomputation(world, reviewer, api_client_and_key):
    client = api_client_and_key[0]
    # New events (one in a brand-new hour), a reviewer decision, a late label, a deletion.
    add_event(client, "e6", datetime(2026, 11, 16, 10, 55, tzinfo=UTC), amount=10, score=95, tier="high", expected_loss=9.5)
    add_event(client, "e7", datetime(2026, 11, 15, 3, 0, tzinfo=UTC), amount=70, score=20, tier="low", expected_loss=1.0)
    decision_record(transaction_id=world[2].pk, reviewer=reviewer, verdict="flag", disposition="stolen_card")
    Transaction.objects.filter(pk=world[1].pk).update(is_fraud=True)
    Transaction.objects.filter(event_id="e4").delete()
    assert DirtyHour.objects.exists()
    assert rollups_refresh() == 3  # 2026-11-15 03h, 11-16 10h, 11-17 23h
    assert not DirtyHour.objects.exists()
    incremental = _snapshot()
    monday = HourlyRollup.objects.filter(hour=datetime(2026, 11, 16, 10, tzinfo=UTC))
    assert sum(r.events for r in monday) == 4 and sum(r.flagged for r in monday) == 2
    rollups_rebuild()
    assert _snapshot() == incremental
    assert rollups_refresh() == 0  # running again changes nothing


def test_score_api_events_reach_the_dashboards(service, as_manager, django_capture_on_commit_callbacks):
    from tests.support.factories import event
    service.post("/score", [event(event_id="s1", timestamp="2026-11-20T10:00:00Z"),
                            event(event_id="s2", timestamp="2026-11-20T14:30:00Z")], format="json")
    assert rollups_refresh() == 2
    body = as_manager.get("/api/insights/trends", {"period": "7d", "end": "2026-11-20"}).json()
    assert body["totals"]["events"] == 2
    assert HourlyRollup.objects.filter(hour=datetime(2026, 11, 20, 14, tzinfo=UTC)).exists()


def test_a_decision_refreshes_the_rollups_after_commit(world, reviewer, as_manager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        decision_record(transaction_id=world[2].pk, reviewer=reviewer, verdict="clear", disposition="customer_confirmed")
    body = as_manager.get("/api/insights/roi", {"period": "30d"}).json()
    assert body["counts"]["false_positives"] == 2 and not DirtyHour.objects.exists()


def test_team_numbers(world, reviewer, as_manager):
    decision_record(transaction_id=world[2].pk, reviewer=reviewer, verdict="clear", disposition="customer_confirmed")
    body = as_manager.get("/api/insights/team", {"period": "7d", "end": datetime.now(UTC).date().isoformat()}).json()
    assert body["decisions"] == [{"day": datetime.now(UTC).date().isoformat(), "reviewer": "rita-reviewer", "decisions": 1}]
    assert body["time_to_decision"]["decisions"] == 1 and body["time_to_decision"]["median_seconds"] < 60
    assert body["oldest_open_high"]["open_high_cases"] == 0


def test_refresh_task_works_through_many_batches(api_client_and_key, settings):
    from insights.tasks import refresh_rollups

    settings.INSIGHTS_REFRESH_BATCH_HOURS = 2  # a large import, in miniature
    hand_counted_world(api_client_and_key[0])
    add_event(api_client_and_key[0], "e9", datetime(2026, 11, 10, 8, tzinfo=UTC))
    assert refresh_rollups() == "recomputed 3 hours"
    assert not DirtyHour.objects.exists()
    assert sum(HourlyRollup.objects.values_list("events", flat=True)) == 6


def test_model_health_shows_the_learning_loops_latest_drift_check(world, as_manager):
    from datetime import timedelta

    from learning.models import DriftCheck
    from scoring.models import ModelVersion

    champion = ModelVersion.objects.create(
        name="lgbm-drift", status=ModelVersion.Status.CHAMPION, bundle_path="/nowhere", manifest={}, metrics={}
    )
    end = datetime(2026, 11, 20, 12, tzinfo=UTC)
    DriftCheck.objects.create(
        model_version=champion, window_start=end - timedelta(hours=24), window_end=end, rows=900,
        psi={"amount": 0.31, "events_1h": 0.02, "km_from_prev_event": 0.12}, score_psi=0.18, max_psi=0.31, threshold=0.2,
    )
    drift = as_manager.get("/api/insights/model-health", {"period": "30d"}).json()["drift"]
    assert drift["source"] == "learning" and drift["model_version"] == "lgbm-drift"
    assert drift["psi"] == 0.18 and drift["status"] == "watch" and drift["window_hours"] == 24.0
    assert [f["name"] for f in drift["top_features"]] == ["amount", "km_from_prev_event", "events_1h"]
