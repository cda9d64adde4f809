from __future__ import annotations

from django.conf import settings
from django.db import models


class Tier(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


# Operator classes of an (id, time) index: see Transaction.Meta.indexes.
_BYTES_THEN_TIME = ["varchar_pattern_ops", "timestamptz_ops"]


class Transaction(models.Model):
    """One event as the data contract defines it: a login, a payment, an order, a claim.

    `event_id` is the sender's idempotency key, unique per sender. Label fields hold the
    imported truth (or the latest reviewer decision) and when it became known, so features
    can respect label delay.
    """

    class PaymentStatus(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILED = "failed", "Failed"
        DECLINED = "declined", "Declined"

    # No index of its own: the unique (client, event_id) constraint's index starts with it,
    # and every extra index on this table slows bulk imports.
    client = models.ForeignKey(
        "accounts.ApiClient", on_delete=models.PROTECT, related_name="transactions", db_index=False
    )
    event_id = models.CharField(max_length=128)
    account_id = models.CharField(max_length=128)
    timestamp = models.DateTimeField()
    event_type = models.CharField(max_length=32, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    payment_status = models.CharField(max_length=10, choices=PaymentStatus.choices, blank=True)
    device_id = models.CharField(max_length=128, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    country = models.CharField(max_length=64, blank=True)
    session_duration = models.FloatField(null=True, blank=True, help_text="Minutes")
    merchant_id = models.CharField(max_length=128, blank=True)
    category = models.CharField(max_length=64, blank=True)
    account_created_at = models.DateTimeField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)

    is_fraud = models.BooleanField(null=True, blank=True)
    label_known_at = models.DateTimeField(null=True, blank=True)
    label_source = models.CharField(max_length=10, blank=True, help_text="import or review")
    # The generator's scenario name: for evaluation only, never a feature.
    scenario = models.CharField(max_length=32, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "event_id"], name="unique_event_per_sender"),
        ]
        # Ids are only ever looked up by equality, so their indexes compare bytes
        # (`varchar_pattern_ops`, PostgreSQL's) rather than through the database's collation:
        # the same look-ups, and a quarter less work to build after a bulk import.
        indexes = [
            models.Index(fields=["account_id", "timestamp"], name="txn_account_time", opclasses=_BYTES_THEN_TIME),
            models.Index(fields=["device_id", "timestamp"], name="txn_device_time", opclasses=_BYTES_THEN_TIME),
            models.Index(fields=["ip_address", "timestamp"], name="txn_ip_time"),
            models.Index(fields=["merchant_id", "timestamp"], name="txn_merchant_time", opclasses=_BYTES_THEN_TIME),
            # Live scoring counts a merchant's known labels in its window (thousands a month for
            # a busy one) from this index alone, without visiting the table; only labeled rows
            # are in it, so storing a new unlabeled event never writes it. INCLUDE is PostgreSQL's.
            models.Index(
                fields=["merchant_id", "timestamp"], name="txn_merchant_labels", opclasses=_BYTES_THEN_TIME,
                include=["id", "account_id", "is_fraud", "label_known_at"], condition=models.Q(is_fraud__isnull=False),
            ),
            models.Index(fields=["timestamp"], name="txn_time"),
            # Reviewers search by event id without knowing which sender it came from.
            models.Index(fields=["event_id"], name="txn_event_id", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.account_id})"


class Score(models.Model):
    """The score returned for a transaction, its explanation, and the state of its review case."""

    class ExplanationStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        # Batch scoring explains the tiers reviewers see first and stores the rest without one.
        SKIPPED = "skipped", "Not explained (batch scoring)"

    class ReviewStatus(models.TextChoices):
        OPEN = "open", "Open"
        CLEARED = "cleared", "Cleared"
        FLAGGED = "flagged", "Flagged"
        ESCALATED = "escalated", "Escalated"
        # Put aside until `snoozed_until` (waiting on a customer's call-back, a bank's answer);
        # it comes back open then (triage.workflow.snoozed_wake, every minute).
        SNOOZED = "snoozed", "Snoozed"

    transaction = models.OneToOneField(Transaction, on_delete=models.CASCADE, primary_key=True, related_name="score")
    probability = models.FloatField()
    risk_score = models.PositiveSmallIntegerField()
    tier = models.CharField(max_length=6, choices=Tier.choices)
    expected_loss = models.FloatField()
    # No index: a version's scores are found by their time (`score_time`), and only deleting a
    # version (the product never does) would look them up by version. Every score is spared it.
    model_version = models.ForeignKey(
        "scoring.ModelVersion", on_delete=models.PROTECT, null=True, blank=True, db_index=False
    )
    # Always set, also for the fallback scorer, so every score says what made it.
    model_version_name = models.CharField(max_length=64)
    # The exact feature vector the model saw, so the explanation explains this very score.
    features = models.JSONField(default=dict)
    explanation = models.JSONField(null=True, blank=True)
    explanation_status = models.CharField(
        max_length=8, choices=ExplanationStatus.choices, default=ExplanationStatus.PENDING
    )
    explained_at = models.DateTimeField(null=True, blank=True)
    scored_at = models.DateTimeField(auto_now_add=True)
    # What the lists and rules did (rules.engine.Outcome.stored): the version, the action,
    # every hit with its reason, and the model's own tier and score when a rule changed
    # them. Null when nothing hit.
    rules = models.JSONField(null=True, blank=True)

    review_status = models.CharField(max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.OPEN)
    # Indexed by `score_claims` below, which holds only claimed cases.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="claims",
        db_index=False,
    )
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # Whose case it is (an escalation's assignee, a manager's or the round-robin's pick): only
    # they, or a manager, take and decide it. Kept once decided, as the record of who owned it.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="assigned_cases",
        db_index=False,
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Every index here is paid for by every score stored (a million in one batch run), so
        # the ones that serve a small set hold only that set: an index over every row is kept
        # only where queries need every row.
        indexes = [
            # The queue: open cases of one tier, highest expected loss first, with the
            # tie-breaker, so "top N" and the capped tier counts are one ordered index walk.
            # Every queue query asks for open cases; decided ones are never listed by status.
            models.Index(
                fields=["tier", "-expected_loss", "transaction"],
                name="score_open_queue",
                condition=models.Q(review_status="open"),
            ),
            # The escalated tab and its count: escalated cases only, few, costliest first.
            models.Index(
                fields=["-expected_loss", "transaction"],
                name="score_escalated",
                condition=models.Q(review_status="escalated"),
            ),
            # The snoozed tab, and the minute's wake-up: snoozed cases only, few.
            models.Index(
                fields=["snoozed_until"],
                name="score_snoozed",
                condition=models.Q(review_status="snoozed"),
            ),
            # "Assigned to me" and each reviewer's load: undecided assigned cases only.
            models.Index(
                fields=["assigned_to", "-expected_loss", "transaction"],
                name="score_assigned",
                condition=models.Q(assigned_to__isnull=False, review_status__in=["open", "escalated", "snoozed"]),
            ),
            # A reviewer's claims (and the user foreign key's look-ups): claimed cases only.
            models.Index(
                fields=["claimed_by", "claim_expires_at"],
                name="score_claims",
                condition=models.Q(claimed_by__isnull=False),
            ),
            # Explanations still to compute, oldest first, for the workers and the sweeper.
            models.Index(
                fields=["scored_at"],
                name="score_explanation_pending",
                condition=models.Q(explanation_status="pending"),
            ),
            models.Index(fields=["scored_at"], name="score_time"),
        ]


