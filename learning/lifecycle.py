"""A model's life in one place: trained on the stored events, registered with its bundle,
promoted to champion, rolled back. Every promotion and rollback is audited, whether a manager
clicks it, the retraining loop decides it or an operator runs `manage.py promote` / `rollback`.
"""
from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from learning.models import ShadowModel
from ml.bundle import save_bundle
from ml.features import epoch_ms, label_known_ms, to_epoch_ms
from ml.training import TrainingConfig, TrainingResult, train_model
from scoring.models import ModelVersion
from scoring.registry import forget_loaded_models, load_version
from scoring.selectors import events_frame


class NoEarlierChampion(Exception):
    """Rollback asked for, but no version was champion before the current one."""


def training_config(**overrides: Any) -> TrainingConfig:
    """The training settings this deployment uses (capacity, tier multiple, costs), with overrides."""
    return TrainingConfig(**{
        "capacity_per_day": settings.REVIEWER_CAPACITY_PER_DAY, "medium_multiple": settings.MEDIUM_TIER_MULTIPLE,
        "review_cost": settings.REVIEW_COST, "default_event_value": settings.DEFAULT_EVENT_VALUE,
        "high_min_probability": settings.HIGH_TIER_MIN_PROBABILITY,
        "medium_min_probability": settings.MEDIUM_TIER_MIN_PROBABILITY, **overrides,
    })


def model_train(
    *, config: TrainingConfig | None = None, promote: str = "if-none", progress: Callable[[str], None] | None = None,
    until: datetime | None = None, since: datetime | None = None,
) -> ModelVersion:
    """Train on the labeled stored events, save a bundle, register it.

    `until`: train as a model built at that time would have been: on events before it,
    with only the labels known by it (default: now). `since`: learn only from events from
    then on; older ones are still the history the features look back on. `promote`:
    "always" makes it champion, "never" leaves it a challenger, "if-none" promotes only
    when there is no champion yet.
    """
    config = config or training_config()
    say = progress or (lambda message: None)
    say("loading events")
    cut = until or timezone.now()
    # In time order with the event id breaking ties, not in storage order: chunks stored
    # side by side take their ids in whatever order they commit, and the same history
    # imported twice must train the same model.
    frame = events_frame(until=until).sort_values(["timestamp", "event_id", "seq"], kind="stable", ignore_index=True)
    frame["seq"] = np.arange(len(frame), dtype=np.int64)
    # Only labels known by the cut: imported truth whose label time has passed (the default
    # delay when the file gave none), and reviewers' decisions.
    if until is None:
        known = frame["label_known_at"].isna() | (frame["label_known_at"] <= cut)
    else:
        times = to_epoch_ms(frame["timestamp"])
        known = label_known_ms(frame, times)[1] <= epoch_ms(cut)
    frame.loc[~np.asarray(known), "is_fraud"] = np.nan
    if since is not None:
        frame.loc[frame["timestamp"] < since, "is_fraud"] = np.nan
    result = train_model(frame, config, progress=say)
    version = model_version_register(result=result)
    say(f"saved model {version.name} to {version.bundle_path}")
    from ml.report import write_report  # plotting libraries load only when training

    report = write_report(Path(version.bundle_path) / "report", result=result, manifest=version.manifest)
    say(f"wrote the model report to {report}")
    has_champion = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).exists()
    if promote == "always" or (promote == "if-none" and not has_champion):
        model_version_promote(version=version, actor=None)
        say(f"{version.name} is now the champion")
    return version


def model_version_register(*, result: TrainingResult, algorithm: str = "lightgbm") -> ModelVersion:
    created = timezone.now()
    # A random suffix: two trainings in the same second on the same data stay distinct.
    name = f"lgbm-{created:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    manifest = {"id": name, "algorithm": algorithm, "created_at": created.isoformat(), **result.manifest()}
    directory = save_bundle(Path(settings.MODEL_DIR) / name, result.booster, manifest)
    return ModelVersion.objects.create(
        name=name,
        algorithm=algorithm,
        bundle_path=str(directory),
        manifest=manifest,
        metrics=result.metrics,
        thresholds=result.thresholds,
        status=ModelVersion.Status.CHALLENGER,
    )


def model_version_promote(*, version: ModelVersion, actor: Any) -> ModelVersion:
    """Make `version` the champion; the previous champion is retired. Audited."""

    load_version(version)  # refuse to promote a bundle that cannot be loaded
    with transaction.atomic():
        previous = list(
            ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.CHAMPION).exclude(pk=version.pk)
        )
        ModelVersion.objects.filter(pk__in=[v.pk for v in previous]).update(status=ModelVersion.Status.RETIRED)
        version.status = ModelVersion.Status.CHAMPION
        version.promoted_at = timezone.now()
        version.save(update_fields=["status", "promoted_at"])
        audit_record(
            actor=actor,
            action="model_promoted",
            object_type="model_version",
            object_id=str(version.pk),
            detail={"name": version.name, "replaced": [v.name for v in previous]},
        )
    forget_loaded_models()
    return version


def model_promote(*, version: ModelVersion, actor: Any) -> ModelVersion:
    """A manager makes a challenger the champion (audited by the registry); its shadow stops."""
    model_version_promote(version=version, actor=actor)
    ShadowModel.objects.filter(model_version=version, is_active=True).update(is_active=False, stopped_at=timezone.now())
    return version


def model_rollback(*, actor: Any) -> ModelVersion:
    """Give the champion role back to the version that held it before the current one. Audited."""
    current = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
    previous = (
        ModelVersion.objects.filter(status=ModelVersion.Status.RETIRED, promoted_at__isnull=False)
        .order_by("-promoted_at")
        .first()
    )
    if previous is None:
        raise NoEarlierChampion("no earlier champion to roll back to")
    model_version_promote(version=previous, actor=actor)
    audit_record(
        actor=actor, action="model_rolled_back", object_type="model_version", object_id=str(previous.pk),
        detail={"from": current.name if current else None, "to": previous.name},
    )
    return previous
