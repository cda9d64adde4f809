"""The /score service: validated events in, features from the request's context, the
champion's probability, tiers, lists and rules, one stored write, explanations and webhooks
queued; score jobs and stored explanations.

One module (past 500 lines) because it is one request's path, read top to bottom; the
parts that stand alone live beside it (`selectors` the read, `store.online` the write,
`registry` the loaded models, `fallback`, `dispatch`).
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import orjson
import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiClient
from config import metrics
from ml import tiers
from ml.explain import explain_rows
from ml.features import (
    FEATURE_NAMES,
    HISTORY_WINDOW_MS,
    LEARNED_WINDOW_MS,
    batch_features,
    epoch_ms,
    fraud_rate_at,
    link_day,
    online_features,
    ring_size,
)
from rules.engine import rulebook
from rules.models import ShadowHit
from scoring import fallback
from scoring.models import ScoreJob
from scoring.rates import events_in_reporting
from scoring.registry import LoadedModel, ModelUnavailable, champion_model, load_version
from scoring.selectors import link_groups_read, merchant_label_rows, scoring_context, scoring_rows_frame
from scoring.store import online as store_sql
from scoring.validation import validate_event
from triage.models import Score, Transaction
from webhooks.services import high_tier_notified_ids, high_tier_notify

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
    rules: dict[str, Any] | None  # what lists and rules did (rules.engine.Outcome.stored)
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
            rules=score.rules,
            duplicate=duplicate,
        )


@dataclass
class _Computed:
    """A fresh event's score before it is stored."""

    probability: float
    risk_score: int
    tier: str
    expected_loss: float
    model_version_id: int | None
    model_version_name: str
    features: dict[str, float | None]
    explanation: dict[str, Any] | None
    rules: dict[str, Any] | None = None
    review_status: str = Score.ReviewStatus.OPEN
    shadow_hits: list | None = None  # hits of the shadow rule set: stored apart, never acted on

    @property
    def explanation_status(self) -> str:
        return Score.ExplanationStatus.READY if self.explanation else Score.ExplanationStatus.PENDING


# The fields a retry must repeat exactly: what the sender said about the event.
_CONTRACT_FIELDS = (
    "account_id", "timestamp", "event_type", "amount", "currency", "payment_status", "device_id", "ip_address",
    "latitude", "longitude", "country", "session_duration", "merchant_id", "category", "account_created_at",
    "attributes",
)


class EventConflict(Exception):
    """Events reuse an event_id with a different body; nothing was stored.

    `positions` holds, per such event, its index in the request and the fields that differ
    from the first event sent with its id (stored earlier, or earlier in the request)."""

    def __init__(self, positions: list[tuple[int, list[str]]]):
        detail = "; ".join(f"[{index}]: {', '.join(fields)}" for index, fields in positions[:10])
        super().__init__(f"{len(positions)} event(s) reuse an event_id with a different body ({detail})")
        self.positions = positions


def _differing_fields(event: Mapping[str, Any], first: Mapping[str, Any]) -> list[str]:
    def same(name: str) -> bool:
        a, b = event.get(name), first.get(name)
        if name not in ("amount", "latitude", "longitude", "session_duration", "timestamp", "account_created_at",
                        "attributes", "ip_address"):
            return (a or "") == (b or "")
        if a is None or b is None:
            return a is None and b is None
        if name == "amount":
            return Decimal(a) == Decimal(b)
        return a == b

    return [name for name in _CONTRACT_FIELDS if not same(name)]


def _conflicts(client: ApiClient, events: Sequence[dict[str, Any]], stored_ids: Iterable[str]) -> list[tuple[int, list[str]]]:
    """(index, differing fields) of each event that differs from the first sent with its id.
    Reads stored rows only for ids already stored (a retry), never on a first post."""
    first: dict[str, Mapping[str, Any]] = {}
    stored_ids = list(stored_ids)
    if stored_ids:
        rows = Transaction.objects.filter(client=client, event_id__in=stored_ids).values("event_id", *_CONTRACT_FIELDS)
        first = {row["event_id"]: row for row in rows}
    out = []
    for index, event in enumerate(events):
        earlier = first.setdefault(event["event_id"], event)
        if earlier is not event and (differ := _differing_fields(event, earlier)):
            out.append((index, differ))
    return out


