"""Loading event tables (generated or imported) into the transactions table, once each.

On PostgreSQL a chunk is COPYed (binary format) into a temporary staging table and moved into
the transactions table with one `INSERT … SELECT … ON CONFLICT DO NOTHING`, both inside one
transaction: a chunk is stored whole or not at all, and rows whose (sender, event_id) is
already stored are skipped, so a re-run after a crash or a second import of the same file
adds nothing twice. Other databases (the embedded SQLite of the demo) take the same rows
through `bulk_create`, slower but with the same guarantees.

The frame handed in uses the contract's column names (see `docs/data.md`); missing optional
columns are filled with empty values. `attributes`, when present, holds JSON text.
"""
from __future__ import annotations

import json
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
from django.db import DatabaseError, IntegrityError, connection, transaction
from psycopg import errors as psycopg_errors

from accounts.models import ApiClient
from core import contract
from core.db import copy_binary
from scoring.link_groups import link_snapshots_forget
from triage.models import Transaction

CHUNK = 50_000
# Sessions storing chunks side by side (PostgreSQL): one session's COPY keeps one core of the
# database busy, the reader preparing the chunks needs less than another (docs/benchmarks-history.md).
STORE_SESSIONS = 2

TEXT_COLUMNS = (
    "event_id", "account_id", "event_type", "currency", "payment_status", "device_id", "country", "merchant_id",
    "category", "label_source", "scenario",
)
FLOAT_COLUMNS = ("amount", "latitude", "longitude", "session_duration")
TIME_COLUMNS = ("timestamp", "account_created_at", "label_known_at")

# Staging columns in COPY order, with the PostgreSQL types of the target table.
STAGING: tuple[tuple[str, str], ...] = (
    *((f.name, f.sql) for f in contract.FIELDS),  # the event as sent
    ("is_fraud", "boolean"),
    ("label_known_at", "timestamptz"),
    ("label_source", "text"),
    ("scenario", "text"),
)
# COPY's columns: the staging ones, then the sender and when the rows were received (model
# field names; both columns are the model's own in the direct path).
COPY_COLUMNS = (*STAGING, ("client", "bigint"), ("received_at", "timestamptz"))
_STAGING_TABLE = "transaction_staging"
# Memory for the staging table of a session (allocated only as a chunk needs it).
STAGING_BUFFERS = "256MB"
_tuned_sessions: set[int] = set()


