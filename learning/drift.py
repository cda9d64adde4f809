"""Drift: reference distributions per model version, periodic PSI checks, alerts."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from audit.services import audit_record
from learning.models import DriftAlert, DriftCheck, DriftReference
from ml.features import HISTORY_WINDOW_MS, batch_features, to_epoch_ms
from ml.psi import psi_against, reference_bins
from scoring.models import ModelVersion
from scoring.registry import load_version
from scoring.selectors import events_frame
from triage.models import Score, Transaction
from webhooks.models import WebhookDelivery
from webhooks.services import operator_alert_notify

log = logging.getLogger(__name__)
# Enough rows for stable quantile bins; more only costs time.
REFERENCE_MAX_ROWS = 200_000
SCORE_KEY = "score"


def reference_rows(timestamps: pd.Series, among: np.ndarray) -> np.ndarray:
    """Rows of `among` to take the drift reference from: mature and recent.

    Mature: the first month of any event table has short histories (no previous event, few
    events in 30 days); comparing live traffic against that would report drift that is
    only warm-up. Recent: features that accumulate slowly (devices per account, entity
    fraud rates) creep month by month, so live traffic is compared with the last
    DRIFT_REFERENCE_DAYS the model learned from, not with its whole history. Each cut is
    skipped when it would leave too few rows.
    """
    times = to_epoch_ms(timestamps)
    if not among.any():
        return among
    enough = max(settings.DRIFT_MIN_ROWS, 0.2 * among.sum())
    mature = among & (times >= times.min() + HISTORY_WINDOW_MS)
    if mature.sum() < enough:
        return among
    recent = mature & (times >= times[mature].max() - settings.DRIFT_REFERENCE_DAYS * 86_400_000)
    return recent if recent.sum() >= settings.DRIFT_MIN_ROWS else mature


def drift_reference_store(*, version: ModelVersion, features: pd.DataFrame, source: str) -> DriftReference:
    """Bin each of the version's features, and its predicted probability, over `features`."""
    model = load_version(version)
    sample = features.tail(REFERENCE_MAX_ROWS)
    matrix = sample[model.feature_names].to_numpy(dtype="float64")
    bins = {
        "features": {name: reference_bins(matrix[:, i]) for i, name in enumerate(model.feature_names)},
        SCORE_KEY: reference_bins(model.predict(matrix)),
    }
    reference, _ = DriftReference.objects.update_or_create(
        model_version=version, defaults={"bins": bins, "rows": len(sample), "source": source}
    )
    return reference


def drift_reference_for(version: ModelVersion) -> DriftReference:
    """The stored reference, or one built from the events stored before the version was made
    (for versions trained outside the learning loop, e.g. by `manage.py train`)."""
    existing = DriftReference.objects.filter(model_version=version).first()
    if existing is not None:
        return existing
    frame = events_frame()
    features = load_version(version).design.with_inputs(batch_features(frame), frame)
    # Ids grow with arrival, so "stored before the version was made" is an id cut.
    last_id = Transaction.objects.filter(received_at__lte=version.created_at).aggregate(m=Max("id"))["m"] or 0
    before = (frame["id"] <= last_id).to_numpy()
    if not before.any():  # nothing older: the whole store is the best reference there is
        before[:] = True
    rows = reference_rows(frame["timestamp"], among=before)
    return drift_reference_store(version=version, features=features.loc[rows], source="stored events")


def drift_reference_ensure(*, version_id: int) -> DriftReference | None:
    """The version's reference, built from the stored events when it has none yet; None
    when the version is gone or nothing is stored to build it from."""
    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None or not Transaction.objects.exists():
        return None
    return drift_reference_for(version)


