"""Per-client rate limits on the service API, visible in the response headers."""
from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.support.factories import event

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()  # counters live in this test run's own Redis database
    yield
    cache.clear()


@pytest.fixture
def three_per_minute(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "api_client": "3/min"}}


def test_score_answers_carry_the_limit_and_what_is_left(service, champion, three_per_minute):
    first = service.post("/score", event(event_id="a"), format="json")
    second = service.post("/score", event(event_id="b"), format="json")
    assert first.status_code == second.status_code == 200
    assert first["X-RateLimit-Limit"] == "3"
    assert first["X-RateLimit-Remaining"] == "2"
    assert second["X-RateLimit-Remaining"] == "1"
    assert 1 <= int(second["X-RateLimit-Reset"]) <= 60


def test_over_the_limit_answers_429_with_retry_after_and_stores_nothing(service, champion, three_per_minute):
    from triage.models import Transaction

    for index in range(3):
        assert service.post("/score", event(event_id=f"ok-{index}"), format="json").status_code == 200
    refused = service.post("/score", event(event_id="too-many"), format="json")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["X-RateLimit-Remaining"] == "0"
    assert refused.json()["errors"][0]["code"] == "throttled"
    assert not Transaction.objects.filter(event_id="too-many").exists()


def test_limits_are_counted_per_client(service, champion, three_per_minute):
    from accounts.services import api_client_create

    for index in range(4):
        service.post("/score", event(event_id=f"mine-{index}"), format="json")
    _, other_key = api_client_create(name="login-service")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_key}")
    response = other.post("/score", event(event_id="theirs"), format="json")
    assert response.status_code == 200
    assert response["X-RateLimit-Remaining"] == "2"
