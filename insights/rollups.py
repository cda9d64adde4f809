"""Hourly rollups: recompute whole UTC hours from events and scores, upsert the result.

A recomputation reads the source rows of the hours it covers and replaces their rollup
rows, so it is correct whatever happened before and safe to run twice or concurrently.
Which hours to recompute comes from `DirtyHour` marks written by database triggers.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Callable, Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, TruncDate, TruncHour

from insights.models import DirtyHour, HourlyRollup
from scoring.models import ExchangeRate
from triage.models import Score, Transaction

HOUR = timedelta(hours=1)
# One aggregation query covers at most a week of hours; keeps each statement short.
MAX_RANGE = timedelta(days=7)
ROLLUP_KEY = ("hour", "tier", "event_type", "score_band")
ROLLUP_VALUES = (
    "events", "amount_sum", "scored", "money_at_risk", "labeled", "confirmed_fraud", "fraud_amount",
    "reviewed", "flagged", "cleared", "caught", "caught_amount", "caught_unpriced", "unrated",
)

_FLAGGED = Q(score__review_status=Score.ReviewStatus.FLAGGED)
_CLEARED = Q(score__review_status=Score.ReviewStatus.CLEARED)
_REVIEWED = Q(score__review_status__in=[
    Score.ReviewStatus.FLAGGED, Score.ReviewStatus.CLEARED, Score.ReviewStatus.ESCALATED,
])
_FRAUD = Q(is_fraud=True)
_CAUGHT = _FLAGGED & _FRAUD


def _money(field: str, condition: Q | None = None):
    return Coalesce(Cast(Sum(field, filter=condition), FloatField()), Value(0.0))


def _rate_of_event():
    """The event's exchange rate to the reporting currency, as `core.money` takes it: the
    latest on or before its day, else its currency's first, else 1 (the reporting currency,
    none sent, or no rate loaded yet)."""
    mine = ExchangeRate.objects.filter(currency=OuterRef("currency"))
    on_or_before = mine.filter(day__lte=OuterRef("event_day")).order_by("-day")
    return Coalesce(
        Subquery(on_or_before.values("rate")[:1]), Subquery(mine.order_by("day").values("rate")[:1]),
        Value(1), output_field=DecimalField(max_digits=20, decimal_places=10),
    )


# An amount in a currency no rate was ever loaded for is summed 1:1, and counted so the
# dashboard can say so.
_UNRATED = (
    Q(amount__isnull=False) & ~Q(currency="") & ~Q(currency=settings.REPORTING_CURRENCY)
    & ~Q(Exists(ExchangeRate.objects.filter(currency=OuterRef("currency"))))
)


def _aggregate(start: datetime, end: datetime) -> list[HourlyRollup]:
    rows = (
        Transaction.objects.filter(timestamp__gte=start, timestamp__lt=end)
        .annotate(event_day=TruncDate("timestamp", tzinfo=dt_timezone.utc))
        .annotate(
            bucket=TruncHour("timestamp", tzinfo=dt_timezone.utc),
            tier_key=Coalesce("score__tier", Value("")),
            band=Coalesce(F("score__risk_score") / 10, Value(-1), output_field=IntegerField()),
            # Money sums are in the reporting currency (expected loss already is).
            money=ExpressionWrapper(F("amount") * Case(
                When(Q(currency="") | Q(currency=settings.REPORTING_CURRENCY), then=Value(1)), default=_rate_of_event(),
                output_field=DecimalField(max_digits=20, decimal_places=10)),
                output_field=DecimalField(max_digits=30, decimal_places=10)),
        )
        .values("bucket", "tier_key", "event_type", "band")
        .annotate(
            events=Count("id"),
            amount_sum=_money("money"),
            scored=Count("score"),
            money_at_risk=_money("score__expected_loss"),
            labeled=Count("id", filter=Q(is_fraud__isnull=False)),
            confirmed_fraud=Count("id", filter=_FRAUD),
            fraud_amount=_money("money", _FRAUD),
            reviewed=Count("id", filter=_REVIEWED),
            flagged=Count("id", filter=_FLAGGED),
            cleared=Count("id", filter=_CLEARED),
            caught=Count("id", filter=_CAUGHT),
            caught_amount=_money("money", _CAUGHT),
            caught_unpriced=Count("id", filter=_CAUGHT & Q(amount__isnull=True)),
            unrated=Count("id", filter=_UNRATED),
        )
        .order_by()
    )
    return [
        HourlyRollup(
            hour=row["bucket"], tier=row["tier_key"], event_type=row["event_type"], score_band=row["band"],
            **{name: row[name] for name in ROLLUP_VALUES},
        )
        for row in rows
    ]


def hour_ranges(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Distinct hour starts → [start, end) ranges of consecutive hours, each ≤ MAX_RANGE."""
    ranges: list[tuple[datetime, datetime]] = []
    for hour in sorted(set(hours)):
        if ranges and ranges[-1][1] == hour and hour + HOUR - ranges[-1][0] <= MAX_RANGE:
            ranges[-1] = (ranges[-1][0], hour + HOUR)
        else:
            ranges.append((hour, hour + HOUR))
    return ranges


