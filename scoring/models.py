from __future__ import annotations

from django.db import models


class ModelVersion(models.Model):
    """One trained model bundle on disk, with what it was trained on and how well it did."""

    class Status(models.TextChoices):
        CHAMPION = "champion", "Champion"
        CHALLENGER = "challenger", "Challenger"
        RETIRED = "retired", "Retired"

    name = models.CharField(max_length=64, unique=True)
    algorithm = models.CharField(max_length=32, default="lightgbm")
    bundle_path = models.CharField(max_length=500)
    manifest = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    thresholds = models.JSONField(default=dict, help_text="Probability cut-offs for the medium and high tiers")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CHALLENGER)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Scoring must never see two champions.
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="champion"), name="one_champion"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"
