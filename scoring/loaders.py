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

import ipaddress
import json
import math
import queue
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from django.db import DatabaseError, IntegrityError, connection, transaction
from psycopg import errors as psycopg_errors

from accounts.models import ApiClient
from scoring.link_groups import link_snapshots_forget
from triage.models import Transaction

CHUNK = 50_000
# Sessions storing chunks side by side (PostgreSQL): one session's COPY keeps one core of the
# database busy, the reader preparing the chunks needs less than another (docs/benchmarks.md).
STORE_SESSIONS = 2

TEXT_COLUMNS = (
    "event_id", "account_id", "event_type", "currency", "payment_status", "device_id", "country", "merchant_id",
    "category", "label_source", "scenario",
)
FLOAT_COLUMNS = ("amount", "latitude", "longitude", "session_duration")
TIME_COLUMNS = ("timestamp", "account_created_at", "label_known_at")

# Staging columns in COPY order, with the PostgreSQL types of the target table.
STAGING: tuple[tuple[str, str], ...] = (
    ("event_id", "text"),
    ("account_id", "text"),
    ("timestamp", "timestamptz"),
    ("event_type", "text"),
    ("amount", "numeric(14, 2)"),
    ("currency", "text"),
    ("payment_status", "text"),
    ("device_id", "text"),
    ("ip_address", "inet"),
    ("latitude", "double precision"),
    ("longitude", "double precision"),
    ("country", "text"),
    ("session_duration", "double precision"),
    ("merchant_id", "text"),
    ("category", "text"),
    ("account_created_at", "timestamptz"),
    ("attributes", "jsonb"),
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


# COPY's binary format: the signature, no flags, no header extension; then per row the
# number of fields and each field as its length and PostgreSQL's wire form of the value
# (length -1 for NULL); then -1 as the end. PostgreSQL reads it without parsing text, which
# was most of its time per row in CSV (timestamps, numbers, JSON; see docs/benchmarks.md).
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = struct.pack(">h", -1)
_NULL_FIELD = pa.scalar(struct.pack(">i", -1), pa.large_binary())
_POSTGRES_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC, where PostgreSQL's times count from
_NUMERIC_NEGATIVE = 0x4000
_INET_V4 = (2, 32)  # PostgreSQL's address family and bits for IPv4
_INET_V6 = (3, 128)
_DOTTED_V4 = r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$"


def _copy_binary(rows: pd.DataFrame, client: ApiClient) -> bytes:
    """The normalised rows as a COPY payload in binary format, columns in COPY_COLUMNS order.

    Every field is encoded column-wise with Arrow and numpy, as one or more pieces (a length,
    a value), and the pieces of each row are joined in one pass."""
    n = len(rows)
    received = pd.Timestamp.now(tz="UTC").value // 1000 - _POSTGRES_EPOCH_US
    pieces = [pa.scalar(struct.pack(">h", len(COPY_COLUMNS)), pa.large_binary())]
    for name, sql_type in STAGING:
        pieces.extend(_FIELD_ENCODERS[sql_type](rows[name]))
    pieces.append(_fixed_field(np.full(n, client.pk), ">i8"))
    pieces.append(_fixed_field(np.full(n, received), ">i8"))
    if not n:
        return _COPY_HEADER + _COPY_TRAILER
    joined = pc.binary_join_element_wise(*pieces, pa.scalar(b"", pa.large_binary()))
    offsets, data = joined.buffers()[1:]
    end = int(np.frombuffer(offsets, np.int64)[n])
    return b"".join((_COPY_HEADER, memoryview(data)[:end], _COPY_TRAILER))


def _fixed_field(values: np.ndarray, dtype: str, present: np.ndarray | None = None) -> pa.Array:
    """Fixed-width values as binary fields: length, then the value big-endian; NULL where not present."""
    packed = np.empty(len(values), [("length", ">i4"), ("value", dtype)])
    packed["length"] = np.dtype(dtype).itemsize
    packed["value"] = values
    return _nulls_set(_binary(packed), present)


def _binary(packed: np.ndarray) -> pa.Array:
    """A numpy array of fixed-size records as Arrow binary values, one per record (64-bit
    offsets throughout, so that no chunk is too big to join)."""
    fixed = pa.Array.from_buffers(pa.binary(packed.itemsize), len(packed), [None, pa.py_buffer(packed)])
    return fixed.cast(pa.large_binary())


def _nulls_set(field: pa.Array, present: np.ndarray | None) -> pa.Array:
    if present is None or present.all():
        return field
    return pc.if_else(pa.array(present), field, _NULL_FIELD)


def _arrow_text(values: pd.Series) -> pa.Array:
    """Text (null where missing) as one Arrow array; pandas' own Arrow strings are not copied."""
    text = pa.array(values, type=pa.string(), from_pandas=True)
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def _text_field(values: pd.Series) -> list:
    text = _arrow_text(values).cast(pa.large_binary())
    return [_lengths(text), text]


def _lengths(values: pa.Array, extra: int = 0) -> pa.Array:
    return _binary((np.asarray(pc.binary_length(values)) + extra).astype(">i4"))


def _jsonb_field(values: pd.Series) -> list:
    """JSON text after jsonb's format version, 1."""
    text = _arrow_text(values).cast(pa.large_binary())
    return [_lengths(text, extra=1), pa.scalar(b"\x01", pa.large_binary()), text]


def _microseconds(values: pd.Series) -> np.ndarray:
    """datetime64[us, UTC] as microseconds since PostgreSQL's epoch (meaningless where NaT)."""
    return values.array.asi8 - _POSTGRES_EPOCH_US


def _time_field(values: pd.Series) -> list:
    return [_fixed_field(_microseconds(values), ">i8", values.notna().to_numpy())]


def _float_field(values: pd.Series) -> list:
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    return [_fixed_field(numbers, ">f8", ~np.isnan(numbers))]


def _boolean_field(values: pd.Series) -> list:
    return [_fixed_field(values.to_numpy(dtype=bool, na_value=False), "u1", values.notna().to_numpy())]


def _numeric_field(values: pd.Series) -> list:
    """numeric(14, 2): sign, a weight of 2 and four base-10,000 digits, the last holding the cents.

    Below 10^12 (the column's limit) three integer digits are enough; PostgreSQL drops
    leading and trailing zero digits itself."""
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    present = ~np.isnan(numbers)
    cents = np.rint(np.abs(np.where(present, numbers, 0)) * 100).astype(np.int64)
    units = cents // 100
    packed = np.empty(len(numbers), [("length", ">i4"), ("ndigits", ">i2"), ("weight", ">i2"), ("sign", ">i2"),
                                     ("dscale", ">i2"), ("digits", ">i2", 4)])
    packed["length"] = packed.itemsize - 4
    packed["ndigits"], packed["weight"], packed["dscale"] = 4, 2, 2
    packed["sign"] = np.where(numbers < 0, _NUMERIC_NEGATIVE, 0)
    packed["digits"] = np.stack([units // 10**8, units // 10**4 % 10**4, units % 10**4, cents % 100 * 100], axis=1)
    return [_nulls_set(_binary(packed), present)]


def _inet_field(values: pd.Series) -> list:
    """inet: address family, prefix bits, not-a-network flag, address length, the address bytes.

    Dotted IPv4 is split column-wise; anything else goes through `ipaddress` once per
    distinct value (ValueError for what is not an address, as PostgreSQL would refuse it)."""
    text = _arrow_text(values)
    present = pc.is_valid(text).to_numpy(zero_copy_only=False)
    dotted = pc.fill_null(pc.match_substring_regex(text, _DOTTED_V4), False).to_numpy(zero_copy_only=False)
    if not (dotted == present).all():
        return [_inet_field_by_value(values)]
    try:
        octets = pc.list_flatten(pc.split_pattern(pc.fill_null(text, "0.0.0.0"), ".")).cast(pa.uint8())
    except pa.ArrowInvalid:  # an octet above 255: `ipaddress` says which value is wrong
        return [_inet_field_by_value(values)]
    packed = np.empty(len(text), [("length", ">i4"), ("header", "u1", 4), ("address", "u1", 4)])
    packed["length"] = packed.itemsize - 4
    packed["header"] = (*_INET_V4, 0, 4)
    packed["address"] = np.asarray(octets).reshape(-1, 4)
    return [_nulls_set(_binary(packed), present)]


def _inet_field_by_value(values: pd.Series) -> pa.Array:
    encoded = {value: _inet_bytes(value) for value in values.dropna().unique()}
    return pc.fill_null(pa.array(values.map(encoded), type=pa.large_binary(), from_pandas=True), _NULL_FIELD)


def _inet_bytes(text: str) -> bytes:
    address = ipaddress.ip_address(text)
    family, bits = _INET_V4 if address.version == 4 else _INET_V6
    packed = address.packed
    return struct.pack(">iBBBB", 4 + len(packed), family, bits, 0, len(packed)) + packed


_FIELD_ENCODERS = {
    "text": _text_field,
    "timestamptz": _time_field,
    "numeric(14, 2)": _numeric_field,
    "inet": _inet_field,
    "double precision": _float_field,
    "jsonb": _jsonb_field,
    "boolean": _boolean_field,
}


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