def events_conflicts(*, client: ApiClient, events: Sequence[dict[str, Any]]) -> None:
    """Raise EventConflict if any event reuses an event_id (stored, or earlier in `events`)
    with a different body: an asynchronous job checks all its events before storing any."""
    ids = {e["event_id"] for e in events}
    stored = Transaction.objects.filter(client=client, event_id__in=list(ids)).values_list("event_id", flat=True)
    conflicts = _conflicts(client, events, list(stored))
    if conflicts:
        raise EventConflict(conflicts)


def score_events(*, client: ApiClient, events: Sequence[dict[str, Any]]) -> list[ScoredEvent]:
    """Store and score validated events, once each per (client, event_id).

    Events already stored for this client are answered with their first result, when
    they repeat it: an event_id reused with a different body raises EventConflict before
    anything is stored. The write is one statement that skips events another request stored first (`ON CONFLICT
    DO NOTHING`), so concurrent duplicates store one row and are answered from it; a
    batch is stored whole or not at all.
    """
    unique: dict[str, dict[str, Any]] = {}
    for event in events:
        unique.setdefault(event["event_id"], event)
    # A single event's own history query spots a stored copy; a batch asks once for all.
    stored = _stored_results(client, list(unique)) if len(unique) > 1 else {}
    if stored or len(unique) < len(events):
        conflicts = _conflicts(client, events, stored)
        if conflicts:
            raise EventConflict(conflicts)
    fresh = [e for event_id, e in unique.items() if event_id not in stored]

    new: dict[str, ScoredEvent] = {}
    if fresh:
        feature_rows, seen_before = _features_for(client, fresh)
        if seen_before:
            conflicts = _conflicts(client, events, seen_before)
            if conflicts:
                raise EventConflict(conflicts)
            stored.update(_stored_results(client, seen_before))
            kept = [(e, row) for e, row in zip(fresh, feature_rows) if e["event_id"] not in stored]
            fresh, feature_rows = [e for e, _ in kept], [row for _, row in kept]
    if fresh:
        computed = _predict(fresh, feature_rows)
        _apply_rules(client, fresh, computed)
        ids = _store(client, fresh, computed)
        _store_shadow_hits(ids, fresh, computed)
        for event, item in zip(fresh, computed):
            transaction_id = ids.get(event["event_id"])
            if transaction_id is not None:
                new[event["event_id"]] = _result(transaction_id, event["event_id"], item)
        raced = [e["event_id"] for e in fresh if e["event_id"] not in ids]
        if raced:  # another request stored these between our read and our write
            log.info("%d duplicate events raced with another request; answering from stored rows", len(raced))
            stored.update(_stored_results(client, raced))
        _after_scoring(client, list(new.values()))

    results, answered = [], set()
    for event in events:
        event_id = event["event_id"]
        if event_id in new and event_id not in answered:
            results.append(new[event_id])
        else:
            first = new.get(event_id) or stored[event_id]
            results.append(replace(first, duplicate=True))
        answered.add(event_id)
    return results


def _result(transaction_id: int, event_id: str, item: _Computed) -> ScoredEvent:
    return ScoredEvent(
        transaction_id=transaction_id,
        event_id=event_id,
        probability=item.probability,
        risk_score=item.risk_score,
        tier=item.tier,
        expected_loss=item.expected_loss,
        model_version=item.model_version_name,
        explanation_status=item.explanation_status,
        rules=item.rules,
        duplicate=False,
    )


