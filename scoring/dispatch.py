"""Explanation tasks leave the request path: ids are handed to a background thread that
publishes them to the broker in small bulks.

Publishing one task per request costs a broker round trip inside the response time; a
thread that wakes when ids arrive and sends everything gathered since (one task per
EXPLAIN_CHUNK ids) keeps /score's latency free of it. Nothing depends on this thread for
correctness: scores are stored as `pending` before their ids are handed over, and if
the process dies or the broker is down, the periodic sweep queues them again.
With eager tasks (no broker) the thread computes the explanations itself
(EXPLAIN_IN_THREAD_WHEN_EAGER, on without a broker), or, with that off (tests that flip
eager mode), ids are processed on the spot.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Sequence

from celery import current_app
from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger(__name__)


class ExplanationPublisher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._ids: list[int] = []
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(self, transaction_ids: Sequence[int]) -> None:
        from scoring.services import enqueue_explanations

        eager = current_app.conf.task_always_eager
        if (eager and not settings.EXPLAIN_IN_THREAD_WHEN_EAGER) or settings.EXPLAIN_PUBLISH_DELAY_MS < 0:
            enqueue_explanations(list(transaction_ids))
            return
        with self._lock:
            self._ids.extend(transaction_ids)
            # A forked web worker does not inherit the parent's thread: start one per process.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="explanation-publisher", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        from scoring.services import enqueue_explanations

        while True:
            self._wake.wait()
            if settings.EXPLAIN_PUBLISH_DELAY_MS > 0:  # gather what arrives meanwhile into one task
                threading.Event().wait(settings.EXPLAIN_PUBLISH_DELAY_MS / 1000)
            with self._lock:
                ids, self._ids = self._ids, []
                self._wake.clear()
            if ids:
                try:
                    enqueue_explanations(ids)
                except Exception:  # never let the thread die; the sweep re-queues
                    log.exception("publishing %d explanation ids failed", len(ids))
                finally:
                    if current_app.conf.task_always_eager:
                        close_old_connections()  # the explanations ran here, on this thread's connection


explanation_publisher = ExplanationPublisher()