def events_frame_normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame in the loader's layout: every STAGING column, in order, with one dtype each.

    Text is str with "" for missing, `ip_address` str with NaN for missing, numbers are float64 with
    NaN, times datetime64[us, UTC] with NaT, `is_fraud` nullable boolean, `attributes` JSON
    text. `label_source` defaults to "import" where a label is present.
    """
    n = len(frame)
    out = {}
    for column, _ in STAGING:
        present = column in frame.columns
        if column in TEXT_COLUMNS:
            out[column] = frame[column].fillna("").astype(str) if present else pd.Series("", index=range(n), dtype=str)
        elif column in FLOAT_COLUMNS:
            out[column] = frame[column].astype("float64") if present else pd.Series(np.nan, index=range(n))
        elif column in TIME_COLUMNS:
            values = frame[column] if present else pd.Series(pd.NaT, index=range(n))
            out[column] = pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")
        elif column == "ip_address":
            values = frame[column].astype("str") if present else pd.Series(np.nan, index=range(n), dtype="str")
            out[column] = values.where(values != "")
        elif column == "attributes":
            out[column] = frame[column].fillna("{}").astype(str) if present else pd.Series(["{}"] * n, dtype=str)
        elif column == "is_fraud":
            out[column] = frame[column].astype("boolean") if present else pd.Series([pd.NA] * n, dtype="boolean")
    result = pd.DataFrame({c: pd.Series(v).reset_index(drop=True) for c, v in out.items()})
    result["amount"] = result["amount"].round(2)
    if "label_source" not in frame.columns:
        result["label_source"] = result["label_source"].mask(result["is_fraud"].notna(), "import")
    # A label time without a label means nothing; keep the two together.
    result.loc[result["is_fraud"].isna(), "label_known_at"] = pd.NaT
    return result


@dataclass(frozen=True)
class EventBatch:
    """One chunk of events made ready to store: the normalised rows and, for PostgreSQL, the
    COPY payload (binary format, COPY_COLUMNS order)."""

    rows: pd.DataFrame
    client: ApiClient
    copy_data: bytes | None


def events_batch(*, frame: pd.DataFrame, client: ApiClient, use_copy: bool | None = None) -> EventBatch:
    """Normalise and encode a frame of events for `events_store`; pure CPU work, no database."""
    rows = events_frame_normalise(frame)
    if use_copy is None:
        use_copy = connection.vendor == "postgresql"
    return EventBatch(rows=rows, client=client, copy_data=_copy_binary(rows, client) if use_copy else None)


def events_store(batch: EventBatch, *, direct: bool = False) -> int:
    """Store a batch in one transaction, skipping rows whose (client, event_id) is stored; returns
    how many were added.

    `direct` (PostgreSQL) copies straight into the table, for callers that know the batch's
    ids are distinct and most likely not stored yet; a batch that meets a stored id is
    loaded the ordinary way instead.
    """
    with transaction.atomic():
        if batch.copy_data is None:
            return _store_orm(batch.rows, batch.client)
        return _store_direct(batch) if direct else _store_staged(batch)


class EventWriters:
    """Store batches one after the other, in `sessions` database sessions at once.

    With one session the caller's thread stores each batch as it is handed over, inside
    whatever transaction the caller holds. With more, as many threads store side by side,
    each on its own connection and each batch in its own transaction, and the transactions
    commit in the order the batches were handed over: a batch commits only after the one
    before it, and not at all once one has failed. What is stored is always the first
    batches, as with one session; an error is raised in the caller's thread.

    Use as a context manager; `store()` and `finish()` return (rows, added) of each batch
    stored since, where `rows` is what the caller said the batch stands for.
    """

    def __init__(self, *, sessions: int = 1, direct: bool = False):
        self.sessions, self.direct = sessions, direct
        self.began: float | None = None  # when the first batch was handed over
        self._handed = self._finished = 0
        self._todo: queue.Queue = queue.Queue(maxsize=sessions)
        self._done: queue.Queue = queue.Queue()
        self._turn = threading.Condition()
        self._next_commit = 0
        self._failed = False
        self._earliest: pd.Timestamp | None = None
        self._threads = [threading.Thread(target=self._work, name=f"store-{i}", daemon=True) for i in range(sessions)]

    def __enter__(self) -> EventWriters:
        if self.sessions > 1:
            for thread in self._threads:
                thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.sessions > 1:
            self._fail()  # whatever is still queued is not stored
            for _ in self._threads:
                self._todo.put(None)
            for thread in self._threads:
                thread.join()

    def store(self, batch: EventBatch, *, rows: int) -> list[tuple[int, int]]:
        if self.began is None:
            self.began = time.perf_counter()
        self._earliest = _earliest(self._earliest, batch)
        if self.sessions == 1:
            return [(rows, events_store(batch, direct=self.direct))]
        self._todo.put((self._handed, batch, rows))
        self._handed += 1
        return self._results(wait=False)

    def finish(self) -> list[tuple[int, int]]:
        """Wait until every batch handed over is stored, then drop the link groups they outdate."""
        results = self._results(wait=True) if self.sessions > 1 else []
        _later_link_groups_forget(self._earliest)
        return results

    def _results(self, *, wait: bool) -> list[tuple[int, int]]:
        results = []
        while self._finished < self._handed and (wait or not self._done.empty()):
            outcome = self._done.get()
            self._finished += 1
            if isinstance(outcome, _EarlierBatchFailed):
                continue  # the earlier batch's own error comes too
            if isinstance(outcome, BaseException):
                raise outcome
            results.append(outcome)
        return results

    def _work(self) -> None:
        try:
            while (item := self._todo.get()) is not None:
                number, batch, rows = item
                try:
                    if self._failed:
                        raise _EarlierBatchFailed
                    with transaction.atomic():
                        added = events_store(batch, direct=self.direct)
                        self._wait_for_turn(number)
                except BaseException as exc:
                    self._fail()
                    self._done.put(exc)
                else:
                    self._pass_turn()
                    self._done.put((rows, added))
        finally:
            connection.close()  # this thread's own

    def _wait_for_turn(self, number: int) -> None:
        with self._turn:
            self._turn.wait_for(lambda: self._failed or self._next_commit == number)
            if self._failed:
                raise _EarlierBatchFailed

    def _pass_turn(self) -> None:
        with self._turn:
            self._next_commit += 1
            self._turn.notify_all()

    def _fail(self) -> None:
        with self._turn:
            self._failed = True
            self._turn.notify_all()


class _EarlierBatchFailed(Exception):
    """Raised in a session whose batch must not commit because an earlier one failed."""


def events_load(
    *,
    frame: pd.DataFrame,
    client: ApiClient,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = CHUNK,
    use_copy: bool | None = None,
) -> int:
    """Insert rows whose (client, event_id) is not stored yet; returns how many were added.

    Each chunk of `chunk_size` rows is one transaction. Rows with the same event_id as an
    earlier row of the frame are skipped like rows already stored. `use_copy` defaults to
    whether the database is PostgreSQL.
    """
    added, earliest = 0, None
    for start in range(0, len(frame), chunk_size):
        part = frame.iloc[start : start + chunk_size]
        batch = events_batch(frame=part, client=client, use_copy=use_copy)
        added += events_store(batch)
        earliest = _earliest(earliest, batch)
        if progress:
            progress(len(part))
    _later_link_groups_forget(earliest)
    return added


def _earliest(earliest: pd.Timestamp | None, batch: EventBatch) -> pd.Timestamp | None:
    if not len(batch.rows):
        return earliest
    first = batch.rows["timestamp"].min()
    return first if earliest is None or first < earliest else earliest


def _later_link_groups_forget(earliest: pd.Timestamp | None) -> None:
    """Drop the link groups of the days after the earliest event stored: they were computed
    without it. Once per load, after its chunks, so chunks stored side by side never wait on
    each other's deletes."""
    if earliest is not None:
        link_snapshots_forget(after=earliest)


