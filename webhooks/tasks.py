"""Webhook tasks: deliver one callback (retried with exponential backoff), sweep stragglers."""
from __future__ import annotations

from celery import shared_task

from webhooks import services


@shared_task(bind=True, max_retries=None)
def deliver_webhook(self, delivery_id: int) -> str:
    """One attempt; on failure the task is retried after base × 2^n seconds (with jitter)
    until WEBHOOK_MAX_ATTEMPTS attempts are logged."""
    outcome = services.delivery_attempt(delivery_id=delivery_id)
    if outcome == "retry":
        raise self.retry(countdown=services.retry_delay(self.request.retries))
    return outcome


@shared_task
def sweep_pending_deliveries() -> str:
    ids = services.stale_pending_delivery_ids()
    services.deliveries_enqueue(ids)
    return f"re-queued {len(ids)}"