def _apply_rules(client: ApiClient, events: Sequence[dict[str, Any]], computed: list[_Computed]) -> None:
    """Lists and the active rules move tiers and risk scores (never the probability); an
    allow closes the case unreviewed. Nothing to do, and nothing read, without any."""

    book = rulebook()
    if book.empty:
        return
    outcomes, shadow = book.decide_many(
        client_ids=[client.pk] * len(events), events=events, features=[c.features for c in computed],
        probability=[c.probability for c in computed], risk_score=[c.risk_score for c in computed],
        tier=[c.tier for c in computed],
    )
    for item, outcome, shadow_hits in zip(computed, outcomes, shadow):
        item.tier, item.risk_score, item.rules = outcome.tier, outcome.risk_score, outcome.stored()
        if outcome.closes_case:
            item.review_status = Score.ReviewStatus.CLEARED
        item.shadow_hits = shadow_hits or None


def _store_shadow_hits(ids: Mapping[str, int], events: Sequence[dict[str, Any]], computed: Sequence[_Computed]) -> None:
    rows = [(ids[e["event_id"]], hit) for e, c in zip(events, computed) if c.shadow_hits and e["event_id"] in ids
            for hit in c.shadow_hits]
    if rows:

        shadow = rulebook().shadow
        if shadow is not None and shadow.pk is not None:
            ShadowHit.objects.bulk_create([ShadowHit(version_id=shadow.pk, transaction_id=t, rule=h.rule, action=h.action)
                                           for t, h in rows])


def _stored_results(client: ApiClient, event_ids: Sequence[str]) -> dict[str, ScoredEvent]:
    if connection.vendor == "postgresql":  # one prepared statement, however many ids a batch sends
        # Django's psycopg setup hands jsonb over as text (its fields decode it themselves).
        return {
            row[1]: ScoredEvent(*row[:-1], rules=orjson.loads(row[-1]) if isinstance(row[-1], str) else row[-1], duplicate=True)
            for row in store_sql.stored_results(client_id=client.pk, event_ids=event_ids)
        }
    scores = Score.objects.select_related("transaction").filter(
        transaction__client=client, transaction__event_id__in=list(event_ids)
    )
    return {s.transaction.event_id: ScoredEvent.from_score(s, s.transaction.event_id, duplicate=True) for s in scores}


def _after_scoring(client: ApiClient, results: list[ScoredEvent]) -> None:
    """Explanations and webhooks leave the request: queued in the background, caught up
    by the periodic sweeps if the broker is down."""
    from scoring.dispatch import explanation_publisher

    metrics.observe_scores(r.tier for r in results)
    pending = [r.transaction_id for r in results if r.explanation_status == Score.ExplanationStatus.PENDING]
    if pending:
        explanation_publisher.submit(pending)
    if client.webhook_url and any(r.tier == "high" for r in results):
        high_tier_notify(client=client, results=[r for r in results if r.tier == "high"])


# From this many events a request's features come from the vectorised batch path: one
# pass of numpy over the stored rows instead of a Python loop per event over them.
VECTORISED_FEATURES_FROM = 20
_INCOMING_FIELDS = (
    "account_id", "event_type", "payment_status", "device_id", "ip_address", "latitude", "longitude",
    "country", "session_duration", "merchant_id",
)
# What the vectorised path computes from its frame; the ring size comes from stored groups.
_FRAME_FEATURES = tuple(name for name in FEATURE_NAMES if name != "ring_size_30d")


