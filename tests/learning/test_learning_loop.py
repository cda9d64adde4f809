"""Reviewer decisions feed a retraining that runs in a real worker; the verdict decides what /score uses."""
from __future__ import annotations

import time

import numpy as np
import pytest
from django.test import Client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from audit.models import AuditEntry
from learning.lifecycle import model_version_promote, model_version_register
from learning.models import ShadowScore, TrainingRun
from ml.training import DEFAULT_PARAMS, TrainingConfig, train_model
from scoring.models import ModelVersion
from scoring.store.events import events_load
from tests.support.factories import DEMO_PASSWORD, event
from tests.support.worker import celery_worker, worker_log
from tests.support.worlds import learning_world, score_all
from triage.models import Score, Transaction

# Events of the last days go through /score so reviewers can decide them; the rest is imported history.
SCORED_TAIL = 300
DECIDED = 80


def _weak_champion(history):
    """A one-split model: a champion any properly trained challenger should beat."""
    frame = history.copy()
    frame["is_fraud"] = frame["is_fraud"].astype("float64")
    params = {**DEFAULT_PARAMS, "num_leaves": 2}
    result = train_model(frame, TrainingConfig(capacity_per_day=20, max_rounds=1, early_stopping_rounds=1, params=params))
    return model_version_promote(version=model_version_register(result=result), actor=None)


def _login(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=DEMO_PASSWORD)
    return client


def stored_small_world(api_client):
    world = learning_world()
    events_load(frame=world.iloc[:-SCORED_TAIL], client=api_client)
    return world


def _decide(reviewer, world, results):
    """The reviewer flags the true frauds and clears the rest, fraud cases first."""
    truth = dict(zip(world["event_id"], world["is_fraud"]))
    ordered = sorted(results, key=lambda r: not truth[r["event_id"]])[:DECIDED]
    desk = _login(reviewer)
    ids = dict(Transaction.objects.values_list("event_id", "id"))
    codes = {"flag": "stolen_card", "clear": "customer_confirmed"}
    for result in ordered:
        verdict = "flag" if truth[result["event_id"]] else "clear"
        response = desk.post(
            f"/api/cases/{ids[result['event_id']]}/decision", {"verdict": verdict, "disposition": codes[verdict]},
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
    return sum(bool(truth[r["event_id"]]) for r in ordered)


def _wait_for_run(run_id: int, worker, seconds: float = 240) -> TrainingRun:
    deadline = time.monotonic() + seconds
    run = TrainingRun.objects.get(pk=run_id)
    while time.monotonic() < deadline and run.status in TrainingRun.ACTIVE:
        time.sleep(0.5)
        run.refresh_from_db()
    if run.status in TrainingRun.ACTIVE:
        pytest.fail(f"the worker did not finish the retraining; its log:\n{worker_log(worker)}")
    return run


@pytest.mark.slow
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_decisions_retrain_in_a_worker_promote_the_challenger_and_rollback_restores(
    settings, tmp_path, api_client_and_key, service, reviewer, manager
):
    metrics_dir = tmp_path / "worker-metrics"
    metrics_dir.mkdir()
    # The worker starts first: its start-up overlaps with storing history and reviewing.
    with celery_worker(
        settings, RETRAIN_MAX_ROUNDS="80", REVIEWER_CAPACITY_PER_DAY="20", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    ) as worker:
        world = stored_small_world(api_client_and_key[0])
        old = _weak_champion(world.iloc[:-SCORED_TAIL])
        results = score_all(service, world.iloc[-SCORED_TAIL:])
        assert {r["model_version"] for r in results} == {old.name}
        assert _decide(reviewer, world, results) > 0

        response = _login(manager).post("/api/models/retrain", content_type="application/json")
        assert response.status_code == 202, response.content
        assert response.json()["trigger"] == "manual"
        run = _wait_for_run(response.json()["id"], worker)

    assert run.status == TrainingRun.Status.PROMOTED, run.reason
    assert run.reason.startswith("better on the holdout")
    assert run.champion == old
    assert run.decisions_used == DECIDED
    assert run.challenger_metrics["average_precision"] > run.champion_metrics["average_precision"] + 0.01
    assert run.holdout["rows"] == run.challenger_metrics["rows"] == run.champion_metrics["rows"] > 0
    new = run.challenger
    new.refresh_from_db()
    assert new.status == ModelVersion.Status.CHAMPION

    answer = service.post("/score", event(event_id="after-retrain"), format="json").json()
    assert answer["model_version"] == new.name

    response = _login(manager).post("/api/models/rollback", content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == old.name
    answer = service.post("/score", event(event_id="after-rollback"), format="json").json()
    assert answer["model_version"] == old.name
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"retraining_requested", "retraining_finished", "model_promoted", "model_rolled_back"} <= actions

    # The worker measured how long the task waited in the queue.
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    scraped = generate_latest(registry).decode()
    assert 'fraud_celery_task_lag_seconds_count{task="learning.tasks.retrain"} 1.0' in scraped


@pytest.mark.django_db(transaction=True)
def test_a_challenger_short_of_the_margin_stays_a_challenger_with_the_reason(settings, api_client_and_key, manager):
    world = stored_small_world(api_client_and_key[0])
    old = _weak_champion(world.iloc[:-SCORED_TAIL])
    settings.RETRAIN_MIN_AP_GAIN = 1.0  # nothing can gain a whole unit of average precision
    settings.RETRAIN_MAX_ROUNDS = 40

    response = _login(manager).post("/api/models/retrain", content_type="application/json")

    assert response.status_code == 202
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert run.status == TrainingRun.Status.KEPT, run.reason
    assert run.reason.startswith("not better by the required margin")
    assert response.json()["reason"] == run.reason
    run.challenger.refresh_from_db()
    assert run.challenger.status == ModelVersion.Status.CHALLENGER
    assert run.challenger.note == run.reason
    assert ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION) == old


