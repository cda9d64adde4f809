"""Reads of the webhook delivery log."""
from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from webhooks.models import WebhookAttempt, WebhookDelivery


def delivery_list(*, status: str | None = None, client_id: int | None = None, limit: int = 100) -> QuerySet:
    """Latest deliveries first, each with its attempts and client."""
    queryset = WebhookDelivery.objects.select_related("client").prefetch_related(
        Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("number"))
    )
    if status:
        queryset = queryset.filter(status=status)
    if client_id:
        queryset = queryset.filter(client_id=client_id)
    return queryset.order_by("-created_at", "-id")[:limit]
