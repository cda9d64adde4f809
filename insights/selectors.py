"""Reads for the managers' dashboards. Trends come from hourly rollups, never raw events."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import Avg, Case, Count, FloatField, Max, Q, Sum, Value, When
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, TruncDate
from django.utils import timezone

from insights import stats
from insights.models import AccountRisk, HourlyRollup, RoiAssumptions, SegmentSummary
from insights.periods import Period
from scoring.models import ModelVersion
from triage.models import Decision, Score

TIER_ORDER = ("high", "medium", "low", "unscored")
SCORE_BANDS = list(range(11))  # risk score // 10; 100 is band 10


def latest_event_hour() -> datetime | None:
    return HourlyRollup.objects.aggregate(latest=Max("hour"))["latest"]


def _rollups(period: Period):
    return HourlyRollup.objects.filter(hour__gte=period.utc_start, hour__lt=period.utc_end)


def _num(value: Any) -> float:
    return float(value or 0)


def trends_daily(*, period: Period) -> dict[str, Any]:
    """Per local day and tier: events, flagged, confirmed fraud, money at risk."""
    rows = (
        _rollups(period)
        .annotate(day=TruncDate("hour", tzinfo=period.tz))
        .values("day", "tier")
        .annotate(
            events=Sum("events"), scored=Sum("scored"), flagged=Sum("flagged"), cleared=Sum("cleared"),
            confirmed_fraud=Sum("confirmed_fraud"), money_at_risk=Sum("money_at_risk"), amount=Sum("amount_sum"),
        )
        .order_by("day", "tier")
    )
    series = [
        {
            "day": row["day"].isoformat(),
            "tier": row["tier"] or "unscored",
            "events": row["events"],
            "scored": row["scored"],
            "flagged": row["flagged"],
            "cleared": row["cleared"],
            "confirmed_fraud": row["confirmed_fraud"],
            "money_at_risk": round(_num(row["money_at_risk"]), 2),
            "amount": round(_num(row["amount"]), 2),
        }
        for row in rows
        if period.start <= row["day"] <= period.end
    ]
    totals: dict[str, float] = {}
    for item in series:
        for key in ("events", "flagged", "confirmed_fraud", "money_at_risk"):
            totals[key] = round(totals.get(key, 0) + item[key], 2)
    return {"period": period.as_dict(), "days": [d.isoformat() for d in period.days], "tiers": list(TIER_ORDER),
            "series": series, "totals": totals}


def heatmap(*, period: Period) -> dict[str, Any]:
    """Fraud rate and volume by local day of week (1 = Monday) × hour of day, with 95 % Wilson
    intervals. The rate is confirmed fraud among events whose label is known."""
    rows = (
        _rollups(period)
        .annotate(dow=ExtractIsoWeekDay("hour", tzinfo=period.tz), hod=ExtractHour("hour", tzinfo=period.tz))
        .values("dow", "hod")
        .annotate(events=Sum("events"), labeled=Sum("labeled"), fraud=Sum("confirmed_fraud"))
    )
    found = {(r["dow"], r["hod"]): r for r in rows}
    cells = []
    for dow in range(1, 8):
        for hod in range(24):
            row = found.get((dow, hod), {"events": 0, "labeled": 0, "fraud": 0})
            labeled, fraud = int(row["labeled"] or 0), int(row["fraud"] or 0)
            low, high = stats.wilson_interval(fraud, labeled)
            cells.append({
                "day_of_week": dow, "hour": hod, "events": int(row["events"] or 0), "labeled": labeled, "fraud": fraud,
                "fraud_rate": fraud / labeled if labeled else None, "ci_low": low, "ci_high": high,
            })
    return {"period": period.as_dict(), "cells": cells}


def roi_assumptions() -> RoiAssumptions:
    """The stored assumptions, or the configured defaults when nobody has edited them."""
    stored = RoiAssumptions.objects.order_by("-pk").first()
    return stored or RoiAssumptions(
        cost_per_review=settings.REVIEW_COST,
        friction_cost_per_false_positive=settings.INSIGHTS_FRICTION_COST,
        value_of_unpriced_event=settings.DEFAULT_EVENT_VALUE,
    )


def roi(*, period: Period) -> dict[str, Any]:
    sums = _rollups(period).aggregate(
        caught=Sum("caught"), caught_amount=Sum("caught_amount"), caught_unpriced=Sum("caught_unpriced"),
        reviewed=Sum("reviewed"), cleared=Sum("cleared"), flagged=Sum("flagged"),
    )
    assumptions = roi_assumptions()
    figures = stats.roi_figures(
        caught_amount=_num(sums["caught_amount"]),
        caught_unpriced=int(sums["caught_unpriced"] or 0),
        reviews=int(sums["reviewed"] or 0),
        false_positives=int(sums["cleared"] or 0),
        cost_per_review=assumptions.cost_per_review,
        friction_cost_per_false_positive=assumptions.friction_cost_per_false_positive,
        value_of_unpriced_event=assumptions.value_of_unpriced_event,
    )
    return {
        "period": period.as_dict(),
        "counts": {
            "caught": int(sums["caught"] or 0), "reviews": int(sums["reviewed"] or 0),
            "false_positives": int(sums["cleared"] or 0), "flagged": int(sums["flagged"] or 0),
            "caught_amount": round(_num(sums["caught_amount"]), 2), "caught_unpriced": int(sums["caught_unpriced"] or 0),
        },
        "assumptions": {
            "cost_per_review": assumptions.cost_per_review,
            "friction_cost_per_false_positive": assumptions.friction_cost_per_false_positive,
            "value_of_unpriced_event": assumptions.value_of_unpriced_event,
            "updated_by": assumptions.updated_by.get_username() if assumptions.updated_by_id else None,
            "updated_at": assumptions.updated_at,
        },
        **figures,
    }


def _score_drift(period: Period, bands_by_day: dict[str, list[int]]) -> dict[str, Any]:
    """PSI of the period's score distribution against the champion's training reference."""
    if apps.is_installed("learning"):
        try:
            from learning.selectors import drift_latest  # written by the learning app

            latest = drift_latest()
            if latest:
                return {"source": "learning", **latest}
        except (ImportError, AttributeError):
            pass
    champion = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
    reference = ((champion.manifest if champion else {}) or {}).get("reference", {}).get("score_bands")
    if not reference:
        return {"source": "none", "psi": None, "message": "no reference: the champion's bundle has no training score distribution"}
    actual = [sum(day[b] for day in bands_by_day.values()) for b in SCORE_BANDS]
    if sum(actual) == 0:
        return {"source": "manifest", "psi": None, "message": "no scored events in this period"}
    value = stats.psi(reference, actual)
    return {"source": "manifest", "model_version": champion.name, "psi": round(value, 4),
            "status": "stable" if value < 0.1 else "watch" if value < 0.25 else "shifted"}


def model_health(*, period: Period) -> dict[str, Any]:
    rollups = _rollups(period)
    precision = []
    by_tier = {r["tier"]: r for r in rollups.exclude(tier="").values("tier").annotate(
        flagged=Sum("flagged"), cleared=Sum("cleared"), scored=Sum("scored"))}
    for tier in ("high", "medium", "low"):
        row = by_tier.get(tier, {"flagged": 0, "cleared": 0, "scored": 0})
        decided = int(row["flagged"] or 0) + int(row["cleared"] or 0)
        low, high = stats.wilson_interval(int(row["flagged"] or 0), decided)
        precision.append({
            "tier": tier, "scored": int(row["scored"] or 0), "flagged": int(row["flagged"] or 0),
            "cleared": int(row["cleared"] or 0), "precision": (row["flagged"] or 0) / decided if decided else None,
            "ci_low": low, "ci_high": high,
        })
    bands_by_day: dict[str, list[int]] = {}
    rows = (
        rollups.exclude(score_band=-1).annotate(day=TruncDate("hour", tzinfo=period.tz))
        .values("day", "score_band").annotate(n=Sum("scored")).order_by("day")
    )
    for row in rows:
        if period.start <= row["day"] <= period.end:
            bands_by_day.setdefault(row["day"].isoformat(), [0] * len(SCORE_BANDS))[min(row["score_band"], 10)] += row["n"]
    versions = [
        {
            "name": v.name, "status": v.status, "algorithm": v.algorithm, "created_at": v.created_at,
            "promoted_at": v.promoted_at, "test": _test_metrics(v.metrics),
        }
        for v in ModelVersion.objects.order_by("-created_at")[:20]
    ]
    return {
        "period": period.as_dict(),
        "precision": precision,
        "score_distribution": [{"day": day, "bands": bands} for day, bands in sorted(bands_by_day.items())],
        "drift": _score_drift(period, bands_by_day),
        "versions": versions,
    }


def _test_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    test = (metrics or {}).get("test", {})
    high = test.get("high_tier", {})
    return {
        "rows": test.get("rows"), "roc_auc": test.get("roc_auc"), "average_precision": test.get("average_precision"),
        "high_precision": high.get("precision"), "high_recall": high.get("recall"),
    }


def team(*, period: Period) -> dict[str, Any]:
    decisions = Decision.objects.filter(created_at__gte=period.utc_start, created_at__lt=period.utc_end)
    per_day = (
        decisions.annotate(day=TruncDate("created_at", tzinfo=period.tz))
        .values("day", "reviewer__username").annotate(n=Count("id")).order_by("day", "reviewer__username")
    )
    waits = [
        (decided - scored).total_seconds()
        for decided, scored in decisions.values_list("created_at", "transaction__score__scored_at")
        if scored is not None
    ]
    open_high = Score.objects.filter(review_status=Score.ReviewStatus.OPEN, tier="high")
    # Walks the scored_at index from the oldest score: stops at the first open high case.
    oldest = open_high.order_by("scored_at").values_list("scored_at", flat=True).first()
    now = timezone.now()
    return {
        "period": period.as_dict(),
        "decisions": [{"day": r["day"].isoformat(), "reviewer": r["reviewer__username"], "decisions": r["n"]} for r in per_day],
        "time_to_decision": {
            "decisions": len(waits),
            "median_seconds": stats.percentile(waits, 50),
            "p90_seconds": stats.percentile(waits, 90),
        },
        "oldest_open_high": {
            "scored_at": oldest,
            "age_seconds": (now - oldest).total_seconds() if oldest else None,
            "open_high_cases": open_high.count(),
        },
    }


def _share(condition: Q):
    return Avg(Case(When(condition, then=Value(1.0)), default=Value(0.0), output_field=FloatField()))


def segment_stats() -> dict[str, dict[str, Any]]:
    """Size and average profile of each segment, aggregated over every account (slow-ish:
    run at refresh time and stored in SegmentSummary)."""
    rows = AccountRisk.objects.values("segment").annotate(
        accounts=Count("id"),
        offboard=Count("id", filter=Q(offboard=True)),
        avg_events=Avg("events"),
        avg_max_score=Avg("max_score"),
        with_confirmed_fraud=_share(Q(confirmed_frauds__gt=0)),
        avg_failed_payments=Avg("failed_payments"),
        avg_devices=Avg("devices"),
        with_ring_links=_share(Q(ring_links__gt=0)),
        total_amount=Sum("amount_sum"),
    ).order_by()
    return {r.pop("segment"): {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows}


def account_segments() -> dict[str, Any]:
    """Stored segment profiles plus live counts of managers' decisions."""
    stored = {s.segment: s for s in SegmentSummary.objects.all()}
    decided = {
        (r["segment"], r["decision"]): r["n"]
        for r in AccountRisk.objects.exclude(decision="").values("segment", "decision").annotate(n=Count("id")).order_by()
    }
    total = sum(s.accounts for s in stored.values())
    segments = []
    for segment in ("high", "medium", "low"):
        summary = stored.get(segment)
        stats = summary.stats if summary else {"accounts": 0}
        segments.append({
            "segment": segment,
            **stats,
            "share": stats["accounts"] / total if total else 0.0,
            "offboarded": decided.get((segment, AccountRisk.Decision.OFFBOARDED), 0),
            "kept": decided.get((segment, AccountRisk.Decision.KEPT), 0),
        })
    refreshed = max((s.refreshed_at for s in stored.values()), default=None)
    return {"accounts": total, "refreshed_at": refreshed, "segments": segments}


OFFBOARDING_FIELDS = (
    "account_id", "segment", "points", "events", "max_score", "high_events", "confirmed_frauds", "failed_payments",
    "devices", "ips", "ring_links", "amount_sum", "last_seen", "reasons", "decision", "decided_at",
)


def offboarding_list(*, decision: str = "pending", segment: str | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Accounts that meet an off-boarding criterion, most points first, with their reasons."""
    queryset = AccountRisk.objects.filter(offboard=True)
    if decision == "pending":
        queryset = queryset.filter(decision="")
    elif decision != "all":
        queryset = queryset.filter(decision=decision)
    if segment:
        queryset = queryset.filter(segment=segment)
    total = queryset.count()
    rows = list(
        queryset.order_by("-points", "-max_score", "account_id")
        .values(*OFFBOARDING_FIELDS, "decided_by__username")[offset : offset + limit]
    )
    for row in rows:
        row["decided_by"] = row.pop("decided_by__username")
    return {"total": total, "items": rows}