@pytest.mark.django_db
def test_a_second_retraining_while_one_is_queued_is_refused(manager, django_capture_on_commit_callbacks):
    desk = _login(manager)
    with django_capture_on_commit_callbacks(execute=False):
        first = desk.post("/api/models/retrain", content_type="application/json")
        second = desk.post("/api/models/retrain", content_type="application/json")
    assert first.status_code == 202 and first.json()["status"] == "queued"
    assert second.status_code == 409
    assert second.json()["errors"][0]["code"] == "busy"
    assert TrainingRun.objects.count() == 1


@pytest.mark.django_db
def test_a_retraining_requested_while_one_runs_is_refused_before_answering(manager, django_capture_on_commit_callbacks):
    """One queued and one running must not coexist: the queued one could never start, and
    every later request would be refused until the stale timeout."""
    desk = _login(manager)
    with django_capture_on_commit_callbacks(execute=False):
        first = desk.post("/api/models/retrain", content_type="application/json")
    TrainingRun.objects.filter(pk=first.json()["id"]).update(status=TrainingRun.Status.RUNNING)  # a worker took it
    with django_capture_on_commit_callbacks(execute=False):
        second = desk.post("/api/models/retrain", content_type="application/json")
    assert second.status_code == 409
    assert list(TrainingRun.objects.values_list("status", flat=True)) == [TrainingRun.Status.RUNNING]


