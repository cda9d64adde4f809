"""Triage writes: the audit log and reviewer decisions."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from triage.models import AuditEntry, Decision, Score, Transaction
from webhooks.services import case_decided_notify

# What each verdict does to the case and to the event's label.
_VERDICT_EFFECT = {
    Decision.Verdict.CLEAR: (Score.ReviewStatus.CLEARED, False),
    Decision.Verdict.FLAG: (Score.ReviewStatus.FLAGGED, True),
    Decision.Verdict.ESCALATE: (Score.ReviewStatus.ESCALATED, None),
}


class DecisionConflict(Exception):
    """Someone else decided this case after the version the reviewer was looking at."""


def audit_record(
    *, actor: Any, action: str, object_type: str = "", object_id: str = "", detail: dict | None = None, client: Any = None
) -> AuditEntry:
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        actor=user, actor_client=client, action=action, object_type=object_type, object_id=object_id, detail=detail or {}
    )


def decision_record(
    *, transaction_id: int, reviewer: Any, verdict: str, note: str = "", expected_status: str | None = None
) -> Decision:
    """Store a reviewer's verdict; it becomes the event's label (flag = fraud, clear = legit).

    `expected_status` is the review status the reviewer saw. If the case changed since,
    DecisionConflict is raised and nothing is written, so two reviewers deciding at once
    cannot silently overwrite each other.
    """
    if verdict not in _VERDICT_EFFECT:
        raise ValueError(f"unknown verdict {verdict!r}")
    review_status, label = _VERDICT_EFFECT[Decision.Verdict(verdict)]
    now = timezone.now()
    with transaction.atomic():
        score = Score.objects.select_for_update().select_related("transaction").get(transaction_id=transaction_id)
        if expected_status is not None and score.review_status != expected_status:
            raise DecisionConflict(
                f"this case was already {score.review_status} by someone else; reload to see their decision"
            )
        decision = Decision.objects.create(
            transaction_id=transaction_id,
            reviewer=reviewer,
            verdict=verdict,
            note=note,
            model_version_name=score.model_version_name,
        )
        score.review_status = review_status
        score.decided_at = now
        score.claimed_by = None
        score.claim_expires_at = None
        score.save(update_fields=["review_status", "decided_at", "claimed_by", "claim_expires_at"])
        if label is not None:
            Transaction.objects.filter(pk=transaction_id).update(
                is_fraud=label, label_known_at=now, label_source="review"
            )
        audit_record(
            actor=reviewer,
            action="decision",
            object_type="transaction",
            object_id=str(transaction_id),
            detail={"verdict": verdict, "note": note, "previous_status": expected_status or "", "event_id": score.transaction.event_id},
        )
        transaction.on_commit(lambda: case_decided_notify(decision=decision))  # the sender's webhook
    return decision
