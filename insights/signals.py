"""Decisions show on the dashboards within seconds: after a decision commits, refresh the
hours that changed. New scores need no signal: database triggers mark their hours and the
periodic refresh picks them up, so /score pays nothing extra here. A bulk COPY of scores
(batch scoring) marks its hours once instead of per row, told by scoring's signals."""
from __future__ import annotations

from datetime import timedelta
from datetime import timezone as dt_timezone

from django.db import transaction
from django.db.models.functions import TruncHour
from django.db.models.signals import post_save
from django.dispatch import receiver

from insights.rollups import hours_mark_dirty
from scoring.signals import bulk_scores_copied, bulk_scores_copy_started, rates_loaded
from triage.models import Decision, Transaction


@receiver(post_save, sender=Decision, dispatch_uid="insights-decision-refresh")
def decision_saved(sender, instance: Decision, created: bool, **kwargs) -> None:
    if created:
        transaction.on_commit(_enqueue_refresh)


def _enqueue_refresh() -> None:
    from insights.tasks import refresh_rollups

    try:
        refresh_rollups.delay()
    except Exception:  # broker down: the periodic refresh catches up
        pass


@receiver(bulk_scores_copy_started, dispatch_uid="insights-bulk-copy-started")
def bulk_copy_started(sender, cursor, **kwargs) -> None:
    # The score trigger skips its per-row marking for the rest of this transaction (migration
    # 0005): the copy's hours are marked once, from the events' times at hand.
    cursor.execute("SET LOCAL insights.hours_marked = 'on'")


@receiver(bulk_scores_copied, dispatch_uid="insights-bulk-copied")
def bulk_copied(sender, cursor, event_hours, **kwargs) -> None:
    cursor.execute("SET LOCAL insights.hours_marked = 'off'")
    hours_mark_dirty(event_hours)


@receiver(rates_loaded, dispatch_uid="insights-rates-loaded")
def rates_changed(sender, currencies, since, **kwargs) -> None:
    """New rates change the money sums of every hour with events in those currencies since
    the first day loaded (a day before, for time zones): those hours are recomputed."""
    hours = (
        Transaction.objects.filter(currency__in=currencies, timestamp__date__gte=since - timedelta(days=1))
        .annotate(hour=TruncHour("timestamp", tzinfo=dt_timezone.utc)).values_list("hour", flat=True).distinct()
    )
    hours_mark_dirty(list(hours))
    transaction.on_commit(_enqueue_refresh)
