"""What the learning loop remembers: training runs, shadow scores, drift references and alerts."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Value


class TrainingRun(models.Model):
    """One retraining attempt: what started it, both models' holdout metrics, the verdict."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Manager"
        DECISIONS = "decisions", "New decisions"
        DRIFT = "drift", "Drift alert"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PROMOTED = "promoted", "Promoted"
        KEPT = "kept", "Kept as challenger"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    champion = models.ForeignKey(
        "scoring.ModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    challenger = models.ForeignKey(
        "scoring.ModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="training_runs"
    )
    labeled_rows = models.PositiveIntegerField(default=0)
    decisions_used = models.PositiveIntegerField(default=0)
    holdout = models.JSONField(default=dict, blank=True, help_text="Rows, fraud rows and period of the holdout")
    champion_metrics = models.JSONField(default=dict, blank=True)
    challenger_metrics = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            # One retraining at a time: at most one row is queued or running. The index is on a
            # constant, so a queued run and a running one collide too (an index on the status
            # would let one of each coexist, and the queued one could then never start).
            models.UniqueConstraint(
                Value(True), condition=models.Q(status__in=["queued", "running"]), name="one_active_training_run"
            )
        ]

    def __str__(self) -> str:
        return f"training run {self.pk} ({self.trigger}, {self.status})"


class ShadowModel(models.Model):
    """A challenger that scores live traffic beside the champion; its scores are stored, never returned."""

    model_version = models.OneToOneField("scoring.ModelVersion", on_delete=models.CASCADE, related_name="shadow")
    is_active = models.BooleanField(default=True)
    started_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # Scores are shadowed in transaction order; this is the last one done.
    last_transaction_id = models.BigIntegerField(default=0)


class ShadowScore(models.Model):
    score = models.ForeignKey("triage.Score", on_delete=models.CASCADE, related_name="shadow_scores")
    model_version = models.ForeignKey("scoring.ModelVersion", on_delete=models.CASCADE, related_name="shadow_scores")
    probability = models.FloatField()
    risk_score = models.PositiveSmallIntegerField()
    tier = models.CharField(max_length=6)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["score", "model_version"], name="one_shadow_score_per_version")]


class DriftReference(models.Model):
    """The binned training distribution of each feature and of the score, per model version."""

    model_version = models.OneToOneField("scoring.ModelVersion", on_delete=models.CASCADE, related_name="drift_reference")
    # {"features": {name: {"edges": [...], "shares": [...]}}, "score": {...}}
    bins = models.JSONField()
    rows = models.PositiveIntegerField()
    source = models.CharField(max_length=20, help_text="training frame or stored events")
    created_at = models.DateTimeField(auto_now_add=True)


class DriftCheck(models.Model):
    """One comparison of a recent window against the reference."""

    model_version = models.ForeignKey("scoring.ModelVersion", on_delete=models.CASCADE, related_name="drift_checks")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    rows = models.PositiveIntegerField()
    psi = models.JSONField(help_text="PSI per feature")
    score_psi = models.FloatField(null=True)
    max_psi = models.FloatField()
    threshold = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]


class DriftAlert(models.Model):
    """Raised when a check finds PSI above the threshold; open until a manager acknowledges it."""

    model_version = models.ForeignKey("scoring.ModelVersion", on_delete=models.CASCADE, related_name="drift_alerts")
    check_run = models.ForeignKey(DriftCheck, on_delete=models.SET_NULL, null=True, related_name="alerts")
    drifted = models.JSONField(help_text="{name: psi} of everything over the threshold; 'score' for the score")
    max_psi = models.FloatField()
    threshold = models.FloatField()
    retraining_requested = models.BooleanField(default=False)
    raised_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            # At most one open alert per model version: later checks update it.
            models.UniqueConstraint(
                fields=["model_version"], condition=models.Q(acknowledged_at__isnull=True), name="one_open_drift_alert"
            )
        ]


class TierCut(models.Model):
    """A re-cut of a model version's tier thresholds from its recent live scores."""

    model_version = models.ForeignKey("scoring.ModelVersion", on_delete=models.CASCADE, related_name="tier_cuts")
    before = models.JSONField(help_text="{medium, high} thresholds before the cut")
    after = models.JSONField(help_text="{medium, high} thresholds after it")
    scores = models.PositiveIntegerField(help_text="live scores the cut was made from")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    # What the window's traffic would have put in each tier, per day, before and after.
    high_per_day_before = models.FloatField()
    high_per_day_after = models.FloatField()
    capacity_per_day = models.PositiveIntegerField()
    made_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]


class TierAlert(models.Model):
    """Raised when an hour's live high tier, at that pace for a day, exceeds the team's
    capacity by TIER_ALERT_MULTIPLE; open until a manager acknowledges it or re-cuts."""

    model_version = models.ForeignKey("scoring.ModelVersion", on_delete=models.CASCADE, related_name="tier_alerts")
    hour = models.DateTimeField(help_text="start of the last hour found over capacity")
    events = models.PositiveIntegerField(help_text="live events scored in that hour")
    high = models.PositiveIntegerField(help_text="of which in the high tier")
    capacity_per_day = models.PositiveIntegerField()
    hours_over = models.PositiveIntegerField(default=1, help_text="hours over capacity while the alert was open")
    raised_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version"], condition=models.Q(acknowledged_at__isnull=True), name="one_open_tier_alert"
            )
        ]
