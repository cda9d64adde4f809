"""Reads of lists, rule set versions, backtests and shadow results."""
from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, Sum

from rules.models import EntityList, RuleSetVersion, RulesGeneration, ShadowHit


def rules_generation() -> int:
    row = RulesGeneration.objects.filter(pk=1).values_list("generation", flat=True).first()
    return row or 0


def versions() -> list[RuleSetVersion]:
    return list(RuleSetVersion.objects.all()[:50])


def version_of(status: str) -> RuleSetVersion | None:
    return RuleSetVersion.objects.filter(status=status).first()


def lists_with_counts() -> list[EntityList]:
    return list(EntityList.objects.annotate(entry_count=Count("entries")).order_by("name"))


def shadow_results(version: RuleSetVersion) -> list[dict[str, Any]]:
    """Per rule of a shadow version: would-be hits so far, how many are labeled by now,
    how many of those are fraud, their precision and the money of the fraud ones."""
    rows = (
        ShadowHit.objects.filter(version=version)
        .values("rule", "action")
        .annotate(
            hits=Count("id"),
            labeled=Count("id", filter=Q(transaction__is_fraud__isnull=False)),
            fraud=Count("id", filter=Q(transaction__is_fraud=True)),
            fraud_amount=Sum("transaction__amount", filter=Q(transaction__is_fraud=True)),
        )
        .order_by("rule")
    )
    out = []
    for row in rows:
        row["precision"] = row["fraud"] / row["labeled"] if row["labeled"] else None
        row["fraud_amount"] = float(row["fraud_amount"] or 0)
        out.append(row)
    return out
