"""With the broker unreachable, /score still answers; the sweeps catch up once it is back."""
from __future__ import annotations

import pytest

from scoring.models import ScoreJob
from tests.support.factories import event
from triage.models import Score

pytestmark = pytest.mark.django_db

CLOSED_PORT_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def broker_down(settings):
    """Point Celery at a closed port and stop running tasks in-process."""
    from config.celery import app

    settings.EXPLAIN_PUBLISH_DELAY_MS = -1  # publish inside the request, where a failure would show
    original = app.conf.broker_url

    def switch(url: str, eager: bool) -> None:
        app._pool = None  # producer pools are bound to the broker they were made for
        app.amqp._producer_pool = None
        app.conf.broker_url = url
        app.conf.task_always_eager = eager

    switch(CLOSED_PORT_BROKER, eager=False)
    yield lambda: switch(original, eager=True)
    switch(original, eager=True)


def test_score_answers_and_the_sweep_explains_it_later(service, champion, broker_down, settings):
    from scoring.tasks import sweep_pending_explanations

    response = service.post("/score", event(amount=700), format="json")
    assert response.status_code == 200
    assert response.json()["model_version"] == champion.name
    assert response.json()["explanation_status"] == "pending"
    assert service.get(response.json()["explanation_url"]).json()["status"] == "pending"

    broker_down()  # the broker is back (tasks run in-process here)
    settings.EXPLAIN_SWEEP_AFTER_SECONDS = 0
    sweep_pending_explanations.delay()
    explanation = service.get(response.json()["explanation_url"]).json()
    assert explanation["status"] == "ready"
    assert explanation["explanation"]["method"] == "shap"
    assert Score.objects.get().explanation_status == "ready"


def test_an_async_job_accepted_while_the_broker_is_down_runs_after_the_sweep(
    service, champion, broker_down, settings, django_capture_on_commit_callbacks
):
    from scoring.tasks import sweep_queued_score_jobs

    with django_capture_on_commit_callbacks(execute=True):
        response = service.post("/score?mode=async", [event(event_id="late-1"), event(event_id="late-2")], format="json")
    assert response.status_code == 202
    assert ScoreJob.objects.get().status == "queued"

    broker_down()
    settings.SCORE_JOB_SWEEP_AFTER_SECONDS = 0
    sweep_queued_score_jobs.delay()
    status = service.get(response.json()["status_url"]).json()
    assert status["status"] == "done" and len(status["results"]) == 2
