"""Celery tasks: thin wrappers that load ids, call a service and report a short status."""
from __future__ import annotations

import logging
import threading

from celery import Task, shared_task
from celery.utils import uuid
from django.conf import settings
from django.db import connections
from django.utils import timezone

from scoring import link_groups, services

from scoring.store import bulk as bulkload
from ml.features import epoch_ms, link_day

log = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def explain_scores(transaction_ids: list[int]) -> str:
    """SHAP explanations for freshly scored events. Scores already explained are skipped."""
    stored = services.explanations_compute(transaction_ids=transaction_ids)
    return f"explained {stored} of {len(transaction_ids)}"


@shared_task
def sweep_pending_explanations() -> str:
    """Re-queue explanations that never ran (broker down at scoring time, lost message)."""
    ids = services.pending_explanation_ids(older_than_seconds=settings.EXPLAIN_SWEEP_AFTER_SECONDS)
    services.enqueue_explanations(ids)
    return f"re-queued {len(ids)}"


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


@shared_task(acks_late=True, base=InBackgroundWhenEager)
def run_score_job(job_id: str) -> str:
    """Score an accepted batch (`/score?mode=async`); a re-run answers stored events."""
    job = services.score_job_run(job_id=job_id)
    return "missing" if job is None else f"{job.status} {job.event_count} events"


@shared_task
def sweep_queued_score_jobs() -> str:
    """Queue again the jobs accepted while the broker was unreachable, and the running ones
    whose worker died (no heartbeat within the lease): they resume where they stopped."""
    stuck = services.stuck_score_job_ids(lease_seconds=settings.SCORE_JOB_LEASE_SECONDS)
    ids = services.queued_score_job_ids(older_than_seconds=settings.SCORE_JOB_SWEEP_AFTER_SECONDS)
    services.score_jobs_enqueue(list(dict.fromkeys([*stuck, *ids])))
    return f"re-queued {len(ids)} ({len(stuck)} lost their worker)"


@shared_task
def compute_link_groups() -> str:
    """Today's link groups (for `ring_size_30d`) before the day's events ask for them;
    the groups of days before yesterday are dropped. Safe to run twice."""
    today = link_day(epoch_ms(timezone.now()))
    computed = link_groups.link_snapshots_ensure(days=[today])
    dropped = link_groups.link_snapshots_prune(keep_from=today - 1)
    return f"computed {len(computed)} day, dropped {dropped} days"


@shared_task
def restore_bulk_indexes() -> str:
    """Rebuild the look-up indexes and foreign keys that a bulk import or a bulk batch-scoring
    run set aside and could not rebuild (the process was killed). Nothing to do, and cheap,
    when none is missing; skipped while a bulk load holds them aside."""
    built = bulkload.TRANSACTIONS.indexes_restore() + bulkload.SCORES.indexes_restore()
    return f"rebuilt {', '.join(built)}" if built else "none missing"
