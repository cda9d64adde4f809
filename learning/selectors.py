"""Reads for the learning loop: the training set, shadow comparison, what the models page shows."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from learning import tier_watch
from learning.evaluation import holdout_metrics
from learning.models import DriftAlert, DriftCheck, ShadowModel, ShadowScore, TierAlert, TierCut, TrainingRun
from scoring.models import ModelVersion
from scoring.selectors import events_frame
from triage.models import Decision

# What a reviewer's verdict says about the event; escalations say nothing yet.
_VERDICT_LABEL = {Decision.Verdict.FLAG: 1.0, Decision.Verdict.CLEAR: 0.0}


def latest_decision_labels(*, since: datetime | None = None) -> dict[int, float]:
    """{transaction id: 1.0 fraud / 0.0 legitimate} from each event's latest flag or clear."""
    rows = Decision.objects.filter(verdict__in=list(_VERDICT_LABEL)).order_by("transaction_id", "created_at", "id")
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    labels: dict[int, float] = {}
    for transaction_id, verdict in rows.values_list("transaction_id", "verdict"):
        labels[transaction_id] = _VERDICT_LABEL[verdict]  # later rows overwrite earlier ones
    return labels


def training_frame(*, now: datetime | None = None) -> tuple[pd.DataFrame, int]:
    """Every stored event with the label known by `now`, and how many labels came from reviewers.

    Imported labels count once their label time has passed; a reviewer's latest flag or clear
    overrides the imported label, since the reviewer saw the case most recently.
    """
    now = now or timezone.now()
    frame = events_frame()
    known = frame["label_known_at"].isna() | (frame["label_known_at"] <= now)
    frame.loc[~known, "is_fraud"] = np.nan
    decisions = latest_decision_labels()
    if decisions:
        reviewed = frame["id"].map(decisions)
        frame["is_fraud"] = reviewed.where(reviewed.notna(), frame["is_fraud"])
    return frame, int(frame["id"].isin(list(decisions)).sum())


def decisions_since_last_run() -> int:
    """Reviewer flags and clears made since the last retraining started (all of them if none ran)."""
    last = TrainingRun.objects.exclude(started_at=None).order_by("-started_at").first()
    queryset = Decision.objects.filter(verdict__in=list(_VERDICT_LABEL))
    if last is not None:
        queryset = queryset.filter(created_at__gte=last.started_at)
    return queryset.count()


def shadow_comparison(*, version: ModelVersion) -> dict[str, Any]:
    """The shadow model against the champion on the same live events (the latest ones).

    Agreement by the champion's tier (share of events the shadow put in the same tier), and
    average precision of both on the shadowed events whose label is known.
    """
    rows = list(
        ShadowScore.objects.filter(model_version=version)
        .order_by("-id")
        .values_list("tier", "probability", "score__tier", "score__probability", "score__transaction__is_fraud")[
            : settings.SHADOW_COMPARE_ROWS
        ]
    )
    if not rows:
        return {"events": 0, "agreement": {}, "labeled": {}}
    frame = pd.DataFrame(rows, columns=["shadow_tier", "shadow_p", "champion_tier", "champion_p", "is_fraud"])
    agreement = {}
    for tier in ("high", "medium", "low"):
        part = frame[frame["champion_tier"] == tier]
        agreement[tier] = {
            "events": int(len(part)),
            "same_tier": float((part["shadow_tier"] == tier).mean()) if len(part) else None,
        }
    labeled = frame[frame["is_fraud"].notna()]
    y = labeled["is_fraud"].astype(int).to_numpy()
    return {
        "events": int(len(frame)),
        "agreement": agreement,
        "overall_agreement": float((frame["shadow_tier"] == frame["champion_tier"]).mean()),
        "labeled": {
            "events": int(len(labeled)),
            "champion": holdout_metrics(y, labeled["champion_p"].to_numpy()),
            "shadow": holdout_metrics(y, labeled["shadow_p"].to_numpy()),
        },
    }


def open_drift_alerts() -> list[DriftAlert]:
    return list(DriftAlert.objects.filter(acknowledged_at=None).select_related("model_version"))


