"""A real worker picks up the rollup refresh that a reviewer's decision queues."""
from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from insights.models import DirtyHour, HourlyRollup
from tests.support.insights_worlds import hand_counted_world
from tests.support.worker import worker_log


def test_decision_refreshes_rollups_through_the_worker(worker, reviewer, api_client_and_key):
    events = hand_counted_world(api_client_and_key[0])
    client = APIClient()
    client.force_login(reviewer)
    response = client.post(f"/api/cases/{events[2].pk}/decision", {"verdict": "flag", "disposition": "stolen_card", "expected_status": "open"}, format="json")
    assert response.status_code == 201
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and sum(HourlyRollup.objects.values_list("flagged", flat=True)) < 3:
        time.sleep(0.3)
    if sum(HourlyRollup.objects.values_list("flagged", flat=True)) != 3:
        pytest.fail(f"the worker did not refresh the rollups; its log:\n{worker_log(worker)}")
    assert sum(HourlyRollup.objects.values_list("events", flat=True)) == 5
    assert not DirtyHour.objects.exists()