@pytest.mark.django_db
def test_retraining_without_labels_fails_with_the_reason(manager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _login(manager).post("/api/models/retrain", content_type="application/json")
    assert response.status_code == 202
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.FAILED
    assert "labeled" in run.reason


@pytest.mark.django_db
def test_only_managers_reach_the_models_page_and_api(reviewer, outsider, manager):
    for user in (reviewer, outsider):
        desk = _login(user)
        assert desk.get("/models/").status_code == 403
        assert desk.get("/api/models").status_code == 403
        assert desk.post("/api/models/retrain", content_type="application/json").status_code == 403
        assert desk.post("/api/models/rollback", content_type="application/json").status_code == 403
    assert Client().get("/models/").status_code == 302  # to the login page
    assert _login(manager).get("/models/").status_code == 200
    assert TrainingRun.objects.count() == 0


@pytest.mark.django_db
def test_rollback_without_an_earlier_champion_is_refused(manager, champion):
    response = _login(manager).post("/api/models/rollback", content_type="application/json")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "no_previous_champion"
    champion.refresh_from_db()
    assert champion.status == ModelVersion.Status.CHAMPION


@pytest.mark.django_db(transaction=True)
def test_shadow_challenger_scores_live_traffic_but_answers_come_from_the_champion(service, manager, champion):
    from learning.services import shadow_score_pending
    from tests.support.factories import trained_result
    challenger = model_version_register(result=trained_result())
    desk = _login(manager)
    response = desk.post(f"/api/models/{challenger.pk}/shadow", {"active": True}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["shadow"] is True

    batch = [event(event_id=f"s{i}", account_id=f"a{i % 7}", amount=float(20 + 45 * i)) for i in range(30)]
    answers = service.post("/score", batch, format="json").json()["results"]
    assert {a["model_version"] for a in answers} == {champion.name}
    assert shadow_score_pending() == 30
    assert shadow_score_pending() == 0  # nothing is shadow-scored twice

    shadow = {s.score_id: s for s in ShadowScore.objects.filter(model_version=challenger)}
    assert len(shadow) == 30
    # Same training data, same features: the shadow must reproduce the champion's probabilities.
    for score in Score.objects.all():
        assert np.isclose(shadow[score.transaction_id].probability, score.probability)
    overview = desk.get("/api/models").json()
    comparison = next(v for v in overview["versions"] if v["id"] == challenger.pk)["shadow_comparison"]
    assert comparison["events"] == 30
    assert comparison["overall_agreement"] == 1.0
    assert AuditEntry.objects.filter(action="shadow_started", object_id=str(challenger.pk)).exists()

    # The champion cannot be put in shadow mode.
    refused = desk.post(f"/api/models/{champion.pk}/shadow", {"active": True}, content_type="application/json")
    assert refused.status_code == 409
    missing = desk.post(f"/api/models/{challenger.pk}/shadow", {}, content_type="application/json")
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field"] == "active"


@pytest.mark.django_db
def test_enough_new_decisions_queue_a_retraining(settings, reviewer, service, champion, django_capture_on_commit_callbacks):
    from learning.tasks import retrain_if_enough_decisions
    from triage.services import decision_record

    settings.RETRAIN_MIN_NEW_DECISIONS = 3
    service.post("/score", [event(event_id=f"d{i}", account_id=f"a{i}") for i in range(4)], format="json")
    ids = list(Transaction.objects.values_list("id", flat=True))
    with django_capture_on_commit_callbacks(execute=False):
        decision_record(transaction_id=ids[0], reviewer=reviewer, verdict="flag", disposition="stolen_card")
        decision_record(transaction_id=ids[1], reviewer=reviewer, verdict="escalate", note="issuer to confirm")  # says nothing about fraud
        decision_record(transaction_id=ids[2], reviewer=reviewer, verdict="clear", disposition="customer_confirmed")
        assert retrain_if_enough_decisions().startswith("not enough")
        decision_record(transaction_id=ids[3], reviewer=reviewer, verdict="clear", disposition="customer_confirmed")
        assert retrain_if_enough_decisions().startswith("queued training run")
        assert retrain_if_enough_decisions().startswith("not enough")  # one is already queued
    run = TrainingRun.objects.get()
    assert run.trigger == "decisions" and run.status == "queued"


def test_every_beat_entry_names_a_registered_task(settings):
    from config.celery import app

    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name


@pytest.mark.django_db
def test_a_run_lost_with_its_worker_stops_blocking_after_a_while(settings, manager, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    lost = TrainingRun.objects.create(trigger="schedule", status="running")
    TrainingRun.objects.filter(pk=lost.pk).update(requested_at=timezone.now() - timedelta(minutes=121))
    with django_capture_on_commit_callbacks(execute=False):
        response = _login(manager).post("/api/models/retrain", content_type="application/json")
    assert response.status_code == 202
    lost.refresh_from_db()
    assert lost.status == "failed" and lost.reason.startswith("abandoned")
