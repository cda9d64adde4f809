"""Decisions show on the dashboards within seconds: after a decision commits, refresh the
hours that changed. New scores need no signal: database triggers mark their hours and the
periodic refresh picks them up, so /score pays nothing extra here."""
from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from triage.models import Decision


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
