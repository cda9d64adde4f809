"""Learning-loop writes: retraining runs, the promotion verdict, promotion, rollback, shadow scoring."""
from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import audit_record
from learning import selectors
from learning.drift import drift_reference_store, reference_rows
from learning.evaluation import PromotionRule, holdout_mask, holdout_metrics, promotion_verdict
from learning.lifecycle import model_version_promote, model_version_register, training_config
from learning.models import ShadowModel, ShadowScore, TrainingRun
from ml import tiers
from ml.features import batch_features
from ml.training import NotEnoughData, train_model
from scoring.models import ModelVersion
from scoring.registry import LoadedModel, ModelUnavailable, load_version
from triage.models import Score, Transaction

log = logging.getLogger(__name__)


class RetrainingBusy(Exception):
    """A retraining is already queued or running."""


class ShadowNotAllowed(Exception):
    """Only a loadable challenger can run in shadow mode."""


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


# --------------------------------------------------------------------------- retraining


def training_run_request(*, trigger: str, actor: Any = None) -> TrainingRun:
    """Queue a retraining, audited. Raises RetrainingBusy while another one is queued or running."""
    _abandon_stale_runs()
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(trigger=trigger, requested_by=_user(actor))
            audit_record(
                actor=actor, action="retraining_requested", object_type="training_run",
                object_id=str(run.pk), detail={"trigger": trigger},
            )
            transaction.on_commit(lambda: _enqueue(run.pk))
    except IntegrityError:
        raise RetrainingBusy("a retraining is already queued or running") from None
    return run


def _enqueue(run_id: int) -> None:
    from learning.tasks import retrain

    try:
        retrain.delay(run_id)
    except Exception as exc:  # broker unreachable: say so instead of leaving the run queued forever
        log.error("could not queue retraining run %s: %s", run_id, exc)
        TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED).update(
            status=TrainingRun.Status.FAILED, finished_at=timezone.now(), reason=f"could not reach the task queue: {exc}"
        )


def _abandon_stale_runs() -> None:
    """A worker killed mid-training leaves its run active; after a while it stops blocking new runs."""
    cutoff = timezone.now() - timedelta(minutes=settings.RETRAIN_STALE_MINUTES)
    TrainingRun.objects.filter(status__in=TrainingRun.ACTIVE, requested_at__lt=cutoff).update(
        status=TrainingRun.Status.FAILED, finished_at=timezone.now(), reason="abandoned: no result in time (worker lost?)"
    )


def training_run_execute(*, run_id: int) -> TrainingRun | None:
    """Train a challenger, judge it against the champion on a recent holdout, promote or keep it.

    Safe to run twice: only a queued run is started. Every outcome, failures included, is
    written to the run with its reason.
    """
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status != TrainingRun.Status.QUEUED:
            return run
        run.status = TrainingRun.Status.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at"])
    try:
        _retrain(run)
    except (NotEnoughData, ModelUnavailable) as exc:
        _finish(run, TrainingRun.Status.FAILED, str(exc))
    except Exception as exc:
        log.exception("retraining run %s failed", run.pk)
        _finish(run, TrainingRun.Status.FAILED, f"{type(exc).__name__}: {exc}")
    return run


def _finish(run: TrainingRun, status: str, reason: str) -> None:
    run.status = status
    run.reason = reason
    run.finished_at = timezone.now()
    run.save()
    audit_record(
        actor=None, action="retraining_finished", object_type="training_run", object_id=str(run.pk),
        detail={"status": status, "reason": reason, "challenger": run.challenger.name if run.challenger else None},
    )


def _retrain(run: TrainingRun) -> None:
    frame, from_decisions = selectors.training_frame()
    mask = holdout_mask(frame, settings.RETRAIN_HOLDOUT_FRACTION) if frame["is_fraud"].notna().any() else None
    run.labeled_rows = int(frame["is_fraud"].notna().sum())
    run.decisions_used = from_decisions
    if mask is None or not mask.any():
        raise NotEnoughData("no labeled events to train on")
    y = frame.loc[mask, "is_fraud"].astype(int).to_numpy()
    run.holdout = {
        "rows": int(mask.sum()),
        "fraud_rows": int(y.sum()),
        "from": frame.loc[mask, "timestamp"].min().isoformat(),
        "to": frame.loc[mask, "timestamp"].max().isoformat(),
    }
    run.champion = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
    run.save(update_fields=["labeled_rows", "decisions_used", "holdout", "champion"])

    # The challenger never sees the holdout's labels; the events stay, as history for features.
    hidden = frame.copy()
    hidden.loc[mask, "is_fraud"] = np.nan
    config = training_config(max_rounds=settings.RETRAIN_MAX_ROUNDS)
    result = train_model(hidden, config)
    challenger = model_version_register(result=result)
    run.challenger = challenger
    run.save(update_fields=["challenger"])

    features = batch_features(frame)
    challenger_model = load_version(challenger)
    run.challenger_metrics = holdout_metrics(y, _predict(challenger_model, features.loc[mask], frame.loc[mask]))
    champion_metrics = None
    if run.champion is not None:
        try:
            champion_metrics = holdout_metrics(y, _predict(load_version(run.champion), features.loc[mask], frame.loc[mask]))
        except (ModelUnavailable, KeyError) as exc:
            log.warning("champion %s cannot be evaluated: %s", run.champion.name, exc)
    run.champion_metrics = champion_metrics or {}

    before_holdout = (frame["timestamp"] < frame.loc[mask, "timestamp"].min()).to_numpy()
    reference = reference_rows(frame["timestamp"], among=before_holdout)
    drift_reference_store(version=challenger, features=challenger_model.design.with_inputs(features, frame).loc[reference],
                          source="training")

    rule = PromotionRule(
        min_ap_gain=settings.RETRAIN_MIN_AP_GAIN,
        brier_tolerance=settings.RETRAIN_BRIER_TOLERANCE,
        ece_tolerance=settings.RETRAIN_ECE_TOLERANCE,
    )
    promote, reason = promotion_verdict(champion_metrics, run.challenger_metrics, rule)
    if run.champion is not None and champion_metrics is None and "average_precision" in run.challenger_metrics:
        promote, reason = True, f"the champion {run.champion.name} cannot be evaluated; {reason}"
    challenger.note = reason
    challenger.save(update_fields=["note"])
    if promote:
        model_version_promote(version=challenger, actor=run.requested_by)
    _finish(run, TrainingRun.Status.PROMOTED if promote else TrainingRun.Status.KEPT, reason)