# Cases still waiting for a clear or flag.
UNDECIDED_STATUSES = (Score.ReviewStatus.OPEN, Score.ReviewStatus.ESCALATED, Score.ReviewStatus.SNOOZED)
# The queue's tabs that list one status over every tier (the tier tabs list open cases).
STATUS_TABS = (Score.ReviewStatus.ESCALATED, Score.ReviewStatus.SNOOZED)


class Disposition(models.Model):
    """A reason code a clear or flag decision carries ("stolen card", "customer confirmed").

    A managed list, so figures can be broken down by why cases were decided, not only how.
    Codes are never deleted once used: a retired one is made inactive, and decisions keep it.
    """

    code = models.SlugField(max_length=40, primary_key=True)
    verdict = models.CharField(max_length=10, choices=[("clear", "Clear (legitimate)"), ("flag", "Flag as fraud")])
    label = models.CharField(max_length=80)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order within its verdict")

    class Meta:
        ordering = ["verdict", "position", "code"]

    def __str__(self) -> str:
        return self.label


class Decision(models.Model):
    """A reviewer's verdict on a case. The latest one per transaction is its label."""

    class Verdict(models.TextChoices):
        CLEAR = "clear", "Clear (legitimate)"
        FLAG = "flag", "Flag as fraud"
        ESCALATE = "escalate", "Escalate"

    transaction = models.ForeignKey(Transaction, on_delete=models.CASCADE, related_name="decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    note = models.TextField(blank=True)
    # Why: required for clear and flag, none for an escalation (older decisions have none).
    disposition = models.ForeignKey(Disposition, on_delete=models.PROTECT, null=True, blank=True, related_name="decisions")
    model_version_name = models.CharField(max_length=64, blank=True, help_text="The version the reviewer saw")
    created_at = models.DateTimeField(auto_now_add=True)
    # What the case and the label were before this decision, so an undo can put them back.
    previous_status = models.CharField(max_length=10, blank=True)
    previous_decided_at = models.DateTimeField(null=True, blank=True)
    previous_is_fraud = models.BooleanField(null=True, blank=True)
    previous_label_known_at = models.DateTimeField(null=True, blank=True)
    previous_label_source = models.CharField(max_length=10, blank=True)
    # An escalation may hand the case to someone: an undo hands it back.
    previous_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False,
    )
    # Set when the reviewer took the decision back; the row stays as history.
    undone_at = models.DateTimeField(null=True, blank=True)
    # Decisions taken together (an account's case, a ring) share this, so one undo takes
    # them all back.
    group = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["transaction", "-created_at"], name="decision_latest"),
            models.Index(fields=["group"], name="decision_group", condition=models.Q(group__isnull=False)),
        ]


class CaseComment(models.Model):
    """A reviewer's note on a case. Edits keep every earlier wording (`history`), so what a
    colleague read when they decided stays on record."""

    transaction = models.ForeignKey(Transaction, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="case_comments")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    # Earlier wordings, oldest first: [{"body": ..., "until": ISO time it was replaced}].
    history = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["transaction", "created_at"], name="comment_case_time")]


class ReviewerShift(models.Model):
    """Whether a reviewer is on shift, so round-robin assignment hands them cases
    (AUTO_ASSIGN_TIERS); off shift, nothing new is assigned to them."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="shift")
    on_shift = models.BooleanField(default=False)
    changed_at = models.DateTimeField(auto_now=True)
    # When the round-robin last gave them a case: among equally loaded reviewers, the one
    # waiting longest is next.
    last_assigned_at = models.DateTimeField(null=True, blank=True)
