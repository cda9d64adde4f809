from __future__ import annotations

import uuid

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


class ScoreJob(models.Model):
    """A batch accepted for scoring by the workers (`/score?mode=async` or a large batch).

    The events are validated before the job is accepted and kept as sent; the worker
    scores them with the same service as a synchronous request (so idempotency holds)
    and stores the results here.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("accounts.ApiClient", on_delete=models.CASCADE, related_name="score_jobs")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    is_batch = models.BooleanField(default=True, help_text="The events came as a JSON array")
    events = models.JSONField(help_text="The events as sent")
    event_count = models.PositiveIntegerField()
    results = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # A running job's worker touches this after every chunk: a job whose heartbeat is older
    # than SCORE_JOB_LEASE_SECONDS lost its worker and is queued again by the sweep.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    events_done = models.PositiveIntegerField(default=0, help_text="Events scored and stored so far")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="score_job_status_time")]


class LinkSnapshot(models.Model):
    """The link groups of one UTC day are stored (`LinkGroup`): groups of accounts joined by
    the devices and IP addresses of the events of the 30 days before the day. Computed
    once, shortly after midnight or on the first event of the day that needs them."""

    day = models.DateField(primary_key=True)
    links = models.PositiveIntegerField(help_text="Distinct account–device and account–IP combinations read")
    computed_at = models.DateTimeField(auto_now_add=True)


class LinkGroup(models.Model):
    """One node (account, device or IP address) of a day's link graph and its group."""

    pk = models.CompositePrimaryKey("day", "node")
    day = models.DateField()
    node = models.TextField(help_text='"a:<account>", "d:<device>" or "i:<IP address>"')
    component = models.IntegerField(help_text="Group number, the same for every node of a group that day")
    accounts = models.IntegerField(help_text="Accounts in the group")


class ExchangeRate(models.Model):
    """What one unit of `currency` was worth in the reporting currency (REPORTING_CURRENCY) on
    `day`. Money figures (expected loss, the queue's order, the dashboard's sums and ROI) are
    in the reporting currency; an event's own amount keeps its currency."""

    currency = models.CharField(max_length=3)
    day = models.DateField()
    rate = models.DecimalField(max_digits=20, decimal_places=10)
    source = models.CharField(max_length=200, blank=True, help_text="The file the rate was loaded from")
    loaded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["currency", "day"]
        constraints = [models.UniqueConstraint(fields=["currency", "day"], name="one_rate_per_currency_day")]

    def __str__(self) -> str:
        return f"{self.currency} {self.day}: {self.rate}"
