"""Celery tasks of the learning loop: thin wrappers that call a service and report a short status."""
from __future__ import annotations

from celery import shared_task
from django.conf import settings

from config.draining import drain
from core.tasks import InBackgroundWhenEager
from learning import drift, services
from learning import tier_watch as tier_watch_service
from learning.models import TrainingRun


# Without a broker (the demo) an eager retraining would run inside the "Retrain now" request,
# which then answered only minutes later; like async /score jobs it runs in a thread of the
# web process instead, and the models page follows the run by polling it.
@shared_task(soft_time_limit=settings.RETRAIN_TIME_LIMIT_SECONDS, time_limit=settings.RETRAIN_TIME_LIMIT_SECONDS + 60,
             base=InBackgroundWhenEager)
def retrain(run_id: int) -> str:
    """Run one queued retraining. Training outlasts the default task limits, so it has its own;
    a run whose worker dies is marked abandoned after RETRAIN_STALE_MINUTES."""
    run = services.training_run_execute(run_id=run_id)
    if run is None:
        return f"no training run {run_id}"
    return f"training run {run_id}: {run.status}"


@shared_task
def retrain_scheduled() -> str:
    run = services.retrain_if_due(trigger=TrainingRun.Trigger.SCHEDULE)
    return f"queued training run {run.pk}" if run else "a retraining is already active"


@shared_task
def retrain_if_enough_decisions() -> str:
    run = services.retrain_if_due(trigger=TrainingRun.Trigger.DECISIONS)
    return f"queued training run {run.pk}" if run else "not enough new decisions, or a retraining is active"


@shared_task
def shadow_score() -> str:
    """Score newly stored events with the challengers in shadow mode, batch after batch until
    caught up or SHADOW_TASK_SECONDS passed (the next run, 15 s later, goes on)."""
    total = drain(services.shadow_score_pending, seconds=settings.SHADOW_TASK_SECONDS)
    return f"shadow-scored {total}"


@shared_task
def drift_check() -> str:
    check = drift.drift_check()
    if check is None:
        return "no champion or too few recent scores"
    return f"max PSI {check.max_psi:.3f} over {check.rows} scores"


@shared_task
def drift_reference_build(version_id: int) -> str:
    """The drift reference of a newly promoted champion that was trained without one."""
    reference = drift.drift_reference_ensure(version_id=version_id)
    if reference is None:
        return f"no reference for model version {version_id}: no such version or no stored events"
    return f"drift reference of {reference.model_version.name}: {reference.rows} rows ({reference.source})"


@shared_task
def tier_watch() -> str:
    found = tier_watch_service.tier_watch()
    if found is None:
        return "no champion"
    return (f"{found['high']} of {found['events']} live events high in the hour from {found['hour']:%H:%M}"
            + (" — over capacity, alert open" if found["alert"] else ""))
