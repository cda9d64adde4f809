"""Celery tasks: thin wrappers that load ids, call a service and report a short status."""
from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from core.tasks import InBackgroundWhenEager
from ml.features import epoch_ms, link_day
from scoring import link_groups, services
from scoring.store import bulk as bulkload

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
