"""A champion gets its drift reference as soon as it is promoted.

Versions trained by the learning loop store theirs at training time; versions trained with
`manage.py train` (the demo's first model) had none until the first hourly drift check with
enough live scores built it, so the dashboard's PSI panel said "no reference" for the very
model the demo had just trained. Building the reference reads every stored event, so it runs
as a task after the promotion commits (in-process where there is no broker, as in the demo).
"""
from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_save

log = logging.getLogger(__name__)


def _champion_saved(sender, instance, update_fields=None, **kwargs) -> None:
    from learning.models import DriftReference
    from scoring.models import ModelVersion

    if instance.status != ModelVersion.Status.CHAMPION:
        return
    if update_fields is not None and "status" not in update_fields:
        return
    if DriftReference.objects.filter(model_version_id=instance.pk).exists():
        return
    transaction.on_commit(lambda: _queue(instance.pk))


def _queue(version_id: int) -> None:
    from learning.tasks import drift_reference_build

    try:
        drift_reference_build.delay(version_id)
    except Exception as exc:  # broker down: the hourly drift check builds it instead
        log.warning("could not queue the drift reference of model version %s: %s", version_id, exc)


def connect() -> None:
    from scoring.models import ModelVersion

    post_save.connect(_champion_saved, sender=ModelVersion, dispatch_uid="learning_champion_reference")
