"""The same event posted concurrently is stored exactly once and answered the same way."""
from __future__ import annotations

import threading

import pytest
from django.db import connection

from scoring.services import score_events
from scoring.validation import validate_event
from tests.support.factories import event
from triage.models import Score, Transaction


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_store_one_row(api_client_and_key, champion):
    client = api_client_and_key[0]
    clean, _ = validate_event(event(event_id="twice"))
    barrier = threading.Barrier(4)
    answers, failures = [], []

    def post():
        try:
            barrier.wait()
            answers.append(score_events(client=client, events=[dict(clean)])[0])
        except Exception as exc:  # surfaced by the assertion below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert Transaction.objects.filter(event_id="twice").count() == 1
    assert Score.objects.count() == 1
    assert len({a.probability for a in answers}) == 1
    assert sum(not a.duplicate for a in answers) == 1
