"""Explanation tasks leave the request path: ids go to a background publisher
(`config.publishing`), which sends them to the broker in small bulks (one task per
EXPLAIN_CHUNK ids), so /score's latency is free of the broker round trip.
Scores are stored as `pending` before their ids are handed over; the periodic sweep
queues any the publisher never sent."""
from __future__ import annotations

from config.publishing import BackgroundPublisher


def _enqueue():
    from scoring.services import enqueue_explanations

    return enqueue_explanations


explanation_publisher = BackgroundPublisher(
    "explanation-publisher", _enqueue, in_thread_setting="EXPLAIN_IN_THREAD_WHEN_EAGER"
)