def _features_for(
    client: ApiClient, events: Sequence[dict[str, Any]], *, vectorised: bool | None = None
) -> tuple[list[dict[str, float]], list[str]]:
    """Online features for each event, later events in the request seeing earlier ones.

    Also returns the event ids found already stored for this client in the history read
    (a retried event), so they are answered from the stored row. `vectorised` forces
    one path (tests compare them); by default requests of VECTORISED_FEATURES_FROM
    events or more in time order take the batch path, which gives the same values.
    """
    if vectorised is None:
        # Out of time order, an event must not see a later-sent but earlier-dated one
        # (ingestion order), which only the per-event path expresses.
        in_time_order = all(a["timestamp"] <= b["timestamp"] for a, b in zip(events, events[1:]))
        vectorised = len(events) >= VECTORISED_FEATURES_FROM and in_time_order
    if vectorised:
        rows = _batch_features_for(events, scoring_rows_frame(events))
        if rows is not None:
            return rows, []  # a batch looked its stored events up already
    context = scoring_context(events)
    histories = context.histories
    seen_before: list[str] = []
    if len(events) == 1:  # a batch looked its stored events up already
        client_id, event_id = client.pk, events[0]["event_id"]
        if any(r["event_id"] == event_id and r["client_id"] == client_id for r in histories[events[0]["account_id"]]):
            seen_before = [event_id]
    next_seq = 1 << 62  # events of this request sort after everything stored
    entities = context.entities
    rows = []
    for event in events:
        t = epoch_ms(event["timestamp"])
        account_rows = histories[event["account_id"]]
        # Stored rows carry epoch ms, the request's own earlier events datetimes.
        times = [epoch_ms(r["timestamp"]) for r in account_rows]
        in_window = [r for r, at in zip(account_rows, times) if t - HISTORY_WINDOW_MS <= at <= t]
        earlier = [(at, r["id"], r) for r, at in zip(account_rows, times) if at <= t]
        previous = max(earlier, key=lambda item: item[:2])[2] if earlier else context.previous.get(event["account_id"])
        rows.append(online_features(event, in_window, previous_event=previous, entities=entities.rows_for(event)))
        entities.add(event)
        account_rows.append({**event, "id": next_seq})
        next_seq += 1
    return rows, seen_before


def _batch_features_for(events: Sequence[dict[str, Any]], stored: pd.DataFrame) -> list[dict[str, float]] | None:
    """`batch_features` over the stored rows the request reads (`scoring_rows_frame`) plus
    the request's events (after all stored rows, in request order, unlabeled); the
    request's rows are its answer.

    None when no row has a device, IP or country: the batch path then calls the distinct
    counts unavailable (NaN) where the per-event path counts 0, so that path answers."""
    def ms_or_nan(value: Any) -> float:
        return math.nan if value in (None, "") else float(epoch_ms(value))

    incoming = pd.DataFrame({name: [e.get(name) for e in events] for name in _INCOMING_FIELDS})
    incoming["id"] = (1 << 62) + np.arange(len(events), dtype=np.int64)  # after everything stored
    incoming["timestamp"] = np.array([epoch_ms(e["timestamp"]) for e in events], dtype=np.int64)
    incoming["amount"] = [math.nan if e.get("amount") is None else float(e["amount"]) for e in events]
    incoming["account_created_at"] = [ms_or_nan(e.get("account_created_at")) for e in events]
    incoming["is_fraud"] = math.nan
    incoming["label_known_at"] = math.nan
    frame = pd.concat([stored, incoming], ignore_index=True)
    if not all(frame[name].fillna("").astype(str).ne("").any() for name in ("device_id", "ip_address", "country")):
        return None
    frame["seq"] = frame["id"].astype(np.int64)
    for name in ("timestamp", "account_created_at", "label_known_at"):
        frame[name] = pd.to_datetime(frame[name].astype("float64"), unit="ms", utc=True)
    frame["amount"] = frame["amount"].astype("float64")
    frame["is_fraud"] = frame["is_fraud"].astype("float64")
    # The frame holds no other account's merchant events (a batch's merchants have tens of
    # thousands of labeled ones a month), so the merchant's fraud rate computed from it is
    # replaced below by one from the labels alone; the account's own merchants (new
    # merchant, distinct merchants) are all in the frame.
    features = batch_features(frame, names=_FRAME_FEATURES).iloc[len(stored):]
    labeled, merchants, times = merchant_label_rows(events), [e.get("merchant_id") for e in events], incoming["timestamp"].to_numpy()
    features["merchant_fraud_rate_30d"] = fraud_rate_at(labeled, "merchant_id", merchants, times)
    features["merchant_fraud_rate_learned_7d"] = fraud_rate_at(labeled, "merchant_id", merchants, times, LEARNED_WINDOW_MS)
    # Likewise the frame holds only a few accounts' links.
    groups = link_groups_read(events)
    features["ring_size_30d"] = [ring_size(e, groups.get(link_day(epoch_ms(e["timestamp"])))) for e in events]
    return features.to_dict("records")


