"""Triage reads: queue listings and tier counts."""
from __future__ import annotations

from typing import Any

from django.db.models import Count

from triage.models import Score, Tier

QUEUE_FIELDS = (
    "transaction_id", "transaction__event_id", "transaction__account_id", "transaction__timestamp",
    "transaction__event_type", "transaction__amount", "transaction__currency", "probability", "risk_score",
    "tier", "expected_loss", "model_version_name", "review_status", "explanation_status",
)


def queue_counts() -> dict[str, int]:
    """Open cases per tier."""
    counts = {tier.value: 0 for tier in Tier}
    rows = Score.objects.filter(review_status=Score.ReviewStatus.OPEN).values("tier").annotate(n=Count("pk"))
    for row in rows:
        counts[row["tier"]] = row["n"]
    return counts


def queue_list(*, tier: str, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Open cases of one tier, highest expected loss first."""
    rows = (
        Score.objects.filter(review_status=Score.ReviewStatus.OPEN, tier=tier)
        .order_by("-expected_loss", "transaction_id")
        .values(*QUEUE_FIELDS)[offset : offset + limit]
    )
    return [
        {
            "transaction_id": r["transaction_id"],
            "event_id": r["transaction__event_id"],
            "account_id": r["transaction__account_id"],
            "timestamp": r["transaction__timestamp"],
            "event_type": r["transaction__event_type"],
            "amount": None if r["transaction__amount"] is None else float(r["transaction__amount"]),
            "currency": r["transaction__currency"],
            "probability": r["probability"],
            "risk_score": r["risk_score"],
            "tier": r["tier"],
            "expected_loss": r["expected_loss"],
            "model_version": r["model_version_name"],
            "review_status": r["review_status"],
            "explanation_status": r["explanation_status"],
        }
        for r in rows
    ]
