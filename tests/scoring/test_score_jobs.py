"""Asynchronous scoring: `?mode=async` and large batches answer 202 and are scored by workers."""
from __future__ import annotations

import json
import time

import pytest
from rest_framework.test import APIClient

from scoring.models import ScoreJob
from tests.support.factories import event
from triage.models import Score, Transaction


def _batch(n: int, prefix: str = "job") -> list[dict]:
    return [event(event_id=f"{prefix}-{i}", timestamp=f"2026-11-20T10:{i:02d}:00Z") for i in range(n)]


@pytest.mark.django_db
def test_async_mode_accepts_with_a_status_url_and_results_follow(service, champion, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the job is queued once the accept commits
        response = service.post("/score?mode=async", _batch(3), format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["event_count"] == 3
    assert response["Location"] == body["status_url"]
    status = service.get(body["status_url"]).json()
    assert status["status"] == "done"
    assert [r["event_id"] for r in status["results"]] == ["job-0", "job-1", "job-2"]
    assert all(r["model_version"] == champion.name for r in status["results"])
    assert status["results"][0]["explanation_url"].startswith("http://testserver/api/scores/")
    assert Transaction.objects.count() == 3 and Score.objects.count() == 3


@pytest.mark.django_db
def test_a_batch_over_the_configured_size_goes_async(service, champion, settings):
    settings.SCORE_ASYNC_OVER = 2
    response = service.post("/score", _batch(3), format="json")
    assert response.status_code == 202
    assert ScoreJob.objects.get().event_count == 3


@pytest.mark.django_db
def test_async_validation_is_synchronous_and_accepts_nothing(service, champion):
    batch = _batch(2) + [event(event_id="bad", timestamp="not a time")]
    response = service.post("/score?mode=async", batch, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "[2].timestamp"
    assert not ScoreJob.objects.exists() and not Transaction.objects.exists()


@pytest.mark.django_db
def test_an_async_batch_reusing_an_id_with_another_body_is_refused_before_accepting(service, champion, settings):
    service.post("/score", event(event_id="job-1", timestamp="2026-11-20T10:01:00Z"), format="json")
    batch = _batch(3)
    batch[1]["amount"] = 1.0  # job-1 again, with another amount
    response = service.post("/score?mode=async", batch, format="json")
    assert response.status_code == 409
    assert [e["field"] for e in response.json()["errors"]] == ["[1].amount"]
    assert not ScoreJob.objects.exists() and Transaction.objects.count() == 1


@pytest.mark.django_db
def test_a_job_whose_later_chunk_conflicts_stores_none_of_it(api_client_and_key, champion, settings):
    """Checked whole before the first chunk is stored: a job is never half-written."""
    from scoring.services import score_job_create, score_job_run

    settings.SCORE_MAX_BATCH = 2
    client = api_client_and_key[0]
    events = _batch(5)
    events[4] = {**events[0], "amount": 7.0}  # the last chunk reuses the first event's id
    job = score_job_create(client=client, events=events, is_batch=True)
    with pytest.raises(Exception):
        score_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ScoreJob.Status.FAILED and "amount" in job.error
    assert not Transaction.objects.exists()


@pytest.mark.django_db
def test_unknown_mode_is_a_400(service, champion):
    response = service.post("/score?mode=later", event(), format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "mode"


@pytest.mark.django_db
def test_a_job_is_visible_only_to_the_client_that_sent_it(service, champion):
    from accounts.services import api_client_create

    url = service.post("/score?mode=async", _batch(1), format="json").json()["status_url"]
    _, other_key = api_client_create(name="someone-else")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_key}")
    assert other.get(url).status_code == 404
    assert APIClient().get(url).status_code == 401


@pytest.mark.django_db
def test_running_a_job_twice_stores_each_event_once(service, champion):
    from scoring.services import score_job_run

    job_id = service.post("/score?mode=async", _batch(2), format="json").json()["job_id"]
    score_job_run(job_id=job_id)
    ScoreJob.objects.filter(pk=job_id).update(status=ScoreJob.Status.QUEUED)  # as if redelivered
    job = score_job_run(job_id=job_id)
    assert job.status == "done" and Transaction.objects.count() == 2
    assert all(r["duplicate"] for r in job.results)


def test_a_real_worker_scores_the_job(service, champion, worker):
    response = service.post("/score?mode=async", _batch(4, prefix="w"), format="json")
    assert response.status_code == 202
    url = response.json()["status_url"]
    deadline = time.monotonic() + 90
    status = service.get(url).json()
    while time.monotonic() < deadline and status["status"] in ("queued", "running"):
        time.sleep(0.3)
        status = service.get(url).json()
    if status["status"] != "done":
        worker.terminate()
        output = worker.communicate(timeout=15)[0].decode(errors="replace")
        pytest.fail(f"worker did not finish the job ({status}); its log:\n{output[-4000:]}")
    assert [r["event_id"] for r in status["results"]] == [f"w-{i}" for i in range(4)]
    assert Transaction.objects.filter(event_id__startswith="w-").count() == 4


# --------------------------------------------------------------------------- jobs survive their worker


def _many(n: int) -> list[dict]:
    from datetime import datetime, timedelta
    from datetime import timezone as dt_timezone

    start = datetime(2026, 11, 20, tzinfo=dt_timezone.utc)
    return [event(event_id=f"big-{i}", account_id=f"acct-{i % 97}", device_id=f"dev-{i % 89}",
                  timestamp=(start + timedelta(seconds=30 * i)).isoformat().replace("+00:00", "Z")) for i in range(n)]


@pytest.mark.django_db
def test_a_job_with_one_poison_event_is_refused_whole_before_anything_is_stored(service, champion):
    """An attribute integer outside 64 bits at position 1,200 of 1,500 (the JSON writer
    cannot store it): answered 400 naming it, no job, no event, nothing half-written."""
    events = _many(1500)
    events[1200]["attributes"] = {"loyalty_points": 2 ** 63}
    response = service.post("/score?mode=async", events, format="json")
    assert response.status_code == 400, response.content
    assert [e["field"] for e in response.json()["errors"]] == ["[1200].attributes.loyalty_points"]
    assert not ScoreJob.objects.exists() and not Transaction.objects.exists()


@pytest.mark.slow
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_job_whose_worker_is_killed_resumes_and_stores_every_event_once(service, champion, settings):
    """SIGKILL the worker mid-job: the job must not stay running forever; the sweep finds it
    past its lease, a new worker resumes it, every event is stored once, results complete."""
    import signal

    from scoring import tasks
    from tests.support.worker import celery_worker, worker_log
    settings.SCORE_MAX_BATCH = 1000  # the API's limit; the workers chunk by their own setting
    n = 3000
    with celery_worker(settings, SCORE_MAX_BATCH="300") as first:
        response = service.post("/score?mode=async", _many(n), format="json")
        assert response.status_code == 202, response.content
        job_id = response.json()["job_id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and ScoreJob.objects.get(pk=job_id).events_done < 300:
            time.sleep(0.05)
        if ScoreJob.objects.get(pk=job_id).events_done < 300:
            pytest.fail(f"the worker never stored a chunk; its log:\n{worker_log(first)}")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    job = ScoreJob.objects.get(pk=job_id)
    assert job.status == ScoreJob.Status.RUNNING and 0 < Transaction.objects.count() < n

    settings.SCORE_JOB_LEASE_SECONDS = 0.5
    time.sleep(1)
    with celery_worker(settings, SCORE_MAX_BATCH="300") as second:
        assert "1 lost their worker" in tasks.sweep_queued_score_jobs()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and ScoreJob.objects.get(pk=job_id).status != ScoreJob.Status.DONE:
            time.sleep(0.2)
        job = ScoreJob.objects.get(pk=job_id)
        if job.status != ScoreJob.Status.DONE:
            pytest.fail(f"the resumed job is {job.status}; the worker's log:\n{worker_log(second)}")
    assert Transaction.objects.count() == n and Score.objects.count() == n
    assert [r["event_id"] for r in job.results] == [f"big-{i}" for i in range(n)]
    assert job.events_done == n


@pytest.mark.django_db
def test_a_resumed_job_sends_the_callbacks_its_interrupted_run_never_created(settings, monkeypatch):
    """The first run stored high-tier events and died before creating their callbacks."""
    from accounts.services import api_client_create
    from scoring import services
    from scoring.services import score_job_create, score_job_run
    from scoring.validation import validate_event
    from webhooks import services as webhooks
    from webhooks.models import WebhookDelivery

    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    client, _ = api_client_create(name="hooked", webhook_url="http://127.0.0.1:9/hooks")
    # Without a model the documented rules put the last of these in the high tier.
    events = [event(event_id=f"warm-{i}", amount=10 + i, payment_status="failed", timestamp=f"2026-11-20T09:0{i}:00Z")
              for i in range(3)] + [event(event_id="big-one", amount=5000, device_id="dev-new", ip_address="198.51.100.77")]
    job = score_job_create(client=client, events=events, is_batch=True)
    clean = [validate_event(e)[0] for e in events]
    monkeypatch.setattr(webhooks, "high_tier_notify", lambda **kwargs: [])  # the run dies before this
    monkeypatch.setattr(services, "_after_scoring", lambda client, results: None)
    first = services.score_events(client=client, events=clean)
    assert [r.tier for r in first][-1] == "high" and not WebhookDelivery.objects.exists()
    ScoreJob.objects.filter(pk=job.pk).update(status=ScoreJob.Status.QUEUED, started_at=job.created_at)
    monkeypatch.undo()
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    score_job_run(job_id=job.pk)
    deliveries = list(WebhookDelivery.objects.filter(event=WebhookDelivery.Event.HIGH_TIER))
    assert [json.loads(d.body)["data"]["event_id"] for d in deliveries] == ["big-one"]
    score_job_run(job_id=job.pk)  # done: nothing sent twice
    assert WebhookDelivery.objects.filter(event=WebhookDelivery.Event.HIGH_TIER).count() == 1