def drift_check(*, now: datetime | None = None) -> DriftCheck | None:
    """Compare the champion's recent live scores with its reference; raise an alert on drift.

    The recent window is the scores the champion made in the last DRIFT_WINDOW_HOURS, using
    the feature vectors stored with them: what the model actually saw. Returns None when
    there is no champion or too few recent scores to judge.
    """
    now = now or timezone.now()
    champion = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
    if champion is None:
        return None
    window_start = now - timedelta(hours=settings.DRIFT_WINDOW_HOURS)
    window = Score.objects.filter(model_version=champion, scored_at__gte=window_start, scored_at__lte=now)
    total = window.count()
    if total < settings.DRIFT_MIN_ROWS:
        return None
    # A busy day holds millions of scores: every n-th one, spread over the whole window, is enough.
    step = -(-total // settings.DRIFT_MAX_ROWS)
    if step > 1:
        window = window.annotate(slot=F("transaction_id") % step).filter(slot=0)
    rows = list(window.values_list("features", "probability"))
    reference = drift_reference_for(champion)
    recent = pd.DataFrame.from_records([features for features, _ in rows])
    values: dict[str, float] = {}
    for name, bins in reference.bins["features"].items():
        if name in settings.DRIFT_IGNORED_FEATURES:
            continue
        column = recent[name] if name in recent else pd.Series(np.nan, index=recent.index)
        values[name] = round(psi_against(bins, pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64")), 4)
    score_psi = round(psi_against(reference.bins[SCORE_KEY], np.array([p for _, p in rows])), 4)
    threshold = settings.DRIFT_PSI_THRESHOLD
    check = DriftCheck.objects.create(
        model_version=champion, window_start=window_start, window_end=now, rows=len(rows), psi=values,
        score_psi=score_psi, max_psi=max([score_psi, *values.values()]), threshold=threshold,
    )
    drifted = {name: value for name, value in values.items() if value > threshold}
    if score_psi > threshold:
        drifted[SCORE_KEY] = score_psi
    if drifted:
        drift_alert_raise(check=check, drifted=drifted)
    return check


def drift_alert_raise(*, check: DriftCheck, drifted: dict[str, float]) -> DriftAlert:
    """Open an alert (audited, webhook, retraining) or refresh the one already open for this version."""
    open_alert = DriftAlert.objects.filter(model_version=check.model_version, acknowledged_at=None).first()
    if open_alert is not None:
        open_alert.drifted, open_alert.max_psi, open_alert.check_run = drifted, max(drifted.values()), check
        open_alert.save()
        return open_alert
    try:
        with transaction.atomic():
            alert = DriftAlert.objects.create(
                model_version=check.model_version, check_run=check, drifted=drifted,
                max_psi=max(drifted.values()), threshold=check.threshold,
            )
            audit_record(
                actor=None, action="drift_alert", object_type="model_version",
                object_id=str(check.model_version_id),
                detail={"model": check.model_version.name, "drifted": drifted, "threshold": check.threshold},
            )
    except IntegrityError:  # another check opened it a moment ago
        return DriftAlert.objects.get(model_version=check.model_version, acknowledged_at=None)
    operator_alert_notify(event=WebhookDelivery.Event.DRIFT_ALERT, data=drift_alert_payload(alert))
    if settings.DRIFT_TRIGGERS_RETRAINING:
        from learning.services import retrain_if_due

        alert.retraining_requested = retrain_if_due(trigger="drift") is not None
        alert.save(update_fields=["retraining_requested"])
    return alert


def drift_alert_payload(alert: DriftAlert) -> dict[str, Any]:
    return {
        "alert_id": alert.pk,
        "model_version": alert.model_version.name,
        "drifted": alert.drifted,
        "max_psi": alert.max_psi,
        "threshold": alert.threshold,
        "raised_at": alert.raised_at.isoformat(),
    }


def drift_alert_acknowledge(*, alert: DriftAlert, actor: Any) -> DriftAlert:
    with transaction.atomic():
        alert.acknowledged_by = actor
        alert.acknowledged_at = timezone.now()
        alert.save(update_fields=["acknowledged_by", "acknowledged_at"])
        audit_record(
            actor=actor, action="drift_alert_acknowledged", object_type="drift_alert", object_id=str(alert.pk),
            detail={"model": alert.model_version.name},
        )
    return alert
