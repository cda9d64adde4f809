"""Rollups and account risk that keep the managers' dashboards fast, and their settings."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class HourlyRollup(models.Model):
    """Counts and sums of events for one UTC hour, tier, event type and risk-score band.

    Recomputed from the source tables for whole hours at a time (never incremented), so a
    recomputation is always the truth and running it twice changes nothing. `tier` and
    `score_band` are "" and -1 for events without a score (e.g. imported history).
    """

    hour = models.DateTimeField(help_text="Start of the UTC hour")
    tier = models.CharField(max_length=6, blank=True)
    event_type = models.CharField(max_length=32, blank=True)
    score_band = models.SmallIntegerField(help_text="Risk score // 10 (0–10), -1 when unscored")

    events = models.IntegerField(default=0)
    amount_sum = models.FloatField(default=0.0)
    scored = models.IntegerField(default=0)
    money_at_risk = models.FloatField(default=0.0, help_text="Sum of expected loss of scored events")
    labeled = models.IntegerField(default=0, help_text="Events with a known label (import or review)")
    confirmed_fraud = models.IntegerField(default=0)
    fraud_amount = models.FloatField(default=0.0)
    reviewed = models.IntegerField(default=0, help_text="Cases a reviewer cleared, flagged or escalated")
    flagged = models.IntegerField(default=0)
    cleared = models.IntegerField(default=0)
    caught = models.IntegerField(default=0, help_text="Flagged by a reviewer and labeled fraud")
    caught_amount = models.FloatField(default=0.0)
    caught_unpriced = models.IntegerField(default=0, help_text="Caught events without an amount")
    unrated = models.IntegerField(
        default=0, help_text="Events with an amount in a currency that has no exchange rate: summed 1:1",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "tier", "event_type", "score_band"], name="rollup_key"),
        ]
        indexes = [models.Index(fields=["hour"], name="rollup_hour")]


class DirtyHour(models.Model):
    """An hour whose rollup rows are stale. Written by database triggers on events and scores
    (cheap, no unique index so concurrent writers never wait on each other) and consumed by
    the refresh task, which recomputes each distinct hour once."""

    hour = models.DateTimeField()
    marked_at = models.DateTimeField(auto_now_add=True)


class AccountRisk(models.Model):
    """One account's risk profile, segment and off-boarding status (refreshed by a task)."""

    class Segment(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    class Decision(models.TextChoices):
        NONE = "", "Not decided"
        OFFBOARDED = "offboarded", "Off-boarded"
        KEPT = "kept", "Kept"

    account_id = models.CharField(max_length=128, unique=True)
    events = models.IntegerField(default=0)
    first_seen = models.DateTimeField(null=True)
    last_seen = models.DateTimeField(null=True)
    amount_sum = models.FloatField(default=0.0)
    max_score = models.SmallIntegerField(null=True)
    mean_score = models.FloatField(null=True)
    high_events = models.IntegerField(default=0)
    confirmed_frauds = models.IntegerField(default=0)
    failed_payments = models.IntegerField(default=0)
    devices = models.IntegerField(default=0)
    ips = models.IntegerField(default=0)
    ring_links = models.IntegerField(default=0, help_text="Other flagged accounts sharing a device or IP")
    points = models.SmallIntegerField(default=0)
    segment = models.CharField(max_length=6, choices=Segment.choices, default=Segment.LOW)
    offboard = models.BooleanField(default=False, help_text="Meets an off-boarding criterion")
    reasons = models.JSONField(default=list)
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True, default="")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["segment", "-points", "-max_score"], name="account_risk_segment"),
            # The off-boarding list: qualifying accounts by decision, most points first.
            models.Index(fields=["offboard", "decision", "-points", "-max_score", "account_id"], name="account_risk_offboard"),
            models.Index(fields=["decision", "segment"], name="account_risk_decision"),
        ]


class SegmentSummary(models.Model):
    """What each risk segment looks like, stored with every account refresh so the
    dashboard reads three rows instead of averaging every account on each request."""

    segment = models.CharField(max_length=6, primary_key=True)
    accounts = models.IntegerField(default=0)
    stats = models.JSONField(default=dict)
    refreshed_at = models.DateTimeField(auto_now=True)


class RoiAssumptions(models.Model):
    """The money assumptions behind the ROI panel; one row, edited by managers (audited)."""

    cost_per_review = models.FloatField()
    friction_cost_per_false_positive = models.FloatField()
    value_of_unpriced_event = models.FloatField(help_text="Money stopped per caught event without an amount")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "ROI assumptions"
