"""A Celery task base every room's long tasks share."""
from __future__ import annotations

import logging
import threading

from celery import Task
from celery.utils import uuid
from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)


class InBackgroundWhenEager(Task):
    """Eager tasks run inside the call that queues them, so without a broker (the demo) the
    202 for an async /score job would come only once the job is scored (25 s for 5,000
    events). With SCORE_JOBS_IN_THREAD_WHEN_EAGER the task runs in a thread of this process
    instead; callers queue it after their transaction commits, so the thread sees the job.
    A broker, when there is one, is used as always."""

    def apply_async(self, args=None, kwargs=None, task_id=None, **options):
        if not (self.app.conf.task_always_eager and settings.SCORE_JOBS_IN_THREAD_WHEN_EAGER):
            return super().apply_async(args, kwargs, task_id=task_id, **options)
        task_id = task_id or uuid()
        thread = threading.Thread(
            target=self._run_here, args=(args, kwargs, task_id, options), name=f"{self.name}-{task_id}", daemon=True
        )
        thread.start()
        return self.AsyncResult(task_id)

    def _run_here(self, args, kwargs, task_id, options) -> None:
        try:
            super().apply_async(args, kwargs, task_id=task_id, **options)
        except Exception:  # the job row says failed; the thread has nobody else to tell
            log.exception("task %s[%s] failed in the background", self.name, task_id)
        finally:
            connections.close_all()  # this thread's own connections, not the request's
