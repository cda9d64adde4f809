"""A real Celery worker process takes explanation work from Redis and stores the result."""
from __future__ import annotations

import time

import pytest
from django.conf import settings

from tests.support.factories import event
from tests.support.worker import worker_log
from triage.models import Score


def test_worker_computes_the_explanation_over_the_broker(service, champion, worker):
    assert not settings.CELERY_BROKER_URL.startswith("memory")
    response = service.post("/score", event(amount=4000), format="json")
    assert response.status_code == 200
    assert response.json()["explanation_status"] == "pending"
    deadline = time.monotonic() + 90
    score = Score.objects.get(transaction__event_id="evt-1")
    while time.monotonic() < deadline and score.explanation_status == "pending":
        time.sleep(0.3)
        score.refresh_from_db()
    if score.explanation_status != "ready":
        pytest.fail(f"worker did not explain the score; its log:\n{worker_log(worker)}")
    assert score.explanation["method"] == "shap"
    assert len(score.explanation["contributions"]) == len(champion.manifest["features"])