def models_overview() -> dict[str, Any]:
    """Everything the models page shows, in one read."""
    shadows = {s.model_version_id: s for s in ShadowModel.objects.all()}
    versions = []
    for version in ModelVersion.objects.all()[:50]:
        shadow = shadows.get(version.pk)
        versions.append(
            {
                "id": version.pk,
                "name": version.name,
                "status": version.status,
                "algorithm": version.algorithm,
                "created_at": version.created_at,
                "promoted_at": version.promoted_at,
                "metrics": version.metrics.get("test", {}),
                "shadow": bool(shadow and shadow.is_active),
                "shadow_comparison": shadow_comparison(version=version) if shadow else None,
            }
        )
    latest_check = DriftCheck.objects.select_related("model_version").first()
    return {
        "versions": versions,
        "runs": list(TrainingRun.objects.select_related("champion", "challenger", "requested_by")[:20]),
        "alerts": open_drift_alerts(),
        "latest_check": latest_check,
        "decisions_since_last_run": decisions_since_last_run(),
        "can_roll_back": ModelVersion.objects.filter(
            status=ModelVersion.Status.RETIRED, promoted_at__isnull=False
        ).exists(),
    }


def drift_latest() -> dict[str, Any] | None:
    """The latest drift check of the current champion, shaped for the managers' dashboard.

    None when the champion has not been checked yet (the dashboard then falls back to its
    own comparison)."""
    check = (
        DriftCheck.objects.filter(model_version__status=ModelVersion.Status.CHAMPION)
        .select_related("model_version")
        .first()
    )
    if check is None or check.score_psi is None:
        return None
    worst = sorted(check.psi.items(), key=lambda item: -item[1])[:3]
    value = check.score_psi
    return {
        "model_version": check.model_version.name,
        "psi": value,
        "status": "stable" if value < 0.1 else "watch" if value < 0.25 else "shifted",
        "checked_at": check.window_end,
        "window_hours": round((check.window_end - check.window_start).total_seconds() / 3600, 1),
        "threshold": check.threshold,
        "top_features": [{"name": name, "psi": psi} for name, psi in worst],
    }


def training_run_progress(run: TrainingRun, *, now: datetime | None = None) -> dict[str, Any]:
    """Where a retraining stands, in words the models page shows while it polls: queued,
    running since when, or finished with the verdict."""
    now = now or timezone.now()
    if run.status == TrainingRun.Status.QUEUED:
        return {"stage": "queued", "since": run.requested_at, "elapsed_seconds": (now - run.requested_at).total_seconds()}
    if run.status == TrainingRun.Status.RUNNING:
        since = run.started_at or run.requested_at
        return {"stage": "running", "since": since, "elapsed_seconds": (now - since).total_seconds()}
    took = (run.finished_at - (run.started_at or run.requested_at)).total_seconds() if run.finished_at else None
    return {"stage": "finished", "since": run.finished_at, "took_seconds": took}


# Each metric the verdict weighs: (key, name, higher is better).
_VERDICT_METRICS = (("average_precision", "average precision", True), ("brier", "Brier score", False),
                    ("ece", "calibration error", False))


def training_run_verdict(run: TrainingRun) -> dict[str, Any] | None:
    """The metric that decided a finished run and by how much, beside how the challenger did
    on each metric: a challenger better on two of three can still be kept, because the rule
    asks for a minimum gain in average precision, and the page must say that plainly.

    Follows `learning.evaluation.promotion_verdict` check by check, with today's rule
    settings; the run's `reason` is the verdict as it was written."""
    if run.status not in (TrainingRun.Status.PROMOTED, TrainingRun.Status.KEPT):
        return None
    champion, challenger = run.champion_metrics or {}, run.challenger_metrics or {}
    metrics = []
    for key, name, higher_better in _VERDICT_METRICS:
        if key in champion and key in challenger:
            diff = challenger[key] - champion[key]
            metrics.append({"metric": key, "name": name, "champion": champion[key], "challenger": challenger[key],
                            "difference": diff, "challenger_better": diff > 0 if higher_better else diff < 0})
    verdict = {"promoted": run.status == TrainingRun.Status.PROMOTED, "text": run.reason, "metrics": metrics,
               "deciding_metric": None, "margin": None, "required": None}
    if "average_precision" not in challenger or "average_precision" not in champion:
        return verdict
    checks = (
        ("average_precision", challenger["average_precision"] - champion["average_precision"],
         settings.RETRAIN_MIN_AP_GAIN, lambda margin, need: margin >= need),
        ("brier", challenger["brier"] - champion["brier"], settings.RETRAIN_BRIER_TOLERANCE,
         lambda margin, allowed: margin <= allowed),
        ("ece", challenger["ece"] - champion["ece"], settings.RETRAIN_ECE_TOLERANCE,
         lambda margin, allowed: margin <= allowed),
    )
    names = {key: name for key, name, _ in _VERDICT_METRICS}
    deciding = next((check for check in checks if not check[3](check[1], check[2])), checks[0])
    key, margin, required, passes = deciding
    verdict.update({
        "deciding_metric": names[key], "deciding_key": key, "margin": margin, "required": required,
        "passed": passes(margin, required),
        "rule": "gain at least" if key == "average_precision" else "lose at most",
    })
    return verdict


