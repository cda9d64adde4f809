"""Tiers on live traffic: how full the high tier runs each hour, an alert when it runs over
the team's capacity, and a re-cut of the thresholds from recent live scores.

Thresholds are cut at training on the validation period; live traffic can differ (a new
client that sends fewer fields, a busier season, another mix of event types). What a
manager cares about is the pace: at the last hour's rate, how many high-tier cases would
a day bring, against how many the team can review. Only scores of live traffic count
(API clients; an imported history scored in bulk is not traffic the team works through).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from accounts.models import ApiClient
from audit.services import audit_record
from learning.lifecycle import training_config
from learning.models import TierAlert, TierCut
from ml import tiers
from ml.training import choose_thresholds
from scoring.models import ModelVersion
from scoring.registry import forget_loaded_models
from triage.models import Score

# A re-cut needs this many live scores: fewer would cut the tail of a handful of events.
MIN_RECUT_SCORES = 500
# An hour with fewer live events says nothing about the pace.
MIN_WATCH_EVENTS = 20
RETIER_CHUNK = 5000


class NotEnoughScores(ValueError):
    """Too few live scores in the window to re-cut the thresholds from."""


def _live_scores(version: ModelVersion, start: datetime, end: datetime):
    return Score.objects.filter(
        model_version=version, scored_at__gte=start, scored_at__lt=end,
        transaction__client__kind=ApiClient.Kind.API,
    )


def tier_hours(*, version: ModelVersion, hours: int = 48, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per hour of the last `hours` (oldest first, empty hours included): live events
    scored by `version` and how many landed in each tier."""
    end = (now or timezone.now()).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    rows = (
        _live_scores(version, start, end).annotate(hour=TruncHour("scored_at")).values("hour")
        .annotate(events=Count("pk"), high=Count("pk", filter=Q(tier="high")),
                  medium=Count("pk", filter=Q(tier="medium")))
    )
    by_hour = {row["hour"]: row for row in rows}
    out = []
    for k in range(hours):
        hour = start + timedelta(hours=k)
        row = by_hour.get(hour, {"events": 0, "high": 0, "medium": 0})
        out.append({"hour": hour, "events": row["events"], "high": row["high"], "medium": row["medium"],
                    "low": row["events"] - row["high"] - row["medium"]})
    return out


def _over_capacity(high_in_hour: int) -> bool:
    """At this hour's pace, would a day's high tier exceed capacity by the alert multiple?"""
    return high_in_hour * 24 > settings.TIER_ALERT_MULTIPLE * settings.REVIEWER_CAPACITY_PER_DAY


def tier_watch(*, now: datetime | None = None) -> dict[str, Any] | None:
    """Check the last full hour of the champion's live scores; open (or refresh) an alert
    when its high tier runs over capacity. Returns what was found, None without a champion."""
    version = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
    if version is None:
        return None
    now = now or timezone.now()
    hour_end = now.replace(minute=0, second=0, microsecond=0)
    hour = hour_end - timedelta(hours=1)
    counts = _live_scores(version, hour, hour_end).aggregate(events=Count("pk"), high=Count("pk", filter=Q(tier="high")))
    found = {"model": version.name, "hour": hour, **counts, "capacity_per_day": settings.REVIEWER_CAPACITY_PER_DAY,
             "high_per_day_at_this_pace": counts["high"] * 24, "alert": None}
    if counts["events"] >= MIN_WATCH_EVENTS and _over_capacity(counts["high"]):
        found["alert"] = tier_alert_raise(version=version, hour=hour, events=counts["events"], high=counts["high"])
    return found


def tier_alert_raise(*, version: ModelVersion, hour: datetime, events: int, high: int) -> TierAlert:
    """Open an alert (audited) or count another hour on the one already open."""
    open_alert = TierAlert.objects.filter(model_version=version, acknowledged_at=None).first()
    if open_alert is not None:
        if open_alert.hour != hour:
            open_alert.hours_over += 1
        open_alert.hour, open_alert.events, open_alert.high = hour, events, high
        open_alert.save()
        return open_alert
    try:
        with transaction.atomic():
            alert = TierAlert.objects.create(model_version=version, hour=hour, events=events, high=high,
                                             capacity_per_day=settings.REVIEWER_CAPACITY_PER_DAY)
            audit_record(actor=None, action="tier_alert", object_type="model_version", object_id=str(version.pk),
                         detail={"model": version.name, "hour": hour.isoformat(), "events": events, "high": high,
                                 "capacity_per_day": settings.REVIEWER_CAPACITY_PER_DAY})
    except IntegrityError:  # another check opened it a moment ago
        return TierAlert.objects.get(model_version=version, acknowledged_at=None)
    return alert


