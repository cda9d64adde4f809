"""Scoring writes: score events, store explanations, register and promote models."""
from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiClient
from scoring import fallback, tiers
from scoring.bundle import save_bundle
from scoring.entity_stats import entity_history_for
from scoring.explain import explain_rows
from scoring.features import online_features
from scoring.models import ModelVersion
from scoring.registry import LoadedModel, ModelUnavailable, champion_model, forget_loaded_models, load_version
from scoring.selectors import account_histories, events_frame, history_window
from scoring.training import TrainingConfig, TrainingResult, train_model
from triage.models import Score, Transaction

log = logging.getLogger(__name__)
EXPLAIN_CHUNK = 100


@dataclass(frozen=True)
class ScoredEvent:
    transaction_id: int
    event_id: str
    probability: float
    risk_score: int
    tier: str
    expected_loss: float
    model_version: str
    explanation_status: str
    duplicate: bool

    @classmethod
    def from_score(cls, score: Score, event_id: str, duplicate: bool) -> "ScoredEvent":
        return cls(
            transaction_id=score.transaction_id,
            event_id=event_id,
            probability=score.probability,
            risk_score=score.risk_score,
            tier=score.tier,
            expected_loss=score.expected_loss,
            model_version=score.model_version_name,
            explanation_status=score.explanation_status,
            duplicate=duplicate,
        )


def score_events(*, client: ApiClient, events: Sequence[dict[str, Any]]) -> list[ScoredEvent]:
    """Store and score validated events, once each per (client, event_id).

    Events already stored for this client are answered with their first result. A
    concurrent request storing the same event first makes our insert fail on the unique
    constraint; the whole write rolls back and we answer again from what is stored.
    """
    for attempt in range(3):
        try:
            return _score_events_once(client, events)
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("duplicate event raced with another request; answering from stored rows")
    raise AssertionError("unreachable")


def _score_events_once(client: ApiClient, events: Sequence[dict[str, Any]]) -> list[ScoredEvent]:
    event_ids = [e["event_id"] for e in events]
    stored = {
        s.transaction.event_id: s
        for s in Score.objects.select_related("transaction").filter(
            transaction__client=client, transaction__event_id__in=event_ids
        )
    }
    fresh: list[dict[str, Any]] = []
    seen: set[str] = set()
    for event in events:
        if event["event_id"] not in stored and event["event_id"] not in seen:
            seen.add(event["event_id"])
            fresh.append(event)

    new_scores: dict[str, Score] = {}
    if fresh:
        feature_rows = _features_for(fresh)
        scores = _predict(fresh, feature_rows)
        with transaction.atomic():
            txns = Transaction.objects.bulk_create([_transaction_from(client, e) for e in fresh])
            for txn, score in zip(txns, scores):
                score.transaction = txn
            Score.objects.bulk_create(scores)
            pending = [s.transaction_id for s in scores if s.explanation_status == Score.ExplanationStatus.PENDING]
            if pending:
                transaction.on_commit(lambda: enqueue_explanations(pending))
        new_scores = {txn.event_id: score for txn, score in zip(txns, scores)}

    results = []
    answered: set[str] = set()
    for event in events:
        event_id = event["event_id"]
        if event_id in new_scores and event_id not in answered:
            results.append(ScoredEvent.from_score(new_scores[event_id], event_id, duplicate=False))
        else:
            score = stored.get(event_id) or new_scores[event_id]
            results.append(ScoredEvent.from_score(score, event_id, duplicate=True))
        answered.add(event_id)
    return results