def champion_score_reference() -> tuple[ModelVersion, dict[str, Any]] | None:
    """The champion and the binned distribution of its training scores (probabilities), as
    stored with its drift reference; None without a champion or before the reference exists."""
    from learning.drift import SCORE_KEY
    from learning.models import DriftReference

    reference = (
        DriftReference.objects.filter(model_version__status=ModelVersion.Status.CHAMPION)
        .select_related("model_version").first()
    )
    if reference is None or SCORE_KEY not in (reference.bins or {}):
        return None
    return reference.model_version, reference.bins[SCORE_KEY]


def tiers_overview(*, hours: int = 48) -> dict[str, Any]:
    """What the models page shows of the tiers: the champion's live tier mix per hour, the
    capacity alert, past re-cuts and what a re-cut from the last week would give."""
    version = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
    body: dict[str, Any] = {
        "model_version": version.name if version else None,
        "capacity_per_day": settings.REVIEWER_CAPACITY_PER_DAY, "alert_multiple": settings.TIER_ALERT_MULTIPLE,
        "thresholds": version.thresholds if version else None,
        "bands": (version.metrics or {}).get("test", {}).get("bands") if version else None,
        "hours": tier_watch.tier_hours(version=version, hours=hours) if version else [],
        "alert": TierAlert.objects.filter(model_version=version, acknowledged_at=None).first() if version else None,
        "cuts": list(TierCut.objects.select_related("model_version", "made_by")[:10]),
        "preview": None, "preview_unavailable": None,
    }
    try:
        body["preview"] = tier_watch.tiers_recut_preview().as_dict()
    except tier_watch.NotEnoughScores as exc:
        body["preview_unavailable"] = str(exc)
    return body


def scores_by_reason(*, days: int = 30, now: datetime | None = None) -> dict[str, Any]:
    """How the model had scored the cases reviewers decided, per reason code: for each code,
    the cases, the share the model had put in each tier and the median risk score. Fraud the
    model misses shows as a flag reason with little in the high tier ("first-party fraud:
    12 % high"); a clear reason mostly high is where it raises false alarms.

    Standing clear and flag decisions of the last `days` days, one per alert (its latest);
    the tier is the one the alert was scored with, whichever version scored it."""
    now = now or timezone.now()
    since = now - timedelta(days=days)
    latest = (
        Decision.objects.filter(created_at__gte=since, undone_at__isnull=True,
                                verdict__in=[Decision.Verdict.CLEAR, Decision.Verdict.FLAG])
        .order_by("transaction_id", "-created_at", "-pk").distinct("transaction_id")
        .values("pk")
    )
    rows = list(
        Decision.objects.filter(pk__in=latest)
        .values("disposition_id", "disposition__label", "verdict")
        .annotate(
            cases=Count("pk"),
            high=Count("pk", filter=Q(transaction__score__tier="high")),
            medium=Count("pk", filter=Q(transaction__score__tier="medium")),
            low=Count("pk", filter=Q(transaction__score__tier="low")),
        )
        .order_by("-verdict", "-cases")  # fraud reasons first
    )
    scores: dict[Any, list[int]] = {}
    for code, risk in (Decision.objects.filter(pk__in=latest)
                       .values_list("disposition_id", "transaction__score__risk_score")):
        if risk is not None:
            scores.setdefault(code, []).append(risk)
    reasons = []
    for row in rows:
        n = row["cases"]
        reasons.append({
            "code": row["disposition_id"] or "",
            "label": row["disposition__label"] or "no reason recorded",
            "verdict": row["verdict"],
            "cases": n,
            "tiers": {tier: row[tier] / n for tier in ("high", "medium", "low")},
            "median_risk_score": float(np.median(scores[row["disposition_id"]])) if scores.get(row["disposition_id"]) else None,
        })
    return {"days": days, "since": since, "reasons": reasons}
