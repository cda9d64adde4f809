"""Celery tasks for the dashboards: thin, idempotent, safe to run twice."""
from __future__ import annotations

from celery import shared_task
from django.conf import settings

from config.draining import drain
from insights import accounts, rollups


@shared_task(autoretry_for=(ConnectionError, TimeoutError), retry_backoff=True, retry_jitter=True, max_retries=3)
def refresh_rollups() -> str:
    """Recompute the hourly rollups of hours marked dirty since the last run, batch after
    batch (a large import marks many hours) until none are left or the time budget is spent."""
    total = drain(rollups.rollups_refresh, seconds=settings.INSIGHTS_REFRESH_SECONDS)
    return f"recomputed {total} hours"


@shared_task
def refresh_account_risk() -> str:
    """Re-profile and re-segment every account from stored events and scores."""
    count = accounts.account_risk_refresh()
    return f"profiled {count} accounts"
