from __future__ import annotations

from django.db import models


class WebhookDelivery(models.Model):
    """One callback to a client's webhook URL: what was sent and how it went.

    The body is stored as the exact bytes that are signed and sent, so every attempt
    (and a manager reading the log) sees the same payload.
    """

    class Event(models.TextChoices):
        HIGH_TIER = "score.high_tier", "An event scored in the high tier"
        CASE_DECIDED = "case.decided", "A reviewer decided a case"
        DRIFT_ALERT = "model.drift_alert", "The champion's live inputs drifted (to the operators)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    # None for the deployment's own alerts (drift), sent to DRIFT_WEBHOOK_URL and signed with
    # DRIFT_WEBHOOK_SECRET; a client's callbacks use the client's URL and secret.
    client = models.ForeignKey(
        "accounts.ApiClient", on_delete=models.CASCADE, related_name="webhook_deliveries", null=True, blank=True
    )
    event = models.CharField(max_length=32, choices=Event.choices)
    url = models.URLField()
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="webhook_status_time")]


class WebhookAttempt(models.Model):
    """One try at delivering a callback: the receiver's answer or the network error."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.FloatField()

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="unique_attempt_number")]

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
