"""Hand ids to the broker from a background thread instead of inside the request.

Publishing a task costs a broker round trip; done in /score it adds that to every answer
(with webhooks on, p99 went from tens to hundreds of milliseconds at 50 req/s). A
`BackgroundPublisher` wakes when ids arrive and hands everything gathered since to its
handler (which publishes, e.g. one task per chunk), after EXPLAIN_PUBLISH_DELAY_MS to
gather what arrives meanwhile (one setting for every publisher; negative: no thread). Nothing depends on the thread for
correctness: what it publishes is already stored as pending before the ids arrive, and if
the process dies or the broker is down, the periodic sweeps queue it again.

With eager tasks (no broker) the thread runs the handler itself when `in_thread_setting`
is on (the demo: the work happens just after the answer), or, with it off (tests that
flip eager mode), ids are handled on the spot.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Callable, Sequence

from celery import current_app
from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger(__name__)


class BackgroundPublisher:
    def __init__(self, name: str, handler: Callable[[], Callable[[list[int]], None]], *, in_thread_setting: str) -> None:
        """`handler` returns the function that takes a list of ids (looked up late, so
        modules import each other lazily and tests can replace it)."""
        self._name = name
        self._handler = handler
        self._in_thread_setting = in_thread_setting
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._ids: list[int] = []
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(self, ids: Sequence[int]) -> None:
        eager = current_app.conf.task_always_eager
        if (eager and not getattr(settings, self._in_thread_setting, False)) or settings.EXPLAIN_PUBLISH_DELAY_MS < 0:
            self._handler()(list(ids))
            return
        with self._lock:
            self._ids.extend(ids)
            # A forked web worker does not inherit the parent's thread: start one per process.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if settings.EXPLAIN_PUBLISH_DELAY_MS > 0:  # gather what arrives meanwhile into one publish
                threading.Event().wait(settings.EXPLAIN_PUBLISH_DELAY_MS / 1000)
            with self._lock:
                ids, self._ids = self._ids, []
                self._wake.clear()
            if ids:
                try:
                    self._handler()(ids)
                except Exception:  # never let the thread die; the sweeps re-queue
                    log.exception("%s: handing over %d ids failed", self._name, len(ids))
                finally:
                    close_old_connections()  # this thread's connection, if the handler used one
