"""The /score write on PostgreSQL: transactions and their scores in one statement.

One round trip and one commit per request, whatever the batch size. The rows travel as
one JSON array (`json_to_recordset`; far cheaper to send than thousands of bound
values), duplicates of stored events are skipped by the unique constraint (`ON CONFLICT
DO NOTHING`) so concurrent retries store one row, and score rows are inserted only for
the transactions this statement created. `synchronous_commit` stays on: an answered
event is on disk.
"""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Sequence

import orjson
from django.utils import timezone

from core import contract
from core.db.prepared import fetch_prepared

if TYPE_CHECKING:
    from scoring.services import _Computed

# (column, type in the JSON record, expression for the table column)
# (column, type in the JSON record, expression for the table column): the contract's fields.
_JSON_TYPES = {"numeric(14, 2)": "numeric", "double precision": "float8"}
_EVENT_COLUMNS = tuple(
    (f.name, _JSON_TYPES.get(f.sql, f.sql), "COALESCE(attributes, '{}'::jsonb)" if f.kind == "mapping" else f.name)
    for f in contract.FIELDS
)
_SCORE_COLUMNS = (
    ("probability", "float8", "probability"),
    ("risk_score", "int", "risk_score"),
    ("tier", "text", "tier"),
    ("expected_loss", "float8", "expected_loss"),
    ("features", "jsonb", "features"),
    ("explanation", "jsonb", "explanation"),
    ("explanation_status", "text", "explanation_status"),
    ("rules", "jsonb", "rules"),
    ("review_status", "text", "review_status"),
)


def _build_sql() -> str:
    record = ", ".join(f'"{name}" {sql_type}' for name, sql_type, _ in (*_EVENT_COLUMNS, *_SCORE_COLUMNS))
    names = ", ".join(f'"{name}"' for name, _, _ in (*_EVENT_COLUMNS, *_SCORE_COLUMNS))
    event_cols = ", ".join(f'"{name}"' for name, _, _ in _EVENT_COLUMNS)
    event_exprs = ", ".join(expr for _, _, expr in _EVENT_COLUMNS)
    score_cols = ", ".join(f'"{name}"' for name, _, _ in _SCORE_COLUMNS)
    score_exprs = ", ".join(f"i.{expr}" for _, _, expr in _SCORE_COLUMNS)
    return f"""
        WITH incoming AS (
            SELECT * FROM ROWS FROM (json_to_recordset(%(rows)s::json) AS ({record}))
                WITH ORDINALITY AS i({names}, position)
        ), stored AS (
            INSERT INTO triage_transaction (client_id, {event_cols}, label_source, scenario, received_at)
            SELECT %(client)s, {event_exprs}, '', '', %(now)s FROM incoming ORDER BY position
            ON CONFLICT (client_id, event_id) DO NOTHING
            RETURNING id, event_id
        ), scored AS (
            INSERT INTO triage_score
                (transaction_id, {score_cols}, model_version_id, model_version_name,
                 explained_at, scored_at)
            SELECT s.id, {score_exprs}, %(version_id)s, %(version_name)s,
                   CASE WHEN i.explanation IS NULL THEN NULL ELSE %(now)s END, %(now)s
            FROM stored s JOIN incoming i ON i.event_id = s.event_id
            RETURNING transaction_id
        )
        SELECT id, event_id FROM stored
    """


_SQL = _build_sql()
_EVENT_NAMES = tuple(name for name, _, _ in _EVENT_COLUMNS)


def insert_scored(*, client_id: int, events: Sequence[dict[str, Any]], computed: Sequence["_Computed"]) -> dict[str, int]:
    """Store events and their scores; returns {event_id: transaction id} for rows created."""
    if not computed:
        return {}
    versions = {(c.model_version_id, c.model_version_name) for c in computed}
    if len(versions) != 1:
        raise ValueError("one request is scored by one model version")
    version_id, version_name = versions.pop()
    rows = []
    for event, item in zip(events, computed):
        row = {name: event.get(name) for name in _EVENT_NAMES}
        row.update(
            probability=item.probability,
            risk_score=item.risk_score,
            tier=item.tier,
            expected_loss=item.expected_loss,
            features=item.features,
            explanation=item.explanation,
            explanation_status=str(item.explanation_status),
            rules=item.rules,
            review_status=str(item.review_status),
        )
        rows.append(row)
    # Datetimes become ISO text and amounts (Decimal) exact decimal text; PostgreSQL parses both.
    # orjson encodes a 1,000-event batch several times faster than the standard library.
    payload = orjson.dumps(rows, default=_decimal_text, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    params = {"rows": payload, "client": client_id, "now": timezone.now(), "version_id": version_id,
              "version_name": version_name}
    return {event_id: pk for pk, event_id in fetch_prepared(_SQL, params)}


_STORED_SQL = """
    SELECT s.transaction_id, t.event_id, s.probability, s.risk_score, s.tier, s.expected_loss,
           s.model_version_name, s.explanation_status, s.rules
    FROM triage_transaction t JOIN triage_score s ON s.transaction_id = t.id
    WHERE t.client_id = %(client)s AND t.event_id = ANY(%(event_ids)s::text[])
"""


def stored_results(*, client_id: int, event_ids: Sequence[str]) -> list[tuple]:
    """(transaction id, event id, probability, risk score, tier, expected loss, model version,
    explanation status, rules) of this client's stored events among `event_ids`: the fields of a
    `ScoredEvent`, in its order. A batch's 1,000 ids travel as one array parameter."""
    return fetch_prepared(_STORED_SQL, {"client": client_id, "event_ids": list(event_ids)})


def _decimal_text(value: Any) -> str:
    """Amounts arrive as Decimal: exact text. orjson writes datetimes and numbers itself;
    anything else is a bug, not something to store as a string."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a scored row")
