"""Batch scoring against the database: stored events in, their scores out, both with COPY.

The events are read by `scoring.batch.read`. Scores go back in one binary COPY into
`triage_score`, so batch scores land in the reviewers' queue like live ones.

High-tier scores are stored with their feature vector and explained by the Celery workers
after the commit, like live scores (TreeSHAP costs about a millisecond per event, which
would otherwise dominate the run); the other tiers are stored as "skipped" (no
explanation), which keeps a million-row run from queueing a million SHAP jobs.

A score is stored once per event (`Score` is keyed by its transaction): events that
already have one, from live scoring or an earlier batch run, serve as history and are
skipped. Batch runs hold an advisory lock, so two never score the same events at once; the
scores of a run are stored in one transaction, so a crash leaves nothing half-written and a
re-run scores what is still missing.

A run that adds at least as many scores as the table holds (the first scoring of an
imported history) sets the score table's look-up indexes and foreign keys aside while it
writes and rebuilds them after, as a bulk import does (`scoring.store.bulk`): keeping them up
to date row by row would cost PostgreSQL several times the rest of the run
(docs/benchmarks-history.md).
"""
from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from psycopg.copy import QueuedLibpqWriter

from core.db import copy_binary
from ml.features import HISTORY_WINDOW_MS
from scoring.batch.read import stored_batch_read
from scoring.batch.run import BatchModel, score_chunks
from scoring.rates import frame_in_reporting
from scoring.services import enqueue_explanations
from scoring.signals import bulk_scores_copied, bulk_scores_copy_started
from scoring.store.bulk import SCORES, BulkLoad
from triage.models import Score

# Any fixed number: the lock only has to be the same for every batch run.
_BATCH_LOCK = 7_201_143

# The `triage_score` columns the COPY fills, with their types; every NOT NULL column is given.
_WRITE_COLUMNS = (
    ("transaction_id", "bigint"), ("probability", "double precision"), ("risk_score", "smallint"), ("tier", "text"),
    ("expected_loss", "double precision"), ("model_version_id", "bigint"), ("model_version_name", "text"),
    ("features", "jsonb"), ("explanation_status", "text"), ("scored_at", "timestamptz"), ("review_status", "text"),
)