def rollups_recompute(*, start: datetime, end: datetime) -> int:
    """Replace the rollup rows of every hour in [start, end) by a fresh aggregation."""
    fresh = _aggregate(start, end)
    with transaction.atomic():
        HourlyRollup.objects.filter(hour__gte=start, hour__lt=end).delete()
        # update_conflicts: a concurrent recomputation of the same hour may have inserted first.
        HourlyRollup.objects.bulk_create(
            fresh, update_conflicts=True, unique_fields=list(ROLLUP_KEY), update_fields=list(ROLLUP_VALUES)
        )
    return len(fresh)


def hours_mark_dirty(hours: Iterable[datetime]) -> int:
    """Mark these UTC hours dirty, as the triggers would; for writers that switched the
    score trigger's marking off for their insert (see insights migration 0005)."""
    marks = [DirtyHour(hour=hour) for hour in sorted({_utc_hour(hour) for hour in hours})]
    DirtyHour.objects.bulk_create(marks)
    return len(marks)


def _utc_hour(value: datetime) -> datetime:
    value = value.astimezone(dt_timezone.utc) if value.tzinfo else value.replace(tzinfo=dt_timezone.utc)
    return value.replace(minute=0, second=0, microsecond=0)


def rollups_refresh(*, max_hours: int | None = None) -> int:
    """Recompute the hours marked dirty; returns how many distinct hours were recomputed.

    Marks are claimed with SKIP LOCKED and deleted in the same transaction as the
    recomputation, so a mark written while we work (a later change) survives for the
    next run, and a crash leaves every mark in place.
    """
    from django.conf import settings

    limit = max_hours or settings.INSIGHTS_REFRESH_BATCH_HOURS
    with transaction.atomic():
        marks = list(
            DirtyHour.objects.select_for_update(skip_locked=True).order_by("id").values_list("id", "hour")[: limit * 20]
        )
        if not marks:
            return 0
        hours = sorted({_utc_hour(hour) for _, hour in marks})[:limit]
        chosen = set(hours)
        for start, end in hour_ranges(hours):
            rollups_recompute(start=start, end=end)
        DirtyHour.objects.filter(pk__in=[pk for pk, hour in marks if _utc_hour(hour) in chosen]).delete()
    return len(hours)


def rollups_rebuild(*, progress: Callable[[int], None] | None = None) -> int:
    """Recompute every hour that has events, a day at a time; returns the rollup row count.

    Marks present when the rebuild starts are covered by it and removed at the end.
    """
    last_mark = DirtyHour.objects.order_by("-id").values_list("id", flat=True).first() or 0
    first = Transaction.objects.order_by("timestamp").values_list("timestamp", flat=True).first()
    last = Transaction.objects.order_by("-timestamp").values_list("timestamp", flat=True).first()
    rows = 0
    if first is None:
        HourlyRollup.objects.all().delete()
    else:
        # Day by day, replacing as we go: the dashboards keep showing data meanwhile.
        day = _utc_hour(first).replace(hour=0)
        HourlyRollup.objects.filter(hour__lt=day).delete()
        while day <= last:
            rows += rollups_recompute(start=day, end=day + timedelta(days=1))
            day += timedelta(days=1)
            if progress:
                progress(1)
        HourlyRollup.objects.filter(hour__gte=day).delete()
    DirtyHour.objects.filter(id__lte=last_mark).delete()
    return rows


def rollup_days() -> int:
    """How many UTC days a full rebuild walks (for a progress bar)."""
    first = Transaction.objects.order_by("timestamp").values_list("timestamp", flat=True).first()
    last = Transaction.objects.order_by("-timestamp").values_list("timestamp", flat=True).first()
    if first is None:
        return 0
    return (_utc_hour(last).replace(hour=0) - _utc_hour(first).replace(hour=0)).days + 1
