"""Batch scoring against the database: stored events in, their scores out, both with COPY.

Reading a million events through the ORM builds a million tuples of Python objects; COPY
streams them as CSV that Arrow parses in C, so the read costs about as much as computing
one feature. Scores go back the same way: Arrow writes the CSV, one COPY per chunk feeds
`triage_score`, so batch scores land in the reviewers' queue like live ones.

High-tier scores are stored with their feature vector and explained by the Celery workers
after the commit, like live scores (TreeSHAP costs about a millisecond per event, which
would otherwise dominate the run); the other tiers are stored as "skipped" (no
explanation), which keeps a million-row run from queueing a million SHAP jobs.

A score is stored once per event (`Score` is keyed by its transaction): events that
already have one, from live scoring or an earlier batch run, serve as history and are
skipped. The whole run is one transaction under an advisory lock, so two batch runs never
score the same events at once and a crash leaves nothing half-written; a re-run then
scores what is still missing.
"""
from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from django.db import connection, transaction
from django.utils import timezone

from scoring.batch import BatchModel, score_frame
from scoring.features import HISTORY_WINDOW_MS
from scoring.services import enqueue_explanations
from triage.models import Score

# Any fixed number: the lock only has to be the same for every batch run.
_BATCH_LOCK = 7_201_143
WRITE_CHUNK = 250_000

# (frame column, SQL expression, Arrow type). Times travel as UTC without a zone, which
# Arrow parses fastest.
_READ_COLUMNS: tuple[tuple[str, str, pa.DataType], ...] = (
    ("id", "t.id", pa.int64()),
    ("event_id", "t.event_id", pa.string()),
    ("account_id", "t.account_id", pa.string()),
    ("timestamp", "t.timestamp AT TIME ZONE 'UTC'", pa.timestamp("us")),
    ("event_type", "t.event_type", pa.string()),
    ("amount", "t.amount::float8", pa.float64()),
    ("currency", "t.currency", pa.string()),
    ("payment_status", "t.payment_status", pa.string()),
    ("device_id", "t.device_id", pa.string()),
    ("ip_address", "host(t.ip_address)", pa.string()),
    ("latitude", "t.latitude", pa.float64()),
    ("longitude", "t.longitude", pa.float64()),
    ("country", "t.country", pa.string()),
    ("session_duration", "t.session_duration", pa.float64()),
    ("merchant_id", "t.merchant_id", pa.string()),
    ("category", "t.category", pa.string()),
    ("account_created_at", "t.account_created_at AT TIME ZONE 'UTC'", pa.timestamp("us")),
    ("is_fraud", "t.is_fraud::int", pa.float64()),
    ("label_known_at", "t.label_known_at AT TIME ZONE 'UTC'", pa.timestamp("us")),
)
_TIME_COLUMNS = ("timestamp", "account_created_at", "label_known_at")
# The order of `triage_score` columns the COPY fills; every NOT NULL column is given.
_WRITE_COLUMNS = (
    "transaction_id", "probability", "risk_score", "tier", "expected_loss", "model_version_id", "model_version_name",
    "features", "explanation", "explanation_status", "explained_at", "scored_at", "review_status",
)


@dataclass(frozen=True)
class StoredBatch:
    """What a run over stored events read: the events (with history) and which to score."""

    events: pd.DataFrame
    to_score: np.ndarray  # bool per row: in the range and not scored yet
    already_scored: int  # events in the range that had a score before this run


