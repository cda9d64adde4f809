"""Days as people filter by them: whole calendar days in the deployment's time zone."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone


def day_start(day: date) -> datetime:
    """Midnight at the start of `day` in the deployment's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def within_days(rows: QuerySet, field: str, *, date_from: date | None = None, date_to: date | None = None) -> QuerySet:
    """The rows whose `field` falls on a day from `date_from` to `date_to`, both included."""
    if date_from:
        rows = rows.filter(**{f"{field}__gte": day_start(date_from)})
    if date_to:
        rows = rows.filter(**{f"{field}__lt": day_start(date_to + timedelta(days=1))})
    return rows
