"""Webhook callbacks: create them, deliver them (signed), record every attempt."""
from __future__ import annotations

import json
import logging
import random
import time
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any, Sequence

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiClient
from config.publishing import BackgroundPublisher
from webhooks.destinations import DestinationRefused, check_url
from webhooks.models import WebhookAttempt, WebhookDelivery
from webhooks.signing import signed_headers

if TYPE_CHECKING:
    from scoring.services import ScoredEvent

log = logging.getLogger(__name__)
USER_AGENT = "fraud-triage-webhooks/1"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is the receiver's answer, not a new destination: following it would skip the
    address check (and turn the POST into a bodyless GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _body(event: str, data: dict[str, Any]) -> str:
    payload = {"id": uuid.uuid4().hex, "event": event, "created_at": timezone.now().isoformat(), "data": data}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def _create(client: ApiClient, event: str, items: Sequence[dict[str, Any]]) -> list[WebhookDelivery]:
    if not client.webhook_url or not items:
        return []
    deliveries = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(client=client, event=event, url=client.webhook_url, body=_body(event, item)) for item in items]
    )
    ids = [d.pk for d in deliveries]
    # Published from a background thread, not inside the request that scored the events;
    # a delivery the thread never hands over is found by the sweep (`stale_pending_delivery_ids`).
    transaction.on_commit(lambda: delivery_publisher.submit(ids))
    return deliveries


def operator_alert_notify(*, event: str, data: dict[str, Any]) -> WebhookDelivery | None:
    """A callback to the deployment's operators (DRIFT_WEBHOOK_URL), signed, retried and logged
    like a client's; None when no URL is set."""
    if not settings.DRIFT_WEBHOOK_URL:
        return None
    delivery = WebhookDelivery.objects.create(client=None, event=event, url=settings.DRIFT_WEBHOOK_URL, body=_body(event, data))
    transaction.on_commit(lambda: delivery_publisher.submit([delivery.pk]))
    return delivery


def high_tier_notify(*, client: ApiClient, results: Sequence["ScoredEvent"]) -> list[WebhookDelivery]:
    """A callback per event that landed in the high tier."""
    items = [
        {
            "event_id": r.event_id,
            "transaction_id": r.transaction_id,
            "probability": round(r.probability, 6),
            "risk_score": r.risk_score,
            "tier": r.tier,
            "expected_loss": r.expected_loss,
            "model_version": r.model_version,
        }
        for r in results
        if r.tier == "high"
    ]
    return _create(client, WebhookDelivery.Event.HIGH_TIER, items)


def high_tier_notified_ids(*, client: ApiClient, since: Any) -> set[int]:
    """Transactions of this client that have a high-tier callback created since `since`."""
    bodies = WebhookDelivery.objects.filter(
        client=client, event=WebhookDelivery.Event.HIGH_TIER, created_at__gte=since
    ).values_list("body", flat=True)
    return {json.loads(body)["data"]["transaction_id"] for body in bodies}


def case_decided_notify(*, decision: Any) -> list[WebhookDelivery]:
    """A callback to the client that sent the event when a reviewer decides its case."""
    txn = decision.transaction
    client = txn.client
    if client.kind != ApiClient.Kind.API:
        return []
    item = {
        "event_id": txn.event_id,
        "transaction_id": txn.pk,
        "verdict": decision.verdict,
        "decided_at": decision.created_at.isoformat(),
        "model_version": decision.model_version_name,
    }
    return _create(client, WebhookDelivery.Event.CASE_DECIDED, [item])


def _enqueue():
    return deliveries_enqueue


delivery_publisher = BackgroundPublisher("webhook-publisher", _enqueue, in_thread_setting="WEBHOOKS_IN_THREAD_WHEN_EAGER")


def deliveries_enqueue(delivery_ids: Sequence[int]) -> None:
    """Hand deliveries to the workers; with the broker down they wait for the sweep."""
    from webhooks.tasks import deliver_webhook

    for delivery_id in delivery_ids:
        try:
            deliver_webhook.delay(delivery_id)
        except Exception as exc:  # broker unreachable: the sweep queues it later
            log.warning("could not queue webhook delivery %s: %s", delivery_id, exc)
            return


def retry_delay(attempt: int) -> float:
    """Seconds before retry number `attempt` (0-based): base × 2^attempt, plus jitter."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS
    return min(base * (2**attempt), 3600.0) + random.uniform(0, base)


def delivery_attempt(*, delivery_id: int) -> str:
    """POST the callback once and log it. Returns 'delivered', 'retry', 'failed' or 'skipped'.

    Safe to run twice: a delivery that is no longer pending is left alone.
    """
    delivery = WebhookDelivery.objects.select_related("client").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return "skipped"
    body = delivery.body.encode()
    request = urllib.request.Request(
        delivery.url,
        data=body,
        method="POST",
        headers={**signed_headers(_secret(delivery), body), "User-Agent": USER_AGENT},
    )
    status_code, error, refused = None, "", False
    began = time.perf_counter()
    try:
        check_url(delivery.url)  # again now: the name may point elsewhere than at registration
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            status_code = response.status
    except DestinationRefused as exc:
        error, refused = f"not sent: {exc}"[:300], True
    except urllib.error.HTTPError as exc:
        status_code = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        error = str(getattr(exc, "reason", exc))[:300] or type(exc).__name__
    duration_ms = (time.perf_counter() - began) * 1000
    ok = status_code is not None and 200 <= status_code < 300
    if status_code is not None and not ok:
        error = f"receiver answered HTTP {status_code}"
        if 300 <= status_code < 400:
            error += " (redirects are not followed: answer 2xx at the registered URL)"
            refused = True  # the same URL will redirect again
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        if delivery.status != WebhookDelivery.Status.PENDING:
            return "skipped"
        delivery.attempts += 1
        WebhookAttempt.objects.create(
            delivery=delivery, number=delivery.attempts, status_code=status_code, error=error, duration_ms=duration_ms
        )
        delivery.last_attempt_at = now
        if ok:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = now
        elif refused or delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:  # retrying a refusal changes nothing
            delivery.status = WebhookDelivery.Status.FAILED
        delivery.save(update_fields=["attempts", "last_attempt_at", "status", "delivered_at"])
    if ok:
        return "delivered"
    return "failed" if delivery.status == WebhookDelivery.Status.FAILED else "retry"


def _secret(delivery: WebhookDelivery) -> str:
    return delivery.client.webhook_secret if delivery.client_id else settings.DRIFT_WEBHOOK_SECRET


def stale_pending_delivery_ids(*, limit: int = 1000) -> list[int]:
    """Pending deliveries nobody is working on: never attempted a minute after creation
    (broker was down), or silent for longer than the longest retry wait."""
    now = timezone.now()
    never_tried = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, attempts=0, created_at__lt=now - timezone.timedelta(seconds=60)
    )
    base = settings.WEBHOOK_RETRY_BASE_SECONDS
    longest_wait = min(base * 2**settings.WEBHOOK_MAX_ATTEMPTS, 3600.0) + base + 60
    stalled = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING,
        attempts__gt=0,
        last_attempt_at__lt=now - timezone.timedelta(seconds=longest_wait),
    )
    return list((never_tried | stalled).order_by("created_at").values_list("pk", flat=True)[:limit])
