"""Allow / block / watch lists and versioned rule sets that act beside the model."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class EntityList(models.Model):
    """A named list of accounts, devices, IP addresses (or CIDR ranges), merchants,
    countries or values of one event attribute. Allow lists skip review, block lists
    block, watch lists send to review; rules can also ask `x in list "name"`."""

    class Kind(models.TextChoices):
        ACCOUNT = "account", "Account"
        DEVICE = "device", "Device"
        IP = "ip", "IP address or range"
        MERCHANT = "merchant", "Merchant"
        COUNTRY = "country", "Country"
        ATTRIBUTE = "attribute", "Event attribute"

    class Purpose(models.TextChoices):
        ALLOW = "allow", "Allow (skip review)"
        BLOCK = "block", "Block"
        WATCH = "watch", "Watch (send to review)"
        REFERENCE = "reference", "Reference (only for rules)"

    name = models.CharField(max_length=64, unique=True, help_text='How rules name it: device_id in list "name"')
    kind = models.CharField(max_length=10, choices=Kind.choices)
    attribute = models.CharField(max_length=64, blank=True, help_text="The attribute's key, for attribute lists")
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ListEntry(models.Model):
    entity_list = models.ForeignKey(EntityList, on_delete=models.CASCADE, related_name="entries")
    value = models.CharField(max_length=128, help_text="As events send it; IP lists also take CIDR ranges")
    reason = models.CharField(max_length=300, blank=True)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="No longer acts from then; empty: never expires")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["entity_list", "value"], name="one_entry_per_value")]


class RuleSetVersion(models.Model):
    """One version of the rule set. A draft is edited; shadow runs on live traffic without
    acting; active acts; retired was active once (rollback brings it back). Only a draft
    changes: `rules` of any other version is what ran."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SHADOW = "shadow", "Shadow"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    number = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    # [{name, condition, action, reason, priority, clients: [ids] (empty: all)}]
    rules = models.JSONField(default=list)
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    shadow_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=models.Q(status="active"), name="one_active_rule_set"),
            models.UniqueConstraint(fields=["status"], condition=models.Q(status="draft"), name="one_draft_rule_set"),
            models.UniqueConstraint(fields=["status"], condition=models.Q(status="shadow"), name="one_shadow_rule_set"),
        ]

    def __str__(self) -> str:
        return f"rule set v{self.number} ({self.status})"


class BacktestRun(models.Model):
    """A rule set replayed over a stored period, with the figures it would have given."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    version = models.ForeignKey(RuleSetVersion, on_delete=models.CASCADE, related_name="backtests")
    rules = models.JSONField(help_text="The rules as they were when the run was asked for")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    figures = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def last_day(self):
        """The period's last day: periods are asked for by whole days, the end day included."""
        from datetime import timedelta

        return self.period_end - timedelta(microseconds=1)


class ShadowHit(models.Model):
    """A rule of a shadow version that would have hit a live event; labels arrive later."""

    version = models.ForeignKey(RuleSetVersion, on_delete=models.CASCADE, related_name="shadow_hits")
    transaction = models.ForeignKey("triage.Transaction", on_delete=models.CASCADE, related_name="+", db_index=False)
    rule = models.CharField(max_length=80)
    action = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["version", "rule"], name="shadow_hit_version_rule")]


class RulesGeneration(models.Model):
    """One row counting changes to lists and rule sets: a web process reloads its compiled
    rules when the count moved (checked every RULES_REFRESH_SECONDS)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    generation = models.PositiveBigIntegerField(default=0)
