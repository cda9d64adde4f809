"""The audit log: one append-only table of who did what."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """Append-only record of who did what: decisions, claims, key changes, promotions, logins."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    actor_client = models.ForeignKey("accounts.ApiClient", on_delete=models.SET_NULL, null=True, blank=True)
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        # The table keeps the name it was created with, so moving the model moved no row.
        db_table = "triage_auditentry"
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["action", "-created_at"], name="audit_action_time"),
            models.Index(fields=["actor", "-created_at"], name="audit_actor_time"),
            models.Index(fields=["object_type", "object_id", "-created_at"], name="audit_object_time"),
        ]