def _predict(model: LoadedModel, features: pd.DataFrame, events: pd.DataFrame) -> np.ndarray:
    columns = model.design.with_inputs(features, events)
    return model.predict(columns[model.feature_names].to_numpy(dtype="float64"))


def retrain_if_due(*, trigger: str) -> TrainingRun | None:
    """Queue a retraining for `trigger` unless one is active; for 'decisions', only once enough arrived."""
    if trigger == TrainingRun.Trigger.DECISIONS:
        if selectors.decisions_since_last_run() < settings.RETRAIN_MIN_NEW_DECISIONS:
            return None
    try:
        return training_run_request(trigger=trigger)
    except RetrainingBusy:
        return None


# --------------------------------------------------------------------------- shadow mode


def shadow_set(*, version: ModelVersion, active: bool, actor: Any) -> ShadowModel:
    """Start or stop scoring live traffic with a challenger beside the champion. Audited."""
    if active:
        if version.status != ModelVersion.Status.CHALLENGER:
            raise ShadowNotAllowed(f"{version.name} is {version.status}; only a challenger can run in shadow mode")
        try:
            load_version(version)
        except ModelUnavailable as exc:
            raise ShadowNotAllowed(str(exc)) from exc
    with transaction.atomic():
        shadow, created = ShadowModel.objects.select_for_update().get_or_create(
            model_version=version,
            # Shadow from now on: stored history is compared by retraining, not here.
            defaults={"last_transaction_id": Score.objects.aggregate(m=Max("transaction_id"))["m"] or 0},
        )
        shadow.is_active = active
        shadow.stopped_at = None if active else timezone.now()
        shadow.save()
        audit_record(
            actor=actor, action="shadow_started" if active else "shadow_stopped",
            object_type="model_version", object_id=str(version.pk), detail={"name": version.name},
        )
    return shadow


def shadow_score_pending(*, limit: int | None = None) -> int:
    """Score newly stored events with each active shadow model, from the stored feature vectors.

    Runs in a worker, never on the /score path. Scores are taken in transaction order after
    the last one done; re-running stores nothing twice (one shadow score per score and version).
    """
    limit = limit or settings.SHADOW_BATCH
    stored = 0
    for shadow in ShadowModel.objects.filter(is_active=True).select_related("model_version"):
        version = shadow.model_version
        if version.status != ModelVersion.Status.CHALLENGER:
            shadow.is_active, shadow.stopped_at = False, timezone.now()
            shadow.save(update_fields=["is_active", "stopped_at"])
            continue
        rows = list(
            Score.objects.filter(transaction_id__gt=shadow.last_transaction_id, model_version__isnull=False)
            .order_by("transaction_id")
            .values_list("transaction_id", "features")[:limit]
        )
        if not rows:
            continue
        model = load_version(version)
        if model.design.inputs:
            # Category levels are the shadow model's own: encode the events' fields afresh.
            fields = ("timestamp", "category", "event_type", "country", "currency", "attributes")
            events = Transaction.objects.in_bulk([tid for tid, _ in rows])
            rows = [(tid, {**(features or {}), **model.design.input_values(
                        {name: getattr(events[tid], name) for name in fields})})
                    for tid, features in rows if tid in events]
        matrix = np.array(
            [[_number(features.get(name)) for name in model.feature_names] for _, features in rows], dtype="float64"
        )
        probability = model.predict(matrix)
        medium, high = model.thresholds["medium"], model.thresholds["high"]
        scores = tiers.risk_scores(probability, medium, high)
        tier_names = tiers.tiers(probability, medium, high)
        ShadowScore.objects.bulk_create(
            [
                ShadowScore(score_id=tid, model_version=version, probability=float(p), risk_score=int(s), tier=str(t))
                for (tid, _), p, s, t in zip(rows, probability, scores, tier_names)
            ],
            ignore_conflicts=True,
        )
        shadow.last_transaction_id = rows[-1][0]
        shadow.save(update_fields=["last_transaction_id"])
        stored += len(rows)
    return stored


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)
