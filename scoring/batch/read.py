"""Reading stored events for batch scoring: the events of a period, with their history, and
which of them already have a score.

Reading a million events through the ORM builds a million tuples of Python objects. The
ADBC PostgreSQL driver receives PostgreSQL's binary rows straight into Arrow columns in C++,
in a session of its own; psycopg hands a COPY's rows to Python one by one, which costs as
much again as PostgreSQL's own work (docs/benchmarks-history.md). Inside a caller's transaction,
whose rows other sessions cannot see, the events come by COPY as CSV in that transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
from django.db import connection
from psycopg.conninfo import make_conninfo
from psycopg.pq import Conninfo

from core.db.copy_frame import copy_frame
from triage.models import Score

_UTC_TIME = pa.timestamp("us", tz="UTC")
# (frame column, SQL expression, Arrow type): what the features and the scores' output use.
_READ_COLUMNS: tuple[tuple[str, str, pa.DataType], ...] = (
    ("id", "t.id", pa.int64()),
    ("event_id", "t.event_id", pa.string()),
    ("account_id", "t.account_id", pa.string()),
    ("timestamp", "t.timestamp", _UTC_TIME),
    ("event_type", "t.event_type", pa.string()),
    ("amount", "t.amount::float8", pa.float64()),
    ("payment_status", "t.payment_status", pa.string()),
    ("device_id", "t.device_id", pa.string()),
    ("ip_address", "host(t.ip_address)", pa.string()),
    ("latitude", "t.latitude", pa.float64()),
    ("longitude", "t.longitude", pa.float64()),
    ("country", "t.country", pa.string()),
    ("session_duration", "t.session_duration", pa.float64()),
    ("merchant_id", "t.merchant_id", pa.string()),
    ("account_created_at", "t.account_created_at", _UTC_TIME),
    ("is_fraud", "t.is_fraud::int::float8", pa.float64()),
    ("label_known_at", "t.label_known_at", _UTC_TIME),
)

@dataclass(frozen=True)
class StoredBatch:
    """What a run over stored events read: the events (with history) and which to score."""

    events: pd.DataFrame
    to_score: np.ndarray  # bool per row: in the range and not scored yet
    already_scored: int  # events in the range that had a score before this run


def stored_batch_read(*, since: datetime, start: datetime, until: datetime) -> StoredBatch:
    """Stored events with timestamp in [since, until), in ingestion order (`seq` = id).

    Events from `start` on that have no score yet are the ones to score; earlier ones and
    scored ones are history for the features.
    """
    if connection.vendor != "postgresql":
        return _stored_batch_read_orm(since=since, start=start, until=until)
    if connection.in_atomic_block:
        # The caller's transaction may hold events other sessions cannot see: read them in it.
        # Times travel as UTC without a zone, which Arrow parses fastest.
        select = ", ".join(
            f"{expr} AT TIME ZONE 'UTC' AS {name}" if kind == _UTC_TIME else f"{expr} AS {name}"
            for name, expr, kind in _READ_COLUMNS
        )
        events = copy_frame(
            f"COPY (SELECT {select} FROM triage_transaction t WHERE t.timestamp >= %s AND t.timestamp < %s) "
            "TO STDOUT WITH (FORMAT csv)", (since, until),
            [(name, expr, pa.timestamp("us") if kind == _UTC_TIME else kind) for name, expr, kind in _READ_COLUMNS],
        )
    else:
        events = _arrow_read(since, until)
    ids = events.column("id").to_numpy()
    if not (ids[1:] > ids[:-1]).all():  # a table loaded in one go comes back in id order already
        events = events.take(np.argsort(ids, kind="stable"))
    frame = events.to_pandas()
    for name, _, kind in _READ_COLUMNS:
        if pa.types.is_string(kind):
            frame[name] = frame[name].fillna("")
        elif pa.types.is_timestamp(kind) and frame[name].dt.tz is None:
            frame[name] = frame[name].dt.tz_localize("UTC")
    frame["seq"] = frame["id"]
    ids = frame["id"].to_numpy()
    return _batch_of(frame, start, np.isin(ids, _scored_ids(ids), assume_unique=True))


def _arrow_read(since: datetime, until: datetime) -> pa.Table:
    """The events of [since, until) as an Arrow table, read by the ADBC driver in a session
    of its own: it receives PostgreSQL's binary rows straight into Arrow columns in C++, at
    about half the cost of COPY as CSV through psycopg, whose Python layers handle each row."""
    select = ", ".join(f"{expr} AS {name}" for name, expr, _ in _READ_COLUMNS)
    return _adbc_query(
        f"SELECT {select} FROM triage_transaction t WHERE t.timestamp >= {_time_literal(since)} "
        f"AND t.timestamp < {_time_literal(until)}"
    ).cast(pa.schema([(name, kind) for name, _, kind in _READ_COLUMNS]))


def _adbc_query(sql: str) -> pa.Table:
    import adbc_driver_postgresql.dbapi as adbc

    # No bound parameters: with them the driver runs the query once to learn its columns,
    # then again to fetch them.
    with adbc.connect(_libpq_conninfo()) as session, session.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


def _time_literal(value: datetime) -> str:
    return f"'{pd.Timestamp(value).isoformat()}'::timestamptz"


def _libpq_conninfo() -> str:
    """Django's connection settings as a libpq connection string (values quoted by psycopg)."""
    keywords = {option.keyword.decode() for option in Conninfo.get_defaults()}
    params = connection.get_connection_params()
    return make_conninfo("", **{key: value for key, value in params.items() if key in keywords})


def _scored_ids(ids: np.ndarray) -> np.ndarray:
    """Ids of the events among `ids` (sorted) that have a score, as a superset: the ids of the
    scores in their id range, read apart, cost PostgreSQL a fraction of joining the score
    table into the read."""
    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    sql = f"SELECT transaction_id FROM triage_score WHERE transaction_id BETWEEN {int(ids[0])} AND {int(ids[-1])}"
    if connection.in_atomic_block:  # the caller's transaction may hold scores only it sees
        return copy_frame(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", (), (("id", "", pa.int64()),)).column("id").to_numpy()
    return _adbc_query(sql).column(0).to_numpy()


def _batch_of(frame: pd.DataFrame, start: datetime, scored: np.ndarray) -> StoredBatch:
    in_range = (frame["timestamp"] >= pd.Timestamp(start)).to_numpy() if len(frame) else np.zeros(0, dtype=bool)
    return StoredBatch(events=frame, to_score=in_range & ~scored, already_scored=int((in_range & scored).sum()))


def _stored_batch_read_orm(*, since: datetime, start: datetime, until: datetime) -> StoredBatch:
    """The same read through the ORM, for the embedded SQLite of the demo."""
    from scoring.selectors import events_frame

    frame = events_frame(since=since, until=until)
    scored_ids = set(Score.objects.filter(transaction_id__in=frame["id"].tolist()).values_list("transaction_id", flat=True))
    return _batch_of(frame, start, frame["id"].isin(scored_ids).to_numpy())