def _features_for(events: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    """Online features for each event, later events in the request seeing earlier ones."""
    window = history_window()
    times = [e["timestamp"] for e in events]
    histories, older = account_histories(
        account_ids=[e["account_id"] for e in events], since=min(times) - window, until=max(times)
    )
    next_seq = 1 << 62  # events of this request sort after everything stored
    entities = entity_history_for(events)  # devices / IPs / merchants: bounded window queries
    rows = []
    for event in events:
        t: datetime = event["timestamp"]
        account_rows = histories[event["account_id"]]
        in_window = [r for r in account_rows if t - window <= r["timestamp"] <= t]
        earlier = [r for r in account_rows if r["timestamp"] <= t]
        previous = max(earlier, key=lambda r: (r["timestamp"], r["id"])) if earlier else older.get(event["account_id"])
        rows.append(online_features(event, in_window, previous_event=previous, entities=entities.rows_for(event)))
        entities.add(event)
        account_rows.append({**event, "id": next_seq})
        next_seq += 1
    return rows


def _predict(events: Sequence[dict[str, Any]], feature_rows: list[dict[str, float]]) -> list[Score]:
    amounts = np.array([float(e["amount"]) if e.get("amount") is not None else math.nan for e in events])
    try:
        model: LoadedModel | None = champion_model()
    except ModelUnavailable as exc:
        log.warning("scoring with the fallback rules: %s", exc)
        model = None
    if model is not None:
        matrix = np.array([[row[name] for name in model.feature_names] for row in feature_rows], dtype="float64")
        probability = model.predict(matrix)
        medium, high = model.thresholds["medium"], model.thresholds["high"]
        version_id, version_name = model.version_id, model.version_name
        explanations: list[dict[str, Any] | None] = [None] * len(events)
    else:
        results = [fallback.fallback_probability(row) for row in feature_rows]
        probability = np.array([p for p, _ in results])
        medium, high = fallback.THRESHOLDS["medium"], fallback.THRESHOLDS["high"]
        version_id, version_name = None, fallback.FALLBACK_VERSION
        explanations = [
            {"method": "rules", "reasons": [{"text": r, "direction": "raises"} for r in reasons]}
            for _, reasons in results
        ]
    scores = tiers.risk_scores(probability, medium, high)
    tier_names = tiers.tiers(probability, medium, high)
    losses = tiers.expected_loss(probability, amounts, settings.DEFAULT_EVENT_VALUE)
    now = timezone.now()
    return [
        Score(
            probability=float(p),
            risk_score=int(s),
            tier=str(tier),
            expected_loss=float(loss),
            model_version_id=version_id,
            model_version_name=version_name,
            features={k: (None if math.isnan(v) else v) for k, v in row.items()},
            explanation=explanation,
            explanation_status=Score.ExplanationStatus.READY if explanation else Score.ExplanationStatus.PENDING,
            explained_at=now if explanation else None,
        )
        for p, s, tier, loss, row, explanation in zip(probability, scores, tier_names, losses, feature_rows, explanations)
    ]


def _transaction_from(client: ApiClient, event: dict[str, Any]) -> Transaction:
    return Transaction(client=client, **{k: v for k, v in event.items() if k in _TRANSACTION_FIELDS})


_TRANSACTION_FIELDS = frozenset(
    f.name for f in Transaction._meta.get_fields() if getattr(f, "concrete", False) and not f.is_relation
)


def enqueue_explanations(transaction_ids: Sequence[int]) -> None:
    """Hand explanation work to the workers. A broker outage must not fail the request:
    the scores stay `pending` and the periodic sweep queues them again."""
    from scoring.tasks import explain_scores

    for start in range(0, len(transaction_ids), EXPLAIN_CHUNK):
        chunk = list(transaction_ids[start : start + EXPLAIN_CHUNK])
        try:
            explain_scores.delay(chunk)
        except Exception as exc:  # broker down or unreachable: the sweep catches up
            log.warning("could not queue explanations for %d scores: %s", len(chunk), exc)
            return


def explanations_compute(*, transaction_ids: Sequence[int]) -> int:
    """Compute and store SHAP explanations for pending scores; returns how many were stored.

    Each score is explained by the model version that made it, from the feature vector
    stored with it, so the reasons match the number the client received. Safe to run twice.
    """
    pending = list(
        Score.objects.filter(
            transaction_id__in=transaction_ids,
            explanation_status=Score.ExplanationStatus.PENDING,
            model_version__isnull=False,
        ).select_related("model_version")
    )
    by_version: dict[int, list[Score]] = {}
    for score in pending:
        by_version.setdefault(score.model_version_id, []).append(score)
    stored = 0
    for scores in by_version.values():
        version = scores[0].model_version
        try:
            model = load_version(version)
        except ModelUnavailable as exc:
            log.error("cannot explain %d scores: %s", len(scores), exc)
            Score.objects.filter(pk__in=[s.pk for s in scores]).update(
                explanation_status=Score.ExplanationStatus.FAILED,
                explanation={"error": str(exc)},
            )
            continue
        results = explain_rows(model.explainer(), [s.features for s in scores], model.feature_names)
        now = timezone.now()
        for score, result in zip(scores, results):
            score.explanation = {"method": "shap", **result}
            score.explanation_status = Score.ExplanationStatus.READY
            score.explained_at = now
        Score.objects.bulk_update(scores, ["explanation", "explanation_status", "explained_at"])
        stored += len(scores)
    return stored


def pending_explanation_ids(*, older_than_seconds: float = 30.0, limit: int = 5000) -> list[int]:
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    return list(
        Score.objects.filter(
            explanation_status=Score.ExplanationStatus.PENDING, scored_at__lt=cutoff, model_version__isnull=False
        )
        .order_by("scored_at")
        .values_list("transaction_id", flat=True)[:limit]
    )


# --------------------------------------------------------------------------- models


def model_train(
    *, config: TrainingConfig | None = None, promote: str = "if-none", progress: Callable[[str], None] | None = None
) -> ModelVersion:
    """Train on every labeled stored event, save a bundle, register it.

    `promote`: "always" makes it champion, "never" leaves it a challenger, "if-none"
    promotes only when there is no champion yet.
    """
    config = config or TrainingConfig(
        capacity_per_day=settings.REVIEWER_CAPACITY_PER_DAY, medium_multiple=settings.MEDIUM_TIER_MULTIPLE,
        review_cost=settings.REVIEW_COST, default_event_value=settings.DEFAULT_EVENT_VALUE,
    )
    say = progress or (lambda message: None)
    say("loading events")
    frame = events_frame()
    # Only labels known by now: imported truth whose label time has passed, and decisions.
    known = frame["label_known_at"].isna() | (frame["label_known_at"] <= timezone.now())
    frame.loc[~known, "is_fraud"] = np.nan
    result = train_model(frame, config, progress=say)
    version = model_version_register(result=result)
    say(f"saved model {version.name} to {version.bundle_path}")
    from scoring.report import write_report  # plotting libraries load only when training

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
    manifest = {
        "id": name,
        "algorithm": algorithm,
        "created_at": created.isoformat(),
        "features": [{"name": n, "type": "float"} for n in result.feature_names],
        "label": "is_fraud: 1 = fraud (imported label or reviewer flag), 0 = legitimate",
        "thresholds": result.thresholds,
        "calibration": result.calibration,
        "metrics": result.metrics,
        "training_data": {"fingerprint": result.fingerprint, "rows": result.rows, "periods": result.periods},
        "tuning": result.tuning,
        "global_importance": result.importance,
        "timings_seconds": result.timings,
    }
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
    from triage.services import audit_record

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