@contextmanager
def batch_transaction() -> Iterator[None]:
    """One transaction for the whole run, serialised against other batch runs."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_BATCH_LOCK])
        yield


def stored_batch_read(*, since: datetime, start: datetime, until: datetime) -> StoredBatch:
    """Stored events with timestamp in [since, until), in ingestion order (`seq` = id).

    Events from `start` on that have no score yet are the ones to score; earlier ones and
    scored ones are history for the features.
    """
    if connection.vendor != "postgresql":
        return _stored_batch_read_orm(since=since, start=start, until=until)
    select = ", ".join(expr for _, expr, _ in _READ_COLUMNS)
    frame = _copy_frame(
        f"COPY (SELECT {select} FROM triage_transaction t WHERE t.timestamp >= %s AND t.timestamp < %s ORDER BY t.id) "
        "TO STDOUT WITH (FORMAT csv)",
        (since, until), _READ_COLUMNS,
    ).to_pandas()
    for name in _TIME_COLUMNS:
        frame[name] = frame[name].dt.tz_localize("UTC")
    for name, _, kind in _READ_COLUMNS:
        if pa.types.is_string(kind):
            frame[name] = frame[name].fillna("")
    frame["seq"] = frame["id"]
    # Which of them have a score, read apart: the ids of the scores in the events' id range
    # cost PostgreSQL a fraction of joining the score table into the read.
    ids = frame["id"].to_numpy()
    scored = np.zeros(len(ids), dtype=bool)
    if len(ids):
        scored_ids = _copy_frame(
            "COPY (SELECT transaction_id FROM triage_score WHERE transaction_id BETWEEN %s AND %s) "
            "TO STDOUT WITH (FORMAT csv)",
            (int(ids[0]), int(ids[-1])), (("id", "", pa.int64()),),
        ).column("id").to_numpy()
        scored = np.isin(ids, scored_ids, assume_unique=True)
    return _batch_of(frame, start, scored)


def _copy_frame(sql: str, params: tuple, columns: Sequence[tuple[str, str, pa.DataType]]) -> pa.Table:
    """Run `COPY (query) TO STDOUT` as CSV and parse it with Arrow into `columns`."""
    buffer = io.BytesIO()
    connection.ensure_connection()
    with connection.cursor() as cursor:
        with cursor.cursor.copy(sql, params) as copy:
            for block in copy:
                buffer.write(block)
    if buffer.tell() == 0:
        return pa.table({name: pa.array([], kind) for name, _, kind in columns})
    return pa_csv.read_csv(
        io.BytesIO(buffer.getbuffer()),
        read_options=pa_csv.ReadOptions(column_names=[name for name, _, _ in columns]),
        # COPY writes NULL as an empty unquoted field and "" as a quoted one.
        convert_options=pa_csv.ConvertOptions(
            column_types={name: kind for name, _, kind in columns},
            strings_can_be_null=True, quoted_strings_can_be_null=False,
        ),
    )


def _batch_of(frame: pd.DataFrame, start: datetime, scored: np.ndarray) -> StoredBatch:
    in_range = (frame["timestamp"] >= pd.Timestamp(start)).to_numpy() if len(frame) else np.zeros(0, dtype=bool)
    return StoredBatch(events=frame, to_score=in_range & ~scored, already_scored=int((in_range & scored).sum()))


def _stored_batch_read_orm(*, since: datetime, start: datetime, until: datetime) -> StoredBatch:
    """The same read through the ORM, for the embedded SQLite of the demo."""
    from scoring.selectors import events_frame

    frame = events_frame(since=since, until=until)
    scored_ids = set(Score.objects.filter(transaction_id__in=frame["id"].tolist()).values_list("transaction_id", flat=True))
    return _batch_of(frame, start, frame["id"].isin(scored_ids).to_numpy())


def scores_store(
    *,
    transaction_ids: np.ndarray,
    scored: pd.DataFrame,
    model: BatchModel,
    progress: Callable[[int], None] | None = None,
) -> list[int]:
    """COPY scores into `triage_score`; returns the transaction ids left to explain.

    `scored` is `score_frame`'s output for the events `transaction_ids`, row for row, with
    a `features` column: rows that carry a feature vector are stored with it and status
    "pending", for the explanation workers, exactly like live scores; the others are
    stored without one, status "skipped". Run inside `batch_transaction()`.
    """
    now = timezone.now().replace(tzinfo=None)  # UTC: the session's zone is set below
    version_id = _version_id(model.name)
    vectors = scored["features"].to_numpy(dtype=object)
    pending = np.array([v is not None for v in vectors], dtype=bool)
    n = len(scored)
    columns = {
        "transaction_id": pa.array(np.asarray(transaction_ids, dtype=np.int64)),
        "probability": pa.array(scored["probability"].to_numpy(dtype="float64")),
        "risk_score": pa.array(scored["risk_score"].to_numpy(dtype=np.int64)),
        "tier": pa.array(scored["tier"].to_numpy(dtype=object), pa.string()),
        "expected_loss": pa.array(scored["expected_loss"].to_numpy(dtype="float64")),
        "model_version_id": pa.nulls(n, pa.int64()) if version_id is None else pa.array(np.full(n, version_id)),
        "model_version_name": pa.array(np.full(n, model.name, dtype=object), pa.string()),
        "features": pa.array([_json(v) if v is not None else "{}" for v in vectors], pa.string()),
        "explanation": pa.nulls(n, pa.string()),
        "explanation_status": pa.array(
            np.where(pending, Score.ExplanationStatus.PENDING.value, Score.ExplanationStatus.SKIPPED.value).astype(object),
            pa.string(),
        ),
        "explained_at": pa.nulls(n, pa.timestamp("us")),
        "scored_at": pa.array(np.full(n, np.datetime64(now, "us"))),
        "review_status": pa.array(np.full(n, Score.ReviewStatus.OPEN.value, dtype=object), pa.string()),
    }
    table = pa.table(columns)
    if connection.vendor != "postgresql":
        Score.objects.bulk_create([Score(**row) for row in _orm_rows(table)], batch_size=2000)
    else:
        target = ", ".join(_WRITE_COLUMNS)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL TIME ZONE 'UTC'")  # zone-less times written by Arrow are UTC
            for offset in range(0, len(table), WRITE_CHUNK):
                part = table.slice(offset, WRITE_CHUNK)
                buffer = io.BytesIO()
                pa_csv.write_csv(part, buffer, pa_csv.WriteOptions(include_header=False))
                with cursor.cursor.copy(f"COPY triage_score ({target}) FROM STDIN WITH (FORMAT csv)") as copy:
                    copy.write(buffer.getbuffer())
                if progress:
                    progress(len(part))
    return np.asarray(transaction_ids, dtype=np.int64)[pending].tolist()


def _version_id(name: str) -> int | None:
    from scoring.models import ModelVersion

    return ModelVersion.objects.filter(name=name).values_list("pk", flat=True).first()


def _json(value: dict) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _orm_rows(table: pa.Table) -> Iterator[dict]:
    for row in table.to_pylist():
        row["features"] = json.loads(row["features"])
        row["scored_at"] = row["scored_at"].replace(tzinfo=dt_timezone.utc)
        yield row


@dataclass(frozen=True)
class StoredScoring:
    """The outcome of scoring stored events: the scores written and what was skipped."""

    scored: pd.DataFrame  # `score_frame` output of the events scored by this run
    stored: int
    already_scored: int
    explanations_queued: int


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
    store the scores; all in one transaction.

    Scores of `explain_tiers` are explained by the workers after the commit, as live
    scores are; with `reasons_in_output` their reasons are also computed here, for a file.
    Events of the 30 days before `start` (and scored ones) are read as history only."""
    tick = progress or (lambda stage, n: None)
    with batch_transaction():
        batch = stored_batch_read(since=start - timedelta(milliseconds=HISTORY_WINDOW_MS), start=start, until=end)
        tick("read", len(batch.events))
        if not batch.to_score.any():
            return StoredScoring(scored=pd.DataFrame(), stored=0, already_scored=batch.already_scored,
                                 explanations_queued=0)
        scored = score_frame(
            batch.events, model, score_mask=batch.to_score, default_event_value=default_event_value,
            explain_tiers=explain_tiers if reasons_in_output else (), feature_tiers=explain_tiers, progress=tick,
        )
        pending = scores_store(transaction_ids=batch.events["id"].to_numpy()[batch.to_score], scored=scored,
                               model=model, progress=lambda n: tick("storing", n))
        transaction.on_commit(lambda: enqueue_explanations(pending))
    return StoredScoring(scored=scored.drop(columns="features"), stored=len(scored),
                         already_scored=batch.already_scored, explanations_queued=len(pending))