@contextmanager
def batch_lock() -> Iterator[None]:
    """Serialise batch runs: a session-level advisory lock, released however the run ends.

    Session-level because a run spans several transactions (read, store, rebuild): it needs
    a direct connection, not a transaction-pooling PgBouncer (docs/deployment.md)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [_BATCH_LOCK])
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_BATCH_LOCK])
        except DatabaseError:
            pass  # the session is gone, and its lock with it; the run's own error stands


def scores_store(
    *,
    transaction_ids: np.ndarray,
    parts: Iterable[pd.DataFrame],
    model: BatchModel,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, list[int]]:
    """COPY scores into `triage_score`; returns them and the transaction ids left to explain.

    `parts` are `score_chunks` parts for the events `transaction_ids`, in order, with a
    `features` column: rows that carry a feature vector are stored with it and status
    "pending", for the explanation workers, exactly like live scores; the others are
    stored without one, status "skipped". Each part is sent as it is scored, and a thread
    of psycopg's writes it while the next part is scored. Run inside a transaction: the
    scores and the dashboard's marks of their hours are stored together.
    """
    version_id, now = _version_id(model.name), timezone.now()
    ids = np.asarray(transaction_ids, dtype=np.int64)
    scored, pending, stored = [], [], 0
    with _score_copy(version_id, model.name, now) as write:
        for part in parts:
            part_ids = ids[stored: stored + len(part)]
            explain = part["features"].notna().to_numpy()
            write(_score_rows(part_ids, part, explain))
            pending.append(part_ids[explain])
            scored.append(part.drop(columns="features"))
            stored += len(part)
            if progress:
                progress(len(part))
        if stored != len(ids):  # inside the COPY, so a mismatch stores nothing
            raise RuntimeError(f"scored {stored:,} events for {len(ids):,} transaction ids")
    scored_frame = pd.concat(scored, ignore_index=True) if len(scored) > 1 else scored[0]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            hours = pd.DatetimeIndex(scored_frame["timestamp"]).floor("h").unique().to_pydatetime()
            bulk_scores_copied.send(sender=None, cursor=cursor, event_hours=list(hours))
    return scored_frame, np.concatenate(pending).tolist()


def _score_rows(transaction_ids: np.ndarray, part: pd.DataFrame, pending: np.ndarray) -> pd.DataFrame:
    """A part's scores as rows of `triage_score`; `pending` marks those stored with their
    feature vector, for the explanation workers."""
    features = np.full(len(part), "{}", dtype=object)
    features[pending] = [_json(v) for v in part["features"].to_numpy(dtype=object)[pending]]
    return pd.DataFrame({
        "transaction_id": transaction_ids,
        "probability": part["probability"].to_numpy(dtype="float64"),
        "risk_score": part["risk_score"].to_numpy(dtype=np.int64),
        "tier": part["tier"].to_numpy(dtype=object),
        "expected_loss": part["expected_loss"].to_numpy(dtype="float64"),
        "features": features,
        "explanation_status": np.where(
            pending, Score.ExplanationStatus.PENDING.value, Score.ExplanationStatus.SKIPPED.value
        ).astype(object),
    })


@contextmanager
def _score_copy(version_id: int | None, version_name: str, now: datetime) -> Iterator[Callable[[pd.DataFrame], None]]:
    """A function that stores rows of scores by one model version at one time: one binary
    COPY on PostgreSQL, `bulk_create` elsewhere."""
    if connection.vendor != "postgresql":
        def create(rows: pd.DataFrame) -> None:
            Score.objects.bulk_create(
                [Score(**row, model_version_id=version_id, model_version_name=version_name, scored_at=now,
                       review_status=Score.ReviewStatus.OPEN) for row in _orm_rows(rows)],
                batch_size=2000,
            )

        yield create
        return
    target = ", ".join(name for name, _ in _WRITE_COLUMNS)
    with connection.cursor() as cursor:
        # Listeners that mark per row (the dashboards' hours) may do it once for the run instead.
        bulk_scores_copy_started.send(sender=None, cursor=cursor)
        with cursor.cursor.copy(f"COPY triage_score ({target}) FROM STDIN WITH (FORMAT binary)",
                                writer=QueuedLibpqWriter(cursor.cursor)) as copy:
            copy.write(copy_binary.COPY_HEADER)

            def send(rows: pd.DataFrame) -> None:
                copy.write(copy_binary.rows_data(_score_fields(rows, version_id, version_name, now), len(rows)))

            yield send
            copy.write(copy_binary.COPY_TRAILER)


def _score_fields(rows: pd.DataFrame, version_id: int | None, version_name: str, now: datetime) -> list:
    """The fields of `rows` in _WRITE_COLUMNS order, encoded for a binary COPY; what every
    row of a run shares (version, time, status) is encoded once."""
    encode = copy_binary.FIELD_ENCODERS
    scored_at = int(pd.Timestamp(now).value // 1000) - copy_binary.POSTGRES_EPOCH_US
    return [
        [copy_binary.fixed_field(rows["transaction_id"].to_numpy(), ">i8")],
        encode["double precision"](rows["probability"]),
        [copy_binary.fixed_field(rows["risk_score"].to_numpy(), ">i2")],
        encode["text"](rows["tier"]),
        encode["double precision"](rows["expected_loss"]),
        [copy_binary.constant_field(None if version_id is None else struct.pack(">q", version_id))],
        [copy_binary.constant_field(version_name.encode())],
        encode["jsonb"](rows["features"]),
        encode["text"](rows["explanation_status"]),
        [copy_binary.constant_field(struct.pack(">q", scored_at))],
        [copy_binary.constant_field(Score.ReviewStatus.OPEN.value.encode())],
    ]


def _version_id(name: str) -> int | None:
    from scoring.models import ModelVersion

    return ModelVersion.objects.filter(name=name).values_list("pk", flat=True).first()


def _json(value: dict) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _orm_rows(rows: pd.DataFrame) -> Iterator[dict]:
    for row in rows.to_dict("records"):
        row["features"] = json.loads(row["features"])
        yield row


@dataclass(frozen=True)
class StoredScoring:
    """The outcome of scoring stored events: the scores written and what was skipped."""

    scored: pd.DataFrame  # `score_frame`'s output for the events scored by this run
    stored: int
    already_scored: int
    explanations_queued: int
    # Seconds spent rebuilding the score table's indexes and keys after a bulk run; None
    # when the run kept them.
    indexes_rebuilt_in: float | None = None


def stored_events_score(
    *,
    start: datetime,
    end: datetime,
    model: BatchModel,
    explain_tiers: Sequence[str],
    default_event_value: float,
    reasons_in_output: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> StoredScoring:
    """Score the stored events with timestamp in [start, end) that have no score yet and
    store the scores, all in one transaction.

    Scores of `explain_tiers` are explained by the workers after the commit, as live
    scores are; with `reasons_in_output` their reasons are also computed here, for a file.
    Events of the 30 days before `start` (and scored ones) are read as history only."""
    tick = progress or (lambda stage, n: None)
    with batch_lock():
        SCORES.indexes_restore()  # an earlier bulk run that died may have left some out
        batch = stored_batch_read(since=start - timedelta(milliseconds=HISTORY_WINDOW_MS), start=start, until=end)
        tick("read", len(batch.events))
        if not batch.to_score.any():
            return StoredScoring(scored=pd.DataFrame(), stored=0, already_scored=batch.already_scored,
                                 explanations_queued=0)
        parts = score_chunks(
            batch.events, model, score_mask=batch.to_score, default_event_value=default_event_value,
            explain_tiers=explain_tiers if reasons_in_output else (), feature_tiers=explain_tiers, progress=tick,
            money=frame_in_reporting,
        )
        bulk = SCORES.bulk_worthwhile(int(batch.to_score.sum()))
        with SCORES.indexes_set_aside(rebuilding=lambda stage: tick(stage, 0)) if bulk else nullcontext(BulkLoad()) as load:
            with transaction.atomic():
                scored, pending = scores_store(transaction_ids=batch.events["id"].to_numpy()[batch.to_score],
                                               parts=parts, model=model, progress=lambda n: tick("storing", n))
                transaction.on_commit(lambda: enqueue_explanations(pending))
            tick("commit", 0)
        if load.set_aside:
            tick("indexes rebuilt", 0)
    return StoredScoring(scored=scored, stored=len(scored), already_scored=batch.already_scored,
                         explanations_queued=len(pending),
                         indexes_rebuilt_in=load.rebuild_seconds if load.set_aside else None)