def _store_staged(batch: EventBatch) -> int:
    columns = ", ".join(f'"{name}"' for name, _ in COPY_COLUMNS)
    with connection.cursor() as cursor:
        _staging_buffers_raised(cursor)
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_STAGING_TABLE} ("
            + ", ".join(f'"{name}" {sql_type}' for name, sql_type in COPY_COLUMNS)
            + ") ON COMMIT DROP"
        )
        with cursor.cursor.copy(f"COPY {_STAGING_TABLE} ({columns}) FROM STDIN WITH (FORMAT binary)") as copy:
            copy.write(batch.copy_data)
        cursor.execute(
            f"INSERT INTO {Transaction._meta.db_table} ({_target_columns()}) SELECT {columns} FROM {_STAGING_TABLE} "
            f'ON CONFLICT ("client_id", "event_id") DO NOTHING'
        )
        added = cursor.rowcount
        # Dropped now rather than at commit so that a caller's outer transaction can load
        # several chunks.
        cursor.execute(f"DROP TABLE {_STAGING_TABLE}")
    return added


def _store_direct(batch: EventBatch) -> int:
    """COPY straight into the transactions table, for rows that cannot be stored yet.

    Half the work of staging plus INSERT … SELECT. The unique (sender, event_id) constraint
    still guards: if a row is there after all (a re-run, another writer), the COPY fails,
    its savepoint is rolled back and the batch takes the staging path, which skips it.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(
                f"COPY {Transaction._meta.db_table} ({_target_columns()}) FROM STDIN WITH (FORMAT binary)"
            ) as copy:
                copy.write(batch.copy_data)
    except IntegrityError as exc:
        if not isinstance(exc.__cause__, psycopg_errors.UniqueViolation):
            raise
        return _store_staged(batch)
    return len(batch.rows)


def _target_columns() -> str:
    meta = Transaction._meta
    return ", ".join(f'"{meta.get_field(name).column}"' for name, _ in COPY_COLUMNS)


def _copy_binary(rows: pd.DataFrame, client: ApiClient) -> bytes:
    """The normalised rows as a binary COPY payload, columns in COPY_COLUMNS order."""
    n = len(rows)
    received = pd.Timestamp.now(tz="UTC").value // 1000 - copy_binary.POSTGRES_EPOCH_US
    columns = [copy_binary.FIELD_ENCODERS[sql_type](rows[name]) for name, sql_type in STAGING]
    columns.append([copy_binary.fixed_field(np.full(n, client.pk), ">i8")])
    columns.append([copy_binary.fixed_field(np.full(n, received), ">i8")])
    return copy_binary.payload(columns, n)


def _staging_buffers_raised(cursor) -> None:
    """Give this session's temporary tables room in memory (PostgreSQL's default, 8 MB, makes
    each staged chunk spill to disk). Possible only before the session's first temporary
    table, so tried once per session."""
    session = connection.connection.info.backend_pid
    if session in _tuned_sessions:
        return
    _tuned_sessions.add(session)
    cursor.execute("SELECT pg_size_bytes(current_setting('temp_buffers')) >= pg_size_bytes(%s)", [STAGING_BUFFERS])
    if cursor.fetchone()[0]:
        return
    try:
        with transaction.atomic():
            cursor.execute(f"SET temp_buffers = '{STAGING_BUFFERS}'")
    except DatabaseError:
        pass  # this session used temporary tables before: it keeps its size, only slower


def _store_orm(part: pd.DataFrame, client: ApiClient) -> int:
    objects = []
    for record in part.to_dict("records"):
        objects.append(
            Transaction(
                client=client,
                amount=None if _missing(record["amount"]) else Decimal(f"{record['amount']:.2f}"),
                ip_address=None if _missing(record["ip_address"]) else record["ip_address"],
                attributes=json.loads(record["attributes"]),
                is_fraud=None if _missing(record["is_fraud"]) else bool(record["is_fraud"]),
                **{c: record[c] for c in TEXT_COLUMNS},
                **{c: None if _missing(record[c]) else record[c] for c in ("latitude", "longitude", "session_duration")},
                **{c: None if _missing(record[c]) else record[c].to_pydatetime() for c in TIME_COLUMNS},
            )
        )
    ids = list(dict.fromkeys(o.event_id for o in objects))
    # An indexed look-up of this chunk's ids, not a count of the whole table.
    present = Transaction.objects.filter(client=client, event_id__in=ids).count()
    Transaction.objects.bulk_create(objects, ignore_conflicts=True)
    return len(ids) - present


def _missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))