def tier_alert_acknowledge(*, alert: TierAlert, actor: Any) -> TierAlert:
    with transaction.atomic():
        alert.acknowledged_by, alert.acknowledged_at = actor, timezone.now()
        alert.save(update_fields=["acknowledged_by", "acknowledged_at"])
        audit_record(actor=actor, action="tier_alert_acknowledged", object_type="tier_alert", object_id=str(alert.pk),
                     detail={"model": alert.model_version.name})
    return alert


@dataclass(frozen=True)
class Recut:
    """What re-cutting from a window of live scores gives, before anything is changed."""

    version: ModelVersion
    before: dict[str, float]
    after: dict[str, float]
    scores: int
    window_start: datetime
    window_end: datetime
    days: float
    high_per_day_before: float
    high_per_day_after: float
    medium_per_day_after: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.version.name, "before": self.before, "after": self.after, "scores": self.scores,
            "window_start": self.window_start.isoformat(), "window_end": self.window_end.isoformat(),
            "days": round(self.days, 2), "high_per_day_before": round(self.high_per_day_before, 1),
            "high_per_day_after": round(self.high_per_day_after, 1),
            "medium_per_day_after": round(self.medium_per_day_after, 1),
            "capacity_per_day": settings.REVIEWER_CAPACITY_PER_DAY,
        }


def tiers_recut_preview(*, days: float = 7.0, now: datetime | None = None) -> Recut:
    """Thresholds cut, as at training, on the champion's live scores of the last `days`."""
    version = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
    if version is None:
        raise NotEnoughScores("no champion model is registered")
    end = now or timezone.now()
    start = end - timedelta(days=days)
    rows = list(_live_scores(version, start, end).values_list("probability", "transaction__timestamp"))
    if len(rows) < MIN_RECUT_SCORES:
        raise NotEnoughScores(
            f"{len(rows):,} live scores by {version.name} in the last {days:g} days; a re-cut needs {MIN_RECUT_SCORES:,}")
    p = np.fromiter((r[0] for r in rows), dtype="float64", count=len(rows))
    first, last = min(r[1] for r in rows), max(r[1] for r in rows)
    # The days the events actually cover (a model live for two days is not a quiet week;
    # a backlog sent in one burst is not a busy minute).
    covered = max((last - first).total_seconds() / 86400, 1 / 24)
    before = {k: float(version.thresholds[k]) for k in ("medium", "high")}
    after = choose_thresholds(p, covered, training_config())
    return Recut(
        version=version, before=before, after=after, scores=len(rows), window_start=start, window_end=end,
        days=covered, high_per_day_before=float((p >= before["high"]).sum() / covered),
        high_per_day_after=float((p >= after["high"]).sum() / covered),
        medium_per_day_after=float(((p >= after["medium"]) & (p < after["high"])).sum() / covered),
    )


def tiers_recut(*, actor: Any, days: float = 7.0, now: datetime | None = None) -> TierCut:
    """Re-cut the champion's thresholds from its recent live scores (audited); the open,
    unclaimed cases of the window are re-tiered with them and an open tier alert closes."""
    recut = tiers_recut_preview(days=days, now=now)
    version = recut.version
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        version.thresholds = recut.after
        version.save(update_fields=["thresholds"])
        cut = TierCut.objects.create(
            model_version=version, before=recut.before, after=recut.after, scores=recut.scores,
            window_start=recut.window_start, window_end=recut.window_end,
            high_per_day_before=recut.high_per_day_before, high_per_day_after=recut.high_per_day_after,
            capacity_per_day=settings.REVIEWER_CAPACITY_PER_DAY, made_by=actor if getattr(actor, "pk", None) else None,
        )
        retiered = _open_cases_retier(version, recut)
        TierAlert.objects.filter(model_version=version, acknowledged_at=None).update(
            acknowledged_at=timezone.now(), acknowledged_by=cut.made_by)
        audit_record(actor=actor, action="tiers_recut", object_type="model_version", object_id=str(version.pk),
                     detail={**recut.as_dict(), "open_cases_retiered": retiered})
    forget_loaded_models()
    return cut


def _open_cases_retier(version: ModelVersion, recut: Recut) -> int:
    """Give the window's open, unclaimed cases the tier and 0–100 score the new cut gives."""
    medium, high = recut.after["medium"], recut.after["high"]
    cases = (Score.objects.filter(model_version=version, scored_at__gte=recut.window_start,
                                  review_status=Score.ReviewStatus.OPEN, claimed_by=None)
             .only("transaction_id", "probability", "tier", "risk_score"))
    changed, batch = 0, []
    for score in cases.iterator(chunk_size=RETIER_CHUNK):
        risk, tier = tiers.single(score.probability, medium, high)
        if (risk, tier) != (score.risk_score, score.tier):
            score.risk_score, score.tier = risk, tier
            batch.append(score)
        if len(batch) >= RETIER_CHUNK:
            Score.objects.bulk_update(batch, ["risk_score", "tier"])
            changed, batch = changed + len(batch), []
    if batch:
        Score.objects.bulk_update(batch, ["risk_score", "tier"])
        changed += len(batch)
    return changed
