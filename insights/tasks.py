"""Celery tasks for the dashboards: thin, idempotent, safe to run twice."""
from __future__ import annotations

from celery import shared_task

from insights import accounts, rollups


@shared_task(autoretry_for=(ConnectionError, TimeoutError), retry_backoff=True, retry_jitter=True, max_retries=3)
def refresh_rollups() -> str:
    """Recompute the hourly rollups of hours marked dirty since the last run."""
    hours = rollups.rollups_refresh()
    return f"recomputed {hours} hours"


@shared_task
def refresh_account_risk() -> str:
    """Re-profile and re-segment every account from stored events and scores."""
    count = accounts.account_risk_refresh()
    return f"profiled {count} accounts"