def _predict(events: Sequence[dict[str, Any]], feature_rows: list[dict[str, float]]) -> list[_Computed]:
    # Expected loss is money: in the reporting currency, whatever the event's own currency.
    amounts = events_in_reporting(events)
    try:
        model: LoadedModel | None = champion_model()
    except ModelUnavailable as exc:
        log.warning("scoring with the fallback rules: %s", exc)
        model = None
    if model is not None:
        # The event's own inputs (category, attributes) join its features, and are stored
        # with them so explanations and shadow models read the same vector.
        if model.design.inputs:
            feature_rows = [{**row, **model.design.input_values(event)} for row, event in zip(feature_rows, events)]
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
    scores = tiers.risk_scores(probability, medium, high).tolist()
    tier_names = tiers.tiers(probability, medium, high).tolist()
    losses = tiers.expected_loss(probability, amounts, settings.DEFAULT_EVENT_VALUE).tolist()
    return [
        _Computed(
            probability=p,
            risk_score=s,
            tier=tier,
            expected_loss=loss,
            model_version_id=version_id,
            model_version_name=version_name,
            features={k: (v if math.isfinite(v) else None) for k, v in row.items()},  # NaN -> null
            explanation=explanation,
        )
        for p, s, tier, loss, row, explanation in zip(
            probability.tolist(), scores, tier_names, losses, feature_rows, explanations
        )
    ]


def _store(client: ApiClient, events: Sequence[dict[str, Any]], computed: Sequence[_Computed]) -> dict[str, int]:
    """Insert transactions and their scores; returns {event_id: transaction id} of the
    events this call stored (events stored concurrently by another request are skipped)."""
    if connection.vendor == "postgresql":
        return store_sql.insert_scored(client_id=client.pk, events=events, computed=computed)
    stored: dict[str, int] = {}
    with transaction.atomic():
        existing = set(
            Transaction.objects.filter(client=client, event_id__in=[e["event_id"] for e in events]).values_list(
                "event_id", flat=True
            )
        )
        pairs = [(e, c) for e, c in zip(events, computed) if e["event_id"] not in existing]
        txns = Transaction.objects.bulk_create([_transaction_from(client, e) for e, _ in pairs])
        now = timezone.now()
        Score.objects.bulk_create(
            [
                Score(
                    transaction=txn,
                    probability=c.probability,
                    risk_score=c.risk_score,
                    tier=c.tier,
                    expected_loss=c.expected_loss,
                    model_version_id=c.model_version_id,
                    model_version_name=c.model_version_name,
                    features=c.features,
                    explanation=c.explanation,
                    explanation_status=c.explanation_status,
                    explained_at=now if c.explanation else None,
                    rules=c.rules,
                    review_status=c.review_status,
                )
                for txn, (_, c) in zip(txns, pairs)
            ]
        )
        stored = {txn.event_id: txn.pk for txn in txns}
    return stored


def _transaction_from(client: ApiClient, event: dict[str, Any]) -> Transaction:
    return Transaction(client=client, **{k: v for k, v in event.items() if k in _TRANSACTION_FIELDS})


_TRANSACTION_FIELDS = frozenset(
    f.name for f in Transaction._meta.get_fields() if getattr(f, "concrete", False) and not f.is_relation
)


# --------------------------------------------------------------------------- jobs


def score_job_create(*, client: ApiClient, events: list[Any], is_batch: bool) -> ScoreJob:
    """Accept already validated events for scoring by the workers."""
    job = ScoreJob.objects.create(client=client, events=events, event_count=len(events), is_batch=is_batch)
    transaction.on_commit(lambda: score_jobs_enqueue([job.pk]))
    return job


def score_jobs_enqueue(job_ids: Sequence[Any]) -> None:
    from scoring.tasks import run_score_job

    for job_id in job_ids:
        try:
            run_score_job.delay(str(job_id))
        except Exception as exc:  # broker down: the sweep queues the job later
            log.warning("could not queue score job %s: %s", job_id, exc)
            return


