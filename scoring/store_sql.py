"""The /score write on PostgreSQL: transactions and their scores in one statement.

One round trip and one commit per request, whatever the batch size. Rows come in as
column arrays (`unnest`), duplicates of stored events are skipped by the unique
constraint (`ON CONFLICT DO NOTHING`) so concurrent retries store one row, and the
score rows are inserted only for the transactions this statement created. Commits keep
`synchronous_commit` on: an answered event is on disk.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Sequence

from django.db import connection
from django.utils import timezone

if TYPE_CHECKING:
    from scoring.services import _Computed

# (column, SQL array type of the parameter, expression that turns it into the column type)
_EVENT_COLUMNS = (
    ("event_id", "text[]", "event_id"),
    ("account_id", "text[]", "account_id"),
    ("timestamp", "timestamptz[]", "timestamp"),
    ("event_type", "text[]", "event_type"),
    ("amount", "numeric[]", "amount"),
    ("currency", "text[]", "currency"),
    ("payment_status", "text[]", "payment_status"),
    ("device_id", "text[]", "device_id"),
    ("ip_address", "text[]", "ip_address::inet"),
    ("latitude", "float8[]", "latitude"),
    ("longitude", "float8[]", "longitude"),
    ("country", "text[]", "country"),
    ("session_duration", "float8[]", "session_duration"),
    ("merchant_id", "text[]", "merchant_id"),
    ("category", "text[]", "category"),
    ("account_created_at", "timestamptz[]", "account_created_at"),
    ("attributes", "text[]", "attributes::jsonb"),
)
_SCORE_COLUMNS = (
    ("probability", "float8[]", "probability"),
    ("risk_score", "int[]", "risk_score"),
    ("tier", "text[]", "tier"),
    ("expected_loss", "float8[]", "expected_loss"),
    ("features", "text[]", "features::jsonb"),
    ("explanation", "text[]", "explanation::jsonb"),
    ("explanation_status", "text[]", "explanation_status"),
)


def _build_sql() -> str:
    arrays = ", ".join(f"%s::{sql_type}" for _, sql_type, _ in (*_EVENT_COLUMNS, *_SCORE_COLUMNS))
    names = ", ".join(name for name, _, _ in (*_EVENT_COLUMNS, *_SCORE_COLUMNS))
    event_cols = ", ".join(f'"{name}"' for name, _, _ in _EVENT_COLUMNS)
    event_exprs = ", ".join(f"i.{expr}" for _, _, expr in _EVENT_COLUMNS)
    score_cols = ", ".join(f'"{name}"' for name, _, _ in _SCORE_COLUMNS)
    score_exprs = ", ".join(f"i.{expr}" for _, _, expr in _SCORE_COLUMNS)
    return f"""
        WITH incoming AS (
            SELECT * FROM unnest({arrays}) WITH ORDINALITY AS i({names}, position)
        ), stored AS (
            INSERT INTO triage_transaction
                (client_id, {event_cols}, label_source, scenario, received_at)
            SELECT %(client)s, {event_exprs}, '', '', %(now)s
            FROM incoming i ORDER BY i.position
            ON CONFLICT (client_id, event_id) DO NOTHING
            RETURNING id, event_id
        ), scored AS (
            INSERT INTO triage_score
                (transaction_id, {score_cols}, model_version_id, model_version_name,
                 explained_at, scored_at, review_status)
            SELECT s.id, {score_exprs}, %(version_id)s, %(version_name)s,
                   CASE WHEN i.explanation IS NULL THEN NULL ELSE %(now)s END, %(now)s, 'open'
            FROM stored s JOIN incoming i ON i.event_id = s.event_id
            RETURNING transaction_id
        )
        SELECT id, event_id FROM stored
    """


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), allow_nan=False)


def insert_scored(*, client_id: int, events: Sequence[dict[str, Any]], computed: Sequence["_Computed"]) -> dict[str, int]:
    """Store events and their scores; returns {event_id: transaction id} for rows created."""
    if not computed:
        return {}
    versions = {(c.model_version_id, c.model_version_name) for c in computed}
    if len(versions) != 1:
        raise ValueError("one request is scored by one model version")
    version_id, version_name = versions.pop()
    arrays: list[list[Any]] = []
    for name, _, _ in _EVENT_COLUMNS:
        if name == "attributes":
            arrays.append([_json(e.get("attributes") or {}) for e in events])
        else:
            arrays.append([e.get(name) for e in events])
    arrays.append([c.probability for c in computed])
    arrays.append([c.risk_score for c in computed])
    arrays.append([c.tier for c in computed])
    arrays.append([c.expected_loss for c in computed])
    arrays.append([_json(c.features) for c in computed])
    arrays.append([_json(c.explanation) for c in computed])
    arrays.append([str(c.explanation_status) for c in computed])
    params = {f"a{index}": values for index, values in enumerate(arrays)}
    params.update(client=client_id, now=timezone.now(), version_id=version_id, version_name=version_name)
    with connection.cursor() as cursor:
        cursor.execute(_SQL_NAMED, params)
        return {event_id: pk for pk, event_id in cursor.fetchall()}


# Named placeholders for every array parameter: %(a0)s::text[], %(a1)s::text[], ...
_SQL_NAMED = _build_sql()
for _index in range(len(_EVENT_COLUMNS) + len(_SCORE_COLUMNS)):
    _SQL_NAMED = _SQL_NAMED.replace("%s::", f"%(a{_index})s::", 1)