def score_job_run(*, job_id: Any) -> ScoreJob | None:
    """Score a job's events in chunks and store the results.

    Safe to run twice and resumable: the run first takes the job (queued, or running with
    a heartbeat older than the lease: its worker died), so two live workers never score one
    job; events stored by an interrupted run are answered from their stored rows, and the
    high-tier ones that never got their callback get it now."""

    now = timezone.now()
    lease = timezone.timedelta(seconds=settings.SCORE_JOB_LEASE_SECONDS)
    # Started before: an earlier run may have stored events (and died before their callbacks).
    resumed = ScoreJob.objects.filter(pk=job_id, started_at__isnull=False).exists()
    taken = ScoreJob.objects.filter(pk=job_id).filter(
        Q(status=ScoreJob.Status.QUEUED) | Q(status=ScoreJob.Status.RUNNING, heartbeat_at__lt=now - lease)
    ).update(status=ScoreJob.Status.RUNNING, started_at=now, heartbeat_at=now)
    job = ScoreJob.objects.filter(pk=job_id).select_related("client").first()
    if job is None or not taken:
        return job  # done, failed, or another worker holds it
    try:
        clean = []
        for raw in job.events:
            event, problems = validate_event(raw)
            if problems:  # cannot happen for a job accepted by the API; refuse loudly
                raise ValueError(f"event failed validation: {problems[0]}")
            clean.append(event)
        events_conflicts(client=job.client, events=clean)  # all or nothing: checked before any chunk is stored
        results: list[dict[str, Any]] = []
        chunk = settings.SCORE_MAX_BATCH
        for start in range(0, len(clean), chunk):
            scored = score_events(client=job.client, events=clean[start : start + chunk])
            if resumed:
                _missing_callbacks_send(job.client, [r for r in scored if r.duplicate], since=job.created_at)
            results.extend(asdict(r) for r in scored)
            ScoreJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now(), events_done=len(results))
    except Exception as exc:
        log.exception("score job %s failed", job.pk)
        ScoreJob.objects.filter(pk=job.pk).update(
            status=ScoreJob.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    job.results, job.status, job.finished_at, job.error = results, ScoreJob.Status.DONE, timezone.now(), ""
    job.events_done = len(results)
    job.save(update_fields=["results", "status", "finished_at", "error", "events_done"])
    return job


def _missing_callbacks_send(client: ApiClient, results: Sequence[ScoredEvent], *, since: datetime) -> None:
    """High-tier events an interrupted run stored without creating their callback."""

    high = [r for r in results if r.tier == "high"]
    if not client.webhook_url or not high:
        return
    notified = high_tier_notified_ids(client=client, since=since)
    missing = [r for r in high if r.transaction_id not in notified]
    if missing:
        log.info("job resumed: sending %d callbacks its interrupted run never created", len(missing))
        high_tier_notify(client=client, results=missing)


def stuck_score_job_ids(*, lease_seconds: float) -> list[Any]:
    """Running jobs whose worker stopped touching them (killed, lost): queued again."""
    cutoff = timezone.now() - timezone.timedelta(seconds=lease_seconds)
    ids = list(
        ScoreJob.objects.filter(status=ScoreJob.Status.RUNNING, heartbeat_at__lt=cutoff).values_list("pk", flat=True)[:500]
    )
    if ids:
        ScoreJob.objects.filter(pk__in=ids, status=ScoreJob.Status.RUNNING, heartbeat_at__lt=cutoff).update(
            status=ScoreJob.Status.QUEUED
        )
    return ids


def queued_score_job_ids(*, older_than_seconds: float = 60.0) -> list[Any]:
    """Jobs still queued a while after they were accepted (the broker was down)."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    return list(
        ScoreJob.objects.filter(status=ScoreJob.Status.QUEUED, created_at__lt=cutoff).values_list("pk", flat=True)[:500]
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
        results = explain_rows(model.explainer(), [s.features for s in scores], model.feature_names, design=model.design)
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
